"""What the index keeps of bank accounts: every transaction posting to an ``Assets:Bank:*``
account, for bank reconciliation, whether or not it touches a fund (a payout does not),
staff entries and other bank accounts included, from the tails and the same after a rebuild."""

from __future__ import annotations

import shutil
from datetime import date

from conservancy.ledger.index import TransactionIndex
from conservancy.money import Money
from conservancy.runtime import Runtime
from tests.ledger.test_index import gift, include_staff_file, payout, post

FIRST, LAST = date(2026, 1, 1), date(2026, 12, 31)
CHECKING = "Assets:Bank:Checking"


def seen(index: TransactionIndex, account: str = CHECKING) -> list[tuple[object, ...]]:
    with index.read() as view:
        return [
            (e.date, e.ref, e.payee, e.narration, e.where, e.amount)
            for e in view.bank_entries(account, FIRST, LAST)
        ]


def test_payouts_cheques_and_transfers_between_bank_accounts_are_indexed(
    runtime: Runtime,
) -> None:
    post(runtime, gift("gift-1", date(2026, 1, 15)), projects=("Twisted",))
    runtime.books.load()
    post(runtime, payout("payout-1", date(2026, 2, 20), "96.80"))  # from the tail
    include_staff_file(
        runtime.ledger,
        "2026-01-01 open Assets:Bank:Savings\n\n"
        '2026-04-02 * "Parish" "Cheque no. 77"\n'
        "  Assets:Bank:Checking       25.00 USD\n"
        "  Income:Twisted:Donations  -25.00 USD\n\n"
        '2026-04-03 * "To savings"\n'
        "  Assets:Bank:Checking      -20.00 USD\n"
        "  Assets:Bank:Savings        20.00 USD\n\n",
    )
    runtime.books.ready()  # a staff file changed: a rebuild reads it
    index = runtime.books.index
    found = seen(index)
    assert [row[:4] for row in found] == [
        (date(2026, 2, 20), "payout-1", None, "Stripe payout"),
        (date(2026, 4, 2), None, "Parish", "Cheque no. 77"),
        (date(2026, 4, 3), None, None, "To savings"),
    ]
    assert [row[5] for row in found] == [
        Money.parse("96.80", "USD"),
        Money.parse("25.00", "USD"),
        -Money.parse("20.00", "USD"),
    ]
    assert found[1][4] == "corrections.beancount:5"
    assert [row[5] for row in seen(index, "Assets:Bank:Savings")] == [Money.parse("20.00", "USD")]
    with index.read() as view:
        assert view.bank_balance_before(CHECKING, date(2026, 4, 3)) == Money.parse("121.80", "USD")
        assert view.bank_balance_before(CHECKING, date(2026, 4, 4)) == Money.parse("101.80", "USD")
        assert view.bank_balance_before(CHECKING, date(2026, 2, 20)) == Money.zero("USD")
        # A fund's pages still list only what touches the fund: the cheque, not the payout.
        narrations = [t.narration for t in view.fund_transactions("Twisted").transactions]
    assert "Stripe payout" not in narrations
    assert "Cheque no. 77" in narrations


def test_what_the_tails_added_is_what_a_rebuild_from_nothing_finds(runtime: Runtime) -> None:
    post(runtime, gift("gift-1", date(2026, 1, 15)), projects=("Twisted",))
    runtime.books.load()
    post(
        runtime,
        payout("payout-1", date(2026, 2, 20), "96.80"),
        payout("p-2", date(2026, 3, 1), "1.00"),
    )
    caught_up = seen(runtime.books.index)
    assert len(caught_up) == 2

    runtime.books.index.close()
    shutil.rmtree(runtime.ledger.cache_dir)
    runtime.books.load()
    assert seen(runtime.books.index) == caught_up
