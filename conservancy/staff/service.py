"""Staff accounts: adding users and roles, deactivating, and their one-time links.

Every change is recorded in the audit log (:mod:`conservancy.staff.audit`)
in the caller's transaction, with the user's state before and after as
:func:`user_state` describes it: e-mail, name, active, roles, whether
two-factor sign-in is on, how many security keys. Never a password, a link or a secret.

One-time links. A link carries a random token (``secrets.token_urlsafe(32)``);
only its sha256 is stored (as the donor portal's links). Using it is one
``UPDATE ... WHERE token_hash = ? AND used_at IS NULL AND expires_at > now``,
so of two simultaneous uses exactly one wins. An invitation (from ``user add``
or the users page) lasts 72 hours, a password reset one hour; either sets a
password and nothing else: signing in still takes the password and, where set
up, a code.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from conservancy.kernel.errors import Conflict, DomainError, NotFound
from conservancy.mail.outbox import queue
from conservancy.projects.models import Project
from conservancy.staff import audit, security_keys
from conservancy.staff.models import (
    PROJECT_ROLES,
    RecoveryCode,
    Role,
    StaffRole,
    StaffSession,
    StaffToken,
    StaffUser,
    TokenPurpose,
)
from conservancy.staff.permissions import Staff, sees_every_project

LINK_LIFETIME = {
    TokenPurpose.INVITE: timedelta(hours=72),
    TokenPurpose.RESET: timedelta(hours=1),
}
LINK_PATH = {TokenPurpose.INVITE: "/sign-in/link/", TokenPurpose.RESET: "/password-reset/"}
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s.]+(\.[^@\s.]+)+$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")

Actor = Staff | str  # a signed-in user, or audit.COMMAND_LINE


class BadUser(DomainError):
    """A user, role or project the rules refuse; the message says which and why."""


class LinkRefused(DomainError):
    def __init__(self) -> None:
        super().__init__(
            "This link has expired or was already used. Ask an administrator for a new "
            "sign-in link, or ask for a password reset."
        )


@dataclass(frozen=True)
class Added:
    user: StaffUser
    created: bool
    role_added: bool
    reactivated: bool


# -- reading ----------------------------------------------------------------------------


def normal_email(text: str) -> str:
    email = text.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        raise BadUser(f"{text.strip()!r} is not an e-mail address")
    return email


def find_user(session: Session, email: str) -> StaffUser | None:
    return session.scalar(
        select(StaffUser)
        .where(StaffUser.email == email.strip().lower())
        .options(selectinload(StaffUser.roles).selectinload(StaffRole.project))
    )


def get_user(session: Session, user_id: int, *, lock: bool = False) -> StaffUser:
    user = session.get(
        StaffUser,
        user_id,
        with_for_update=lock,
        options=[selectinload(StaffUser.roles).selectinload(StaffRole.project)],
    )
    if user is None:
        raise NotFound("There is no such user.")
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(
        session.scalars(
            select(StaffUser)
            .options(
                selectinload(StaffUser.roles).selectinload(StaffRole.project),
                selectinload(StaffUser.security_keys),
            )
            .order_by(StaffUser.active.desc(), StaffUser.email)
        )
    )


def projects_for(session: Session, staff: Staff) -> list[Project]:
    """The projects ``staff`` may see: all of them for sponsor staff, a treasurer's or a
    member's own."""
    query = select(Project).order_by(Project.name, Project.id)
    if not sees_every_project(staff):
        query = query.where(Project.id.in_(sorted(staff.treasurer_of | staff.member_of)))
    return list(session.scalars(query))


def role_label(role: StaffRole) -> str:
    """``admin``, or ``treasurer of Twisted``."""
    if role.role in PROJECT_ROLES and role.project is not None:
        return f"{role.role.value} of {role.project.name}"
    return role.role.value


def user_state(user: StaffUser) -> dict[str, Any]:
    """What the audit log keeps of a user before and after a change."""
    return {
        "email": user.email,
        "name": user.name,
        "active": user.active,
        "roles": sorted(
            f"{r.role.value}:{r.project.slug}" if r.project is not None else r.role.value
            for r in user.roles
        ),
        "two_factor": user.has_second_factor,
        "security_keys": len(user.security_keys),
    }


# -- changing ---------------------------------------------------------------------------


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        choices = ", ".join(r.value for r in Role)
        raise BadUser(f"{text!r} is not a role: choose one of {choices}") from None


def _project_for(session: Session, role: Role, slug: str | None) -> Project | None:
    if role not in PROJECT_ROLES:
        if slug:
            raise BadUser(
                "only a treasurer or a member belongs to a project; "
                f"{role.value}s see every project"
            )
        return None
    if not slug:
        raise BadUser(f"a {role.value} needs a project: name it with --project SLUG")
    project = session.scalar(select(Project).where(Project.slug == slug.strip()))
    if project is None:
        raise BadUser(f"there is no project {slug.strip()!r}")
    return project


