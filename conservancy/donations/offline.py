"""Gifts that reach the bank without Stripe: cheques and wires that staff enter, and
their refunds, sent back from the bank.

A cheque becomes a paid one-time Donation with one Gift, booked as SPEC section 6
says: ``Assets:Bank:Checking`` / ``Income:<Fund>:Donations``, and the project's
sponsorship fee on it like a card gift's (at the project's rate of the day; no
card fee). Its ref is ``offline-<donation id>``; a refund's is
``offline-<donation id>-refund-<n>``. Its receipt is issued in the same
transaction, naming the cheque ("Cheque no. 1234") or "Wire transfer"; a donor
who gave no e-mail address is not mailed, and staff download the PDF instead.

Stock and grants from donor-advised funds are entered the same way and booked
like a cheque. Stock: the sponsor sells donated shares when they arrive, so
staff enter the amount it realised, which lands in ``Assets:Bank:Checking``
(an ``Assets:Brokerage`` account would hold shares the sponsor keeps, which it
does not, and SPEC section 6's chart has none). Its receipt describes the shares
and states no value for them (SPEC section 8): the donor values them.

A donor-advised fund's grant is the fund's gift in law: the recommending donor
took their deduction when they gave to the fund. So its entry's ``entity`` (and
payee) is the fund, a Donor of its own whose ref is derived from its name
(``daf_ref``), and the year-end package's Schedule B counts it there; the
Donation's donor is the recommending donor, who gets an acknowledgement that is
not a tax receipt, and whose annual statement leaves the grant out.

Each entry form carries a key (conservancy.kernel.submissions): a form sent twice
records one gift, or one refund.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.donations.bookkeeping import GiftBooking
from conservancy.donations.donors import donor_by_email, name_gift
from conservancy.donations.models import (
    Donation,
    DonationStatus,
    DonationStatusChange,
    Donor,
    Frequency,
    Gift,
    OfflineGift,
    OfflineMethod,
    OfflineRefund,
    Visibility,
)
from conservancy.donations.service import NoThankYou, current_campaign, thank_you_offer
from conservancy.donations.settlement import booking, move_status
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.kernel.submissions import FormSubmission, claim
from conservancy.ledger import accounts
from conservancy.ledger.outbox import record
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import opened_on
from conservancy.receipts import issue as receipts
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

# Larger sums are no typing mistake a form should take; the books could hold them.
MAXIMUM = Money.from_minor(1_000_000_000, Currency.USD)
NAME_LIMIT = 200
ADDRESS_LIMIT = 1000
REASON_LIMIT = 500
# A cheque's number is its digits. At most ten: a longer run of digits would
# read as a card number, which a receipt must never show.
_CHEQUE_NUMBER = re.compile(r"^[0-9]{1,10}$")
_WIRE_REFERENCE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9 ./:_-]{0,63}$")
# The shares given, or a donor-advised fund's name: words, at most 64 characters.
_DESCRIPTION = re.compile(r"^[^\W_][\w .,&'()/-]{0,63}$")

Actor = Staff | str


class OfflineRefused(DomainError):
    """An offline gift or refund the rules do not allow; ``field`` is the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class OfflineGiftRequest:
    """A cheque or wire as staff typed it, already parsed (the form does that)."""

    amount: Money
    received_on: date
    method: OfflineMethod
    reference: str  # the cheque's number, or the wire's reference
    name: str
    email: str | None = None
    address: str | None = None
    visibility: Visibility = Visibility.PUBLIC
    thank_you: bool = False


def entered_by(actor: Actor) -> str:
    return actor.email if isinstance(actor, Staff) else actor


def payment_wording(method: OfflineMethod, reference: str) -> str:
    """How the receipt names the payment."""
    match method:
        case OfflineMethod.CHEQUE:
            return f"Cheque no. {reference}"
        case OfflineMethod.WIRE:
            return "Wire transfer"
        case OfflineMethod.STOCK:
            return f"Gift of stock: {reference}"
        case OfflineMethod.DAF:
            return f"Grant from {reference}, a donor-advised fund"


def daf_ref(fund_name: str) -> str:
    """A donor-advised fund's donor ref: the same for the same name, however it was typed."""
    key = " ".join(fund_name.split()).casefold()
    return f"daf-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


