"""Money that Stripe moved, made into gifts, refunds and disputes, and booked.

Every function here is idempotent: a gift is keyed by its charge, a refund by
its Stripe id, a dispute's movements by their balance transactions, and every
ledger entry by its ref. Any event that brings one of them (in any order, any
number of times) may call these; the first call books it, the rest find it.
"""

from __future__ import annotations

from functools import partial
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.donations import tribute
from conservancy.donations.bookkeeping import GiftBooking, Part, split
from conservancy.donations.donors import name_gift
from conservancy.donations.models import (
    ALLOWED_TRANSITIONS,
    Dispute,
    Donation,
    DonationStatus,
    Gift,
    Refund,
    Visibility,
)
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.ledger.outbox import is_recorded, record
from conservancy.money import Currency, Money
from conservancy.payments.gateway import (
    BalanceTransaction,
    Charge,
    DisputeInfo,
    Gateway,
    GatewayError,
    RefundInfo,
)
from conservancy.payments.reversals import (
    REFUND_UNDER_WAY,
    Movement,
    dispute_movements,
    refund_movements,
)
from conservancy.projects.service import open_needed_accounts
from conservancy.receipts import issue as receipts

# The books keep US dollars only (SPEC section 6): Stripe settles every gift into them.
BOOKS_CURRENCY = Currency.USD
# A dispute in these states is over: its money stays where its balance movements left it.
CLOSED_DISPUTE = frozenset({"won", "lost"})


def move_status(donation: Donation, status: DonationStatus, reason: str) -> None:
    """Change status when the table allows it; otherwise leave it (events come in any order)."""
    if donation.status is not status and status in ALLOWED_TRANSITIONS[donation.status]:
        donation.change_status(status, reason)


def payee(gift: Gift) -> str:
    """The name the books show: the one given with the gift, unless the donor asked not
    to be named."""
    if gift.donation.visibility is Visibility.ANONYMOUS:
        return "Anonymous"
    return gift.donor_name


def booking(gift: Gift) -> GiftBooking:
    currency = Currency(gift.currency)

    def settled(minor: int) -> Money | None:
        return Money.from_minor(minor, BOOKS_CURRENCY) if gift.converted else None

    parts = [
        Part(
            gift.fund,
            Money.from_minor(gift.project_minor, currency),
            gift.fee_rate_bp,
            settled(gift.project_settled_minor),
        )
    ]
    if gift.general_minor:
        parts.append(
            Part(
                accounts.GENERAL,
                Money.from_minor(gift.general_minor, currency),
                0,
                settled(gift.settled_minor - gift.project_settled_minor),
            )
        )
    donation = gift.donation
    every = "" if not donation.recurring else f" ({donation.frequency.value})"
    return GiftBooking(
        ref=gift.ref,
        parts=tuple(parts),
        payee=payee(gift),
        entity=donation.donor.ref,
        narration=f"Gift to {donation.project.name}{every}",
    )


