"""Open invoices by how long they are past due, and the reminders that go with it.

Buckets, by days past the due date on ``today``: current (not yet due), 1-30,
31-60, 61-90 and over 90. Each bucket past due is a reminder step (1 to 4); an
invoice gets one reminder per step, the first time it is seen in that step.
The step is kept on the invoice and the e-mail's key names it, so running the
reminders twice (or two at once) sends each one once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.mail.outbox import queue
from conservancy.money import Currency, Money
from conservancy.sponsorships.models import InvoiceStatus, SponsorshipInvoice
from conservancy.sponsorships.service import current_pdf_path, pay_url, reissued_pdf_path

BUCKETS = ("current", "1-30", "31-60", "61-90", "over 90")


def step_of(days_past_due: int) -> int:
    """The bucket's index: 0 for current, 1 for 1-30 days past due ... 4 for over 90."""
    if days_past_due <= 0:
        return 0
    return min(4, (days_past_due - 1) // 30 + 1)


@dataclass(frozen=True)
class AgingLine:
    number: str
    company_name: str
    project_name: str
    issued_on: date
    due_on: date
    days_past_due: int
    amount: Money

    @property
    def bucket(self) -> str:
        return BUCKETS[step_of(self.days_past_due)]


@dataclass(frozen=True)
class AgingReport:
    on: date
    lines: list[AgingLine]

    def totals(self) -> dict[str, Money]:
        """Each bucket's total (USD: sponsorships are invoiced in the books' currency)."""
        found = {bucket: Money.zero(Currency.USD) for bucket in BUCKETS}
        for line in self.lines:
            found[line.bucket] = found[line.bucket] + line.amount
        return found

    @property
    def total(self) -> Money:
        total = Money.zero(Currency.USD)
        for line in self.lines:
            total = total + line.amount
        return total


def _open(session: Session, *, lock: bool = False) -> list[SponsorshipInvoice]:
    query = (
        select(SponsorshipInvoice)
        .where(SponsorshipInvoice.status == InvoiceStatus.OPEN)
        .order_by(SponsorshipInvoice.due_on, SponsorshipInvoice.id)
    )
    return list(session.scalars(query.with_for_update() if lock else query))


def aging(session: Session, today: date) -> AgingReport:
    """Every open invoice, oldest due first."""
    return AgingReport(
        today,
        [
            AgingLine(
                number=invoice.number,
                company_name=invoice.corporate_sponsor.company_name,
                project_name=invoice.project.name,
                issued_on=invoice.issued_on,
                due_on=invoice.due_on,
                days_past_due=(today - invoice.due_on).days,
                amount=invoice.amount,
            )
            for invoice in _open(session)
        ],
    )


MOVED = (
    "\nThe address to pay by card has changed since we first sent this invoice: the one "
    "printed on that copy no longer works. The attached copy, reissued, gives the new one.\n"
)


def reissued(invoice: SponsorshipInvoice) -> bool:
    """Whether the invoice's first PDF printed the numbered pay address (see
    SponsorshipInvoice.pdf_reissue_due): its reissued copy is due or drawn."""
    return invoice.pdf_reissue_due or (invoice.pdf_path or "") == reissued_pdf_path(invoice)


def remind(session: Session, today: date, base_url: str) -> list[str]:
    """Queue a reminder for each open invoice that reached a new step; the numbers reminded.

    Each gives the invoice's pay address (its token, ``base_url``) and attaches its
    current PDF: a reissued copy for an invoice whose first PDF printed the numbered
    address (sponsorships.documents.render_pending draws it before the mail goes)."""
    reminded: list[str] = []
    for invoice in _open(session, lock=True):
        days = (today - invoice.due_on).days
        step = step_of(days)
        if step <= invoice.reminder_step:
            continue
        sponsor = invoice.corporate_sponsor
        queue(
            session,
            key=f"sponsorship-reminder-{invoice.number}-{step}",
            to_address=sponsor.email,
            to_name=sponsor.contact_name,
            subject=f"Reminder: invoice {invoice.number} is {days} days past due",
            body=(
                f"Dear {sponsor.contact_name},\n\n"
                f"Invoice {invoice.number} for {invoice.amount.format()}, your sponsorship of "
                f"{invoice.project.name}, was due on {invoice.due_on.isoformat()} and is not "
                "paid yet. If you have paid it in the last few days, thank you, and please "
                "disregard this note. A copy of the invoice is attached. It can be paid by "
                f"card at\n\n{pay_url(invoice, base_url)}\n\n"
                "or by ACH or by cheque, as the invoice says.\n"
                + (MOVED if reissued(invoice) else "")
            ),
            attachment=(f"{invoice.number}.pdf", current_pdf_path(invoice)),
        )
        invoice.reminder_step = step
        reminded.append(invoice.number)
    session.flush()
    return reminded
