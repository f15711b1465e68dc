"""A donor gives 25.00 a month to Twisted through the real pages, in a browser."""

from __future__ import annotations

import re
from typing import Any

import pytest
from sqlalchemy import select

from conservancy.donations.models import Donation, DonationStatus, Frequency
from conservancy.ledger.check import check_books
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import settle_webhooks

# The database does not change what a browser sees: once is enough.
pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]


def test_monthly_gift_through_the_pages_lands_in_the_books(
    database_url: str,
    giving_runtime: Runtime,
    standin: StandIn,
    live: LiveServer,
    browser_page: Any,
) -> None:
    rt = factories.with_project(giving_runtime)
    page = browser_page

    page.goto(f"{live.url}/")
    page.get_by_role("link", name="Donate to Twisted").click()
    button = page.locator("button.donate-submit .give-summary")
    # The button and the fee hint follow what she picks; the page runs no script.
    assert button.inner_text() == "Give $25.00 once"
    page.locator('label[for="amount-3"]').click()
    page.get_by_label("Cover the card fees").check()
    assert button.inner_text() == "Give $51.81 once"
    assert page.locator("#cover_fees-hint").inner_text() == "This adds $1.81 to your $50.00 gift."
    page.get_by_label("Cover the card fees").uncheck()
    page.get_by_label("Other amount (USD)").fill("25.00")
    page.locator('label[for="frequency-monthly"]').click()
    assert button.inner_text() == "Give the amount above each month"
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail address", exact=True).fill("grace@example.org")
    # 300.00 a year: the acknowledgement for tax purposes needs her address.
    page.get_by_label("Postal address").fill("1 Navy Way\nArlington, VA 22201")
    page.get_by_role("button", name="Continue to payment").click()

    page.wait_for_url(f"{standin.url}/_standin/checkout/**")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay", exact=True).click()

    page.wait_for_url(f"{live.url}/donate/twisted/thanks**")
    assert page.get_by_role("heading", name="Thank you!").is_visible()
    assert "receipt is on its way" in page.content()
    assert page.locator(".thanks-facts dd").first.inner_text() == "$25.00 each month to Twisted"

    settle_webhooks(rt, standin)
    with rt.sessions() as session:
        donation = session.scalars(select(Donation)).one()
        assert donation.frequency is Frequency.MONTHLY
        assert donation.status is DonationStatus.PAID
        assert donation.stripe_subscription_id
    # One line per posting, the columns aligned by Beancount's printer.
    books = re.sub(r" +", " ", rt.ledger.year_file(donation.created_at.year).read_text())
    assert '"Grace Hopper" "Gift to Twisted (monthly)"' in books
    assert "Assets:Stripe 23.97 USD" in books
    assert "Expenses:Twisted:Payment-Processing 1.03 USD" in books
    assert "Income:Twisted:Donations -25.00 USD" in books
    assert "Expenses:Twisted:Sponsorship-Fees 2.50 USD" in books
    assert check_books(rt.ledger).problems == []


def test_leaving_stripes_page_comes_back_to_the_form_as_filled_in(
    database_url: str,
    giving_runtime: Runtime,
    standin: StandIn,
    live: LiveServer,
    browser_page: Any,
) -> None:
    factories.with_project(giving_runtime)
    page = browser_page
    page.goto(f"{live.url}/donate/twisted")
    page.locator('label[for="amount-1"]').click()
    page.locator('label[for="frequency-monthly"]').click()
    page.get_by_label("Your name").fill("Grace Hopper")
    page.get_by_label("E-mail address", exact=True).fill("grace@example.org")
    page.get_by_role("button", name="Continue to payment").click()
    page.wait_for_url(f"{standin.url}/_standin/checkout/**")

    page.get_by_role("link", name="Cancel and go back").click()

    page.wait_for_url(f"{live.url}/donate/twisted?cancelled=1")
    assert "nothing was charged" in page.locator(".form-notice").inner_text()
    assert page.get_by_label("Your name").input_value() == "Grace Hopper"
    assert page.locator("#frequency-monthly").is_checked()
    assert (
        page.locator("button.donate-submit .give-summary").inner_text() == "Give $10.00 each month"
    )
