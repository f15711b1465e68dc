"""The books as pages see them: a snapshot in memory, current to the last append.

``Books.current()`` never loads the ledger. It catches up on appended entries
(cheap: it reads only the new tail of the app's files) and, when a staff file
has changed, starts one background rebuild and keeps serving the snapshot it
has until the rebuild is done.
"""

from __future__ import annotations

import logging
import threading

from conservancy.ledger import snapshot as snap
from conservancy.ledger.files import LedgerFiles

log = logging.getLogger(__name__)


class BooksLoading(Exception):
    """No snapshot yet: the first build is still running."""


class Books:
    def __init__(self, files: LedgerFiles) -> None:
        self.files = files
        self._snapshot: snap.Snapshot | None = None
        self._lock = threading.Lock()
        self._rebuild: threading.Thread | None = None
        self.last_error: str | None = None

    def start(self) -> None:
        """At start-up: serve the persisted snapshot if it fits, else build in the background."""
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

    def current(self) -> snap.Snapshot:
        with self._lock:
            if self._snapshot is None:
                self._start_rebuild_locked()
                raise BooksLoading("the books are being loaded")
            if snap.stale(self.files, self._snapshot):
                self._start_rebuild_locked()
            # Even while a rebuild runs, new gifts show at once.
            self._snapshot = snap.catch_up(self.files, self._snapshot)
            return self._snapshot

    @property
    def rebuilding(self) -> bool:
        thread = self._rebuild
        return thread is not None and thread.is_alive()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild (tests, start-up in the CLI)."""
        thread = self._rebuild
        if thread is not None:
            thread.join(timeout)

    def _start_rebuild(self) -> None:
        with self._lock:
            self._start_rebuild_locked()

    def _start_rebuild_locked(self) -> None:
        if self.rebuilding or not self.files.exists():
            return
        self._rebuild = threading.Thread(
            target=self._run_rebuild, name="books-rebuild", daemon=True
        )
        self._rebuild.start()

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
