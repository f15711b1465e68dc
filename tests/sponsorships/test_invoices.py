"""Issue 8: a corporate sponsorship invoice is a receivable until it is paid."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from conservancy.ledger.check import check_books
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.sponsorships.aging import aging, remind
from conservancy.sponsorships.models import InvoiceStatus, PaidBy
from conservancy.sponsorships.service import (
    SponsorshipRefused,
    find_invoice,
    record_bank_payment,
)
from conservancy.staff.models import AuditEntry
from conservancy.standin import StandIn
from tests.environment import settings_env
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    entries_by_ref,
    ledger_refs,
    postings,
    run_cli,
    settle_webhooks,
    stripe_env,
    webhook_mode,
)
from tests.receipts.pdfs import pdf_text
from tests.sponsorships.sponsors import gold_level, invoice, pay_by_card, signed_up

RECEIVABLE = "Assets:Receivable:Sponsorships"


def _today(rt: Runtime) -> date:
    from conservancy.kernel import clock

    return clock.today(rt.settings.timezone)


def test_invoice_with_a_conference_pass_is_booked_paid_by_card_and_acknowledged(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    assert number.startswith("INV-")
    assert number.endswith("-0001")

    books = rt.books.load()
    assert books.account_balance(RECEIVABLE) == Decimal("10000.00")
    assert books.account_balance("Income:Twisted:Sponsorships") == Decimal("-10000.00")
    # The project's 10% sponsorship fee, as on a gift.
    assert books.account_balance("Expenses:Twisted:Sponsorship-Fees") == Decimal("1000.00")
    assert books.account_balance("Income:General:Sponsorship-Fees") == Decimal("-1000.00")
    with rt.sessions() as session:
        report = aging(session, _today(rt) + timedelta(days=45))
    assert [(line.number, line.bucket) for line in report.lines] == [(number, "1-30")]
    assert str(report.totals()["1-30"]) == "10000.00 USD"

    # Delivered twice, each event: the payment is booked once.
    webhook_mode(standin, duplicate=True, shuffle=False, fail_first=False)
    pay_by_card(rt, standin, number)
    settle_webhooks(rt, standin)

    paid = invoice(rt, number)
    assert paid.status is InvoiceStatus.PAID
    assert paid.paid_by is PaidBy.CARD
    assert paid.fee is not None
    assert paid.fee.minor > 0
    refs = ledger_refs(rt)
    assert refs[f"stripe-{paid.balance_transaction_id}"] == 1
    assert refs[f"sponsorship-{number}"] == 1
    payment = entries_by_ref(rt)[f"stripe-{paid.balance_transaction_id}"]
    fee = Decimal(paid.fee.minor) / 100
    assert postings(payment) == {
        "Assets:Stripe": Decimal("10000.00") - fee,
        "Expenses:Twisted:Payment-Processing": fee,
        RECEIVABLE: Decimal("-10000.00"),
    }
    books = rt.books.load()
    assert books.account_balance(RECEIVABLE) == Decimal("0")
    assert books.account_balance("Income:Twisted:Sponsorships") == Decimal("-10000.00")
    assert str(books.fund_balance("Twisted")) == f"{Decimal('9000.00') - fee} USD"
    assert check_books(rt.ledger).problems == []
    env = stripe_env(rt.settings, standin)
    checked = run_cli(env, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    day = _today(rt).isoformat()
    reconciled = run_cli(env, "stripe", "reconcile", "--from", day, "--to", day)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert "1 booked once each for their amount" in reconciled.stdout
    with rt.sessions() as session:
        assert aging(session, _today(rt) + timedelta(days=45)).lines == []

    rt.deliver()
    paid = invoice(rt, number)
    assert paid.acknowledgement_pdf_path is not None
    text = pdf_text((rt.settings.receipts_dir / paid.acknowledgement_pdf_path).read_bytes())
    assert "Acme Widgets, Inc." in text
    assert number in text
    assert "Conference pass" in text
    minus = "\N{MINUS SIGN}"
    assert f"{minus}$500.00" in text
    assert f"{minus}$0.00" not in text  # the logo, worth nothing, takes nothing off
    assert "$10,000.00" in text
    assert "Deductible part $9,500.00 USD" in text
    assert "Only the amount of your contribution in excess of that value, $9,500.00" in text
    assert "fully deductible" not in text
    with rt.sessions() as session:
        sent = session.scalars(select(MailMessage.key).order_by(MailMessage.id)).all()
    assert sent == [f"sponsorship-invoice-{number}", f"sponsorship-acknowledgement-{number}"]


def test_cheque_entered_by_staff_clears_the_receivable_into_the_bank(
    giving_runtime: Runtime,
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    with rt.sessions() as session:
        found = find_invoice(session, number)
        record_bank_payment(
            session,
            "tests",
            found,
            paid_by=PaidBy.CHEQUE,
            received_on=found.issued_on,
            reference="cheque 1042",
        )
        session.commit()
        actions = session.scalars(select(AuditEntry.action)).all()
    rt.post_ledger()
    assert "sponsorship_invoice.paid" in actions
    books = rt.books.load()
    assert books.account_balance(RECEIVABLE) == Decimal("0")
    assert books.account_balance("Assets:Bank:Checking") == Decimal("10000.00")
    assert check_books(rt.ledger).problems == []
    with rt.sessions() as session, pytest.raises(SponsorshipRefused):
        record_bank_payment(
            session,
            "tests",
            find_invoice(session, number),
            paid_by=PaidBy.CHEQUE,
            received_on=_today(rt),
            reference="again",
        )


def test_overdue_invoice_gets_one_reminder_per_step(giving_runtime: Runtime) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    due = invoice(rt, number).due_on

    def run(on: date) -> list[str]:
        with rt.sessions() as session:
            reminded = remind(session, on, rt.settings.base_url)
            session.commit()
            return reminded

    assert run(due) == []  # due today: not yet overdue
    assert run(due + timedelta(days=1)) == [number]
    assert run(due + timedelta(days=1)) == []
    assert run(due + timedelta(days=20)) == []
    assert run(due + timedelta(days=31)) == [number]
    with rt.sessions() as session:
        keys = session.scalars(
            select(MailMessage.key).where(MailMessage.key.like("sponsorship-reminder-%"))
        ).all()
        report = aging(session, due + timedelta(days=95))
    assert sorted(keys) == [f"sponsorship-reminder-{number}-1", f"sponsorship-reminder-{number}-2"]
    assert [line.bucket for line in report.lines] == ["over 90"]
    rt.deliver()  # the reminder carries the invoice's PDF, drawn by now
    with rt.sessions() as session:
        statuses = session.scalars(select(MailMessage.status)).all()
    assert {s.value for s in statuses} == {"sent"}


def test_invoice_pdf_states_number_amount_benefits_and_how_to_pay(
    giving_runtime: Runtime,
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    rt.deliver()
    found = invoice(rt, number)
    assert found.pdf_path is not None
    text = pdf_text((rt.settings.receipts_dir / found.pdf_path).read_bytes())
    assert f"Invoice {number}" in text or number in text
    assert "Acme Widgets, Inc." in text
    assert "$10,000.00" in text
    assert "Conference pass (fair market value $500.00)" in text
    assert f"/donate/twisted/sponsor/{found.public_token}" in "".join(text.split())
    # Whom to ask for the bank details, and with questions: the sponsor's mail address.
    contact = rt.settings.sender_address
    assert f"By ACH or wire: write to {contact} for our bank details" in text
    assert f"Questions about this invoice? Write to {contact}." in text


def test_remind_command_sends_each_reminder_once_and_aging_lists_the_invoice(
    giving_runtime: Runtime,
) -> None:
    rt = giving_runtime
    number = signed_up(rt, gold_level(rt))
    env = settings_env(rt.settings)
    later = (invoice(rt, number).due_on + timedelta(days=40)).isoformat()
    report = run_cli(env, "sponsorships", "aging", "--on", later)
    assert report.returncode == 0, report.stderr
    assert number in report.stdout
    assert "31-60: $10,000.00" in report.stdout
    first = run_cli(env, "sponsorships", "remind", "--on", later)
    again = run_cli(env, "sponsorships", "remind", "--on", later)
    assert first.returncode == again.returncode == 0
    assert f"reminded: {number}" in first.stdout
    assert "0 reminders queued" in again.stdout
    with rt.sessions() as session:
        keys = session.scalars(
            select(MailMessage.key).where(MailMessage.key.like("sponsorship-reminder-%"))
        ).all()
    assert keys == [f"sponsorship-reminder-{number}-2"]
