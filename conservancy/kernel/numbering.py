"""Numbers without gaps, per calendar year, for documents a sponsor must number:
receipts (``2026-000123``) and sponsorship invoices (``INV-2026-0001``).

Why there are no gaps: the number is taken *inside the caller's transaction*,
the one that also records the numbered document. :func:`next_sequence` bumps
the year's row of a counter table (a :class:`~conservancy.infra.db.YearCounter`) and
the bump commits or rolls back together with the document. If anything fails
before the commit, the rollback undoes the bump too, and the next transaction
is given the same number again. A database sequence would not do: sequences
are never rolled back, so a failed transaction would burn a number.

Why there are no duplicates under concurrency: the bump is one statement,
``INSERT (year, 1) ... ON CONFLICT (year) DO UPDATE SET last_number =
last_number + 1 RETURNING last_number``. The year's first number inserts its
row; every later one updates it. On PostgreSQL the update takes the row lock
that ``SELECT ... FOR UPDATE`` would, and holds it until commit or rollback; a
second transaction's bump waits on it and then increments the committed value
(ON CONFLICT DO UPDATE always sees the latest committed row). When two
transactions start a year at once, the second insert waits for the first and,
once it commits, updates its row instead. On SQLite every transaction here
begins with ``BEGIN IMMEDIATE`` (conservancy.db), so writers are serialised
anyway.

The price of gaplessness is that one year's documents are numbered one
transaction at a time: take the number late in the transaction, and render
the PDF after the commit, not while holding the lock.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from conservancy.infra.db import YearCounter

Counter = TypeVar("Counter", bound=YearCounter)


def next_sequence(session: Session, counter: type[Counter], year: int) -> int:
    """The next sequence of ``year`` in ``counter``; the row stays locked until the
    caller's transaction ends, and a rollback gives the number back."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(counter)
    elif dialect == "sqlite":
        insert = sqlite.insert(counter)
    else:
        raise NotImplementedError(f"numbering does not support {dialect}")
    # The year's first number starts its row; any later one bumps it, in the same statement.
    bump = (
        insert.values(year=year, last_number=1)
        .on_conflict_do_update(
            index_elements=["year"], set_={"last_number": counter.last_number + 1}
        )
        .returning(counter.last_number)
    )
    sequence: int = session.execute(bump).scalar_one()
    return sequence
