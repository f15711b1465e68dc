"""The audit log: who changed what, when, from what to what.

:func:`record` adds one row in the caller's transaction, so a change and its
record commit together or not at all. Before and after are small JSON objects
of the fields that matter to a reader. Secrets never go in: a key that names
one (a password, a token, a TOTP secret, a hash of either) is refused with
ValueError, which is a bug in the caller, not a user's mistake.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from conservancy.kernel import clock
from conservancy.staff.models import AuditEntry, StaffUser
from conservancy.staff.permissions import Staff

COMMAND_LINE = "command line"
NOBODY = "not signed in"
PAGE_SIZE = 50
# Substrings of keys that never belong in the log.
_SECRET_WORDS = ("password", "token", "secret", "hash", "code")

Target = tuple[str, int | str | None]


def record(
    session: Session,
    actor: Staff | StaffUser | str | None,
    action: str,
    target: Target | None = None,
    *,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    """Record ``action`` (``"user.deactivated"``) by ``actor`` on ``target`` (``("user", 7)``).

    ``actor`` is the signed-in user, or a label for who else acted: None means
    someone not signed in, and :data:`COMMAND_LINE` the ``conservancy`` command.
    Flushes.
    """
    for values in (before, after):
        _refuse_secrets(values or {})
    if isinstance(actor, Staff | StaffUser):
        actor_id, label = actor.id, actor.email
    else:
        actor_id, label = None, actor or NOBODY
    kind, target_id = target if target is not None else (None, None)
    entry = AuditEntry(
        at=at or clock.now(),
        actor_id=actor_id,
        actor=label,
        action=action,
        target_kind=kind,
        target_id=None if target_id is None else str(target_id),
        before=dict(before) if before is not None else None,
        after=dict(after) if after is not None else None,
    )
    session.add(entry)
    session.flush()
    return entry


def _refuse_secrets(values: Mapping[str, Any]) -> None:
    for key, value in values.items():
        if any(word in key.lower() for word in _SECRET_WORDS):
            raise ValueError(f"the audit log never holds secrets: refusing {key!r}")
        if isinstance(value, Mapping):
            _refuse_secrets(value)


@dataclass(frozen=True)
class AuditPage:
    entries: tuple[AuditEntry, ...]
    page: int
    pages: int
    total: int


def entries(session: Session, *, page: int = 1, user_id: int | None = None) -> AuditPage:
    """The log, newest first, PAGE_SIZE a page; with ``user_id``, what that user did or
    what was done to them."""
    query = select(AuditEntry)
    if user_id is not None:
        query = query.where(
            or_(
                AuditEntry.actor_id == user_id,
                (AuditEntry.target_kind == "user") & (AuditEntry.target_id == str(user_id)),
            )
        )
    total = int(session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = session.scalars(
        query.order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return AuditPage(tuple(rows), page, pages, total)
