"""Receipt numbers, without gaps, per calendar year: ``2026-000001``, ``2026-000002``, ...

Why there are no gaps: the number is taken *inside the caller's transaction*,
the one that also records the :class:`~conservancy.receipts.models.Receipt`
row. :func:`next_number` bumps the year's row in ``receipt_counters`` and the
bump commits or rolls back together with the receipt. If anything fails before
the commit, the rollback undoes the bump too, and the next transaction is given
the same number again. A database sequence would not do: sequences are never
rolled back, so a failed transaction would burn a number.

Why there are no duplicates under concurrency: the bump is one
``UPDATE ... SET last_number = last_number + 1 ... RETURNING last_number``.
On PostgreSQL the UPDATE takes the row lock that ``SELECT ... FOR UPDATE``
would, and holds it until commit or rollback; a second transaction's UPDATE
waits on it and then increments the committed value (READ COMMITTED re-reads
the row it waited for). On SQLite every transaction here begins with
``BEGIN IMMEDIATE`` (conservancy.db), so writers are serialised anyway.

The year's row is created on first use with ``INSERT ... ON CONFLICT DO
NOTHING``: when two transactions start a year at once, the second insert waits
for the first and then does nothing, and both go on to the UPDATE.

The price of gaplessness is that receipts of one year are numbered one
transaction at a time: take the number late in the transaction, and render
the PDF after the commit, not while holding the lock.
"""

from __future__ import annotations

from sqlalchemy import Executable, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from conservancy.receipts.models import ReceiptCounter


def format_number(year: int, sequence: int) -> str:
    return f"{year:04d}-{sequence:06d}"


def next_number(session: Session, year: int) -> tuple[int, str]:
    """The next sequence of ``year`` and its printed number, e.g. ``(123, "2026-000123")``.

    The counter stays locked until the caller's transaction ends; a rollback
    gives the number back.
    """
    session.execute(_start_year(session, year))
    sequence = session.execute(
        update(ReceiptCounter)
        .where(ReceiptCounter.year == year)
        .values(last_number=ReceiptCounter.last_number + 1)
        .returning(ReceiptCounter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return sequence, format_number(year, sequence)


def _start_year(session: Session, year: int) -> Executable:
    """``INSERT`` the year's counter at 0 unless it is there already."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(ReceiptCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(ReceiptCounter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    raise NotImplementedError(f"receipt numbering does not support {dialect}")
