"""A dispute of the whole charge after a partial refund (issue 15, finding 7).

Stripe lets a cardholder dispute the whole charge after part of it was refunded
(the card network sees the original charge), and withdraws the whole disputed
amount, plus its fee: the part already refunded goes back a second time. Won,
Stripe reinstates all of it; lost, only the part that had been refunded, and the
dispute's status is ``lost`` (support.stripe.com/questions/
dispute-for-full-charge-amount-after-a-partial-refund-was-issued).

The books follow the money exactly. A gift of 100.00 (Stripe's fee 3.20) is
refunded 40.00, then disputed for 100.00 with a 15.00 fee: income goes back only
up to what the gift brought in, the 40.00 taken a second time is a loss to the
fund (``Expenses:Twisted:Dispute-Losses``) until Stripe gives it back, and the
sponsorship fee never goes back below zero. Each Stripe movement is one entry
under its own ref, whatever order (and however often) its events arrive.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from conservancy.donations.models import DonationStatus, Gift
from conservancy.kernel import clock
from conservancy.ledger.check import check_books
from conservancy.payments import events
from conservancy.payments import reconcile as reconciling
from conservancy.payments.gateway import Event
from conservancy.receipts.models import Receipt
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    donation,
    entries_by_ref,
    give,
    ledger_refs,
    postings,
    run_cli,
    settle_webhooks,
    standin_events,
    standin_state,
    stripe_client,
    stripe_env,
    webhook_mode,
)

D = Decimal
STRIPE = "Assets:Stripe"
INCOME = "Income:Twisted:Donations"
CARD_FEES = "Expenses:Twisted:Payment-Processing"
FEES = "Expenses:Twisted:Sponsorship-Fees"
FEE_INCOME = "Income:General:Sponsorship-Fees"
DISPUTE_FEES = "Expenses:Twisted:Dispute-Fees"
LOSSES = "Expenses:Twisted:Dispute-Losses"
ACCOUNTS = (STRIPE, INCOME, CARD_FEES, FEES, FEE_INCOME, DISPUTE_FEES, LOSSES)

# The entries, by what Stripe did: the same in any order of events.
REFUND = {STRIPE: D("-40.00"), INCOME: D("40.00")}
REFUND_FEE = {FEES: D("-4.00"), FEE_INCOME: D("4.00")}
WITHDRAWN = {  # 100.00 and the fee: 60.00 of income left, and 40.00 refunded before
    STRIPE: D("-115.00"),
    DISPUTE_FEES: D("15.00"),
    INCOME: D("60.00"),
    LOSSES: D("40.00"),
}
WITHDRAWN_FEE = {FEES: D("-6.00"), FEE_INCOME: D("6.00")}
REINSTATED = {
    "won": {
        STRIPE: D("115.00"),
        DISPUTE_FEES: D("-15.00"),
        INCOME: D("-60.00"),
        LOSSES: D("-40.00"),
    },
    "lost": {STRIPE: D("40.00"), LOSSES: D("-40.00")},  # only the part refunded before
}
REINSTATED_FEE: dict[str, dict[str, D] | None] = {
    "won": {FEES: D("6.00"), FEE_INCOME: D("-6.00")},
    "lost": None,
}
BALANCES = {
    "won": {  # the gift stands at 60.00, as after the refund alone
        STRIPE: D("56.80"),
        INCOME: D("-60.00"),
        CARD_FEES: D("3.20"),
        FEES: D("6.00"),
        FEE_INCOME: D("-6.00"),
        DISPUTE_FEES: D(0),
        LOSSES: D(0),
    },
    "lost": {  # nothing of the gift stands; the fund bears Stripe's two fees
        STRIPE: D("-18.20"),
        INCOME: D(0),
        CARD_FEES: D("3.20"),
        FEES: D(0),
        FEE_INCOME: D(0),
        DISPUTE_FEES: D("15.00"),
        LOSSES: D(0),
    },
}
FUNDS = {"won": (D("50.80"), D("6.00")), "lost": (D("-18.20"), D(0))}
STATUS = {"won": DonationStatus.PARTIALLY_REFUNDED, "lost": DonationStatus.REFUNDED}
REVERSED = {"won": 4000, "lost": 10000}
# The gift's receipts, oldest first: (kind, amount in cents). A dispute won before we
# heard of it voids nothing; one we heard of while open voids the 60.00 replacement, and
# its win issues another.
AFTER_REFUND = [("receipt", 10000), ("voiding", 10000), ("replacement", 6000)]
RECEIPTS = {
    "lost": [[*AFTER_REFUND, ("voiding", 6000)]],
    "won": [AFTER_REFUND, [*AFTER_REFUND, ("voiding", 6000), ("replacement", 6000)]],
}
# The year-end package's refunds and disputes: the contributions each took back.
REVERSALS = {
    "won": [("refund", D("40.00")), ("dispute", D("60.00")), ("dispute", D("-60.00"))],
    "lost": [("refund", D("40.00")), ("dispute", D("60.00"))],
}


def _twisted(rt: Runtime) -> None:
    with rt.sessions() as session:
        factories.project(session, fee_rate_bp=1000)
        session.commit()
    rt.post_ledger()


def _balances(rt: Runtime) -> dict[str, D]:
    books = rt.books.load()
    return {account: books.account_balance(account) for account in ACCOUNTS}


def _funds(rt: Runtime) -> tuple[D, D]:
    books = rt.books.load()
    return (books.fund_balance("Twisted").amount, books.fund_balance("General").amount)


def _gift(rt: Runtime, donation_id: int) -> Gift:
    (gift,) = donation(rt, donation_id).gifts
    return gift


def _receipts(rt: Runtime, gift_id: int) -> list[tuple[str, int]]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id)
        )
        return [(r.kind.value, r.amount_minor) for r in rows]


def _dispute_and_close(standin: StandIn, charge: str, outcome: str) -> dict[str, Any]:
    """Refund 40.00 at Stripe (as from its dashboard), then the cardholder disputes all
    100.00, and the dispute closes; answers the dispute as Stripe has it at the end."""
    stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 4000})
    dispute = control(standin, f"charges/{charge}/dispute", amount="10000")
    assert dispute["amount"] == 10000
    closed = control(standin, f"disputes/{dispute['id']}/close", outcome=outcome)
    assert closed["status"] == "lost" if outcome == "lost" else "won"
    return closed


def _assert_booked_as_stripe_moved(
    rt: Runtime, standin: StandIn, donation_id: int, dispute: dict[str, Any], outcome: str
) -> None:
    state = standin_state(standin)
    (refund,) = state["refunds"]
    withdrawn, reinstated = dispute["balance_transactions"]
    assert (withdrawn["amount"], withdrawn["fee"]) == (-10000, 1500)
    assert reinstated["amount"] == (10000 if outcome == "won" else 4000)

    entries = entries_by_ref(rt)
    assert postings(entries[f"stripe-{refund['id']}"]) == REFUND
    assert postings(entries[f"stripe-{refund['id']}/sponsorship-fee"]) == REFUND_FEE
    assert postings(entries[f"stripe-{withdrawn['id']}"]) == WITHDRAWN
    assert postings(entries[f"stripe-{withdrawn['id']}/sponsorship-fee"]) == WITHDRAWN_FEE
    assert postings(entries[f"stripe-{reinstated['id']}"]) == REINSTATED[outcome]
    fee_back = entries.get(f"stripe-{reinstated['id']}/sponsorship-fee")
    assert (postings(fee_back) if fee_back else None) == REINSTATED_FEE[outcome]
    for txn in (withdrawn, reinstated):
        assert entries[f"stripe-{txn['id']}"].meta["stripe-id"] == dispute["id"]
    assert entries[f"stripe-{refund['id']}"].meta["stripe-id"] == refund["id"]

    assert _balances(rt) == BALANCES[outcome]
    # Each fund's balance is what Stripe holds for it: the books' Assets:Stripe and
    # Stripe's own balance agree with the two funds together.
    twisted, general = _funds(rt)
    assert (twisted, general) == FUNDS[outcome]
    assert D(state["balance"]["usd"]) / 100 == twisted + general == BALANCES[outcome][STRIPE]

    gift = _gift(rt, donation_id)
    assert (gift.refunded_minor, gift.reversed_minor) == (4000, REVERSED[outcome])
    assert donation(rt, donation_id).status is STATUS[outcome]
    assert _receipts(rt, gift.id) in RECEIPTS[outcome]

    assert ledger_refs(rt).most_common(1)[0][1] == 1
    assert check_books(rt.ledger).problems == []
    today = clock.today(rt.settings.timezone)
    with rt.sessions() as session:
        package = ye.year_end(session, rt.books.index, rt.books.current(), today.year)
    assert [(r.kind, r.amount.amount) for r in package.reversals] == REVERSALS[outcome]
    assert package.ties_out, package.differences


def _reconciled(rt: Runtime, day: date) -> reconciling.Reconciliation:
    period = reconciling.Period(day, day)
    return reconciling.reconcile(rt.books.index, rt.gateway, period, rt.settings.timezone)


@pytest.mark.parametrize("outcome", ["lost", "won"])
def test_dispute_of_the_whole_gift_after_a_partial_refund_books_what_stripe_moved(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer, outcome: str
) -> None:
    """Webhooks delivered twice each and shuffled: the refund's may come after the
    dispute's, and every movement is still booked once, as Stripe made it."""
    rt = giving_runtime
    _twisted(rt)
    donation_id = give(rt, standin, "100.00")
    settle_webhooks(rt, standin)
    charge = _gift(rt, donation_id).charge_id
    assert charge is not None

    webhook_mode(standin, duplicate=True, shuffle=True, fail_first=False)
    dispute = _dispute_and_close(standin, charge, outcome)
    settle_webhooks(rt, standin)

    _assert_booked_as_stripe_moved(rt, standin, donation_id, dispute, outcome)
    env = stripe_env(rt.settings, standin)
    checked = run_cli(env, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    day = clock.today(rt.settings.timezone).isoformat()
    reconciled = run_cli(env, "stripe", "reconcile", "--from", day, "--to", day)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "ok: Stripe and the books match" in reconciled.stdout


def test_while_the_dispute_is_open_the_money_taken_twice_is_the_funds_loss(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    """Before the dispute closes, Stripe holds 100.00 and the fee less than after the
    refund: the fund shows it, the gift stands at nothing (its receipt void), and no
    more sponsorship fee goes back than was charged."""
    rt = giving_runtime
    _twisted(rt)
    donation_id = give(rt, standin, "100.00")
    settle_webhooks(rt, standin)
    charge = _gift(rt, donation_id).charge_id
    webhook_mode(standin, duplicate=True, shuffle=True, fail_first=False)
    stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 4000})
    control(standin, f"charges/{charge}/dispute", amount="10000")
    settle_webhooks(rt, standin)

    assert _balances(rt) == {
        STRIPE: D("-58.20"),  # 96.80 - 40.00 - 115.00
        INCOME: D(0),
        CARD_FEES: D("3.20"),
        FEES: D(0),
        FEE_INCOME: D(0),
        DISPUTE_FEES: D("15.00"),
        LOSSES: D("40.00"),
    }
    assert _funds(rt) == (D("-58.20"), D(0))
    assert D(standin_state(standin)["balance"]["usd"]) / 100 == D("-58.20")
    assert donation(rt, donation_id).status is DonationStatus.DISPUTED
    gift = _gift(rt, donation_id)
    assert gift.remaining.minor == 0
    assert _receipts(rt, gift.id)[-1] == ("voiding", 6000)
    assert _reconciled(rt, clock.today(rt.settings.timezone)).problems == ()
    assert check_books(rt.ledger).problems == []


