"""Receipts as the sponsor's records keep them: one row per number issued.

A receipt is never edited. A refunded or disputed gift gets a voiding notice,
and a partial refund also a replacement receipt; each takes its own number and
names, by ``replaces``, the receipt it voids or replaces (SPEC section 8).
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.donations.models import Donor, Gift
from conservancy.infra.db import Base, YearCounter
from conservancy.money import Currency, Money


class ReceiptKind(StrEnum):
    RECEIPT = "receipt"
    VOIDING = "voiding"  # the notice that an earlier receipt no longer stands
    REPLACEMENT = "replacement"  # what still stands after a partial refund


class ReceiptCounter(YearCounter, Base):
    """The last sequence number issued in a calendar year (see receipts.numbering)."""

    __tablename__ = "receipt_counters"


class Receipt(Base):
    __tablename__ = "receipts"
    __table_args__ = (
        UniqueConstraint("year", "sequence"),
        CheckConstraint("sequence > 0", name="sequence_positive"),
        CheckConstraint(
            "deductible_minor >= 0 AND deductible_minor <= amount_minor", name="deductible_range"
        ),
        # A first receipt stands alone; a voiding notice or a replacement names its receipt.
        CheckConstraint(
            "(kind = 'receipt' AND replaces_id IS NULL)"
            " OR (kind <> 'receipt' AND replaces_id IS NOT NULL)",
            name="replaces_matches_kind",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # "2026-000123": the year and the sequence, as printed.
    number: Mapped[str] = mapped_column(String(16), unique=True)
    year: Mapped[int] = mapped_column(Integer)
    sequence: Mapped[int] = mapped_column(Integer)
    kind: Mapped[ReceiptKind] = mapped_column(
        Enum(
            ReceiptKind,
            name="receipt_kind",
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        )
    )
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    replaces_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    deductible_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    # For a gift in another currency: the US dollar value of ``amount`` that reached the
    # sponsor, at the gift's rate (what a US donor deducts). None for a gift in US dollars.
    settled_minor: Mapped[int | None] = mapped_column(BigInteger)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The accounting date in the sponsor's time zone; its year is the number's year.
    issued_on: Mapped[date] = mapped_column(Date)
    # Why a voiding notice or replacement was issued: "refund", "dispute".
    reason: Mapped[str | None] = mapped_column(String(200))
    pdf_path: Mapped[str | None] = mapped_column(String(300))
    pdf_sha256: Mapped[str | None] = mapped_column(String(64))

    gift: Mapped[Gift] = relationship()
    replaces: Mapped[Receipt | None] = relationship(remote_side=[id])

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.currency))

    @property
    def deductible(self) -> Money:
        return Money.from_minor(self.deductible_minor, Currency(self.currency))

    @property
    def settled(self) -> Money | None:
        """The US dollar value of the amount, for a receipt in another currency."""
        if self.settled_minor is None:
            return None
        return Money.from_minor(self.settled_minor, Currency.USD)


class AnnualStatement(Base):
    """A donor's giving statement for a calendar year: every gift, and the deductible total.

    One per donor and year; the row is written once its PDF is on disk, so a
    run that was interrupted resumes with the donors that have none.
    """

    __tablename__ = "annual_statements"
    __table_args__ = (UniqueConstraint("donor_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"))
    year: Mapped[int] = mapped_column(Integer, index=True)
    gift_count: Mapped[int] = mapped_column(Integer)
    # Per currency, in minor units: {"USD": {"amount": 12500, "deductible": 9500}}.
    totals: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pdf_path: Mapped[str] = mapped_column(String(300))
    pdf_sha256: Mapped[str] = mapped_column(String(64))

    donor: Mapped[Donor] = relationship()
