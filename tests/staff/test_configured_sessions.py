"""The sponsor sets how long staff sessions last and when failed sign-ins lock an account
(CONSERVANCY_STAFF_*): here a 5-minute idle time, 1-hour sessions, and delays from the 3rd
wrong try on, never longer than 2 minutes, read from the environment as at start-up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.staff.people import PASSWORD, person, sign_in, signed_in_as, submit_password

CONFIGURED = {
    "CONSERVANCY_STAFF_IDLE_MINUTES": "5",
    "CONSERVANCY_STAFF_SESSION_HOURS": "1",
    "CONSERVANCY_STAFF_LOCKOUT_MINUTES": "2",
    "CONSERVANCY_STAFF_LOCKOUT_FAILURES": "3",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings, with the staff variables above as the environment gives them."""
    chosen = Settings.from_env(CONFIGURED)
    return replace(
        settings,
        staff_idle_timeout=chosen.staff_idle_timeout,
        staff_session_lifetime=chosen.staff_session_lifetime,
        staff_lockout_time=chosen.staff_lockout_time,
        staff_lockout_failures=chosen.staff_lockout_failures,
    )


def test_a_session_ends_after_the_configured_idle_minutes(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)

    later(timedelta(minutes=4))
    assert signed_in_as(client) == ada.email
    later(timedelta(minutes=4))
    assert signed_in_as(client) == ada.email  # each request keeps it alive

    later(timedelta(minutes=5))  # far short of the default 30
    page = client.get("/treasurer/")
    assert page.status_code == 303
    assert page.headers["Location"].startswith("/sign-in")
    assert signed_in_as(client) is None


def test_a_session_ends_after_the_configured_hours_however_busy(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)
    for _ in range(14):  # a request every four minutes: 56 minutes
        later(timedelta(minutes=4))
        assert signed_in_as(client) == ada.email

    later(timedelta(minutes=4))

    assert signed_in_as(client) is None


def test_delays_start_after_the_configured_failures_and_never_pass_the_configured_minutes(
    rt: Runtime, app: Flask, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for _ in range(2):
        assert submit_password(client, ada.email, "wrong password, again").status_code == 400
    third = submit_password(client, ada.email, "wrong password, again")
    assert third.status_code == 429
    assert "wait 1 second before" in third.text

    waits = []
    for seconds in (1, 2, 4, 8, 16, 32, 64, 120, 120):
        later(timedelta(seconds=seconds))
        answer = submit_password(client, ada.email, "wrong password, again")
        assert answer.status_code == 429
        waits.append(answer.text.split("wait ", 1)[1].split(" before")[0])

    assert waits == [
        "2 seconds",
        "4 seconds",
        "8 seconds",
        "16 seconds",
        "32 seconds",
        "64 seconds",
        "2 minutes",  # 128 seconds, but never more than the configured 2 minutes
        "2 minutes",
        "2 minutes",
    ]
    later(timedelta(minutes=1, seconds=59))
    assert submit_password(client, ada.email, PASSWORD).status_code == 429
    later(timedelta(seconds=1))
    assert submit_password(client, ada.email, PASSWORD).status_code == 303
    assert signed_in_as(client) == ada.email
