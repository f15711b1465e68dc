"""Two-factor sign-in: a code after the password, never the same code twice; admins and
bookkeepers must set it up before they can do anything else."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry, Role, StaffUser
from conservancy.staff.totp_keys import TotpKeys
from tests.portal.donor import csrf_token
from tests.staff.people import (
    PASSWORD,
    audit_actions,
    current_code,
    person,
    sign_in,
    signed_in_as,
    submit_code,
    submit_password,
)


def enrol(client: FlaskClient) -> tuple[str, str]:
    """Set up two-factor sign-in as a person does: read the key off the page, type a code.
    Returns the secret and the URI the QR code carries."""
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    secret = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page.text)
    uri = re.search(r'href="(otpauth://[^"]+)"', page.text)
    assert secret
    assert uri
    key = secret.group(1).replace(" ", "")
    answer = client.post(
        "/account/two-factor", data={"code": current_code(key), "csrf_token": csrf_token(page)}
    )
    assert answer.status_code == 200, answer.text  # the recovery codes, shown once
    assert "Your recovery codes" in answer.text
    return key, uri.group(1).replace("&amp;", "&")


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BOOKKEEPER])
def test_admins_and_bookkeepers_must_set_up_two_factor_before_anything_else(
    rt: Runtime, client: FlaskClient, role: Role
) -> None:
    grace = person(rt, "grace@example.org", role, two_factor=False)

    answer = submit_password(client, grace.email, PASSWORD)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/account/two-factor"
    for page in ("/admin/", "/admin/audit", "/treasurer/", "/account/password"):
        held = client.get(page)
        assert held.status_code == 303, page
        assert held.headers["Location"] == "/account/two-factor"
    form = client.get("/account/two-factor")
    assert "Please set it up now" in form.text
    assert "<svg" in form.text

    secret, uri = enrol(client)

    assert uri.startswith("otpauth://totp/Test%20Sponsor%2C%20Inc.:grace@example.org?")
    assert f"secret={secret}" in uri
    assert client.get("/admin/").status_code == 200
    with rt.sessions() as session:
        user = session.get(StaffUser, grace.id)
        assert user is not None
        assert user.totp_secret is not None
        assert TotpKeys.of(rt.settings).open(user.totp_secret) == secret
        assert user.totp_pending_secret is None
    assert audit_actions(rt)[-1] == "two-factor.enrolled"


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.TREASURER])
def test_auditors_and_treasurers_may_set_up_two_factor_but_need_not(
    rt: Runtime, client: FlaskClient, role: Role
) -> None:
    roles = (role, "twisted") if role is Role.TREASURER else role
    alan = person(rt, "alan@example.org", roles)
    sign_in(client, alan)
    assert client.get("/treasurer/").status_code == 200
    assert "Please set it up now" not in client.get("/account/two-factor").text

    secret, _ = enrol(client)
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/treasurer/"))})

    answer = submit_password(client, alan.email, PASSWORD)
    assert answer.headers["Location"] == "/sign-in/code"
    assert signed_in_as(client) is None  # the password alone is not enough now
    assert submit_code(client, current_code(secret, steps_ahead=1)).status_code == 303
    assert signed_in_as(client) == alan.email


def test_a_wrong_enrolment_code_is_refused_by_its_field(rt: Runtime, client: FlaskClient) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(client, grace)
    page = client.get("/account/two-factor")

    answer = client.post(
        "/account/two-factor", data={"code": "000000", "csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 400
    assert 'id="code-error"' in answer.text
    assert "That code does not match" in answer.text
    assert client.get("/admin/").headers["Location"] == "/account/two-factor"


def test_the_code_comes_after_the_password_and_signs_the_user_in(
    rt: Runtime, client: FlaskClient
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None

    answer = submit_password(client, grace.email, PASSWORD)
    assert answer.headers["Location"] == "/sign-in/code"
    assert client.get("/admin/").status_code == 303
    wrong = submit_code(client, "123456" if current_code(grace.secret) != "123456" else "654321")
    assert wrong.status_code == 400
    assert "That code is not right, or was used already." in wrong.text

    right = submit_code(client, current_code(grace.secret))
    assert right.status_code == 303
    assert right.headers["Location"] == "/admin/"
    assert "Signed in as grace@example.org" in client.get("/admin/").text
    assert audit_actions(rt)[-2:] == ["sign-in.failed", "sign-in"]


def test_a_code_used_once_is_refused_the_second_time(rt: Runtime, app: Flask) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None
    code = current_code(grace.secret)
    first, second = app.test_client(), app.test_client()
    submit_password(first, grace.email, PASSWORD)
    assert submit_code(first, code).status_code == 303

    submit_password(second, grace.email, PASSWORD)
    replayed = submit_code(second, code)

    assert replayed.status_code == 400
    assert "was used already" in replayed.text
    assert signed_in_as(second) is None


def test_a_code_from_a_step_before_the_last_used_one_is_refused(rt: Runtime, app: Flask) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None
    submit_password(first := app.test_client(), grace.email, PASSWORD)
    assert submit_code(first, current_code(grace.secret, steps_ahead=1)).status_code == 303

    submit_password(second := app.test_client(), grace.email, PASSWORD)
    assert submit_code(second, current_code(grace.secret)).status_code == 400


def test_wrong_codes_count_toward_the_delays(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None
    wrong = "123456" if current_code(grace.secret) != "123456" else "654321"
    submit_password(client, grace.email, PASSWORD)
    answers = [submit_code(client, wrong).status_code for _ in range(4)]
    assert answers == [400, 400, 400, 400]

    delayed = submit_code(client, wrong)

    assert delayed.status_code == 429
    assert "wait 1 second before trying again" in delayed.text
    assert submit_password(client, grace.email, PASSWORD).status_code == 429


def test_a_password_waits_five_minutes_for_its_code(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None
    submit_password(client, grace.email, PASSWORD)
    page = client.get("/sign-in/code")

    later(timedelta(minutes=5, seconds=1))
    answer = client.post(
        "/sign-in/code",
        data={"code": current_code(grace.secret), "csrf_token": csrf_token(page)},
    )

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/sign-in"
    assert signed_in_as(client) is None


def test_an_admin_resets_a_lost_authenticator_and_the_user_enrols_again(
    rt: Runtime, app: Flask
) -> None:
    admin = person(rt, "root@example.org", Role.ADMIN)
    grace = person(rt, "grace@example.org", Role.BOOKKEEPER)
    sign_in(admins := app.test_client(), admin)
    page = admins.get(f"/admin/users/{grace.id}")

    answer = admins.post(
        f"/admin/users/{grace.id}/two-factor/reset", data={"csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 303
    assert "sets up two-factor sign-in again" in admins.get(answer.headers["Location"]).text
    client = app.test_client()
    assert submit_password(client, grace.email, PASSWORD).headers["Location"] == (
        "/account/two-factor"
    )
    with rt.sessions() as session:
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
        assert entry is not None
        assert entry.action == "sign-in"
        reset = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "user.two-factor-reset")
        ).one()
        assert reset.actor == "root@example.org"
        assert (reset.before or {})["two_factor"] is True
        assert (reset.after or {})["two_factor"] is False
