from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
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

from conservancy.infra.db import Base, str_enum
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.staff.models import StaffUser


class Expense(Base):
    """A payment from a project's fund, booked ``Expenses:<Fund>:<Category>`` against the bank.

    Its ledger ref is ``expense-<id>``; its invoice is a file under the receipts
    directory, named by that ref and its checksum (see expenses.service).
    """

    __tablename__ = "expenses"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    # The fund and account as booked, even if the project's fund is renamed later.
    fund: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(64))
    payee: Mapped[str] = mapped_column(String(200))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    paid_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text, default="")
    invoice_path: Mapped[str] = mapped_column(String(300))
    invoice_sha256: Mapped[str] = mapped_column(String(64))
    invoice_type: Mapped[str] = mapped_column(String(40))
    invoice_size: Mapped[int] = mapped_column(Integer)
    entered_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    project: Mapped[Project] = relationship()

    @property
    def ref(self) -> str:
        return f"expense-{self.id}"

    @property
    def account(self) -> str:
        return f"Expenses:{self.fund}:{self.category}"

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.currency))


class RequestKind(StrEnum):
    REIMBURSEMENT = "reimbursement"  # paid out of pocket, with receipts
    INVOICE = "invoice"  # work done, billed


class RequestStatus(StrEnum):
    FILED = "filed"  # waits for the project's treasurer
    ENDORSED = "endorsed"  # the treasurer approved; waits for the sponsor's staff
    APPROVED = "approved"  # the sponsor approved and booked it as payable; waits to be paid
    REJECTED = "rejected"  # by the treasurer or the sponsor, with a comment
    PAID = "paid"


class SpendingRequest(Base):
    """Someone who spent, or worked, for a project asks to be paid from its fund.

    Filed by a member or treasurer of the project (conservancy.expenses.requests), approved
    by the project's treasurer, then by the sponsor's staff (two of them above the policy's
    threshold). The sponsor's approval books ``Expenses:<Fund>:<Category>`` per line against
    ``Liabilities:Payable:<Fund>`` with ref ``spending-<id>``.
    """

    __tablename__ = "spending_requests"
    __table_args__ = (CheckConstraint("total_minor > 0", name="total_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    fund: Mapped[str] = mapped_column(String(64))
    requester_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    kind: Mapped[RequestKind] = mapped_column(str_enum(RequestKind, "spending_kind"))
    status: Mapped[RequestStatus] = mapped_column(
        str_enum(RequestStatus, "spending_status"), index=True
    )
    payee: Mapped[str] = mapped_column(String(200))  # whom to pay, as the requester wrote
    purpose: Mapped[str] = mapped_column(Text)  # the business purpose
    total_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    filed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    filed_on: Mapped[date] = mapped_column(Date)  # the sponsor's day it was filed
    endorsed_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    endorsed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Above the two-approval threshold, the first of the sponsor's two approvers.
    first_approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    approved_on: Mapped[date | None] = mapped_column(Date)  # the payable's entry date
    rejected_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    comment: Mapped[str] = mapped_column(Text, default="")  # the latest decision's
    # Paid in a payment run: the day, and a cheque's number.
    payment_run_id: Mapped[int | None] = mapped_column(ForeignKey("payment_runs.id"), index=True)
    paid_on: Mapped[date | None] = mapped_column(Date)
    cheque_number: Mapped[int | None] = mapped_column(Integer)

    project: Mapped[Project] = relationship()
    payment_run: Mapped[PaymentRun | None] = relationship(back_populates="requests")
    requester: Mapped[StaffUser] = relationship(foreign_keys=[requester_id])
    lines: Mapped[list[SpendingLine]] = relationship(
        back_populates="request", order_by="SpendingLine.position", cascade="all, delete-orphan"
    )

    @property
    def ref(self) -> str:
        """The ledger ref of the payable its approval books."""
        return f"spending-{self.id}"

    @property
    def paid_ref(self) -> str:
        """The ledger ref of its payment."""
        return f"spending-{self.id}-paid"

    @property
    def number(self) -> str:
        return f"REQ-{self.id}"

    @property
    def total(self) -> Money:
        return Money.from_minor(self.total_minor, Currency(self.currency))


class SpendingLine(Base):
    """One expense of a request: its category, day, amount, and receipt when it has one."""

    __tablename__ = "spending_lines"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("request_id", "position", name="uq_spending_lines_request_position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("spending_requests.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1, 2, ... as filed
    category: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(300))
    spent_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    # The receipt, stored by its content as invoices are (expenses.service); None: none given.
    receipt_path: Mapped[str | None] = mapped_column(String(300))
    receipt_type: Mapped[str | None] = mapped_column(String(40))

    request: Mapped[SpendingRequest] = relationship(back_populates="lines")

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.request.currency))

    @property
    def account(self) -> str:
        return f"Expenses:{self.request.fund}:{self.category}"


