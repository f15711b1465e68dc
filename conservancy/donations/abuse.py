"""Card-testing defence: how often one client address, or one e-mail, may start a checkout.

Card testers post a donation form again and again to get checkout sessions on
which to try stolen card numbers. Each well-formed try at the form (one that
passed the honeypot) is counted here, per client address and per e-mail, over a
sliding window; past the limit the try is refused before anything is recorded
or sent to Stripe. Refused tries are counted too, so a client that keeps
hammering stays refused until it has paused for a whole window.

Only keyed hashes (HMAC-SHA256 with the app's secret key) of the address and
the e-mail are stored: the table cannot be read back into who tried, and the
hashes of one deployment mean nothing to another.

The address is ``request.remote_addr``. Behind a reverse proxy that is the
proxy's address unless the proxy passes the client's on and the app trusts it
(werkzeug's ``ProxyFix`` with the right number of hops): otherwise every donor
shares one address, and one limit.

Counting and recording are not atomic: two simultaneous tries may both pass at
the limit. A card tester gains one or two sessions from that; no more.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from conservancy.kernel.errors import DomainError
from conservancy.payments.models import CheckoutAttempt

WINDOW = timedelta(minutes=10)
ADDRESS_LIMIT = 10  # tries per client address per WINDOW
EMAIL_LIMIT = 5  # tries per e-mail per WINDOW


class TooManyAttempts(DomainError):
    http_status = 429


@dataclass(frozen=True)
class Limits:
    """What is counted, and how often per WINDOW, with what a refused client is told."""

    kind: str  # keeps the counts of one form apart from another's
    per_address: int
    per_email: int
    address_refusal: str
    email_refusal: str


CHECKOUT = Limits(
    kind="",
    per_address=ADDRESS_LIMIT,
    per_email=EMAIL_LIMIT,
    address_refusal=(
        "There have been too many tries from your connection in the last few minutes. "
        "Please wait ten minutes, then try again."
    ),
    email_refusal=(
        "There have been too many tries with this e-mail address in the last few minutes. "
        "Please wait ten minutes, then try again."
    ),
)


def keyed_hash(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of ``value``, hex; ``kind`` keeps an address and an e-mail apart."""
    return hmac.new(key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def admit_attempt(
    session: Session,
    *,
    key: bytes,
    address: str | None,
    email: str,
    now: datetime,
    limits: Limits = CHECKOUT,
) -> None:
    """Count one try (by default at the donation form), and refuse it if this address
    or e-mail has tried too often in the last WINDOW.

    The try is recorded (flushed) before TooManyAttempts is raised: commit to
    keep counting it, as the donation form does.
    """
    prefix = f"{limits.kind}-" if limits.kind else ""
    address_hash = keyed_hash(key, f"{prefix}address", address or "unknown")
    email_hash = keyed_hash(key, f"{prefix}email", email.strip().lower())
    since = now - WINDOW
    by_address = _recent(session, CheckoutAttempt.address_hash == address_hash, since)
    by_email = _recent(session, CheckoutAttempt.email_hash == email_hash, since)
    session.add(CheckoutAttempt(address_hash=address_hash, email_hash=email_hash, at=now))
    session.flush()
    if by_address >= limits.per_address:
        raise TooManyAttempts(limits.address_refusal)
    if by_email >= limits.per_email:
        raise TooManyAttempts(limits.email_refusal)


def _recent(session: Session, matches: ColumnElement[bool], since: datetime) -> int:
    # Rows of this client older than the window no longer count: forget them
    # (the index on (hash, at) makes this cheap), so the table stays small.
    session.execute(delete(CheckoutAttempt).where(matches, CheckoutAttempt.at < since))
    count = session.scalar(
        select(func.count())
        .select_from(CheckoutAttempt)
        .where(matches, CheckoutAttempt.at >= since)
    )
    return int(count or 0)
