"""Charges in EUR, GBP and CAD settle into the stand-in's US dollar balance as at Stripe:
each balance transaction in dollars, with Stripe's ``exchange_rate``, the fee of a
converted charge, and refunds and disputes converted at the rate of their own day."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import requests
import stripe

from conservancy.standin import StandIn
from conservancy.standin.exchange import DEMO_RATES
from tests.standin.flows import control, one_time_gift, pay
from tests.standin.test_shapes import FIXTURES, _differences, _examples


def gift_in(
    client: stripe.StripeClient, standin: StandIn, currency: str, amount: int, card: str
) -> stripe.Charge:
    line = {
        "quantity": 1,
        "price_data": {
            "currency": currency,
            "unit_amount": amount,
            "product_data": {"name": "Gift to Twisted"},
        },
    }
    session = one_time_gift(client, line_items=[line])
    assert pay(standin, session.id, card).status_code == 303
    paid = client.v1.checkout.sessions.retrieve(
        session.id, {"expand": ["payment_intent.latest_charge.balance_transaction"]}
    )
    assert isinstance(paid.payment_intent, stripe.PaymentIntent)
    charge = paid.payment_intent.latest_charge
    assert isinstance(charge, stripe.Charge)
    return charge


def txn(standin: StandIn, txn_id: str) -> dict[str, Any]:
    answer = requests.get(
        f"{standin.url}/v1/balance_transactions/{txn_id}",
        headers={"Authorization": "Bearer sk_test_x"},
        timeout=10,
    )
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body


def set_rate(standin: StandIn, **rates: str) -> None:
    answer = control(standin, "exchange_rates", **rates)
    assert answer.status_code == 200, answer.text


def test_a_charge_in_euros_settles_in_dollars_at_the_demo_rate(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = gift_in(stripe_client, standin, "eur", 10000, "4242424242424242")

    assert (charge.amount, charge.currency) == (10000, "eur")  # the donor's own
    moved = txn(standin, str(charge.balance_transaction.id))  # type: ignore[union-attr]
    assert DEMO_RATES["eur"] == Decimal("1.0834")
    # 100.00 EUR at 1.0834 is 108.34 USD; a US card in another currency: 2.9% + 1%
    # of the dollars (4.23) and 30 cents.
    assert (moved["amount"], moved["currency"], moved["fee"], moved["net"]) == (
        10834,
        "usd",
        453,
        10381,
    )
    assert moved["exchange_rate"] == 1.0834
    assert [(d["amount"], d["currency"]) for d in moved["fee_details"]] == [(453, "usd")]
    if FIXTURES.exists():
        assert _differences(moved, _examples()["balance_transaction"]) == []


@pytest.mark.parametrize(
    ("currency", "amount", "card", "settled", "fee"),
    [
        ("gbp", 5000, "4242424242424242", 6336, 277),  # 63.355 -> 63.36; 3.9% = 2.47
        ("cad", 7500, "4242424242424242", 5484, 244),  # 54.84; 3.9% = 2.14
        ("eur", 10000, "4000002500000003", 10834, 615),  # a French card: 5.4% = 5.85
        ("usd", 10000, "4000008260000000", 10000, 470),  # a British card, no conversion: 4.4%
        ("usd", 10000, "4242424242424242", 10000, 320),  # as ever
    ],
    ids=["gbp", "cad", "eur-card-from-abroad", "usd-card-from-abroad", "usd"],
)
def test_the_fee_is_stripes_for_conversion_and_for_cards_from_abroad(
    stripe_client: stripe.StripeClient,
    standin: StandIn,
    currency: str,
    amount: int,
    card: str,
    settled: int,
    fee: int,
) -> None:
    charge = gift_in(stripe_client, standin, currency, amount, card)
    moved = txn(standin, str(charge.balance_transaction.id))  # type: ignore[union-attr]
    assert (moved["amount"], moved["fee"], moved["currency"]) == (settled, fee, "usd")
    assert (moved["exchange_rate"] is None) == (currency == "usd")


def test_a_refund_converts_at_the_rate_of_its_own_day(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = gift_in(stripe_client, standin, "eur", 10000, "4242424242424242")
    set_rate(standin, eur="1.12")

    refund = stripe_client.v1.refunds.create(
        {"charge": charge.id, "amount": 4000, "expand": ["balance_transaction"]}
    )

    assert (refund.amount, refund.currency) == (4000, "eur")
    moved = refund.balance_transaction
    assert isinstance(moved, stripe.BalanceTransaction)
    assert (moved.amount, moved.fee, moved.net, moved.currency) == (-4480, 0, -4480, "usd")
    assert moved.exchange_rate == 1.12
    state = control_state(standin)
    assert state["balance"] == {"usd": 10381 - 4480}


def test_a_dispute_withdraws_and_reinstates_at_the_rates_of_their_days(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = gift_in(stripe_client, standin, "gbp", 5000, "4242424242424242")
    set_rate(standin, gbp="1.30")
    dispute = control(standin, f"charges/{charge.id}/dispute").json()
    set_rate(standin, gbp="1.25")
    closed = control(standin, f"disputes/{dispute['id']}/close", outcome="won").json()

    assert (closed["amount"], closed["currency"]) == (5000, "gbp")
    assert [(t["amount"], t["fee"], t["currency"], t["exchange_rate"]) for t in closed[
        "balance_transactions"
    ]] == [(-6500, 1500, "usd", 1.3), (6250, -1500, "usd", 1.25)]  # fmt: skip


def test_exchange_rates_can_be_read_and_bad_ones_are_refused(standin: StandIn) -> None:
    before = requests.get(f"{standin.url}/_standin/exchange_rates", timeout=10).json()
    assert before == {currency: str(rate) for currency, rate in DEMO_RATES.items()}

    for bad in ({"jpy": "150"}, {"eur": "0"}, {"eur": "-1"}, {"eur": "lots"}):
        answer = control(standin, "exchange_rates", **bad)
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["type"] == "invalid_request_error"

    after = requests.get(f"{standin.url}/_standin/exchange_rates", timeout=10).json()
    assert after == before


def test_a_checkout_in_a_currency_the_stand_in_cannot_convert_is_refused(
    stripe_client: stripe.StripeClient,
) -> None:
    line = {
        "quantity": 1,
        "price_data": {"currency": "jpy", "unit_amount": 5000, "product_data": {"name": "Gift"}},
    }
    with pytest.raises(stripe.InvalidRequestError, match="Invalid currency: jpy"):
        one_time_gift(stripe_client, line_items=[line])


def control_state(standin: StandIn) -> dict[str, Any]:
    answer = requests.get(f"{standin.url}/_standin/state", timeout=10)
    assert answer.status_code == 200
    body: dict[str, Any] = answer.json()
    return body
