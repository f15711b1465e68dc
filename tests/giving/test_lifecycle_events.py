"""The events that end or change a gift without a card payment going through:
bank debits that settle later or fail, checkouts left to expire, cancelled and
failing subscriptions, payouts the bank returns."""

from __future__ import annotations

from decimal import Decimal

from conservancy.donations.models import DonationStatus, Frequency
from conservancy.ledger.check import check_books
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    donation,
    give,
    ledger_refs,
    post,
    settle_webhooks,
    start_checkout,
    stripe_client,
)

BANK_OK = "000123456789"
BANK_FAILS = "000111111116"


def test_bank_debit_is_booked_only_when_it_settles(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    donation_id = give(rt, standin, "100.00", bank_account=BANK_OK)
    settle_webhooks(rt, standin)

    found = donation(rt, donation_id)
    assert found.status is DonationStatus.PAID
    [gift] = found.gifts
    # ACH: 0.8%, not the card schedule; the sponsorship fee is still 10%.
    assert gift.fee_minor == 80
    assert str(rt.books.load().fund_balance("Twisted")) == "89.20 USD"
    assert check_books(rt.ledger).problems == []


def test_bank_debit_that_fails_books_nothing_and_closes_the_donation(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    refs_before = ledger_refs(rt)
    donation_id = give(rt, standin, "100.00", bank_account=BANK_FAILS)
    settle_webhooks(rt, standin)

    found = donation(rt, donation_id)
    assert found.status is DonationStatus.FAILED
    assert found.gifts == []
    assert ledger_refs(rt) == refs_before


def test_checkout_left_to_expire_closes_the_donation_and_books_nothing(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    refs_before = ledger_refs(rt)
    donation_id, checkout_id = start_checkout(rt, "50.00")
    stripe_client(standin).v1.checkout.sessions.expire(checkout_id)
    settle_webhooks(rt, standin)

    assert donation(rt, donation_id).status is DonationStatus.EXPIRED
    assert ledger_refs(rt) == refs_before


def test_failed_renewal_books_nothing_and_is_noted_on_the_gift(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    donation_id = give(rt, standin, "10.00", frequency=Frequency.MONTHLY)
    settle_webhooks(rt, standin)
    subscription = donation(rt, donation_id).stripe_subscription_id
    refs_before = ledger_refs(rt)

    declined = post(
        f"{standin.url}/_standin/subscriptions/{subscription}/renew",
        card_number="4000000000000002",
    )
    settle_webhooks(rt, standin)

    assert declined == 200  # the stand-in answers the attempt; the invoice says it failed
    found = donation(rt, donation_id)
    assert len(found.gifts) == 1
    assert found.status is DonationStatus.PAID  # Stripe retries; the subscription goes on
    assert any("renewal failed" in change.reason for change in found.history)
    assert ledger_refs(rt) == refs_before


def test_subscription_cancelled_at_stripe_cancels_the_recurring_gift(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    donation_id = give(rt, standin, "5.00", frequency=Frequency.WEEKLY)
    settle_webhooks(rt, standin)
    subscription = donation(rt, donation_id).stripe_subscription_id
    assert subscription is not None

    stripe_client(standin).v1.subscriptions.cancel(subscription)
    settle_webhooks(rt, standin)

    found = donation(rt, donation_id)
    assert found.status is DonationStatus.CANCELLED
    assert len(found.gifts) == 1  # what was given stays given


def test_payout_the_bank_returns_puts_the_money_back_at_stripe(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = factories.with_project(giving_runtime)
    give(rt, standin, "100.00")
    settle_webhooks(rt, standin)
    paid = control(standin, "payouts")
    give(rt, standin, "50.00", email="grace@example.org")
    settle_webhooks(rt, standin)
    returned = control(standin, "payouts", outcome="failed")
    settle_webhooks(rt, standin)

    books = rt.books.load()
    assert paid["amount"] == 9680
    assert returned["amount"] == 4825
    # The first payout reached the bank; the second came back to Stripe.
    assert books.account_balance("Assets:Bank:Checking") == Decimal("96.80")
    assert books.account_balance("Assets:Stripe") == Decimal("48.25")
    assert check_books(rt.ledger).problems == []
