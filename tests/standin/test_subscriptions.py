"""Recurring gifts: the first invoice, renewals that succeed or fail, changes and cancellation."""

from __future__ import annotations

import pytest
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import DECLINED, control, monthly_gift, pay, subscribed
from tests.standin.receiver import Receiver


def test_subscription_checkout_bills_the_first_invoice_with_our_metadata(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    session = monthly_gift(stripe_client, 1000)
    assert pay(standin, session.id).status_code == 303
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (paid.status, paid.payment_status, paid.payment_intent) == ("complete", "paid", None)
    subscription = stripe_client.v1.subscriptions.retrieve(str(paid.subscription))
    assert subscription.status == "active"
    assert subscription.metadata.to_dict() == {"donation_id": "43"}

    invoice = stripe_client.v1.invoices.retrieve(str(paid.invoice), {"expand": ["payments"]})
    assert (invoice.status, invoice.billing_reason, invoice.amount_paid) == (
        "paid",
        "subscription_create",
        1000,
    )
    assert invoice.parent is not None
    details = invoice.parent.subscription_details
    assert details is not None
    assert details.subscription == subscription.id
    assert details.metadata is not None
    assert details.metadata.to_dict() == {"donation_id": "43"}
    assert invoice.payments is not None
    [payment] = invoice.payments.data
    assert payment.status == "paid"

    listed = stripe_client.v1.invoice_payments.list({"invoice": invoice.id})
    intent_id = listed.data[0].payment.payment_intent
    intent = stripe_client.v1.payment_intents.retrieve(
        str(intent_id), {"expand": ["latest_charge.balance_transaction"]}
    )
    assert isinstance(intent.latest_charge, stripe.Charge)
    txn = intent.latest_charge.balance_transaction
    assert isinstance(txn, stripe.BalanceTransaction)
    assert (txn.amount, txn.fee) == (1000, 59)

    assert standin.wait_for_webhooks(5)
    assert {"checkout.session.completed", "customer.subscription.created", "invoice.paid"} <= set(
        receiver.types()
    )


def test_renewal_bills_the_next_period_with_a_new_charge(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    subscription = subscribed(stripe_client, standin)
    first_end = subscription["items"].data[0].current_period_end
    renewed = control(standin, f"subscriptions/{subscription.id}/renew")
    assert renewed.status_code == 200
    assert renewed.json()["paid"] is True
    invoice = stripe_client.v1.invoices.retrieve(renewed.json()["invoice"]["id"])
    assert (invoice.status, invoice.billing_reason) == ("paid", "subscription_cycle")
    assert invoice.lines.data[0].period.start == first_end

    after = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert after["items"].data[0].current_period_start == first_end
    assert after.latest_invoice == invoice.id
    charges = standin.records()["charges"]
    assert [c["status"] for c in charges] == ["succeeded", "succeeded"]
    assert standin.records()["balance"] == {"usd": 2 * (1000 - 59)}

    assert standin.wait_for_webhooks(5)
    paid_invoices = [e["data"]["object"] for e in receiver.events() if e["type"] == "invoice.paid"]
    assert [i["billing_reason"] for i in paid_invoices] == [
        "subscription_create",
        "subscription_cycle",
    ]


def test_renewal_with_a_declined_card_fails_and_leaves_the_subscription_past_due(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    subscription = subscribed(stripe_client, standin)
    renewed = control(standin, f"subscriptions/{subscription.id}/renew", card_number=DECLINED)
    assert renewed.json()["paid"] is False
    assert renewed.json()["invoice"]["status"] == "open"
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "past_due"
    assert len(standin.records()["balance_transactions"]) == 1  # only the first payment

    assert standin.wait_for_webhooks(5)
    assert "invoice.payment_failed" in receiver.types()
    updated = [e for e in receiver.events() if e["type"] == "customer.subscription.updated"]
    assert updated[-1]["data"]["object"]["status"] == "past_due"
    assert updated[-1]["data"]["previous_attributes"]["status"] == "active"

    # the next renewal, on the saved card, pays and makes it active again
    assert control(standin, f"subscriptions/{subscription.id}/renew").json()["paid"] is True
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).status == "active"


def test_changing_the_amount_emits_updated_with_previous_attributes(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    subscription = subscribed(stripe_client, standin)
    item = subscription["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        subscription.id,
        {
            "items": [
                {
                    "id": item.id,
                    "price_data": {
                        "currency": "usd",
                        "product": str(item.price.product),
                        "unit_amount": 2500,
                        "recurring": {"interval": "month"},
                    },
                }
            ],
            "proration_behavior": "none",
            "metadata": {"changed_by": "donor"},
        },
    )
    assert updated["items"].data[0].price.unit_amount == 2500
    assert updated.metadata.to_dict() == {"donation_id": "43", "changed_by": "donor"}
    renewed = control(standin, f"subscriptions/{subscription.id}/renew").json()
    assert renewed["invoice"]["amount_paid"] == 2500

    assert standin.wait_for_webhooks(5)
    [change, *_] = [e for e in receiver.events() if e["type"] == "customer.subscription.updated"]
    assert set(change["data"]["previous_attributes"]) == {"items", "metadata"}


def test_cancelling_emits_deleted_and_stops_renewals(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    subscription = subscribed(stripe_client, standin)
    cancelled = stripe_client.v1.subscriptions.cancel(subscription.id)
    assert cancelled.status == "canceled"
    assert control(standin, f"subscriptions/{subscription.id}/renew").status_code == 400
    assert standin.wait_for_webhooks(5)
    assert receiver.types()[-1] == "customer.subscription.deleted"


def test_cancel_at_period_end_ends_the_subscription_at_the_next_renewal(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    subscription = subscribed(stripe_client, standin)
    pending = stripe_client.v1.subscriptions.update(subscription.id, {"cancel_at_period_end": True})
    assert pending.cancel_at_period_end is True
    assert pending.status == "active"
    ended = control(standin, f"subscriptions/{subscription.id}/renew").json()
    assert ended["invoice"] is None
    assert ended["subscription"]["status"] == "canceled"
    assert len(standin.records()["charges"]) == 1
    assert standin.wait_for_webhooks(5)
    assert receiver.types()[-1] == "customer.subscription.deleted"


def test_yearly_gift_renews_a_year_later(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    session = monthly_gift(stripe_client, 12000, interval="year")
    assert pay(standin, session.id).status_code == 303
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    assert isinstance(paid.subscription, stripe.Subscription)
    item = paid.subscription["items"].data[0]
    assert 365 * 86400 <= item.current_period_end - item.current_period_start <= 366 * 86400


def test_a_refused_update_changes_nothing(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    subscription = subscribed(stripe_client, standin)
    item = subscription["items"].data[0]
    before = stripe_client.v1.subscriptions.retrieve(subscription.id).to_dict()
    with pytest.raises(stripe.InvalidRequestError) as refused:
        stripe_client.v1.subscriptions.update(
            subscription.id,
            {
                "metadata": {"changed_by": "donor"},
                "items": [
                    {
                        "id": item.id,
                        "price_data": {
                            "currency": "eur",
                            "product": str(item.price.product),
                            "unit_amount": 2500,
                            "recurring": {"interval": "month"},
                        },
                    }
                ],
            },
        )
    assert refused.value.param == "items[0][price_data][currency]"
    assert stripe_client.v1.subscriptions.retrieve(subscription.id).to_dict() == before
    assert len(standin.store.all("price")) == 1
