"""The authorization matrix: every staff address, asked by everyone who might.

Each route of the staff blueprints, and each route under /admin, /treasurer and
/account, must have its rows in tests/staff/authz.py; then each row is requested
by nobody, a treasurer of Twisted, a treasurer of another project, an auditor, a
bookkeeper and an admin, and must answer what the row says. Refusals write nothing.
"""

from __future__ import annotations

from dataclasses import asdict

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry, Role, StaffRole, StaffUser
from tests.portal.donor import csrf_token
from tests.staff.authz import (
    GUARDED_PREFIXES,
    RULES,
    SETUPS,
    SIGN_IN,
    STAFF_BLUEPRINTS,
    Row,
    Who,
    World,
)
from tests.staff.people import person, sign_in

ROLES: dict[Who, tuple[Role | tuple[Role, str], ...]] = {
    Who.TREASURER: ((Role.TREASURER, "twisted"),),
    Who.OTHER_TREASURER: ((Role.TREASURER, "sugar"),),
    Who.AUDITOR: (Role.AUDITOR,),
    Who.BOOKKEEPER: (Role.BOOKKEEPER,),
    Who.ADMIN: (Role.ADMIN,),
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


def guarded_routes(app: Flask) -> set[tuple[str, str]]:
    """(rule, method) of every route the matrix must cover."""
    routes = set()
    for rule in app.url_map.iter_rules():
        blueprint = rule.endpoint.rsplit(".", 1)[0] if "." in rule.endpoint else None
        if blueprint in STAFF_BLUEPRINTS or rule.rule.startswith(GUARDED_PREFIXES):
            routes |= {(rule.rule, m) for m in (rule.methods or set()) - IGNORED_METHODS}
    return routes


def test_every_staff_route_has_a_row_in_the_matrix(app: Flask) -> None:
    covered = {(row.rule, row.method) for row in RULES}
    missing = sorted(guarded_routes(app) - covered)
    assert not missing, f"add rows to tests/staff/authz.py for: {missing}"
    stale = sorted(covered - guarded_routes(app))
    assert not stale, f"rows for routes the app does not have: {stale}"


def test_every_row_says_what_everyone_gets() -> None:
    for row in RULES:
        assert set(row.expect) == set(Who), row.rule


def world(rt: Runtime) -> dict[str, object]:
    """What the rows' paths name: the World's ids, and what each of SETUPS makes."""
    victim = person(rt, "victim@example.org", (Role.TREASURER, "twisted"))
    with rt.sessions() as session:
        role_id = session.scalars(select(StaffRole.id).where(StaffRole.user_id == victim.id)).one()
    names: dict[str, object] = asdict(World(user_id=victim.id, role_id=role_id))
    for setup in SETUPS:
        names.update(setup(rt))
    return names


def client_for(app: Flask, rt: Runtime, who: Who) -> FlaskClient:
    client = app.test_client()
    if who is not Who.NOBODY:
        # Two-factor sign-in on for everyone: each is let in at once, with no detour.
        sign_in(client, person(rt, f"{who.name.lower()}@example.org", *ROLES[who], two_factor=True))
    return client


def audit_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(AuditEntry)) or 0)


def ask(client: FlaskClient, row: Row, here: dict[str, object]) -> tuple[int, str]:
    path = row.path.format(**here)
    if row.method == "GET":
        answer = client.get(path)
    else:
        token = csrf_token(client.get("/password-reset"))
        answer = client.open(path, method=row.method, data={**row.data, "csrf_token": token})
    return answer.status_code, answer.headers.get("Location", "")


@pytest.mark.parametrize("who", list(Who), ids=[w.name.lower() for w in Who])
def test_each_address_answers_each_kind_of_user_as_the_matrix_says(
    rt: Runtime, app: Flask, who: Who
) -> None:
    here = world(rt)
    client = client_for(app, rt, who)
    wrong = []
    for row in sorted(RULES, key=lambda r: r.order):
        expected = row.expect[who]
        before = audit_count(rt)
        status, location = ask(client, row, here)
        if expected == SIGN_IN:
            got_it = status == 303 and location.startswith("/sign-in")
        else:
            got_it = status == expected
        if not got_it:
            wrong.append(f"{row.method} {row.rule}: expected {expected}, got {status} {location}")
        if status in (403, 404) or expected == SIGN_IN:
            assert audit_count(rt) == before, f"{row.method} {row.rule} wrote to the audit log"
    assert not wrong, "\n".join(wrong)


def test_a_refused_change_changes_nothing(rt: Runtime, app: Flask) -> None:
    here = world(rt)
    user_id, role_id = here["user_id"], here["role_id"]
    auditor = client_for(app, rt, Who.AUDITOR)
    with rt.sessions() as session:
        before = [(u.email, u.active, len(u.roles)) for u in session.scalars(select(StaffUser))]

    token = csrf_token(auditor.get("/password-reset"))
    for path, data in [
        (f"/admin/users/{user_id}/active", {"active": "0"}),
        (f"/admin/users/{user_id}/roles/{role_id}/remove", {}),
        ("/admin/users", {"email": "new@example.org", "role": "admin", "delivery": "show"}),
    ]:
        assert auditor.post(path, data={**data, "csrf_token": token}).status_code == 403

    with rt.sessions() as session:
        after = [(u.email, u.active, len(u.roles)) for u in session.scalars(select(StaffUser))]
    assert after == before
