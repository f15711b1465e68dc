from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from conservancy.infra.db import Base
from conservancy.kernel import clock
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


class LedgerCheck(Base):
    """One run of ``conservancy ledger check``, for the ledger health page."""

    __tablename__ = "ledger_checks"

    id: Mapped[int] = mapped_column(primary_key=True)
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    transactions: Mapped[int] = mapped_column(Integer)
    refs: Mapped[int] = mapped_column(Integer)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    problem_count: Mapped[int] = mapped_column(Integer)
    # The first problems, one line each (see ledger.health.MAX_PROBLEMS).
    problems: Mapped[list[Any]] = mapped_column(JSON)