def check_reference(method: OfflineMethod, reference: str, field: str = "reference") -> str:
    reference = reference.strip()
    if method is OfflineMethod.CHEQUE and not _CHEQUE_NUMBER.match(reference):
        raise OfflineRefused("Give the cheque's number: its digits, such as 1234.", field)
    if method is OfflineMethod.WIRE and not _WIRE_REFERENCE.match(reference):
        raise OfflineRefused(
            "Give the wire's reference as the bank shows it: letters, digits, "
            "spaces and . / : _ -, at most 64.",
            field,
        )
    if method is OfflineMethod.STOCK and not _DESCRIPTION.match(reference):
        raise OfflineRefused(
            "Describe the shares, such as 10 shares of ACME Corp: at most 64 characters.", field
        )
    if method is OfflineMethod.DAF and not _DESCRIPTION.match(reference):
        raise OfflineRefused(
            "Give the donor-advised fund's name, such as Fidelity Charitable: "
            "at most 64 characters.",
            field,
        )
    return reference


def earliest_date(session: Session, fund: str) -> date | None:
    """The first day a gift to ``fund`` can be booked: when the books open the bank and the fund."""
    days = [opened_on(session, a) for a in (accounts.CHECKING, accounts.donations(fund))]
    return None if None in days else max(d for d in days if d is not None)


def record_offline_gift(
    session: Session,
    actor: Actor,
    project: Project,
    request: OfflineGiftRequest,
    *,
    key: str | None,
    tz: ZoneInfo,
    donor: Donor | None = None,
    matches: Gift | None = None,
    submission: FormSubmission | None = None,
) -> Gift:
    """Record a cheque or wire as a paid gift, book it, issue its receipt; once per ``key``.

    ``donor`` is who gave, when the caller knows (a company's matching gift, see
    donations.matching, which also passes the gift it ``matches`` and its own claim of
    the key as ``submission``); by default the donor is found by the request's e-mail
    address or made new.

    Raises OfflineRefused (nothing written) or submissions.AlreadySubmitted. Flushes.
    """
    submission = submission or claim(session, key, "offline-gift")
    _check_gift(session, project, request, today=clock.today(tz))
    benefit = _thank_you(project, request)
    name, address = request.name.strip(), (request.address or "").strip() or None
    email = (request.email or "").strip().lower() or None
    donation = Donation(
        project=project,
        donor=donor or donor_by_email(session, email, name, address),
        donor_name=name,
        donor_address=address,
        amount_minor=request.amount.minor,
        currency=request.amount.currency.value,
        extra_general_minor=0,
        frequency=Frequency.ONCE,
        visibility=request.visibility,
        status=DonationStatus.PAID,
        cover_fees=False,
        campaign_id=_campaign_id(session, project, request.received_on),
        benefit_description=benefit[0] if benefit else None,
        benefit_value_minor=benefit[1].minor if benefit else None,
    )
    wording = payment_wording(request.method, request.reference)
    donation.history.append(
        DonationStatusChange(
            from_status=None, to_status=DonationStatus.PAID, reason=f"{wording}, entered by staff"
        )
    )
    session.add(donation)
    session.flush()
    # Money in hand, entered by staff: the name and address become the donor's own.
    named, where = name_gift(session, donation)
    gift = Gift(
        donation=donation,
        ref=f"offline-{donation.id}",
        donor_name=named,
        donor_address=where,
        charge_id=None,
        balance_transaction_id=None,
        currency=donation.currency,
        project_minor=request.amount.minor,
        general_minor=0,
        fee_minor=0,
        # A cheque or wire is in the project's currency, the books' own: settled as given.
        settled_minor=request.amount.minor,
        project_settled_minor=request.amount.minor,
        reversed_settled_minor=0,
        fee_rate_bp=project.fee_rate_bp,
        fund=project.fund,
        reversed_minor=0,
        refunded_minor=0,
        settled_at=_moment(request.received_on, tz),
        settled_on=request.received_on,
        payment_method=wording,
        matches_gift_id=matches.id if matches else None,
    )
    session.add(gift)
    session.flush()
    offline = OfflineGift(
        gift=gift,
        method=request.method,
        reference=request.reference,
        received_on=request.received_on,
        entered_by=entered_by(actor),
    )
    session.add(offline)
    if request.method is OfflineMethod.DAF:
        _fund_donor(session, request.reference)
    # Numbered first, so that the gift's entry names its receipt (SPEC section 6).
    issued = receipts.reconcile(session, gift, tz, reason="gift")
    for entry in offline_booking(gift, offline).settled(
        on=gift.settled_on,
        stripe_id=None,
        fee=Money.zero(request.amount.currency),
        asset=accounts.CHECKING,
        meta=receipts.receipt_meta(issued),
    ):
        record(session, entry)
    audit.record(
        session,
        actor,
        "gift.entered",
        ("gift", gift.id),
        after={
            "ref": gift.ref,
            "project": project.slug,
            "amount": str(request.amount),
            "method": request.method.value,
            "reference": request.reference,
            "received_on": request.received_on.isoformat(),
            **({"matches": matches.ref} if matches else {}),
        },
    )
    submission.result = f"gift:{gift.id}"
    session.flush()
    return gift


