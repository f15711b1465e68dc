"""Giving through the stand-in as a donor would, without the form (the form has its own tests)."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from decimal import Decimal

from sqlalchemy import select

from conservancy import clock
from conservancy.donations.models import Donation, Frequency, Visibility
from conservancy.donations.service import DonationRequest, begin_checkout, record_donation
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.standin import StandIn

GOOD_CARD = "4242424242424242"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post(url: str, **fields: str) -> int:
    """POST a form; answers the status without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    data = urllib.parse.urlencode(fields).encode()
    try:
        with opener.open(urllib.request.Request(url, data=data, method="POST"), timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def usd(text: str) -> Money:
    return Money(Decimal(text), Currency.USD)


def give(
    rt: Runtime,
    standin: StandIn,
    amount: str,
    *,
    slug: str = "twisted",
    frequency: Frequency = Frequency.ONCE,
    name: str = "Ada Lovelace",
    email: str = "ada@example.org",
    visibility: Visibility = Visibility.PUBLIC,
    extra_general: str | None = None,
    cover_fees: bool = False,
    card: str = GOOD_CARD,
) -> int:
    """Record a donation, start its checkout, and pay on the stand-in. Returns the donation id."""
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        donation = record_donation(
            session,
            project,
            DonationRequest(
                amount=usd(amount),
                frequency=frequency,
                name=name,
                email=email,
                visibility=visibility,
                cover_fees=cover_fees,
                extra_general=usd(extra_general) if extra_general else None,
            ),
            maximum=rt.settings.max_donation,
            today=clock.today(rt.settings.timezone),
        )
        session.commit()
        checkout = begin_checkout(
            session,
            rt.gateway,
            donation,
            base_url=rt.settings.base_url,
            sponsor_name="Test Sponsor",
        )
        session.commit()
        donation_id = donation.id
    status = post(f"{standin.url}/_standin/checkout/{checkout.id}/pay", card_number=card)
    assert status == 303, f"paying answered {status}"
    return donation_id


def settle_webhooks(rt: Runtime, standin: StandIn) -> None:
    assert standin.wait_for_webhooks(30), "the stand-in still has webhooks to deliver"
    rt.post_ledger()


def donation(rt: Runtime, donation_id: int) -> Donation:
    with rt.sessions() as session:
        found = session.get(Donation, donation_id)
        assert found is not None
        _ = found.gifts, found.history
        return found
