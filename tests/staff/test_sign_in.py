"""Signing in with a password: the right one lets the user in, anything else is refused
with one message, whoever the address belongs to; from the fifth wrong one on, tries from
that address wait (more in test_sign_in_delays)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Literal

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.runtime import Runtime
from conservancy.staff import passwords
from conservancy.staff.models import AuditEntry, Role, SignInFailure, StaffSession
from tests.portal.donor import csrf_token
from tests.snapshot import snapshot
from tests.staff.people import (
    PASSWORD,
    audit_actions,
    person,
    sign_in,
    signed_in_as,
    submit_password,
    without_token,
)

REFUSED = "That e-mail address and password do not match an account that can sign in."
WAIT = "Too many wrong passwords or codes: wait 1 second before trying again"


def count(rt: Runtime, model: type[object]) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_treasurer_signs_in_with_the_right_password_and_sees_their_projects(
    rt: Runtime, client: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))

    answer = submit_password(client, "  Ada@Example.org ", PASSWORD)

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/treasurer/"
    page = client.get("/treasurer/")
    assert "Signed in as ada@example.org" in page.text
    assert 'href="/treasurer/twisted/"' in page.text
    assert "Sugar Labs" not in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert audit_actions(rt)[-1] == "sign-in"
    assert signed_in_as(client) == ada.email


@pytest.mark.parametrize(
    ("field", "email", "password"),
    [
        ("email", "ada\x00@example.org", PASSWORD),
        ("password", "ada@example.org", PASSWORD + "\x00"),
    ],
)
def test_a_control_character_is_refused_by_its_field_and_nothing_is_written(
    rt: Runtime, client: FlaskClient, field: str, email: str, password: str
) -> None:
    """A NUL in the address used to reach the account lookup: a 500 on PostgreSQL."""
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    before = snapshot(rt)

    page = submit_password(client, email, password)

    assert page.status_code == 400
    assert (
        f'<p class="field-error" id="{field}-error">'
        "This field may not contain control characters, tabs or line breaks.</p>"
    ) in page.text
    assert snapshot(rt) == before  # not even a failed sign-in: the form never got that far
    assert signed_in_as(client) is None


def test_a_wrong_password_and_an_unknown_address_get_the_same_answer(
    rt: Runtime, app: Flask
) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))

    wrong = submit_password(app.test_client(), "ada@example.org", "not the password at all")
    unknown = submit_password(app.test_client(), "nobody@example.org", "not the password at all")

    assert wrong.status_code == unknown.status_code == 400
    assert REFUSED in wrong.text
    assert without_token(wrong).replace("ada@", "X@") == without_token(unknown).replace(
        "nobody@", "X@"
    )
    with rt.sessions() as session:
        failed = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sign-in.failed").order_by("id")
        ).all()
        assert [(e.target_kind, e.after) for e in failed] == [
            ("user", {"reason": "wrong password"}),
            (None, {"reason": "no such user"}),
        ]
    assert count(rt, StaffSession) == 0


def test_an_unknown_address_is_checked_against_a_hash_like_a_known_one(
    rt: Runtime, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """So that it takes as long: argon2 is what takes the time."""
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    hashed: list[str] = []

    class Counting(PasswordHasher):
        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            hashed.append(str(hash))
            return super().verify(hash, password)

    monkeypatch.setattr(passwords, "_hasher", Counting())

    submit_password(client, "nobody@example.org", "not the password at all")
    submit_password(client, "ada@example.org", "not the password at all")

    assert len(hashed) == 2
    assert all(h.startswith("$argon2id$") for h in hashed)


def test_a_deactivated_user_and_one_without_a_password_are_refused_alike(
    rt: Runtime, client: FlaskClient
) -> None:
    person(rt, "new@example.org", (Role.TREASURER, "twisted"), password=None)

    answer = submit_password(client, "new@example.org", "")
    assert answer.status_code == 400
    assert "Please give your password." in answer.text
    answer = submit_password(client, "new@example.org", "anything at all, really")
    assert answer.status_code == 400
    assert REFUSED in answer.text


def test_five_wrong_passwords_make_the_next_try_wait(
    rt: Runtime, app: Flask, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for _ in range(4):
        assert REFUSED in submit_password(client, ada.email, "wrong password, again").text

    fifth = submit_password(client, ada.email, "wrong password, again")
    assert fifth.status_code == 429
    assert WAIT in fifth.text

    # Now even the right password is refused, with the same message.
    right = submit_password(client, ada.email, PASSWORD)
    assert right.status_code == 429
    assert without_token(right) == without_token(fifth)
    assert signed_in_as(client) is None

    later(timedelta(seconds=1))
    assert submit_password(client, ada.email, PASSWORD).status_code == 303
    assert signed_in_as(client) == ada.email
    actions = audit_actions(rt)
    assert actions.count("sign-in.failed") == 5
    assert actions.count("sign-in.delayed") == 1
    assert actions.count("sign-in.refused-waiting") == 1
    assert actions[-1] == "sign-in"


def test_an_unknown_address_is_delayed_like_a_known_one(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    answers = [
        submit_password(client, "nobody@example.org", "wrong password, again") for _ in range(6)
    ]
    assert [a.status_code for a in answers] == [400, 400, 400, 400, 429, 429]
    assert WAIT in answers[-1].text


def test_failures_older_than_a_day_do_not_count(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    for _ in range(4):
        submit_password(client, ada.email, "wrong password, again")
    later(timedelta(hours=24, seconds=1))
    for _ in range(4):
        assert submit_password(client, ada.email, "wrong password, again").status_code == 400

    assert submit_password(client, ada.email, PASSWORD).status_code == 303


def test_a_successful_sign_in_starts_the_count_of_failures_again(rt: Runtime, app: Flask) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for _ in range(4):
        submit_password(client, ada.email, "wrong password, again")
    sign_in(app.test_client(), ada)

    for _ in range(4):
        assert submit_password(client, ada.email, "wrong password, again").status_code == 400
    assert count(rt, SignInFailure) == 4


def test_too_many_tries_from_one_address_are_refused(rt: Runtime, client: FlaskClient) -> None:
    for n in range(30):
        submit_password(client, f"someone{n}@example.org", "wrong password, again")

    answer = submit_password(client, "someone-else@example.org", "wrong password, again")

    assert answer.status_code == 429
    assert "too many sign-in attempts from your connection" in answer.text
    other = submit_password(
        client, "someone-else@example.org", "wrong password, again", remote="10.0.0.9"
    )
    assert other.status_code == 400


def test_a_sign_in_without_its_csrf_token_is_refused_and_writes_nothing(
    rt: Runtime, client: FlaskClient
) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    before = audit_actions(rt)

    answer = client.post("/sign-in", data={"email": "ada@example.org", "password": PASSWORD})

    assert answer.status_code == 400
    assert "This form has expired" in answer.text
    assert signed_in_as(client) is None
    assert audit_actions(rt) == before
    assert count(rt, StaffSession) == 0


def test_signing_in_from_a_page_goes_back_to_it(rt: Runtime, client: FlaskClient) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    asked = client.get("/treasurer/?x=1")
    assert asked.status_code == 303
    assert asked.headers["Location"] == "/sign-in?next=/treasurer/?x%3D1"

    page = client.get(asked.headers["Location"])
    assert 'action="/sign-in?next=' in page.text
    answer = client.post(
        asked.headers["Location"],
        data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/treasurer/?x=1"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil",
        # Browsers drop tabs and line breaks and trim control characters and spaces
        # before reading an address: each of these is //evil.example to them.
        "/\t/evil.example",
        "/\n/evil.example",
        "/\r\n/evil.example",
        " //evil.example",
        "\x00//evil.example",
        "/\t\\evil.example",
    ],
)
def test_signing_in_never_sends_the_user_to_another_site(
    rt: Runtime, client: FlaskClient, target: str
) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    page = client.get("/sign-in", query_string={"next": target})
    answer = client.post(
        "/sign-in",
        query_string={"next": target},
        data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert answer.headers["Location"] == "/treasurer/"


def test_a_line_break_in_the_next_address_signs_in_without_an_error(
    rt: Runtime, client: FlaskClient
) -> None:
    """``next=/%0a/x`` once answered 500 after the session existed; now it goes home."""
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    page = client.get("/sign-in?next=/%0a/x")
    assert page.status_code == 200
    answer = client.post(
        "/sign-in?next=/%0a/x",
        data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/treasurer/"


def test_a_path_with_a_tab_inside_goes_where_the_browser_would(
    rt: Runtime, client: FlaskClient
) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    page = client.get("/sign-in", query_string={"next": "/treasurer/\ttwisted/"})
    answer = client.post(
        "/sign-in",
        query_string={"next": "/treasurer/\ttwisted/"},
        data={"email": "ada@example.org", "password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert answer.headers["Location"] == "/treasurer/twisted/"


def test_the_footer_of_every_page_links_to_staff_sign_in(rt: Runtime, client: FlaskClient) -> None:
    assert 'href="/sign-in">Staff sign-in</a>' in client.get("/").text


def test_signed_in_staff_pages_offer_neither_the_donor_portal_nor_signing_in(
    rt: Runtime, client: FlaskClient
) -> None:
    sign_in(client, person(rt, "ada@example.org", (Role.TREASURER, "twisted")))
    page = client.get("/treasurer/").text
    assert "Signed in as ada@example.org" in page
    assert "Your gifts and receipts" not in page
    assert "Staff sign-in" not in page
    # Signed out, the sign-in page keeps the public frame.
    assert "Your gifts and receipts" in client.get("/").text
