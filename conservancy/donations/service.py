"""Recording a donation and sending the donor to checkout; refunds staff ask for."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.donations.donors import donor_by_email
from conservancy.donations.fees import CardSchedule, schedule_for
from conservancy.donations.models import (
    Donation,
    DonationStatus,
    DonationStatusChange,
    Frequency,
    Gift,
    Refund,
    Visibility,
)
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.money import Currency, Money
from conservancy.payments.gateway import Checkout, CheckoutRequest, Gateway, LineItem
from conservancy.projects.models import Campaign, Project

MINIMUM = Money.from_minor(100, Currency.USD)
INTERVALS = {Frequency.WEEKLY: "week", Frequency.MONTHLY: "month", Frequency.YEARLY: "year"}
# The currencies a donor may give in; Stripe settles each into the sponsor's US dollars.
CURRENCIES: tuple[Currency, ...] = (Currency.USD, Currency.EUR, Currency.GBP, Currency.CAD)
EMPLOYER_LIMIT = 200


def limits(currency: Currency, maximum: Money) -> tuple[Money, Money]:
    """The smallest and largest gift taken online in ``currency``: the same figures in
    every currency (1.00 and the configured maximum, 100,000.00 by default), not converted.

    Why not convert? The app learns Stripe's rate only when a gift settles, so a
    converted limit would be a guess that moves every day, and a donor would read
    "the largest gift is 92,301.46 EUR". The limits are round thresholds of policy
    (Stripe's own minimum charge, a gift large enough that we would rather talk to
    the donor first), and EUR, GBP and CAD are each within a third of the dollar:
    1.00 in any of them is above Stripe's smallest charge (0.50 USD or its like),
    and 100,000.00 GBP (about 127,000 USD) is still a gift to talk about, not a risk.
    """
    return Money.from_minor(MINIMUM.minor, currency), Money.from_minor(maximum.minor, currency)


class DonationRefused(DomainError):
    """A donation the rules do not allow; the message says why, for the donor."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class RefundTooLarge(DomainError):
    pass


@dataclass(frozen=True)
class DonationRequest:
    """What the donor asked for, already parsed (the form does that)."""

    amount: Money  # what the project should receive (before any fee gross-up)
    frequency: Frequency
    name: str
    email: str
    visibility: Visibility = Visibility.PUBLIC
    address: str | None = None
    dedication: str | None = None
    cover_fees: bool = False
    extra_general: Money | None = None
    thank_you: bool = False  # the donor asked for the project's thank-you gift
    employer: str | None = None  # for the employer's matching-gift programme
    # A card about the dedication for the person it honours (donations.tribute).
    honoree_name: str | None = None
    honoree_email: str | None = None


def check_honoree(
    name: str | None, email: str | None, dedication: str | None
) -> tuple[str, str] | None:
    """(name, e-mail) of the person a tribute card goes to, or None for no card.

    A card carries the dedication, so it needs one, and a name to address it to. The
    form checks the address's form; here it is only made sure to be one line with an @."""
    name, email = " ".join((name or "").split()), (email or "").strip().lower()
    if not email:
        if name:
            raise DonationRefused(
                "Give the e-mail address the card goes to, or leave their name empty.",
                "honoree_email",
            )
        return None
    if len(email) > 254 or "@" not in email or any(c.isspace() for c in email):
        raise DonationRefused("Enter the e-mail address the card goes to.", "honoree_email")
    if not name:
        raise DonationRefused("Give the name the card is addressed to.", "honoree_name")
    if len(name) > EMPLOYER_LIMIT:
        raise DonationRefused(f"A name is at most {EMPLOYER_LIMIT} characters.", "honoree_name")
    if not (dedication or "").strip():
        raise DonationRefused("Write the dedication the card carries.", "dedication")
    return name, email


def check_employer(text: str | None) -> str | None:
    """The employer a donor named for a matching gift, trimmed; None for none.

    Refused (DonationRefused, field ``employer``) when longer than EMPLOYER_LIMIT or
    holding control or format characters (a line break, a bidirectional override):
    the name is printed on the receipt as one line.
    """
    cleaned = (text or "").strip()
    if not cleaned:
        return None
    if len(cleaned) > EMPLOYER_LIMIT:
        raise DonationRefused(
            f"An employer's name is at most {EMPLOYER_LIMIT} characters.", "employer"
        )
    if any(unicodedata.category(c) in {"Cc", "Cf", "Zl", "Zp"} for c in cleaned):
        raise DonationRefused(
            "Give the employer's name on one line, without special characters.", "employer"
        )
    return cleaned


