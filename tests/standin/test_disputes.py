"""Disputes: money withdrawn with a 15.00 fee, and given back only when won."""

from __future__ import annotations

import pytest
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import control, paid_charge
from tests.standin.receiver import Receiver


def _dispute_transactions(standin: StandIn, dispute_id: str) -> list[tuple[str, int, int, int]]:
    return [
        (t["reporting_category"], t["amount"], t["fee"], t["net"])
        for t in standin.records()["balance_transactions"]
        if t["source"] == dispute_id
    ]


def test_won_dispute_reinstates_the_amount_and_the_fee(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    charge = paid_charge(stripe_client, standin, 5000)
    opened = control(standin, f"charges/{charge.id}/dispute")
    assert opened.status_code == 200
    dispute = opened.json()
    assert (dispute["status"], dispute["amount"]) == ("needs_response", 5000)
    assert stripe_client.v1.charges.retrieve(charge.id).disputed is True

    closed = control(standin, f"disputes/{dispute['id']}/close", outcome="won").json()
    assert closed["status"] == "won"
    assert _dispute_transactions(standin, dispute["id"]) == [
        ("dispute", -5000, 1500, -6500),
        ("dispute_reversal", 5000, -1500, 6500),
    ]
    fetched = stripe_client.v1.disputes.retrieve(dispute["id"])
    assert [t.amount for t in fetched.balance_transactions] == [-5000, 5000]

    assert standin.wait_for_webhooks(5)
    assert [t for t in receiver.types() if t.startswith("charge.dispute.")] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_lost_dispute_keeps_the_amount_and_the_fee(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    charge = paid_charge(stripe_client, standin, 5000)
    dispute = control(standin, f"charges/{charge.id}/dispute", amount=2000).json()
    closed = control(standin, f"disputes/{dispute['id']}/close", outcome="lost").json()
    assert (closed["status"], closed["amount"]) == ("lost", 2000)
    assert _dispute_transactions(standin, dispute["id"]) == [("dispute", -2000, 1500, -3500)]
    assert standin.records()["balance"] == {"usd": 5000 - 175 - 3500}
    assert standin.wait_for_webhooks(5)
    closed_events = [e for e in receiver.events() if e["type"] == "charge.dispute.closed"]
    assert [e["data"]["object"]["status"] for e in closed_events] == ["lost"]
    assert "charge.dispute.funds_reinstated" not in receiver.types()


def test_disputed_charge_cannot_be_refunded_or_disputed_twice(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    dispute = control(standin, f"charges/{charge.id}/dispute").json()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.refunds.create({"charge": charge.id})
    assert refused.value.code == "charge_disputed"
    assert control(standin, f"charges/{charge.id}/dispute").status_code == 409
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="maybe").status_code == 400
    assert control(standin, "disputes/du_missing/close", outcome="won").status_code == 404


@pytest.mark.parametrize(
    ("outcome", "given_back"),
    [
        ("won", ("dispute_reversal", 5000, -1500, 6500)),
        ("lost", ("dispute_reversal", 2000, 0, 2000)),
    ],
)
def test_dispute_of_the_whole_charge_after_a_partial_refund_withdraws_all_of_it(
    stripe_client: stripe.StripeClient,
    standin: StandIn,
    receiver: Receiver,
    outcome: str,
    given_back: tuple[str, int, int, int],
) -> None:
    """Stripe: a charge partly refunded may be disputed for its whole amount, and the
    whole amount is withdrawn. Won, all of it comes back (and the fee); lost, only the
    part refunded before, and the dispute is still lost."""
    charge = paid_charge(stripe_client, standin, 5000)
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 2000})
    dispute = control(standin, f"charges/{charge.id}/dispute").json()
    assert dispute["amount"] == 5000

    closed = control(standin, f"disputes/{dispute['id']}/close", outcome=outcome).json()
    assert closed["status"] == outcome
    assert _dispute_transactions(standin, dispute["id"]) == [
        ("dispute", -5000, 1500, -6500),
        given_back,
    ]
    fetched = stripe_client.v1.disputes.retrieve(dispute["id"])
    assert [t.amount for t in fetched.balance_transactions] == [-5000, given_back[1]]
    assert standin.wait_for_webhooks(5)
    assert [t for t in receiver.types() if t.startswith("charge.dispute.")] == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
        "charge.dispute.closed",
    ]


def test_charge_refunded_in_full_cannot_be_disputed(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    """Stripe: once a charge is refunded in full, the cardholder can no longer dispute it."""
    charge = paid_charge(stripe_client, standin, 5000)
    stripe_client.v1.refunds.create({"charge": charge.id})
    refused = control(standin, f"charges/{charge.id}/dispute")
    assert refused.status_code == 400
    assert "refunded in full" in refused.json()["error"]["message"]
    assert standin.records()["disputes"] == []
