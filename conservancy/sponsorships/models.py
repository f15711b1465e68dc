"""Sponsorship levels, corporate sponsors, their requests and their numbered invoices.

A company signing up on the public form makes a request; staff approve it (which
issues the invoice) or decline it, so nobody on the internet books a receivable.
A level's benefits are copied onto each invoice when it is issued: an invoice (and its
acknowledgement) says what was promised then, whatever the level says later. Every
status change of a request or an invoice writes a SponsorshipStatusChange row.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.infra.db import Base, YearCounter, str_enum
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.models import Project


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    VOID = "void"


# The only moves an invoice makes; each is final.
ALLOWED_TRANSITIONS: dict[InvoiceStatus, frozenset[InvoiceStatus]] = {
    InvoiceStatus.OPEN: frozenset({InvoiceStatus.PAID, InvoiceStatus.VOID}),
    InvoiceStatus.PAID: frozenset(),
    InvoiceStatus.VOID: frozenset(),
}


class RequestStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


# A request is decided once: approved (an invoice is issued) or declined.
REQUEST_TRANSITIONS: dict[RequestStatus, frozenset[RequestStatus]] = {
    RequestStatus.PENDING: frozenset({RequestStatus.APPROVED, RequestStatus.DECLINED}),
    RequestStatus.APPROVED: frozenset(),
    RequestStatus.DECLINED: frozenset(),
}


class PaidBy(StrEnum):
    CARD = "card"  # Stripe Checkout (a card, or a bank debit Stripe settles)
    ACH = "ach"  # a transfer straight to the bank, entered by staff
    CHEQUE = "cheque"  # entered by staff


class SponsorshipLevel(Base):
    """What a project offers a corporate sponsor for a year: "Gold", 10,000.00 USD."""

    __tablename__ = "sponsorship_levels"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("annual_minor > 0", name="annual_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    annual_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    project: Mapped[Project] = relationship()
    benefits: Mapped[list[SponsorshipBenefit]] = relationship(
        order_by="SponsorshipBenefit.id", cascade="all, delete-orphan"
    )

    @property
    def annual(self) -> Money:
        return Money.from_minor(self.annual_minor, Currency(self.currency))

    @property
    def benefits_value(self) -> Money:
        total = Money.zero(Currency(self.currency))
        for benefit in self.benefits:
            total = total + benefit.fair_market_value
        return total


class SponsorshipBenefit(Base):
    """One thing a sponsor receives; a logo on the website is usually worth nothing,
    a conference pass is worth its ticket price."""

    __tablename__ = "sponsorship_benefits"
    __table_args__ = (CheckConstraint("value_minor >= 0", name="value_not_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    level_id: Mapped[int] = mapped_column(ForeignKey("sponsorship_levels.id"), index=True)
    description: Mapped[str] = mapped_column(String(200))
    value_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")

    @property
    def fair_market_value(self) -> Money:
        return Money.from_minor(self.value_minor, Currency(self.currency))


class CorporateSponsor(Base):
    """A company that sponsors a project (not the fiscal sponsor: that is projects.Sponsor)."""

    __tablename__ = "corporate_sponsors"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The opaque ref the books name it by (``entity`` metadata), as a donor's.
    ref: Mapped[str] = mapped_column(String(40), unique=True)
    company_name: Mapped[str] = mapped_column(String(200))
    contact_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254), index=True)
    address: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class InvoiceCounter(YearCounter, Base):
    """The last invoice sequence of a calendar year (see sponsorships.numbering)."""

    __tablename__ = "sponsorship_invoice_counters"


class SponsorshipInvoice(Base):
    __tablename__ = "sponsorship_invoices"
    __table_args__ = (
        UniqueConstraint("year", "sequence"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        CheckConstraint(
            "benefits_minor >= 0 AND benefits_minor <= amount_minor", name="benefits_range"
        ),
        CheckConstraint("due_on >= issued_on", name="due_after_issue"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "INV-2026-0001": the year and the sequence, as printed.
    number: Mapped[str] = mapped_column(String(20), unique=True)
    # The unguessable part of the invoice's public address (its page, the card payment):
    # numbers are sequential, so they would let anyone walk through every invoice.
    public_token: Mapped[str] = mapped_column(String(64), unique=True, index=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    corporate_sponsor_id: Mapped[int] = mapped_column(
        ForeignKey("corporate_sponsors.id"), index=True
    )
    level_id: Mapped[int] = mapped_column(ForeignKey("sponsorship_levels.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    level_name: Mapped[str] = mapped_column(String(100))
    fund: Mapped[str] = mapped_column(String(64))
    fee_rate_bp: Mapped[int] = mapped_column(Integer)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # The benefits as promised on the day of issue: [[description, value_minor], ...].
    benefits: Mapped[list[list[str | int]]] = mapped_column(JSON)
    benefits_minor: Mapped[int] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    issued_on: Mapped[date] = mapped_column(Date)
    due_on: Mapped[date] = mapped_column(Date, index=True)
    status: Mapped[InvoiceStatus] = mapped_column(
        str_enum(InvoiceStatus, "sponsorship_invoice_status"), index=True
    )
    paid_by: Mapped[PaidBy | None] = mapped_column(str_enum(PaidBy, "sponsorship_paid_by"))
    paid_on: Mapped[date | None] = mapped_column(Date)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255))
    # A card payment: the charge and its balance transaction (Stripe's fee), once each.
    charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    balance_transaction_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    fee_minor: Mapped[int | None] = mapped_column(BigInteger)
    # A cheque's number or a transfer's reference, as staff entered it.
    payment_reference: Mapped[str | None] = mapped_column(String(100))
    # Reminders sent: the last step of the aging buckets a reminder went out for.
    reminder_step: Mapped[int] = mapped_column(Integer, default=0)
    # Voided by staff while open: why, and the day its books were reversed.
    void_reason: Mapped[str | None] = mapped_column(String(500))
    voided_on: Mapped[date | None] = mapped_column(Date)
    # What card refunds and disputes took back so far (a won dispute gives it back).
    reversed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    pdf_path: Mapped[str | None] = mapped_column(String(300))
    # The PDF at pdf_path may print the pay address made of the number (drawn before the
    # invoice had its token, migration 0015): an open invoice is drawn again, once, as a
    # reissued copy printing the token address (sponsorships.documents.render_pending).
    pdf_reissue_due: Mapped[bool] = mapped_column(Boolean, default=False)
    acknowledgement_pdf_path: Mapped[str | None] = mapped_column(String(300))
    # The year the sponsorship covers: from the day of issue unless staff chose the start.
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date, index=True)
    # The invoice this one renews (sponsorships.renewals); unique, so each is renewed once.
    renews_invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("sponsorship_invoices.id"), unique=True, index=True
    )
    # Staff stopped the renewal of this invoice's sponsorship (the audit log says who).
    renewal_stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    corporate_sponsor: Mapped[CorporateSponsor] = relationship()
    level: Mapped[SponsorshipLevel] = relationship()
    project: Mapped[Project] = relationship()
    history: Mapped[list[SponsorshipStatusChange]] = relationship(
        order_by="SponsorshipStatusChange.id", cascade="all"
    )
    renews: Mapped[SponsorshipInvoice | None] = relationship(
        remote_side="SponsorshipInvoice.id", back_populates="renewal"
    )
    renewal: Mapped[SponsorshipInvoice | None] = relationship(back_populates="renews")

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.currency))

    @property
    def benefits_value(self) -> Money:
        return Money.from_minor(self.benefits_minor, Currency(self.currency))

    @property
    def kept(self) -> Money:
        """What the sponsor paid and was not given back (never below zero: a dispute of the
        whole charge after a partial refund takes back more than the payment, for a time)."""
        return Money.from_minor(
            max(self.amount_minor - self.reversed_minor, 0), Currency(self.currency)
        )

    @property
    def fee(self) -> Money | None:
        return None if self.fee_minor is None else Money.from_minor(self.fee_minor, self.currency)

    @property
    def ref(self) -> str:
        """The issue's ledger ref; its payment's and fee's refs derive from it."""
        return f"sponsorship-{self.number}"

    def change_status(
        self, status: InvoiceStatus, *, by: str, note: str = ""
    ) -> SponsorshipStatusChange:
        """Move to ``status`` if the table allows it, and write the history row."""
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise ValueError(f"invoice {self.number} is {self.status}; it cannot become {status}")
        change = SponsorshipStatusChange(
            from_status=self.status.value, to_status=status.value, changed_by=by, note=note
        )
        self.status = status
        self.history.append(change)
        return change


