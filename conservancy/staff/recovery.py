"""Recovery codes: the way into an account with two-factor sign-in when the phone is gone.

Turning two-factor on makes COUNT codes; the user is shown them once and keeps them.
Each signs in once, in place of an authenticator's code. Making new ones (from
/account/two-factor) forgets every old one; an admin's reset of two-factor forgets
them too.

A code is 12 characters from a 32-letter alphabet (60 random bits from ``secrets``),
shown as ``abcd-efgh-jkmn``. Only its plain sha256 is stored. A slow, salted hash
(argon2, as for passwords) guards guessable secrets; these are not guessable: a
database copy still leaves 2**60 tries per code, and the sign-in delays (every wrong
code counts as a failure) bound guessing online. An HMAC with the app key would add
a key to rotate and nothing a 60-bit random code lacks.

Using a code is one conditional UPDATE (``... WHERE used_at IS NULL``) in the
sign-in's transaction: of two concurrent uses of one code, only one changes a row.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from conservancy.staff.models import RecoveryCode

COUNT = 10
ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # 32: no l, o, 0 or 1 to misread
LENGTH = 12  # 12 letters of 5 bits: 60 bits
GROUP = 4


def _plain(code: str) -> str:
    return "".join(c for c in code.lower() if c not in " -")


def looks_like_code(code: str) -> bool:
    """Whether ``code`` is written like a recovery code (not like a six-digit one)."""
    plain = _plain(code)
    return len(plain) == LENGTH and all(c in ALPHABET for c in plain)


def _digest(code: str) -> str:
    return hashlib.sha256(_plain(code).encode()).hexdigest()


def _new_code() -> str:
    plain = "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))
    return "-".join(plain[i : i + GROUP] for i in range(0, LENGTH, GROUP))


def forget(session: Session, user_id: int) -> None:
    """Every recovery code of the user, used or not."""
    session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == user_id))


def make_codes(session: Session, user_id: int, now: datetime) -> list[str]:
    """COUNT new codes for the user, forgetting the old ones; returns them in clear for
    showing once (only their hashes are stored). Flushes."""
    forget(session, user_id)
    codes = [_new_code() for _ in range(COUNT)]
    session.add_all(
        RecoveryCode(user_id=user_id, code_hash=_digest(code), created_at=now) for code in codes
    )
    session.flush()
    return codes


def use(session: Session, user_id: int, code: str, now: datetime) -> bool:
    """Mark the user's unused ``code`` used; whether it was one. A single conditional
    UPDATE, so two concurrent uses cannot both succeed."""
    result = session.execute(
        update(RecoveryCode)
        .where(
            RecoveryCode.user_id == user_id,
            RecoveryCode.code_hash == _digest(code),
            RecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


def remaining(session: Session, user_id: int) -> int:
    """How many of the user's codes are still unused."""
    return int(
        session.scalar(
            select(func.count()).where(
                RecoveryCode.user_id == user_id, RecoveryCode.used_at.is_(None)
            )
        )
        or 0
    )
