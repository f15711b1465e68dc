"""The authorization matrix: every address, asked by everyone who might.

Each rule in app.url_map must have its rows in tests/staff/authz.py; then each row
is requested by nobody, a donor signed in to the portal, a treasurer of Twisted, a
treasurer of another project, an auditor, a bookkeeper and an admin, and must answer
what the row says. Refusals write nothing, and another donor's gift is never changed.
"""

from __future__ import annotations

from dataclasses import asdict, replace

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.donations.models import Donation
from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry, Role, StaffRole, StaffUser
from tests.portal.donor import csrf_token
from tests.portal.donor import sign_in as portal_sign_in
from tests.staff.authz import (
    BACK_TO_GIFT,
    DONOR,
    PORTAL_SIGN_IN,
    RULES,
    SETUPS,
    SIGN_IN,
    Expected,
    Row,
    Who,
    World,
)
from tests.staff.people import person, sign_in

ROLES: dict[Who, tuple[Role | tuple[Role, str], ...]] = {
    Who.TREASURER: ((Role.TREASURER, "twisted"),),
    Who.OTHER_TREASURER: ((Role.TREASURER, "sugar"),),
    Who.MEMBER: ((Role.MEMBER, "twisted"),),
    Who.AUDITOR: (Role.AUDITOR,),
    Who.BOOKKEEPER: (Role.BOOKKEEPER,),
    Who.ADMIN: (Role.ADMIN,),
}
IGNORED_METHODS = {"HEAD", "OPTIONS"}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The test settings with Stripe keys, as a site that takes gifts has them. No row
    reaches Stripe (the webhook's signature is checked first), and none could: its
    address here is a closed port."""
    return replace(
        settings,
        stripe_secret_key="sk_test_matrix",
        stripe_webhook_secret="whsec_matrix",
        stripe_api_base="http://127.0.0.1:9",
    )


def every_route(app: Flask) -> set[tuple[str, str]]:
    """(rule, method) of every route the app answers: the matrix must cover them all."""
    return {
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - IGNORED_METHODS
    }


def test_every_route_has_a_row_in_the_matrix(app: Flask) -> None:
    covered = {(row.rule, row.method) for row in RULES}
    missing = sorted(every_route(app) - covered)
    assert not missing, f"add rows to tests/staff/authz.py for: {missing}"
    stale = sorted(covered - every_route(app))
    assert not stale, f"rows for routes the app does not have: {stale}"


def test_the_demo_pages_are_not_there_outside_the_demo(app: Flask) -> None:
    # They have no rows: the matrix's app, like production's, must not have them.
    assert not [r.rule for r in app.url_map.iter_rules() if r.rule.startswith("/demo")]


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
    if who is Who.DONOR:
        portal_sign_in(client, rt, DONOR)  # by the link mailed to them, as a donor does
    elif who is not Who.NOBODY:
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


def answers(expected: Expected, status: int, location: str) -> bool:
    if expected == SIGN_IN:
        return status == 303 and location.startswith("/sign-in")
    if expected == PORTAL_SIGN_IN:
        return status == 303 and location == "/portal"
    if expected == BACK_TO_GIFT:
        return status == 303 and location.startswith("/portal#donation-")
    return status == expected


def other_donors_gift(rt: Runtime, donation_id: object) -> tuple[object, ...]:
    with rt.sessions() as session:
        donation = session.get(Donation, donation_id)
        assert donation is not None
        return (donation.visibility, donation.amount, donation.status, len(donation.history))


@pytest.mark.parametrize("who", list(Who), ids=[w.name.lower() for w in Who])
def test_each_address_answers_each_kind_of_user_as_the_matrix_says(
    rt: Runtime, app: Flask, who: Who
) -> None:
    here = world(rt)
    untouched = other_donors_gift(rt, here["other_donor_gift"])
    client = client_for(app, rt, who)
    wrong = []
    for row in sorted(RULES, key=lambda r: r.order):
        expected = row.expect[who]
        before = audit_count(rt)
        status, location = ask(client, row, here)
        if not answers(expected, status, location):
            wrong.append(f"{row.method} {row.path}: expected {expected}, got {status} {location}")
        if status in (403, 404) or expected in (SIGN_IN, PORTAL_SIGN_IN):
            assert audit_count(rt) == before, f"{row.method} {row.rule} wrote to the audit log"
    assert not wrong, "\n".join(wrong)
    assert other_donors_gift(rt, here["other_donor_gift"]) == untouched


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
