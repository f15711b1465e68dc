"""What the index keeps of ``Assets:Stripe``: every transaction that posts there, for
``stripe reconcile``, whether or not it touches a fund (a payout does not), staff
entries included, current from the tails and the same after a rebuild."""

from __future__ import annotations

import shutil
from datetime import date

from conservancy.ledger.index import StripeEntry, TransactionIndex
from conservancy.runtime import Runtime
from tests.ledger.test_index import gift, include_staff_file, payout, post

FIRST, LAST = date(2026, 1, 1), date(2026, 12, 31)


def stripe_entries(index: TransactionIndex) -> list[StripeEntry]:
    with index.read() as view:
        return view.stripe_entries(FIRST, LAST)


def seen(index: TransactionIndex) -> list[tuple[object, ...]]:
    """What reconciliation reads of each entry."""
    return [
        (e.date, e.ref, e.stripe_id, e.where, e.currency, e.minor, e.bank_minor)
        for e in stripe_entries(index)
    ]


def test_gifts_payouts_and_staff_entries_at_stripe_are_indexed_with_the_bank_side(
    runtime: Runtime,
) -> None:
    post(runtime, gift("gift-1", date(2026, 1, 15)), projects=("Twisted",))
    runtime.books.load()
    # Appended after the build: read from the tail, as pages read them.
    post(runtime, payout("payout-1", date(2026, 2, 20), "96.80"))
    post(runtime, gift("gift-2", date(2026, 3, 5), amount="10.00", fee="0.59"))
    index = runtime.books.index

    found = stripe_entries(index)
    assert [(e.ref, e.stripe_id, e.date, e.minor, e.bank_minor) for e in found] == [
        ("gift-1", "txn_gift-1", date(2026, 1, 15), 9680, 0),
        ("payout-1", None, date(2026, 2, 20), -9680, 9680),
        ("gift-2", "txn_gift-2", date(2026, 3, 5), 941, 0),
    ]
    assert all(e.where.startswith("app/2026.beancount:") for e in found)
    assert [e.narration for e in found] == ["Gift to Twisted", "Stripe payout", "Gift to Twisted"]
    with index.read() as view:
        assert view.stripe_balance_before(date(2026, 2, 20)) == {"USD": 9680}
        assert view.stripe_balance_before(date(2026, 2, 21)) == {"USD": 0}
        assert view.stripe_balance_before(date(2027, 1, 1)) == {"USD": 941}
        assert view.stripe_entries(date(2026, 2, 1), date(2026, 2, 28)) == [found[1]]

    include_staff_file(
        runtime.ledger,
        '2026-04-01 * "Stripe fee for Radar, by hand"\n'
        '  stripe-id: "txn_radar"\n'
        "  Expenses:Twisted:Payment-Processing   0.05 USD\n"
        "  Assets:Stripe                        -0.05 USD\n\n"
        '2026-04-02 * "Cheque, not Stripe"\n'
        "  Assets:Bank:Checking       25.00 USD\n"
        "  Income:Twisted:Donations  -25.00 USD\n\n",
    )
    runtime.books.ready()  # a staff file changed: a rebuild reads it
    by_hand = stripe_entries(runtime.books.index)[-1]
    assert (by_hand.ref, by_hand.stripe_id, by_hand.minor, by_hand.where) == (
        None,
        "txn_radar",
        -5,
        "corrections.beancount:3",
    )
    assert len(stripe_entries(runtime.books.index)) == 4  # the cheque never reached Stripe


def test_what_the_tails_added_is_what_a_rebuild_from_nothing_finds(runtime: Runtime) -> None:
    post(runtime, gift("gift-1", date(2026, 1, 15)), projects=("Twisted",))
    runtime.books.load()
    post(runtime, payout("payout-1", date(2026, 2, 20), "96.80"), gift("gift-2", date(2026, 3, 5)))
    caught_up = seen(runtime.books.index)
    assert len(caught_up) == 3

    runtime.books.index.close()
    shutil.rmtree(runtime.ledger.cache_dir)
    runtime.books.load()
    assert seen(runtime.books.index) == caught_up
