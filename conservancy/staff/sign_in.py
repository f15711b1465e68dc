"""Signing staff in and keeping them signed in: passwords, codes, lock-out, sessions.

Sign-in is a password, then, for a user with an authenticator, a six-digit
code (:mod:`conservancy.staff.totp`). Every refusal says the same thing,
whether the address is a user's or not, and takes as long: a password is
always checked against a hash, a dummy one when there is no user
(:func:`conservancy.staff.passwords.verify`).

How long sessions last and how many failures lock an account are the
sponsor's settings (``CONSERVANCY_STAFF_*``, conservancy.config), handed to
each function here as :class:`SignInRules`.

Lock-out. Each wrong password or code is a :class:`SignInFailure` row under a
keyed hash of the e-mail address typed. The ``lockout_failures``-th (5) within
LOCKOUT_WINDOW locks that address for ``lockout_time`` (15 minutes): every try
is refused with the same message, right password or not, and is not counted
(so the lock ends when it says). Unknown addresses are counted and locked
alike, so a lock-out tells nobody that an account exists. Separately, tries
per client address are limited with :mod:`conservancy.donations.abuse`
(``admit``).

Sessions. Signing in makes a :class:`StaffSession` row and gives the browser
its random id (in Flask's signed cookie); only the id's sha256 is stored. A
session ends after ``idle_timeout`` (30 minutes) without a request,
``session_lifetime`` (12 hours) after it began, when its user signs out,
changes their password or is deactivated.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from conservancy import clock
from conservancy.config import Settings
from conservancy.donations import abuse
from conservancy.errors import DomainError
from conservancy.mail.outbox import queue
from conservancy.staff import audit, passwords, totp
from conservancy.staff.models import (
    SignInFailure,
    StaffRole,
    StaffSession,
    StaffUser,
    TokenPurpose,
)
from conservancy.staff.permissions import Staff
from conservancy.staff.service import (
    LINK_LIFETIME,
    end_sessions,
    find_user,
    get_user,
    issue_link,
    link_user,
    use_link,
    user_state,
)

# Failures older than this no longer count toward a lock-out.
LOCKOUT_WINDOW = timedelta(minutes=15)
# How long a password stays accepted while its code is awaited.
CODE_WAIT = timedelta(minutes=5)
# A session's last_seen_at is written at most this often: not on every request.
SEEN_EVERY = timedelta(minutes=1)

SIGN_IN_LIMITS = abuse.Limits(
    kind="staff-sign-in",
    per_address=30,
    per_email=20,  # the lock-out (5 wrong in 15 minutes) binds first
    address_refusal=(
        "There have been too many sign-in attempts from your connection in the last few "
        "minutes. Please wait ten minutes, then try again."
    ),
    email_refusal=(
        "There have been too many sign-in attempts for this account in the last few "
        "minutes. Please wait ten minutes, then try again."
    ),
)
RESET_LIMITS = abuse.Limits(
    kind="staff-reset",
    per_address=10,
    per_email=3,
    address_refusal=(
        "Too many password resets were asked for from your connection. "
        "Please wait ten minutes and ask again."
    ),
    email_refusal=(
        "Too many password resets were asked for in the last few minutes. "
        "Please use the last link we sent, or wait ten minutes and ask again."
    ),
)
TooManyAttempts = abuse.TooManyAttempts


@dataclass(frozen=True)
class SignInRules:
    """When a session ends, and how many failures lock an account for how long."""

    idle_timeout: timedelta
    session_lifetime: timedelta
    lockout_failures: int
    lockout_time: timedelta

    @classmethod
    def of(cls, settings: Settings) -> SignInRules:
        return cls(
            idle_timeout=settings.staff_idle_timeout,
            session_lifetime=settings.staff_session_lifetime,
            lockout_failures=settings.staff_lockout_failures,
            lockout_time=settings.staff_lockout_time,
        )


class SignInRefused(DomainError):
    """A wrong address, password or code: one message for all of them."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "That e-mail address and password do not match an account that can sign in."
        )


class CodeRefused(SignInRefused):
    def __init__(self) -> None:
        super().__init__(
            "That code is not right, or was used already. Type the code your "
            "authenticator app shows now."
        )


