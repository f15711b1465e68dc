"""What a donor does in the portal: sign in by an e-mailed link, see their gifts, change them.

Sign-in links. A link carries a random token (``secrets.token_urlsafe(32)``);
only its sha256 is stored. It works once and for :data:`LINK_LIFETIME`: using
it is one ``UPDATE ... WHERE token_hash = ? AND used_at IS NULL AND expires_at
> now``, so of two simultaneous uses exactly one changes the row and wins.
Asking for a link answers the same whether or not the address is a donor's
(see :func:`request_link`), and is rate-limited per e-mail address and per client
with the card-testing counters of :mod:`conservancy.donations.abuse`, under
kinds of their own so the two limits never share a count.

Sessions. Using a link starts a :class:`DonorSession`: the browser keeps a random
id (in Flask's signed cookie), the row keeps its sha256. It lasts
:data:`SESSION_LIFETIME` (12 hours) from signing in and ends sooner after
``CONSERVANCY_DONOR_IDLE_MINUTES`` (30) without a request, as a staff session does
(its last use written at most every :data:`SEEN_EVERY`); an expired session is
marked ended on the server when next presented. Signing out ends it there too, so
a copy of the cookie taken before is refused from then on.

Everything else takes the signed-in donor's id and finds a donation, receipt or
statement only among that donor's: another donor's is :class:`NotFound`, the
same as one that does not exist.

Recurring gifts are changed at Stripe first, then here, in the caller's
transaction (as ``refund_gift`` does): if the commit fails, the retried request
sends Stripe the same idempotency key and gets the same answer. The key of an
amount change names the donation, how many history rows it had (only a
committed change adds one) and the new amount; a cancellation's key names the
donation alone, since a gift is cancelled once. Cancelling moves the donation
to CANCELLED with ``move_status``, which does nothing when it is cancelled
already: the ``customer.subscription.deleted`` webhook that follows, whichever
of the two commits first, leaves one change in the history.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, selectinload

from conservancy.donations import abuse
from conservancy.donations.models import (
    Donation,
    DonationStatus,
    Donor,
    Gift,
    Visibility,
)
from conservancy.donations.service import INTERVALS, MINIMUM
from conservancy.donations.settlement import move_status
from conservancy.infra.config import DONOR_IDLE_MINUTES, SESSION_SEEN_EVERY
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.mail.outbox import queue
from conservancy.money import Money
from conservancy.payments.gateway import CardSetupRequest, Checkout, Gateway, LineItem
from conservancy.portal.models import DonorSession, PortalToken
from conservancy.receipts.issue import standing
from conservancy.receipts.models import AnnualStatement, Receipt, ReceiptKind

LINK_LIFETIME = timedelta(minutes=30)
# How long signing in lasts, however busy the donor is: from signing in, not from the last page.
SESSION_LIFETIME = timedelta(hours=12)
SEEN_EVERY = SESSION_SEEN_EVERY  # how often a session's last_seen_at is written
# Link requests per WINDOW (abuse.WINDOW): a few per address, more per client
# address (a household or an office shares one).
LINK_EMAIL_LIMIT = 3
LINK_ADDRESS_LIMIT = 10
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_RECEIPT_NUMBER = re.compile(r"^\d{4}-\d{6}$")
# What a donor never sees as a gift of theirs: a checkout that never paid.
_NEVER_GIVEN = (DonationStatus.PENDING, DonationStatus.FAILED, DonationStatus.EXPIRED)


class LinkRefused(DomainError):
    """A sign-in link that is unknown, used already, or past its time."""

    def __init__(self) -> None:
        super().__init__(
            "This sign-in link has expired or was already used. "
            "Each link works once, within 30 minutes. Ask for a new one below."
        )


TooManyLinkRequests = abuse.TooManyAttempts
_LINK_REFUSAL = (
    "Too many sign-in links were asked for in the last few minutes. "
    "Please use the last link we sent, or wait ten minutes and ask again."
)
LINK_LIMITS = abuse.Limits(
    kind="portal",
    per_address=LINK_ADDRESS_LIMIT,
    per_email=LINK_EMAIL_LIMIT,
    address_refusal=_LINK_REFUSAL,
    email_refusal=_LINK_REFUSAL,
)


class ChangeRefused(DomainError):
    """A change to a gift the rules do not allow; the message is for the donor."""


class ReceiptVoided(DomainError):
    """A receipt a refund or dispute voided: it is not handed out as if it stood."""

    http_status = 410


# -- signing in -----------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def admit_link_request(
    session: Session, *, key: bytes, address: str | None, email: str, now: datetime
) -> None:
    """Count one request for a sign-in link; refuse it past the limits.

    Every request counts, for known and unknown addresses alike, so the refusal
    says nothing about who is a donor. The count is flushed before the refusal
    is raised: commit to keep it (hammering keeps the client refused).
    """
    abuse.admit_attempt(session, key=key, address=address, email=email, now=now, limits=LINK_LIMITS)


def request_link(session: Session, *, email: str, base_url: str, now: datetime) -> bool:
    """Issue a sign-in link to the donor with ``email`` and queue its mail; flushes.

    Returns whether a donor has that address; the caller answers the same either way.
    """
    donor = session.scalar(select(Donor).where(Donor.email == email.strip().lower()))
    if donor is None:
        return False
    token = secrets.token_urlsafe(32)
    row = PortalToken(
        donor_id=donor.id,
        token_hash=token_hash(token),
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(row)
    session.flush()
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    queue(
        session,
        key=f"portal-link-{row.id}",
        to_address=email.strip().lower(),
        to_name=donor.name,
        subject="Your sign-in link for the donor portal",
        body=(
            f"Dear {donor.name},\n\n"
            "To see your gifts, download your receipts and statements, or change a "
            "recurring gift, sign in to the donor portal with this link:\n\n"
            f"{base_url}/portal/sign-in/{token}\n\n"
            f"It works once, within {minutes} minutes. If you did not ask for it, you can "
            "ignore this message: no one can sign in without the link.\n"
        ),
    )
    return True


def link_usable(session: Session, token: str, now: datetime) -> bool:
    """Whether a link would sign someone in now (for the page before the button)."""
    if not _TOKEN.match(token):
        return False
    found = session.scalar(
        select(PortalToken.id).where(
            PortalToken.token_hash == token_hash(token),
            PortalToken.used_at.is_(None),
            PortalToken.expires_at > now,
        )
    )
    return found is not None


def sign_in(session: Session, token: str, now: datetime) -> int:
    """Use a sign-in link, once; returns the donor's id. Raises LinkRefused."""
    if not _TOKEN.match(token):
        raise LinkRefused()
    digest = token_hash(token)
    used = session.execute(
        update(PortalToken)
        .where(
            PortalToken.token_hash == digest,
            PortalToken.used_at.is_(None),
            PortalToken.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], used).rowcount != 1:
        raise LinkRefused()
    donor_id = session.scalar(select(PortalToken.donor_id).where(PortalToken.token_hash == digest))
    assert donor_id is not None
    return donor_id


