"""Who may see and change what: every rule in one place, for every page to ask.

Sponsor staff (admins, bookkeepers, auditors) see every project. A treasurer
sees only the projects they are treasurer of; to them another project does
not exist (pages answer 404, as for a missing one). Areas are the sponsor's
own pages (``/admin/...``): an admin reads and changes all of them, a
bookkeeper all but the users, an auditor reads what a bookkeeper reads and
changes nothing. Nobody changes the audit log.

Pages ask with a :class:`Staff`, a snapshot of the signed-in user taken once
per request, so a rule never needs the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from conservancy.projects.models import Project
from conservancy.staff.models import Role, StaffUser


class Area(StrEnum):
    """The parts of the sponsor's pages, as the rules below name them."""

    USERS = "users"  # staff accounts and their roles
    AUDIT = "audit"  # the audit log
    PROJECTS = "projects"  # member projects, their branding and fee rates
    GIFTS = "gifts"  # donations, offline gifts, refunds
    BOOKS = "books"  # the ledger, reconciliation, its health
    REPORTS = "reports"  # statements and year-end reports
    SPENDING = "spending"  # projects' spending requests, their review and payment


EVERY_AREA = frozenset(Area)
READS: dict[Role, frozenset[Area]] = {
    Role.ADMIN: EVERY_AREA,
    Role.BOOKKEEPER: EVERY_AREA - {Area.USERS},
    Role.AUDITOR: EVERY_AREA - {Area.USERS},
}
CHANGES: dict[Role, frozenset[Area]] = {
    Role.ADMIN: EVERY_AREA - {Area.AUDIT},
    Role.BOOKKEEPER: EVERY_AREA - {Area.USERS, Area.AUDIT},
}
# Roles that see every project and the sponsor's pages.
SPONSOR_STAFF = frozenset({Role.ADMIN, Role.BOOKKEEPER, Role.AUDITOR})
# Roles that may not sign in without a second factor.
NEEDS_TWO_FACTOR = frozenset({Role.ADMIN, Role.BOOKKEEPER})


@dataclass(frozen=True)
class Staff:
    """A signed-in user as the rules see them."""

    id: int
    email: str
    name: str
    roles: frozenset[Role]
    treasurer_of: frozenset[int]  # project ids
    two_factor: bool  # an authenticator app, a security key, or both
    member_of: frozenset[int] = frozenset()  # project ids: may file spending requests

    @classmethod
    def of(cls, user: StaffUser) -> Staff:
        return cls(
            id=user.id,
            email=user.email,
            name=user.name,
            roles=frozenset(r.role for r in user.roles),
            treasurer_of=frozenset(
                r.project_id
                for r in user.roles
                if r.role is Role.TREASURER and r.project_id is not None
            ),
            two_factor=user.has_second_factor,
            member_of=frozenset(
                r.project_id for r in user.roles if r.role is Role.MEMBER and r.project_id
            ),
        )


def is_sponsor_staff(user: Staff) -> bool:
    """Admins, bookkeepers and auditors: the people ``/admin/`` is for."""
    return bool(user.roles & SPONSOR_STAFF)


def sees_every_project(user: Staff) -> bool:
    return is_sponsor_staff(user)


def can_see_project(user: Staff, project: Project | int) -> bool:
    project_id = project if isinstance(project, int) else project.id
    return sees_every_project(user) or project_id in user.treasurer_of


def can_file_requests(user: Staff, project: Project | int) -> bool:
    """Whether ``user`` may ask to be paid from the project's fund: its members and its
    treasurers (who spend for it too)."""
    project_id = project if isinstance(project, int) else project.id
    return project_id in user.member_of or project_id in user.treasurer_of


def can_see_requests(user: Staff, project: Project | int) -> bool:
    """Whether the spending pages of the project exist for ``user``: a member sees their
    own requests there, a treasurer and sponsor staff every request of it."""
    return can_file_requests(user, project) or can_see_project(user, project)


def decides_for_project(user: Staff, project: Project | int) -> bool:
    """Whether ``user`` approves or rejects requests on the project's behalf: its treasurer.
    (Nobody decides their own request: conservancy.expenses.requests checks that.)"""
    project_id = project if isinstance(project, int) else project.id
    return project_id in user.treasurer_of


def can_read(user: Staff, area: Area) -> bool:
    return any(area in READS.get(role, frozenset()) for role in user.roles)


def can_change(user: Staff, area: Area) -> bool:
    return any(area in CHANGES.get(role, frozenset()) for role in user.roles)


def needs_two_factor(roles: frozenset[Role] | set[Role]) -> bool:
    return bool(set(roles) & NEEDS_TWO_FACTOR)


def must_enrol(user: Staff) -> bool:
    """Whether the user must set up two-factor sign-in before anything else."""
    return needs_two_factor(user.roles) and not user.two_factor