class AccountLocked(SignInRefused):
    http_status = 429

    def __init__(self, rules: SignInRules) -> None:
        minutes = int(rules.lockout_time.total_seconds() // 60)
        super().__init__(
            f"Too many wrong passwords or codes: this account cannot sign in for {minutes} "
            "minutes. Try again later, or ask for a password reset."
        )


class WrongPassword(passwords.BadPassword):
    """A signed-in user's current password, typed wrong while changing it."""


@dataclass(frozen=True)
class PasswordAccepted:
    """The password was right; ``session_token`` is set when no code is needed."""

    user_id: int
    session_token: str | None


@dataclass(frozen=True)
class SignedIn:
    """The user behind a session cookie, and that session."""

    staff: Staff
    session_id: int


def admit(
    session: Session,
    *,
    key: bytes,
    address: str | None,
    email: str,
    now: datetime,
    limits: abuse.Limits = SIGN_IN_LIMITS,
) -> None:
    """Count one try from a client; TooManyAttempts past the limits (commit to keep it)."""
    abuse.admit_attempt(session, key=key, address=address, email=email, now=now, limits=limits)


# -- password and code ------------------------------------------------------------------


def check_password(
    session: Session, *, key: bytes, email: str, password: str, now: datetime, rules: SignInRules
) -> PasswordAccepted:
    """The first step of signing in. Raises SignInRefused or AccountLocked; either way,
    commit: the failure counts toward the lock-out and is in the audit log."""
    address = email.strip().lower()
    hashed = _email_hash(key, address)
    user = session.scalar(select(StaffUser).where(StaffUser.email == address).with_for_update())
    usable = user is not None and user.active and user.password_hash is not None
    right = passwords.verify(user.password_hash if user is not None and usable else None, password)
    target = ("user", user.id) if user is not None else None
    if _locked(session, hashed, now):
        audit.record(session, None, "sign-in.refused-locked", target, at=now)
        raise AccountLocked(rules)
    if user is None or not usable or not right:
        reason = (
            "no such user"
            if user is None
            else "deactivated"
            if not user.active
            else "no password yet"
            if user.password_hash is None
            else "wrong password"
        )
        _fail(session, hashed, target, reason, now, rules)
        raise SignInRefused()
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.totp_secret is not None:
        return PasswordAccepted(user.id, None)
    return PasswordAccepted(user.id, _start(session, user, hashed, now))


def check_code(
    session: Session, *, key: bytes, user_id: int, code: str, now: datetime, rules: SignInRules
) -> str:
    """The second step: a code from the user's authenticator. Returns the session token.

    Raises CodeRefused (counted like a wrong password), AccountLocked, or
    SignInRefused when the user can no longer sign in at all."""
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None or not user.active or user.totp_secret is None:
        raise SignInRefused()
    hashed = _email_hash(key, user.email)
    if _locked(session, hashed, now):
        audit.record(session, None, "sign-in.refused-locked", ("user", user.id), at=now)
        raise AccountLocked(rules)
    step = totp.matching_step(user.totp_secret, code, now, user.totp_last_step)
    if step is None:
        _fail(session, hashed, ("user", user.id), "wrong code", now, rules)
        raise CodeRefused()
    user.totp_last_step = step
    return _start(session, user, hashed, now)


def _email_hash(key: bytes, address: str) -> str:
    return abuse.keyed_hash(key, "staff-sign-in", address.strip().lower())


def _locked(session: Session, email_hash: str, now: datetime) -> bool:
    found = session.scalar(
        select(SignInFailure.id).where(
            SignInFailure.email_hash == email_hash, SignInFailure.locked_until > now
        )
    )
    return found is not None


def _fail(
    session: Session,
    email_hash: str,
    target: audit.Target | None,
    reason: str,
    now: datetime,
    rules: SignInRules,
) -> None:
    since = now - LOCKOUT_WINDOW
    session.execute(
        delete(SignInFailure).where(
            SignInFailure.email_hash == email_hash,
            SignInFailure.at <= since,
            (SignInFailure.locked_until.is_(None)) | (SignInFailure.locked_until <= now),
        )
    )
    failure = SignInFailure(email_hash=email_hash, at=now)
    session.add(failure)
    session.flush()
    recent = session.scalar(
        select(func.count())
        .select_from(SignInFailure)
        .where(
            SignInFailure.email_hash == email_hash,
            SignInFailure.at > since,
            SignInFailure.locked_until.is_(None),
        )
    )
    audit.record(session, None, "sign-in.failed", target, after={"reason": reason}, at=now)
    if int(recent or 0) >= rules.lockout_failures:
        failure.locked_until = now + rules.lockout_time
        # The failures that led here are done with: after the lock, counting starts afresh.
        session.execute(
            delete(SignInFailure).where(
                SignInFailure.email_hash == email_hash,
                SignInFailure.id != failure.id,
                SignInFailure.locked_until.is_(None),
            )
        )
        audit.record(
            session,
            None,
            "sign-in.locked-out",
            target,
            after={"until": failure.locked_until.isoformat()},
            at=now,
        )
        session.flush()
        raise AccountLocked(rules)
    session.flush()


def _start(session: Session, user: StaffUser, email_hash: str, now: datetime) -> str:
    session.execute(
        delete(SignInFailure).where(
            SignInFailure.email_hash == email_hash, SignInFailure.locked_until.is_(None)
        )
    )
    token = start_session(session, user, now)
    audit.record(session, user, "sign-in", ("user", user.id), at=now)
    return token


# -- sessions ---------------------------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(session: Session, user: StaffUser, now: datetime) -> str:
    """A new session for ``user``; returns the id the browser keeps. Flushes."""
    token = secrets.token_urlsafe(32)
    session.add(
        StaffSession(user_id=user.id, id_hash=_digest(token), created_at=now, last_seen_at=now)
    )
    user.last_sign_in_at = now
    session.flush()
    return token


def signed_in(session: Session, token: str, now: datetime, rules: SignInRules) -> SignedIn | None:
    """The active user whose session ``token`` is, if it has not ended or expired.

    Notes the request (at most every SEEN_EVERY) to keep the session alive, and
    ends an expired session for good: flushes either; the caller commits."""
    row = session.scalar(select(StaffSession).where(StaffSession.id_hash == _digest(token)))
    if row is None or row.ended_at is not None:
        return None
    user = session.get(
        StaffUser,
        row.user_id,
        options=[selectinload(StaffUser.roles).selectinload(StaffRole.project)],
    )
    began, seen = clock.as_utc(row.created_at), clock.as_utc(row.last_seen_at)
    if (
        user is None
        or not user.active
        or now - began >= rules.session_lifetime
        or now - seen >= rules.idle_timeout
    ):
        row.ended_at = now
        session.flush()
        return None
    if now - seen >= SEEN_EVERY:
        row.last_seen_at = now
        session.flush()
    return SignedIn(Staff.of(user), row.id)


def sign_out(session: Session, token: str, now: datetime) -> None:
    row = session.scalar(select(StaffSession).where(StaffSession.id_hash == _digest(token)))
    if row is not None and row.ended_at is None:
        row.ended_at = now
        user = session.get(StaffUser, row.user_id)
        audit.record(session, user, "sign-out", ("user", row.user_id), at=now)


# -- passwords ----------------------------------------------------------------------------


def set_password_with_link(
    session: Session, token: str, purpose: TokenPurpose, password: str, now: datetime
) -> StaffUser:
    """Set a password with a one-time link; ends every session the user had.

    Raises BadPassword (the link stays usable) or LinkRefused."""
    user = link_user(session, token, purpose, now)
    if user is not None:
        passwords.check_new_password(password, user.email)
    user = use_link(session, token, purpose, now)
    _set_password(session, user, password, now)
    end_sessions(session, user.id, now)
    action = "password.set" if purpose is TokenPurpose.INVITE else "password.reset"
    audit.record(session, user, action, ("user", user.id), at=now)
    return user


def change_password(
    session: Session, staff: Staff, session_id: int, current: str, new: str, now: datetime
) -> None:
    """A signed-in user's new password; their other sessions end. Raises BadPassword."""
    user = get_user(session, staff.id, lock=True)
    if not passwords.verify(user.password_hash, current):
        raise WrongPassword("That is not your current password.")
    passwords.check_new_password(new, user.email)
    _set_password(session, user, new, now)
    end_sessions(session, user.id, now, keep=session_id)
    audit.record(session, staff, "password.changed", ("user", user.id), at=now)


def _set_password(session: Session, user: StaffUser, password: str, now: datetime) -> None:
    user.password_hash = passwords.hash_password(password)
    user.password_changed_at = now
    session.flush()


def request_password_reset(session: Session, *, email: str, base_url: str, now: datetime) -> bool:
    """Mail a reset link to the active user with ``email``; flushes. Returns whether there
    is one; the caller answers the same either way."""
    user = find_user(session, email)
    if user is None or not user.active:
        return False
    link = issue_link(session, None, user, TokenPurpose.RESET, base_url=base_url, now=now)
    minutes = int(LINK_LIFETIME[TokenPurpose.RESET].total_seconds() // 60)
    queue(
        session,
        key=f"staff-reset-{user.id}-{int(now.timestamp())}-{secrets.token_hex(4)}",
        to_address=user.email,
        to_name=user.name,
        subject="Reset your password",
        body=(
            f"Dear {user.name},\n\n"
            "Someone, probably you, asked to reset the password of your staff account. "
            f"To choose a new password, open this link:\n\n{link}\n\n"
            f"It works once, within {minutes} minutes. If you did not ask for it, you can "
            "ignore this message: your password stays as it is.\n"
        ),
    )
    return True


# -- two-factor enrolment -------------------------------------------------------------------


def enrolment_secret(session: Session, user_id: int) -> str:
    """The secret a user is enrolling with: the same one until they confirm it. Flushes."""
    user = get_user(session, user_id, lock=True)
    if user.totp_pending_secret is None:
        user.totp_pending_secret = totp.new_secret()
        session.flush()
    return user.totp_pending_secret


def confirm_enrolment(session: Session, staff: Staff, code: str, now: datetime) -> bool:
    """Turn two-factor sign-in on if ``code`` comes from the secret being enrolled."""
    user = get_user(session, staff.id, lock=True)
    secret = user.totp_pending_secret
    step = None if secret is None else totp.matching_step(secret, code, now, None)
    if step is None:
        return False
    before = user_state(user)
    user.totp_secret, user.totp_pending_secret, user.totp_last_step = secret, None, step
    session.flush()
    audit.record(
        session,
        staff,
        "two-factor.enrolled",
        ("user", user.id),
        before=before,
        after=user_state(user),
        at=now,
    )
    return True