# -- sessions -------------------------------------------------------------------------------


def start_session(session: Session, donor_id: int, now: datetime) -> str:
    """A new session for the donor; returns the id the browser keeps. Flushes."""
    session_id = secrets.token_urlsafe(32)
    session.add(
        DonorSession(
            donor_id=donor_id,
            id_hash=token_hash(session_id),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
            last_seen_at=now,
        )
    )
    session.flush()
    return session_id


@dataclass(frozen=True)
class Visit:
    """Who a session cookie signs in: ``donor_id``, or None; ``idle`` when the session
    ended just now for having gone unused too long (the donor is told so)."""

    donor_id: int | None
    idle: bool = False


def visit(session: Session, session_id: str, now: datetime, idle_timeout: timedelta) -> Visit:
    """The donor whose session ``session_id`` is, unless it ended or expired.

    Notes the request (at most every SEEN_EVERY) to keep the session alive, and
    ends an expired or idle session for good: flushes either; the caller commits."""
    if not _TOKEN.match(session_id):
        return Visit(None)
    row = session.scalar(
        select(DonorSession).where(
            DonorSession.id_hash == token_hash(session_id), DonorSession.ended_at.is_(None)
        )
    )
    if row is None:
        return Visit(None)
    seen = clock.as_utc(row.last_seen_at or row.created_at)
    if clock.as_utc(row.expires_at) <= now or now - seen >= idle_timeout:
        row.ended_at = now
        session.flush()
        return Visit(None, idle=clock.as_utc(row.expires_at) > now)
    if now - seen >= SEEN_EVERY:
        row.last_seen_at = now
        session.flush()
    return Visit(row.donor_id)


