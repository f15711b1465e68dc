"""Sponsorship levels, a company's request, staff approving it (which issues the invoice)
or declining it, and taking an invoice's payment.

A request from the public form books nothing: an invoice is a receivable, and only
staff may put one in the books. Approving locks the request's row, so two approvals
(a double click, two staff at once) issue one invoice.

Every function takes the session and flushes; the caller commits once. Entries go to
the ledger outbox and e-mails to the mail outbox in the same transaction, so an
invoice, its books and its e-mail exist together or not at all; the PDFs are drawn
after the commit (sponsorships.documents).

An invoice's public address (its page, where it is paid by card) names a random
token issued with it (``public_token``, 192 bits), never its number: numbers are
sequential, and anyone could otherwise walk through every sponsor's invoice. Only the
sponsor's e-mail and PDF, and the staff's invoice page, carry the address.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.kernel.submissions import claim
from conservancy.ledger.outbox import record
from conservancy.mail.outbox import queue
from conservancy.money import Money
from conservancy.payments.gateway import Checkout, CheckoutRequest, Gateway, LineItem
from conservancy.projects.models import Project
from conservancy.sponsorships import books
from conservancy.sponsorships.models import (
    CorporateSponsor,
    InvoiceStatus,
    PaidBy,
    RequestStatus,
    SponsorshipBenefit,
    SponsorshipInvoice,
    SponsorshipLevel,
    SponsorshipRequest,
    SponsorshipStatusChange,
)
from conservancy.sponsorships.numbering import next_number
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

# Who moved a status, in the history, when no staff member did.
SIGN_UP_FORM = "sponsor sign-up form"
STRIPE = "Stripe"

# Invoices are due thirty days after issue ("net 30").
NET_DAYS = 30
# How far from the day of approval staff may start a sponsorship's year.
MAX_START_DAYS = 366


class SponsorshipRefused(DomainError):
    """A level, sign-up or payment the rules do not allow; the message says why."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class SignUp:
    """What a sponsor asked for on the sign-up form, already parsed."""

    level_id: int
    company_name: str
    contact_name: str
    email: str
    address: str


# -- levels ------------------------------------------------------------------------------


def levels_of(session: Session, project: Project) -> list[SponsorshipLevel]:
    """The levels a project offers now, largest first."""
    return list(
        session.scalars(
            select(SponsorshipLevel)
            .where(SponsorshipLevel.project_id == project.id, SponsorshipLevel.active)
            .order_by(SponsorshipLevel.annual_minor.desc(), SponsorshipLevel.name)
        )
    )


def add_level(
    session: Session,
    staff: Staff | str,
    project: Project,
    *,
    name: str,
    annual: Money,
    benefits: Sequence[tuple[str, Money]],
) -> SponsorshipLevel:
    """Offer a new level of ``project``; audit-logged."""
    name = " ".join(name.split())
    if not name:
        raise SponsorshipRefused("Name the level.", "name")
    if annual.currency.value != project.currency:
        raise SponsorshipRefused(
            f"{project.name} takes sponsorships in {project.currency}.", "annual"
        )
    if annual.minor <= 0:
        raise SponsorshipRefused("A level's annual amount must be more than zero.", "annual")
    exists = select(SponsorshipLevel.id).where(
        SponsorshipLevel.project_id == project.id, SponsorshipLevel.name == name
    )
    if session.scalar(exists) is not None:
        raise SponsorshipRefused(f"{project.name} already has a level named {name}.", "name")
    level = SponsorshipLevel(
        project=project, name=name, annual_minor=annual.minor, currency=annual.currency.value
    )
    for description, value in benefits:
        description = " ".join(description.split())
        if not description:
            continue
        if value.minor < 0 or value.currency is not annual.currency:
            raise SponsorshipRefused(
                f"The value of {description} must be zero or more, in {annual.currency}.",
                "benefits",
            )
        level.benefits.append(
            SponsorshipBenefit(
                description=description, value_minor=value.minor, currency=value.currency.value
            )
        )
    if level.benefits_value > annual:
        raise SponsorshipRefused(
            "The benefits cannot be worth more than the level's amount.", "benefits"
        )
    session.add(level)
    session.flush()
    audit.record(
        session,
        staff,
        "sponsorship_level.added",
        ("sponsorship_level", level.id),
        after={
            "project": project.slug,
            "name": name,
            "annual": str(annual),
            "benefits": [[b.description, str(b.fair_market_value)] for b in level.benefits],
        },
    )
    return level


# -- signing up and issuing ----------------------------------------------------------------


