"""Security keys and passkeys (WebAuthn) as a second factor for staff sign-in.

A user registers keys from their two-factor page and may then use one in place of an
authenticator app's code after their password. The browser talks to the key; this
module makes what it must sign and checks what comes back, with py_webauthn (Duo
Labs' library, the one Python implementation of the W3C spec that is maintained,
typed and widely used; it verifies "none" and every attestation format, and each
signature, with ``cryptography``). This is the only module that imports it.

Challenges. Each ceremony signs a random 32-byte challenge made here and kept in the
database (:class:`SecurityKeyChallenge`, one per user and purpose: a new page replaces
the last one), never only in the browser's cookie. It lasts CHALLENGE_LIFETIME, and
the answer that carries it deletes it with one conditional DELETE before anything
else is checked, so a challenge signs once: a replayed answer finds nothing to use.

Checks. py_webauthn checks the challenge, the origin (the public base URL,
CONSERVANCY_BASE_URL), the RP ID (its host) and the signature; user verification
is "preferred" (a PIN or fingerprint when the key has one) and user presence is
required. The key must be one of *this* user's, found by its credential id. The
signature counter must grow between uses unless the key keeps none (0 both times):
a count that does not is a copy of the key in someone else's hands, refused and
written to the audit log. Each refusal raises :class:`KeyRefused`; at sign-in the
caller counts it as a failure, like a wrong code.

The RP ID is a host name: browsers refuse an IP address as one, so keys work only
when the site is opened by a name (``localhost`` will do on one's own machine).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from webauthn import (
    generate_authentication_options,
    generate_registration_options,
    options_to_json,
    verify_authentication_response,
    verify_registration_response,
)
from webauthn.helpers import (
    base64url_to_bytes,
    bytes_to_base64url,
    parse_authentication_credential_json,
    parse_client_data_json,
    parse_registration_credential_json,
)
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from conservancy.infra.config import Settings
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.staff import audit, recovery
from conservancy.staff.models import SecurityKey, SecurityKeyChallenge, StaffUser
from conservancy.staff.permissions import Staff

CHALLENGE_LIFETIME = timedelta(minutes=5)
NAME_LENGTH = 60
REGISTER, SIGN_IN = "register", "sign-in"
_TIMEOUT_MS = int(CHALLENGE_LIFETIME.total_seconds() * 1000)


class KeyRefused(DomainError):
    """A security key's answer that does not sign the user in or add the key."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "Your security key's answer was not accepted. Try again, or use another way "
            "to sign in."
        )


class ChallengeSpent(KeyRefused):
    def __init__(self) -> None:
        super().__init__(
            "That took too long, or the page was used already. Try again from this page."
        )


class KeyCloned(KeyRefused):
    def __init__(self) -> None:
        super().__init__(
            "This security key's signature counter went backwards, which is what a copy of "
            "the key does: it was refused. Use another way to sign in, remove this key "
            "from your two-factor page, and tell an admin."
        )


@dataclass(frozen=True)
class RelyingParty:
    """Who the keys sign for: the site at its public base URL."""

    id: str  # the host
    name: str
    origin: str  # scheme://host[:port]

    @classmethod
    def of(cls, settings: Settings, name: str) -> RelyingParty:
        parts = urlsplit(settings.base_url)
        host = (parts.hostname or "localhost").lower()
        return cls(id=host, name=name, origin=f"{parts.scheme}://{parts.netloc.lower()}")

    @property
    def usable(self) -> bool:
        """Whether browsers take this host as an RP ID: a name, not an IP address."""
        try:
            ipaddress.ip_address(self.id)
        except ValueError:
            return True
        return False


# -- reading ---------------------------------------------------------------------------


def keys_of(session: Session, user_id: int) -> list[SecurityKey]:
    return list(
        session.scalars(
            select(SecurityKey).where(SecurityKey.user_id == user_id).order_by(SecurityKey.id)
        )
    )


def check_name(name: str) -> str | None:
    """What is wrong with ``name`` as a key's name, if anything."""
    if not name.strip():
        return "Give the key a name, such as “blue YubiKey” or “laptop”."
    if len(name.strip()) > NAME_LENGTH:
        return f"A key's name is at most {NAME_LENGTH} characters."
    return None


# -- challenges ------------------------------------------------------------------------


def _keep_challenge(
    session: Session, user_id: int, purpose: str, challenge: bytes, now: datetime
) -> None:
    """Keep ``challenge`` as the user's one for ``purpose``, replacing the last. Of two
    pages shown at once, one keeps its challenge; the other's key is then refused as
    too late, rather than the page failing. Flushes."""
    try:
        with session.begin_nested():
            session.execute(
                delete(SecurityKeyChallenge).where(
                    SecurityKeyChallenge.user_id == user_id,
                    SecurityKeyChallenge.purpose == purpose,
                )
            )
            session.add(
                SecurityKeyChallenge(
                    user_id=user_id,
                    purpose=purpose,
                    challenge=bytes_to_base64url(challenge),
                    expires_at=now + CHALLENGE_LIFETIME,
                )
            )
            session.flush()
    except IntegrityError:
        pass