def add_user(
    session: Session,
    actor: Actor,
    *,
    email: str,
    role: Role | str,
    project: str | None = None,
    name: str | None = None,
) -> Added:
    """Add a user with a role, or the role to the user with that e-mail; flushes.

    A deactivated user is active again afterwards: adding a role is asking for
    them to work here. A treasurer role needs ``project`` (a slug), no other does.
    """
    address = normal_email(email)
    role = role if isinstance(role, Role) else parse_role(role)
    target = _project_for(session, role, project)
    name = (name or "").strip()
    if len(name) > 200:
        raise BadUser("a name is at most 200 characters")
    user = find_user(session, address)
    created = user is None
    if user is None:
        user = StaffUser(email=address, name=name or address.split("@")[0], active=True)
        user.roles = []
        session.add(user)
        session.flush()
        before = None
    else:
        user = get_user(session, user.id, lock=True)
        before = user_state(user)
        if name:
            user.name = name
    reactivated = not user.active
    user.active = True
    role_added = _grant(user, role, target)
    session.flush()
    after = user_state(user)
    if after != before:
        audit.record(
            session,
            actor,
            "user.added" if created else "user.changed",
            ("user", user.id),
            before=before,
            after=after,
        )
    return Added(user, created, role_added, reactivated)


def _grant(user: StaffUser, role: Role, project: Project | None) -> bool:
    project_id = project.id if project is not None else None
    if any(r.role is role and r.project_id == project_id for r in user.roles):
        return False
    user.roles.append(StaffRole(role=role, project_id=project_id, project=project))
    return True


def add_role(
    session: Session, actor: Staff, user_id: int, role: Role | str, project: str | None
) -> StaffUser:
    """Give a user one more role; raises Conflict when they hold it already."""
    user = get_user(session, user_id, lock=True)
    role = role if isinstance(role, Role) else parse_role(role)
    target = _project_for(session, role, project)
    before = user_state(user)
    if not _grant(user, role, target):
        raise Conflict(f"{user.email} already has that role.")
    session.flush()
    audit.record(
        session, actor, "user.role-added", ("user", user.id), before=before, after=user_state(user)
    )
    return user


def remove_role(session: Session, actor: Staff, user_id: int, role_id: int) -> StaffUser:
    user = get_user(session, user_id, lock=True)
    role = next((r for r in user.roles if r.id == role_id), None)
    if role is None:
        raise NotFound("That user has no such role.")
    if user.id == actor.id and role.role is Role.ADMIN:
        raise BadUser("You cannot take away your own admin role; ask another admin.")
    before = user_state(user)
    user.roles.remove(role)
    session.flush()
    audit.record(
        session,
        actor,
        "user.role-removed",
        ("user", user.id),
        before=before,
        after=user_state(user),
    )
    return user


def set_active(
    session: Session, actor: Staff, user_id: int, active: bool, now: datetime
) -> StaffUser:
    """Deactivate a user (which ends their sessions and unused links) or activate them again."""
    user = get_user(session, user_id, lock=True)
    if user.id == actor.id and not active:
        raise BadUser("You cannot deactivate yourself; ask another admin.")
    if user.active == active:
        return user
    before = user_state(user)
    user.active = active
    if not active:
        end_sessions(session, user.id, now)
        _drop_links(session, user.id, now)
    session.flush()
    action = "user.activated" if active else "user.deactivated"
    audit.record(session, actor, action, ("user", user.id), before=before, after=user_state(user))
    return user


def reset_two_factor(session: Session, actor: Staff, user_id: int) -> StaffUser:
    """Forget a user's authenticator, security keys and recovery codes (a lost phone or
    key): they set up two-factor sign-in again at their next sign-in."""
    user = get_user(session, user_id, lock=True)
    if not user.has_second_factor and user.totp_pending_secret is None:
        return user
    before = user_state(user)
    user.totp_secret = user.totp_pending_secret = None
    user.totp_last_step = None
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user.id))
    security_keys.forget(session, user.id)
    session.flush()
    session.expire(user, ["security_keys"])
    audit.record(
        session,
        actor,
        "user.two-factor-reset",
        ("user", user.id),
        before=before,
        after=user_state(user),
    )
    return user


def end_sessions(session: Session, user_id: int, now: datetime, *, keep: int | None = None) -> None:
    """End every open session of the user (but ``keep``, a StaffSession id)."""
    query = update(StaffSession).where(
        StaffSession.user_id == user_id, StaffSession.ended_at.is_(None)
    )
    if keep is not None:
        query = query.where(StaffSession.id != keep)
    session.execute(query.values(ended_at=now).execution_options(synchronize_session=False))