def _as_emitted(found: list[Event]) -> list[Event]:
    return found


def _newest_first(found: list[Event]) -> list[Event]:
    return found[::-1]


def _disputes_first(found: list[Event]) -> list[Event]:
    return sorted(found, key=lambda e: 0 if e.type.startswith("charge.dispute.") else 1)


def _shuffled_twice_over(found: list[Event]) -> list[Event]:
    both = found + found
    random.Random(15).shuffle(both)
    return both


ORDERS: dict[str, Callable[[list[Event]], list[Event]]] = {
    "as emitted": _as_emitted,
    "newest first": _newest_first,
    "disputes before the refund": _disputes_first,
    "shuffled, each twice": _shuffled_twice_over,
}


@pytest.mark.parametrize("order", list(ORDERS))
@pytest.mark.parametrize("outcome", ["lost", "won"])
def test_dispute_after_a_partial_refund_books_the_same_entries_in_any_order_of_events(
    giving_runtime: Runtime, standin: StandIn, outcome: str, order: str
) -> None:
    """Nothing reaches us until everything happened at Stripe; then the events come in
    the order given, the dispute's before the refund's among them."""
    rt = giving_runtime
    _twisted(rt)
    donation_id = give(rt, standin, "100.00")
    charge = standin_state(standin)["charges"][0]["id"]
    dispute = _dispute_and_close(standin, charge, outcome)

    outcomes = [
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
        for event in ORDERS[order](standin_events(standin))
    ]
    rt.post_ledger()

    assert "processed" in outcomes
    _assert_booked_as_stripe_moved(rt, standin, donation_id, dispute, outcome)
    assert _reconciled(rt, clock.today(rt.settings.timezone)).problems == ()
