"""Stripe's errors in two classes: temporary (no answer, Stripe's own failure, "too many
requests") and permanent (a refusal), each worded for donors and for staff.

A temporary error asks a person to try again in a few minutes; a refusal will be the same
however often it is sent, so donors are told whom to write to (never Stripe's own words,
which carry ids) and staff get Stripe's message and request id to look it up."""

from __future__ import annotations

import re
from typing import Any

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Donation, DonationStatus, Gift, Refund
from conservancy.payments import events
from conservancy.payments.gateway import GatewayError, GatewayRefused, GatewayUnavailable
from conservancy.payments.stripe_gateway import StripeGateway, classify
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.admin.pages import send, signed_in
from tests.giving.conftest import SECRET_KEY, WEBHOOK_SECRET
from tests.giving.flows import control, give, standin_events, stripe_client
from tests.giving.test_donate_form import VALID

TRY_AGAIN = "Please try again in a few minutes."

# -- the classifier, over Stripe's own error types and statuses ---------------------------


def _answered(status: int, type_: str, code: str | None = None) -> dict[str, Any]:
    """What the stripe library passes an error it made from Stripe's answer."""
    body = {"error": {"type": type_, "code": code, "message": f"a {status} from Stripe"}}
    return {
        "http_body": "{}",
        "http_status": status,
        "json_body": body,
        "headers": {"request-id": "req_123"},
    }


def _refused(kind: type[stripe.StripeError], status: int, code: str | None) -> stripe.StripeError:
    if issubclass(kind, stripe.CardError | stripe.InvalidRequestError):
        error_type = "card_error" if kind is stripe.CardError else "invalid_request_error"
        return kind("refused", None, code, **_answered(status, error_type, code))
    error_type = "idempotency_error" if kind is stripe.IdempotencyError else "api_error"
    return kind("refused", **_answered(status, error_type, code))


STRIPE_ERRORS: list[tuple[str, stripe.StripeError, bool]] = [
    ("no connection", stripe.APIConnectionError("refused", should_retry=True), True),
    ("rate limited", _refused(stripe.RateLimitError, 429, "rate_limit"), True),
    ("lock timeout", _refused(stripe.RateLimitError, 429, "lock_timeout"), True),
    ("Stripe failed", _refused(stripe.APIError, 500, None), True),
    ("bad gateway", _refused(stripe.APIError, 502, None), True),
    ("unavailable", _refused(stripe.APIError, 503, None), True),
    ("same key in flight", _refused(stripe.APIError, 409, "idempotency_key_in_use"), True),
    ("unreadable answer", stripe.APIError("Invalid response body", http_status=200), True),
    ("no such object", _refused(stripe.InvalidRequestError, 404, "resource_missing"), False),
    ("bad request", _refused(stripe.InvalidRequestError, 400, None), False),
    ("card declined", _refused(stripe.CardError, 402, "card_declined"), False),
    ("bad key", _refused(stripe.AuthenticationError, 401, None), False),
    ("not allowed", _refused(stripe.PermissionError, 403, None), False),
    ("key reused", _refused(stripe.IdempotencyError, 400, None), False),
]


@pytest.mark.parametrize(
    ("error", "temporary"),
    [(error, temporary) for _, error, temporary in STRIPE_ERRORS],
    ids=[name for name, _, _ in STRIPE_ERRORS],
)
def test_only_no_answer_stripes_failures_429_and_409_are_temporary(
    error: stripe.StripeError, temporary: bool
) -> None:
    ours = classify(error, "refund")
    assert ours.temporary is temporary
    assert isinstance(ours, GatewayUnavailable if temporary else GatewayRefused)
    assert (TRY_AGAIN in ours.for_donor("nothing was charged", "us@example.org")) is temporary
    assert ("Try again in a few minutes." in ours.for_staff("nothing was refunded")) is temporary


def test_a_refusal_gives_staff_stripes_words_and_request_and_donors_neither() -> None:
    error = stripe.InvalidRequestError(
        "No such subscription: 'sub_1Ada'",
        "id",
        "resource_missing",
        **_answered(404, "invalid_request_error", "resource_missing"),
    )
    ours = classify(error, "cancel the subscription")

    staff = ours.for_staff("nothing was changed")
    donor = ours.for_donor("nothing was changed", "giving@sponsor.example")

    assert "Stripe refused to cancel the subscription: No such subscription: 'sub_1Ada'" in staff
    assert "req_123" in staff
    assert "will get the same answer" in staff
    assert donor == (
        "Our payment processor refused this request, so nothing was changed: it has no record "
        "of this payment or recurring gift. Trying again will not help; please contact us at "
        "giving@sponsor.example."
    )


# -- the gateway, against the stand-in ------------------------------------------------------


@pytest.fixture
def gateway(standin: StandIn) -> StripeGateway:
    return StripeGateway(SECRET_KEY, WEBHOOK_SECRET, standin.url)


def faults(standin: StandIn, status: int, count: int | None = None) -> None:
    """Stripe down (5xx) or throttling (429) for the next ``count`` API calls (or until off)."""
    control(standin, "faults", status=str(status), **({"count": str(count)} if count else {}))


