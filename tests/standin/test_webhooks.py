"""Webhook delivery: Stripe's signature, retries, and the untidy modes."""

from __future__ import annotations

from collections import Counter

import pytest
import stripe

from conservancy.standin import StandIn
from conservancy.standin.webhooks import ATTEMPTS
from tests.standin.conftest import SECRET
from tests.standin.flows import control, paid_charge
from tests.standin.receiver import Receiver


def test_signature_verifies_with_stripes_library_and_fails_with_another_secret(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    assert receiver.received
    for headers, body in receiver.received:
        event = stripe.Webhook.construct_event(body, headers["Stripe-Signature"], SECRET)
        assert event.livemode is False
        assert event.api_version == stripe.api_version
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body, headers["Stripe-Signature"], "whsec_wrong")
        with pytest.raises(stripe.SignatureVerificationError):
            stripe.Webhook.construct_event(body + " ", headers["Stripe-Signature"], SECRET)


def test_every_emitted_event_is_delivered_once_in_order_by_default(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    emitted = [e["id"] for e in standin.store.events()][::-1]
    assert [e["id"] for e in receiver.events()] == emitted


def test_duplicate_mode_delivers_every_event_twice(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    assert control(standin, "webhooks/mode", duplicate=1).json()["duplicate"] is True
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    counts = Counter(e["id"] for e in receiver.events())
    assert len(counts) == len(standin.store.events())
    assert set(counts.values()) == {2}


def test_shuffle_mode_still_delivers_every_event(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    control(standin, "webhooks/mode", shuffle=1)
    for _ in range(3):
        paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    delivered = [e["id"] for e in receiver.events()]
    assert sorted(delivered) == sorted(e["id"] for e in standin.store.events())


def test_fail_first_mode_retries_each_delivery_once(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    control(standin, "webhooks/mode", fail_first=1)
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    assert sorted(e["id"] for e in receiver.events()) == sorted(
        e["id"] for e in standin.store.events()
    )
    assert {(d["outcome"], d["attempts"]) for d in standin.webhook_log()} == {("delivered", 2)}


def test_all_modes_together_deliver_every_event_twice(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    control(standin, "webhooks/mode", duplicate=1, shuffle=1, fail_first=1)
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(10)
    counts = Counter(e["id"] for e in receiver.events())
    assert set(counts) == {e["id"] for e in standin.store.events()}
    assert set(counts.values()) == {2}


def test_refused_deliveries_are_retried_until_accepted(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    receiver.refuse_next = 3
    paid_charge(stripe_client, standin)
    assert standin.wait_for_webhooks(5)
    assert len(receiver.events()) == len(standin.store.events())
    assert sum(d["attempts"] for d in standin.webhook_log()) == len(receiver.events()) + 3


def test_an_endpoint_that_never_answers_is_given_up_on_after_bounded_attempts() -> None:
    with StandIn(webhook_url="http://127.0.0.1:9/nowhere", webhook_secret=SECRET) as lonely:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": lonely.url})
        session = client.v1.checkout.sessions.create(
            {
                "mode": "payment",
                "line_items": [
                    {
                        "quantity": 1,
                        "price_data": {
                            "currency": "usd",
                            "unit_amount": 500,
                            "product_data": {"name": "Gift"},
                        },
                    }
                ],
            }
        )
        client.v1.checkout.sessions.expire(session.id)
        assert lonely.wait_for_webhooks(10)
        [delivery] = lonely.webhook_log()
        assert (delivery["outcome"], delivery["attempts"]) == ("gave_up", ATTEMPTS)
