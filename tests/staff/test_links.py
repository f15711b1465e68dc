"""One-time links set a password: an invitation (72 hours) or a reset (one hour, asked
for by e-mail). Each works once; asking for a reset says nothing about who has an
account."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from conservancy.kernel import clock
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.staff import audit
from conservancy.staff.models import Role, StaffToken, TokenPurpose
from conservancy.staff.service import get_user, issue_link
from tests.portal.donor import csrf_token, mails_to
from tests.staff.people import (
    PASSWORD,
    audit_actions,
    current_code,
    person,
    sign_in,
    signed_in_as,
    submit_code,
    submit_password,
    without_token,
)

NEW = "a brand new passphrase"
_RESET = re.compile(r"https?://\S+(/password-reset/[A-Za-z0-9_-]+)")


def ask_for_reset(client: FlaskClient, address: str) -> str:
    page = client.get("/password-reset")
    answer = client.post("/password-reset", data={"email": address, "csrf_token": csrf_token(page)})
    assert answer.status_code == 200, answer.text
    return without_token(answer).replace(address, "ADDRESS")


def reset_links(rt: Runtime, address: str) -> list[str]:
    links = []
    for message in mails_to(rt, address, "staff-reset-*.eml"):
        body = message.get_body(("plain",))
        assert body is not None
        found = _RESET.search(body.get_content())
        assert found, "the reset mail carries no link"
        links.append(found.group(1))
    return links


def set_password(
    client: FlaskClient, link: str, password: str, confirm: str | None = None
) -> TestResponse:
    page = client.get(link)
    assert page.status_code == 200, page.text
    return client.post(
        link,
        data={"password": password, "confirm": confirm or password, "csrf_token": csrf_token(page)},
    )


def mail_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MailMessage)) or 0)


def invitation(rt: Runtime, user_id: int) -> str:
    with rt.sessions() as session:
        link = issue_link(
            session,
            audit.COMMAND_LINE,
            get_user(session, user_id),
            TokenPurpose.INVITE,
            base_url=rt.settings.base_url,
            now=clock.now(),
        )
        session.commit()
    return urlsplit(link).path


def test_a_reset_link_sets_a_new_password_once_and_ends_other_sessions(
    rt: Runtime, app: Flask
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(elsewhere := app.test_client(), ada)
    client = app.test_client()

    ask_for_reset(client, "Ada@Example.org")
    [link] = reset_links(rt, ada.email)
    page = client.get(link)
    assert "Choose a new password" in page.text
    assert "ada@example.org" in page.text
    answer = client.post(
        link, data={"password": NEW, "confirm": NEW, "csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/sign-in"
    assert "Your password is set." in client.get("/sign-in").text
    assert signed_in_as(elsewhere) is None
    assert submit_password(client, ada.email, PASSWORD).status_code == 400
    sign_in(client, replace(ada, password=NEW))
    # The link is used up: a second use changes nothing.
    other = app.test_client()
    again = other.post(
        link,
        data={
            "password": "yet another passphrase",
            "confirm": "yet another passphrase",
            "csrf_token": csrf_token(other.get("/password-reset")),
        },
    )
    assert again.status_code == 400
    assert "expired or was already used" in again.text
    assert app.test_client().get(link).status_code == 400
    assert "password.reset" in audit_actions(rt)


def test_a_password_set_by_link_ends_a_sign_in_still_waiting_for_its_code(
    rt: Runtime, app: Flask
) -> None:
    """Someone who typed the old password and waits at the code page must not get in
    once the owner has set a new one, with a reset link as with an invitation link."""
    grace = person(rt, "grace@example.org", Role.ADMIN)
    assert grace.secret is not None
    halfway = app.test_client()
    typed = submit_password(halfway, grace.email, PASSWORD)
    assert typed.headers["Location"].endswith("/sign-in/code")

    owner = app.test_client()
    ask_for_reset(owner, grace.email)
    [link] = reset_links(rt, grace.email)
    assert set_password(owner, link, NEW).status_code == 303

    answer = submit_code(halfway, current_code(grace.secret))

    assert answer.status_code == 400
    assert "changed after you typed it" in answer.text
    assert signed_in_as(halfway) is None
    # The owner signs in with the new password and a code of the next step.
    sign_in(owner, replace(grace, password=NEW), steps_ahead=1)
    assert signed_in_as(owner) == grace.email

    again = app.test_client()
    submit_password(again, grace.email, NEW)
    assert (
        set_password(app.test_client(), invitation(rt, grace.id), "a third passphrase").status_code
        == 303
    )
    assert submit_code(again, current_code(grace.secret, steps_ahead=2)).status_code == 400
    assert signed_in_as(again) is None
    assert signed_in_as(owner) is None  # and the sessions it began end too


def test_asking_for_a_reset_answers_the_same_for_anyone_and_mails_only_users(
    rt: Runtime, client: FlaskClient
) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))

    known = ask_for_reset(client, "ada@example.org")
    unknown = ask_for_reset(client, "nobody@example.org")

    assert known == unknown
    assert "Check your e-mail" in known
    assert mail_count(rt) == 1
    assert reset_links(rt, "nobody@example.org") == []


def test_a_reset_link_expires_after_an_hour(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    ask_for_reset(client, ada.email)
    [link] = reset_links(rt, ada.email)
    page = client.get(link)

    later(timedelta(minutes=61))

    answer = client.post(
        link, data={"password": NEW, "confirm": NEW, "csrf_token": csrf_token(page)}
    )
    assert answer.status_code == 400
    assert "expired or was already used" in answer.text
    later(timedelta(seconds=1))
    sign_in(client, ada)  # the old password still works


def test_a_refused_new_password_leaves_the_link_usable(rt: Runtime, client: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    ask_for_reset(client, ada.email)
    [link] = reset_links(rt, ada.email)

    short = set_password(client, link, "too short")
    assert short.status_code == 400
    assert "at least 12 characters" in short.text
    mismatch = set_password(client, link, NEW, "something else entirely")
    assert "The two passwords are not the same." in mismatch.text
    own_address = set_password(client, link, "ADA@example.org")
    assert own_address.status_code == 400
    assert "cannot be your e-mail address" in own_address.text

    assert set_password(client, link, NEW).status_code == 303


def test_reset_requests_are_limited_per_address(rt: Runtime, client: FlaskClient) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    for _ in range(3):
        ask_for_reset(client, "ada@example.org")
    page = client.get("/password-reset")

    answer = client.post(
        "/password-reset", data={"email": "ada@example.org", "csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 429
    assert mail_count(rt) == 3


def test_an_invitation_sets_the_first_password_and_then_the_user_signs_in(
    rt: Runtime, client: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), password=None)
    link = invitation(rt, ada.id)
    assert link.startswith("/sign-in/link/")

    page = client.get(link)
    assert "Choose your password" in page.text
    assert set_password(client, link, NEW).status_code == 303

    sign_in(client, replace(ada, password=NEW))
    assert signed_in_as(client) == ada.email
    assert client.get(link).status_code == 400
    assert "password.set" in audit_actions(rt)


def test_an_invitation_lasts_72_hours(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), password=None)
    link = invitation(rt, ada.id)

    later(timedelta(hours=71, minutes=59))
    assert client.get(link).status_code == 200
    later(timedelta(minutes=2))
    assert client.get(link).status_code == 400


def test_a_reset_link_is_no_invitation_and_the_reverse(rt: Runtime, client: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), password=None)
    token = invitation(rt, ada.id).rsplit("/", 1)[1]

    assert client.get(f"/password-reset/{token}").status_code == 400


def test_only_hashes_of_links_are_stored(rt: Runtime) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), password=None)
    token = invitation(rt, ada.id).rsplit("/", 1)[1]
    with rt.sessions() as session:
        stored = session.scalars(select(StaffToken.token_hash)).one()
    assert token not in stored