def request_sponsorship(session: Session, project: Project, request: SignUp) -> SponsorshipRequest:
    """Record the company and the level it chose, for staff to approve: nothing is booked,
    numbered or mailed."""
    sponsor, level = _new_sponsor(session, project, request)
    found = SponsorshipRequest(
        corporate_sponsor=sponsor,
        level=level,
        project=project,
        status=RequestStatus.PENDING,
        requested_at=clock.now(),
    )
    session.add(found)
    found.history.append(
        SponsorshipStatusChange(
            from_status=None,
            to_status=RequestStatus.PENDING.value,
            changed_by=SIGN_UP_FORM,
            note=f"{level.name}, {level.annual.format()} a year",
        )
    )
    session.flush()
    return found


def sign_up(
    session: Session,
    project: Project,
    request: SignUp,
    *,
    tz: ZoneInfo,
    base_url: str,
    by: str = audit.COMMAND_LINE,
) -> SponsorshipInvoice:
    """Record a sponsor staff signed up themselves (the demo data, a command) and issue its
    first invoice at once: no request to approve, as staff are the ones who approve."""
    sponsor, level = _new_sponsor(session, project, request)
    return issue_invoice(
        session, sponsor, level, tz=tz, base_url=base_url, by=by, note="entered by staff"
    )


def _new_sponsor(
    session: Session, project: Project, request: SignUp
) -> tuple[CorporateSponsor, SponsorshipLevel]:
    level = session.get(SponsorshipLevel, request.level_id)
    if level is None or level.project_id != project.id or not level.active:
        raise SponsorshipRefused("Choose one of the levels offered.", "level")
    for field, value in (
        ("company_name", request.company_name),
        ("contact_name", request.contact_name),
        ("email", request.email),
        ("address", request.address),
    ):
        if not value.strip():
            raise SponsorshipRefused("This field is required.", field)
    sponsor = CorporateSponsor(
        ref=f"corporate-{secrets.token_hex(6)}",
        company_name=" ".join(request.company_name.split()),
        contact_name=" ".join(request.contact_name.split()),
        email=request.email.strip().lower(),
        address=request.address.strip(),
    )
    session.add(sponsor)
    session.flush()
    return sponsor, level


def pending_requests(session: Session) -> list[SponsorshipRequest]:
    """Requests waiting for staff, oldest first."""
    return list(
        session.scalars(
            select(SponsorshipRequest)
            .where(SponsorshipRequest.status == RequestStatus.PENDING)
            .order_by(SponsorshipRequest.id)
        )
    )


def find_request(session: Session, request_id: int, *, lock: bool = False) -> SponsorshipRequest:
    query = select(SponsorshipRequest).where(SponsorshipRequest.id == request_id)
    if lock:
        # Re-read once the lock is ours: what the transaction that held it wrote.
        query = query.with_for_update().execution_options(populate_existing=True)
    found = session.scalar(query)
    if found is None:
        raise NotFound(f"There is no sponsorship request {request_id}.")
    return found


def _pending(session: Session, request_id: int) -> SponsorshipRequest:
    """The request, its row locked, refused unless it still waits for a decision."""
    found = find_request(session, request_id, lock=True)
    if found.status is RequestStatus.APPROVED:
        assert found.invoice is not None
        raise SponsorshipRefused(
            f"This request was approved already: invoice {found.invoice.number}."
        )
    if found.status is not RequestStatus.PENDING:
        raise SponsorshipRefused(f"This request was {found.status.value} already.")
    return found


def approve_request(
    session: Session,
    staff: Staff | str,
    request_id: int,
    *,
    key: str | None,
    tz: ZoneInfo,
    base_url: str,
    period_start: date | None = None,
) -> SponsorshipInvoice:
    """Issue the request's invoice (numbered, booked, mailed); audit-logged.

    The form's key is claimed first (sent twice, it acts once) and the request's row is
    locked, so two approvals at once issue one invoice: the second finds it approved."""
    form = claim(session, key, "sponsorship-request-approve")
    found = _pending(session, request_id)
    if not found.level.active or not found.project.active:
        raise SponsorshipRefused(
            f"The {found.level.name} level of {found.project.name} is no longer offered: "
            "decline the request."
        )
    today = clock.today(tz)
    if period_start is not None and abs((period_start - today).days) > MAX_START_DAYS:
        raise SponsorshipRefused(
            f"The sponsorship starts within a year of today ({today.isoformat()}).", "starts_on"
        )
    by = actor_label(staff)
    found.change_status(RequestStatus.APPROVED, by=by)
    found.decided_at = clock.now()
    invoice = issue_invoice(
        session,
        found.corporate_sponsor,
        found.level,
        tz=tz,
        base_url=base_url,
        by=by,
        note=f"request {found.id} approved",
        period_start=period_start,
    )
    found.invoice = invoice
    form.result = f"sponsorship_invoice:{invoice.id}"
    session.flush()
    audit.record(
        session,
        staff,
        "sponsorship_request.approved",
        ("sponsorship_request", found.id),
        before={"status": RequestStatus.PENDING.value},
        after={
            "status": found.status.value,
            "invoice": invoice.number,
            "amount": str(invoice.amount),
            "company": found.corporate_sponsor.company_name,
        },
    )
    return invoice