def find_active_project(session: Session, slug: str) -> Project:
    project = session.scalar(select(Project).where(Project.slug == slug, Project.active))
    if project is None:
        raise NotFound("There is no such project, or it no longer takes donations.")
    return project


def current_campaign(session: Session, project: Project, today: date) -> Campaign | None:
    return session.scalar(
        select(Campaign)
        .where(
            Campaign.project_id == project.id,
            Campaign.starts_on <= today,
            Campaign.ends_on >= today,
        )
        .order_by(Campaign.ends_on)
        .limit(1)
    )


def campaign_raised(session: Session, campaign: Campaign) -> Money:
    """Settled gifts to the campaign's project in its window, less what went back: in the
    US dollars they settled as, whatever currency each was given in."""
    total = session.scalar(
        select(func.coalesce(func.sum(Gift.project_settled_minor - Gift.reversed_settled_minor), 0))
        .join(Donation, Gift.donation_id == Donation.id)
        .where(
            Donation.project_id == campaign.project_id,
            Gift.settled_on >= campaign.starts_on,
            Gift.settled_on <= campaign.ends_on,
        )
    )
    return Money.from_minor(int(total or 0), Currency(campaign.currency))


def record_donation(
    session: Session,
    project: Project,
    request: DonationRequest,
    *,
    maximum: Money,
    today: date,
    schedule: CardSchedule | None = None,
) -> Donation:
    """Record a pending donation (and its donor). Nothing is charged yet.

    ``maximum`` is the configured one; it applies in the gift's currency (:func:`limits`).
    ``schedule`` grosses the gift up when the donor covers the fees; by default, the
    schedule of the gift's currency.
    """
    currency = request.amount.currency
    extra = request.extra_general or Money.zero(currency)
    if currency not in CURRENCIES:
        raise DonationRefused(_currencies_message(), "currency")
    if extra.currency is not currency:
        raise DonationRefused(
            f"An extra gift is given in {currency}, as the gift.", "extra_general"
        )
    smallest, maximum = limits(currency, maximum)
    if request.amount < smallest:
        raise DonationRefused(f"The smallest gift we can take is {smallest.format()}.", "amount")
    if extra.minor and extra < smallest:
        raise DonationRefused(
            f"An extra gift must be at least {smallest.format()}, or nothing.", "extra_general"
        )
    if extra.minor < 0:
        raise DonationRefused("An extra gift cannot be negative.", "extra_general")
    schedule = schedule or schedule_for(currency)
    amount = schedule.gross_up(request.amount) if request.cover_fees else request.amount
    if amount + extra > maximum:
        raise DonationRefused(
            f"The largest gift we take online is {maximum.format()}; "
            "please write to us for larger gifts.",
            "amount",
        )
    employer = check_employer(request.employer)
    honoree = check_honoree(request.honoree_name, request.honoree_email, request.dedication)
    benefit = _thank_you(project, request)
    name, address = request.name.strip(), (request.address or "").strip() or None
    # Found by the e-mail typed in, and left as they are: the name and address given here
    # become theirs only when this donation's payment settles (donations.donors).
    donor = donor_by_email(session, request.email.strip().lower(), name, address)
    campaign = current_campaign(session, project, today)
    donation = Donation(
        project=project,
        donor=donor,
        donor_name=name,
        donor_address=address,
        amount_minor=amount.minor,
        currency=amount.currency.value,
        extra_general_minor=extra.minor,
        frequency=request.frequency,
        visibility=request.visibility,
        dedication=(request.dedication or "").strip() or None,
        honoree_name=honoree[0] if honoree else None,
        honoree_email=honoree[1] if honoree else None,
        employer=employer,
        cover_fees=request.cover_fees,
        campaign_id=campaign.id if campaign else None,
        status=DonationStatus.PENDING,
        benefit_description=benefit[0] if benefit else None,
        benefit_value_minor=benefit[1].minor if benefit else None,
    )
    donation.history.append(
        DonationStatusChange(from_status=None, to_status=DonationStatus.PENDING, reason="form")
    )
    session.add(donation)
    session.flush()
    return donation


class NoThankYou(DomainError):
    """The project offers no thank-you gift, or not for a gift this small."""


