"""A tiny local HTTP server that collects the webhooks the stand-in delivers."""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class Receiver:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], str]] = []
        self.refuse_next = 0  # answer this many deliveries with 500
        self._lock = threading.Lock()
        self._server: BaseWSGIServer = make_server(
            "127.0.0.1", 0, self._app, threaded=True, request_handler=_Quiet
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.port}/webhook"

    def _app(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        with self._lock:
            if self.refuse_next > 0:
                self.refuse_next -= 1
                response = Response("try later", 500)
            else:
                self.received.append((dict(request.headers), request.get_data(as_text=True)))
                response = Response("ok", 200)
        return response(environ, start_response)

    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return [json.loads(body) for _, body in self.received]

    def types(self) -> list[str]:
        return [event["type"] for event in self.events()]

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
