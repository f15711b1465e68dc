"""Objects the stand-in returns have the shapes of Stripe's own examples.

Stripe's example objects (../shared/stripe/fixtures3.json, MIT) are for the API
version the installed library pins. For each type, the keys must be the same,
and wherever both sides have a value, its JSON type must be the same too.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import requests
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import control, paid_charge, saved_card, subscribed

FIXTURES = Path(__file__).parents[2].parent / "shared" / "stripe" / "fixtures3.json"


@cache
def _examples() -> dict[str, Any]:
    examples: dict[str, Any] = json.loads(FIXTURES.read_text())["resources"]
    return examples


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "array" if isinstance(value, list) else "object"


def _differences(ours: dict[str, Any], theirs: dict[str, Any]) -> list[str]:
    problems = []
    if missing := sorted(set(theirs) - set(ours)):
        problems.append(f"missing {missing}")
    if extra := sorted(set(ours) - set(theirs)):
        problems.append(f"extra {extra}")
    for key in sorted(set(ours) & set(theirs)):
        if ours[key] is None or theirs[key] is None:
            continue
        if _json_type(ours[key]) != _json_type(theirs[key]):
            problems.append(f"{key}: {_json_type(ours[key])}, Stripe has {_json_type(theirs[key])}")
    return problems


def _get(standin: StandIn, path: str) -> dict[str, Any]:
    answer = requests.get(
        f"{standin.url}{path}", headers={"Authorization": "Bearer sk_test_x"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture
def returned(stripe_client: stripe.StripeClient, standin: StandIn) -> dict[str, dict[str, Any]]:
    """One of each object type, fetched as JSON from the stand-in."""
    if not FIXTURES.exists():
        pytest.skip(f"Stripe's example objects are not here ({FIXTURES})")
    charge = paid_charge(stripe_client, standin)
    refund = stripe_client.v1.refunds.create({"charge": charge.id, "amount": 100})
    payout = control(standin, "payouts").json()
    dispute = control(standin, f"charges/{charge.id}/dispute").json()
    subscription = subscribed(stripe_client, standin)
    invoice_id = str(subscription.latest_invoice)
    payment = _get(standin, f"/v1/invoice_payments?invoice={invoice_id}")["data"][0]
    sessions = standin.store.all("checkout.session")
    setup = saved_card(stripe_client, standin, str(subscription.customer))
    return {
        "setup_intent": _get(standin, f"/v1/setup_intents/{setup.id}"),
        "checkout.session": _get(standin, f"/v1/checkout/sessions/{sessions[0]['id']}"),
        "payment_intent": _get(standin, f"/v1/payment_intents/{charge.payment_intent}"),
        "charge": _get(standin, f"/v1/charges/{charge.id}"),
        "balance_transaction": _get(
            standin, f"/v1/balance_transactions/{charge.balance_transaction}"
        ),
        "refund": _get(standin, f"/v1/refunds/{refund.id}"),
        "dispute": _get(standin, f"/v1/disputes/{dispute['id']}"),
        "payout": _get(standin, f"/v1/payouts/{payout['id']}"),
        "invoice": _get(standin, f"/v1/invoices/{invoice_id}"),
        "invoice_payment": payment,
        "subscription": _get(standin, f"/v1/subscriptions/{subscription.id}"),
        "customer": _get(standin, f"/v1/customers/{subscription.customer}"),
        "event": _get(standin, "/v1/events?limit=1")["data"][0],
        "balance": _get(standin, "/v1/balance"),
    }


@pytest.mark.parametrize(
    "object_type",
    [
        "checkout.session",
        "payment_intent",
        "charge",
        "balance_transaction",
        "refund",
        "dispute",
        "payout",
        "invoice",
        "invoice_payment",
        "subscription",
        "customer",
        "event",
        "balance",
        "setup_intent",
    ],
)
def test_object_has_the_keys_and_value_types_of_stripes_example(
    returned: dict[str, dict[str, Any]], object_type: str
) -> None:
    ours = returned[object_type]
    assert ours["object"] == object_type
    assert ours.get("livemode", False) is False  # refunds and balance transactions have none
    assert _differences(ours, _examples()[object_type]) == []


def test_nested_objects_match_stripes_examples_too(returned: dict[str, dict[str, Any]]) -> None:
    subscription = returned["subscription"]
    item = subscription["items"]["data"][0]
    invoice = returned["invoice"]
    nested = {
        "subscription_item": item,
        "price": item["price"],
        "plan": item["plan"],
        "line_item": invoice["lines"]["data"][0],
        "dispute": returned["dispute"],
        "balance_transaction": returned["dispute"]["balance_transactions"][0],
        "refund": returned["charge"]["refunds"]["data"][0],
    }
    for object_type, ours in nested.items():
        assert _differences(ours, _examples()[object_type]) == [], object_type