def _drop_links(session: Session, user_id: int, now: datetime) -> None:
    session.execute(
        update(StaffToken)
        .where(StaffToken.user_id == user_id, StaffToken.used_at.is_(None))
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )


# -- one-time links ---------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_link(
    session: Session,
    actor: Actor | None,
    user: StaffUser,
    purpose: TokenPurpose,
    *,
    base_url: str,
    now: datetime,
) -> str:
    """A new one-time link for ``user``, as a full address; flushes and records it."""
    token = secrets.token_urlsafe(32)
    row = StaffToken(
        user_id=user.id,
        purpose=purpose,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + LINK_LIFETIME[purpose],
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        f"link.{purpose.value}-issued",
        ("user", user.id),
        after={"link": row.id, "expires_at": row.expires_at.isoformat()},
    )
    return f"{base_url}{LINK_PATH[purpose]}{token}"


def mail_invitation(session: Session, user: StaffUser, link: str, *, sponsor: str) -> None:
    """Queue the mail that brings a new user their sign-in link (after the commit)."""
    hours = int(LINK_LIFETIME[TokenPurpose.INVITE].total_seconds() // 3600)
    queue(
        session,
        key=f"staff-invite-{user.id}-{token_hash(link)[:16]}",
        to_address=user.email,
        to_name=user.name,
        subject=f"Your account at {sponsor}",
        body=(
            f"Dear {user.name},\n\n"
            f"You have an account on the donation and bookkeeping pages of {sponsor}"
            f"{'' if sponsor.endswith('.') else '.'} "  # "Inc." ends the sentence itself
            f"To choose your password, open this link:\n\n{link}\n\n"
            f"It works once, within {hours} hours. Then sign in with your e-mail address "
            "and that password.\n"
        ),
    )


def link_user(
    session: Session, token: str, purpose: TokenPurpose, now: datetime
) -> StaffUser | None:
    """The active user a link would set a password for now, if it still works."""
    if not _TOKEN.match(token):
        return None
    row = session.scalar(
        select(StaffToken).where(
            StaffToken.token_hash == token_hash(token),
            StaffToken.purpose == purpose,
            StaffToken.used_at.is_(None),
            StaffToken.expires_at > now,
        )
    )
    if row is None:
        return None
    user = session.get(StaffUser, row.user_id)
    return user if user is not None and user.active else None


def use_link(session: Session, token: str, purpose: TokenPurpose, now: datetime) -> StaffUser:
    """Use up a link, once; returns its user. Raises LinkRefused."""
    user = link_user(session, token, purpose, now)
    if user is None:
        raise LinkRefused()
    used = session.execute(
        update(StaffToken)
        .where(
            StaffToken.token_hash == token_hash(token),
            StaffToken.used_at.is_(None),
            StaffToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise LinkRefused()
    return user


def invite_member(
    session: Session, actor: Staff, project: Project, *, email: str, name: str | None
) -> Added:
    """A project's treasurer invites someone to file its spending requests: the member role
    of the project, added to whoever has ``email`` (a new user, if nobody has). Flushes.

    A deactivated account is not woken this way (add_user would make it active again, with
    every role it had): the sponsor's staff restore those.
    """
    if project.id not in actor.treasurer_of:
        raise NotFound("There is no such project.")
    found = find_user(session, normal_email(email))
    if found is not None and not found.active:
        raise BadUser(
            f"{found.email} cannot be invited here: ask the sponsor's staff, who manage "
            "that account."
        )
    return add_user(session, actor, email=email, role=Role.MEMBER, project=project.slug, name=name)


def members_of(session: Session, project: Project) -> list[StaffUser]:
    """The project's members, by e-mail address."""
    return list(
        session.scalars(
            select(StaffUser)
            .join(StaffRole, StaffRole.user_id == StaffUser.id)
            .where(StaffRole.role == Role.MEMBER, StaffRole.project_id == project.id)
            .order_by(StaffUser.email)
        )
    )


def remove_member(session: Session, actor: Staff, project: Project, user_id: int) -> StaffUser:
    """A project's treasurer takes the member role of the project from a user (who keeps
    any other role); their requests stay, and are decided and paid as before. Flushes."""
    if project.id not in actor.treasurer_of:
        raise NotFound("There is no such project.")
    user = get_user(session, user_id)
    role = next(
        (r for r in user.roles if r.role is Role.MEMBER and r.project_id == project.id), None
    )
    if role is None:
        raise NotFound("That user is no member of this project.")
    return remove_role(session, actor, user_id, role.id)