class PayMethod(StrEnum):
    ACH = "ach"  # a NACHA file the sponsor's bank takes (conservancy.expenses.nacha)
    CHEQUE = "cheque"  # numbered, from the cheque register
    WIRE = "wire"  # instructions the bookkeeper sends at the bank


class TaxClass(StrEnum):
    """Form W-9, line 3a: what the payee is for federal tax. Corporations get no 1099-NEC."""

    INDIVIDUAL = "individual"  # an individual, a sole proprietor or a single-member LLC
    PARTNERSHIP = "partnership"
    C_CORPORATION = "c-corporation"
    S_CORPORATION = "s-corporation"
    TRUST = "trust"  # a trust or an estate
    LLC_C = "llc-c"  # an LLC taxed as a C corporation
    LLC_S = "llc-s"
    LLC_P = "llc-p"  # an LLC taxed as a partnership


CORPORATIONS = frozenset(
    {TaxClass.C_CORPORATION, TaxClass.S_CORPORATION, TaxClass.LLC_C, TaxClass.LLC_S}
)


class PaymentDetails(Base):
    """How to pay someone who files spending requests, and their Form W-9.

    One row per user, entered by them. The taxpayer identification number and the bank
    account number are sealed with CONSERVANCY_PAYEE_KEYS (conservancy.expenses.payees) and
    never shown again in full: pages show their last four digits, kept beside them.
    """

    __tablename__ = "payment_details"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), unique=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    tax_class: Mapped[TaxClass] = mapped_column(str_enum(TaxClass, "tax_class"))
    tin_kind: Mapped[str] = mapped_column(String(3))  # ssn or ein
    tin_sealed: Mapped[str] = mapped_column(Text)
    tin_last4: Mapped[str] = mapped_column(String(4))
    address: Mapped[str] = mapped_column(Text)
    method: Mapped[PayMethod] = mapped_column(str_enum(PayMethod, "pay_method"))
    routing_number: Mapped[str | None] = mapped_column(String(9))  # ACH and wire
    account_sealed: Mapped[str | None] = mapped_column(Text)
    account_last4: Mapped[str | None] = mapped_column(String(4))
    account_type: Mapped[str | None] = mapped_column(String(10))  # checking or savings
    # The day the payee certified the W-9's statements (under penalties of perjury).
    w9_certified_on: Mapped[date] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), default=clock.now, onupdate=clock.now
    )


class PaymentRun(Base):
    """Approved requests paid together by one method: prepared, then marked paid, which
    books each request's payment once (ref ``spending-<id>-paid``)."""

    __tablename__ = "payment_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    method: Mapped[PayMethod] = mapped_column(str_enum(PayMethod, "pay_method"))
    prepared_by: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    prepared_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    paid_on: Mapped[date | None] = mapped_column(Date)
    paid_by: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))

    requests: Mapped[list[SpendingRequest]] = relationship(
        back_populates="payment_run", order_by="SpendingRequest.id"
    )

    @property
    def number(self) -> str:
        return f"RUN-{self.id}"
