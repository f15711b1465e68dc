"""A sponsorship invoice paid through Stripe Checkout, booked once.

``checkout.session.completed`` (or ``async_payment_succeeded`` for a bank debit)
names the invoice in its metadata. As for gifts (payments.events), the event's
copy is not trusted for money: the session and its charge are asked of Stripe,
and the charge's balance transaction gives the fee. The invoice row is locked
first; the payment is booked under ``stripe-<balance transaction>``, and the
invoice keeps the charge under a unique key, so a duplicate event, or two events
bringing the same charge, book it once.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.kernel import clock
from conservancy.kernel.submissions import claim
from conservancy.ledger.outbox import is_recorded, record
from conservancy.mail.outbox import queue
from conservancy.money import Currency, Money
from conservancy.payments.gateway import Charge, DisputeInfo, Gateway, GatewayError, RefundInfo
from conservancy.payments.reversals import Movement, dispute_movements, refund_movements
from conservancy.projects.service import open_needed_accounts
from conservancy.receipts.document import Benefit, exchange_value
from conservancy.sponsorships import books
from conservancy.sponsorships.models import InvoiceStatus, PaidBy, SponsorshipInvoice
from conservancy.sponsorships.service import SponsorshipRefused, mark_paid
from conservancy.staff import audit
from conservancy.staff.models import AuditEntry
from conservancy.staff.permissions import Staff

log = logging.getLogger(__name__)
METADATA_KEY = "sponsorship_invoice_id"


def invoice_id_of(session_object: Mapping[str, Any]) -> int | None:
    """The invoice a Checkout Session is for, from its metadata; None for a gift's."""
    value = str((session_object.get("metadata") or {}).get(METADATA_KEY) or "")
    return int(value) if value.isdigit() else None


def checkout_completed(
    session: Session, gateway: Gateway, invoice_id: int, session_id: str, tz: ZoneInfo
) -> None:
    invoice = session.get(SponsorshipInvoice, invoice_id, with_for_update=True)
    if invoice is None:
        log.warning("checkout session %s names no invoice of ours", session_id)
        return
    if invoice.charge_id is not None:
        return  # booked already
    checkout = gateway.checkout_session(session_id)
    if checkout.get("payment_status") != "paid":
        return  # a bank debit on its way: async_payment_succeeded brings it
    intent = checkout.get("payment_intent")
    intent_id = str(intent["id"]) if isinstance(intent, Mapping) else intent
    charge = gateway.charge_of_payment_intent(str(intent_id)) if intent_id else None
    if charge is None:
        return
    book_card_payment(session, invoice, charge, tz)


def book_card_payment(
    session: Session, invoice: SponsorshipInvoice, charge: Charge, tz: ZoneInfo
) -> None:
    """The charge paying ``invoice`` (locked by the caller), booked once."""
    if invoice.charge_id is not None:
        return  # booked already
    txn = charge.balance_transaction
    if charge.amount != invoice.amount or txn.amount.currency is not invoice.amount.currency:
        raise GatewayError(
            f"charge {charge.id} of {charge.amount.format()} does not pay invoice "
            f"{invoice.number} of {invoice.amount.format()}"
        )
    ref = f"stripe-{txn.id}"
    if is_recorded(session, ref):
        return
    invoice.charge_id = charge.id
    invoice.balance_transaction_id = txn.id
    invoice.fee_minor = txn.fee.minor
    paid_on = max(clock.accounting_date(txn.created_at, tz), invoice.issued_on)
    if invoice.status is InvoiceStatus.OPEN:
        mark_paid(session, invoice, paid_by=PaidBy.CARD, paid_on=paid_on)
    else:
        # Paid by cheque meanwhile (or voided): the money came twice. It is booked all the
        # same, so the books match Stripe; the receivable goes below zero until staff
        # refund the card.
        log.error("invoice %s is %s and was paid by card too", invoice.number, invoice.status)
    record(session, books.paid_by_card(invoice, ref=ref, stripe_id=txn.id, fee=txn.fee, on=paid_on))
    session.flush()


# -- refunds and disputes ------------------------------------------------------------------
#
# As a gift's (donations.settlement): the invoice's row is locked and re-read, then each
# movement payments.reversals finds still to book is booked under its own ref, so any
# number of events in any order book each once. Income, the sponsorship fee and the
# dispute fee go by the gift rules (books.card_booking).


