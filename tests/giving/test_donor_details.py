"""Issue 16, finding 1: the donation form finds a donor by the e-mail typed into it, so
what it records is anyone's claim. An unpaid donation changes nobody's name or address;
each gift keeps the name and address it was given with, and a donor's own details change
only when a gift of theirs settles."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from conservancy.donations.models import Donation, DonationStatus, Donor, Frequency, Gift
from conservancy.kernel import clock
from conservancy.mail.models import MailMessage
from conservancy.projects.giving import receiving
from conservancy.projects.models import Project, Sponsor
from conservancy.receipts.annual import build_statements, sponsor_of
from conservancy.receipts.document import ReceiptDocument
from conservancy.receipts.issue import document_for, project_copy
from conservancy.receipts.models import Receipt
from conservancy.reports import year_end
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import donation, give, ledger_transactions, post, settle_webhooks

ADA = ("Ada Lovelace", "12 Analytical Row\nLondon")
FORGED = ("Mallory Forger", "1 Forgery Lane\nNowhere")


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


def forge_pending_donation(app: Flask, email: str) -> None:
    """Someone else posts the donation form with the donor's e-mail, another name and
    address, and never pays."""
    client = app.test_client()
    page = client.get("/donate/twisted")
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the form carries no CSRF token"
    answer = client.post(
        "/donate/twisted",
        data={
            "amount": "25.00",
            "other_amount": "",
            "frequency": "once",
            "currency": "USD",
            "name": FORGED[0],
            "email": email,
            "address": FORGED[1],
            "visibility": "public",
            "dedication": "",
            "extra_general": "",
            "website": "",
            "csrf_token": found.group(1),
        },
        environ_base={"REMOTE_ADDR": "203.0.113.9"},
    )
    assert answer.status_code == 303, answer.text  # off to a checkout nobody completes


def renew(rt: Runtime, standin: StandIn, donation_id: int) -> int:
    """The recurring gift's next period, paid at Stripe and settled by invoice.paid; its gift id."""
    subscription = donation(rt, donation_id).stripe_subscription_id
    assert post(f"{standin.url}/_standin/subscriptions/{subscription}/renew") == 200
    settle_webhooks(rt, standin)
    return donation(rt, donation_id).gifts[-1].id


def receipt_of(rt: Runtime, gift_id: int) -> tuple[ReceiptDocument, ReceiptDocument, MailMessage]:
    """The gift's receipt as the donor gets it, as its project sees it, and its e-mail."""
    with rt.sessions() as session:
        receipt = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).one()
        sponsor = session.scalars(select(Sponsor)).one()
        mail = session.scalars(
            select(MailMessage).where(MailMessage.key == f"receipt-{receipt.number}")
        ).one()
        return document_for(receipt, sponsor), project_copy(receipt, sponsor), mail


def named_as(rt: Runtime, gift_id: int) -> tuple[str, str | None]:
    """Who the gift's receipt names, and where, after checking its mail and copy agree."""
    doc, copy, mail = receipt_of(rt, gift_id)
    assert mail.to_name == doc.donor_name
    assert mail.body.startswith(f"Dear {doc.donor_name},\n")
    assert copy.donor_name == doc.donor_name
    return doc.donor_name, doc.donor_address


def payees(rt: Runtime, gift_id: int) -> list[str]:
    """The payee of each ledger entry of the gift."""
    with rt.sessions() as session:
        ref = session.scalars(select(Gift.ref).where(Gift.id == gift_id)).one()
    return [t.payee for t in ledger_transactions(rt) if t.meta.get("ref") == ref]


def profile(rt: Runtime, email: str = "ada@example.org") -> tuple[str, str | None]:
    with rt.sessions() as session:
        donor = session.scalars(select(Donor).where(Donor.email == email)).one()
        return donor.name, donor.address


def test_an_unpaid_donation_changes_no_donors_name_or_address_on_receipts_and_lists(
    rt: Runtime, standin: StandIn, live: LiveServer, giving_app: Flask
) -> None:
    monthly = give(rt, standin, "25.00", frequency=Frequency.MONTHLY, name=ADA[0], address=ADA[1])
    settle_webhooks(rt, standin)

    forge_pending_donation(giving_app, "ADA@example.org ")
    renewal = renew(rt, standin, monthly)

    with rt.sessions() as session:
        forged = session.scalars(select(Donation).order_by(Donation.id.desc()).limit(1)).one()
        assert forged.status is DonationStatus.PENDING  # recorded, never paid
    assert named_as(rt, renewal) == ADA
    assert payees(rt, renewal) == [ADA[0]]
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        assert receiving(session, project).named == (ADA[0],)
        donor = session.scalars(select(Donor).where(Donor.email == "ada@example.org")).one()
        year = clock.today(rt.settings.timezone).year
        batch = build_statements(
            session,
            [donor.id],
            year,
            issued_on=date(year + 1, 1, 15),
            sponsor=sponsor_of(session),
        )
    assert batch.problems == []
    (statement,) = batch.due
    assert (statement.doc.donor_name, statement.doc.donor_address) == ADA
    assert profile(rt) == ADA


def test_an_unpaid_donation_leaves_schedule_b_naming_the_donor(
    rt: Runtime, giving_app: Flask
) -> None:
    factories.settled_gift(
        rt, name=ADA[0], address=ADA[1], amount="5000.00", at=datetime(2026, 3, 1, tzinfo=UTC)
    )

    forge_pending_donation(giving_app, "ada@example.org")

    rt.post_ledger()
    with rt.sessions() as session:
        package = year_end.year_end(session, rt.books.index, rt.books.current(), 2026)
    assert [(c.name, c.address) for c in package.schedule_b] == [ADA]


def test_a_settled_gift_with_new_details_updates_the_donor_and_later_renewals(
    rt: Runtime, standin: StandIn, live: LiveServer
) -> None:
    married = ("Ada King", "Ockham Park\nSurrey")
    monthly = give(rt, standin, "25.00", frequency=Frequency.MONTHLY, name=ADA[0], address=ADA[1])
    settle_webhooks(rt, standin)
    first = donation(rt, monthly).gifts[0].id

    once = give(rt, standin, "10.00", name=married[0], address=married[1])
    settle_webhooks(rt, standin)
    renewal = renew(rt, standin, monthly)

    assert profile(rt) == married
    assert named_as(rt, donation(rt, once).gifts[0].id) == married
    assert named_as(rt, renewal) == married
    assert payees(rt, renewal) == [married[0]]
    # A receipt already issued names the donor as the gift it acknowledges was given.
    assert named_as(rt, first) == ADA
    assert payees(rt, first) == [ADA[0]]
