"""Idempotency keys: a repeat replays the first answer; other parameters are refused."""

from __future__ import annotations

import pytest
import requests
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import paid_charge


def _post(standin: StandIn, path: str, key: str, **form: str) -> requests.Response:
    return requests.post(
        f"{standin.url}{path}",
        data=form,
        headers={"Authorization": "Bearer sk_test_x", "Idempotency-Key": key},
        timeout=10,
    )


def test_repeated_key_replays_the_first_answer_byte_for_byte_and_refunds_once(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    first = _post(standin, "/v1/refunds", "donation-42-refund-1", charge=charge.id, amount="500")
    second = _post(standin, "/v1/refunds", "donation-42-refund-1", charge=charge.id, amount="500")
    assert first.status_code == second.status_code == 200
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    assert len(standin.records()["refunds"]) == 1
    assert stripe_client.v1.charges.retrieve(charge.id).amount_refunded == 500


def test_repeated_key_through_the_library_returns_the_same_session(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    params: stripe.params.checkout.SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 2000,
                    "product_data": {"name": "Gift"},
                },
            }
        ],
    }
    options: stripe.RequestOptions = {"idempotency_key": "donation-7-checkout"}
    first = stripe_client.v1.checkout.sessions.create(params, options)
    again = stripe_client.v1.checkout.sessions.create(params, options)
    assert again.id == first.id
    assert len(standin.store.all("checkout.session")) == 1


def test_same_key_with_other_parameters_is_an_idempotency_error(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin)
    options: stripe.RequestOptions = {"idempotency_key": "donation-42-refund-1"}
    stripe_client.v1.refunds.create({"charge": charge.id, "amount": 500}, options)
    with pytest.raises(stripe.IdempotencyError) as refused:
        stripe_client.v1.refunds.create({"charge": charge.id, "amount": 700}, options)
    assert refused.value.http_status == 400
    assert "same parameters" in str(refused.value.user_message)
    assert [r["amount"] for r in standin.records()["refunds"]] == [500]


def test_a_refusal_is_replayed_but_a_malformed_request_is_not_remembered(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    charge = paid_charge(stripe_client, standin, 1000)
    too_much = _post(standin, "/v1/refunds", "k1", charge=charge.id, amount="5000")
    assert too_much.status_code == 400
    assert _post(standin, "/v1/refunds", "k1", charge=charge.id, amount="5000").content == (
        too_much.content
    )
    malformed = _post(standin, "/v1/refunds", "k2", charge=charge.id, amount="lots")
    assert malformed.json()["error"]["code"] == "parameter_invalid_integer"
    # Stripe keeps no result for a request that failed validation: the key is still free.
    assert _post(standin, "/v1/refunds", "k2", charge=charge.id, amount="100").status_code == 200
