"""What bank reconciliation keeps: the statements imported, each line once, what it matched.

A line is kept once per bank account by its ``bank_id`` (the bank's own id, or a
fingerprint: ``bank.statement``), so importing the same file again or an
overlapping statement adds nothing. An entry of the books is matched to at most
one line (``bank_matches``: unique by account and the entry's key).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
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

from conservancy.infra.db import Base, str_enum
from conservancy.kernel import clock
from conservancy.money import Currency, Money


class LineStatus(StrEnum):
    MATCHED = "matched"  # to entries the books already held
    PROPOSED = "proposed"  # an entry is proposed; a bookkeeper confirms or edits it
    BOOKED = "booked"  # the proposal, confirmed, booked as ``bank-line-<id>``


class BankStatement(Base):
    """One imported statement file for one bank account."""

    __tablename__ = "bank_statements"
    __table_args__ = (UniqueConstraint("account", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(200), index=True)
    format: Mapped[str] = mapped_column(String(20))
    file_name: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    account_number: Mapped[str | None] = mapped_column(String(64))
    currency: Mapped[str] = mapped_column(String(3))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    opening_minor: Mapped[int | None] = mapped_column(BigInteger)
    closing_minor: Mapped[int | None] = mapped_column(BigInteger)
    lines_total: Mapped[int] = mapped_column(Integer)
    lines_new: Mapped[int] = mapped_column(Integer)
    # Set when the books' balance assertion for the closing balance has been recorded.
    asserted: Mapped[bool] = mapped_column(Boolean, default=False)
    imported_by: Mapped[str] = mapped_column(String(254))
    imported_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    @property
    def closing(self) -> Money | None:
        if self.closing_minor is None:
            return None
        return Money.from_minor(self.closing_minor, Currency(self.currency))

    @property
    def opening(self) -> Money | None:
        if self.opening_minor is None:
            return None
        return Money.from_minor(self.opening_minor, Currency(self.currency))

    @property
    def balance_ref(self) -> str:
        """The ref of the closing balance's assertion: one per account and day."""
        return balance_ref(self.account, self.ends_on)


def balance_ref(account: str, end: date) -> str:
    return f"bank-balance-{account.replace(':', '-').lower()}-{end.isoformat()}"


class BankLine(Base):
    """One line of the bank's statements, kept once however often it is imported."""

    __tablename__ = "bank_lines"
    __table_args__ = (
        UniqueConstraint("account", "bank_id"),
        CheckConstraint("amount_minor <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(String(200))
    bank_id: Mapped[str] = mapped_column(String(100))
    statement_id: Mapped[int] = mapped_column(ForeignKey("bank_statements.id"), index=True)
    booked_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    payee: Mapped[str] = mapped_column(String(200), default="")
    memo: Mapped[str] = mapped_column(String(200), default="")
    check_number: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[LineStatus] = mapped_column(str_enum(LineStatus, "bank_line_status"))
    # The proposal (status PROPOSED), as the matcher guessed it or a bookkeeper left it:
    # the other account of the entry, empty when nothing could be guessed.
    proposed_account: Mapped[str] = mapped_column(String(200), default="")
    proposed_narration: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[str | None] = mapped_column(String(254))
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    statement: Mapped[BankStatement] = relationship()
    matches: Mapped[list[BankMatch]] = relationship(
        back_populates="line", order_by="BankMatch.id", cascade="all, delete-orphan"
    )

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.currency))

    @property
    def ref(self) -> str:
        """The ref of the entry a confirmed proposal books."""
        return f"bank-line-{self.id}"

    @property
    def text(self) -> str:
        return " ".join(part for part in (self.payee, self.memo) if part)


class BankMatch(Base):
    """A line matched to one entry of the books (a deposit of several cheques: several)."""

    __tablename__ = "bank_matches"
    __table_args__ = (UniqueConstraint("account", "entry_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("bank_lines.id"), index=True)
    account: Mapped[str] = mapped_column(String(200))
    # The entry's ``ref`` when it has one, else ``at:<file>:<line>:<date>:<amount>``.
    entry_key: Mapped[str] = mapped_column(String(300))
    entry_on: Mapped[date] = mapped_column(Date)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    narration: Mapped[str] = mapped_column(Text, default="")

    line: Mapped[BankLine] = relationship(back_populates="matches")
