"""Hosted checkout: the page, the test cards, the fee on the charge, the redirect."""

from __future__ import annotations

import pytest
import requests
import stripe

from conservancy.standin import StandIn
from conservancy.standin.payments import card_fee
from tests.standin.flows import (
    DECLINED,
    NO_FUNDS,
    one_time_gift,
    paid_charge,
    pay,
    pay_by_bank,
)
from tests.standin.receiver import Receiver


@pytest.mark.parametrize(
    ("amount", "fee"),
    [
        (2500, 103),  # 72.5 cents rounds half-up to 73, plus 30
        (1000, 59),
        (500, 45),  # 14.5 -> 15
        (50, 31),  # 1.45 -> 1
        (123456, 3610),  # 3580.224 -> 3580
    ],
)
def test_card_fee_is_2_9_percent_plus_30_cents_rounded_half_up(amount: int, fee: int) -> None:
    assert card_fee(amount) == fee


def test_paid_gift_of_25_dollars_nets_23_97_after_a_1_03_fee(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin, 2500)
    txn = stripe_client.v1.balance_transactions.retrieve(str(charge.balance_transaction))
    assert (txn.amount, txn.fee, txn.net) == (2500, 103, 2397)
    assert txn.type == "charge"
    assert txn.reporting_category == "charge"
    assert txn.status == "available"
    assert txn.source == charge.id
    assert [(d.type, d.amount) for d in txn.fee_details] == [("stripe_fee", 103)]


