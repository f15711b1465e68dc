"""Checkout in setup mode: a donor saves a new card for a recurring gift, and the
subscription's next payments are charged to it."""

from __future__ import annotations

import pytest
import requests
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import control, saved_card, subscribed


def test_a_saved_card_becomes_the_subscriptions_and_pays_its_renewal(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    subscription = subscribed(stripe_client, standin)
    customer = str(subscription.customer)

    intent = saved_card(stripe_client, standin, customer, card="4000056655665556")

    assert intent.status == "succeeded"
    assert intent.customer == customer
    assert intent.metadata.to_dict() == {"donation_id": "7"}
    types = [e["type"] for e in standin.store.all("event")][-3:]
    assert types == ["setup_intent.created", "setup_intent.succeeded", "checkout.session.completed"]
    updated = stripe_client.v1.subscriptions.update(
        subscription.id, {"default_payment_method": str(intent.payment_method)}
    )
    assert updated.default_payment_method == intent.payment_method

    renewal = control(standin, f"subscriptions/{subscription.id}/renew").json()

    assert renewal["paid"] is True
    invoice = stripe_client.v1.invoices.retrieve(renewal["invoice"]["id"])
    payments = stripe_client.v1.invoice_payments.list({"invoice": str(invoice.id)})
    intent_id = str(payments.data[0].payment.payment_intent)
    charge = stripe_client.v1.charges.retrieve(
        str(stripe_client.v1.payment_intents.retrieve(intent_id).latest_charge)
    )
    assert charge.payment_method_details is not None
    assert charge.payment_method_details.card is not None
    assert charge.payment_method_details.card.last4 == "5556"  # the new card, not 4242


def test_setup_mode_refuses_line_items_and_needs_a_customer(
    stripe_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError, match="customer"):
        stripe_client.v1.checkout.sessions.create(
            {"mode": "setup", "currency": "usd", "success_url": "https://x.example/"}
        )


def test_a_declined_card_is_not_saved_and_the_page_says_so(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    subscription = subscribed(stripe_client, standin)
    session = stripe_client.v1.checkout.sessions.create(
        {
            "mode": "setup",
            "customer": str(subscription.customer),
            "currency": "usd",
            "success_url": "https://x.example/",
        }
    )
    answer = requests.post(
        f"{standin.url}/_standin/checkout/{session.id}/pay",
        data={"card_number": "4000000000000002"},
        allow_redirects=False,
        timeout=10,
    )
    assert answer.status_code == 402
    assert "Your card was declined." in answer.text
    assert stripe_client.v1.checkout.sessions.retrieve(session.id).setup_intent is None


def test_an_unknown_payment_method_is_refused_and_nothing_changes(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    subscription = subscribed(stripe_client, standin)
    with pytest.raises(stripe.InvalidRequestError, match="No such PaymentMethod"):
        stripe_client.v1.subscriptions.update(
            subscription.id, {"default_payment_method": "pm_nothing"}
        )
    found = stripe_client.v1.subscriptions.retrieve(subscription.id)
    assert found.default_payment_method == subscription.default_payment_method
