"""Staff and treasurers: who may sign in, with which roles, and what they did.

Secrets are kept only in forms that cannot be used as they are: passwords as
argon2id hashes, one-time links and session ids as sha256 hashes. The TOTP
secret, from which the server must compute codes, is encrypted with a key kept
in the settings, not the database; it is never shown again after enrolment and
never reaches the audit log.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.infra.db import Base, str_enum
from conservancy.kernel import clock
from conservancy.projects.models import Project


class Role(StrEnum):
    TREASURER = "treasurer"  # of one project; a user may hold it for several
    ADMIN = "admin"
    BOOKKEEPER = "bookkeeper"
    AUDITOR = "auditor"  # sees what a bookkeeper sees, changes nothing
    # Of one project: files spending requests (conservancy.expenses.requests). Last, so that
    # `user add --help` lists the SPEC's roles as SPEC writes them, then this one.
    MEMBER = "member"


class TokenPurpose(StrEnum):
    INVITE = "invite"  # the first password, from `user add` or the users page
    RESET = "reset"  # a forgotten password, from the reset page


class StaffUser(Base):
    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Always stored lower-cased and stripped: that is what makes it unique
    # case-insensitively, on SQLite and PostgreSQL alike.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # None until the user sets one with their first sign-in link.
    password_hash: Mapped[str | None] = mapped_column(String(200))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Base32 (RFC 6238), sealed with CONSERVANCY_TOTP_KEYS (conservancy.staff.totp_keys):
    # a Fernet token, or plain base32 from before migration 0016 until sealed. The pending
    # one is shown during enrolment and becomes totp_secret once the user has typed a code
    # made from it.
    totp_secret: Mapped[str | None] = mapped_column(String(255))
    totp_pending_secret: Mapped[str | None] = mapped_column(String(255))
    # The last 30-second step a code was accepted for: no code of that step or
    # an earlier one is accepted again, so an overheard code cannot be replayed.
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    roles: Mapped[list[StaffRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", order_by="StaffRole.id"
    )
    security_keys: Mapped[list[SecurityKey]] = relationship(
        back_populates="user", order_by="SecurityKey.id"
    )

    @property
    def has_second_factor(self) -> bool:
        """Whether signing in takes more than the password: an authenticator app's
        code, a security key, or both."""
        return self.totp_secret is not None or bool(self.security_keys)


# The roles held in one project; the others are the sponsor's and see every project.
PROJECT_ROLES = frozenset({Role.TREASURER, Role.MEMBER})


class StaffRole(Base):
    """One role of a user; a treasurer or member role names its project, no other role does."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('treasurer', 'member')) = (project_id IS NOT NULL)",
            name="treasurer_has_project",
        ),
        UniqueConstraint("user_id", "role", "project_id", name="uq_staff_roles_user_role_project"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    role: Mapped[Role] = mapped_column(str_enum(Role, "staff_role"))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("projects.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    user: Mapped[StaffUser] = relationship(back_populates="roles")
    project: Mapped[Project | None] = relationship()


class StaffToken(Base):
    """A one-time link that sets a password. Only its sha256 is stored."""

    __tablename__ = "staff_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    purpose: Mapped[TokenPurpose] = mapped_column(str_enum(TokenPurpose, "staff_token_purpose"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random id; the row holds its sha256."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RecoveryCode(Base):
    """One single-use recovery code for two-factor sign-in; only its sha256 is kept
    (conservancy.staff.recovery). ``used_at`` is set when it signs someone in."""

    __tablename__ = "staff_recovery_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SecurityKey(Base):
    """A security key or passkey (WebAuthn) a user signs in with, as a second factor
    (conservancy.staff.security_keys). Only its public key is kept: nothing here signs."""

    __tablename__ = "staff_security_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"), index=True)
    # The authenticator's id for it, base64url without padding (at most 1023 bytes raw).
    credential_id: Mapped[str] = mapped_column(String(1400), unique=True)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)  # COSE, as the key sent it
    # The key's signature counter: each use must raise it, unless the key keeps none (0).
    sign_count: Mapped[int] = mapped_column(BigInteger)
    transports: Mapped[list[str]] = mapped_column(JSON)  # "usb", "nfc", "internal"...
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    user: Mapped[StaffUser] = relationship(back_populates="security_keys")


class SecurityKeyChallenge(Base):
    """The random challenge a security key must sign: one per user and purpose at a time,
    short-lived, and deleted by the answer that uses it, so it can be used once."""

    __tablename__ = "staff_security_key_challenges"
    __table_args__ = (
        UniqueConstraint("user_id", "purpose", name="uq_staff_security_key_challenges_user"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("staff_users.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # "register" or "sign-in"
    challenge: Mapped[str] = mapped_column(String(100))  # base64url
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SignInFailure(Base):
    """A wrong password or code, for the delays on signing in (conservancy.staff.sign_in).

    Keyed by HMACs of the e-mail address typed and of the client's address, not by
    user: an address that is nobody's is counted and delayed exactly like a user's,
    so a delay says nothing about who has an account.
    """

    __tablename__ = "staff_sign_in_failures"
    __table_args__ = (
        Index("ix_staff_sign_in_failures_email_at", "email_hash", "at"),
        Index("ix_staff_sign_in_failures_email_client_at", "email_hash", "address_hash", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64))
    # The client's address; NULL on failures counted before 0016 (they count for the
    # account only, and are forgotten within a day).
    address_hash: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One thing staff changed (or a sign-in), with what it was before and after.

    Rows are only ever added. ``actor_id`` is None for the command line and for
    someone not signed in (a failed sign-in); ``actor`` says which, or the
    signed-in user's e-mail at the time.
    """

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_target", "target_kind", "target_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"), index=True)
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    target_kind: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(64))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)
