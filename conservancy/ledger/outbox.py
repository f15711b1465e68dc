"""The ledger outbox: how each entry reaches the books exactly once.

1. A service calls :func:`record` inside the database transaction that records
   the money event. The entry's ``ref`` is unique in the outbox table, so a
   second attempt to record the same event fails with the transaction.
2. After the commit, :func:`post_pending` takes the books' exclusive lock and
   appends every pending entry. Under the lock it:

   a. writes a journal naming the files' sizes and the refs about to be appended;
   b. appends each entry and fsyncs;
   c. marks the rows posted and commits;
   d. deletes the journal.

   If the process dies anywhere in (a)-(d), the journal survives it. The next
   writer, before anything else, truncates each file back to the size the
   journal names and marks the journal's refs pending again; then the normal
   path appends them. A torn append is cut off, a complete but unmarked one is
   rewritten identically, and a marked one is neither lost nor doubled.

Everything happens under one ``flock``, so two processes posting at once are
serialised and the second finds nothing left to post. On PostgreSQL the writer
also holds a database advisory lock (:func:`database_writer_lock`) across the
recovery, the append and the marking: app servers on several hosts sharing the
ledger directory over a network filesystem, where ``flock`` may not reach every
host, still post one at a time. ``conservancy ledger
sync`` and app start-up call :func:`post_pending`; closing a year, which must
post its closing entries and move files under one hold of the lock, calls
:func:`post_pending_locked`.

An entry goes to the file of its date's year, except one dated in a year
already closed (or being closed), which goes to the first open year's file
(see ``ledger.years``); closing entries always go to their own year's.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy import Engine, select, text, update
from sqlalchemy.orm import Session, sessionmaker

from conservancy.kernel import clock
from conservancy.ledger import years
from conservancy.ledger.entries import Entry, Open, Transaction, dumps
from conservancy.ledger.files import APP_FILE_HEADER, LedgerFiles, fsync_dir
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.writer import render


def record(session: Session, entry: Entry, *, flush: bool = True) -> LedgerOutbox:
    """Record an entry to be posted once the caller's transaction commits.

    Flushed at once, so that a ref taken already fails here; ``flush=False`` leaves it to
    the caller's next flush, which writes the entries recorded so far in one statement."""
    row = LedgerOutbox(ref=entry.ref, entry_on=entry.date, body=dumps(entry))
    session.add(row)
    if flush:
        session.flush()
    return row


def _checkpoint(step: str) -> None:
    """A named point in the posting protocol; crash tests stop the process here."""


@dataclass(frozen=True)
class PostResult:
    posted: int
    recovered: int


def target_file(files: LedgerFiles, entry: Entry, first_open: int | None = None) -> Path:
    """The file an entry is appended to. ``first_open``: ``years.first_open_year``."""
    if isinstance(entry, Open):
        return files.accounts
    year = entry.date.year
    closing = isinstance(entry, Transaction) and years.is_closing(entry.meta)
    if first_open is not None and year < first_open and not closing:
        year = first_open  # a closed year's file never changes (ledger.years)
    return files.year_file(year)


def post_pending(
    sessions: sessionmaker[Session],
    files: LedgerFiles,
    *,
    after_append: Callable[[], None] | None = None,
) -> PostResult:
    """Append every pending outbox entry to the books. Safe to run any time, any number of times."""
    with writer_lock(sessions, files):
        _checkpoint("locked")
        return post_pending_locked(sessions, files, after_append=after_append)


@contextmanager
def writer_lock(sessions: sessionmaker[Session], files: LedgerFiles) -> Iterator[None]:
    """The books' one writer: the exclusive flock, and on PostgreSQL the database's lock too.

    Whatever changes the application's files (posting, closing a year) holds it.
    """
    with files.lock(), database_writer_lock(sessions):
        yield


def post_pending_locked(
    sessions: sessionmaker[Session],
    files: LedgerFiles,
    *,
    after_append: Callable[[], None] | None = None,
) -> PostResult:
    """:func:`post_pending` for a caller already holding ``files.lock()``."""
    with database_writer_lock(sessions):
        return _post_locked(sessions, files, after_append=after_append)


# pg_advisory_lock's key for "the books' one writer": any fixed 64-bit number no
# other code uses; this one spells "ledger" in ASCII.
WRITER_LOCK_KEY = 0x6C6564676572
# Set while this thread holds it: closing a year posts under the lock it already holds,
# and a second connection asking for the same advisory lock would wait for itself.
_holding: ContextVar[bool] = ContextVar("holding_ledger_writer_lock", default=False)