def settle(
    session: Session,
    donation: Donation,
    charge: Charge,
    tz: ZoneInfo,
    invoice_id: str | None = None,
) -> Gift:
    """Book a successful charge as a gift, once.

    What the handler changed on the donation (its Stripe customer, say) is written with
    the gift, in one flush with its new status, not flushed first by the lookups."""
    with session.no_autoflush:
        gift = session.scalar(select(Gift).where(Gift.charge_id == charge.id))
    if gift is not None:
        return gift
    txn = charge.balance_transaction
    if txn.amount.currency is not BOOKS_CURRENCY or txn.fee.currency is not BOOKS_CURRENCY:
        raise GatewayError(
            f"Stripe settled charge {charge.id} in {txn.amount.currency}; "
            f"the books keep {BOOKS_CURRENCY} only"
        )
    if charge.amount == donation.total:
        project, general = donation.amount, donation.extra_general
    else:  # the amount changed at Stripe since the form: it is all the project's
        project, general = charge.amount, Money.zero(charge.amount.currency)
    project_settled = split(txn.amount, [project, general])[0]
    # Paid: the details given with the donation are the donor's now (donations.donors).
    with session.no_autoflush:
        named, where = name_gift(session, donation)
    gift = Gift(
        donation=donation,
        ref=f"stripe-{txn.id}",
        donor_name=named,
        donor_address=where,
        charge_id=charge.id,
        payment_intent_id=charge.payment_intent_id,
        invoice_id=invoice_id,
        balance_transaction_id=txn.id,
        currency=charge.amount.currency.value,
        project_minor=project.minor,
        general_minor=general.minor,
        fee_minor=txn.fee.minor,
        settled_minor=txn.amount.minor,
        project_settled_minor=project_settled.minor,
        reversed_settled_minor=0,
        exchange_rate=str(txn.exchange_rate) if txn.exchange_rate is not None else None,
        fee_rate_bp=donation.project.fee_rate_bp,
        fund=donation.project.fund,
        reversed_minor=0,
        refunded_minor=0,
        settled_at=txn.created_at,
        settled_on=clock.accounting_date(txn.created_at, tz),
        payment_method=charge.payment_method,
    )
    session.add(gift)
    move_status(donation, DonationStatus.PAID, f"charge {charge.id}")
    session.flush()
    # Numbered first, so that the gift's entry names its receipt (SPEC section 6).
    issued = receipts.reconcile(session, gift, tz, reason="gift", new_gift=True)
    tribute.queue_card(session, donation)  # once per donation, if the donor asked
    for entry in booking(gift).settled(
        on=gift.settled_on,
        stripe_id=txn.id,
        fee=txn.fee,
        meta={**_rate_meta(txn), **receipts.receipt_meta(issued)},
    ):
        record(session, entry, flush=False)
    session.flush()  # the entries in one statement; a ref taken already fails here
    return gift


def _after_reversal(gift: Gift, reason: str) -> None:
    donation = gift.donation
    if donation.recurring:
        return  # a recurring gift's status is its subscription's; reversals belong to one period
    if gift.reversed_minor >= gift.project_minor + gift.general_minor:
        move_status(donation, DonationStatus.REFUNDED, reason)
    elif gift.reversed_minor > 0:
        move_status(donation, DonationStatus.PARTIALLY_REFUNDED, reason)


def _lock(session: Session, gift: Gift) -> None:
    """Lock the gift's row and re-read it: a reversal starts from what is committed.

    Without this, a writer that read the gift before another reversal of it
    committed (PostgreSQL lets them overlap) books from a stale reversed total,
    and writes that stale total back: the other reversal is lost from it.
    """
    session.refresh(gift, with_for_update=True)


def _rate_meta(txn: BalanceTransaction | None) -> dict[str, str]:
    """Stripe's rate for a converted movement, as its entry's ``exchange-rate`` metadata."""
    if txn is None or txn.exchange_rate is None:
        return {}
    return {"exchange-rate": str(txn.exchange_rate)}


def _book_reversal(session: Session, gift: Gift, tz: ZoneInfo, movement: Movement) -> None:
    """Book money going back on a gift, and keep its totals.

    The movement's amount is in the donor's currency; its balance transaction, when
    known, is in the books' dollars (negative when money left): income goes back at the
    gift's rate and the rest is an exchange difference.
    """
    gift_booking = booking(gift)
    amount, txn = movement.amount, movement.txn
    reversed_before = Money.from_minor(gift.reversed_minor, amount.currency)
    entries = gift_booking.reversed(
        ref=movement.ref,
        on=clock.accounting_date(movement.at, tz),
        stripe_id=movement.stripe_id,
        amount=amount,
        reversed_before=reversed_before,
        narration=movement.narration,
        dispute_fee=movement.dispute_fee,
        moved=-txn.amount if txn is not None else None,
        meta=_rate_meta(txn),
    )
    open_needed_accounts(session, entries)
    for entry in entries:
        record(session, entry)
    income = gift_booking.booked_reversal(amount=amount, reversed_before=reversed_before)
    gift.reversed_minor += amount.minor
    gift.reversed_settled_minor += income.minor


