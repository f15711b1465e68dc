"""A sponsorship runs for a year; the next year's invoice is issued before it ends.

``conservancy sponsorships renew`` (run it daily) renews each paid invoice whose period
ends within the window (``on`` to ``on`` plus the days ahead), whose sponsorship goes on
(its level and project still active, staff did not stop it, not all of it refunded),
at the level's amount and benefits of today, the new period starting the day after the
old one ends. The invoice is issued, booked and mailed as an approved request's is.

Each renewal is its own transaction: the old invoice's row is locked and re-read, and
``renews_invoice_id`` is unique, so a renewal is issued once however often, or however
many at once, the command runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy.orm import Session, aliased

from conservancy.kernel import clock
from conservancy.money import Money
from conservancy.projects.models import Project
from conservancy.sponsorships.models import InvoiceStatus, SponsorshipInvoice, SponsorshipLevel
from conservancy.sponsorships.service import (
    SponsorshipRefused,
    find_invoice,
    issue_invoice,
)
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

# Who issues renewals, in the status history and the audit log.
RENEW_COMMAND = "conservancy sponsorships renew"


@dataclass(frozen=True)
class Renewal:
    """One invoice renewed: what the command prints."""

    number: str
    renews: str
    company_name: str
    project_name: str
    amount: Money
    period_start: date
    period_end: date


def _renewable() -> ColumnElement[bool]:
    """An invoice whose sponsorship goes on: paid and not all given back, not stopped by
    staff, not renewed yet, its level and project still active."""
    renewal = aliased(SponsorshipInvoice)
    return and_(
        SponsorshipInvoice.status == InvoiceStatus.PAID,
        SponsorshipInvoice.reversed_minor < SponsorshipInvoice.amount_minor,
        SponsorshipInvoice.renewal_stopped_at.is_(None),
        ~select(renewal.id).where(renewal.renews_invoice_id == SponsorshipInvoice.id).exists(),
        SponsorshipLevel.active.is_(True),
        Project.active.is_(True),
    )


def due_for_renewal(session: Session, on: date, days_ahead: int) -> list[int]:
    """The ids of the invoices to renew on ``on``: periods ending within the window."""
    return list(
        session.scalars(
            select(SponsorshipInvoice.id)
            .join(SponsorshipLevel, SponsorshipInvoice.level_id == SponsorshipLevel.id)
            .join(Project, SponsorshipInvoice.project_id == Project.id)
            .where(
                _renewable(),
                SponsorshipInvoice.period_end >= on,
                SponsorshipInvoice.period_end <= on + timedelta(days=days_ahead),
            )
            .order_by(SponsorshipInvoice.period_end, SponsorshipInvoice.id)
        )
    )


def renew_invoice(
    session: Session, invoice_id: int, *, tz: ZoneInfo, base_url: str
) -> Renewal | None:
    """Issue the renewal of ``invoice_id``, or None if it is renewed already or its
    sponsorship stopped meanwhile; flushes, the caller commits."""
    query = (
        select(SponsorshipInvoice)
        .where(SponsorshipInvoice.id == invoice_id)
        .with_for_update(of=SponsorshipInvoice)
        .execution_options(populate_existing=True)
    )
    old = session.scalar(query)
    if old is None:
        return None
    # Re-asked with the row locked: a run that held the lock may have renewed it.
    still = session.scalar(
        select(SponsorshipInvoice.id)
        .join(SponsorshipLevel, SponsorshipInvoice.level_id == SponsorshipLevel.id)
        .join(Project, SponsorshipInvoice.project_id == Project.id)
        .where(SponsorshipInvoice.id == invoice_id, _renewable())
    )
    if still is None:
        return None
    new = issue_invoice(
        session,
        old.corporate_sponsor,
        old.level,
        tz=tz,
        base_url=base_url,
        by=RENEW_COMMAND,
        note=f"renews {old.number}",
        period_start=old.period_end + timedelta(days=1),
        renews=old,
    )
    audit.record(
        session,
        audit.COMMAND_LINE,
        "sponsorship_invoice.renewed",
        ("sponsorship_invoice", new.id),
        after={
            "number": new.number,
            "renews": old.number,
            "amount": str(new.amount),
            "period_start": new.period_start.isoformat(),
            "period_end": new.period_end.isoformat(),
        },
    )
    return Renewal(
        number=new.number,
        renews=old.number,
        company_name=new.corporate_sponsor.company_name,
        project_name=new.project.name,
        amount=new.amount,
        period_start=new.period_start,
        period_end=new.period_end,
    )


def stop_renewal(session: Session, staff: Staff | str, number: str) -> SponsorshipInvoice:
    """Staff stop renewing the sponsorship this invoice is for; audit-logged."""
    invoice = find_invoice(session, number, lock=True)
    session.refresh(invoice)
    if invoice.renewal is not None:
        raise SponsorshipRefused(
            f"Invoice {number} is renewed already, by {invoice.renewal.number}: stop that "
            "one's renewal instead (and void it if it should not stand)."
        )
    if invoice.renewal_stopped_at is not None:
        raise SponsorshipRefused(f"The renewal of invoice {number} is stopped already.")
    invoice.renewal_stopped_at = clock.now()
    session.flush()
    audit.record(
        session,
        staff,
        "sponsorship_invoice.renewal_stopped",
        ("sponsorship_invoice", invoice.id),
        before={"renews": True},
        after={"number": number, "renews": False},
    )
    return invoice