def thank_you_offer(project: Project, amount: Money) -> tuple[str, Money]:
    """The project's thank-you gift for a gift of ``amount``: its description and fair
    market value, which the receipt discloses and deducts (SPEC section 8)."""
    offered, value = project.thank_you_description, project.thank_you_value
    minimum = project.thank_you_minimum
    if offered is None or value is None or minimum is None:
        raise NoThankYou(f"{project.name} offers no thank-you gift.")
    if amount < minimum:
        raise NoThankYou(f"The {offered} is our thank-you for gifts of {minimum.format()} or more.")
    return offered, value


def _currencies_message() -> str:
    names = [c.value for c in CURRENCIES]
    return f"Choose the currency of your gift: {', '.join(names[:-1])} or {names[-1]}."


def _thank_you(project: Project, request: DonationRequest) -> tuple[str, Money] | None:
    """The thank-you gift the donor asked for, with its fair market value; None if none.

    Only with a gift in the project's currency: its value is a good-faith estimate in
    that currency, and the receipt deducts it from the gift (SPEC section 8).
    """
    if not request.thank_you:
        return None
    if request.amount.currency.value != project.currency:
        raise DonationRefused(
            f"The {project.thank_you_description or 'thank-you gift'} comes with gifts in "
            f"{project.currency}.",
            "thank_you",
        )
    try:
        return thank_you_offer(project, request.amount)
    except NoThankYou as exc:
        raise DonationRefused(str(exc), "thank_you") from None


def begin_checkout(
    session: Session, gateway: Gateway, donation: Donation, *, base_url: str, sponsor_name: str
) -> Checkout:
    """Create the Stripe Checkout Session for a recorded donation.

    Call after the donation's commit: the idempotency key is built from its id,
    so a retried request gets the same session back, never a second one.
    """
    project = donation.project
    assert donation.donor.email is not None, "the donation form asks every donor for one"
    lines = [LineItem(f"Gift to {project.name}", donation.amount)]
    if donation.extra_general_minor:
        lines.append(LineItem(f"Gift to {sponsor_name}", donation.extra_general))
    checkout = gateway.create_checkout(
        CheckoutRequest(
            donation_id=donation.id,
            lines=tuple(lines),
            interval=INTERVALS.get(donation.frequency),
            customer_email=donation.donor.email,
            success_url=f"{base_url}/donate/{project.slug}/thanks?session_id={{CHECKOUT_SESSION_ID}}",
            cancel_url=f"{base_url}/donate/{project.slug}?cancelled=1",
            idempotency_key=f"donation-{donation.id}-checkout",
        )
    )
    donation.checkout_session_id = checkout.id
    session.flush()
    return checkout


def refund_gift(
    session: Session, gateway: Gateway, gift: Gift, amount: Money, *, reason: str, tz: ZoneInfo
) -> Refund:
    """Refund part or all of a settled gift, never more than what remains of it.

    The refund is booked at once from Stripe's answer; its webhook, when it
    comes, finds it booked. The idempotency key names the request: the count of
    refunds staff asked for (``gift.refund_requests``, which only a committed
    request advances) and the amount. A request retried after a failed commit
    repeats the same refund at Stripe rather than making a second one; a
    different request after a refused one gets a key of its own.
    """
    from conservancy.donations.settlement import apply_refund

    # What remains, and how many refunds were asked for, as committed: another refund
    # of this gift (a webhook, another member of staff) waits until this one is booked.
    session.refresh(gift, with_for_update=True)
    if gift.charge_id is None:
        raise RefundTooLarge("This gift came by cheque or wire: refund it from the bank.")
    if amount.minor <= 0:
        raise RefundTooLarge("A refund must be more than zero.")
    if amount.currency.value != gift.currency:
        raise RefundTooLarge(f"This gift was made in {gift.currency}.")
    if amount > gift.remaining:
        raise RefundTooLarge(
            f"Only {gift.remaining.format()} of this gift remains to refund; "
            f"{amount.format()} is more than that."
        )
    gift.refund_requests += 1
    session.flush()  # apply_refund re-reads the gift under its lock
    refund = gateway.create_refund(
        gift.charge_id,
        amount,
        f"gift-{gift.id}-refund-{gift.refund_requests}-{amount.minor}",
        reason,
    )
    apply_refund(session, gift, refund, tz)
    row = session.scalars(select(Refund).where(Refund.stripe_refund_id == refund.id)).one()
    row.reason = reason
    session.flush()
    return row
