"""Numbers without gaps, per calendar year, for documents a sponsor must number:
receipts (``2026-000123``) and sponsorship invoices (``INV-2026-0001``).

Why there are no gaps: the number is taken *inside the caller's transaction*,
the one that also records the numbered document. :func:`next_sequence` bumps
the year's row of a counter table (a :class:`~conservancy.infra.db.YearCounter`) and
the bump commits or rolls back together with the document. If anything fails
before the commit, the rollback undoes the bump too, and the next transaction
is given the same number again. A database sequence would not do: sequences
are never rolled back, so a failed transaction would burn a number.

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

The price of gaplessness is that one year's documents are numbered one
transaction at a time: take the number late in the transaction, and render
the PDF after the commit, not while holding the lock.
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import Executable, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from conservancy.infra.db import Base, YearCounter

Counter = TypeVar("Counter", bound=YearCounter)


def next_sequence(session: Session, counter: type[Counter], year: int) -> int:
    """The next sequence of ``year`` in ``counter``; the row stays locked until the
    caller's transaction ends, and a rollback gives the number back."""
    session.execute(_start_year(session, counter, year))
    sequence: int = session.execute(
        update(counter)
        .where(counter.year == year)
        .values(last_number=counter.last_number + 1)
        .returning(counter.last_number)
        .execution_options(synchronize_session=False)
    ).scalar_one()
    return sequence


def _start_year(session: Session, counter: type[YearCounter], year: int) -> Executable:
    """``INSERT`` the year's counter at 0 unless it is there already."""
    assert issubclass(counter, Base)
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return (
            postgresql.insert(counter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    if dialect == "sqlite":
        return (
            sqlite.insert(counter)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
    raise NotImplementedError(f"numbering does not support {dialect}")