DECLINE_REASON_LIMIT = 500


def decline_request(
    session: Session, staff: Staff | str, request_id: int, *, reason: str, key: str | None
) -> SponsorshipRequest:
    """Decline the request: nothing is booked, the company is told; audit-logged."""
    form = claim(session, key, "sponsorship-request-decline")
    reason = " ".join(reason.split())
    if not reason:
        raise SponsorshipRefused(
            "Say why the request is declined; the audit log keeps it.", "reason"
        )
    if len(reason) > DECLINE_REASON_LIMIT:
        raise SponsorshipRefused(
            f"A reason is at most {DECLINE_REASON_LIMIT} characters.", "reason"
        )
    found = _pending(session, request_id)
    found.change_status(RequestStatus.DECLINED, by=actor_label(staff), note=reason)
    found.decided_at = clock.now()
    found.decline_reason = reason
    form.result = f"sponsorship_request:{found.id}"
    company = found.corporate_sponsor
    # The reason is for the audit log: the company gets a courteous note, not staff's words.
    queue(
        session,
        key=f"sponsorship-request-{found.id}-declined",
        to_address=company.email,
        to_name=company.contact_name,
        subject=f"Your sponsorship of {found.project.name}",
        body=(
            f"Dear {company.contact_name},\n\n"
            f"Thank you for offering to sponsor {found.project.name} at the "
            f"{found.level.name} level. We are not able to accept this sponsorship, so no "
            "invoice will be sent and nothing is owed. If you would like to talk about it, "
            "please reply to this message.\n"
        ),
    )
    session.flush()
    audit.record(
        session,
        staff,
        "sponsorship_request.declined",
        ("sponsorship_request", found.id),
        before={"status": RequestStatus.PENDING.value},
        after={
            "status": found.status.value,
            "reason": reason,
            "company": company.company_name,
        },
    )
    return found


def actor_label(staff: Staff | str) -> str:
    """Who acted, as the status history says it."""
    return staff.email if isinstance(staff, Staff) else staff


def issue_invoice(
    session: Session,
    sponsor: CorporateSponsor,
    level: SponsorshipLevel,
    *,
    tz: ZoneInfo,
    base_url: str,
    by: str,
    note: str = "",
    at: datetime | None = None,
    period_start: date | None = None,
    renews: SponsorshipInvoice | None = None,
) -> SponsorshipInvoice:
    """Number an invoice for a year of ``level`` (from ``period_start``, by default the day
    of issue), book the receivable, queue its e-mail (with the invoice's address under
    ``base_url``). ``renews``: the invoice whose sponsorship this one continues."""
    issued_at = at or clock.now()
    issued_on = clock.accounting_date(issued_at, tz)
    starts = period_start or issued_on
    project = level.project
    benefits: list[list[str | int]] = [[b.description, b.value_minor] for b in level.benefits]
    # Numbered last, so the counter's row lock is held as briefly as can be.
    sequence, number = next_number(session, issued_on.year)
    invoice = SponsorshipInvoice(
        number=number,
        public_token=secrets.token_urlsafe(24),
        year=issued_on.year,
        sequence=sequence,
        corporate_sponsor=sponsor,
        level=level,
        project=project,
        level_name=level.name,
        fund=project.fund,
        fee_rate_bp=project.fee_rate_bp,
        amount_minor=level.annual_minor,
        currency=level.currency,
        benefits=benefits,
        benefits_minor=level.benefits_value.minor,
        issued_at=issued_at,
        issued_on=issued_on,
        due_on=issued_on + timedelta(days=NET_DAYS),
        status=InvoiceStatus.OPEN,
        reminder_step=0,
        period_start=starts,
        period_end=year_from(starts),
        renews=renews,
    )
    session.add(invoice)
    invoice.history.append(
        SponsorshipStatusChange(
            from_status=None,
            to_status=InvoiceStatus.OPEN.value,
            changed_by=by,
            note=note or "issued",
        )
    )
    session.flush()
    for entry in books.issued(invoice):
        record(session, entry)
    queue(
        session,
        key=f"sponsorship-invoice-{number}",
        to_address=sponsor.email,
        to_name=sponsor.contact_name,
        subject=f"Invoice {number}: sponsorship of {project.name}",
        body=(
            f"Dear {sponsor.contact_name},\n\n"
            f"Thank you for sponsoring {project.name} at the {level.name} level"
            f"{' for another year' if renews is not None else ''}, from "
            f"{invoice.period_start.isoformat()} to {invoice.period_end.isoformat()}. "
            f"Invoice {number} for {invoice.amount.format()} is attached; it is due on "
            f"{invoice.due_on.isoformat()}. It can be paid by card at\n\n"
            f"{pay_url(invoice, base_url)}\n\n"
            "or by ACH or by cheque, as the invoice says. Please keep that address to "
            "yourselves: it shows the invoice to whoever has it.\n"
        ),
        attachment=(f"{number}.pdf", invoice_pdf_path(invoice)),
    )
    return invoice