class SponsorshipRequest(Base):
    """A company's sign-up on the public form, waiting for staff: nothing is booked until
    staff approve it, which issues its invoice (``invoice_id``, once: unique)."""

    __tablename__ = "sponsorship_requests"

    id: Mapped[int] = mapped_column(primary_key=True)
    corporate_sponsor_id: Mapped[int] = mapped_column(
        ForeignKey("corporate_sponsors.id"), index=True
    )
    level_id: Mapped[int] = mapped_column(ForeignKey("sponsorship_levels.id"), index=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "sponsorship_request_status"), index=True
    )
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("sponsorship_invoices.id"), unique=True
    )

    corporate_sponsor: Mapped[CorporateSponsor] = relationship()
    level: Mapped[SponsorshipLevel] = relationship()
    project: Mapped[Project] = relationship()
    invoice: Mapped[SponsorshipInvoice | None] = relationship()
    history: Mapped[list[SponsorshipStatusChange]] = relationship(
        order_by="SponsorshipStatusChange.id", cascade="all"
    )

    def change_status(
        self, status: RequestStatus, *, by: str, note: str = ""
    ) -> SponsorshipStatusChange:
        """Move to ``status`` if the table allows it, and write the history row."""
        if status not in REQUEST_TRANSITIONS[self.status]:
            raise ValueError(f"request {self.id} is {self.status}; it cannot become {status}")
        change = SponsorshipStatusChange(
            from_status=self.status.value, to_status=status.value, changed_by=by, note=note
        )
        self.status = status
        self.history.append(change)
        return change


class SponsorshipStatusChange(Base):
    """One status change of a request or an invoice: when, from what to what, by whom
    (a staff member's e-mail, or what acted: the sign-up form, Stripe, a command)."""

    __tablename__ = "sponsorship_status_changes"
    __table_args__ = (
        CheckConstraint(
            "request_id IS NOT NULL OR invoice_id IS NOT NULL", name="names_request_or_invoice"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int | None] = mapped_column(
        ForeignKey("sponsorship_requests.id"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("sponsorship_invoices.id"), index=True
    )
    # Request and invoice statuses as text (None: it began here).
    from_status: Mapped[str | None] = mapped_column(String(20))
    to_status: Mapped[str] = mapped_column(String(20))
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    changed_by: Mapped[str] = mapped_column(String(254))
    note: Mapped[str] = mapped_column(Text, default="")
