from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, DateTime, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from conservancy import clock
from conservancy.db import Base
from conservancy.ledger import entries


class LedgerOutbox(Base):
    """A ledger entry recorded in the same database transaction as the money event
    that caused it, and appended to the books after that transaction commits."""

    __tablename__ = "ledger_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    entry_on: Mapped[date] = mapped_column(Date)
    body: Mapped[str] = mapped_column(Text)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)

    @property
    def entry(self) -> entries.Entry:
        return entries.loads(self.body)