def offline_of(session: Session, gift: Gift) -> OfflineGift | None:
    return session.scalar(select(OfflineGift).where(OfflineGift.gift_id == gift.id))


def offline_booking(gift: Gift, offline: OfflineGift) -> GiftBooking:
    """The gift's booking, its narration naming the cheque or the wire."""
    found = booking(gift)
    how = payment_wording(offline.method, offline.reference)
    if offline.method is OfflineMethod.DAF:
        # The fund is the legal donor (see the module's docstring).
        found = replace(found, entity=daf_ref(offline.reference), payee=offline.reference)
    return replace(found, narration=f"{found.narration}: {how[0].lower()}{how[1:]}")


def refund_offline_gift(
    session: Session,
    actor: Actor,
    gift: Gift,
    amount: Money,
    *,
    method: OfflineMethod,
    reference: str,
    refunded_on: date,
    reason: str,
    key: str | None,
    tz: ZoneInfo,
) -> OfflineRefund:
    """Book money of an offline gift sent back from the bank, never more than remains; once
    per ``key``. Its receipts are voided, and replaced for what still stands.

    Raises OfflineRefused (nothing written) or submissions.AlreadySubmitted. Flushes.
    """
    submission = claim(session, key, "offline-refund")
    # What remains as committed: another refund of this gift waits until this one is booked.
    session.refresh(gift, with_for_update=True)
    offline = offline_of(session, gift)
    if offline is None:
        raise OfflineRefused("This gift came through Stripe: refund it to the donor's card.")
    before = gift.remaining
    _check_refund(gift, amount, refunded_on, today=clock.today(tz))
    reference = check_reference(method, reference)
    reason = " ".join(reason.split())
    if not reason:
        raise OfflineRefused("Say why the money goes back; the audit log keeps it.", "reason")
    if len(reason) > REASON_LIMIT:
        raise OfflineRefused(f"A reason is at most {REASON_LIMIT} characters.", "reason")
    gift.refund_requests += 1
    ref = f"{gift.ref}-refund-{gift.refund_requests}"
    how = payment_wording(method, reference)
    for entry in offline_booking(gift, offline).reversed(
        ref=ref,
        on=refunded_on,
        stripe_id=None,
        amount=amount,
        reversed_before=Money.from_minor(gift.reversed_minor, amount.currency),
        narration=f"Refund: {how[0].lower()}{how[1:]}",
        asset=accounts.CHECKING,
    ):
        record(session, entry)
    gift.reversed_minor += amount.minor
    gift.reversed_settled_minor += amount.minor
    gift.refunded_minor += amount.minor
    status = (
        DonationStatus.REFUNDED
        if gift.reversed_minor >= gift.project_minor + gift.general_minor
        else DonationStatus.PARTIALLY_REFUNDED
    )
    move_status(gift.donation, status, f"refund {ref}")
    row = OfflineRefund(
        gift=gift,
        ref=ref,
        amount_minor=amount.minor,
        method=method,
        reference=reference,
        refunded_on=refunded_on,
        reason=reason,
        entered_by=entered_by(actor),
    )
    session.add(row)
    session.flush()
    receipts.reconcile(session, gift, tz, reason="refund")
    audit.record(
        session,
        actor,
        "gift.refunded",
        ("gift", gift.id),
        before={"remaining": str(before)},
        after={
            "remaining": str(gift.remaining),
            "refund": ref,
            "amount": str(amount),
            "method": method.value,
            "reference": reference,
            "reason": reason,
        },
    )
    submission.result = f"gift:{gift.id}"
    session.flush()
    return row