def year_from(start: date) -> date:
    """The last day of the year that begins on ``start`` (29 February: to 28 February)."""
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:
        return date(start.year + 1, 2, 28)


def invoice_pdf_path(invoice: SponsorshipInvoice) -> str:
    """Where an invoice's PDF lives under the receipts directory."""
    return f"sponsorships/{invoice.year}/{invoice.number}.pdf"


def reissued_pdf_path(invoice: SponsorshipInvoice) -> str:
    """Where the reissued copy of an invoice lives (see SponsorshipInvoice.pdf_reissue_due):
    beside the first, which stays."""
    return f"sponsorships/{invoice.year}/{invoice.number}-reissued.pdf"


def current_pdf_path(invoice: SponsorshipInvoice) -> str:
    """The invoice's PDF to send from now on: the reissued copy once one is due (drawn
    before its mail goes: the outbox waits for the file), else the one first drawn."""
    if invoice.pdf_reissue_due:
        return reissued_pdf_path(invoice)
    return invoice.pdf_path or invoice_pdf_path(invoice)


def acknowledgement_pdf_path(invoice: SponsorshipInvoice) -> str:
    return f"sponsorships/{invoice.year}/{invoice.number}-acknowledgement.pdf"


def pay_url(invoice: SponsorshipInvoice, base_url: str) -> str:
    """The invoice's public page, where it is paid by card: by its token, never its number."""
    return f"{base_url}/donate/{invoice.project.slug}/sponsor/{invoice.public_token}"


# What secrets.token_urlsafe(24) gives: anything else is no invoice's, unasked.
_PUBLIC_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32}$")


def find_public_invoice(session: Session, project: Project, token: str) -> SponsorshipInvoice:
    """The project's invoice whose public address names ``token``; NotFound for any other
    token (a number, a wrong or altered token, another project's invoice)."""
    found = None
    if _PUBLIC_TOKEN.match(token):
        found = session.scalar(
            select(SponsorshipInvoice).where(
                SponsorshipInvoice.public_token == token,
                SponsorshipInvoice.project_id == project.id,
            )
        )
    if found is None:
        raise NotFound("There is no such invoice. Please use the address in our e-mail.")
    return found


def find_invoice(session: Session, number: str, *, lock: bool = False) -> SponsorshipInvoice:
    query = select(SponsorshipInvoice).where(SponsorshipInvoice.number == number)
    found = session.scalar(query.with_for_update() if lock else query)
    if found is None:
        raise NotFound(f"There is no invoice {number}.")
    return found


# -- payment ------------------------------------------------------------------------------


def begin_card_payment(
    session: Session, gateway: Gateway, invoice: SponsorshipInvoice, *, base_url: str
) -> Checkout:
    """A Stripe Checkout Session for the invoice; the idempotency key names the invoice,
    so asking twice gives the same session."""
    if invoice.status is not InvoiceStatus.OPEN:
        raise SponsorshipRefused(f"Invoice {invoice.number} is {invoice.status.value}.")
    page = pay_url(invoice, base_url)
    checkout = gateway.create_checkout(
        CheckoutRequest(
            donation_id=None,
            lines=(
                LineItem(
                    f"Sponsorship of {invoice.project.name}, {invoice.number}", invoice.amount
                ),
            ),
            interval=None,
            customer_email=invoice.corporate_sponsor.email,
            success_url=f"{page}?paid=1",
            cancel_url=page,
            idempotency_key=f"sponsorship-invoice-{invoice.id}-checkout",
            metadata={"sponsorship_invoice_id": str(invoice.id)},
            submit_type="pay",
        )
    )
    invoice.checkout_session_id = checkout.id
    session.flush()
    return checkout


