"""Signing staff in and keeping them signed in: passwords, codes, throttling, sessions.

Sign-in is a password, then, for a user with a second factor, a six-digit
code (:mod:`conservancy.staff.totp`), a security key's signature
(:mod:`conservancy.staff.security_keys`) or a recovery code. Every refusal says the same thing,
whether the address is a user's or not, and takes as long: a password is
always checked against a hash, a dummy one when there is no user
(:func:`conservancy.staff.passwords.verify`).

How long sessions last, and after how many failures tries are delayed and for
at most how long, are the sponsor's settings (``CONSERVANCY_STAFF_*``,
conservancy.infra.config), handed to each function here as :class:`SignInRules`.

Throttling. Each wrong password or code is a :class:`SignInFailure` row under
keyed hashes of the e-mail address typed and of the client's address. Failures
are throttled per (account, client address): from the ``lockout_failures``-th
(5) within FAILURE_MEMORY on, each failure makes the next try from that address
wait, 1 second after the 5th, then 2, 4, 8 ... (doubling), never longer than
``lockout_time`` (15 minutes). While the wait runs a try is refused without its password being
checked, and is not counted, so the wait ends when it says. Failures from
another address do not hold the owner back, so nobody can keep an account
locked from afar; a distributed guesser is still slowed by a ceiling per
account over every address: past ACCOUNT_FACTOR times as many failures (50),
every try waits the same way. A successful sign-in clears the failures of its
own address; a password set with a reset link clears every failure of the
account. Unknown addresses are counted and delayed alike, so a delay tells
nobody that an account exists. Separately, tries per client address are
limited with :mod:`conservancy.donations.abuse` (``admit``).

Sessions. Signing in makes a :class:`StaffSession` row and gives the browser
its random id (in Flask's signed cookie); only the id's sha256 is stored. A
session ends after ``idle_timeout`` (30 minutes) without a request,
``session_lifetime`` (12 hours) after it began, when its user signs out,
changes their password or is deactivated.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from conservancy.donations import abuse
from conservancy.infra.config import SESSION_SEEN_EVERY, Settings
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.mail.outbox import queue
from conservancy.staff import audit, passwords, recovery, security_keys, totp
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
from conservancy.staff.totp_keys import TotpKeys

# Failures older than this no longer count toward a delay.
FAILURE_MEMORY = timedelta(hours=24)
# The ceiling per account, over every client address: this many times the failures
# that start delays for one address.
ACCOUNT_FACTOR = 10
# How long a password stays accepted while its code is awaited.
CODE_WAIT = timedelta(minutes=5)
SEEN_EVERY = SESSION_SEEN_EVERY  # how often a session's last_seen_at is written

SIGN_IN_LIMITS = abuse.Limits(
    kind="staff-sign-in",
    per_address=30,
    # Not a limit: the throttle per (account, address) below does that, and a limit per
    # account typed would let anyone keep its owner out from afar.
    per_email=1_000_000,
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
    """When a session ends; after how many failures tries wait, and at most how long."""

    idle_timeout: timedelta
    session_lifetime: timedelta
    lockout_failures: int  # failures (per account and client address) before delays start
    lockout_time: timedelta  # the longest delay

    @classmethod
    def of(cls, settings: Settings) -> SignInRules:
        return cls(
            idle_timeout=settings.staff_idle_timeout,
            session_lifetime=settings.staff_session_lifetime,
            lockout_failures=settings.staff_lockout_failures,
            lockout_time=settings.staff_lockout_time,
        )

    def delay_after(self, failures: int, threshold: int) -> timedelta | None:
        """How long the next try waits after the last of ``failures``, if at all."""
        if failures < threshold:
            return None
        doubling = min(failures - threshold, 40)  # 2**40 s is far past any cap
        return min(timedelta(seconds=2**doubling), self.lockout_time)


class SignInRefused(DomainError):
    """A wrong address, password or code: one message for all of them."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "That e-mail address and password do not match an account that can sign in."
        )


PASSWORD_CHANGED = (
    "The password of this account was changed after you typed it. Please sign in again."  # noqa: S105 - a message
)


class CodeRefused(SignInRefused):
    def __init__(self) -> None:
        super().__init__(
            "That code is not right, or was used already. Type the code your "
            "authenticator app shows now."
        )


