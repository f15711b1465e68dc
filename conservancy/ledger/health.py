"""How the books are doing, for the ledger health page: what waits to be posted, what the
last ``conservancy ledger check`` found, and the state of the in-memory snapshot.

Each run of the check is recorded (:func:`record_check`) by the command itself,
so the page shows it without loading the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.ledger.books import Books, BooksLoading
from conservancy.ledger.check import CheckResult
from conservancy.ledger.models import LedgerCheck, LedgerOutbox

# A check that finds thousands of problems keeps the first ones; the command prints all.
MAX_PROBLEMS = 200


def record_check(
    session: Session, result: CheckResult, *, pending: int, at: datetime
) -> LedgerCheck:
    row = LedgerCheck(
        ran_at=at,
        transactions=result.transactions,
        refs=result.refs,
        pending=pending,
        problem_count=len(result.problems),
        problems=[str(p) for p in result.problems[:MAX_PROBLEMS]],
    )
    session.add(row)
    session.flush()
    return row


@dataclass(frozen=True)
class Health:
    pending: int
    oldest_pending: LedgerOutbox | None
    last_check: LedgerCheck | None
    rebuilding: bool
    books_error: str | None
    # None while the first snapshot is still being built.
    transactions: int | None
    snapshot_errors: int | None

    @property
    def healthy(self) -> bool:
        check = self.last_check
        return (
            self.pending == 0
            and self.books_error is None
            and not self.snapshot_errors
            and check is not None
            and check.problem_count == 0
        )


def ledger_health(session: Session, books: Books) -> Health:
    """Read from the database and the snapshot; never loads the ledger."""
    unposted = LedgerOutbox.posted_at.is_(None)
    pending = int(
        session.scalar(select(func.count()).select_from(LedgerOutbox).where(unposted)) or 0
    )
    oldest = session.scalar(select(LedgerOutbox).where(unposted).order_by(LedgerOutbox.id).limit(1))
    last = session.scalar(select(LedgerCheck).order_by(LedgerCheck.id.desc()).limit(1))
    try:
        snapshot = books.current()
    except BooksLoading:
        transactions = errors = None
    else:
        transactions, errors = snapshot.transactions, snapshot.errors
    return Health(
        pending=pending,
        oldest_pending=oldest,
        last_check=last,
        rebuilding=books.rebuilding,
        books_error=books.last_error,
        transactions=transactions,
        snapshot_errors=errors,
    )
