"""Stripe's calls read no proxy settings from the environment: they go where the
settings say (straight to Stripe, or through CONSERVANCY_STRIPE_PROXY), whatever
HTTP_PROXY and the like say."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conservancy.infra.config import Settings, SettingsError
from conservancy.money import Currency, Money
from conservancy.payments.stripe_gateway import StripeGateway
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests.giving.conftest import SECRET_KEY, WEBHOOK_SECRET

# Nothing listens on port 1: a call sent there fails at once.
DEAD_PROXY = "http://127.0.0.1:1"
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy")


class RecordingProxy:
    """A forward proxy on 127.0.0.1 that answers every request with an empty balance
    and notes the address each was for."""

    def __init__(self) -> None:
        seen: list[str] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append(self.path)  # a proxy is sent the whole address
                body = json.dumps(
                    {
                        "object": "balance",
                        "livemode": False,
                        "available": [{"amount": 1234, "currency": "usd"}],
                        "pending": [],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy() -> Iterator[RecordingProxy]:
    running = RecordingProxy()
    yield running
    running.close()


@pytest.fixture
def proxies_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every proxy variable requests would read points at nothing; nothing is exempt."""
    for name in PROXY_VARIABLES:
        monkeypatch.setenv(name, DEAD_PROXY)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)


@pytest.mark.usefixtures("proxies_in_the_environment")
def test_a_proxy_in_the_environment_does_not_change_where_stripe_calls_go(
    standin: StandIn,
) -> None:
    gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, standin.url)

    # The stand-in answered: the dead proxy was never asked.
    assert gateway.balance() == [Money.from_minor(0, Currency.USD)]


@pytest.mark.usefixtures("proxies_in_the_environment")
def test_stripe_calls_go_through_the_configured_proxy_and_only_it(
    proxy: RecordingProxy,
) -> None:
    # stripe.invalid cannot be resolved: only a proxy can answer for it.
    gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, "http://stripe.invalid", proxy=proxy.url)

    assert gateway.balance() == [Money.from_minor(1234, Currency.USD)]
    assert proxy.seen == ["http://stripe.invalid/v1/balance"]


@pytest.mark.usefixtures("proxies_in_the_environment")
def test_the_runtime_builds_its_gateway_with_the_proxy_setting(
    runtime: Runtime, proxy: RecordingProxy
) -> None:
    runtime.settings = replace(
        runtime.settings,
        stripe_secret_key=SECRET_KEY,
        stripe_webhook_secret=WEBHOOK_SECRET,
        stripe_api_base="http://stripe.invalid",
        stripe_proxy=proxy.url,
    )

    assert runtime.gateway.balance() == [Money.from_minor(1234, Currency.USD)]
    assert proxy.seen == ["http://stripe.invalid/v1/balance"]


def test_the_proxy_setting_is_read_once_and_checked_without_echoing_it() -> None:
    settings = Settings.from_env({"CONSERVANCY_STRIPE_PROXY": "http://u:pw@proxy.example:3128"})
    assert settings.stripe_proxy == "http://u:pw@proxy.example:3128"
    assert Settings.from_env({}).stripe_proxy is None

    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"CONSERVANCY_STRIPE_PROXY": "socks5://u:hunter2@proxy.example"})
    assert str(refused.value) == "CONSERVANCY_STRIPE_PROXY must look like http://host:port"
    with pytest.raises(SettingsError) as malformed:
        Settings.from_env({"CONSERVANCY_STRIPE_PROXY": "http://u:hunter2@proxy.example:port"})
    assert "hunter2" not in str(malformed.value)
