"""A donor changes the amount of a recurring gift, or cancels it, from the portal: at Stripe
(the stand-in) and in our records, in agreement with the webhooks that follow."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from conservancy.donations.models import Donation, DonationStatus, Frequency
from conservancy.receipts.document import long_date
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import control, donation, give, settle_webhooks, stripe_client
from tests.portal.donor import csrf_token, mails_to, sign_in

ADA = "ada@example.org"


@pytest.fixture
def rt(giving_runtime: Runtime, live: LiveServer) -> Runtime:
    """Twisted, with Stripe's stand-in delivering webhooks to the app."""
    return factories.with_project(giving_runtime)


@pytest.fixture
def client(rt: Runtime, giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


def monthly_gift(rt: Runtime, standin: StandIn, amount: str = "10.00", **kw: Any) -> Donation:
    donation_id = give(rt, standin, amount, frequency=Frequency.MONTHLY, email=ADA, **kw)
    settle_webhooks(rt, standin)
    found = donation(rt, donation_id)
    assert found.status is DonationStatus.PAID
    assert found.stripe_subscription_id is not None
    return found


def subscription(standin: StandIn, subscription_id: str | None) -> dict[str, Any]:
    assert subscription_id is not None
    found: dict[str, Any] = stripe_client(standin).v1.subscriptions.retrieve(subscription_id)
    return found


def unit_amount(standin: StandIn, subscription_id: str | None) -> int:
    return int(subscription(standin, subscription_id)["items"]["data"][0]["price"]["unit_amount"])


def change_amount(client: FlaskClient, donation_id: int, typed: str) -> TestResponse:
    token = csrf_token(client.get("/portal"))
    return client.post(
        f"/portal/donations/{donation_id}/amount", data={"amount": typed, "csrf_token": token}
    )


def cancel(client: FlaskClient, donation_id: int) -> TestResponse:
    page = client.get(f"/portal/donations/{donation_id}/cancel")
    assert page.status_code == 200
    assert "Cancel my recurring gift" in page.text
    return client.post(
        f"/portal/donations/{donation_id}/cancel", data={"csrf_token": csrf_token(page)}
    )


def renew(rt: Runtime, standin: StandIn, found: Donation) -> Donation:
    control(standin, f"subscriptions/{found.stripe_subscription_id}/renew")
    settle_webhooks(rt, standin)
    return donation(rt, found.id)


def message_by_amount(page: TestResponse, donation_id: int) -> str:
    found = re.search(
        rf'<p class="field-error" id="amount-{donation_id}-error">(.*?)</p>', page.text, re.S
    )
    assert found, "no message by the amount"
    return found.group(1)


def test_a_new_amount_reaches_stripe_and_the_next_payment_is_booked_at_it(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)

    changed = change_amount(client, gift.id, "25.00")

    assert changed.status_code == 303
    assert "Your gift to Twisted is now $25.00 each month" in client.get("/portal").text
    assert unit_amount(standin, gift.stripe_subscription_id) == 2500
    assert donation(rt, gift.id).amount == factories.usd("25.00")
    renewed = renew(rt, standin, gift)
    first, second = renewed.gifts
    assert (first.project_minor, second.project_minor, second.general_minor) == (1000, 2500, 0)
    page = client.get("/portal").text
    assert "$25.00 each month" in page
    assert "$10.00" in page  # the first payment stays as it was


def test_an_extra_gift_to_the_sponsor_stays_when_the_amount_changes(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00", extra_general="5.00")
    sign_in(client, rt, ADA)

    assert change_amount(client, gift.id, "20.00").status_code == 303

    assert unit_amount(standin, gift.stripe_subscription_id) == 2500
    renewed = renew(rt, standin, gift)
    assert (renewed.gifts[-1].project_minor, renewed.gifts[-1].general_minor) == (2000, 500)
    too_much = change_amount(client, gift.id, "99999.00")
    assert too_much.status_code == 400
    assert "The largest gift we take online is $100,000.00" in message_by_amount(too_much, gift.id)


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter an amount."),
        ("ten", "Enter the amount as a number, such as 25.00."),
        ("0", "A gift must be more than zero."),
        ("-5", "A gift cannot be negative."),
        ("0.50", "The smallest gift we can take is $1.00."),
        ("10.005", "Use at most two decimals (whole cents), such as 25.50."),
        ("100000.01", "The largest gift we take online is $100,000.00"),
    ],
)
def test_a_bad_amount_is_refused_by_its_field_and_changes_nothing(
    rt: Runtime, standin: StandIn, client: FlaskClient, typed: str, message: str
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)

    answer = change_amount(client, gift.id, typed)

    assert answer.status_code == 400
    assert message_by_amount(answer, gift.id).startswith(message)
    assert re.search(rf'id="amount-{gift.id}" name="amount"[^>]*value="{re.escape(typed)}"',
                     answer.text)  # fmt: skip
    assert f'aria-describedby="amount-{gift.id}-hint amount-{gift.id}-error"' in answer.text
    assert unit_amount(standin, gift.stripe_subscription_id) == 1000
    after = donation(rt, gift.id)
    assert after.amount == factories.usd("10.00")
    assert len(after.history) == len(gift.history)


