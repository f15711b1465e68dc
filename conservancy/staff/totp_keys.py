"""TOTP secrets sealed at rest with the sponsor's key (CONSERVANCY_TOTP_KEYS), and rotating it.

The server must compute codes from a user's TOTP secret, so it cannot keep only a hash
as it does of passwords: it keeps the secret encrypted instead, and a copy of the
database (a backup, a dump handed to a consultant) then holds nothing that makes
codes. The key lives in the settings, never in the database.

Fernet, from ``cryptography`` (the PyCA library that pip, Certbot and most of the
Python world already trust, with audited OpenSSL underneath), rather than raw AES-GCM:
a Fernet token is authenticated (AES-128-CBC with HMAC-SHA256, a random IV each time),
so a wrong key or an altered row is refused rather than decoded into a wrong secret;
a key is one line of URL-safe text that fits an environment variable; and MultiFernet
opens with any of several keys and re-seals with the first, which is key rotation
exactly. Nothing here needs GCM's speed: a few dozen secrets, one per sign-in.

Rotation: put a new key first in CONSERVANCY_TOTP_KEYS ("new,old"), restart, run
``conservancy user rotate-totp-key`` (re-seals every secret with the newest key),
then drop the old key. This module is the only one that imports ``cryptography``.

Secrets stored in plain text before migration 0016 (base32, never a Fernet token,
which always starts ``gAAAAA``) are still read; ``rotate-totp-key`` seals them, and
so does the user's next sign-in with a code.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import inspect, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from conservancy.infra.config import Settings, SettingsError
from conservancy.staff.models import StaffUser

log = logging.getLogger(__name__)

VARIABLE = "CONSERVANCY_TOTP_KEYS"
_PLAIN = re.compile(r"^[A-Z2-7]+=*$")  # base32, as authenticator apps take a secret


class TotpKeys:
    """Seals and opens TOTP secrets; the first key seals, any of them opens."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise SettingsError(f"{VARIABLE} holds no key")
        self._newest = Fernet(keys[0])
        self._all = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def of(cls, settings: Settings) -> TotpKeys:
        return cls(settings.totp_key_list())

    def seal(self, secret: str) -> str:
        return self._all.encrypt(secret.encode("ascii")).decode("ascii")

    def open(self, stored: str) -> str:
        """The secret ``stored`` holds. Raises SettingsError when no key opens it."""
        if is_plain(stored):
            return stored
        try:
            return self._all.decrypt(stored.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SettingsError(
                f"{VARIABLE} opens no stored two-factor secret: was a key removed before "
                "'conservancy user rotate-totp-key' ran?"
            ) from None

    def is_current(self, stored: str) -> bool:
        """Whether ``stored`` is sealed with the newest key already."""
        if is_plain(stored):
            return False
        try:
            self._newest.decrypt(stored.encode("ascii"))
        except InvalidToken:
            return False
        return True

    def reseal(self, stored: str) -> str:
        """``stored`` sealed with the newest key (a plain secret sealed for the first time)."""
        return self.seal(self.open(stored))


def is_plain(stored: str) -> bool:
    return _PLAIN.match(stored) is not None


def new_key() -> str:
    """A new random key, as CONSERVANCY_TOTP_KEYS takes it."""
    return Fernet.generate_key().decode("ascii")


@dataclass(frozen=True)
class Resealed:
    resealed: int  # secrets now sealed with the newest key that were not before
    sealed_already: int


def reseal_all(session: Session, keys: TotpKeys) -> Resealed:
    """Seal every stored secret (enrolled or being enrolled) with the newest key; flushes.

    Raises SettingsError, changing nothing, when some secret opens with no key."""
    resealed = current = 0
    users = session.scalars(
        select(StaffUser)
        .where(StaffUser.totp_secret.is_not(None) | StaffUser.totp_pending_secret.is_not(None))
        .order_by(StaffUser.id)
        .with_for_update()
    ).all()
    for user in users:
        for field in ("totp_secret", "totp_pending_secret"):
            stored = getattr(user, field)
            if stored is None:
                continue
            if keys.is_current(stored):
                current += 1
            else:
                setattr(user, field, keys.reseal(stored))
                resealed += 1
    session.flush()
    return Resealed(resealed, current)


def check_stored(engine: Engine, settings: Settings) -> None:
    """At start-up: refuse, in one line naming CONSERVANCY_TOTP_KEYS, keys that open no
    stored secret, or none given in production once anyone has enrolled."""
    try:
        if not inspect(engine).has_table(StaffUser.__tablename__):
            return  # a database not set up yet: nobody has enrolled
        with Session(engine) as session:
            stored = list(
                session.scalars(
                    select(StaffUser.totp_secret).where(StaffUser.totp_secret.is_not(None))
                )
            )
    except OperationalError:
        # The database cannot be reached: the site still starts, so that /healthz can say
        # so (503); a sign-in with a code finds a wrong key when it opens the secret.
        log.warning("the two-factor keys were not checked: the database cannot be reached")
        return
    if not stored:
        return
    keys = TotpKeys.of(settings)  # SettingsError in production without keys
    for secret in stored:
        if secret is not None:
            keys.open(secret)