def test_the_gateway_classes_what_the_stand_in_answers(
    standin: StandIn, gateway: StripeGateway
) -> None:
    faults(standin, 429, count=1)
    with pytest.raises(GatewayUnavailable, match=r"HTTP 429, rate_limit, request req_"):
        gateway.balance()
    faults(standin, 500)  # the library tries twice more; every try fails
    with pytest.raises(GatewayUnavailable, match=r"HTTP 500"):
        gateway.balance()
    faults(standin, 0)
    assert [held.minor for held in gateway.balance()] == [0]  # answered again
    with pytest.raises(GatewayRefused, match=r"No such charge: 'ch_missing'") as missing:
        gateway.charge("ch_missing")
    assert missing.value.reason == "it has no record of this payment or recurring gift"
    with pytest.raises(GatewayRefused) as bad_key:
        StripeGateway("sk_test_", WEBHOOK_SECRET, standin.url).balance()
    assert bad_key.value.reason == "our account with it does not allow this request"
    standin.stop()
    with pytest.raises(GatewayUnavailable, match=r"no answer"):
        gateway.balance()


# -- the donation form -------------------------------------------------------------------------

FORM = "/donate/twisted"
GIFT = VALID  # the donation form's own valid gift


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


@pytest.fixture
def client(rt: Runtime, giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


def donate(client: FlaskClient) -> Any:
    page = client.get(FORM)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found
    return client.post(FORM, data={**GIFT, "csrf_token": found.group(1)})


def statuses(rt: Runtime) -> list[DonationStatus]:
    with rt.sessions() as session:
        return list(session.scalars(select(Donation.status)))


def test_a_checkout_stripe_refuses_tells_the_donor_whom_to_write_to(
    rt: Runtime, client: FlaskClient, standin: StandIn
) -> None:
    rt._gateway = StripeGateway("sk_test_", WEBHOOK_SECRET, standin.url)  # a key Stripe refuses

    page = donate(client)

    assert page.status_code == 502
    assert "Our payment processor refused this request, so nothing was charged" in page.text
    assert "our account with it does not allow this request" in page.text
    assert f"please contact us at {rt.settings.sender_address}" in page.text
    assert "try again in a few minutes" not in page.text.lower()
    assert "Invalid API Key" not in page.text  # Stripe's own words stay in the log
    assert statuses(rt) == [DonationStatus.FAILED]


def test_a_checkout_stripe_throttles_asks_the_donor_to_try_again(
    rt: Runtime, client: FlaskClient, standin: StandIn
) -> None:
    faults(standin, 429, count=1)

    page = donate(client)

    assert page.status_code == 503
    assert "We could not reach our payment processor, so nothing was charged" in page.text
    assert TRY_AGAIN in page.text
    assert statuses(rt) == [DonationStatus.FAILED]
    assert donate(client).status_code == 303  # and a few minutes later it goes through


# -- staff refunds -------------------------------------------------------------------------------


@pytest.fixture
def card_gift(rt: Runtime, standin: StandIn) -> Gift:
    """A settled $100.00 card gift (its events processed as the webhook would)."""
    give(rt, standin, "100.00")
    for event in standin_events(standin, "checkout.session.completed"):
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
    rt.post_ledger()
    with rt.sessions() as session:
        gift = session.scalars(select(Gift)).one()
        session.expunge_all()
    return gift


def refunds(rt: Runtime) -> int:
    with rt.sessions() as session:
        return len(session.scalars(select(Refund)).all())


def test_a_refund_stripe_refuses_shows_staff_stripes_words_and_not_to_retry(
    rt: Runtime, giving_app: Flask, standin: StandIn, card_gift: Gift
) -> None:
    # Refunded in full in Stripe's dashboard; its webhook has not reached us.
    stripe_client(standin).v1.refunds.create({"charge": str(card_gift.charge_id)})
    bookkeeper = signed_in(giving_app, rt, "bookkeeper")
    page = f"/admin/gifts/{card_gift.id}"

    answer = send(
        bookkeeper, page, f"{page}/refund", {"amount": "40.00", "reason": "Asked", "confirm": "y"}
    )

    assert answer.status_code == 502
    text = answer.text.replace("&#39;", "'")
    assert "Stripe refused this, so nothing was refunded" in text
    assert f"Charge {card_gift.charge_id} has already been refunded." in text
    assert re.search(r"charge_already_refunded, request req_\w+", text)
    assert "Trying again will get the same answer" in text
    assert "try again in a few minutes" not in text.lower()
    assert refunds(rt) == 0


def test_a_refund_stripe_cannot_take_now_asks_staff_to_try_again(
    rt: Runtime, giving_app: Flask, standin: StandIn, card_gift: Gift
) -> None:
    bookkeeper = signed_in(giving_app, rt, "bookkeeper")
    page = f"/admin/gifts/{card_gift.id}"
    shown = bookkeeper.get(page)
    faults(standin, 429, count=1)

    asked = {"amount": "40.00", "reason": "Asked", "confirm": "y"}
    answer = send(bookkeeper, page, f"{page}/refund", asked, keep=shown)

    assert answer.status_code == 503
    assert "Stripe could not be reached or is busy, so nothing was refunded" in answer.text
    assert "Try again in a few minutes." in answer.text
    assert refunds(rt) == 0
    again = send(bookkeeper, page, f"{page}/refund", asked, keep=shown)
    assert again.status_code == 303
    assert refunds(rt) == 1


def test_a_gateway_error_no_page_caught_is_worded_for_anyone(
    rt: Runtime, giving_app: Flask
) -> None:
    @giving_app.get("/boom")
    def boom() -> str:
        raise GatewayRefused("Stripe refused to refund: ch_1Ada (request req_9)", reason="no")

    page = giving_app.test_client().get("/boom")

    assert page.status_code == 502
    assert "Our payment processor refused this request" in page.text
    assert "ch_1Ada" not in page.text
    assert "req_9" not in page.text


def test_an_answer_we_cannot_use_is_not_a_reason_to_try_again() -> None:
    error = GatewayError("Stripe answered in a currency we do not keep: XYZ")
    assert not error.temporary
    assert TRY_AGAIN not in error.for_donor("nothing was charged", "us@example.org")
