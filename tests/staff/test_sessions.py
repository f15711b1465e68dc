"""A staff session ends after 30 idle minutes, after 12 hours in any case, and when its
user signs out, changes their password or is deactivated. A cookie kept from before
is worth nothing then: the session is ended on the server."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.runtime import Runtime
from conservancy.staff.models import Role, StaffSession
from tests.portal.donor import csrf_token
from tests.staff.people import PASSWORD, person, sign_in, signed_in_as, submit_password


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding the same session cookie (say, a stolen one)."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    other = app.test_client()
    other.set_cookie("session", cookie.value)
    return other


def test_a_session_ends_after_thirty_idle_minutes(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)

    later(timedelta(minutes=29))
    assert signed_in_as(client) == ada.email
    later(timedelta(minutes=29))
    assert signed_in_as(client) == ada.email  # each request keeps it alive

    later(timedelta(minutes=30))
    page = client.get("/treasurer/")
    assert page.status_code == 303
    assert page.headers["Location"].startswith("/sign-in")
    later(timedelta(seconds=1))
    assert signed_in_as(client) is None  # ended for good, not only for that request


def test_a_session_ends_twelve_hours_after_signing_in_however_busy(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)
    for _ in range(47):  # a request every quarter of an hour: 11 h 45 min
        later(timedelta(minutes=15))
        assert signed_in_as(client) == ada.email

    later(timedelta(minutes=15))

    assert signed_in_as(client) is None


def test_signing_out_ends_the_session_on_the_server(rt: Runtime, app: Flask) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    sign_in(client, ada)
    kept = copy_of(app, client)
    assert signed_in_as(kept) == ada.email

    answer = client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/treasurer/"))})

    assert answer.status_code == 303
    assert "You are signed out." in client.get(answer.headers["Location"]).text
    assert signed_in_as(client) is None
    assert signed_in_as(kept) is None
    with rt.sessions() as session:
        assert session.scalars(select(StaffSession.ended_at)).one() is not None


def test_signing_out_without_the_csrf_token_is_refused(rt: Runtime, client: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)

    assert client.post("/sign-out").status_code == 400
    assert signed_in_as(client) == ada.email


def test_only_a_hash_of_the_session_id_is_stored(rt: Runtime, client: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)
    with client.session_transaction() as cookie:
        token = cookie["staff_session"]
    with rt.sessions() as session:
        stored = session.scalars(select(StaffSession.id_hash)).one()
    assert token not in stored
    assert len(stored) == 64


def test_changing_the_password_ends_the_other_sessions_but_not_this_one(
    rt: Runtime, app: Flask
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    here, elsewhere = app.test_client(), app.test_client()
    sign_in(here, ada)
    sign_in(elsewhere, ada)
    page = here.get("/account/password")
    new = "a different long passphrase"

    answer = here.post(
        "/account/password",
        data={"current": PASSWORD, "password": new, "confirm": new, "csrf_token": csrf_token(page)},
    )

    assert answer.status_code == 303
    assert signed_in_as(here) == ada.email
    assert signed_in_as(elsewhere) is None
    fresh = app.test_client()
    sign_in(fresh, replace(ada, password=new))
    assert signed_in_as(fresh) == ada.email


def test_a_password_change_with_a_wrong_current_password_changes_nothing(
    rt: Runtime, client: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client, ada)
    page = client.get("/account/password")
    new = "a different long passphrase"

    answer = client.post(
        "/account/password",
        data={
            "current": "not it at all",
            "password": new,
            "confirm": new,
            "csrf_token": csrf_token(page),
        },
    )

    assert answer.status_code == 400
    assert 'id="current-error"' in answer.text
    again = client.post(
        "/account/password",
        data={
            "current": PASSWORD,
            "password": ada.email,
            "confirm": ada.email,
            "csrf_token": csrf_token(page),
        },
    )
    assert again.status_code == 400
    assert "cannot be your e-mail address" in again.text
    assert signed_in_as(client) == ada.email


def test_deactivating_a_user_ends_their_sessions(rt: Runtime, app: Flask) -> None:
    admin = person(rt, "root@example.org", Role.ADMIN)
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(admins := app.test_client(), admin)
    sign_in(adas := app.test_client(), ada)
    page = admins.get(f"/admin/users/{ada.id}")

    answer = admins.post(
        f"/admin/users/{ada.id}/active", data={"active": "0", "csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 303
    assert signed_in_as(adas) is None
    refused = submit_password(app.test_client(), ada.email, PASSWORD)
    assert refused.status_code == 400
    assert "do not match an account that can sign in" in refused.text
