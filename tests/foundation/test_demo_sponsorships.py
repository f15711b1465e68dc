"""The demo offers companies Twisted's sponsorship levels, so its sponsor sign-up can be tried."""

from __future__ import annotations

from sqlalchemy import func, select

from conservancy import create_app
from conservancy.cli.common import open_runtime
from conservancy.cli.setup import seed_demo
from conservancy.infra.config import Settings
from conservancy.sponsorships.models import SponsorshipLevel


def test_the_demo_sponsor_page_offers_gold_with_its_conference_passes(settings: Settings) -> None:
    seed_demo(settings)
    seed_demo(settings)  # safe to run again: each level once
    client = create_app(settings).test_client()

    page = client.get("/donate/twisted/sponsor")

    assert page.status_code == 200
    assert "Gold" in page.text
    assert "$10,000.00" in page.text
    assert "Two passes to the Twisted conference" in page.text
    assert "$500.00" in page.text
    assert "Silver" in page.text
    assert "$2,500.00" in page.text
    with open_runtime(settings) as rt, rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SponsorshipLevel)) == 2
