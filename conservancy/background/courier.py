"""Deliveries after the commit, in a background thread of the web process.

A webhook commits a gift (and its receipt and e-mail rows) and answers Stripe
at once; drawing the PDF and sending the mail is :meth:`Runtime.deliver`'s
work, done here, off the request. Every pass starts from the database, so a
kick that is lost (the process stops) loses nothing: the next kick, or
``conservancy receipts deliver``, picks the work up. Two processes' couriers
may run at once; the outbox's claims keep each message to one sender.

The thread is started on the first kick, so under gunicorn it lives in the
worker that kicked it, never in a parent that forks.

It gives way to the requests of its process (:class:`Traffic`): a receipt PDF
costs about five times a webhook's CPU (bench/README.md), and drawn on a
thread of a worker taking a burst of webhooks it slowed every one of them. So
before each document the courier waits until no request has been under way
in its process for a moment; in a burst, the receipts wait for the burst.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Traffic:
    """The requests under way in this process, for work that should wait its turn.

    ``wait_quiet`` returns once no request has been under way for ``quiet`` seconds,
    or after ``longest`` seconds at most, so that a long burst delays the waiting
    work and never starves it. In a process that serves no requests (a worker, a
    command) it returns at once.
    """

    def __init__(
        self,
        quiet: float = 0.2,
        longest: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quiet = quiet
        self.longest = longest
        self._clock = clock
        self._changed = threading.Condition()
        self._under_way = 0
        self._last_end = -math.inf

    @property
    def under_way(self) -> int:
        return self._under_way

    def started(self) -> None:
        with self._changed:
            self._under_way += 1

    def finished(self) -> None:
        with self._changed:
            self._under_way = max(0, self._under_way - 1)
            self._last_end = self._clock()
            self._changed.notify_all()

    def wait_quiet(self) -> None:
        deadline = self._clock() + self.longest
        with self._changed:
            while (now := self._clock()) < deadline:
                if self._under_way:
                    self._changed.wait(deadline - now)
                    continue
                idle = now - self._last_end
                if idle >= self.quiet:
                    return
                self._changed.wait(min(self.quiet - idle, deadline - now))


class Courier:
    """A thread that does a piece of work whenever it is kicked, until the work runs out.

    The web process has two: the courier proper (receipts and mail, ``Runtime.deliver``)
    and the settler (the Stripe events the webhook stored, ``Runtime.settle``). With
    ``every``, it also makes a pass that often while the process lives, for work that
    becomes due without a kick (an event to try again after a failure).
    """

    def __init__(
        self, work: Callable[[], bool], *, name: str = "courier", every: float | None = None
    ) -> None:
        """``work`` does one pass and returns True when there may be more to do."""
        self._work = work
        self.name = name
        self.every = every
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stopping = False

    def kick(self) -> None:
        """Ask for a pass soon; returns at once."""
        with self._lock:
            self._stopping = False
            self._idle.clear()
            self._wake.set()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until every kick so far has been worked off (for tests and shutdown)."""
        return self._idle.wait(timeout)

    def finish(self, timeout: float = 30.0) -> bool:
        """Before the process lets go of its database: let the work kicked so far end, and
        the thread with it (a later kick starts another)."""
        idle = self.wait_idle(timeout)
        with self._lock:
            self._stopping = True
            self._wake.set()
        return idle

    def _run(self) -> None:
        while True:
            self._wake.wait(self.every)
            with self._lock:
                if self._stopping:
                    self._thread = None  # a kick from now on starts another
                    self._idle.set()
                    return
            self._wake.clear()
            try:
                while self._work():
                    pass
            except Exception:
                log.exception("%s: a pass failed; the next kick retries", self.name)
            with self._lock:
                if not self._wake.is_set():
                    self._idle.set()