def signed_in_donor(
    session: Session,
    session_id: str,
    now: datetime,
    idle_timeout: timedelta = timedelta(minutes=DONOR_IDLE_MINUTES[1]),
) -> int | None:
    """The donor whose session ``session_id`` is, unless it ended, expired or idled out."""
    return visit(session, session_id, now, idle_timeout).donor_id


def sign_out(session: Session, session_id: str, now: datetime) -> None:
    """End the session for good (a copy of its cookie no longer signs in); flushes."""
    if not _TOKEN.match(session_id):
        return
    session.execute(
        update(DonorSession)
        .where(DonorSession.id_hash == token_hash(session_id), DonorSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )


# -- what the donor sees ----------------------------------------------------------------


@dataclass(frozen=True)
class GiftReceipts:
    """One settled payment and its receipts as the donor may use them."""

    gift: Gift
    receipt: Receipt | None  # the one that stands, if any
    notices: tuple[Receipt, ...]  # voiding notices, each naming the receipt it voids
    # The employer's matching gifts that arrived for it: the donor sees the amount and
    # date, never the company's receipt (donations.matching).
    matches: tuple[Gift, ...] = ()

    @property
    def refunded(self) -> Money:
        return Money.from_minor(self.gift.refunded_minor, self.gift.currency)

    @property
    def disputed(self) -> Money:
        """Money a dispute took back and that was not reinstated."""
        return Money.from_minor(
            self.gift.reversed_minor - self.gift.refunded_minor, self.gift.currency
        )


@dataclass(frozen=True)
class DonationHistory:
    donation: Donation
    gifts: tuple[GiftReceipts, ...]

    @property
    def manageable(self) -> bool:
        return manageable(self.donation)


@dataclass(frozen=True)
class DonorHistory:
    donor: Donor
    donations: tuple[DonationHistory, ...]
    statements: tuple[AnnualStatement, ...]


def manageable(donation: Donation) -> bool:
    """A recurring gift still running at Stripe: its amount can change, it can be cancelled."""
    return (
        donation.recurring
        and donation.status is DonationStatus.PAID
        and donation.stripe_subscription_id is not None
    )


def donor_history(session: Session, donor_id: int) -> DonorHistory:
    donor = session.get(Donor, donor_id)
    if donor is None:
        raise NotFound("There is no such donor.")
    donations = session.scalars(
        select(Donation)
        .where(Donation.donor_id == donor_id, Donation.status.not_in(_NEVER_GIVEN))
        .options(selectinload(Donation.project), selectinload(Donation.gifts))
        .order_by(Donation.created_at.desc(), Donation.id.desc())
    ).all()
    gift_ids = [g.id for d in donations for g in d.gifts]
    receipts: dict[int, list[Receipt]] = {}
    for start in range(0, len(gift_ids), 500):
        rows = session.scalars(
            select(Receipt)
            .where(Receipt.gift_id.in_(gift_ids[start : start + 500]))
            .options(selectinload(Receipt.replaces))
            .order_by(Receipt.id)
        )
        for row in rows:
            receipts.setdefault(row.gift_id, []).append(row)
    matches: dict[int, list[Gift]] = {}
    for start in range(0, len(gift_ids), 500):
        for match in session.scalars(
            select(Gift)
            .where(Gift.matches_gift_id.in_(gift_ids[start : start + 500]))
            .order_by(Gift.id)
        ):
            assert match.matches_gift_id is not None
            matches.setdefault(match.matches_gift_id, []).append(match)
    statements = session.scalars(
        select(AnnualStatement)
        .where(AnnualStatement.donor_id == donor_id)
        .order_by(AnnualStatement.year.desc())
    ).all()
    return DonorHistory(
        donor=donor,
        donations=tuple(
            DonationHistory(
                donation=d,
                gifts=tuple(
                    GiftReceipts(
                        gift=g,
                        receipt=standing(receipts.get(g.id, [])),
                        notices=tuple(
                            r for r in receipts.get(g.id, []) if r.kind is ReceiptKind.VOIDING
                        ),
                        matches=tuple(matches.get(g.id, [])),
                    )
                    for g in sorted(d.gifts, key=lambda g: (g.settled_at, g.id), reverse=True)
                ),
            )
            for d in donations
        ),
        statements=tuple(statements),
    )


def donor_receipt(session: Session, donor_id: int, number: str) -> Receipt:
    """One of the donor's receipts that may be handed out: standing, or a voiding notice.

    A receipt that a later notice voided raises ReceiptVoided: on its own it
    would look valid. Another donor's, or no such number: NotFound.
    """
    if not _RECEIPT_NUMBER.match(number):
        raise NotFound("There is no such receipt.")
    receipt = session.scalar(
        select(Receipt)
        .join(Gift, Receipt.gift_id == Gift.id)
        .join(Donation, Gift.donation_id == Donation.id)
        .where(Receipt.number == number, Donation.donor_id == donor_id)
    )
    if receipt is None:
        raise NotFound("There is no such receipt among your gifts.")
    if receipt.kind is not ReceiptKind.VOIDING:
        chain = session.scalars(select(Receipt).where(Receipt.gift_id == receipt.gift_id)).all()
        if standing(chain) is not receipt:
            notice = next(
                (r for r in chain if r.kind is ReceiptKind.VOIDING and r.replaces_id == receipt.id),
                None,
            )
            raise ReceiptVoided(
                f"Receipt {receipt.number} is void"
                + (f": voiding notice {notice.number} says so." if notice else ".")
                + " Your gifts page has the notice and any receipt that replaces it."
            )
    if receipt.pdf_path is None:
        raise NotFound(f"Receipt {receipt.number} is still being prepared; try again shortly.")
    return receipt


def donor_statement(session: Session, donor_id: int, year: int) -> AnnualStatement:
    statement = session.scalar(
        select(AnnualStatement).where(
            AnnualStatement.donor_id == donor_id, AnnualStatement.year == year
        )
    )
    if statement is None:
        raise NotFound(f"There is no giving statement for {year} among yours.")
    return statement


def stored_pdf(folder: Path, relative: str) -> Path:
    """The stored file ``relative`` under ``folder``; NotFound if missing or outside it."""
    root = folder.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root) or path.suffix != ".pdf" or not path.is_file():
        raise NotFound("That file is not available. Please write to us if you need a copy.")
    return path


