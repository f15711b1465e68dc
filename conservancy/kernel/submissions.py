"""Forms that move money are acted on once, however often they are sent.

Each such form carries a random key, made when the form is first shown and kept
when it is shown again with a message. The service that acts on it first
claims the key (:func:`claim`), in its own transaction: the key is unique, so
of two sends of one form, the second finds the first's claim, or, when both
arrive together, waits for the first to commit and then fails to insert it.
Either way it learns what the first did (``result``, such as ``gift:12``) and
does nothing. A refused form rolls its claim back with everything else, so the
same form, corrected, can be sent again.
"""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from sqlalchemy import DateTime, String, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from conservancy.infra.db import Base
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError

_KEY = re.compile(r"^[0-9a-f]{32}$")


class FormSubmission(Base):
    __tablename__ = "form_submissions"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(32), unique=True)
    action: Mapped[str] = mapped_column(String(64))
    # What the form made, as "<kind>:<id>", once it made it.
    result: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class BadFormKey(DomainError):
    """A form without a well-formed key: not one we showed."""


class AlreadySubmitted(DomainError):
    """The form was sent before and acted on then; ``result`` says what it made."""

    http_status = 409

    def __init__(self, action: str, result: str | None) -> None:
        super().__init__("This form was already sent, and acted on once.")
        self.action = action
        self.result = result


def new_key() -> str:
    return secrets.token_hex(16)


def claim(session: Session, key: str | None, action: str) -> FormSubmission:
    """Claim ``key`` for ``action`` in the caller's transaction; flushes.

    Raises AlreadySubmitted if the key was claimed by a committed transaction
    (waiting, on PostgreSQL, for one still running), BadFormKey if it is not a key.
    """
    if not key or not _KEY.match(key):
        raise BadFormKey("This form has expired. Please reload the page and try again.")
    found = session.scalar(select(FormSubmission).where(FormSubmission.key == key))
    if found is not None:
        raise AlreadySubmitted(found.action, found.result)
    row = FormSubmission(key=key, action=action)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        found = session.scalar(select(FormSubmission).where(FormSubmission.key == key))
        raise AlreadySubmitted(
            found.action if found else action, found.result if found else None
        ) from None
    return row
