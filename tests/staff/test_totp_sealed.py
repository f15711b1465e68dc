"""Issue 16, finding 9: TOTP secrets are sealed at rest with CONSERVANCY_TOTP_KEYS.

The row holds no secret in clear, signing in with a code works as before, a new key is
rotated in with ``conservancy user rotate-totp-key`` after which the old one can go,
and a wrong or missing key stops start-up with one line naming the variable."""

from __future__ import annotations

import re
import subprocess
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import text

from conservancy import create_app
from conservancy.infra.config import Environment, Settings, SettingsError
from conservancy.runtime import Runtime
from conservancy.staff import totp
from conservancy.staff.models import Role
from conservancy.staff.totp_keys import TotpKeys, new_key
from tests.environment import settings_env
from tests.foundation.test_cli import CONSERVANCY, assert_one_line_failure
from tests.staff.people import PASSWORD, Person, person, sign_in, signed_in_as, submit_password
from tests.staff.test_two_factor import enrol

OLD, NEW = new_key(), new_key()


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, totp_keys=(OLD,))


def stored(rt: Runtime) -> list[str]:
    """Every TOTP secret column of every user, as SQL reads it (not through the models)."""
    with rt.engine.connect() as connection:
        rows = connection.execute(
            text("SELECT totp_secret, totp_pending_secret FROM staff_users ORDER BY id")
        ).all()
    return [value for row in rows for value in row if value is not None]


def in_clear(secret: str, values: list[str]) -> bool:
    return any(secret.lower() in value.lower() for value in values)


def cli(settings: Settings, keys: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSERVANCY), *args],
        env={**settings_env(settings), "CONSERVANCY_TOTP_KEYS": keys},
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )


def make_plain(rt: Runtime, who: Person) -> Person:
    """``who`` with a secret stored in clear, as every secret was before migration 0016."""
    secret = totp.new_secret()
    with rt.engine.begin() as connection:
        connection.execute(
            text("UPDATE staff_users SET totp_secret = :s WHERE id = :id"),
            {"s": secret, "id": who.id},
        )
    return replace(who, secret=secret)


def test_the_database_holds_no_totp_secret_in_clear_and_codes_still_sign_in(
    rt: Runtime, app: Flask
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    client = app.test_client()
    submit_password(client, grace.email, PASSWORD)
    page = client.get("/account/two-factor")
    shown = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page.text)
    assert shown
    assert stored(rt) != []
    assert not in_clear(shown.group(1).replace(" ", ""), stored(rt))  # while enrolling

    secret, _ = enrol(client)

    assert len(stored(rt)) == 1
    assert not in_clear(secret, stored(rt))
    other = app.test_client()
    assert sign_in(other, replace(grace, secret=secret), steps_ahead=1).status_code == 303
    assert signed_in_as(other) == grace.email


def test_rotation_reseals_every_secret_and_then_the_old_key_can_go(
    rt: Runtime, settings: Settings
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    ada = make_plain(rt, person(rt, "ada@example.org", Role.BOOKKEEPER))
    before = stored(rt)

    rotated = cli(settings, f"{NEW},{OLD}", "user", "rotate-totp-key")

    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout == "sealed 2 two-factor secrets with the newest key; 0 were already\n"
    after = stored(rt)
    assert len(after) == 2
    assert set(after).isdisjoint(before)
    assert not in_clear(ada.secret or "", after)
    newest = TotpKeys([NEW])
    assert all(newest.is_current(value) for value in after)
    again = cli(settings, f"{NEW},{OLD}", "user", "rotate-totp-key")
    assert again.stdout == "sealed 0 two-factor secrets with the newest key; 2 were already\n"

    without_old = create_app(settings=replace(settings, totp_keys=(NEW,)))
    for who in (grace, ada):
        client = without_old.test_client()
        assert sign_in(client, who).status_code == 303
        assert signed_in_as(client) == who.email


def test_a_secret_stored_in_clear_is_sealed_at_its_next_sign_in(rt: Runtime, app: Flask) -> None:
    ada = make_plain(rt, person(rt, "ada@example.org", Role.BOOKKEEPER))
    assert in_clear(ada.secret or "", stored(rt))

    assert sign_in(app.test_client(), ada).status_code == 303

    assert not in_clear(ada.secret or "", stored(rt))
    assert TotpKeys([OLD]).is_current(stored(rt)[0])


def test_a_wrong_or_missing_key_stops_start_up_in_one_line_naming_it(
    rt: Runtime, settings: Settings
) -> None:
    person(rt, "grace@example.org", Role.ADMIN)  # enrolled: a secret sealed with OLD

    for wrong in (
        replace(settings, totp_keys=(NEW,)),
        replace(settings, env=Environment.PRODUCTION, totp_keys=()),
    ):
        with pytest.raises(SettingsError) as caught:
            create_app(settings=wrong)
        assert "CONSERVANCY_TOTP_KEYS" in str(caught.value)
        assert "\n" not in str(caught.value)

    line = assert_one_line_failure(cli(settings, NEW, "serve", "--port", "1"))
    assert "CONSERVANCY_TOTP_KEYS opens no stored two-factor secret" in line
    line = assert_one_line_failure(cli(settings, "not-a-key", "serve", "--port", "1"))
    assert "CONSERVANCY_TOTP_KEYS" in line
    assert "not-a-key" not in line
