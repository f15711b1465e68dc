"""Staff define levels, enter cheque and ACH payments, and read the aging report."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from flask import Flask
from sqlalchemy import func, select

from conservancy.runtime import Runtime
from conservancy.sponsorships.models import InvoiceStatus, PaidBy, SponsorshipLevel
from conservancy.staff.models import AuditEntry
from tests.admin.pages import error_by, send, signed_in
from tests.factories import with_project
from tests.receipts.pdfs import pdf_text
from tests.sponsorships.sponsors import gold_level, invoice, signed_up

INDEX = "/admin/sponsorships"


def test_admin_adds_a_level_with_benefits_and_it_is_audited(runtime: Runtime, app: Flask) -> None:
    rt = with_project(runtime)
    client = signed_in(app, rt, "admin")
    done = send(
        client,
        INDEX,
        f"{INDEX}/levels",
        {
            "project": "twisted",
            "name": "Gold",
            "annual": "10,000.00",
            "benefits": "Logo on the website | 0.00\nConference pass | 500.00",
        },
    )
    assert done.status_code == 303, done.text
    with rt.sessions() as session:
        level = session.scalars(select(SponsorshipLevel)).one()
        assert level.annual_minor == 1_000_000
        assert [(b.description, b.value_minor) for b in level.benefits] == [
            ("Logo on the website", 0),
            ("Conference pass", 50_000),
        ]
        assert session.scalar(
            select(AuditEntry.action).where(AuditEntry.action == "sponsorship_level.added")
        )
    assert "Conference pass ($500.00)" in client.get(INDEX).text
    assert "Gold" in app.test_client().get("/donate/twisted/sponsor").text


def test_bad_level_shows_the_form_again_and_writes_nothing(runtime: Runtime, app: Flask) -> None:
    rt = with_project(runtime)
    client = signed_in(app, rt, "admin")
    page = send(
        client,
        INDEX,
        f"{INDEX}/levels",
        {"project": "twisted", "name": "Gold", "annual": "10.001", "benefits": "Pass 500"},
    )
    assert page.status_code == 400
    assert "at most two decimals" in error_by(page, "annual")
    assert "Line 1" in error_by(page, "benefits")
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SponsorshipLevel)) == 0


def test_cheque_payment_entered_on_the_invoice_page_takes_it_off_the_aging_report(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    client = signed_in(app, rt, "bookkeeper")
    aging = client.get(f"{INDEX}/aging")
    assert aging.status_code == 200
    assert number in aging.text
    assert "Acme Widgets, Inc." in aging.text

    page = f"{INDEX}/invoices/{number}"
    refused = send(client, page, f"{page}/payment", {"method": "bitcoin", "received_on": "x"})
    assert refused.status_code == 400
    assert invoice(rt, number).status is InvoiceStatus.OPEN

    on = invoice(rt, number).issued_on
    done = send(
        client,
        page,
        f"{page}/payment",
        {"method": "cheque", "received_on": on.isoformat(), "reference": "1042"},
    )
    assert done.status_code == 303, done.text
    paid = invoice(rt, number)
    assert paid.status is InvoiceStatus.PAID
    assert paid.paid_by is PaidBy.CHEQUE
    assert paid.paid_on == on
    assert isinstance(paid.paid_on, date)
    rt.post_ledger()
    books = rt.books.load()
    assert books.account_balance("Assets:Receivable:Sponsorships") == Decimal("0")
    assert books.account_balance("Assets:Bank:Checking") == Decimal("10000.00")
    assert "is paid" in client.get(done.location).text
    rt.deliver()
    acknowledgement = client.get(f"{page}/acknowledgement.pdf")
    assert acknowledgement.status_code == 200
    assert "Deductible part $9,500.00 USD" in pdf_text(acknowledgement.data)
    assert client.get(f"{page}/invoice.pdf").status_code == 200
    after = client.get(f"{INDEX}/aging").text
    assert number not in after
    assert "No open invoices." in after


def test_auditor_reads_the_aging_report_and_cannot_enter_a_payment(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    client = signed_in(app, rt, "auditor")
    assert number in client.get(f"{INDEX}/aging").text
    page = f"{INDEX}/invoices/{number}"
    answer = send(
        client, page, f"{page}/payment", {"method": "cheque", "received_on": "2026-12-01"}
    )
    assert answer.status_code == 403
    assert invoice(rt, number).status is InvoiceStatus.OPEN
