from __future__ import annotations

from decimal import Decimal

from conservancy.donations.models import DonationStatus, Frequency
from conservancy.ledger.check import check_books
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import donation, give, settle_webhooks


def test_one_time_gift_is_booked_with_its_real_fee_and_sponsorship_fee(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    rt.post_ledger()
    gift_id = give(rt, standin, "100.00")
    settle_webhooks(rt, standin)

    assert donation(rt, gift_id).status is DonationStatus.PAID
    books = rt.books.load()
    # 100.00 less Stripe's 3.20 fee, less the 10% sponsorship fee.
    assert str(books.fund_balance("Twisted")) == "86.80 USD"
    assert str(books.fund_balance("General")) == "10.00 USD"
    assert books.account_balance("Assets:Stripe") == Decimal("96.80")
    assert check_books(rt.ledger).problems == []


def test_monthly_gift_books_each_renewal_as_a_gift(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    gift_id = give(rt, standin, "25.00", frequency=Frequency.MONTHLY)
    settle_webhooks(rt, standin)
    first = donation(rt, gift_id)
    assert first.stripe_subscription_id
    from tests.giving.flows import post

    assert post(f"{standin.url}/_standin/subscriptions/{first.stripe_subscription_id}/renew") == 200
    settle_webhooks(rt, standin)
    assert len(donation(rt, gift_id).gifts) == 2
    books = rt.books.load()
    # Two gifts of 25.00, each less 1.03 card fee and 2.50 sponsorship fee.
    assert str(books.fund_balance("Twisted")) == "42.94 USD"
    assert check_books(rt.ledger).problems == []
