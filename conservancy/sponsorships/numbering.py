"""Invoice numbers without gaps, per calendar year: ``INV-2026-0001``, ``INV-2026-0002``, ...

The same scheme as receipts (see conservancy.receipts.numbering for the why): the
year's counter row is bumped by one ``UPDATE ... RETURNING`` inside the transaction
that records the invoice, so a rollback gives the number back and a concurrent
issuer waits on the row lock; the row is created with ``INSERT ... ON CONFLICT DO
NOTHING``. Render the PDF after the commit, not while holding the lock.
"""

from __future__ import annotations

from sqlalchemy import Executable, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from conservancy.sponsorships.models import InvoiceCounter


def format_number(year: int, sequence: int) -> str:
    return f"INV-{year:04d}-{sequence:04d}"


def next_number(session: Session, year: int) -> tuple[int, str]:
    """The next sequence of ``year`` and its printed number, e.g. ``(1, "INV-2026-0001")``."""
    session.execute(_start_year(session, year))
    sequence = session.execute(
        update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return sequence, format_number(year, sequence)


def _start_year(session: Session, year: int) -> Executable:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(InvoiceCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(InvoiceCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    raise NotImplementedError(f"invoice numbering does not support {dialect}")