# -- what the donor changes ---------------------------------------------------------------


def donor_donation(
    session: Session, donor_id: int, donation_id: int, *, lock: bool = True
) -> Donation:
    """One of the donor's gifts (locked for a change, unless asked not to); NotFound for
    anyone else's."""
    donation = session.get(Donation, donation_id, with_for_update=lock)
    if donation is None or donation.donor_id != donor_id or donation.status in _NEVER_GIVEN:
        raise NotFound("There is no such gift among yours.")
    return donation


def set_visibility(
    session: Session, donor_id: int, donation_id: int, visibility: Visibility
) -> Donation:
    donation = donor_donation(session, donor_id, donation_id)
    if donation.visibility is not visibility:
        donation.note(f"visibility {donation.visibility} -> {visibility}, by the donor")
        donation.visibility = visibility
        session.flush()
    return donation


def change_amount(
    session: Session,
    gateway: Gateway,
    donor_id: int,
    donation_id: int,
    amount: Money,
    *,
    maximum: Money,
) -> Donation:
    """Change what a recurring gift gives the project each period, at Stripe and here.

    An extra gift to the sponsor's General fund, if the donor made one, stays as
    it was: each payment is the new amount plus that. Raises ChangeRefused, and
    GatewayError when Stripe refuses (nothing is written then).
    """
    donation = donor_donation(session, donor_id, donation_id)
    if not manageable(donation):
        raise ChangeRefused("This gift is not a running recurring gift; its amount cannot change.")
    if amount.currency.value != donation.currency:
        raise ChangeRefused(f"This gift is in {donation.currency}.")
    if amount < Money.from_minor(MINIMUM.minor, amount.currency):
        raise ChangeRefused(f"The smallest gift we can take is {MINIMUM.format()}.")
    limit = Money.from_minor(maximum.minor, amount.currency)
    if amount + donation.extra_general > limit:
        raise ChangeRefused(
            f"The largest gift we take online is {limit.format()}; "
            "please write to us for larger gifts."
        )
    if amount == donation.amount:
        return donation
    before = donation.amount
    total = amount + donation.extra_general
    assert donation.stripe_subscription_id is not None
    gateway.update_subscription_amount(
        donation.stripe_subscription_id,
        LineItem(f"Gift to {donation.project.name}", total),
        INTERVALS[donation.frequency],
        f"donation-{donation.id}-amount-{len(donation.history)}-{amount.minor}",
    )
    # Renewals settle by comparing the charge with donation.total: with the new
    # amount stored, they split between the project and General as before.
    donation.amount = amount
    donation.cover_fees = False  # the new amount is what the donor typed, not a gross-up
    donation.note(f"amount {before.format()} -> {amount.format()} each payment, by the donor")
    session.flush()
    return donation