def _use_challenge(
    session: Session, user_id: int, purpose: str, client_data: bytes, now: datetime
) -> bytes:
    """The challenge the answer signed, if it is this user's for ``purpose`` and still
    good; deleted here, in one statement, so that it signs only once."""
    try:
        challenge = parse_client_data_json(client_data).challenge
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise KeyRefused() from None
    used = session.execute(
        delete(SecurityKeyChallenge)
        .where(
            SecurityKeyChallenge.user_id == user_id,
            SecurityKeyChallenge.purpose == purpose,
            SecurityKeyChallenge.challenge == bytes_to_base64url(challenge),
            SecurityKeyChallenge.expires_at > now,
        )
        .execution_options(synchronize_session=False)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise ChallengeSpent()
    return challenge


def forget(session: Session, user_id: int) -> None:
    """Every key and challenge of the user (an admin's reset of two-factor)."""
    session.execute(delete(SecurityKey).where(SecurityKey.user_id == user_id))
    session.execute(delete(SecurityKeyChallenge).where(SecurityKeyChallenge.user_id == user_id))


def _user_handle(user_id: int) -> bytes:
    # What a passkey keeps to name its account: our id, never the e-mail address.
    return f"conservancy-staff-{user_id}".encode()


def _descriptors(keys: list[SecurityKey]) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(key.credential_id)) for key in keys]


# -- registering -----------------------------------------------------------------------


def registration_options(session: Session, user: StaffUser, rp: RelyingParty, now: datetime) -> str:
    """What the browser asks a new key to make (JSON, for navigator.credentials.create);
    keeps its challenge. Flushes."""
    options = generate_registration_options(
        rp_id=rp.id,
        rp_name=rp.name,
        user_name=user.email,
        user_id=_user_handle(user.id),
        user_display_name=user.name,
        timeout=_TIMEOUT_MS,
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(keys_of(session, user.id)),
    )
    _keep_challenge(session, user.id, REGISTER, options.challenge, now)
    return options_to_json(options)


def register(
    session: Session,
    staff: Staff,
    rp: RelyingParty,
    *,
    name: str,
    credential: str,
    now: datetime,
) -> SecurityKey:
    """Add the key whose answer ``credential`` (JSON) is, named ``name``; raises KeyRefused.
    Flushes and records it."""
    problem = check_name(name)
    if problem is not None:
        raise KeyRefused(problem)
    try:
        parsed = parse_registration_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise KeyRefused() from None
    challenge = _use_challenge(session, staff.id, REGISTER, parsed.response.client_data_json, now)
    try:
        verified = verify_registration_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except WebAuthnException:
        raise KeyRefused() from None
    credential_id = bytes_to_base64url(verified.credential_id)
    if session.scalar(select(SecurityKey.id).where(SecurityKey.credential_id == credential_id)):
        raise KeyRefused("That security key is registered already.")
    key = SecurityKey(
        user_id=staff.id,
        credential_id=credential_id,
        public_key=verified.credential_public_key,
        sign_count=verified.sign_count,
        transports=[t.value for t in parsed.response.transports or []],
        name=name.strip(),
        created_at=now,
        last_used_at=None,
    )
    session.add(key)
    session.flush()
    audit.record(
        session,
        staff,
        "two-factor.security-key-added",
        ("user", staff.id),
        after={"key": key.id, "name": key.name},
        at=now,
    )
    return key


def remove(session: Session, staff: Staff, key_id: int, now: datetime) -> SecurityKey:
    """Remove one of the user's own keys; NotFound for anyone else's. Removing the last
    second factor (no other key, no authenticator app) forgets the recovery codes too:
    they stand in for a second factor there no longer is. Flushes."""
    key = session.scalar(
        select(SecurityKey).where(SecurityKey.id == key_id, SecurityKey.user_id == staff.id)
    )
    if key is None:
        raise NotFound("You have no such security key.")
    user = key.user
    session.delete(key)
    session.flush()
    session.expire(user, ["security_keys"])
    if not user.has_second_factor:
        recovery.forget(session, user.id)
    audit.record(
        session,
        staff,
        "two-factor.security-key-removed",
        ("user", staff.id),
        before={"key": key.id, "name": key.name},
        at=now,
    )
    return key


# -- signing in ------------------------------------------------------------------------


def sign_in_options(session: Session, user: StaffUser, rp: RelyingParty, now: datetime) -> str:
    """What the browser asks one of the user's keys to sign (JSON, for
    navigator.credentials.get); keeps its challenge. Flushes."""
    options = generate_authentication_options(
        rp_id=rp.id,
        timeout=_TIMEOUT_MS,
        allow_credentials=_descriptors(keys_of(session, user.id)),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    _keep_challenge(session, user.id, SIGN_IN, options.challenge, now)
    return options_to_json(options)


def verify_sign_in(
    session: Session, user: StaffUser, rp: RelyingParty, credential: str, now: datetime
) -> SecurityKey:
    """The user's key that signed ``credential`` (JSON), its counter and last use brought
    up to date; raises KeyRefused, or KeyCloned (recorded in the audit log). Flushes."""
    try:
        parsed = parse_authentication_credential_json(credential)
    except (WebAuthnException, ValueError, KeyError, TypeError):
        raise KeyRefused() from None
    challenge = _use_challenge(session, user.id, SIGN_IN, parsed.response.client_data_json, now)
    key = session.scalar(
        select(SecurityKey).where(
            SecurityKey.credential_id == bytes_to_base64url(parsed.raw_id),
            SecurityKey.user_id == user.id,
        )
    )
    if key is None:
        raise KeyRefused()
    try:
        verified = verify_authentication_response(
            credential=parsed,
            expected_challenge=challenge,
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=key.public_key,
            # Checked below, once the signature is known good: a forged answer must not
            # pass for a cloned key in the audit log.
            credential_current_sign_count=0,
        )
    except WebAuthnException:
        raise KeyRefused() from None
    count = verified.new_sign_count
    if (count > 0 or key.sign_count > 0) and count <= key.sign_count:
        audit.record(
            session,
            None,
            "two-factor.security-key-cloned",
            ("user", user.id),
            before={"key": key.id, "name": key.name, "counter": key.sign_count},
            after={"counter": count},
            at=now,
        )
        raise KeyCloned()
    key.sign_count = count
    key.last_used_at = now
    session.flush()
    return key
