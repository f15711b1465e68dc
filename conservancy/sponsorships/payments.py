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
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import record
from conservancy.payments.gateway import Gateway, GatewayError
from conservancy.sponsorships import books
from conservancy.sponsorships.models import InvoiceStatus, PaidBy, SponsorshipInvoice
from conservancy.sponsorships.service import mark_paid

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
    txn = charge.balance_transaction
    if charge.amount != invoice.amount or txn.amount.currency is not invoice.amount.currency:
        raise GatewayError(
            f"charge {charge.id} of {charge.amount.format()} does not pay invoice "
            f"{invoice.number} of {invoice.amount.format()}"
        )
    ref = f"stripe-{txn.id}"
    if session.scalar(select(LedgerOutbox.id).where(LedgerOutbox.ref == ref)) is not None:
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