class TryLater(SignInRefused):
    """Too many recent failures: no try is checked until ``until``."""

    http_status = 429

    def __init__(self, until: datetime, now: datetime) -> None:
        self.until = until
        seconds = max(1, math.ceil((until - now).total_seconds()))
        wait = (
            f"{seconds} second{'s' if seconds != 1 else ''}"
            if seconds < 120
            else f"{math.ceil(seconds / 60)} minutes"
        )
        super().__init__(
            f"Too many wrong passwords or codes: wait {wait} before trying again, "
            "or ask for a password reset."
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
    session: Session,
    *,
    key: bytes,
    email: str,
    password: str,
    now: datetime,
    rules: SignInRules,
    address: str | None = None,
) -> PasswordAccepted:
    """The first step of signing in, from client ``address``. Raises SignInRefused or
    TryLater; either way, commit: the failure counts toward the delays and is in the log."""
    typed = email.strip().lower()
    who = _Tries(_email_hash(key, typed), _address_hash(key, address))
    user = session.scalar(select(StaffUser).where(StaffUser.email == typed).with_for_update())
    target = ("user", user.id) if user is not None else None
    _refuse_while_waiting(session, who, target, now, rules)
    usable = user is not None and user.active and user.password_hash is not None
    right = passwords.verify(user.password_hash if user is not None and usable else None, password)
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
        _fail(session, who, target, reason, now, rules)
        raise SignInRefused()
    assert user.password_hash is not None
    if passwords.needs_rehash(user.password_hash):
        user.password_hash = passwords.hash_password(password)
    if user.has_second_factor:
        return PasswordAccepted(user.id, None)
    return PasswordAccepted(user.id, _start(session, user, who, now))


def check_code(
    session: Session,
    *,
    key: bytes,
    user_id: int,
    code: str,
    now: datetime,
    rules: SignInRules,
    keys: TotpKeys,
    address: str | None = None,
    password_accepted_at: datetime | None = None,
) -> str:
    """The second step: a code from the user's authenticator, or one of their recovery
    codes (conservancy.staff.recovery, used up here). Returns the session token.

    ``password_accepted_at``: when the first step took the password. A password set
    since (by a reset or invitation link, or changed) ends that half sign-in as it ends
    the user's sessions: the password it took no longer stands.

    Raises CodeRefused (counted like a wrong password), TryLater, or
    SignInRefused when the user can no longer sign in at all. A secret not yet sealed
    with the newest key (or stored plain, from before) is sealed with it here."""
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None or not user.active or not user.has_second_factor:
        raise SignInRefused()
    changed = user.password_changed_at
    if (
        password_accepted_at is not None
        and changed is not None
        and clock.as_utc(changed) > password_accepted_at
    ):
        raise SignInRefused(PASSWORD_CHANGED)
    who = _Tries(_email_hash(key, user.email), _address_hash(key, address))
    _refuse_while_waiting(session, who, ("user", user.id), now, rules)
    if recovery.looks_like_code(code):
        if not recovery.use(session, user.id, code, now):
            _fail(session, who, ("user", user.id), "wrong recovery code", now, rules)
            raise CodeRefused()
        audit.record(
            session,
            user,
            "two-factor.recovery-code-used",
            ("user", user.id),
            after={"remaining": recovery.remaining(session, user.id)},
            at=now,
        )
        return _start(session, user, who, now)
    secret = None if user.totp_secret is None else keys.open(user.totp_secret)
    step = None if secret is None else totp.matching_step(secret, code, now, user.totp_last_step)
    if step is None or user.totp_secret is None:
        _fail(session, who, ("user", user.id), "wrong code", now, rules)
        raise CodeRefused()
    user.totp_last_step = step
    if not keys.is_current(user.totp_secret):
        user.totp_secret = keys.reseal(user.totp_secret)
    return _start(session, user, who, now)


def check_security_key(
    session: Session,
    *,
    key: bytes,
    user_id: int,
    credential: str,
    rp: security_keys.RelyingParty,
    now: datetime,
    rules: SignInRules,
    address: str | None = None,
) -> str:
    """The second step with a security key: ``credential`` is its answer (JSON) to the
    challenge of the code page. Returns the session token.

    Raises KeyRefused (counted like a wrong code; a cloned key is also in the audit log),
    TryLater, or SignInRefused when the user can no longer sign in at all."""
    user = session.get(StaffUser, user_id, with_for_update=True)
    if user is None or not user.active or not user.has_second_factor:
        raise SignInRefused()
    who = _Tries(_email_hash(key, user.email), _address_hash(key, address))
    _refuse_while_waiting(session, who, ("user", user.id), now, rules)
    try:
        used = security_keys.verify_sign_in(session, user, rp, credential, now)
    except security_keys.KeyCloned:
        _fail(session, who, ("user", user.id), "cloned security key", now, rules)
        raise
    except security_keys.KeyRefused:
        _fail(session, who, ("user", user.id), "security key refused", now, rules)
        raise
    token = _start(session, user, who, now)
    audit.record(
        session,
        user,
        "two-factor.security-key-used",
        ("user", user.id),
        after={"key": used.id, "name": used.name},
        at=now,
    )
    return token


@dataclass(frozen=True)
class _Tries:
    """Whose tries these are: keyed hashes of the account typed and the client's address."""

    email_hash: str
    address_hash: str


def _email_hash(key: bytes, address: str) -> str:
    return abuse.keyed_hash(key, "staff-sign-in", address.strip().lower())


def _address_hash(key: bytes, address: str | None) -> str:
    return abuse.keyed_hash(key, "staff-sign-in-client", address or "unknown")


