"""Employer matching: a company's gift that matches one of its employee's gifts.

The donor may name their employer on the donation form (``Donation.employer``,
checked by donations.service.check_employer). It is the donor's private detail:
their receipt says the receipt may go to that employer's matching-gift
programme, and their portal lists what the programme asks for, but it is never
written into the books and never shown on a project's pages.

When the company's money arrives, staff record it from the original gift's
page. It is the company's own contribution, so it is an offline gift (cheque or
wire) like any other, booked and receipted by donations.offline, whose donor is
the company: a Donor of its own, ref ``employer-<hash of its name>`` (the same
company however its name was typed), which is the entry's ``entity`` and so the
contributor the year-end package counts for Schedule B; its receipt is addressed
to the company. The match's Gift links to the original (``matches_gift_id``).

The match is anonymous outside the sponsor's records (Visibility.ANONYMOUS): a
company gift that follows an employee's would tell a project's treasurers, or
anyone reading the books, where that employee works. The books name it
"Anonymous" with the company's ref as its entity, as for any anonymous donor.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donor, Gift, OfflineMethod, Visibility
from conservancy.donations.offline import (
    ADDRESS_LIMIT,
    NAME_LIMIT,
    Actor,
    OfflineGiftRequest,
    OfflineRefused,
    offline_of,
    record_offline_gift,
)
from conservancy.kernel.submissions import claim
from conservancy.money import Currency, Money

# Matching-gift programmes match one to one, some two or three to one. A match above
# three times what stands of the gift (all its matches together) is a typing mistake
# or no match at all: a company's own larger gift is entered at /admin/gifts/offline.
MATCH_RATIO = 3
MATCH_METHODS = (OfflineMethod.CHEQUE, OfflineMethod.WIRE)


@dataclass(frozen=True)
class MatchRequest:
    """The company's matching gift as staff typed it, already parsed (the form does that)."""

    company: str
    amount: Money
    received_on: date
    method: OfflineMethod
    reference: str
    # The company's postal address, printed on its receipt (kept from an earlier match
    # when not given).
    address: str | None = None


def employer_ref(company: str) -> str:
    """A company's donor ref: the same for the same name, however it was typed."""
    key = " ".join(company.split()).casefold()
    return f"employer-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def matches_of(session: Session, gift: Gift) -> list[Gift]:
    """The matching gifts that arrived for ``gift``, oldest first."""
    return list(
        session.scalars(select(Gift).where(Gift.matches_gift_id == gift.id).order_by(Gift.id))
    )


def match_limit(session: Session, gift: Gift) -> Money:
    """What may still be matched of ``gift``: MATCH_RATIO times what stands of it, in US
    dollars as it settled, less the matches already recorded."""
    matched = session.scalar(
        select(func.coalesce(func.sum(Gift.project_minor), 0)).where(
            Gift.matches_gift_id == gift.id
        )
    )
    left = MATCH_RATIO * (gift.settled_minor - gift.reversed_settled_minor) - int(matched or 0)
    return Money.from_minor(max(left, 0), Currency(gift.donation.project.currency))


def record_matching_gift(
    session: Session,
    actor: Actor,
    original: Gift,
    request: MatchRequest,
    *,
    key: str | None,
    tz: ZoneInfo,
) -> Gift:
    """Record the company's matching gift of ``original``: booked and receipted as the
    company's offline gift, linked to ``original``; once per ``key``.

    Raises OfflineRefused (nothing written) or submissions.AlreadySubmitted. Flushes.
    """
    # The key first: a form sent twice is taken to its first match, not measured again.
    submission = claim(session, key, "matching-gift")
    # What was matched as committed: another match of this gift waits until this one is in.
    session.refresh(original, with_for_update=True)
    company = " ".join(request.company.split())
    if not company:
        raise OfflineRefused("Give the company's name as its receipt should show it.", "company")
    if len(company) > NAME_LIMIT:
        raise OfflineRefused(f"A name is at most {NAME_LIMIT} characters.", "company")
    address = (request.address or "").strip() or None
    if address is not None and len(address) > ADDRESS_LIMIT:
        raise OfflineRefused(f"An address is at most {ADDRESS_LIMIT} characters.", "address")
    if original.matches_gift_id is not None:
        raise OfflineRefused("This gift is itself a match: record the match on the original.")
    if request.method not in MATCH_METHODS:
        raise OfflineRefused("A matching gift comes by cheque or wire.", "method")
    offline = offline_of(session, original)
    if offline is not None and offline.method is OfflineMethod.DAF:
        raise OfflineRefused(
            "A donor-advised fund's grant is the fund's gift: no employer matches it."
        )
    if request.amount.minor > 0:
        limit = match_limit(session, original)
        if request.amount.currency is limit.currency and request.amount > limit:
            raise OfflineRefused(
                f"A match is at most {MATCH_RATIO} times the gift it matches: "
                f"{limit.format()} remains to match here. Enter a larger gift of the company's "
                "own under Cheques and wires.",
                "amount",
            )
    if request.received_on < original.settled_on:
        raise OfflineRefused(
            f"The gift it matches was received on {original.settled_on.isoformat()}; "
            "a match cannot arrive before that.",
            "received_on",
        )
    donation = original.donation
    return record_offline_gift(
        session,
        actor,
        donation.project,
        OfflineGiftRequest(
            amount=request.amount,
            received_on=request.received_on,
            method=request.method,
            reference=request.reference,
            name=company,
            address=address,
            visibility=Visibility.ANONYMOUS,
        ),
        key=key,
        tz=tz,
        donor=_company(session, company, address),
        matches=original,
        submission=submission,
    )


def _company(session: Session, company: str, address: str | None) -> Donor:
    """The company as a donor of its own: the ledger's entity for its matching gifts.
    A new address replaces the one an earlier match gave; none keeps it."""
    ref = employer_ref(company)
    donor = session.scalar(select(Donor).where(Donor.ref == ref))
    if donor is None:
        donor = Donor(ref=ref, email=None, name=company)
        session.add(donor)
    else:
        donor.name = company
    if address is not None:
        donor.address = address
    return donor
