"""The courier as the tests run it: kicked work is done when a test waits for it.

In the site the courier draws receipt PDFs and sends mail on a thread of its own after each
commit. Most tests never read a receipt or a mail, yet their couriers drew every PDF their
gifts asked for, on a thread competing with the test, and the fixture's close waited for
the last one: about a tenth of the suite's CPU. Here a kick is only remembered; a test that
waits for the courier (``wait_idle``) gets the same passes done in its own thread, and
work no test waited for is dropped when the runtime closes.

The runtime's settler (the Stripe events the webhook stored, ``payments.inbox``) is such a
thread too, and is deferred the same way: a test that delivers a webhook and then reads the
books waits for it first (``rt.settler.wait_idle()``, or ``tests.giving.flows.settle_webhooks``).

A kick is still needed: a test that waits on a courier nobody kicked finds nothing done,
as it would in the site. Tests of the courier's own thread, and of its giving way to
requests, keep the real one (``@pytest.mark.background_courier``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from conservancy.background.courier import Courier

log = logging.getLogger("conservancy.background.courier")


class DeferredCourier(Courier):
    def __init__(self, work: Callable[[], bool], *, name: str = "courier") -> None:
        super().__init__(work, name=name)
        self._kicked = False
        self._working = threading.Lock()

    def kick(self) -> None:
        self._kicked = True

    def wait_idle(self, timeout: float = 30.0) -> bool:
        with self._working:
            while self._kicked:
                self._kicked = False
                try:
                    while self._work():
                        pass
                except Exception:
                    log.exception("%s: a pass failed; the next kick retries", self.name)
        return True

    def finish(self, timeout: float = 30.0) -> bool:
        self._kicked = False
        return True
