"""Refunds and disputes as the books show them (SPEC sections 6, 7 and 9).

Refunds reverse income and, by the cumulative rule, exactly the sponsorship
fee charged on it; disputes reverse income and book Stripe's dispute fee to the
fund, and a won dispute undoes both. Events are booked the same whatever order
they come in, and events whose webhooks never arrived are recovered by
``conservancy stripe sync``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from conservancy.donations.models import DonationStatus, Frequency, Gift, Refund
from conservancy.donations.service import RefundTooLarge, refund_gift
from conservancy.ledger.check import check_books
from conservancy.ledger.models import LedgerOutbox
from conservancy.payments import events
from conservancy.payments.gateway import Event, GatewayError
from conservancy.payments.models import StripeEvent
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    books_digest,
    control,
    donation,
    entries_by_ref,
    give,
    ledger_refs,
    outbox_refs,
    postings,
    run_cli,
    settle_webhooks,
    standin_events,
    standin_state,
    stripe_client,
    stripe_env,
    usd,
    webhook_mode,
)
from tests.receipts.pdfs import WEASYPRINT_PROBLEM

D = Decimal


def twisted(rt: Runtime, fee_rate_bp: int = 1000) -> None:
    with rt.sessions() as session:
        factories.project(session, fee_rate_bp=fee_rate_bp)
        session.commit()
    rt.post_ledger()


def only_gift(rt: Runtime, donation_id: int, index: int = 0) -> Gift:
    gifts = donation(rt, donation_id).gifts
    assert len(gifts) > index
    return gifts[index]


def settled(rt: Runtime, standin: StandIn, donation_id: int) -> int:
    settle_webhooks(rt, standin)
    assert donation(rt, donation_id).status is DonationStatus.PAID
    return donation_id


def refund(rt: Runtime, gift_id: int, amount: str) -> str:
    """Staff refund part of a gift; answers the Stripe refund id."""
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        row = refund_gift(
            session, rt.gateway, gift, usd(amount), reason="asked", tz=rt.settings.timezone
        )
        session.commit()
        refund_id = row.stripe_refund_id
    rt.post_ledger()
    return refund_id


def balances(rt: Runtime, *accounts: str) -> dict[str, Decimal]:
    books = rt.books.load()
    return {account: books.account_balance(account) for account in accounts}


def fund(rt: Runtime, name: str) -> Decimal:
    return rt.books.load().fund_balance(name).amount


# -- refunds ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        ("100.01", None, "Only $100.00 of this gift remains to refund"),
        ("60.00", "40.01", "Only $40.00 of this gift remains to refund"),
        ("0.00", None, "more than zero"),
        ("-5.00", None, "more than zero"),
    ],
    ids=["more than the gift", "more than what a partial refund left", "zero", "negative"],
)
def test_refund_larger_than_what_remains_is_refused_with_a_message_and_writes_nothing(
    giving_runtime: Runtime,
    standin: StandIn,
    live: LiveServer,
    first: str,
    second: str | None,
    message: str,
) -> None:
    rt = giving_runtime
    twisted(rt)
    gift = only_gift(rt, settled(rt, standin, give(rt, standin, "100.00")))
    refused = first
    if second is not None:
        refund(rt, gift.id, first)
        settle_webhooks(rt, standin)
        refused = second
    stripe_refunds = len(standin_state(standin)["refunds"])
    refs, books = outbox_refs(rt), books_digest(rt)
    status, reversed_before = (
        donation(rt, gift.donation_id).status,
        only_gift(rt, gift.donation_id).reversed_minor,
    )

    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        with pytest.raises(RefundTooLarge, match=re.escape(message)):
            refund_gift(
                session, rt.gateway, row, usd(refused), reason="too much", tz=rt.settings.timezone
            )
        session.rollback()
    settle_webhooks(rt, standin)

    assert len(standin_state(standin)["refunds"]) == stripe_refunds  # nothing asked of Stripe
    assert outbox_refs(rt) == refs
    assert books_digest(rt) == books
    assert donation(rt, gift.donation_id).status is status
    assert only_gift(rt, gift.donation_id).reversed_minor == reversed_before
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Refund)) == len(
            standin_state(standin)["refunds"]
        )


def test_refund_stripe_refuses_because_of_a_refund_we_have_not_heard_of_books_nothing(
    giving_runtime: Runtime, standin: StandIn
) -> None:
    """Stripe is the judge of what remains: when a refund made in Stripe's dashboard
    has not reached us yet, Stripe's refusal comes back as a message and nothing is
    booked."""
    rt = giving_runtime
    twisted(rt)
    donation_id = give(rt, standin, "100.00")
    for event in standin_events(standin, "checkout.session.completed"):
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
    rt.post_ledger()
    gift = only_gift(rt, donation_id)
    stripe_client(standin).v1.refunds.create({"charge": gift.charge_id, "amount": 7000})
    refs = outbox_refs(rt)

    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        with pytest.raises(GatewayError, match=r"greater than unrefunded amount"):
            refund_gift(
                session, rt.gateway, row, usd("50.00"), reason="late", tz=rt.settings.timezone
            )
        session.rollback()
    rt.post_ledger()
    assert outbox_refs(rt) == refs
    assert len(standin_state(standin)["refunds"]) == 1


def test_refund_retried_after_a_lost_commit_is_made_once_at_stripe(
    giving_runtime: Runtime, standin: StandIn
) -> None:
    """Stripe accepted the refund but our commit never happened (the process died):
    staff ask again for the same refund, and Stripe makes it once, not twice."""
    rt = giving_runtime
    twisted(rt)
    donation_id = give(rt, standin, "100.00")
    for event in standin_events(standin, "checkout.session.completed"):
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
    gift = only_gift(rt, donation_id)

    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        refund_gift(session, rt.gateway, row, usd("40.00"), reason="asked", tz=rt.settings.timezone)
        session.rollback()  # the commit that never came
    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        refund_gift(session, rt.gateway, row, usd("40.00"), reason="asked", tz=rt.settings.timezone)
        session.commit()
    rt.post_ledger()

    assert [r["amount"] for r in standin_state(standin)["refunds"]] == [4000]
    assert only_gift(rt, donation_id).refunded_minor == 4000
    assert check_books(rt.ledger).problems == []


def test_a_refund_the_bank_sends_back_is_undone_once_and_the_receipt_stands_again(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    """The donor's card was closed, so the bank sent the 40.00 refund back: the money,
    the income and the sponsorship fee on it are the fund's again, booked once however
    often (and in whatever order) the events come; the donor's receipt says 100.00
    again; and staff can refund again with a new refund at Stripe."""
    rt = giving_runtime
    twisted(rt)
    donation_id = settled(rt, standin, give(rt, standin, "100.00"))
    gift = only_gift(rt, donation_id)
    before = balances(rt, "Income:Twisted:Donations", "Expenses:Twisted:Sponsorship-Fees")
    refund_id = refund(rt, gift.id, "40.00")
    settle_webhooks(rt, standin)
    assert fund(rt, "General") == D("6.00")

    webhook_mode(standin, duplicate=True, shuffle=True, fail_first=False)
    failed = control(standin, f"refunds/{refund_id}/fail")
    settle_webhooks(rt, standin)

    back = entries_by_ref(rt)[f"stripe-{failed['failure_balance_transaction']}"]
    assert back.narration == "Refund failed"
    assert back.meta["stripe-id"] == refund_id
    assert postings(back) == {
        "Assets:Stripe": D("40.00"),
        "Income:Twisted:Donations": D("-40.00"),
    }
    assert balances(rt, "Income:Twisted:Donations", "Expenses:Twisted:Sponsorship-Fees") == before
    assert fund(rt, "General") == D("10.00")
    assert ledger_refs(rt).most_common(1)[0][1] == 1
    assert check_books(rt.ledger).problems == []
    after = only_gift(rt, donation_id)
    assert (after.refunded_minor, after.reversed_minor) == (0, 0)
    with rt.sessions() as session:
        receipts = session.scalars(
            select(Receipt).where(Receipt.gift_id == gift.id).order_by(Receipt.id)
        ).all()
        assert [(r.kind.value, r.amount_minor) for r in receipts][-1] == ("replacement", 10000)

    again = refund(rt, gift.id, "40.00")
    assert again != refund_id
    assert only_gift(rt, donation_id).refunded_minor == 4000
    assert fund(rt, "General") == D("6.00")


def test_partial_refunds_reverse_income_and_exactly_the_sponsorship_fee_charged(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    """A 1.00 gift at 10% carries a 0.10 fee. Refunds of 0.33, 0.33 and 0.34 each
    round to 0.03 on their own (0.09 in all); the cumulative rule reverses 0.03,
    0.04 and 0.03, the fee on what is left each time, and so exactly 0.10."""
    rt = giving_runtime
    twisted(rt)
    donation_id = settled(rt, standin, give(rt, standin, "1.00"))
    gift = only_gift(rt, donation_id)
    assert fund(rt, "General") == D("0.10")

    expected_fee_back = [D("0.03"), D("0.04"), D("0.03")]
    statuses = [
        DonationStatus.PARTIALLY_REFUNDED,
        DonationStatus.PARTIALLY_REFUNDED,
        DonationStatus.REFUNDED,
    ]
    refund_ids = []
    for amount, fee_back, status in zip(
        ("0.33", "0.33", "0.34"), expected_fee_back, statuses, strict=True
    ):
        refund_ids.append(refund(rt, gift.id, amount))
        settle_webhooks(rt, standin)  # the refund's webhook finds it booked
        entries = entries_by_ref(rt)
        money = entries[f"stripe-{refund_ids[-1]}"]
        assert postings(money) == {
            "Assets:Stripe": -D(amount),
            "Income:Twisted:Donations": D(amount),
        }
        assert money.meta["stripe-id"] == refund_ids[-1]
        assert postings(entries[f"stripe-{refund_ids[-1]}/sponsorship-fee"]) == {
            "Expenses:Twisted:Sponsorship-Fees": -fee_back,
            "Income:General:Sponsorship-Fees": fee_back,
        }
        assert donation(rt, donation_id).status is status

    assert sum(expected_fee_back) == D("0.10")
    after = balances(
        rt,
        "Income:Twisted:Donations",
        "Expenses:Twisted:Sponsorship-Fees",
        "Income:General:Sponsorship-Fees",
        "Expenses:Twisted:Payment-Processing",
    )
    assert after == {
        "Income:Twisted:Donations": D(0),
        "Expenses:Twisted:Sponsorship-Fees": D(0),
        "Income:General:Sponsorship-Fees": D(0),
        "Expenses:Twisted:Payment-Processing": D("0.33"),  # Stripe keeps its fee
    }
    assert fund(rt, "Twisted") == D("-0.33")
    assert fund(rt, "General") == D(0)
    assert ledger_refs(rt).most_common(1)[0][1] == 1
    assert check_books(rt.ledger).problems == []


def test_partial_then_full_refund_of_a_gift_split_with_general_reverses_each_part_exactly(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    """100.00 to Twisted (7.5%) and 10.00 to General. Refunding 55.00 takes 5.00 back
    from General and 50.00 from Twisted (its share), and 3.75 of Twisted's 7.50
    sponsorship fee; refunding the rest undoes every part to the cent."""
    rt = giving_runtime
    twisted(rt, fee_rate_bp=750)
    donation_id = settled(rt, standin, give(rt, standin, "100.00", extra_general="10.00"))
    gift = only_gift(rt, donation_id)
    # 110.00 charged: fee 3.19 + 0.30 = 3.49, of which General's share is 0.32.
    assert balances(
        rt,
        "Income:Twisted:Donations",
        "Income:General:Donations",
        "Expenses:Twisted:Payment-Processing",
        "Expenses:General:Payment-Processing",
        "Expenses:Twisted:Sponsorship-Fees",
    ) == {
        "Income:Twisted:Donations": D("-100.00"),
        "Income:General:Donations": D("-10.00"),
        "Expenses:Twisted:Payment-Processing": D("3.17"),
        "Expenses:General:Payment-Processing": D("0.32"),
        "Expenses:Twisted:Sponsorship-Fees": D("7.50"),
    }

    partial = refund(rt, gift.id, "55.00")
    settle_webhooks(rt, standin)
    entries = entries_by_ref(rt)
    assert postings(entries[f"stripe-{partial}"]) == {
        "Assets:Stripe": D("-55.00"),
        "Income:Twisted:Donations": D("50.00"),
        "Income:General:Donations": D("5.00"),
    }
    assert postings(entries[f"stripe-{partial}/sponsorship-fee"]) == {
        "Expenses:Twisted:Sponsorship-Fees": D("-3.75"),
        "Income:General:Sponsorship-Fees": D("3.75"),
    }
    assert donation(rt, donation_id).status is DonationStatus.PARTIALLY_REFUNDED

    with pytest.raises(RefundTooLarge):
        refund(rt, gift.id, "55.01")
    full = refund(rt, gift.id, "55.00")
    settle_webhooks(rt, standin)
    entries = entries_by_ref(rt)
    assert postings(entries[f"stripe-{full}"]) == {
        "Assets:Stripe": D("-55.00"),
        "Income:Twisted:Donations": D("50.00"),
        "Income:General:Donations": D("5.00"),
    }
    assert donation(rt, donation_id).status is DonationStatus.REFUNDED
    assert balances(
        rt,
        "Income:Twisted:Donations",
        "Income:General:Donations",
        "Expenses:Twisted:Sponsorship-Fees",
        "Income:General:Sponsorship-Fees",
        "Assets:Stripe",
    ) == {
        "Income:Twisted:Donations": D(0),
        "Income:General:Donations": D(0),
        "Expenses:Twisted:Sponsorship-Fees": D(0),
        "Income:General:Sponsorship-Fees": D(0),
        "Assets:Stripe": D("-3.49"),
    }
    assert fund(rt, "Twisted") == D("-3.17")
    assert fund(rt, "General") == D("-0.32")
    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        assert row.remaining.minor == 0
    assert check_books(rt.ledger).problems == []


# -- disputes -------------------------------------------------------------------------------


def test_lost_dispute_reverses_the_income_and_books_the_15_dispute_fee_to_the_fund(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    twisted(rt)
    donation_id = settled(rt, standin, give(rt, standin, "100.00"))
    gift = only_gift(rt, donation_id)
    assert fund(rt, "Twisted") == D("86.80")

    dispute = control(standin, f"charges/{gift.charge_id}/dispute")
    settle_webhooks(rt, standin)
    assert donation(rt, donation_id).status is DonationStatus.DISPUTED
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="lost")["status"] == "lost"
    settle_webhooks(rt, standin)

    assert donation(rt, donation_id).status is DonationStatus.REFUNDED
    withdrawn = dispute["balance_transactions"][0]["id"]
    entry = entries_by_ref(rt)[f"stripe-{withdrawn}"]
    assert entry.meta["stripe-id"] == dispute["id"]
    assert postings(entry) == {
        "Assets:Stripe": D("-115.00"),
        "Expenses:Twisted:Dispute-Fees": D("15.00"),
        "Income:Twisted:Donations": D("100.00"),
    }
    assert balances(
        rt,
        "Income:Twisted:Donations",
        "Expenses:Twisted:Sponsorship-Fees",
        "Expenses:Twisted:Dispute-Fees",
        "Assets:Stripe",
    ) == {
        "Income:Twisted:Donations": D(0),
        "Expenses:Twisted:Sponsorship-Fees": D(0),
        "Expenses:Twisted:Dispute-Fees": D("15.00"),
        "Assets:Stripe": D("-18.20"),
    }
    # The card fee and the dispute fee are the fund's loss; General's fee went back.
    assert fund(rt, "Twisted") == D("-18.20")
    assert fund(rt, "General") == D(0)
    assert check_books(rt.ledger).problems == []


def test_won_dispute_restores_the_fund_to_what_it_was_before_the_dispute(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    twisted(rt)
    donation_id = settled(rt, standin, give(rt, standin, "100.00", extra_general="5.00"))
    gift = only_gift(rt, donation_id)
    accounts = (
        "Income:Twisted:Donations",
        "Income:General:Donations",
        "Expenses:Twisted:Sponsorship-Fees",
        "Expenses:Twisted:Dispute-Fees",
        "Income:General:Sponsorship-Fees",
        "Assets:Stripe",
    )
    before = balances(rt, *accounts)
    before_funds = (fund(rt, "Twisted"), fund(rt, "General"))

    dispute = control(standin, f"charges/{gift.charge_id}/dispute")
    settle_webhooks(rt, standin)
    assert fund(rt, "Twisted") == before_funds[0] - D("100.00") + D("10.00") - D("15.00")
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="won")["status"] == "won"
    settle_webhooks(rt, standin)

    assert balances(rt, *accounts) == before
    assert (fund(rt, "Twisted"), fund(rt, "General")) == before_funds
    assert donation(rt, donation_id).status is DonationStatus.PAID
    state = standin_state(standin)
    (disputed,) = state["disputes"]
    refs = entries_by_ref(rt)
    for txn in disputed["balance_transactions"]:
        assert refs[f"stripe-{txn['id']}"].meta["stripe-id"] == dispute["id"]
    assert check_books(rt.ledger).problems == []


# -- events in any order ---------------------------------------------------------------------


def _as_emitted(found: list[Event]) -> list[Event]:
    return found


def _newest_first(found: list[Event]) -> list[Event]:
    return found[::-1]


def _money_before_gifts(found: list[Event]) -> list[Event]:
    """Refunds, disputes and payouts before any checkout or invoice event."""
    first = ("charge.", "refund.", "payout.")
    return sorted(found, key=lambda e: 0 if e.type.startswith(first) else 1)


def _shuffled_twice_over(found: list[Event]) -> list[Event]:
    both = found + found
    random.Random(7).shuffle(both)
    return both


ORDERS: dict[str, Callable[[list[Event]], list[Event]]] = {
    "as emitted": _as_emitted,
    "newest first": _newest_first,
    "money before gifts": _money_before_gifts,
    "shuffled, each twice": _shuffled_twice_over,
}

# What the books show after the run below, in whatever order its events are processed.
# Twisted (10%): 100.00 + 10.00 to General, refunded 30.00 then 20.00 (General's share
# 2.73 then 1.82); 25.00 monthly, renewed once; 50.00 disputed and won; 40.00 disputed
# and lost; one payout between the two disputes.
EXPECTED = {
    "Income:Twisted:Donations": D("-154.55"),  # 54.55 + 2 x 25.00 + 50.00
    "Income:General:Donations": D("-5.45"),
    "Expenses:Twisted:Payment-Processing": D("8.44"),  # 3.17 + 2 x 1.03 + 1.75 + 1.46
    "Expenses:General:Payment-Processing": D("0.32"),
    "Expenses:Twisted:Sponsorship-Fees": D("15.46"),  # 5.46 (on 54.55) + 2 x 2.50 + 5.00
    "Income:General:Sponsorship-Fees": D("-15.46"),
    "Expenses:Twisted:Dispute-Fees": D("15.00"),
    "Assets:Stripe": D("-55.00"),  # the lost dispute, after the payout
    "Assets:Bank:Checking": D("191.24"),
}


@pytest.mark.parametrize("order", list(ORDERS), ids=list(ORDERS))
def test_events_in_any_order_book_the_same_figures(
    giving_runtime: Runtime, standin: StandIn, order: str
) -> None:
    rt = giving_runtime
    twisted(rt)
    split = give(rt, standin, "100.00", extra_general="10.00")
    monthly = give(rt, standin, "25.00", frequency=Frequency.MONTHLY)
    won = give(rt, standin, "50.00")
    lost = give(rt, standin, "40.00")
    charges = {c["metadata"].get("donation_id"): c["id"] for c in standin_state(standin)["charges"]}
    client = stripe_client(standin)
    client.v1.refunds.create({"charge": charges[str(split)], "amount": 3000})
    client.v1.refunds.create({"charge": charges[str(split)], "amount": 2000})
    subscription = standin_subscription(standin, monthly)
    assert control(standin, f"subscriptions/{subscription}/renew")["paid"] is True
    dispute = control(standin, f"charges/{charges[str(won)]}/dispute")
    control(standin, f"disputes/{dispute['id']}/close", outcome="won")
    assert control(standin, "payouts")["amount"] == 19124
    dispute = control(standin, f"charges/{charges[str(lost)]}/dispute")
    control(standin, f"disputes/{dispute['id']}/close", outcome="lost")
    assert rt.post_ledger().posted == 0  # nothing has reached us yet

    outcomes = [
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
        for event in ORDERS[order](standin_events(standin))
    ]
    rt.post_ledger()

    assert "processed" in outcomes
    assert balances(rt, *EXPECTED) == EXPECTED
    assert fund(rt, "Twisted") == D("115.65")
    assert fund(rt, "General") == D("20.59")
    assert [len(donation(rt, d).gifts) for d in (split, monthly, won, lost)] == [1, 2, 1, 1]
    assert donation(rt, split).status is DonationStatus.PARTIALLY_REFUNDED
    assert donation(rt, won).status is DonationStatus.PAID
    assert donation(rt, lost).status is DonationStatus.REFUNDED
    assert ledger_refs(rt).most_common(1)[0][1] == 1
    assert check_books(rt.ledger).problems == []


def standin_subscription(standin: StandIn, donation_id: int) -> str:
    """The subscription Stripe made for a donation (by its metadata), as Stripe knows it."""
    found = [
        s["id"]
        for s in standin.store.all("subscription")
        if s["metadata"].get("donation_id") == str(donation_id)
    ]
    assert len(found) == 1
    return str(found[0])


# -- recovering events whose webhooks never came ---------------------------------------------


def test_stripe_sync_recovers_undelivered_events_and_a_second_sync_posts_nothing(
    giving_runtime: Runtime, standin: StandIn
) -> None:
    rt = giving_runtime
    twisted(rt)
    # The stand-in has no webhook address: nothing it does reaches the app.
    once = give(rt, standin, "100.00")
    monthly = give(rt, standin, "25.00", frequency=Frequency.MONTHLY)
    charge = next(
        c["id"]
        for c in standin_state(standin)["charges"]
        if c["metadata"].get("donation_id") == str(once)
    )
    stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 4000})
    assert donation(rt, once).status is DonationStatus.PENDING
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(StripeEvent)) == 0
    env = stripe_env(rt.settings, standin)

    first = run_cli(env, "stripe", "sync")
    assert first.returncode == 0, first.stderr
    emitted = len(standin_events(standin))
    processed = int(first.stdout.split()[0])
    assert processed > 0
    assert f"{emitted - processed} ignored" in first.stdout
    assert "0 already done" in first.stdout
    if WEASYPRINT_PROBLEM is None:
        # Two receipts, and for the partial refund a voiding notice and a replacement,
        # whose one mail says the first receipt is void.
        assert "4 receipts drawn, 3 e-mails sent" in first.stdout
    assert donation(rt, once).status is DonationStatus.PARTIALLY_REFUNDED
    assert len(donation(rt, monthly).gifts) == 1
    # 100.00 less 3.20, refunded 40.00; 25.00 less 1.03; sponsorship 6.00 and 2.50.
    assert fund(rt, "Twisted") == D("60.00") - D("3.20") - D("6.00") + D("25.00") - D("1.03") - D(
        "2.50"
    )
    assert rt.books.load().account_balance("Assets:Stripe") == D("96.80") - D("40.00") + D("23.97")
    refs = ledger_refs(rt)
    with rt.sessions() as session:
        pending = session.scalar(
            select(func.count()).select_from(LedgerOutbox).where(LedgerOutbox.posted_at.is_(None))
        )
    assert pending == 0

    second = run_cli(env, "stripe", "sync")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("0 events processed")
    assert f"{emitted} already done" in second.stdout
    assert "; 0 ledger entries posted; 0 receipts drawn, 0 e-mails sent" in second.stdout
    assert ledger_refs(rt) == refs
    check = run_cli(env, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