def mark_paid(
    session: Session,
    invoice: SponsorshipInvoice,
    *,
    paid_by: PaidBy,
    paid_on: date,
    by: str = STRIPE,
) -> None:
    """The invoice is settled: its status, and the acknowledgement's e-mail."""
    invoice.change_status(
        InvoiceStatus.PAID, by=by, note=f"by {paid_by.value} on {paid_on.isoformat()}"
    )
    invoice.paid_by = paid_by
    invoice.paid_on = paid_on
    session.flush()
    sponsor = invoice.corporate_sponsor
    queue(
        session,
        key=f"sponsorship-acknowledgement-{invoice.number}",
        to_address=sponsor.email,
        to_name=sponsor.contact_name,
        subject=f"Thank you: invoice {invoice.number} is paid",
        body=(
            f"Dear {sponsor.contact_name},\n\n"
            f"We received {invoice.amount.format()} in payment of invoice {invoice.number}, "
            f"your sponsorship of {invoice.project.name}. Our acknowledgement, with the value "
            "of the benefits and the deductible part of your payment, is attached.\n"
        ),
        attachment=(f"{invoice.number}-acknowledgement.pdf", acknowledgement_pdf_path(invoice)),
    )


BANK_METHODS = {PaidBy.CHEQUE: "cheque", PaidBy.ACH: "ACH transfer"}


def record_bank_payment(
    session: Session,
    staff: Staff | str,
    invoice: SponsorshipInvoice,
    *,
    paid_by: PaidBy,
    received_on: date,
    reference: str,
) -> SponsorshipInvoice:
    """A cheque or ACH transfer that reached the bank, entered by staff; audit-logged."""
    session.refresh(invoice, with_for_update=True)
    if paid_by not in BANK_METHODS:
        raise SponsorshipRefused("Choose cheque or ACH.", "method")
    if invoice.status is not InvoiceStatus.OPEN:
        raise SponsorshipRefused(f"Invoice {invoice.number} is {invoice.status.value}.")
    if received_on < invoice.issued_on:
        raise SponsorshipRefused("The payment cannot come before the invoice.", "received_on")
    invoice.payment_reference = reference.strip()[:100] or None
    mark_paid(session, invoice, paid_by=paid_by, paid_on=received_on, by=actor_label(staff))
    record(session, books.paid_to_bank(invoice, how=BANK_METHODS[paid_by]))
    audit.record(
        session,
        staff,
        "sponsorship_invoice.paid",
        ("sponsorship_invoice", invoice.id),
        after={
            "number": invoice.number,
            "amount": str(invoice.amount),
            "method": paid_by.value,
            "received_on": received_on.isoformat(),
            "reference": invoice.payment_reference,
        },
    )
    return invoice


# -- voiding ------------------------------------------------------------------------------

VOID_REASON_LIMIT = 500


def void_invoice(
    session: Session, staff: Staff | str, invoice: SponsorshipInvoice, *, reason: str, on: date
) -> SponsorshipInvoice:
    """Void an open invoice; audit-logged.

    Its issue is reversed in the books (receivable, income and sponsorship fee), it
    leaves the aging report and gets no more reminders (both read open invoices only).
    Its number and PDF stay: invoice numbers are never reused.
    """
    session.refresh(invoice, with_for_update=True)
    reason = " ".join(reason.split())
    if not reason:
        raise SponsorshipRefused("Say why the invoice is voided; the audit log keeps it.", "reason")
    if len(reason) > VOID_REASON_LIMIT:
        raise SponsorshipRefused(f"A reason is at most {VOID_REASON_LIMIT} characters.", "reason")
    if invoice.status is not InvoiceStatus.OPEN:
        raise SponsorshipRefused(
            f"Invoice {invoice.number} is {invoice.status.value}: only an open invoice is voided."
        )
    invoice.change_status(InvoiceStatus.VOID, by=actor_label(staff), note=reason)
    invoice.void_reason = reason
    # Not before the invoice's own entries, so the books never go through a negative day.
    invoice.voided_on = max(on, invoice.issued_on)
    session.flush()
    for entry in books.voided(invoice, invoice.voided_on):
        record(session, entry)
    audit.record(
        session,
        staff,
        "sponsorship_invoice.voided",
        ("sponsorship_invoice", invoice.id),
        before={"status": InvoiceStatus.OPEN.value},
        after={"number": invoice.number, "status": invoice.status.value, "reason": reason},
    )
    return invoice
