"""Refunds: balance transactions, the charge's running total, and refusals that write nothing."""

from __future__ import annotations

import pytest
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import control, paid_charge
from tests.standin.receiver import Receiver


def test_partial_then_full_refund_reverses_the_whole_amount_and_keeps_the_fee(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    charge = paid_charge(stripe_client, standin, 2500)
    first = stripe_client.v1.refunds.create({"charge": charge.id, "amount": 1000})
    after_first = stripe_client.v1.charges.retrieve(charge.id)
    assert (after_first.amount_refunded, after_first.refunded) == (1000, False)

    rest = stripe_client.v1.refunds.create(
        {"payment_intent": str(charge.payment_intent), "metadata": {"refund_id": "2"}},
        {"idempotency_key": "donation-42-refund-2"},
    )
    assert rest.amount == 1500
    assert rest.metadata is not None
    assert rest.metadata.to_dict() == {"refund_id": "2"}
    after_all = stripe_client.v1.charges.retrieve(charge.id)
    assert (after_all.amount_refunded, after_all.refunded) == (2500, True)

    txn = stripe_client.v1.balance_transactions.retrieve(str(first.balance_transaction))
    assert (txn.type, txn.amount, txn.fee, txn.net, txn.source) == (
        "refund",
        -1000,
        0,
        -1000,
        first.id,
    )
    assert standin.records()["balance"] == {"usd": 2500 - 103 - 2500}

    assert standin.wait_for_webhooks(5)
    refunded = [e for e in receiver.events() if e["type"] == "charge.refunded"]
    assert [e["data"]["object"]["amount_refunded"] for e in refunded] == [1000, 2500]
    assert receiver.types().count("refund.created") == 2


def test_over_refund_is_refused_and_writes_nothing(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin, 2500)
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 2000})
    before = standin.records()
    events_before = len(standin.store.events())

    with pytest.raises(stripe.InvalidRequestError) as too_large:
        stripe_client.v1.refunds.create({"charge": charge.id, "amount": 501})
    assert too_large.value.http_status == 400
    assert too_large.value.code == "amount_too_large"

    assert standin.records() == before
    assert len(standin.store.events()) == events_before


def test_refunding_a_fully_refunded_charge_says_already_refunded(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    stripe_client.v1.refunds.create({"charge": charge.id})
    with pytest.raises(stripe.InvalidRequestError) as again:
        stripe_client.v1.refunds.create({"charge": charge.id, "amount": 1})
    assert again.value.code == "charge_already_refunded"
    assert len(standin.records()["refunds"]) == 1


def test_refund_expands_to_its_charge_and_balance_transaction(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    made = stripe_client.v1.refunds.create({"charge": charge.id, "amount": 100})
    fetched = stripe_client.v1.refunds.retrieve(
        made.id, {"expand": ["charge.balance_transaction", "balance_transaction"]}
    )
    assert isinstance(fetched.charge, stripe.Charge)
    assert isinstance(fetched.charge.balance_transaction, stripe.BalanceTransaction)
    assert fetched.charge.balance_transaction.fee == 103
    assert isinstance(fetched.balance_transaction, stripe.BalanceTransaction)
    assert fetched.balance_transaction.amount == -100


def test_a_failed_refund_returns_the_money_to_the_balance_and_says_so_in_a_webhook(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    charge = paid_charge(stripe_client, standin, 2500)
    made = stripe_client.v1.refunds.create({"charge": charge.id, "amount": 1000})
    assert standin.records()["balance"] == {"usd": 2500 - 103 - 1000}

    answer = control(standin, f"refunds/{made.id}/fail")
    assert answer.status_code == 200
    failed = stripe_client.v1.refunds.retrieve(made.id)
    assert (failed.status, failed.failure_reason) == ("failed", "expired_or_canceled_card")
    txn = stripe_client.v1.balance_transactions.retrieve(str(failed.failure_balance_transaction))
    assert (txn.type, txn.reporting_category, txn.amount, txn.net, txn.source) == (
        "refund_failure",
        "refund_failure",
        1000,
        1000,
        made.id,
    )
    assert standin.records()["balance"] == {"usd": 2500 - 103}
    after = stripe_client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (0, False)

    assert standin.wait_for_webhooks(5)
    updated = [e for e in receiver.events() if e["type"] == "refund.updated"]
    assert [e["data"]["object"]["status"] for e in updated] == ["failed"]

    again = control(standin, f"refunds/{made.id}/fail")
    assert again.status_code == 400
    assert "is failed and cannot fail" in again.json()["error"]["message"]
    assert standin.records()["balance"] == {"usd": 2500 - 103}