def test_cancelling_ends_the_subscription_and_the_webhook_agrees(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)

    cancelled = cancel(client, gift.id)
    settle_webhooks(rt, standin)  # customer.subscription.deleted comes after

    assert cancelled.status_code == 303
    assert subscription(standin, gift.stripe_subscription_id)["status"] == "canceled"
    after = donation(rt, gift.id)
    assert after.status is DonationStatus.CANCELLED
    ended = [c for c in after.history if c.to_status is DonationStatus.CANCELLED]
    assert [c.reason for c in ended] == ["cancelled by the donor in the portal"]
    assert len(after.gifts) == 1  # what was given stays given
    page = client.get("/portal").text
    assert "is cancelled: no further payments will be taken" in page
    assert "Cancelled" in page
    assert "Change the amount" not in page
    assert "Cancel this recurring gift" not in page
    [mail] = mails_to(rt, ADA, "donation-*-cancelled.eml")  # and she has it in writing
    assert mail["Subject"] == "Your monthly gift to Twisted is cancelled"
    said = " ".join(mail.get_body(("plain",)).get_content().split())
    assert "your monthly gift of $10.00 to Twisted is cancelled: no further payments" in said


def test_a_gift_cancelled_at_stripe_first_has_nothing_left_to_cancel(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    dashboard = sign_in(client, rt, ADA)
    assert "Cancel this recurring gift" in dashboard.text
    stripe_client(standin).v1.subscriptions.cancel(str(gift.stripe_subscription_id))
    settle_webhooks(rt, standin)

    page = client.get(f"/portal/donations/{gift.id}/cancel")
    again = client.post(
        f"/portal/donations/{gift.id}/cancel", data={"csrf_token": csrf_token(dashboard)}
    )

    assert page.status_code == 303
    assert again.status_code == 303
    after = donation(rt, gift.id)
    assert [c.reason for c in after.history if c.to_status is DonationStatus.CANCELLED] == [
        "subscription ended"
    ]
    assert "Change the amount" not in client.get("/portal").text


def stripe_fails(standin: StandIn, how: str) -> None:
    """Stripe out of reach from now on: throttling (429), failing (500) or gone."""
    if how == "refused connection":
        standin.stop()
    else:
        control(standin, "faults", status=how)


@pytest.mark.parametrize("how", ["429", "500", "refused connection"])
def test_when_stripe_cannot_be_reached_the_donor_is_asked_to_try_again_and_nothing_changes(
    rt: Runtime, standin: StandIn, client: FlaskClient, how: str
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)
    stripe_fails(standin, how)

    changed = change_amount(client, gift.id, "25.00")
    cancelled = cancel(client, gift.id)

    assert changed.status_code == cancelled.status_code == 503
    assert message_by_amount(changed, gift.id) == (
        "We could not reach our payment processor, so nothing was changed. "
        "Please try again in a few minutes."
    )
    assert "nothing was changed. Please try again in a few minutes." in cancelled.text
    after = donation(rt, gift.id)
    assert (after.status, after.amount) == (DonationStatus.PAID, factories.usd("10.00"))
    assert len(after.history) == len(gift.history)
    if how != "refused connection":
        control(standin, "faults", status="0")
        assert subscription(standin, gift.stripe_subscription_id)["status"] == "active"


def test_a_gift_stripe_has_ended_is_refused_with_whom_to_write_to_not_try_again(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    """Cancelled at Stripe (in its dashboard, say) and the webhook saying so is lost: Stripe
    refuses any change, and will refuse it again however often it is asked."""
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)
    delivering_to, standin.webhooks.url = standin.webhooks.url, None  # the webhook is lost
    stripe_client(standin).v1.subscriptions.cancel(str(gift.stripe_subscription_id))
    standin.webhooks.url = delivering_to

    changed = change_amount(client, gift.id, "25.00")
    cancelled = cancel(client, gift.id)

    assert changed.status_code == cancelled.status_code == 502
    refused = "Our payment processor refused this request, so nothing was changed: "
    contact = f"Trying again will not help; please contact us at {rt.settings.sender_address}."
    assert message_by_amount(changed, gift.id).startswith(refused)
    assert message_by_amount(changed, gift.id).endswith(contact)
    for page in (changed.text, cancelled.text):
        assert refused in page
        assert "try again in a few minutes" not in page.lower()
        assert str(gift.stripe_subscription_id) not in page  # Stripe's own words stay out
    after = donation(rt, gift.id)
    assert (after.status, after.amount) == (DonationStatus.PAID, factories.usd("10.00"))
    assert len(after.history) == len(gift.history)


def test_a_one_time_gift_cannot_be_changed_or_cancelled(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    donation_id = give(rt, standin, "50.00", email=ADA)
    settle_webhooks(rt, standin)
    dashboard = sign_in(client, rt, ADA)
    assert "Change the amount" not in dashboard.text

    answer = change_amount(client, donation_id, "60.00")

    assert answer.status_code == 400
    assert "not a running recurring gift" in message_by_amount(answer, donation_id)
    assert donation(rt, donation_id).amount == factories.usd("50.00")


def test_the_portal_shows_the_next_payment_as_stripe_bills_it_and_a_renewal_moves_it(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)

    def period_end() -> str:
        item = subscription(standin, gift.stripe_subscription_id)["items"]["data"][0]
        moment = datetime.fromtimestamp(item["current_period_end"], UTC)
        return long_date(moment.astimezone(rt.settings.timezone).date())

    first = period_end()
    assert f"<dt>Next payment</dt><dd>{first}</dd>" in client.get("/portal").text
    renew(rt, standin, gift)
    second = period_end()
    assert second != first  # a month on
    assert f"<dt>Next payment</dt><dd>{second}</dd>" in client.get("/portal").text
    cancel(client, gift.id)
    assert "Next payment" not in client.get("/portal").text  # nothing more will be taken


def test_the_donor_saves_a_new_card_and_the_next_payment_is_charged_to_it(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    gift = monthly_gift(rt, standin, "10.00")
    sign_in(client, rt, ADA)
    page = client.get("/portal")
    assert "Update the card" in page.text

    asked = client.post(f"/portal/donations/{gift.id}/card", data={"csrf_token": csrf_token(page)})

    assert asked.status_code == 303
    checkout = asked.headers["Location"]
    assert checkout.startswith(f"{standin.url}/_standin/checkout/")
    assert "Save a card" in requests.get(checkout, timeout=10).text  # nothing is charged
    saved = requests.post(
        f"{checkout}/pay", data={"card_number": "4000056655665556"}, allow_redirects=False,
        timeout=10,
    )  # fmt: skip
    assert saved.status_code == 303
    back = saved.headers["Location"].removeprefix(rt.settings.base_url)
    assert back == f"/portal?card=saved#donation-{gift.id}"
    assert "Your new card is saved" in client.get(back, follow_redirects=True).text
    settle_webhooks(rt, standin)

    subscription_now = subscription(standin, gift.stripe_subscription_id)
    method = standin.store.payment_methods[subscription_now["default_payment_method"]]
    assert method["card"]["last4"] == "5556"
    renewed = renew(rt, standin, gift)
    assert len(renewed.gifts) == 2
    charge = standin.store.get("charge", renewed.gifts[-1].charge_id)
    assert charge["payment_method_details"]["card"]["last4"] == "5556"  # not 4242
    notes = [c.reason for c in renewed.history]
    assert notes.count("the donor saved a new card in the portal") == 1


def test_a_gift_given_once_has_no_card_to_update(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    once = give(rt, standin, "25.00", email=ADA)
    settle_webhooks(rt, standin)
    sign_in(client, rt, ADA)
    page = client.get("/portal")
    assert "Update the card" not in page.text
    answer = client.post(f"/portal/donations/{once}/card", data={"csrf_token": csrf_token(page)})
    assert answer.status_code == 303
    assert "has no card to update" in client.get(answer.headers["Location"]).text
