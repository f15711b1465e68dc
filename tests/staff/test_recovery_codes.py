"""Recovery codes (issue 16, finding 10): shown once when two-factor goes on, each signs
in once in place of an authenticator's code, new ones replace the old, stored hashed."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff import recovery
from conservancy.staff.models import RecoveryCode, Role
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

CODE = re.compile(r"<code>([a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4})</code>")


def turn_on_two_factor(client: FlaskClient) -> list[str]:
    """Enrol as a person does; returns the recovery codes the answer shows."""
    page = client.get("/account/two-factor")
    found = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page.text)
    assert found
    answer = client.post(
        "/account/two-factor",
        data={
            "code": current_code(found.group(1).replace(" ", "")),
            "csrf_token": csrf_token(page),
        },
    )
    assert answer.status_code == 200, answer.text
    assert "Keep these somewhere safe" in answer.text
    return CODE.findall(answer.text)


def test_recovery_codes_are_shown_once_when_two_factor_goes_on(
    rt: Runtime, client: FlaskClient
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(client, grace)

    codes = turn_on_two_factor(client)

    assert len(codes) == 10
    assert len(set(codes)) == 10
    again = client.get("/account/two-factor")
    assert again.status_code == 200
    assert "10 unused recovery codes" in again.text
    assert not any(code in again.text for code in codes)
    assert CODE.findall(again.text) == []


def test_the_database_holds_no_recovery_code_in_clear(rt: Runtime, client: FlaskClient) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(client, grace)
    codes = turn_on_two_factor(client)

    with rt.sessions() as session:
        rows = session.scalars(select(RecoveryCode)).all()
    stored = " ".join(f"{row.code_hash} {row.created_at} {row.used_at}" for row in rows)
    assert len(rows) == 10
    for code in codes:
        assert code not in stored
        assert code.replace("-", "") not in stored


def test_a_recovery_code_signs_in_once_and_is_refused_the_second_time(
    rt: Runtime, app: Flask
) -> None:
    first = app.test_client()
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(first, grace)
    codes = turn_on_two_factor(first)
    first.post("/sign-out", data={"csrf_token": csrf_token(first.get("/admin/"))})

    submit_password(second := app.test_client(), grace.email, PASSWORD)
    used = submit_code(second, codes[3].upper())  # typed as it comes, any case

    assert used.status_code == 303
    assert "9 of your recovery codes remain" in second.get(used.headers["Location"]).text
    assert signed_in_as(second) == grace.email
    assert audit_actions(rt)[-2:] == ["two-factor.recovery-code-used", "sign-in"]

    submit_password(third := app.test_client(), grace.email, PASSWORD)
    replayed = submit_code(third, codes[3])
    assert replayed.status_code == 400
    assert "was used already" in replayed.text
    assert signed_in_as(third) is None
    assert audit_actions(rt)[-1] == "sign-in.failed"


def test_a_wrong_recovery_code_counts_as_a_failure(rt: Runtime, client: FlaskClient) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    submit_password(client, grace.email, PASSWORD)

    wrong = submit_code(client, "abcd-efgh-ijkm")

    assert wrong.status_code == 400
    assert signed_in_as(client) is None
    assert audit_actions(rt)[-1] == "sign-in.failed"


def test_new_recovery_codes_replace_the_old_ones(rt: Runtime, app: Flask) -> None:
    client = app.test_client()
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(client, grace)
    old = turn_on_two_factor(client)
    page = client.get("/account/two-factor")

    made = client.post("/account/two-factor/recovery-codes", data={"csrf_token": csrf_token(page)})

    assert made.status_code == 200
    new = CODE.findall(made.text)
    assert len(new) == 10
    assert not set(new) & set(old)
    assert audit_actions(rt)[-1] == "two-factor.recovery-codes-made"
    assert CODE.findall(client.get("/account/two-factor").text) == []
    submit_password(other := app.test_client(), grace.email, PASSWORD)
    assert submit_code(other, old[0]).status_code == 400
    assert submit_code(other, new[0]).status_code == 303
    assert signed_in_as(other) == grace.email


def test_making_recovery_codes_needs_the_forms_csrf_token(rt: Runtime, client: FlaskClient) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)
    sign_in(client, grace)

    refused = client.post("/account/two-factor/recovery-codes", data={})

    assert refused.status_code == 400
    assert CODE.findall(refused.text) == []


def test_an_admins_two_factor_reset_forgets_the_recovery_codes(rt: Runtime, app: Flask) -> None:
    admin = person(rt, "root@example.org", Role.ADMIN)
    grace = person(rt, "grace@example.org", Role.BOOKKEEPER, two_factor=False)
    sign_in(graces := app.test_client(), grace)
    codes = turn_on_two_factor(graces)
    sign_in(admins := app.test_client(), admin)
    page = admins.get(f"/admin/users/{grace.id}")

    admins.post(f"/admin/users/{grace.id}/two-factor/reset", data={"csrf_token": csrf_token(page)})

    with rt.sessions() as session:
        assert session.scalars(select(RecoveryCode)).all() == []
    assert codes


def test_two_sign_ins_that_both_read_a_code_as_unused_cannot_both_use_it(rt: Runtime) -> None:
    if rt.settings.database_url.startswith("sqlite"):
        pytest.skip("SQLite sessions begin IMMEDIATE: a second writer cannot even start")
    grace = person(rt, "grace@example.org", Role.ADMIN)
    with rt.sessions() as session:
        code = recovery.make_codes(session, grace.id, clock.now())[0]
        session.commit()
    first, second = rt.sessions(), rt.sessions()
    try:
        assert recovery.remaining(first, grace.id) == 10
        assert recovery.remaining(second, grace.id) == 10  # both see it unused

        assert recovery.use(first, grace.id, code, clock.now())
        first.commit()
        assert not recovery.use(second, grace.id, code, clock.now())
        second.commit()
    finally:
        first.close()
        second.close()
    with rt.sessions() as session:
        assert recovery.remaining(session, grace.id) == 9


NO_CODES = "You have no recovery codes."


def test_a_user_enrolled_before_recovery_codes_is_prompted_on_staff_pages_until_they_make_them(
    rt: Runtime, client: FlaskClient
) -> None:
    """Two-factor on, no codes (as everyone who enrolled before migration 0017): signing in
    works as before, and every staff page says so, linking to the page that makes them."""
    grace = person(rt, "grace@example.org", Role.ADMIN)  # enrolled, no codes
    answer = sign_in(client, grace)

    home = client.get(answer.headers["Location"])
    assert home.status_code == 200  # nothing is refused meanwhile
    assert NO_CODES in home.text
    assert 'href="/account/two-factor">Make your recovery codes now</a>' in home.text
    assert NO_CODES in client.get("/admin/users").text
    two_factor = client.get("/account/two-factor")
    assert NO_CODES not in two_factor.text  # the page that makes them says it its own way
    assert "You have 0 unused recovery codes" in two_factor.text

    made = client.post(
        "/account/two-factor/recovery-codes", data={"csrf_token": csrf_token(two_factor)}
    )
    assert made.status_code == 200
    assert len(CODE.findall(made.text)) == 10

    assert NO_CODES not in client.get("/admin/").text
    assert NO_CODES not in client.get("/admin/users").text


def test_users_with_codes_or_without_two_factor_see_no_prompt(rt: Runtime, app: Flask) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    treasurer = app.test_client()
    sign_in(treasurer, ada)
    assert NO_CODES not in treasurer.get("/treasurer/").text

    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    admin = app.test_client()
    sign_in(admin, grace)
    turn_on_two_factor(admin)
    assert NO_CODES not in admin.get("/admin/").text
