"""Issue 8: staff void an open invoice; its books are reversed once, its number stays."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from conservancy.ledger.check import check_books
from conservancy.ledger.models import LedgerOutbox
from conservancy.runtime import Runtime
from conservancy.sponsorships.aging import aging, remind
from conservancy.sponsorships.models import InvoiceStatus, PaidBy
from conservancy.sponsorships.service import (
    SponsorshipRefused,
    find_invoice,
    record_bank_payment,
    void_invoice,
)
from conservancy.staff.models import AuditEntry
from tests.admin.pages import error_by, send, signed_in
from tests.environment import settings_env
from tests.giving.flows import ledger_refs, run_cli
from tests.sponsorships.sponsors import gold_level, invoice, signed_up

INDEX = "/admin/sponsorships"
ACCOUNTS = (
    "Assets:Receivable:Sponsorships",
    "Income:Twisted:Sponsorships",
    "Expenses:Twisted:Sponsorship-Fees",
    "Income:General:Sponsorship-Fees",
)


def _balances(rt: Runtime) -> dict[str, Decimal]:
    books = rt.books.load()
    return {account: books.account_balance(account) for account in ACCOUNTS}


def _counts(rt: Runtime) -> tuple[int, int]:
    with rt.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(LedgerOutbox)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def test_voided_invoice_leaves_the_books_the_aging_report_and_the_reminders(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    rt.deliver()  # the invoice's PDF is drawn
    assert _balances(rt) == {
        "Assets:Receivable:Sponsorships": Decimal("10000.00"),
        "Income:Twisted:Sponsorships": Decimal("-10000.00"),
        "Expenses:Twisted:Sponsorship-Fees": Decimal("1000.00"),
        "Income:General:Sponsorship-Fees": Decimal("-1000.00"),
    }
    client = signed_in(app, rt, "bookkeeper")
    page = f"{INDEX}/invoices/{number}"
    before = _counts(rt)

    refused = send(client, page, f"{page}/void", {"reason": "  "})
    assert refused.status_code == 400
    assert "Say why" in error_by(refused, "reason")
    assert invoice(rt, number).status is InvoiceStatus.OPEN
    assert _counts(rt) == before

    stale = client.get(page)  # a second tab, still showing the open invoice
    done = send(client, page, f"{page}/void", {"reason": "Signed up twice by mistake"})
    assert done.status_code == 303, done.text
    assert "is void" in client.get(done.location).text
    voided = invoice(rt, number)
    assert voided.status is InvoiceStatus.VOID
    assert voided.void_reason == "Signed up twice by mistake"
    rt.post_ledger()
    assert _balances(rt) == dict.fromkeys(ACCOUNTS, Decimal(0))
    refs = ledger_refs(rt)
    assert refs[f"sponsorship-{number}/void"] == 1
    assert refs[f"sponsorship-{number}/void/sponsorship-fee"] == 1
    assert check_books(rt.ledger).problems == []
    checked = run_cli(settings_env(rt.settings), "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with rt.sessions() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sponsorship_invoice.voided")
        ).one()
        assert "Signed up twice" in str(audited.after)
        later = voided.due_on + timedelta(days=45)
        assert aging(session, later).lines == []
        assert remind(session, later, rt.settings.base_url) == []
    # Its number is never reused, so its PDF stays.
    assert client.get(f"{page}/invoice.pdf").status_code == 200
    assert signed_up(rt, voided.level_id, company="Other Co") != number

    # Voiding again (from the stale tab) is refused and writes nothing.
    before = _counts(rt)
    again = send(client, page, f"{page}/void", {"reason": "again"}, keep=stale)
    assert again.status_code == 400, again.text
    assert "only an open invoice" in again.text, again.text
    assert _counts(rt) == before
    rt.post_ledger()
    assert ledger_refs(rt)[f"sponsorship-{number}/void"] == 1


def test_paid_invoice_cannot_be_voided(runtime: Runtime) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    with rt.sessions() as session:
        found = find_invoice(session, number)
        record_bank_payment(
            session,
            "tests",
            found,
            paid_by=PaidBy.CHEQUE,
            received_on=found.issued_on,
            reference="1042",
        )
        session.commit()
    before = _counts(rt)
    with rt.sessions() as session:
        found = find_invoice(session, number)
        with pytest.raises(SponsorshipRefused, match="only an open"):
            void_invoice(session, "tests", found, reason="changed our mind", on=found.issued_on)
    assert _counts(rt) == before
    assert invoice(rt, number).status is InvoiceStatus.PAID


def test_auditor_cannot_void(runtime: Runtime, app: Flask) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    client = signed_in(app, rt, "auditor")
    page = f"{INDEX}/invoices/{number}"
    assert send(client, page, f"{page}/void", {"reason": "no"}).status_code == 403
    assert invoice(rt, number).status is InvoiceStatus.OPEN
