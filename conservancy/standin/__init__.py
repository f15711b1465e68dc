"""A Stripe stand-in: a small local server speaking the part of Stripe's v1 API
that the application calls, with a hosted checkout page, Stripe's US fee
schedule, idempotency keys, refunds, disputes, subscription renewals, payouts
and signed webhook delivery. Demo and tests use it instead of Stripe.

    standin = StandIn(webhook_url="http://127.0.0.1:5000/stripe/webhook")
    base = standin.start()  # http://127.0.0.1:<port>
    client = stripe.StripeClient("sk_test_x", base_addresses={"api": base})
    ...
    standin.wait_for_webhooks(5)
    standin.stop()

It listens on 127.0.0.1 only and keeps everything in memory; with ``state_file``
it also keeps it in that file, and a stand-in started on the same file goes on
where the last one stopped (see ``standin.state``).
"""

from __future__ import annotations

import socket
import threading
from collections import Counter
from pathlib import Path
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from conservancy.standin.api import StandInApp, check_latency
from conservancy.standin.state import StateFileError, Store
from conservancy.standin.webhooks import Mode, WebhookSender

__all__ = ["Mode", "StandIn", "StateFileError"]

HOST = "127.0.0.1"


class _QuietHandler(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class StandIn:
    def __init__(
        self,
        port: int = 0,
        webhook_url: str | None = None,
        webhook_secret: str = "whsec_standin",  # noqa: S107 - a test secret, shared by design
        *,
        log_requests: bool = False,
        state_file: Path | None = None,
        latency_ms: int = 0,
    ) -> None:
        """``latency_ms``: how long each API call waits before it is answered (see
        conservancy.standin.api), from 0 to a minute; ValueError otherwise."""
        self.port = port
        self.latency_ms = check_latency(latency_ms)
        self.state_file = state_file
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.log_requests = log_requests
        self.webhooks = WebhookSender(webhook_url, webhook_secret)
        self._store: Store | None = None
        self._app: StandInApp | None = None
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        if self._store is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        return self._store.base_url

    @property
    def store(self) -> Store:
        if self._store is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        return self._store

    def start(self) -> str:
        """Listen on 127.0.0.1 (``port=0`` picks a free port) and serve from a thread,
        after taking up the state file's memory, if there is one."""
        if self._server is not None:
            return self.url
        # Bind here rather than in werkzeug, which exits the process when the
        # port is taken; an OSError is the caller's to handle.
        listener = socket.create_server((HOST, self.port))
        try:
            port = listener.getsockname()[1]
            base_url = f"http://{HOST}:{port}"
            store = Store(
                base_url=base_url,
                on_event=self.webhooks.enqueue,
                pending_webhooks=1 if self.webhook_url else 0,
                state_file=self.state_file,
            )
            store.load()  # StateFileError: the file is there but unreadable
            self._store = store
            app = self._app = StandInApp(self._store, self.webhooks, self.latency_ms)
            self._server = make_server(
                HOST,
                port,
                app,
                threaded=True,
                request_handler=WSGIRequestHandler if self.log_requests else _QuietHandler,
                fd=listener.fileno(),
            )
        finally:
            listener.close()  # the server holds its own duplicate of the socket
        self.port = port
        self.webhooks.start()
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return base_url

    def deliver_to(self, webhook_url: str) -> None:
        """Send webhooks to ``webhook_url`` from now on (for an app started after us)."""
        self.webhook_url = webhook_url
        self.webhooks.url = webhook_url
        if self._store is not None:
            self._store.pending_webhooks = 1
        self.webhooks.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.webhooks.stop()
        self._server = None
        self._thread = None

    def serve_forever(self) -> None:
        """Block until interrupted (the CLI's foreground mode)."""
        if self._thread is None:
            self.start()
        assert self._thread is not None
        while self._thread.is_alive():
            self._thread.join(timeout=0.5)

    def wait_for_webhooks(self, timeout: float = 10.0) -> bool:
        """Until every queued delivery succeeded or gave up; False if time ran out."""
        return self.webhooks.wait(timeout)

    def api_calls(self) -> Counter[str]:
        """The API calls answered so far, by method and path (``GET /v1/charges/ch_…``)."""
        if self._app is None:
            raise RuntimeError("the stand-in is not running; call start() first")
        with self.store.lock:
            return Counter(self._app.api_calls)

    def records(self) -> dict[str, Any]:
        """The stand-in's own ledger: charges, refunds, disputes, payouts, balance transactions."""
        return self.store.records()

    def webhook_log(self) -> list[dict[str, Any]]:
        return self.webhooks.log()

    def __enter__(self) -> StandIn:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