def _waiting_until(
    session: Session, who: _Tries, now: datetime, rules: SignInRules
) -> datetime | None:
    """Until when tries of ``who`` wait, if they do now: the later of the delay of this
    client address and that of the account over every address."""
    since = now - FAILURE_MEMORY
    account = SignInFailure.email_hash == who.email_hash
    here = account & (SignInFailure.address_hash == who.address_hash)
    until = None
    for matches, threshold in (
        (here, rules.lockout_failures),
        (account, rules.lockout_failures * ACCOUNT_FACTOR),
    ):
        count, last = session.execute(
            select(func.count(), func.max(SignInFailure.at)).where(
                matches, SignInFailure.at > since
            )
        ).one()
        delay = rules.delay_after(int(count or 0), threshold)
        if delay is not None and last is not None:
            ends = clock.as_utc(last) + delay
            if ends > now and (until is None or ends > until):
                until = ends
    return until


def _refuse_while_waiting(
    session: Session, who: _Tries, target: audit.Target | None, now: datetime, rules: SignInRules
) -> None:
    until = _waiting_until(session, who, now, rules)
    if until is not None:
        audit.record(session, None, "sign-in.refused-waiting", target, at=now)
        raise TryLater(until, now)


def _fail(
    session: Session,
    who: _Tries,
    target: audit.Target | None,
    reason: str,
    now: datetime,
    rules: SignInRules,
) -> None:
    """Count a failure; raises TryLater when it makes the next try wait."""
    session.execute(
        delete(SignInFailure).where(
            SignInFailure.email_hash == who.email_hash,
            SignInFailure.at <= now - FAILURE_MEMORY,
        )
    )
    session.add(SignInFailure(email_hash=who.email_hash, address_hash=who.address_hash, at=now))
    session.flush()
    audit.record(session, None, "sign-in.failed", target, after={"reason": reason}, at=now)
    until = _waiting_until(session, who, now, rules)
    if until is not None:
        audit.record(
            session, None, "sign-in.delayed", target, after={"until": until.isoformat()}, at=now
        )
        session.flush()
        raise TryLater(until, now)


def _start(session: Session, user: StaffUser, who: _Tries, now: datetime) -> str:
    # Only this address's failures: someone else's guesses elsewhere still count.
    session.execute(
        delete(SignInFailure).where(
            SignInFailure.email_hash == who.email_hash,
            SignInFailure.address_hash == who.address_hash,
        )
    )
    token = start_session(session, user, now)
    audit.record(session, user, "sign-in", ("user", user.id), at=now)
    return token


def forget_failures(session: Session, *, key: bytes, email: str) -> None:
    """Every failure counted for the account ``email``, from every address: its owner has
    just proved who they are (a password set with a link)."""
    session.execute(
        delete(SignInFailure).where(SignInFailure.email_hash == _email_hash(key, email))
    )


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
        options=[
            selectinload(StaffUser.roles).selectinload(StaffRole.project),
            selectinload(StaffUser.security_keys),
        ],
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
    session: Session,
    token: str,
    purpose: TokenPurpose,
    password: str,
    now: datetime,
    *,
    key: bytes,
) -> StaffUser:
    """Set a password with a one-time link; ends every session the user had, and lifts
    every delay on signing in to the account (``key``: the one sign-in hashes with).

    Raises BadPassword (the link stays usable) or LinkRefused."""
    user = link_user(session, token, purpose, now)
    if user is not None:
        passwords.check_new_password(password, user.email)
    user = use_link(session, token, purpose, now)
    _set_password(session, user, password, now)
    end_sessions(session, user.id, now)
    forget_failures(session, key=key, email=user.email)
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


def enrolment_secret(session: Session, user_id: int, keys: TotpKeys) -> str:
    """The secret a user is enrolling with: the same one until they confirm it; stored
    sealed. Flushes."""
    user = get_user(session, user_id, lock=True)
    if user.totp_pending_secret is None:
        user.totp_pending_secret = keys.seal(totp.new_secret())
        session.flush()
    return keys.open(user.totp_pending_secret)


def confirm_enrolment(
    session: Session, staff: Staff, code: str, now: datetime, keys: TotpKeys
) -> list[str] | None:
    """Turn on sign-in with an authenticator app if ``code`` comes from the secret being
    enrolled; returns None if it does not. When this is the user's first second factor,
    returns their new recovery codes, to be shown once; else none (a user with a
    security key has theirs already)."""
    user = get_user(session, staff.id, lock=True)
    pending = user.totp_pending_secret
    secret = None if pending is None else keys.open(pending)
    step = None if secret is None else totp.matching_step(secret, code, now, None)
    if step is None or secret is None:
        return None
    before = user_state(user)
    first = not user.has_second_factor
    user.totp_secret, user.totp_pending_secret = keys.seal(secret), None
    user.totp_last_step = step
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
    return recovery.make_codes(session, user.id, now) if first else []


def new_recovery_codes(session: Session, staff: Staff, now: datetime) -> list[str]:
    """New recovery codes for a user with a second factor; the old ones stop working.
    Returns them, to be shown once."""
    user = get_user(session, staff.id, lock=True)
    codes = recovery.make_codes(session, user.id, now)
    audit.record(session, staff, "two-factor.recovery-codes-made", ("user", user.id), at=now)
    return codes
