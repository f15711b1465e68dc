"""What a donor and the application do, in a line each, for the stand-in's tests."""

from __future__ import annotations

from typing import Any

import requests
import stripe

from conservancy.standin import StandIn

PAYS = "4242424242424242"
DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"


def one_time_gift(
    client: stripe.StripeClient, amount: int = 2500, **extra: Any
) -> stripe.checkout.Session:
    params: dict[str, Any] = {
        "mode": "payment",
        "submit_type": "donate",
        "customer_email": "donor@example.org",
        "client_reference_id": "donation-42",
        "metadata": {"donation_id": "42"},
        "payment_intent_data": {"metadata": {"donation_id": "42"}},
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": amount,
                    "product_data": {"name": "Gift to Twisted"},
                },
            }
        ],
        "success_url": "https://donate.example.org/thanks?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://donate.example.org/give",
        **extra,
    }
    return client.v1.checkout.sessions.create(params)  # type: ignore[arg-type]


def monthly_gift(
    client: stripe.StripeClient, amount: int = 1000, interval: str = "month"
) -> stripe.checkout.Session:
    return client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "submit_type": "donate",
            "customer_email": "donor@example.org",
            "client_reference_id": "donation-43",
            "metadata": {"donation_id": "43"},
            "subscription_data": {"metadata": {"donation_id": "43"}},
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount,
                        "product_data": {"name": "Monthly gift to Twisted"},
                        "recurring": {"interval": interval},
                    },
                }
            ],
            "success_url": "https://donate.example.org/thanks?session={CHECKOUT_SESSION_ID}",
            "cancel_url": "https://donate.example.org/give",
        }
    )


def pay(standin: StandIn, session_id: str, card: str = PAYS) -> requests.Response:
    return requests.post(
        f"{standin.url}/_standin/checkout/{session_id}/pay",
        data={"card_number": card},
        allow_redirects=False,
        timeout=10,
    )


def pay_by_bank(standin: StandIn, session_id: str, account: str) -> requests.Response:
    return requests.post(
        f"{standin.url}/_standin/checkout/{session_id}/pay",
        data={"account_number": account},
        allow_redirects=False,
        timeout=10,
    )


def control(standin: StandIn, path: str, **form: str | int) -> requests.Response:
    return requests.post(f"{standin.url}/_standin/{path}", data=form, timeout=10)


def paid_charge(client: stripe.StripeClient, standin: StandIn, amount: int = 2500) -> stripe.Charge:
    session = one_time_gift(client, amount)
    assert pay(standin, session.id).status_code == 303
    paid = client.v1.checkout.sessions.retrieve(
        session.id, {"expand": ["payment_intent.latest_charge"]}
    )
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    charge = intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    return charge


def subscribed(client: stripe.StripeClient, standin: StandIn) -> stripe.Subscription:
    session = monthly_gift(client)
    assert pay(standin, session.id).status_code == 303
    paid = client.v1.checkout.sessions.retrieve(session.id, {"expand": ["subscription"]})
    subscription = paid.subscription
    assert isinstance(subscription, stripe.Subscription)
    return subscription


def saved_card(
    client: stripe.StripeClient, standin: StandIn, customer: str, card: str = PAYS
) -> stripe.SetupIntent:
    """A card saved to the customer through a Checkout Session in setup mode."""
    session = client.v1.checkout.sessions.create(
        {
            "mode": "setup",
            "customer": customer,
            "currency": "usd",
            "setup_intent_data": {"metadata": {"donation_id": "7"}},
            "success_url": "https://donate.example.org/portal?card=saved",
            "cancel_url": "https://donate.example.org/portal",
        }
    )
    assert pay(standin, session.id, card).status_code == 303
    done = client.v1.checkout.sessions.retrieve(session.id)
    return client.v1.setup_intents.retrieve(str(done.setup_intent))
