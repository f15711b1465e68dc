"""Drawing invoices and acknowledgements as PDFs, after the commit that issued them.

Like receipts (conservancy.receipts.issue.render_pending): each document without a
PDF is drawn and stored once under the receipts directory as an immutable file;
its e-mail waits in the mail outbox until the file is there.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.models import Sponsor
from conservancy.projects.service import get_sponsor
from conservancy.receipts import document as receipts
from conservancy.receipts.issue import store
from conservancy.receipts.render import render_pdf, render_template
from conservancy.sponsorships.document import AcknowledgementDocument, InvoiceDocument
from conservancy.sponsorships.models import InvoiceStatus, SponsorshipInvoice
from conservancy.sponsorships.service import (
    acknowledgement_pdf_path,
    invoice_pdf_path,
    pay_url,
    reissued_pdf_path,
)

log = logging.getLogger(__name__)


def benefits(invoice: SponsorshipInvoice) -> tuple[receipts.Benefit, ...]:
    currency = Currency(invoice.currency)
    return tuple(
        receipts.Benefit(str(description), Money.from_minor(int(value), currency))
        for description, value in invoice.benefits
    )


def invoice_document(
    invoice: SponsorshipInvoice,
    sponsor: Sponsor,
    base_url: str,
    reissued_on: date | None = None,
    *,
    contact: str | None = None,
) -> InvoiceDocument:
    """The invoice's content; ``contact`` is the address the company writes to with
    questions, or for the sponsor's bank details."""
    company = invoice.corporate_sponsor
    return InvoiceDocument(
        number=invoice.number,
        issued_on=invoice.issued_on,
        due_on=invoice.due_on,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        sponsor=receipts.Sponsor.of(sponsor, contact=contact),
        company_name=company.company_name,
        contact_name=company.contact_name,
        address=company.address,
        project_name=invoice.project.name,
        level_name=invoice.level_name,
        amount=invoice.amount,
        benefits=benefits(invoice),
        pay_url=pay_url(invoice, base_url),
        cheque_payable_to=sponsor.legal_name,
        reissued_on=reissued_on,
    )


def acknowledgement_document(
    invoice: SponsorshipInvoice, sponsor: Sponsor, *, contact: str | None = None
) -> AcknowledgementDocument:
    assert invoice.paid_on is not None
    assert invoice.paid_by is not None
    company = invoice.corporate_sponsor
    return AcknowledgementDocument(
        number=invoice.number,
        issued_on=invoice.paid_on,
        sponsor=receipts.Sponsor.of(sponsor, contact=contact),
        company_name=company.company_name,
        address=company.address,
        project_name=invoice.project.name,
        level_name=invoice.level_name,
        amount=invoice.amount,
        paid_by=invoice.paid_by.value,
        benefits=benefits(invoice),
    )


def _stamp(day: date) -> datetime:
    """Dated by the document, not the clock, so the same document renders the same."""
    return datetime.combine(day, time(), tzinfo=UTC)


def render_invoice(doc: InvoiceDocument) -> bytes:
    return render_pdf(
        render_template("documents/sponsorships/invoice.html", doc=doc),
        data=json.dumps(doc.data(), indent=2, sort_keys=True),
        name="invoice.json",
        description=f"Invoice {doc.number} (machine-readable)",
        stamp=_stamp(doc.reissued_on or doc.issued_on),
    )


def render_acknowledgement(doc: AcknowledgementDocument) -> bytes:
    return render_pdf(
        render_template("documents/sponsorships/acknowledgement.html", doc=doc),
        data=json.dumps(doc.data(), indent=2, sort_keys=True),
        name="acknowledgement.json",
        description=f"Acknowledgement of {doc.number} (machine-readable)",
        stamp=_stamp(doc.issued_on),
    )


@dataclass(frozen=True)
class RenderResult:
    rendered: int
    failed: int


def render_pending(
    sessions: sessionmaker[Session],
    folder: Path,
    base_url: str,
    limit: int = 200,
    pause: Callable[[], None] | None = None,
    contact: str | None = None,
) -> RenderResult:
    """Draw every invoice and acknowledgement that has no PDF yet, ``pause`` before each,
    with ``contact`` as the address to write to. Safe to run twice."""
    rendered = failed = 0
    with sessions() as session:
        ids = session.scalars(
            select(SponsorshipInvoice.id)
            .where(
                or_(
                    SponsorshipInvoice.pdf_path.is_(None),
                    (SponsorshipInvoice.status == InvoiceStatus.PAID)
                    & SponsorshipInvoice.acknowledgement_pdf_path.is_(None),
                    SponsorshipInvoice.pdf_reissue_due
                    & (
                        (SponsorshipInvoice.status == InvoiceStatus.OPEN)
                        | (SponsorshipInvoice.reminder_step > 0)
                    ),
                )
            )
            .order_by(SponsorshipInvoice.id)
            .limit(limit)
        ).all()
    for invoice_id in ids:
        if pause is not None:
            pause()
        with sessions() as session:
            invoice = session.get(SponsorshipInvoice, invoice_id)
            sponsor = get_sponsor(session)
            if invoice is None or sponsor is None:
                continue
            try:
                if invoice.pdf_path is None:
                    path = invoice_pdf_path(invoice)
                    store(
                        folder,
                        path,
                        render_invoice(
                            invoice_document(invoice, sponsor, base_url, contact=contact)
                        ),
                    )
                    invoice.pdf_path = path
                    rendered += 1
                elif invoice.pdf_reissue_due and (
                    invoice.status is InvoiceStatus.OPEN or invoice.reminder_step > 0
                ):
                    # Its first PDF printed the numbered pay address (before the tokens):
                    # a reissued copy beside it prints the token one, and is sent from now on.
                    # Open invoices only, and any with a reminder (whose mail may wait for
                    # this copy though the invoice was paid or voided since): a closed
                    # invoice has nothing left to pay.
                    path = reissued_pdf_path(invoice)
                    today = clock.accounting_date(clock.now(), ZoneInfo(sponsor.time_zone))
                    document = invoice_document(
                        invoice, sponsor, base_url, reissued_on=today, contact=contact
                    )
                    store(folder, path, render_invoice(document))
                    invoice.pdf_path, invoice.pdf_reissue_due = path, False
                    rendered += 1
                if (
                    invoice.status is InvoiceStatus.PAID
                    and invoice.acknowledgement_pdf_path is None
                ):
                    path = acknowledgement_pdf_path(invoice)
                    store(
                        folder,
                        path,
                        render_acknowledgement(
                            acknowledgement_document(invoice, sponsor, contact=contact)
                        ),
                    )
                    invoice.acknowledgement_pdf_path = path
                    rendered += 1
                session.commit()
            except Exception:
                session.rollback()
                failed += 1
                log.exception("could not draw the documents of invoice %s", invoice_id)
    return RenderResult(rendered, failed)