@contextmanager
def database_writer_lock(sessions: sessionmaker[Session]) -> Iterator[None]:
    """On PostgreSQL, hold the ledger writer's advisory lock; elsewhere do nothing.

    A session-level lock on a connection of its own, so it spans the several
    short transactions of a post. If the process dies the server ends the
    connection and with it the lock, as the kernel does for the flock. SQLite is
    one file on one host: the flock and its own write lock suffice.
    """
    engine = sessions.kw.get("bind")
    if _holding.get() or not isinstance(engine, Engine) or engine.dialect.name != "postgresql":
        yield
        return
    conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": WRITER_LOCK_KEY})
        holding = _holding.set(True)
        try:
            yield
        finally:
            _holding.reset(holding)
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WRITER_LOCK_KEY})
    except BaseException:
        # Never hand a connection that may still hold the lock back to the pool.
        conn.invalidate()
        raise
    finally:
        conn.close()


def _post_locked(
    sessions: sessionmaker[Session],
    files: LedgerFiles,
    *,
    after_append: Callable[[], None] | None = None,
) -> PostResult:
    recovered = _recover(sessions, files)
    with sessions() as session:
        rows = session.scalars(
            select(LedgerOutbox).where(LedgerOutbox.posted_at.is_(None)).order_by(LedgerOutbox.id)
        ).all()
        if not rows:
            return PostResult(0, recovered)
        _append(files, rows)
        _checkpoint("appended")
        session.execute(
            update(LedgerOutbox)
            .where(LedgerOutbox.id.in_([r.id for r in rows]))
            .values(posted_at=clock.now())
        )
        session.commit()
    _checkpoint("marked")
    files.clear_journal()
    if after_append is not None:
        after_append()
    return PostResult(len(rows), recovered)


def pending_count(session: Session) -> int:
    from sqlalchemy import func

    return (
        session.scalar(
            select(func.count()).select_from(LedgerOutbox).where(LedgerOutbox.posted_at.is_(None))
        )
        or 0
    )


def _append(files: LedgerFiles, rows: Sequence[LedgerOutbox]) -> None:
    by_file: dict[Path, list[str]] = defaultdict(list)
    first_open = years.first_open_year(files)
    for row in rows:
        entry = row.entry
        by_file[target_file(files, entry, first_open)].append(render(entry))
    files.write_journal(
        {
            "sizes": {files.relative(p): (p.stat().st_size if p.exists() else 0) for p in by_file},
            "refs": [row.ref for row in rows],
        }
    )
    _checkpoint("journalled")
    for path, texts in by_file.items():
        new = not path.exists() or path.stat().st_size == 0
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            if new:
                os.write(fd, APP_FILE_HEADER.encode())
            for text in texts:
                _write_all(fd, text.encode("utf-8"))
                _checkpoint("wrote-entry")
            os.fsync(fd)
        finally:
            os.close(fd)
        if new:
            fsync_dir(path.parent)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _recover(sessions: sessionmaker[Session], files: LedgerFiles) -> int:
    """Undo an append that a dead writer left half-done; its entries go back to pending."""
    journal = files.read_journal()
    if journal is None:
        return 0
    for rel, size in journal["sizes"].items():
        path = files.root / rel
        if path.exists() and path.stat().st_size > size:
            with path.open("r+b") as fh:
                fh.truncate(size)
                fh.flush()
                os.fsync(fh.fileno())
    refs = list(journal["refs"])
    with sessions() as session:
        session.execute(
            update(LedgerOutbox).where(LedgerOutbox.ref.in_(refs)).values(posted_at=None)
        )
        session.commit()
    files.clear_journal()
    return len(refs)


def is_recorded(session: Session, ref: str) -> bool:
    """Whether an entry with ``ref`` is in the outbox (posted to the books or waiting)."""
    return session.scalar(select(LedgerOutbox.id).where(LedgerOutbox.ref == ref)) is not None


def record_absent(session: Session, entries: Sequence[Entry]) -> int:
    """Record, in their order, those of ``entries`` whose ref is not yet in the outbox (and
    each ref once): one query and one flush, however many. Returns how many were new."""
    wanted: dict[str, Entry] = {}
    for entry in entries:
        wanted.setdefault(entry.ref, entry)
    present = set(session.scalars(select(LedgerOutbox.ref).where(LedgerOutbox.ref.in_(wanted))))
    new = [entry for ref, entry in wanted.items() if ref not in present]
    session.add_all(LedgerOutbox(ref=e.ref, entry_on=e.date, body=dumps(e)) for e in new)
    session.flush()
    return len(new)


def record_if_absent(session: Session, entry: Entry) -> bool:
    """Record an entry unless one with its ref already is (opening accounts twice)."""
    if is_recorded(session, entry.ref):
        return False
    record(session, entry)
    return True


def posted_refs(session: Session, *, since: date | None = None) -> list[str]:
    """The refs marked posted; ``since``: only of entries dated on or after it."""
    query = select(LedgerOutbox.ref).where(LedgerOutbox.posted_at.is_not(None))
    if since is not None:
        query = query.where(LedgerOutbox.entry_on >= since)
    return list(session.scalars(query))
