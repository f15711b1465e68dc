"""What deploy/ ships for production: the gunicorn configuration, the environment file,
and an access log that keeps sign-in tokens and query strings out."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.web.access_log import ACCESS_LOG_FORMAT, RedactingLogger, redact
from conservancy.web.app import build_app

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


class RecordingEnviron(dict[str, str]):
    """An empty environment that notes every variable the settings ask for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_the_example_environment_file_names_every_setting() -> None:
    environ = RecordingEnviron()
    Settings.from_env(environ)
    example = (DEPLOY / "conservancy.env.example").read_text()

    # The test clock is asked for only to be refused outside tests: no deployment sets it.
    production = sorted(environ.asked - {clock.SHIFT_VARIABLE})
    missing = [name for name in production if f"{name}=" not in example]

    assert environ.asked, "the settings asked for nothing"
    assert missing == []


def test_the_example_environment_file_holds_placeholders_not_secrets() -> None:
    lines = (DEPLOY / "conservancy.env.example").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line.startswith("CONSERVANCY_"))

    assert values["CONSERVANCY_SECRET_KEY"].startswith("<")
    assert values["CONSERVANCY_STRIPE_SECRET_KEY"].startswith("<")
    assert values["CONSERVANCY_STRIPE_WEBHOOK_SECRET"].startswith("<")
    assert "<database-password>" in values["CONSERVANCY_DATABASE_URL"]


def test_the_gunicorn_configuration_logs_through_the_redacting_logger() -> None:
    config = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))

    assert config["workers"] >= 3  # two per core plus one
    assert config["timeout"] > 0
    assert config["logger_class"] == "conservancy.web.access_log.RedactingLogger"
    assert config["access_log_format"] == ACCESS_LOG_FORMAT
    assert "%(r)s" not in config["access_log_format"]  # the request line holds the query
    assert "%(q)s" not in config["access_log_format"]


def test_sign_in_tokens_and_query_strings_never_reach_the_log() -> None:
    assert redact("/portal/sign-in/abcDEF123") == "/portal/sign-in/[token]"
    assert redact("/staff/sign-in/link/xyz") == "/staff/sign-in/link/[token]"
    assert redact("/staff/password-reset/s3cret") == "/staff/password-reset/[token]"
    assert redact("https://donate.example.org/portal?token=s3cret") == (
        "https://donate.example.org/portal"
    )
    assert redact("/donate/twisted") == "/donate/twisted"


def test_a_sponsorship_invoices_token_never_reaches_the_log() -> None:
    token = "Xy3_" * 8
    assert redact(f"/donate/twisted/sponsor/{token}") == "/donate/twisted/sponsor/[token]"
    assert redact(f"/donate/twisted/sponsor/{token}/pay") == "/donate/twisted/sponsor/[token]/pay"
    assert redact("/donate/twisted/sponsor") == "/donate/twisted/sponsor"
    assert redact("/admin/sponsorships/invoices/INV-2026-0001") == (
        "/admin/sponsorships/invoices/INV-2026-0001"
    )


class _Response:
    status = "200 OK"
    sent = 12
    headers: list[tuple[str, str]] = []


class _Delta:
    seconds = 0
    microseconds = 1500


def test_the_access_log_line_holds_no_token_cookie_or_query() -> None:
    from gunicorn.config import Config

    logger = RedactingLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/portal/sign-in/s3cret?next=/x",
        "PATH_INFO": "/portal/sign-in/s3cret",
        "QUERY_STRING": "next=/x",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_REFERER": "https://donate.example.org/portal/sign-in/s3cret",
    }
    headers = [("COOKIE", "session=s3cret"), ("X-FORWARDED-FOR", "203.0.113.9")]

    atoms = logger.atoms(_Response(), headers, environ, _Delta())
    line = ACCESS_LOG_FORMAT % atoms + " " + " ".join(str(v) for v in atoms.values())

    assert "s3cret" not in line
    assert "next=" not in line
    assert atoms["{x-forwarded-for}i"] == "203.0.113.9"


def test_behind_a_proxy_the_client_address_is_the_forwarded_one(runtime: Runtime) -> None:
    from dataclasses import replace

    runtime.settings = replace(runtime.settings, proxy_hops=1)
    app: Flask = build_app(None, runtime)

    assert isinstance(app.wsgi_app, ProxyFix)
    seen: list[str | None] = []

    @app.get("/_test/address")
    def _address() -> str:
        from flask import request

        seen.append(request.remote_addr)
        return "ok"

    app.test_client().get("/_test/address", headers={"X-Forwarded-For": "203.0.113.9"})
    assert seen == ["203.0.113.9"]
