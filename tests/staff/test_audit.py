"""The audit log: every change and sign-in, newest first, for staff to read; never a
password, a link or a secret in it."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.runtime import Runtime
from conservancy.staff import audit
from conservancy.staff.models import AuditEntry, Role, StaffToken, StaffUser
from tests.portal.donor import csrf_token, mails_to
from tests.staff.people import PASSWORD, current_code, person, sign_in, submit_password


def test_record_keeps_who_what_target_and_before_and_after(rt: Runtime) -> None:
    admin = person(rt, "root@example.org", Role.ADMIN)
    at = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with rt.sessions() as session:
        user = session.get(StaffUser, admin.id)
        audit.record(
            session,
            user,
            "project.renamed",
            ("project", 7),
            before={"name": "Twisted"},
            after={"name": "Twisted Matrix"},
            at=at,
        )
        session.commit()
        entry = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert entry is not None
    assert (entry.actor_id, entry.actor, entry.action) == (admin.id, admin.email, "project.renamed")
    assert (entry.target_kind, entry.target_id) == ("project", "7")
    assert (entry.before, entry.after) == ({"name": "Twisted"}, {"name": "Twisted Matrix"})


@pytest.mark.parametrize(
    "values",
    [
        {"password": "hunter2"},
        {"password_hash": "$argon2id$..."},
        {"token": "abc"},
        {"totp_secret": "ABCD"},
        {"user": {"reset_token": "abc"}},
    ],
)
def test_record_refuses_anything_that_looks_like_a_secret(
    rt: Runtime, values: dict[str, object]
) -> None:
    with rt.sessions() as session, pytest.raises(ValueError, match="never holds secrets"):
        audit.record(session, audit.COMMAND_LINE, "user.changed", ("user", 1), after=values)


def test_no_password_link_or_secret_reaches_the_log(rt: Runtime, app: Flask) -> None:
    """A day of staff work: a failed and a good sign-in, enrolment, a reset, a new user."""
    admin = person(rt, "root@example.org", Role.ADMIN, two_factor=False)
    client = app.test_client()
    submit_password(client, admin.email, "wrong password typed here")
    sign_in(client, admin)
    page = client.get("/account/two-factor")
    found = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page.text)
    assert found
    secret = found.group(1).replace(" ", "")
    client.post(
        "/account/two-factor", data={"code": current_code(secret), "csrf_token": csrf_token(page)}
    )
    added = client.post(
        "/admin/users",
        data={
            "email": "ada@example.org",
            "name": "Ada",
            "role": "treasurer",
            "project": "twisted",
            "delivery": "show",
            "csrf_token": csrf_token(client.get("/admin/users")),
        },
    )
    link = re.search(r"/sign-in/link/([A-Za-z0-9_-]+)", added.text)
    assert link
    other = app.test_client()
    other.post(
        "/password-reset",
        data={"email": admin.email, "csrf_token": csrf_token(other.get("/password-reset"))},
    )
    [mail] = mails_to(rt, admin.email, "staff-reset-*.eml")
    body = mail.get_body(("plain",))
    assert body is not None
    reset = re.search(r"/password-reset/([A-Za-z0-9_-]+)", body.get_content())
    assert reset

    with rt.sessions() as session:
        log = json.dumps(
            [
                [e.actor, e.action, e.target_kind, e.target_id, e.before, e.after]
                for e in session.scalars(select(AuditEntry))
            ]
        )
        hashes = list(session.scalars(select(StaffToken.token_hash)))
        user = session.get(StaffUser, admin.id)
        assert user is not None
        assert user.password_hash is not None
        stored_hash = user.password_hash
    for secret_text in [
        PASSWORD,
        "wrong password typed here",
        secret,
        link.group(1),
        reset.group(1),
        stored_hash,
        *hashes,
    ]:
        assert secret_text not in log
    for action in [
        "sign-in.failed",
        "sign-in",
        "two-factor.enrolled",
        "user.added",
        "link.invite-issued",
        "link.reset-issued",
    ]:
        assert f'"{action}"' in log


def add_entries(rt: Runtime, count: int, actor: str = audit.COMMAND_LINE) -> None:
    start = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    with rt.sessions() as session:
        for n in range(count):
            audit.record(
                session,
                actor,
                f"test.entry-{n}",
                ("thing", n),
                at=start + timedelta(minutes=n),
            )
        session.commit()


def test_the_log_is_newest_first_fifty_a_page(rt: Runtime, app: Flask) -> None:
    sign_in(client := app.test_client(), person(rt, "alan@example.org", Role.AUDITOR))
    add_entries(rt, 60)

    first = client.get("/admin/audit")
    second = client.get("/admin/audit?page=2")

    assert first.status_code == 200
    assert "62 entries, newest first; page 1 of 2" in first.text
    # The auditor's being added and signing in are today's; the sixty are from May.
    assert first.text.index("<td>sign-in ") < first.text.index("<td>test.entry-59 ")
    assert re.findall(r"test\.entry-(\d+)", first.text) == [str(n) for n in range(59, 11, -1)]
    assert re.findall(r"test\.entry-(\d+)", second.text) == [str(n) for n in range(11, -1, -1)]
    assert 'href="/admin/audit?page=2"' in first.text
    assert "2026-05-01 08:00 EDT" in second.text  # in the sponsor's time zone, named


def test_the_log_shows_what_changed_as_typed_escaped_for_the_page(rt: Runtime, app: Flask) -> None:
    """A name with markup in it reads as typed: neither run as HTML nor as \\u003c escapes."""
    sign_in(client := app.test_client(), person(rt, "alan@example.org", Role.AUDITOR))
    with rt.sessions() as session:
        audit.record(
            session,
            audit.COMMAND_LINE,
            "project.renamed",
            ("project", 7),
            before={"name": "Twisted"},
            after={"name": "<b>Twisted</b> & Café"},
        )
        session.commit()

    page = client.get("/admin/audit").text

    assert "&lt;b&gt;Twisted&lt;/b&gt; &amp; Café" in page  # escaped once, for the page
    assert '"Twisted" → "<b>Twisted</b> & Café"' in html.unescape(page)  # what one reads
    assert "u003c" not in page
    assert "<b>Twisted</b>" not in page


def test_the_log_can_be_shown_for_one_user(rt: Runtime, app: Flask) -> None:
    auditor = person(rt, "alan@example.org", Role.AUDITOR)
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    sign_in(client := app.test_client(), auditor)
    submit_password(app.test_client(), ada.email, "a wrong password here")
    add_entries(rt, 3)

    page = client.get(f"/admin/audit?user={ada.id}")

    assert page.status_code == 200
    assert "sign-in.failed" in page.text
    assert "test.entry" not in page.text
    assert "2 entries" in page.text  # her being added, and her failed sign-in
    assert client.get("/admin/audit?user=nonsense&page=-3").status_code == 200


@pytest.mark.parametrize("role", [Role.AUDITOR, Role.BOOKKEEPER])
def test_auditors_and_bookkeepers_read_the_log_but_not_the_users(
    rt: Runtime, app: Flask, role: Role
) -> None:
    sign_in(client := app.test_client(), person(rt, "alan@example.org", role))

    assert client.get("/admin/audit").status_code == 200
    assert client.get("/admin/users").status_code == 403


def test_a_treasurer_gets_not_found_for_the_log(rt: Runtime, client: FlaskClient) -> None:
    sign_in(client, person(rt, "ada@example.org", (Role.TREASURER, "twisted")))
    answer = client.get("/admin/audit")
    assert answer.status_code == 404
    assert answer.text.replace("/admin/audit", "X") == client.get(
        "/admin/nothing-here"
    ).text.replace("/admin/nothing-here", "X")
