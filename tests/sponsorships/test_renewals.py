"""Issue 8: a sponsorship is for a year; ``conservancy sponsorships renew`` issues the next
year's invoice of each paid one whose year ends soon, once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from threading import Barrier

from flask import Flask
from sqlalchemy import func, select

from conservancy.kernel import clock
from conservancy.ledger.check import check_books
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import PaidBy, SponsorshipInvoice, SponsorshipLevel
from conservancy.sponsorships.renewals import renew_invoice
from conservancy.sponsorships.service import find_invoice, record_bank_payment, void_invoice
from conservancy.staff.models import AuditEntry
from tests.admin.pages import send, signed_in
from tests.environment import settings_env
from tests.giving.flows import run_cli
from tests.sponsorships.sponsors import gold_level, invoice, signed_up

RECEIVABLE = "Assets:Receivable:Sponsorships"


def _paid_by_cheque(rt: Runtime, number: str) -> None:
    with rt.sessions() as session:
        found = find_invoice(session, number)
        record_bank_payment(
            session,
            "tests",
            found,
            paid_by=PaidBy.CHEQUE,
            received_on=found.issued_on,
            reference="1001",
        )
        session.commit()
    rt.post_ledger()


def _renew(rt: Runtime, on: date, *more: str) -> list[str]:
    """``conservancy sponsorships renew --on ON``, as cron runs it; the lines it prints."""
    done = run_cli(
        settings_env(rt.settings), "sponsorships", "renew", "--on", on.isoformat(), *more
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def _invoices(rt: Runtime) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(SponsorshipInvoice)) or 0


def _renewal_of(rt: Runtime, number: str) -> SponsorshipInvoice | None:
    with rt.sessions() as session:
        old = find_invoice(session, number)
        return session.scalar(
            select(SponsorshipInvoice).where(SponsorshipInvoice.renews_invoice_id == old.id)
        )


def test_a_paid_sponsorship_is_renewed_once_at_the_levels_current_amount(
    runtime: Runtime,
) -> None:
    rt = runtime
    level_id = gold_level(rt)
    number = signed_up(rt, level_id)
    _paid_by_cheque(rt, number)
    first = invoice(rt, number)
    assert first.period_end == first.period_start.replace(year=first.period_start.year + 1) - (
        timedelta(days=1)
    )
    with rt.sessions() as session:
        level = session.get(SponsorshipLevel, level_id)
        assert level is not None
        level.annual_minor = 1_200_000  # the level costs more now
        session.commit()

    lines = _renew(rt, first.period_end - timedelta(days=10))

    renewal = _renewal_of(rt, number)
    assert renewal is not None
    assert lines[0].startswith(f"renewed: {number} -> {renewal.number}")
    assert "Acme Widgets, Inc. (Twisted)" in lines[0]
    assert lines[-1] == "1 renewal invoices issued: $12,000.00"
    assert renewal.amount_minor == 1_200_000
    assert renewal.benefits == [["Logo on the project's website", 0], ["Conference pass", 50_000]]
    assert renewal.period_start == first.period_end + timedelta(days=1)
    assert renewal.number != number
    with rt.sessions() as session:
        mail = session.scalars(
            select(MailMessage).where(MailMessage.key == f"sponsorship-invoice-{renewal.number}")
        ).one()
        assert mail.to_address == "wile@acme.example"
        assert "for another year" in mail.body
    books = rt.books.load()
    assert books.account_balance(RECEIVABLE) == Decimal("12000.00")  # the first one is paid
    assert check_books(rt.ledger).problems == []
    checked = run_cli(settings_env(rt.settings), "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr

    again = _renew(rt, first.period_end - timedelta(days=5))
    assert again == ["0 renewal invoices issued"]
    assert _invoices(rt) == 2
    assert rt.books.load().account_balance(RECEIVABLE) == Decimal("12000.00")


def test_renewal_waits_for_the_window_and_skips_unpaid_void_and_stopped_sponsorships(
    runtime: Runtime, app: Flask
) -> None:
    rt = runtime
    level_id = gold_level(rt)
    unpaid = signed_up(rt, level_id, "Unpaid Ltd")
    voided = signed_up(rt, level_id, "Void Ltd")
    stopped = signed_up(rt, level_id, "Stopped Ltd")
    renewed = signed_up(rt, level_id, "Renewed Ltd")
    with rt.sessions() as session:
        void_invoice(
            session,
            "tests",
            find_invoice(session, voided),
            reason="sent twice",
            on=clock.today(rt.settings.timezone),
        )
        session.commit()
    for number in (stopped, renewed):
        _paid_by_cheque(rt, number)
    staff = signed_in(app, rt, "admin")
    page = f"/admin/sponsorships/invoices/{stopped}"
    done = send(staff, page, f"{page}/stop-renewal", {})
    assert done.status_code == 303, done.text
    assert "stopped on" in staff.get(page).text
    twice = send(staff, page, f"{page}/stop-renewal", {})
    assert twice.status_code == 409
    assert "stopped already" in twice.text
    with rt.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(AuditEntry)
                .where(AuditEntry.action == "sponsorship_invoice.renewal_stopped")
            )
            == 1
        )
    end = invoice(rt, renewed).period_end

    early = _renew(rt, end - timedelta(days=40))  # 30 days ahead: not yet
    assert early == ["0 renewal invoices issued"]
    lines = _renew(rt, end - timedelta(days=3), "--days-ahead", "7")

    assert len(lines) == 2
    assert "Renewed Ltd" in lines[0]
    assert _renewal_of(rt, renewed) is not None
    for number in (unpaid, voided, stopped):
        assert _renewal_of(rt, number) is None
    assert _invoices(rt) == 5
    page = staff.get(f"/admin/sponsorships/invoices/{renewed}").text
    assert "renewed by" in page


def test_renewals_racing_for_one_invoice_issue_one(runtime: Runtime) -> None:
    rt = runtime
    number = signed_up(rt, gold_level(rt))
    _paid_by_cheque(rt, number)
    invoice_id = invoice(rt, number).id
    barrier = Barrier(4)

    def renewing() -> str:
        with rt.sessions() as session:
            barrier.wait(timeout=30)
            renewal = renew_invoice(
                session, invoice_id, tz=rt.settings.timezone, base_url=rt.settings.base_url
            )
            session.commit()
            return "none" if renewal is None else renewal.number

    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda _: renewing(), range(4)))

    assert outcomes.count("none") == 3
    assert _invoices(rt) == 2
    rt.post_ledger()
    assert check_books(rt.ledger).problems == []


def test_a_bad_date_is_refused_in_one_line(runtime: Runtime) -> None:
    rt = runtime
    env = settings_env(rt.settings)
    for args in (("--on", "2026-02-30"), ("--days-ahead", "-1")):
        done = run_cli(env, "sponsorships", "renew", *args)
        assert done.returncode != 0
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert (
        "'2026-02-30' is not a date"
        in run_cli(env, "sponsorships", "renew", "--on", "2026-02-30").stderr
    )
