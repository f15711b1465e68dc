"""Issue 8: a sign-up on the public form is a request; staff approve it (one invoice,
booked and mailed) or decline it (nothing booked, the company told)."""

from __future__ import annotations

import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from threading import Barrier

from flask import Flask
from sqlalchemy import func, select

from conservancy.kernel import clock
from conservancy.kernel.submissions import new_key
from conservancy.ledger.check import check_books
from conservancy.ledger.models import LedgerOutbox
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import (
    RequestStatus,
    SponsorshipInvoice,
    SponsorshipRequest,
    SponsorshipStatusChange,
)
from conservancy.sponsorships.service import SponsorshipRefused, approve_request, year_from
from conservancy.staff.models import AuditEntry
from tests.admin.pages import error_by, hidden, send, signed_in
from tests.sponsorships.sponsors import gold_level, invoice, requested

RECEIVABLE = "Assets:Receivable:Sponsorships"


def _request_page(request_id: int) -> str:
    return f"/admin/sponsorships/requests/{request_id}"


def _counts(rt: Runtime) -> dict[str, int]:
    with rt.sessions() as session:
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in (
                ("invoices", SponsorshipInvoice),
                ("entries", LedgerOutbox),
                ("mails", MailMessage),
            )
        }


def _history(rt: Runtime, request_id: int) -> list[tuple[str | None, str, str, str]]:
    """The request's and its invoice's status changes: (from, to, by, note)."""
    with rt.sessions() as session:
        found = session.get(SponsorshipRequest, request_id)
        assert found is not None
        rows = session.scalars(
            select(SponsorshipStatusChange)
            .where(
                (SponsorshipStatusChange.request_id == request_id)
                | (SponsorshipStatusChange.invoice_id == found.invoice_id)
            )
            .order_by(SponsorshipStatusChange.id)
        ).all()
        return [(r.from_status, r.to_status, r.changed_by, r.note) for r in rows]


def test_a_request_numbers_nothing_books_nothing_and_waits_for_staff(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    level_id = gold_level(rt)
    before = _counts(rt)

    request_id = requested(rt, level_id)

    assert _counts(rt) == before
    rt.post_ledger()
    assert rt.books.load().account_balance(RECEIVABLE) == Decimal("0")
    assert _history(rt, request_id) == [
        (None, "pending", "sponsor sign-up form", "Gold, $10,000.00 a year")
    ]
    staff = signed_in(app, rt, "auditor")
    index = staff.get("/admin/sponsorships")
    assert "Requests waiting for approval" in index.text
    assert "Acme Widgets, Inc." in index.text
    assert f'href="{_request_page(request_id)}"' in index.text


def test_approving_issues_one_numbered_invoice_books_the_receivable_and_mails_it(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    staff = signed_in(app, rt, "bookkeeper")

    done = send(staff, _request_page(request_id), f"{_request_page(request_id)}/approve", {})

    assert done.status_code == 303, done.text
    number = done.location.rsplit("/", 1)[-1]
    assert re.fullmatch(r"INV-\d{4}-0001", number)
    with rt.sessions() as session:
        assert session.scalar(
            select(LedgerOutbox.id).where(LedgerOutbox.ref == f"sponsorship-{number}")
        )
        mail = session.scalars(
            select(MailMessage).where(MailMessage.key == f"sponsorship-invoice-{number}")
        ).one()
        assert mail.to_address == "wile@acme.example"
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sponsorship_request.approved")
        ).one()
        assert audit.actor == "bookkeeper@example.org"
        assert audit.after is not None
        assert audit.after["invoice"] == number
    rt.post_ledger()
    assert rt.books.load().account_balance(RECEIVABLE) == Decimal("10000.00")
    assert check_books(rt.ledger).problems == []
    assert [(f, t, by) for f, t, by, _ in _history(rt, request_id)] == [
        (None, "pending", "sponsor sign-up form"),
        ("pending", "approved", "bookkeeper@example.org"),
        (None, "open", "bookkeeper@example.org"),
    ]
    page = staff.get(f"/admin/sponsorships/invoices/{number}")
    assert "Status history" in page.text
    assert f"request {request_id} approved" in page.text


def test_approving_twice_issues_one_invoice(runtime: Runtime, app: Flask) -> None:
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    first = signed_in(app, rt, "bookkeeper")
    second = signed_in(app, rt, "admin")
    page = _request_page(request_id)
    shown = first.get(page)
    other = second.get(page)

    done = send(first, page, f"{page}/approve", {}, keep=shown)
    again = send(first, page, f"{page}/approve", {}, keep=shown)  # the same form: a double click
    meanwhile = send(second, page, f"{page}/approve", {}, keep=other)  # another staff member

    assert done.status_code == 303
    number = done.location.rsplit("/", 1)[-1]
    assert again.status_code == 303
    assert "acted on once" in first.get(again.location).text
    assert meanwhile.status_code == 409
    assert f"approved already: invoice {number}" in meanwhile.text
    assert _counts(rt)["invoices"] == 1
    rt.post_ledger()
    assert rt.books.load().account_balance(RECEIVABLE) == Decimal("10000.00")


def test_approvals_at_the_same_moment_issue_one_invoice(runtime: Runtime) -> None:
    """Two staff members' approvals race: the request's row lock lets one through."""
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    barrier = Barrier(4)

    def approving() -> str:
        with rt.sessions() as session:
            barrier.wait(timeout=30)
            try:
                invoice = approve_request(
                    session,
                    "tests",
                    request_id,
                    key=new_key(),
                    tz=rt.settings.timezone,
                    base_url=rt.settings.base_url,
                )
            except SponsorshipRefused:
                session.rollback()
                return "refused"
            session.commit()
            return invoice.number

    calls: list[Callable[[], str]] = [approving] * 4
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda call: call(), calls))

    assert outcomes.count("refused") == 3
    assert _counts(rt)["invoices"] == 1
    rt.post_ledger()
    assert rt.books.load().account_balance(RECEIVABLE) == Decimal("10000.00")
    assert check_books(rt.ledger).problems == []