def invoice_of_charge(
    session: Session, gateway: Gateway, charge_id: str, tz: ZoneInfo
) -> SponsorshipInvoice | None:
    """The invoice a charge paid, locked, its payment booked first if its own event has not
    arrived yet; None for a charge that pays no invoice of ours."""
    query = select(SponsorshipInvoice).where(SponsorshipInvoice.charge_id == charge_id)
    invoice = session.scalar(query.with_for_update())
    if invoice is not None:
        return invoice
    charge = gateway.charge(charge_id)
    value = str(charge.metadata.get(METADATA_KEY) or "")
    if not value.isdigit():
        return None
    invoice = session.get(SponsorshipInvoice, int(value), with_for_update=True)
    if invoice is None:
        return None
    if invoice.charge_id is None:
        book_card_payment(session, invoice, charge, tz)
    return invoice if invoice.charge_id == charge_id else None


def _book_reversal(
    session: Session, invoice: SponsorshipInvoice, tz: ZoneInfo, movement: Movement
) -> None:
    """The movement of the payment going back (or coming back), and the notice."""
    booking = books.card_booking(invoice)
    before = Money.from_minor(invoice.reversed_minor, Currency(invoice.currency))
    kept = invoice.kept
    entries = booking.reversed(
        ref=movement.ref,
        on=max(clock.accounting_date(movement.at, tz), invoice.paid_on or invoice.issued_on),
        stripe_id=movement.stripe_id,
        amount=movement.amount,
        reversed_before=before,
        narration=f"{movement.narration}: {invoice.number}",
        dispute_fee=movement.dispute_fee,
    )
    open_needed_accounts(session, entries)  # a dispute's loss beyond the payment
    for entry in entries:
        record(session, entry)
    invoice.reversed_minor += movement.amount.minor
    session.flush()
    if invoice.kept != kept:  # not when only money taken twice came back: nothing changed
        adjustment_notice(session, invoice, ref=movement.ref, what=movement.narration.lower())


def apply_refund(
    session: Session, invoice: SponsorshipInvoice, refund: RefundInfo, tz: ZoneInfo
) -> None:
    """Book a refund of the invoice's charge once; book its return if it later failed."""
    session.refresh(invoice, with_for_update=True)
    recorded = partial(is_recorded, session)
    booked = recorded(f"stripe-{refund.id}")
    for movement in refund_movements(refund, booked=booked, recorded=recorded):
        _book_reversal(session, invoice, tz, movement)


def apply_dispute(
    session: Session, invoice: SponsorshipInvoice, dispute: DisputeInfo, tz: ZoneInfo
) -> None:
    """Book each of the dispute's balance movements once: funds withdrawn (with the
    dispute fee, to the fund), funds reinstated."""
    session.refresh(invoice, with_for_update=True)
    for movement in dispute_movements(dispute, recorded=partial(is_recorded, session)):
        _book_reversal(session, invoice, tz, movement)


def given_back(invoice: SponsorshipInvoice) -> Money:
    """What of the invoice's payment bought its benefits: their value, or nothing when they
    are insubstantial by the IRS safe harbours (``receipts.document.benefits_insubstantial``)
    of the year it was paid (issued, while unpaid)."""
    currency = Currency(invoice.currency)
    benefits = tuple(
        Benefit(str(description), Money.from_minor(int(value), currency))
        for description, value in invoice.benefits
    )
    tax_year = (invoice.paid_on or invoice.issued_on).year
    return exchange_value(invoice.amount, benefits, tax_year)


