"""Finding a gift for staff, and refunding it to the card it came from.

A card refund goes through :func:`conservancy.donations.service.refund_gift`
(Stripe, then the books and the receipts); here it is also claimed once per
form (conservancy.kernel.submissions) before Stripe is asked, so a form sent twice
refunds once, and written to the audit log. Offline gifts are refunded from
the bank: see conservancy.donations.offline.
"""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donation, Donor, Gift, Refund
from conservancy.donations.service import refund_gift
from conservancy.kernel.errors import DomainError
from conservancy.kernel.submissions import claim
from conservancy.money import Money
from conservancy.payments.gateway import Gateway
from conservancy.receipts.models import Receipt
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

SEARCH_LIMIT = 50
REASON_LIMIT = 500
_RECEIPT_NUMBER = re.compile(r"^\d{4}-\d{6}$")


class ReasonMissing(DomainError):
    """A refund must say why; the audit log keeps the reason."""


def find_gifts(session: Session, query: str) -> list[Gift]:
    """Gifts by receipt number (``2026-000123``), the donor's e-mail address, the gift's
    ref (``offline-12``, ``stripe-txn_…``) or its Stripe charge id; newest first."""
    text = query.strip()
    if not text:
        return []
    where: ColumnElement[bool]
    if _RECEIPT_NUMBER.match(text):
        where = Gift.id.in_(select(Receipt.gift_id).where(Receipt.number == text))
    elif "@" in text:
        where = Donation.donor_id.in_(select(Donor.id).where(Donor.email == text.lower()))
    else:
        where = (Gift.ref == text) | (Gift.charge_id == text)
    return list(
        session.scalars(
            select(Gift)
            .join(Donation, Gift.donation_id == Donation.id)
            .where(where)
            .order_by(Gift.settled_at.desc(), Gift.id.desc())
            .limit(SEARCH_LIMIT)
        )
    )


def recent_gifts(session: Session) -> list[Gift]:
    """The newest gifts, what the gifts page lists before any search."""
    return list(
        session.scalars(
            select(Gift).order_by(Gift.settled_at.desc(), Gift.id.desc()).limit(SEARCH_LIMIT)
        )
    )


def refund_card_gift(
    session: Session,
    gateway: Gateway,
    actor: Staff | str,
    gift: Gift,
    amount: Money,
    *,
    reason: str,
    key: str | None,
    tz: ZoneInfo,
) -> Refund:
    """Refund part or all of a card gift through Stripe, once per ``key``; audited.

    Raises ReasonMissing or service.RefundTooLarge (nothing written, nothing asked of
    Stripe), submissions.AlreadySubmitted, or the gateway's error (the caller rolls back).
    """
    submission = claim(session, key, "card-refund")
    reason = " ".join(reason.split())
    if not reason:
        raise ReasonMissing("Say why the money goes back; the audit log keeps it.")
    if len(reason) > REASON_LIMIT:
        raise ReasonMissing(f"A reason is at most {REASON_LIMIT} characters.")
    before = gift.remaining
    row = refund_gift(session, gateway, gift, amount, reason=reason, tz=tz)
    audit.record(
        session,
        actor,
        "gift.refunded",
        ("gift", gift.id),
        before={"remaining": str(before)},
        after={
            "remaining": str(gift.remaining),
            "refund": row.stripe_refund_id,
            "amount": str(amount),
            "reason": reason,
        },
    )
    submission.result = f"gift:{gift.id}"
    session.flush()
    return row
