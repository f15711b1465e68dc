"""``conservancy user add`` as an operator runs it: a user (or one more role) and a
one-time sign-in link; bad input in one line, nothing written."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry, StaffUser
from conservancy.staff.service import list_users, role_label
from tests.foundation.test_cli import assert_one_line_failure, fresh, sqlite_only
from tests.ledger.processes import run_cli as run
from tests.portal.donor import csrf_token
from tests.staff.people import signed_in_as, submit_password

__all__ = ["fresh"]  # the fixture, for the test below that runs before init

_LINK = re.compile(r"sign-in link \(works once, within 72 hours\): (http://\S+)$", re.M)


def users(rt: Runtime) -> list[tuple[str, str, bool, list[str]]]:
    with rt.sessions() as session:
        return [
            (u.email, u.name, u.active, sorted(role_label(r) for r in u.roles))
            for u in list_users(session)
        ]


def link_in(output: str) -> str:
    found = _LINK.search(output)
    assert found, output
    return found.group(1)


@pytest.mark.parametrize(
    ("args", "roles"),
    [
        pytest.param(
            ["--role", "treasurer", "--project", "twisted"],
            ["treasurer of Twisted"],
            id="treasurer",
        ),
        pytest.param(["--role", "admin"], ["admin"], id="admin"),
        pytest.param(["--role", "bookkeeper"], ["bookkeeper"], id="bookkeeper"),
        pytest.param(["--role", "auditor"], ["auditor"], id="auditor"),
        pytest.param(
            ["--role", "member", "--project", "twisted"], ["member of Twisted"], id="member"
        ),
    ],
)
def test_user_add_adds_the_user_and_prints_a_sign_in_link(
    rt: Runtime, args: list[str], roles: list[str]
) -> None:
    result = run(rt.settings, "user", "add", "Ada@Example.org", *args, "--name", "Ada Lovelace")

    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added ada@example.org (Ada Lovelace) as ")
    link = link_in(result.stdout)
    assert link.startswith(f"{rt.settings.base_url}/sign-in/link/")
    assert users(rt) == [("ada@example.org", "Ada Lovelace", True, roles)]
    with rt.sessions() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "user.added")).one()
        assert entry.actor == "command line"
        assert entry.before is None
        assert entry.after is not None
        assert entry.after["email"] == "ada@example.org"
        assert link.rsplit("/", 1)[1] not in str(entry.after)


def test_the_printed_link_lets_the_user_choose_a_password_and_sign_in(
    rt: Runtime, client: FlaskClient
) -> None:
    result = run(
        rt.settings, "user", "add", "ada@example.org", "--role", "treasurer", "--project", "twisted"
    )
    path = urlsplit(link_in(result.stdout)).path
    page = client.get(path)
    password = "my own long passphrase"

    answer = client.post(
        path, data={"password": password, "confirm": password, "csrf_token": csrf_token(page)}
    )

    assert answer.status_code == 303
    assert submit_password(client, "ada@example.org", password).status_code == 303
    assert signed_in_as(client) == "ada@example.org"


def test_user_add_gives_an_existing_user_one_more_role(rt: Runtime) -> None:
    run(
        rt.settings, "user", "add", "ada@example.org", "--role", "treasurer", "--project", "twisted"
    )

    result = run(
        rt.settings, "user", "add", "ADA@example.org", "--role", "treasurer", "--project", "sugar"
    )

    assert result.returncode == 0, result.stderr
    assert "ada@example.org (ada) is now also treasurer of sugar" in result.stdout
    link_in(result.stdout)  # no password yet: a new link
    assert users(rt) == [
        ("ada@example.org", "ada", True, ["treasurer of Sugar Labs", "treasurer of Twisted"])
    ]
    same = run(
        rt.settings, "user", "add", "ada@example.org", "--role", "treasurer", "--project", "sugar"
    )
    assert same.returncode == 0
    assert "already treasurer of sugar; nothing changed" in same.stdout


def test_a_user_with_a_password_gets_no_new_link(rt: Runtime) -> None:
    run(rt.settings, "user", "add", "ada@example.org", "--role", "auditor")
    with rt.sessions() as session:
        user = session.scalars(select(StaffUser)).one()
        user.password_hash = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
        session.commit()

    result = run(
        rt.settings, "user", "add", "ada@example.org", "--role", "treasurer", "--project", "twisted"
    )

    assert result.returncode == 0, result.stderr
    assert "sign-in link" not in result.stdout
    assert "they sign in with their password" in result.stdout


@pytest.mark.parametrize(
    ("args", "named", "code"),
    [
        pytest.param(["ada@example.org", "--role", "treasurer"], "--project", 1, id="no-project"),
        pytest.param(
            ["ada@example.org", "--role", "member"],
            "a member needs a project",
            1,
            id="member-without-project",
        ),
        pytest.param(
            ["ada@example.org", "--role", "treasurer", "--project", "nope"],
            "'nope'",
            1,
            id="unknown-project",
        ),
        pytest.param(
            ["ada@example.org", "--role", "admin", "--project", "twisted"],
            "only a treasurer",
            1,
            id="project-for-admin",
        ),
        pytest.param(
            ["not-an-address", "--role", "admin"], "not an e-mail address", 1, id="bad-email"
        ),
        pytest.param(
            ["ada@example.org", "--role", "owner"], "'owner' is not a role", 1, id="bad-role"
        ),
        pytest.param(["ada@example.org"], "--role", 2, id="no-role"),
    ],
)
def test_user_add_refuses_bad_input_in_one_line_and_writes_nothing(
    rt: Runtime, args: list[str], named: str, code: int
) -> None:
    result = run(rt.settings, "user", "add", *args)

    line = assert_one_line_failure(result)
    assert named in line
    assert result.returncode == code
    assert users(rt) == []
    with rt.sessions() as session:
        assert session.scalars(select(AuditEntry)).all() == []


@sqlite_only
def test_user_add_before_init_says_so_in_one_line(fresh: Settings) -> None:
    line = assert_one_line_failure(run(fresh, "user", "add", "ada@example.org", "--role", "admin"))
    assert "conservancy init" in line


@sqlite_only
def test_user_add_has_help(fresh: Settings) -> None:
    result = run(fresh, "user", "add", "--help")
    assert result.returncode == 0
    assert "treasurer|admin|bookkeeper|auditor" in result.stdout
