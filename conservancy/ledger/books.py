"""The books as pages see them: a snapshot in memory, current to the last append.

``Books.current()`` never loads the ledger. It catches up on appended entries
(cheap: it reads only the new tail of the app's files) and, when a staff file
has changed, starts one background rebuild and keeps serving the snapshot it
has until the rebuild is done.

Pages list transactions from ``Books.index`` (``ledger.index``), published with
each saved snapshot and caught up from the app files' tails in the same way.

A rebuild runs in a thread of this process (commands, tests), or, with
``isolated=True`` (web workers), in a child process
(``python -m conservancy.ledger.rebuild``): a full load of big books peaks at
gigabytes and stalls every thread of its process, which a worker serving
pages must not do. Children of several workers take turns under a lock, so the
books are loaded once, and each worker then reads the snapshot the child saved.

Once a year is closed (``ledger.years``) these books hold the open years only;
:func:`covering` gives commands the full history's books for a period that
starts earlier. Pages never build those: they send such periods to staff, and
take the closed years' monthly figures (the treasurer's chart of the last 24
months) from the full history's last saved snapshot (:class:`ClosedYears`).
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from conservancy.ledger import snapshot as snap
from conservancy.ledger import years
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.index import BooksLoading as BooksLoading
from conservancy.ledger.index import TransactionIndex

log = logging.getLogger(__name__)


class Books:
    def __init__(self, files: LedgerFiles) -> None:
        self.files = files
        self.index = TransactionIndex(files)
        self._snapshot: snap.Snapshot | None = None
        self._lock = threading.Lock()
        self._rebuild: threading.Thread | None = None
        self._child: subprocess.Popen[bytes] | None = None
        self.isolated = False
        self.last_error: str | None = None
        self.closed = ClosedYears(files)

    def start(self, *, isolated: bool = False) -> None:
        """At start-up: serve the persisted snapshot if it fits, else build in the background."""
        self.isolated = isolated
        saved = snap.load_saved(self.files) if self.files.exists() else None
        if saved is not None:
            with self._lock:
                self._snapshot = snap.catch_up(self.files, saved)
        else:
            self._start_rebuild()

    def load(self) -> snap.Snapshot:
        """Build now and wait (commands and tests). Pages use :meth:`current`."""
        built = snap.build(self.files)
        snap.save(self.files, built)
        with self._lock:
            self._snapshot = built
        return built

    def ready(self) -> snap.Snapshot:
        """Commands: the saved snapshot if it still fits the books, else build now and wait."""
        saved = snap.load_saved(self.files) if self.files.exists() else None
        if saved is None:
            return self.load()
        with self._lock:
            self._snapshot = snap.catch_up(self.files, saved)
            return self._snapshot

    def current(self) -> snap.Snapshot:
        with self._lock:
            self._take_childs_snapshot_locked()
            if self._snapshot is None:
                self._start_rebuild_locked()
                raise BooksLoading("the books are being loaded")
            if snap.stale(self.files, self._snapshot) or not self.index.published():
                self._start_rebuild_locked()
            # Even while a rebuild runs, new gifts show at once.
            self._snapshot = snap.catch_up(self.files, self._snapshot)
            return self._snapshot

    @property
    def rebuilding(self) -> bool:
        thread, child = self._rebuild, self._child
        return (thread is not None and thread.is_alive()) or (
            child is not None and child.poll() is None
        )

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild (tests, start-up in the CLI)."""
        thread, child = self._rebuild, self._child
        if thread is not None:
            thread.join(timeout)
        if child is not None:
            try:
                child.wait(timeout)
            except subprocess.TimeoutExpired:
                return
            with self._lock:
                self._take_childs_snapshot_locked()

    def _start_rebuild(self) -> None:
        with self._lock:
            self._start_rebuild_locked()

    def _start_rebuild_locked(self) -> None:
        if self.rebuilding or not self.files.exists():
            return
        if self.isolated:
            self._child = subprocess.Popen(  # noqa: S603 - our own module, our own interpreter
                [sys.executable, "-m", "conservancy.ledger.rebuild", str(self.files.root)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
            )
            return
        self._rebuild = threading.Thread(
            target=self._run_rebuild, name="books-rebuild", daemon=True
        )
        self._rebuild.start()

    def _take_childs_snapshot_locked(self) -> None:
        """Once the child has finished, serve the snapshot it saved."""
        child = self._child
        if child is None or child.poll() is None:
            return
        self._child = None
        if child.returncode != 0:
            self.last_error = f"rebuilding the books failed (exit {child.returncode})"
            log.error("%s; the last snapshot keeps serving", self.last_error)
            return
        self.last_error = None
        saved = snap.load_saved(self.files)
        if saved is not None:  # else the files changed again meanwhile: the next look rebuilds
            self._snapshot = snap.catch_up(self.files, saved)

    def _run_rebuild(self) -> None:
        try:
            built = snap.build(self.files)
            snap.save(self.files, built)
        except Exception as exc:  # a broken staff file must not take the site down
            log.exception("rebuilding the books snapshot failed")
            self.last_error = str(exc)
            return
        with self._lock:
            self._snapshot = built
            self.last_error = None


def covering(books: Books, first_day: date) -> Books:
    """Commands: ``books`` if they hold ``first_day`` in full, else the full history's books
    (its root written first; call ``ready()`` to build its snapshot and index if stale)."""
    opened = years.first_open_day(books.files)
    if opened is None or first_day >= opened:
        return books
    return Books(years.write_history_root(books.files))


@dataclass(frozen=True)
class Closed:
    """The closed years as the full history's last saved snapshot has them."""

    before: str  # the first open month (``2027-01``): the snapshot speaks for earlier ones
    snapshot: snap.Snapshot


class ClosedYears:
    """For pages: the full history's saved snapshot, never built here.

    The close saves one, and so does every command that reads closed years. Its
    closed months are final: a closed year's files never change, and an entry
    dated in a closed year that arrives later is in the day-to-day books (and in
    the next history snapshot saved). The file is read again only when it changes.
    """

    def __init__(self, files: LedgerFiles) -> None:
        self.files = files
        self._seen: tuple[tuple[int, int, date], Closed | None] | None = None

    def saved(self) -> Closed | None:
        """None while nothing is closed, or no history was saved since the last close."""
        opened = years.first_open_day(self.files)
        history = self.files.as_history()
        path: Path = history.cache_dir / "snapshot.json"
        try:
            st = path.stat()
        except FileNotFoundError:
            return None
        if opened is None:
            return None
        key = (st.st_mtime_ns, st.st_size, opened)
        seen = self._seen
        if seen is not None and seen[0] == key:
            return seen[1]
        found = snap.load_saved(history, fitting=False)
        last_closed = years.closed_year_file(self.files, opened.year - 1)
        closed = None
        if found is not None and self.files.relative(last_closed) in found.watched:
            closed = Closed(snap.month_of(opened), found)
        self._seen = (key, closed)
        return closed
