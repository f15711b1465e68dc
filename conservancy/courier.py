"""Deliveries after the commit, in a background thread of the web process.

A webhook commits a gift (and its receipt and e-mail rows) and answers Stripe
at once; drawing the PDF and sending the mail is :meth:`Runtime.deliver`'s
work, done here, off the request. Every pass starts from the database, so a
kick that is lost (the process stops) loses nothing: the next kick, or
``conservancy receipts deliver``, picks the work up. Two processes' couriers
may run at once; the outbox's claims keep each message to one sender.

The thread is started on the first kick, so under gunicorn it lives in the
worker that kicked it, never in a parent that forks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class Courier:
    def __init__(self, work: Callable[[], bool]) -> None:
        """``work`` does one pass and returns True when there may be more to do."""
        self._work = work
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def kick(self) -> None:
        """Ask for a pass soon; returns at once."""
        with self._lock:
            self._idle.clear()
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="courier", daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every kick so far has been worked off (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._wake.clear()
            try:
                while self._work():
                    pass
            except Exception:
                log.exception("delivering receipts and mail failed; the next kick retries")
            with self._lock:
                if not self._wake.is_set():
                    self._idle.set()