def test_session_is_open_with_a_hosted_page_until_paid(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    session = one_time_gift(stripe_client)
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.url == f"{standin.url}/_standin/checkout/{session.id}"
    assert session.expires_at - session.created == 24 * 3600
    assert session.amount_total == 2500
    assert session.livemode is False

    page = requests.get(str(session.url), timeout=10)
    assert page.status_code == 200
    assert '<label for="card_number">Card number</label>' in page.text
    assert 'name="card_number"' in page.text
    assert '<button type="submit">Pay</button>' in page.text
    assert f'action="/_standin/checkout/{session.id}/pay"' in page.text


def test_paying_redirects_to_success_url_and_completes_the_session(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    session = one_time_gift(stripe_client)
    answer = pay(standin, session.id, "4242 4242 4242 4242")
    assert answer.status_code == 303
    assert answer.headers["Location"] == (f"https://donate.example.org/thanks?session={session.id}")
    paid = stripe_client.v1.checkout.sessions.retrieve(session.id, {"expand": ["payment_intent"]})
    assert (paid.status, paid.payment_status) == ("complete", "paid")
    intent = paid.payment_intent
    assert isinstance(intent, stripe.PaymentIntent)
    assert intent.status == "succeeded"
    assert intent.metadata.to_dict() == {"donation_id": "42"}
    assert paid.customer is not None

    assert standin.wait_for_webhooks(5)
    completed = [e for e in receiver.events() if e["type"] == "checkout.session.completed"]
    assert len(completed) == 1
    assert completed[0]["data"]["object"]["client_reference_id"] == "donation-42"
    assert completed[0]["data"]["object"]["payment_intent"] == intent.id
    assert {"charge.succeeded", "payment_intent.succeeded"} <= set(receiver.types())


@pytest.mark.parametrize(
    ("card", "message"),
    [(DECLINED, "Your card was declined."), (NO_FUNDS, "Your card has insufficient funds.")],
)
def test_declined_card_shows_why_and_leaves_session_open(
    stripe_client: stripe.StripeClient, standin: StandIn, card: str, message: str
) -> None:
    session = one_time_gift(stripe_client)
    answer = pay(standin, session.id, card)
    assert answer.status_code == 402
    assert message in answer.text
    assert 'name="card_number"' in answer.text
    again = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (again.status, again.payment_status) == ("open", "unpaid")
    assert standin.records()["charges"] == []
    # and a good card still pays afterwards
    assert pay(standin, session.id).status_code == 303


def test_unknown_card_number_is_refused(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    session = one_time_gift(stripe_client)
    answer = pay(standin, session.id, "1234123412341234")
    assert answer.status_code == 402
    assert "Your card number is incorrect." in answer.text


def test_a_paid_session_cannot_be_paid_again(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    session = one_time_gift(stripe_client)
    assert pay(standin, session.id).status_code == 303
    assert pay(standin, session.id).status_code == 400
    assert len(standin.records()["charges"]) == 1


def test_expiring_a_session_emits_expired_and_stops_payment(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    session = one_time_gift(stripe_client)
    expired = stripe_client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    assert pay(standin, session.id).status_code == 400
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.checkout.sessions.expire(session.id)
    assert standin.wait_for_webhooks(5)
    assert receiver.types() == ["checkout.session.expired"]


def test_bank_debit_completes_unpaid_then_succeeds_with_ach_fee(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    session = one_time_gift(stripe_client, 10000)
    assert pay_by_bank(standin, session.id, "000123456789").status_code == 303
    assert standin.wait_for_webhooks(5)
    sessions = {
        e["type"]: e["data"]["object"]
        for e in receiver.events()
        if e["type"].startswith("checkout.session.")
    }
    assert sessions["checkout.session.completed"]["payment_status"] == "unpaid"
    assert sessions["checkout.session.async_payment_succeeded"]["payment_status"] == "paid"
    [txn] = standin.records()["balance_transactions"]
    assert (txn["amount"], txn["fee"], txn["net"]) == (10000, 80, 9920)  # 0.8%


def test_failed_bank_debit_emits_async_payment_failed_and_moves_no_money(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    session = one_time_gift(stripe_client)
    assert pay_by_bank(standin, session.id, "000111111116").status_code == 303
    assert standin.wait_for_webhooks(5)
    types = receiver.types()
    assert types.index("checkout.session.completed") < types.index(
        "checkout.session.async_payment_failed"
    )
    assert "checkout.session.async_payment_succeeded" not in types
    assert standin.records()["balance_transactions"] == []
    assert standin.records()["charges"][0]["status"] == "failed"


def test_api_refuses_requests_without_a_test_secret_key(standin: StandIn) -> None:
    url = f"{standin.url}/v1/charges/ch_anything"
    for headers in ({}, {"Authorization": "Bearer sk_live_123456789012"}, {"Authorization": "x"}):
        answer = requests.get(url, headers=headers, timeout=10)
        assert answer.status_code == 401
        error = answer.json()["error"]
        assert error["type"] == "invalid_request_error"
        assert set(error) >= {"type", "code", "message"}
    with pytest.raises(stripe.AuthenticationError):
        stripe.StripeClient("rk_live_x", base_addresses={"api": standin.url}).v1.charges.retrieve(
            "ch_x"
        )


def test_unknown_parameters_and_missing_objects_are_refused_like_stripe(
    stripe_client: stripe.StripeClient,
) -> None:
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        one_time_gift(stripe_client, payment_intent_data={"metdata": {"x": "1"}})
    assert unknown.value.code == "parameter_unknown"
    assert unknown.value.param == "payment_intent_data[metdata]"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        stripe_client.v1.charges.retrieve("ch_missing")
    assert missing.value.http_status == 404
    assert missing.value.code == "resource_missing"


def test_module_level_api_works_with_api_base(standin: StandIn) -> None:
    saved = stripe.api_base, stripe.api_key
    stripe.api_base, stripe.api_key = standin.url, "sk_test_module"
    try:
        session = stripe.checkout.Session.create(
            mode="payment",
            line_items=[
                {
                    "quantity": 2,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": 1500,
                        "product_data": {"name": "Gift"},
                    },
                }
            ],
            success_url="https://example.org/ok",
        )
        assert session.amount_total == 3000
        assert stripe.checkout.Session.retrieve(session.id).status == "open"
    finally:
        stripe.api_base, stripe.api_key = saved


def test_receipt_page_shows_the_charge(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    page = requests.get(str(charge.receipt_url), timeout=10)
    assert page.status_code == 200
    assert "25.00 USD" in page.text