def start_card_update(
    session: Session, gateway: Gateway, donor_id: int, donation_id: int, *, base_url: str
) -> Checkout:
    """Send the donor to Stripe's page to save a new card for a running recurring gift, in
    setup mode: nothing is charged. When Stripe says it is saved, the webhook makes it the
    card of the gift's subscription (payments.events), so the next payment uses it."""
    donation = donor_donation(session, donor_id, donation_id, lock=False)
    if not manageable(donation) or donation.stripe_customer_id is None:
        raise ChangeRefused("This gift is not a running recurring gift; it has no card to update.")
    back = f"{base_url}/portal"
    return gateway.create_card_setup(
        CardSetupRequest(
            customer_id=donation.stripe_customer_id,
            currency=donation.currency,
            metadata={"donation_id": str(donation.id)},
            success_url=f"{back}?card=saved#donation-{donation.id}",
            cancel_url=f"{back}#donation-{donation.id}",
            idempotency_key=f"donation-{donation.id}-card-{secrets.token_hex(8)}",
        )
    )


def cancel_recurring(
    session: Session, gateway: Gateway, donor_id: int, donation_id: int
) -> Donation:
    """Cancel a recurring gift at Stripe and here. Gifts already made stay made."""
    donation = donor_donation(session, donor_id, donation_id)
    if donation.status is DonationStatus.CANCELLED:
        return donation  # the webhook, or an earlier click, got here first
    if not manageable(donation):
        raise ChangeRefused(
            "This gift is not a running recurring gift; there is nothing to cancel."
        )
    assert donation.stripe_subscription_id is not None
    # The donation stays locked (a row lock on PostgreSQL, the write lock on
    # SQLite) until the caller commits: the subscription's webhook waits, then
    # finds the gift cancelled and leaves it.
    gateway.cancel_subscription(donation.stripe_subscription_id, f"donation-{donation.id}-cancel")
    move_status(donation, DonationStatus.CANCELLED, "cancelled by the donor in the portal")
    if donation.donor.email is not None:
        every = donation.frequency.value  # "monthly"
        queue(
            session,
            key=f"donation-{donation.id}-cancelled",
            to_address=donation.donor.email,
            to_name=donation.donor_name,
            subject=f"Your {every} gift to {donation.project.name} is cancelled",
            body=(
                f"Dear {donation.donor_name},\n\n"
                f"As you asked, your {every} gift of {donation.total.format()} to "
                f"{donation.project.name} is cancelled: no further payments will be taken. "
                "The gifts you made stay made, and their receipts stand.\n\n"
                "Thank you for your support. If you did not ask for this, reply to this "
                "mail.\n"
            ),
        )
    session.flush()
    return donation
