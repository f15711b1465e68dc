from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.infra.db import Base
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.models import Project


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