def adjustment_notice(
    session: Session, invoice: SponsorshipInvoice, *, ref: str, what: str
) -> None:
    """Tell the sponsor what of the acknowledgement stands after money moved back.

    The acknowledgement PDF is never redrawn or edited (like a receipt); this notice,
    one per money movement (its key names the movement), states the payment that now
    stands and its deductible part, or that the acknowledgement is void when nothing does.
    """
    sponsor = invoice.corporate_sponsor
    kept = invoice.kept
    if kept.minor <= 0:
        stands = (
            f"Nothing of your payment stands now, so our acknowledgement of invoice "
            f"{invoice.number} is void: please do not use it for your taxes."
        )
    else:
        # What the benefits were worth against the payment, by the IRS safe harbours of the
        # payment's tax year (nothing when they are insubstantial), as the year-end package
        # counts it; the deductible part goes back first.
        exchange = given_back(invoice)
        deductible = Money.from_minor(max(0, kept.minor - exchange.minor), kept.currency)
        worth = (
            "the benefits you received are token items of insubstantial value under the IRS "
            "rules, so all of it is deductible"
            if not exchange
            else f"the benefits you received are worth {invoice.benefits_value.format()}, so "
            f"the deductible part is {deductible.format()}"
        )
        stands = (
            f"Your payment now stands at {kept.format()}. It replaces the amount on our "
            f"acknowledgement of invoice {invoice.number}: {worth}."
        )
    queue(
        session,
        key=f"sponsorship-adjustment-{invoice.number}-{ref}",
        to_address=sponsor.email,
        to_name=sponsor.contact_name,
        subject=f"Invoice {invoice.number}: {what}",
        body=f"Dear {sponsor.contact_name},\n\n{stands}\n",
    )


# -- refunds asked by staff ----------------------------------------------------------------

REASON_LIMIT = 500
REFUNDED = "sponsorship_invoice.refunded"


def _refunds_asked(session: Session, invoice: SponsorshipInvoice) -> int:
    """How many refunds of ``invoice`` staff asked for, as committed: each is audit-logged
    in the transaction that books it."""
    asked = select(func.count()).where(
        AuditEntry.action == REFUNDED,
        AuditEntry.target_kind == "sponsorship_invoice",
        AuditEntry.target_id == str(invoice.id),
    )
    return session.scalar(asked) or 0


def refund_invoice(
    session: Session,
    gateway: Gateway,
    staff: Staff | str,
    invoice: SponsorshipInvoice,
    amount: Money,
    *,
    reason: str,
    key: str | None,
    tz: ZoneInfo,
) -> RefundInfo:
    """Refund part or all of a card-paid invoice through Stripe; audit-logged.

    Never more than what stands of the payment. The idempotency key names the request
    by the refunds staff asked for before it (as committed) and the amount: a request
    retried after a failed commit repeats the same refund at Stripe instead of making
    another, and a request after a refund that failed makes a new one.
    The form's ``key`` is claimed first (conservancy.kernel.submissions), so a form sent twice
    refunds once. Raises SponsorshipRefused (nothing written, nothing asked of Stripe),
    submissions.AlreadySubmitted or BadFormKey, or the gateway's error (the caller
    rolls back).
    """
    submission = claim(session, key, "sponsorship-refund")
    session.refresh(invoice, with_for_update=True)
    reason = " ".join(reason.split())
    if not reason:
        raise SponsorshipRefused("Say why the money goes back; the audit log keeps it.", "reason")
    if len(reason) > REASON_LIMIT:
        raise SponsorshipRefused(f"A reason is at most {REASON_LIMIT} characters.", "reason")
    if invoice.charge_id is None:
        raise SponsorshipRefused(
            f"Invoice {invoice.number} was not paid by card: refund it from the bank."
        )
    if amount.minor <= 0:
        raise SponsorshipRefused("A refund must be more than zero.", "amount")
    if amount.currency.value != invoice.currency:
        raise SponsorshipRefused(f"Invoice {invoice.number} is in {invoice.currency}.", "amount")
    before = invoice.kept
    if amount > before:
        raise SponsorshipRefused(
            f"Only {before.format()} of this payment remains to refund; "
            f"{amount.format()} is more than that.",
            "amount",
        )
    asked = _refunds_asked(session, invoice)
    refund = gateway.create_refund(
        invoice.charge_id,
        amount,
        f"sponsorship-invoice-{invoice.id}-refund-{asked}-{amount.minor}",
        reason,
    )
    apply_refund(session, invoice, refund, tz)
    audit.record(
        session,
        staff,
        REFUNDED,
        ("sponsorship_invoice", invoice.id),
        before={"kept": str(before)},
        after={
            "number": invoice.number,
            "kept": str(invoice.kept),
            "refund": refund.id,
            "amount": str(amount),
            "reason": reason,
        },
    )
    submission.result = f"sponsorship-invoice:{invoice.number}"
    session.flush()
    return refund
