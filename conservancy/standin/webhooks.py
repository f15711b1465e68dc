"""Signed webhook delivery from a background thread, with Stripe's signature and
switches that make delivery as untidy as Stripe's promises allow.

Stripe signs each attempt: ``Stripe-Signature: t=<unix time>,v1=<hex>`` where
``<hex>`` is HMAC-SHA256, keyed with the endpoint secret, of ``"<t>.<payload>"``.
A delivery succeeds on any 2xx answer; anything else, or no answer, is retried
after a short, growing delay, up to :data:`ATTEMPTS` attempts in all (about
two seconds end to end, so that tests of retries stay quick).

The switches (:class:`Mode`) apply to events emitted after they are set:

- ``duplicate``: every event is delivered twice, as two separate deliveries;
- ``shuffle``: deliveries wait a short window, then leave in random order;
- ``fail_first``: each delivery's first attempt counts as failed without being
  sent, so it is retried.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from conservancy.kernel import clock
from conservancy.standin.objects import Obj

ATTEMPTS = 8
FIRST_DELAY = 0.05  # seconds; doubled after each failure, up to MAX_DELAY
MAX_DELAY = 0.4
SHUFFLE_WINDOW = 0.15
TIMEOUT = 5.0

_random = secrets.SystemRandom()


def sign(payload: str, secret: str, timestamp: int) -> str:
    digest = hmac.new(
        secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class Mode:
    duplicate: bool = False
    shuffle: bool = False
    fail_first: bool = False


@dataclass
class Delivery:
    event_id: str
    event_type: str
    payload: str
    sequence: int
    ready_at: float
    fail_first: bool
    attempts: int = 0
    outcome: str = "pending"  # pending, delivered, gave_up
    statuses: list[int | str] = field(default_factory=list)


class WebhookSender:
    def __init__(self, url: str | None, secret: str) -> None:
        self.url = url
        self.secret = secret
        self.mode = Mode()
        self._queue: list[Delivery] = []
        self._in_flight = 0
        self._done: list[Delivery] = []
        self._sequence = 0
        self._stopping = False
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.url is None or self._thread is not None:
            return
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="standin-webhooks", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=TIMEOUT + 1)
            self._thread = None

    def set_mode(
        self,
        *,
        duplicate: bool | None = None,
        shuffle: bool | None = None,
        fail_first: bool | None = None,
    ) -> Mode:
        with self._changed:
            current = self.mode
            self.mode = Mode(
                duplicate=current.duplicate if duplicate is None else duplicate,
                shuffle=current.shuffle if shuffle is None else shuffle,
                fail_first=current.fail_first if fail_first is None else fail_first,
            )
            return self.mode

    def enqueue(self, event: Obj) -> None:
        if self.url is None:
            return
        payload = json.dumps(event, indent=2)
        with self._changed:
            mode = self.mode
            ready_at = time.monotonic() + (SHUFFLE_WINDOW if mode.shuffle else 0.0)
            for _ in range(2 if mode.duplicate else 1):
                self._sequence += 1
                self._queue.append(
                    Delivery(
                        event_id=event["id"],
                        event_type=event["type"],
                        payload=payload,
                        sequence=self._sequence,
                        ready_at=ready_at,
                        fail_first=mode.fail_first,
                    )
                )
            self._changed.notify_all()

    def wait(self, timeout: float) -> bool:
        """Until every delivery so far succeeded or gave up; False on timeout."""
        with self._changed:
            return self._changed.wait_for(
                lambda: not self._queue and not self._in_flight, timeout=timeout
            )

    def log(self) -> list[dict[str, Any]]:
        """Finished deliveries, in the order they finished (payloads left out)."""
        with self._changed:
            return [
                {k: v for k, v in asdict(d).items() if k not in ("payload", "ready_at")}
                for d in self._done
            ]

    # -- the delivery thread --------------------------------------------------

    def _next(self) -> Delivery | None:
        with self._changed:
            while not self._stopping:
                now = time.monotonic()
                ready = [d for d in self._queue if d.ready_at <= now]
                if ready:
                    if self.mode.shuffle:
                        chosen = _random.choice(ready)
                    else:
                        chosen = min(ready, key=lambda d: d.sequence)
                    self._queue.remove(chosen)
                    self._in_flight += 1
                    return chosen
                soonest = min((d.ready_at for d in self._queue), default=None)
                self._changed.wait(None if soonest is None else max(soonest - now, 0.001))
            return None

    def _run(self) -> None:
        while (delivery := self._next()) is not None:
            delivery.attempts += 1
            if delivery.fail_first and delivery.attempts == 1:
                status: int | str = "failed on purpose (fail_first)"
            else:
                status = self._post(delivery.payload)
            delivery.statuses.append(status)
            with self._changed:
                self._in_flight -= 1
                if isinstance(status, int) and 200 <= status < 300:
                    delivery.outcome = "delivered"
                    self._done.append(delivery)
                elif delivery.attempts >= ATTEMPTS:
                    delivery.outcome = "gave_up"
                    self._done.append(delivery)
                else:
                    delay = min(FIRST_DELAY * 2 ** (delivery.attempts - 1), MAX_DELAY)
                    delivery.ready_at = time.monotonic() + delay
                    self._queue.append(delivery)
                self._changed.notify_all()

    def _post(self, payload: str) -> int | str:
        assert self.url is not None
        target = urlsplit(self.url)
        connection_type = (
            http.client.HTTPSConnection if target.scheme == "https" else http.client.HTTPConnection
        )
        path = (target.path or "/") + (f"?{target.query}" if target.query else "")
        timestamp = int(clock.now().timestamp())
        connection = connection_type(target.netloc, timeout=TIMEOUT)
        try:
            connection.request(
                "POST",
                path,
                body=payload.encode(),
                headers={
                    "Content-Type": "application/json; charset=utf-8",
                    "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                    "Stripe-Signature": sign(payload, self.secret, timestamp),
                },
            )
            response = connection.getresponse()
            response.read()
            return response.status
        except (OSError, http.client.HTTPException) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            connection.close()
