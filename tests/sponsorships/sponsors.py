"""Levels, sign-ups and paying invoices on the stand-in, as the tests need them."""

from __future__ import annotations

from sqlalchemy import select

from conservancy.kernel.submissions import new_key
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import SponsorshipInvoice
from conservancy.sponsorships.service import (
    SignUp,
    add_level,
    approve_request,
    begin_card_payment,
    request_sponsorship,
)
from conservancy.standin import StandIn
from tests import factories
from tests.giving.flows import GOOD_CARD, post


def gold_level(rt: Runtime, slug: str = "twisted") -> int:
    """Twisted's Gold level: 10,000.00 a year, a logo (worth nothing) and a conference
    pass worth 500.00. Returns its id."""
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one_or_none()
        if project is None:
            project = factories.project(session, slug)
        level = add_level(
            session,
            "tests",
            project,
            name="Gold",
            annual=factories.usd("10000.00"),
            benefits=[
                ("Logo on the project's website", factories.usd("0.00")),
                ("Conference pass", factories.usd("500.00")),
            ],
        )
        session.commit()
        level_id = level.id
    rt.post_ledger()
    return level_id


def requested(rt: Runtime, level_id: int, company: str = "Acme Widgets, Inc.") -> int:
    """A company asked for the level on the public form; the request's id."""
    with rt.sessions() as session:
        level_project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        found = request_sponsorship(
            session,
            level_project,
            SignUp(
                level_id=level_id,
                company_name=company,
                contact_name="Wile E. Coyote",
                email="wile@acme.example",
                address="1 Desert Road\nPhoenix, AZ 85001",
            ),
        )
        session.commit()
        return found.id


def signed_up(rt: Runtime, level_id: int, company: str = "Acme Widgets, Inc.") -> str:
    """A sponsor asked for the level and staff approved it; the invoice's number."""
    request_id = requested(rt, level_id, company)
    with rt.sessions() as session:
        invoice = approve_request(
            session,
            "tests",
            request_id,
            key=new_key(),
            tz=rt.settings.timezone,
            base_url=rt.settings.base_url,
        )
        session.commit()
        number = invoice.number
    rt.post_ledger()
    return number


def pay_by_card(rt: Runtime, standin: StandIn, number: str) -> None:
    """Start the invoice's checkout and pay it on the stand-in's hosted page."""
    with rt.sessions() as session:
        invoice = session.scalars(
            select(SponsorshipInvoice).where(SponsorshipInvoice.number == number)
        ).one()
        checkout = begin_card_payment(session, rt.gateway, invoice, base_url=rt.settings.base_url)
        session.commit()
    status = post(f"{standin.url}/_standin/checkout/{checkout.id}/pay", card_number=GOOD_CARD)
    assert status == 303, f"paying answered {status}"


def invoice(rt: Runtime, number: str) -> SponsorshipInvoice:
    with rt.sessions() as session:
        found = session.scalars(
            select(SponsorshipInvoice).where(SponsorshipInvoice.number == number)
        ).one()
        _ = found.corporate_sponsor, found.project
        return found