def test_declining_books_nothing_and_tells_the_company(runtime: Runtime, app: Flask) -> None:
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    staff = signed_in(app, rt, "admin")
    page = _request_page(request_id)
    before = _counts(rt)

    refused = send(staff, page, f"{page}/decline", {"reason": "  "})
    assert refused.status_code == 400
    assert "Say why" in error_by(refused, "reason")
    assert _counts(rt) == before

    done = send(staff, page, f"{page}/decline", {"reason": "Competitor of the project"})

    assert done.status_code == 303, done.text
    after = _counts(rt)
    assert (after["invoices"], after["entries"]) == (before["invoices"], before["entries"])
    with rt.sessions() as session:
        found = session.get(SponsorshipRequest, request_id)
        assert found is not None
        assert found.status is RequestStatus.DECLINED
        mail = session.scalars(
            select(MailMessage).where(
                MailMessage.key == f"sponsorship-request-{request_id}-declined"
            )
        ).one()
        assert mail.to_address == "wile@acme.example"
        assert "not able to accept" in mail.body
        assert "Competitor" not in mail.body  # staff's reason stays with staff
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sponsorship_request.declined")
        ).one()
        assert audit.after is not None
        assert audit.after["reason"] == "Competitor of the project"
    assert _history(rt, request_id)[-1] == (
        "pending",
        "declined",
        "admin@example.org",
        "Competitor of the project",
    )
    shown = staff.get(page)
    assert "Competitor of the project" in shown.text
    assert "Approve and issue" not in shown.text

    late = staff.post(
        f"{page}/approve",
        data={"csrf_token": hidden(shown, "csrf_token"), "once": new_key()},
    )
    assert late.status_code == 409
    assert "declined already" in late.text
    assert _counts(rt)["invoices"] == before["invoices"]


def test_auditors_see_requests_but_cannot_approve(runtime: Runtime, app: Flask) -> None:
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    auditor = signed_in(app, rt, "auditor")
    page = _request_page(request_id)
    shown = auditor.get(page)
    assert shown.status_code == 200
    assert "Acme Widgets, Inc." in shown.text

    tried = auditor.post(
        f"{page}/approve", data={"csrf_token": hidden(shown, "csrf_token"), "once": new_key()}
    )

    assert tried.status_code == 403
    assert _counts(rt)["invoices"] == 0
    treasurer = signed_in(app, rt, "treasurer")
    assert treasurer.get(page).status_code == 404


def test_staff_may_start_the_sponsorship_year_on_another_day(runtime: Runtime, app: Flask) -> None:
    rt = runtime
    request_id = requested(rt, gold_level(rt))
    staff = signed_in(app, rt, "bookkeeper")
    page = _request_page(request_id)

    bad = send(staff, page, f"{page}/approve", {"starts_on": "2027-02-30"})
    assert bad.status_code == 400
    assert error_by(bad, "starts_on") == "Enter a date (YYYY-MM-DD)."
    far = send(staff, page, f"{page}/approve", {"starts_on": "2099-01-01"})
    assert far.status_code == 400
    assert "within a year of today" in error_by(far, "starts_on")
    assert _counts(rt)["invoices"] == 0

    start = clock.today(rt.settings.timezone) + timedelta(days=45)
    done = send(staff, page, f"{page}/approve", {"starts_on": start.isoformat()})

    assert done.status_code == 303, done.text
    found = invoice(rt, done.location.rsplit("/", 1)[-1])
    assert (found.period_start, found.period_end) == (start, year_from(start))
    assert f"{start.isoformat()} to {year_from(start).isoformat()}" in staff.get(done.location).text
