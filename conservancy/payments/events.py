"""Stripe's events: acted on once, in any order.

The webhook stores an event (``payments.inbox``); a settler brings it here. The
event id goes into ``stripe_events`` (primary key) in the same database
transaction that acts on it, before it is acted on: a duplicate, even one
settled at the same moment, fails on that key and changes nothing. Acting
on an event never trusts the event's copy of an object for money: it asks
Stripe for the object's current state, and books each money object
(balance transaction, refund, dispute movement) under its own ref, so the
order events arrive in does not matter.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, sessionmaker

from conservancy.donations import settlement
from conservancy.donations.bookkeeping import payout as payout_entry
from conservancy.donations.models import Donation, DonationStatus
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import is_recorded, record
from conservancy.payments.gateway import DisputeInfo, Event, Gateway, RefundInfo, object_id
from conservancy.payments.models import StripeEvent, StripeInbox, insert_once
from conservancy.payments.reversals import refunds_before
from conservancy.sponsorships import payments as sponsorship_payments

log = logging.getLogger(__name__)
Obj = Mapping[str, Any]
# Conflicting writers (the same charge brought by two events at once) retry this often.
ATTEMPTS = 4


@dataclass(frozen=True)
class Context:
    session: Session
    gateway: Gateway
    tz: ZoneInfo


def process(
    sessions: sessionmaker[Session],
    gateway: Gateway,
    event: Event,
    tz: ZoneInfo,
    *,
    received_at: datetime | None = None,
) -> str:
    """Act on ``event`` once. Returns what happened: processed, duplicate or ignored.

    The transaction that acts also removes the event from the inbox (``payments.inbox``),
    where the webhook stored it, so it is settled exactly once either way."""
    for attempt in range(ATTEMPTS):
        with sessions() as session:
            try:
                if not insert_once(
                    session,
                    StripeEvent,
                    id=event.id,
                    type=event.type,
                    created_at=event.created_at,
                    received_at=received_at or clock.now(),
                    settled_at=clock.now(),
                ):
                    _out_of_inbox(session, event.id)
                    session.commit()
                    return "duplicate"
                handler = HANDLERS.get(event.type)
                if handler is not None:
                    handler(Context(session, gateway, tz), event.object)
                _out_of_inbox(session, event.id)
                session.commit()
                return "processed" if handler else "ignored"
            except IntegrityError:
                # Another delivery of this event, or another event booking the same
                # object, committed first. Look again with a fresh transaction.
                session.rollback()
                log.info("stripe event %s raced another writer (try %d)", event.id, attempt + 1)
    raise RuntimeError(f"stripe event {event.id} kept conflicting; Stripe will retry it")


def _out_of_inbox(session: Session, event_id: str) -> None:
    session.execute(delete(StripeInbox).where(StripeInbox.id == event_id))


# -- finding our donation --------------------------------------------------------


# Every handler locks the donation it acts on (SELECT ... FOR UPDATE) before it
# reads or writes anything else of it, so that two events of one donation (the
# same charge brought by checkout.session.completed and invoice.paid) take turns
# on PostgreSQL instead of deadlocking on the donation row and the gift's key.


# The donation's row is locked; its donor and project come with it in the same query (every
# gift names both), not locked: a lazy load of each would cost a query apiece.
_WITH_DONOR_AND_PROJECT = (
    joinedload(Donation.donor, innerjoin=True),
    joinedload(Donation.project, innerjoin=True),
)


def _locked(ctx: Context, donation_id: int) -> Donation | None:
    return ctx.session.get(
        Donation,
        donation_id,
        with_for_update={"of": Donation},
        options=_WITH_DONOR_AND_PROJECT,
    )


def _donation_from_metadata(ctx: Context, metadata: Obj | None) -> Donation | None:
    value = str((metadata or {}).get("donation_id") or "")
    return _locked(ctx, int(value)) if value.isdigit() else None


def _donation_of_session(ctx: Context, obj: Obj) -> Donation | None:
    donation = _donation_from_metadata(ctx, obj.get("metadata"))
    if donation is None and str(obj.get("client_reference_id") or "").isdigit():
        donation = _locked(ctx, int(obj["client_reference_id"]))
    return donation


def _donation_of_invoice(ctx: Context, obj: Obj) -> Donation | None:
    details = ((obj.get("parent") or {}).get("subscription_details")) or {}
    donation = _donation_from_metadata(ctx, details.get("metadata"))
    subscription = object_id(details.get("subscription"))
    if donation is None and subscription:
        donation = ctx.session.scalar(
            select(Donation)
            .where(Donation.stripe_subscription_id == subscription)
            .options(*_WITH_DONOR_AND_PROJECT)
            .with_for_update(of=Donation)
        )
    return donation


# -- checkout ---------------------------------------------------------------------


def checkout_completed(ctx: Context, obj: Obj) -> None:
    invoice_id = sponsorship_payments.invoice_id_of(obj)
    if invoice_id is not None:
        sponsorship_payments.checkout_completed(
            ctx.session, ctx.gateway, invoice_id, str(obj["id"]), ctx.tz
        )
        return
    donation = _donation_of_session(ctx, obj)
    if donation is None:
        log.warning("checkout session %s is not one of ours", obj.get("id"))
        return
    if obj.get("mode") == "setup":
        _card_saved(ctx, donation, str(obj["id"]))
        return
    donation.stripe_customer_id = object_id(obj.get("customer")) or donation.stripe_customer_id
    subscription = object_id(obj.get("subscription"))
    if subscription:
        donation.stripe_subscription_id = subscription
    # Ask Stripe, not the event: a later event may already have changed the session.
    session = ctx.gateway.checkout_session(str(obj["id"]))
    if session.get("payment_status") not in {"paid", "no_payment_required"}:
        return  # a bank debit still on its way: async_payment_succeeded will settle it
    if session.get("mode") == "subscription":
        invoice = object_id(session.get("invoice"))
        charge = ctx.gateway.charge_of_invoice(invoice) if invoice else None
    else:
        intent = object_id(session.get("payment_intent"))
        charge = ctx.gateway.charge_of_payment_intent(intent) if intent else None
        invoice = None
    if charge is not None:
        settlement.settle(ctx.session, donation, charge, ctx.tz, invoice)


def _card_saved(ctx: Context, donation: Donation, session_id: str) -> None:
    """The donor saved a new card in the portal (a session in setup mode): it becomes the
    card their recurring gift's next payments are charged to. Doing it again changes
    nothing, so a repeated event is harmless."""
    session = ctx.gateway.checkout_session(session_id)
    intent_id = object_id(session.get("setup_intent"))
    if session.get("status") != "complete" or not intent_id:
        return
    if donation.stripe_subscription_id is None or donation.status is not DonationStatus.PAID:
        log.info("a card was saved for donation %s, which no longer recurs", donation.id)
        return
    method = object_id(ctx.gateway.setup_intent(intent_id).get("payment_method"))
    if method is None:
        return
    ctx.gateway.set_subscription_card(
        donation.stripe_subscription_id, method, f"donation-{donation.id}-card-{session_id}"
    )
    donation.note("the donor saved a new card in the portal")


def checkout_failed(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_session(ctx, obj)
    if donation is not None and donation.status is DonationStatus.PENDING:
        donation.change_status(DonationStatus.FAILED, "the bank debit failed")


def checkout_expired(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_session(ctx, obj)
    if donation is not None and donation.status is DonationStatus.PENDING:
        donation.change_status(DonationStatus.EXPIRED, "checkout expired")


# -- subscriptions ----------------------------------------------------------------


def invoice_paid(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_invoice(ctx, obj)
    if donation is None:
        log.warning("invoice %s is not one of ours", obj.get("id"))
        return
    subscription = object_id(
        ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    )
    if subscription and not donation.stripe_subscription_id:
        donation.stripe_subscription_id = subscription
    charge = ctx.gateway.charge_of_invoice(str(obj["id"]))
    if charge is not None:
        settlement.settle(ctx.session, donation, charge, ctx.tz, str(obj["id"]))
    _next_payment(donation, obj, ctx.tz)


def _next_payment(donation: Donation, invoice: Obj, tz: ZoneInfo) -> None:
    """The day the paid invoice's service period ends is the next payment's. Invoices may
    arrive in any order: the latest period wins."""
    lines = (invoice.get("lines") or {}).get("data") or []
    ends = [int(line["period"]["end"]) for line in lines if (line.get("period") or {}).get("end")]
    if not ends:
        return
    day = datetime.fromtimestamp(max(ends), UTC).astimezone(tz).date()
    if donation.next_payment_on is None or day > donation.next_payment_on:
        donation.next_payment_on = day


def invoice_failed(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_invoice(ctx, obj)
    if donation is not None:
        donation.note(f"renewal failed (invoice {obj.get('id')})")


def _donation_of_subscription(ctx: Context, obj: Obj) -> Donation | None:
    by_id = (
        select(Donation)
        .where(Donation.stripe_subscription_id == str(obj["id"]))
        .options(*_WITH_DONOR_AND_PROJECT)
        .with_for_update(of=Donation)
    )
    return ctx.session.scalar(by_id) or _donation_from_metadata(ctx, obj.get("metadata"))


def subscription_updated(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_subscription(ctx, obj)
    if donation is None:
        return
    if obj.get("status") == "canceled":
        settlement.move_status(donation, DonationStatus.CANCELLED, "subscription cancelled")
    elif obj.get("status") in {"past_due", "unpaid"}:
        donation.note(f"subscription {obj.get('status')}")


def subscription_deleted(ctx: Context, obj: Obj) -> None:
    donation = _donation_of_subscription(ctx, obj)
    if donation is not None:
        settlement.move_status(donation, DonationStatus.CANCELLED, "subscription ended")


# -- refunds and disputes ---------------------------------------------------------


def charge_refunded(ctx: Context, obj: Obj) -> None:
    """charge.refunded (a charge), refund.created / refund.updated (a refund)."""
    charge_id = str(obj["id"]) if obj.get("object") == "charge" else object_id(obj.get("charge"))
    if not charge_id:
        return
    gift = settlement.find_gift(ctx.session, ctx.gateway, charge_id, ctx.tz)
    if gift is not None:
        for refund in ctx.gateway.refunds_of_charge(charge_id):
            settlement.apply_refund(ctx.session, gift, refund, ctx.tz)
        return
    invoice = sponsorship_payments.invoice_of_charge(ctx.session, ctx.gateway, charge_id, ctx.tz)
    if invoice is not None:
        for refund in ctx.gateway.refunds_of_charge(charge_id):
            sponsorship_payments.apply_refund(ctx.session, invoice, refund, ctx.tz)


def dispute_changed(ctx: Context, obj: Obj) -> None:
    """The dispute's balance movements, after any refund Stripe made before it: a dispute
    may be for the whole charge after a partial refund, and its entry depends on what the
    refunds left (donations.bookkeeping), whichever event arrives first."""
    charge_id = str(object_id(obj.get("charge")))
    gift = settlement.find_gift(ctx.session, ctx.gateway, charge_id, ctx.tz)
    if gift is not None:
        dispute = ctx.gateway.dispute(str(obj["id"]))
        for refund in _refunds_before(ctx, dispute):
            settlement.apply_refund(ctx.session, gift, refund, ctx.tz)
        settlement.apply_dispute(ctx.session, gift, dispute, ctx.tz)
        return
    # A sponsorship invoice paid by card is refunded and disputed as a gift is.
    invoice = sponsorship_payments.invoice_of_charge(ctx.session, ctx.gateway, charge_id, ctx.tz)
    if invoice is not None:
        dispute = ctx.gateway.dispute(str(obj["id"]))
        for refund in _refunds_before(ctx, dispute):
            sponsorship_payments.apply_refund(ctx.session, invoice, refund, ctx.tz)
        sponsorship_payments.apply_dispute(ctx.session, invoice, dispute, ctx.tz)


def _refunds_before(ctx: Context, dispute: DisputeInfo) -> list[RefundInfo]:
    """The charge's refunds made before the dispute took money, when some of the dispute's
    movements are still to book (else nothing is asked of Stripe)."""
    if all(is_recorded(ctx.session, f"stripe-{t.id}") for t in dispute.balance_transactions):
        return []
    return refunds_before(dispute, ctx.gateway.refunds_of_charge(dispute.charge_id))


# -- payouts ------------------------------------------------------------------------


def payout_changed(ctx: Context, obj: Obj) -> None:
    """payout.paid and payout.failed: the money leaving Stripe, and coming back if it failed."""
    payout = ctx.gateway.payout(str(obj["id"]))
    for txn in (payout.balance_transaction, payout.failure_balance_transaction):
        if txn is None:
            continue
        ref = f"stripe-{txn.id}"
        if ctx.session.scalar(select(LedgerOutbox.id).where(LedgerOutbox.ref == ref)) is None:
            record(
                ctx.session,
                payout_entry(
                    ref=ref,
                    on=clock.accounting_date(txn.created_at, ctx.tz),
                    stripe_id=payout.id,
                    amount=-txn.amount,
                ),
            )


HANDLERS: dict[str, Callable[[Context, Obj], None]] = {
    "checkout.session.completed": checkout_completed,
    "checkout.session.async_payment_succeeded": checkout_completed,
    "checkout.session.async_payment_failed": checkout_failed,
    "checkout.session.expired": checkout_expired,
    "invoice.paid": invoice_paid,
    "invoice.payment_failed": invoice_failed,
    "customer.subscription.updated": subscription_updated,
    "customer.subscription.deleted": subscription_deleted,
    "charge.refunded": charge_refunded,
    "refund.updated": charge_refunded,
    "charge.dispute.created": dispute_changed,
    "charge.dispute.closed": dispute_changed,
    "charge.dispute.funds_withdrawn": dispute_changed,
    "charge.dispute.funds_reinstated": dispute_changed,
    "payout.paid": payout_changed,
    "payout.failed": payout_changed,
}


def sync(
    sessions: sessionmaker[Session], gateway: Gateway, since: datetime, tz: ZoneInfo
) -> dict[str, int]:
    """Process every event since ``since`` that we have not (recovery from lost webhooks)."""
    counts: dict[str, int] = {"processed": 0, "duplicate": 0, "ignored": 0}
    for event in gateway.events_since(since):
        counts[process(sessions, gateway, event, tz)] += 1
    return counts
