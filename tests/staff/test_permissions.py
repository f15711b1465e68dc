"""The rules of who sees and changes what, and the guards pages build on them."""

from __future__ import annotations

import pytest
from flask import Blueprint, Flask
from flask.testing import FlaskClient
from flask.typing import ResponseReturnValue

from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from conservancy.staff.permissions import (
    Area,
    Staff,
    can_change,
    can_read,
    can_see_project,
    must_enrol,
)
from conservancy.web.auth import current_user, require_area, treasurer_page
from tests.portal.donor import csrf_token
from tests.staff.people import person, sign_in

TWISTED, SUGAR = 1, 2


def staff(*roles: Role, projects: tuple[int, ...] = (), two_factor: bool = True) -> Staff:
    return Staff(1, "x@example.org", "X", frozenset(roles), frozenset(projects), two_factor)


def test_a_treasurer_sees_only_their_projects_and_no_sponsor_area() -> None:
    ada = staff(Role.TREASURER, projects=(TWISTED,))
    assert can_see_project(ada, TWISTED)
    assert not can_see_project(ada, SUGAR)
    assert not any(can_read(ada, area) or can_change(ada, area) for area in Area)


@pytest.mark.parametrize("role", [Role.ADMIN, Role.BOOKKEEPER, Role.AUDITOR])
def test_sponsor_staff_see_every_project(role: Role) -> None:
    assert can_see_project(staff(role), TWISTED)
    assert can_see_project(staff(role), SUGAR)


def test_an_auditor_reads_what_a_bookkeeper_reads_and_changes_nothing() -> None:
    auditor, bookkeeper = staff(Role.AUDITOR), staff(Role.BOOKKEEPER)
    for area in Area:
        assert can_read(auditor, area) == can_read(bookkeeper, area)
        assert not can_change(auditor, area)


def test_only_admins_touch_users_and_nobody_changes_the_audit_log() -> None:
    admin, bookkeeper = staff(Role.ADMIN), staff(Role.BOOKKEEPER)
    assert can_read(admin, Area.USERS)
    assert can_change(admin, Area.USERS)
    assert not can_read(bookkeeper, Area.USERS)
    assert can_change(bookkeeper, Area.GIFTS)
    assert not can_change(admin, Area.AUDIT)
    assert not can_change(bookkeeper, Area.AUDIT)


def test_roles_add_up() -> None:
    both = staff(Role.TREASURER, Role.AUDITOR, projects=(TWISTED,))
    assert can_see_project(both, SUGAR)
    assert can_read(both, Area.BOOKS)


def test_admins_and_bookkeepers_must_enrol_and_others_need_not() -> None:
    assert must_enrol(staff(Role.ADMIN, two_factor=False))
    assert must_enrol(staff(Role.TREASURER, Role.BOOKKEEPER, two_factor=False))
    assert not must_enrol(staff(Role.ADMIN, two_factor=True))
    assert not must_enrol(staff(Role.AUDITOR, two_factor=False))
    assert not must_enrol(staff(Role.TREASURER, projects=(TWISTED,), two_factor=False))


@pytest.fixture
def probed(app: Flask) -> Flask:
    """The app with two pages as others write them, built on the guards."""
    probe = Blueprint("probe", __name__)

    @probe.get("/treasurer/<slug>/_probe")
    @treasurer_page
    def project_page(staff: Staff, project: Project) -> ResponseReturnValue:
        assert current_user() == staff
        return f"{project.name} for {staff.email}"

    @probe.post("/admin/_probe")
    @require_area(Area.GIFTS, change=True)
    def gifts_change(staff: Staff) -> ResponseReturnValue:
        return "changed"

    app.register_blueprint(probe)
    return app


def test_a_project_page_answers_its_treasurer_and_404_to_another(
    rt: Runtime, probed: Flask
) -> None:
    sign_in(ada := probed.test_client(), person(rt, "ada@example.org", (Role.TREASURER, "twisted")))
    sign_in(bob := probed.test_client(), person(rt, "bob@example.org", (Role.TREASURER, "sugar")))
    sign_in(alan := probed.test_client(), person(rt, "alan@example.org", Role.AUDITOR))
    nobody: FlaskClient = probed.test_client()

    assert ada.get("/treasurer/twisted/_probe").text == "Twisted for ada@example.org"
    assert alan.get("/treasurer/twisted/_probe").status_code == 200
    refused, missing = bob.get("/treasurer/twisted/_probe"), bob.get("/treasurer/nope/_probe")
    assert refused.status_code == missing.status_code == 404
    assert refused.text == missing.text
    answer = nobody.get("/treasurer/twisted/_probe")
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/sign-in?next=/treasurer/twisted/_probe"


def test_a_change_refused_answers_403_to_an_auditor_and_404_to_a_treasurer(
    rt: Runtime, probed: Flask
) -> None:
    results = {}
    people: list[tuple[str, Role | tuple[Role, str]]] = [
        ("ada@example.org", (Role.TREASURER, "twisted")),
        ("alan@example.org", Role.AUDITOR),
        ("bea@example.org", Role.BOOKKEEPER),
    ]
    for email, role in people:
        sign_in(client := probed.test_client(), person(rt, email, role))
        token = csrf_token(client.get("/password-reset"))
        results[email] = client.post("/admin/_probe", data={"csrf_token": token}).status_code

    assert results == {"ada@example.org": 404, "alan@example.org": 403, "bea@example.org": 200}
