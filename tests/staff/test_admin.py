"""An admin manages users on /admin/users: adds them (with a link shown once or
mailed), changes their roles, deactivates them. Each change is in the audit log."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry, Role, StaffRole, StaffUser
from tests.portal.donor import csrf_token, mails_to
from tests.staff.people import Person, person, sign_in, signed_in_as

_SHOWN_LINK = re.compile(r"<code>(http://\S+/sign-in/link/[A-Za-z0-9_-]+)</code>")


@pytest.fixture
def admin(rt: Runtime) -> Person:
    return person(rt, "root@example.org", Role.ADMIN)


@pytest.fixture
def admins(app: Flask, admin: Person) -> FlaskClient:
    client = app.test_client()
    sign_in(client, admin)
    return client


def post(client: FlaskClient, page: str, action: str, **data: str) -> Any:
    return client.post(action, data={**data, "csrf_token": csrf_token(client.get(page))})


def last_entry(rt: Runtime, action: str) -> AuditEntry:
    with rt.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id.desc())
        ).first()
        assert entry is not None, f"no {action} in the audit log"
        return entry


def roles_of(rt: Runtime, email: str) -> list[tuple[str, str | None]]:
    with rt.sessions() as session:
        user = session.scalars(select(StaffUser).where(StaffUser.email == email)).one()
        return sorted(
            (r.role.value, r.project.slug if r.project else None)
            for r in session.scalars(select(StaffRole).where(StaffRole.user_id == user.id))
        )


def test_an_admin_adds_a_treasurer_and_is_shown_the_link_once(
    rt: Runtime, app: Flask, admins: FlaskClient
) -> None:
    answer = post(
        admins,
        "/admin/users",
        "/admin/users",
        email="Ada@Example.org",
        name="Ada Lovelace",
        role="treasurer",
        project="twisted",
        delivery="show",
    )

    assert answer.status_code == 200
    assert "Added ada@example.org." in answer.text
    found = _SHOWN_LINK.search(answer.text)
    assert found, answer.text
    assert roles_of(rt, "ada@example.org") == [("treasurer", "twisted")]
    page = admins.get(f"/admin/users/{last_entry(rt, 'user.added').target_id}")
    assert found.group(1) not in page.text  # shown once only
    assert answer.headers["Cache-Control"] == "no-store"
    entry = last_entry(rt, "user.added")
    assert entry.actor == "root@example.org"
    assert entry.before is None
    assert entry.after == {
        "email": "ada@example.org",
        "name": "Ada Lovelace",
        "active": True,
        "roles": ["treasurer:twisted"],
        "two_factor": False,
        "security_keys": 0,
    }
    # The new user chooses a password with it.
    ada = app.test_client()
    path = urlsplit(found.group(1)).path
    form = ada.get(path)
    password = "ada's own long passphrase"
    ada.post(path, data={"password": password, "confirm": password, "csrf_token": csrf_token(form)})
    sign_in(ada, Person(0, "ada@example.org", password, None))
    assert signed_in_as(ada) == "ada@example.org"


def test_an_admin_can_have_the_link_mailed(rt: Runtime, admins: FlaskClient) -> None:
    answer = post(
        admins,
        "/admin/users",
        "/admin/users",
        email="alan@example.org",
        name="",
        role="auditor",
        project="",
        delivery="mail",
    )

    assert answer.status_code == 303
    assert "on its way to alan@example.org" in admins.get(answer.headers["Location"]).text
    [mail] = mails_to(rt, "alan@example.org", "staff-invite-*.eml")
    body = mail.get_body(("plain",))
    assert body is not None
    assert "/sign-in/link/" in body.get_content()
    # The sponsor's name ends in "Inc.": the sentence does not get a second full stop.
    assert "bookkeeping pages of Test Sponsor, Inc. To choose" in body.get_content()
    assert roles_of(rt, "alan@example.org") == [("auditor", None)]


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        pytest.param({"email": "not an address"}, "email", "Enter an e-mail address", id="email"),
        pytest.param({"role": "owner"}, "role", "Choose a role.", id="role"),
        pytest.param({"project": ""}, "project", "Choose the project", id="no-project"),
        pytest.param(
            {"project": "nope"}, "project", "Choose one of the projects.", id="bad-project"
        ),
        pytest.param(
            {"role": "admin"}, "project", "Only a treasurer or a member belongs", id="admin-project"
        ),
        pytest.param({"delivery": ""}, None, "show the link here or e-mail it", id="delivery"),
    ],
)
def test_a_bad_new_user_is_refused_by_its_field_and_nothing_is_written(
    rt: Runtime, admins: FlaskClient, data: dict[str, str], field: str | None, message: str
) -> None:
    good = {
        "email": "ada@example.org",
        "name": "Ada",
        "role": "treasurer",
        "project": "twisted",
        "delivery": "show",
    }
    answer = post(admins, "/admin/users", "/admin/users", **{**good, **data})

    assert answer.status_code == 400
    assert message in answer.text
    if field:
        assert f'id="{field}-error"' in answer.text
    with rt.sessions() as session:
        assert session.scalars(select(StaffUser.email)).all() == ["root@example.org"]
        assert session.scalars(select(MailMessage)).all() == []


def test_an_admin_adds_and_removes_roles_and_the_log_has_before_and_after(
    rt: Runtime, admins: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    page = f"/admin/users/{ada.id}"

    added = post(admins, page, f"{page}/roles", role="treasurer", project="sugar")
    assert added.status_code == 303
    assert roles_of(rt, ada.email) == [("treasurer", "sugar"), ("treasurer", "twisted")]
    entry = last_entry(rt, "user.role-added")
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["roles"] == ["treasurer:twisted"]
    assert entry.after["roles"] == ["treasurer:sugar", "treasurer:twisted"]

    twice = post(admins, page, f"{page}/roles", role="treasurer", project="sugar")
    assert twice.status_code == 400
    assert "already has that role" in twice.text

    with rt.sessions() as session:
        twisted_role = session.scalars(
            select(StaffRole.id).where(StaffRole.user_id == ada.id).order_by(StaffRole.id)
        ).first()
    removed = post(admins, page, f"{page}/roles/{twisted_role}/remove")
    assert removed.status_code == 303
    assert roles_of(rt, ada.email) == [("treasurer", "sugar")]
    entry = last_entry(rt, "user.role-removed")
    assert entry.before is not None
    assert entry.after is not None
    assert entry.before["roles"] == ["treasurer:sugar", "treasurer:twisted"]
    assert entry.after["roles"] == ["treasurer:sugar"]


def test_a_treasurer_sees_a_removed_project_no_more(
    rt: Runtime, app: Flask, admins: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), (Role.TREASURER, "sugar"))
    sign_in(adas := app.test_client(), ada)
    assert "Sugar Labs" in adas.get("/treasurer/").text
    with rt.sessions() as session:
        sugar_role = session.scalars(
            select(StaffRole.id).where(StaffRole.user_id == ada.id).order_by(StaffRole.id.desc())
        ).first()

    post(admins, f"/admin/users/{ada.id}", f"/admin/users/{ada.id}/roles/{sugar_role}/remove")

    page = adas.get("/treasurer/")
    assert "Twisted" in page.text
    assert "Sugar Labs" not in page.text


def test_an_admin_deactivates_and_reactivates_a_user(rt: Runtime, admins: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    page = f"/admin/users/{ada.id}"

    answer = post(admins, page, f"{page}/active", active="0")
    assert answer.status_code == 303
    assert "is deactivated and signed out everywhere" in admins.get(page).text
    entry = last_entry(rt, "user.deactivated")
    assert (entry.before or {})["active"] is True
    assert (entry.after or {})["active"] is False

    assert post(admins, page, f"{page}/active", active="1").status_code == 303
    assert (last_entry(rt, "user.activated").after or {})["active"] is True


def test_an_admin_can_neither_deactivate_themselves_nor_drop_their_own_admin_role(
    rt: Runtime, admin: Person, admins: FlaskClient
) -> None:
    page = f"/admin/users/{admin.id}"
    with rt.sessions() as session:
        role_id = session.scalars(select(StaffRole.id).where(StaffRole.user_id == admin.id)).one()

    deactivated = post(admins, page, f"{page}/active", active="0")
    removed = post(admins, page, f"{page}/roles/{role_id}/remove")

    assert deactivated.status_code == removed.status_code == 400
    assert "You cannot deactivate yourself" in deactivated.text
    assert "You cannot take away your own admin role" in removed.text
    assert signed_in_as(admins) == admin.email
    assert roles_of(rt, admin.email) == [("admin", None)]


def test_a_new_link_for_an_existing_user_is_shown_once(rt: Runtime, admins: FlaskClient) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), password=None)
    page = f"/admin/users/{ada.id}"

    answer = post(admins, page, f"{page}/link", delivery="show")

    assert answer.status_code == 200
    assert _SHOWN_LINK.search(answer.text)
    assert last_entry(rt, "link.invite-issued").actor == "root@example.org"


def test_the_users_list_shows_everyone_with_their_roles(rt: Runtime, admins: FlaskClient) -> None:
    person(rt, "ada@example.org", (Role.TREASURER, "twisted"), (Role.TREASURER, "sugar"))
    person(rt, "alan@example.org", Role.AUDITOR, password=None)

    page = admins.get("/admin/users").text

    assert "treasurer of Twisted, treasurer of Sugar Labs" in page
    assert "no password yet" in page
    assert "root@example.org" in page


def test_the_admin_home_lists_what_each_role_may_open(rt: Runtime, app: Flask) -> None:
    sign_in(admins := app.test_client(), person(rt, "root@example.org", Role.ADMIN))
    sign_in(auditors := app.test_client(), person(rt, "alan@example.org", Role.AUDITOR))

    assert 'href="/admin/users"' in admins.get("/admin/").text
    home = auditors.get("/admin/").text
    assert 'href="/admin/users"' not in home
    assert 'href="/admin/audit"' in home


def test_staff_see_every_project_and_a_treasurer_only_theirs(rt: Runtime, app: Flask) -> None:
    sign_in(auditors := app.test_client(), person(rt, "alan@example.org", Role.AUDITOR))
    sign_in(
        treasurers := app.test_client(), person(rt, "ada@example.org", (Role.TREASURER, "sugar"))
    )

    everything = auditors.get("/treasurer/").text
    theirs = treasurers.get("/treasurer/").text

    assert 'href="/treasurer/twisted/"' in everything
    assert 'href="/treasurer/sugar/"' in everything
    assert 'href="/treasurer/sugar/"' in theirs
    assert 'href="/treasurer/twisted/"' not in theirs
