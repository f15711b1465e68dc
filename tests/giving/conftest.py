"""Giving needs Stripe: a stand-in per test, a gateway pointed at it, and (for
webhooks) the app served over HTTP so the stand-in can deliver to it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from conservancy import create_app
from conservancy.infra.config import Settings
from conservancy.payments.stripe_gateway import StripeGateway
from conservancy.runtime import Runtime
from conservancy.standin import StandIn

WEBHOOK_SECRET = "whsec_giving_tests"
SECRET_KEY = "sk_test_giving"


class LiveServer:
    """The Flask app on 127.0.0.1 in a thread."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        # Shutting down waits for the loop's next look: every 0.05 s, not the default 0.5.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def standin() -> Iterator[StandIn]:
    with StandIn(webhook_secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def giving_settings(settings: Settings, standin: StandIn) -> Settings:
    return replace(
        settings,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base=standin.url,
    )


@pytest.fixture
def giving_runtime(runtime: Runtime, giving_settings: Settings, standin: StandIn) -> Runtime:
    """The test runtime, its settings and gateway pointed at the stand-in."""
    runtime.settings = giving_settings
    runtime._gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, standin.url)
    return runtime


@pytest.fixture
def giving_app(giving_runtime: Runtime) -> Flask:
    app = create_app(runtime=giving_runtime)
    app.config.update(TESTING=True)
    return app


@pytest.fixture
def live(giving_app: Flask, standin: StandIn) -> Iterator[LiveServer]:
    """The app served over HTTP, with the stand-in delivering webhooks to it."""
    with LiveServer(giving_app) as server:
        standin.deliver_to(f"{server.url}/stripe/webhook")
        giving_app.extensions["conservancy"].settings = replace(
            giving_app.extensions["conservancy"].settings, base_url=server.url
        )
        yield server