def _check_gift(
    session: Session, project: Project, request: OfflineGiftRequest, today: date
) -> None:
    amount = request.amount
    if amount.currency.value != project.currency:
        raise OfflineRefused(f"{project.name} takes gifts in {project.currency}.", "amount")
    if amount.minor <= 0:
        raise OfflineRefused("A gift must be more than zero.", "amount")
    if amount.minor > MAXIMUM.minor:
        limit = Money.from_minor(MAXIMUM.minor, amount.currency)
        raise OfflineRefused(f"Gifts above {limit.format()} cannot be entered here.", "amount")
    if request.received_on > today:
        raise OfflineRefused("A gift cannot have been received after today.", "received_on")
    earliest = earliest_date(session, project.fund)
    if earliest is None:
        raise OfflineRefused(f"The books have no accounts for {project.name} yet.", "project")
    if request.received_on < earliest:
        raise OfflineRefused(
            f"The books open on {earliest.isoformat()}; a gift cannot be dated before that.",
            "received_on",
        )
    check_reference(request.method, request.reference)
    name = request.name.strip()
    if not name:
        raise OfflineRefused("Give the donor's name as the receipt should show it.", "name")
    if len(name) > NAME_LIMIT:
        raise OfflineRefused(f"A name is at most {NAME_LIMIT} characters.", "name")
    if request.address and len(request.address) > ADDRESS_LIMIT:
        raise OfflineRefused(f"An address is at most {ADDRESS_LIMIT} characters.", "address")


def _check_refund(gift: Gift, amount: Money, refunded_on: date, today: date) -> None:
    if amount.currency.value != gift.currency:
        raise OfflineRefused(f"This gift was made in {gift.currency}.", "amount")
    if amount.minor <= 0:
        raise OfflineRefused("A refund must be more than zero.", "amount")
    if amount > gift.remaining:
        raise OfflineRefused(
            f"Only {gift.remaining.format()} of this gift remains to refund; "
            f"{amount.format()} is more than that.",
            "amount",
        )
    if refunded_on > today:
        raise OfflineRefused("A refund cannot be dated after today.", "refunded_on")
    if refunded_on < gift.settled_on:
        raise OfflineRefused(
            f"The gift was received on {gift.settled_on.isoformat()}; "
            "its refund cannot be dated before that.",
            "refunded_on",
        )


def _thank_you(project: Project, request: OfflineGiftRequest) -> tuple[str, Money] | None:
    """The project's thank-you gift, when the donor asked for it; its value goes on the receipt."""
    if not request.thank_you:
        return None
    if request.method in (OfflineMethod.STOCK, OfflineMethod.DAF):
        # A stock receipt states no value to subtract a benefit from; a donor-advised
        # fund's grant may not buy its recommending donor anything at all.
        raise OfflineRefused(
            "Stock and donor-advised fund grants get no thank-you gift.", "thank_you"
        )
    try:
        return thank_you_offer(project, request.amount)
    except NoThankYou as exc:
        raise OfflineRefused(str(exc), "thank_you") from None


def _fund_donor(session: Session, fund_name: str) -> Donor:
    """The donor-advised fund as a donor of its own: the ledger's entity for its grants."""
    ref = daf_ref(fund_name)
    donor = session.scalar(select(Donor).where(Donor.ref == ref))
    if donor is None:
        donor = Donor(ref=ref, email=None, name=" ".join(fund_name.split()))
        session.add(donor)
        session.flush()
    return donor


def _campaign_id(session: Session, project: Project, received_on: date) -> int | None:
    campaign = current_campaign(session, project, received_on)
    return campaign.id if campaign is not None else None


def _moment(received_on: date, tz: ZoneInfo) -> datetime:
    """When the gift counts as settled: noon of the day received (the sponsor's time), or
    now if that is later than now. Either way its accounting date is ``received_on``."""
    noon = datetime.combine(received_on, time(12), tzinfo=tz).astimezone(UTC)
    return min(noon, clock.now())