def apply_refund(session: Session, gift: Gift, refund: RefundInfo, tz: ZoneInfo) -> None:
    """Book a refund once; book its return if it later failed."""
    _lock(session, gift)
    row = session.scalar(select(Refund).where(Refund.stripe_refund_id == refund.id))
    recorded = partial(is_recorded, session)
    for movement in refund_movements(refund, booked=row is not None, recorded=recorded):
        _book_reversal(session, gift, tz, movement)
        gift.refunded_minor += movement.amount.minor
    if row is None and refund.status in REFUND_UNDER_WAY:
        row = Refund(
            gift=gift,
            stripe_refund_id=refund.id,
            amount_minor=refund.amount.minor,
            status=refund.status,
        )
        session.add(row)
        _after_reversal(gift, f"refund {refund.id}")
    elif row is not None:
        row.status = refund.status
    session.flush()
    receipts.reconcile(session, gift, tz, reason="refund")


def apply_dispute(session: Session, gift: Gift, dispute: DisputeInfo, tz: ZoneInfo) -> None:
    """Book each of the dispute's balance movements once: funds withdrawn, funds reinstated."""
    _lock(session, gift)
    row = session.scalar(select(Dispute).where(Dispute.stripe_dispute_id == dispute.id))
    if row is None:
        row = Dispute(
            gift=gift,
            stripe_dispute_id=dispute.id,
            amount_minor=dispute.amount.minor,
            status=dispute.status,
        )
        session.add(row)
    row.status = dispute.status
    recorded = partial(is_recorded, session)
    unrefunded = gift.total - Money.from_minor(gift.refunded_minor, gift.total.currency)
    for movement in dispute_movements(
        dispute, recorded=recorded, converted=gift.converted, unrefunded=unrefunded
    ):
        _book_reversal(session, gift, tz, movement)
    donation = gift.donation
    if not donation.recurring:
        if dispute.status in CLOSED_DISPUTE:
            # What stands of the gift says it: a dispute won after a partial refund
            # leaves the gift partly refunded, one lost leaves nothing.
            reason = f"dispute {dispute.id} {dispute.status}"
            if gift.reversed_minor >= gift.project_minor + gift.general_minor:
                move_status(donation, DonationStatus.REFUNDED, reason)
            elif gift.reversed_minor > 0:
                move_status(donation, DonationStatus.PARTIALLY_REFUNDED, reason)
            else:
                move_status(donation, DonationStatus.PAID, reason)
        else:
            move_status(donation, DonationStatus.DISPUTED, f"dispute {dispute.id}")
    session.flush()
    receipts.reconcile(session, gift, tz, reason="dispute")


def find_gift(session: Session, gateway: Gateway, charge_id: str, tz: ZoneInfo) -> Gift | None:
    """The gift of a charge, settling it first if its own event has not arrived yet."""
    gift = session.scalar(select(Gift).where(Gift.charge_id == charge_id).with_for_update())
    if gift is not None:
        return gift
    charge = gateway.charge(charge_id)
    donation_id = charge.metadata.get("donation_id")
    invoice_id = None
    if donation_id is None and charge.payment_intent_id:
        invoice = gateway.invoice_of_payment_intent(charge.payment_intent_id)
        if invoice is not None:
            invoice_id = str(invoice["id"])
            donation_id = _invoice_donation_id(invoice)
    donation = (
        session.get(Donation, int(donation_id), with_for_update=True)
        if donation_id and donation_id.isdigit()
        else None
    )
    if donation is None:
        return None  # not a charge of ours
    return settle(session, donation, charge, tz, invoice_id)


def _invoice_donation_id(invoice: object) -> str | None:
    try:
        value = invoice["parent"]["subscription_details"]["metadata"]["donation_id"]  # type: ignore[index]
    except (KeyError, TypeError):
        return None
    return str(value)
