"""Stripe's reads for a batch of events, made side by side before each is settled.

Settling an event asks Stripe for the current state of what it names (``events.py``):
two or three reads one after another, a quarter of a second each at Stripe, while the
settling transaction holds its database connection and its locks. A settler instead
makes the reads an event's handler will make before its transaction begins
(:func:`prefetch`, the events of many money objects at once, on the settler's threads),
into a :class:`MemoGateway`; the handler then reads the answers from it and its
transaction lasts milliseconds.

The memo is the batch's alone: its answers were fetched after the batch's events
arrived, so they are as current as the handlers' own reads were. A read that was not
fetched ahead (a path :func:`prefetch` does not foresee), or that failed, goes to Stripe
when the handler makes it, and fails there as it always did. Writes are never memoised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any, TypeVar

from conservancy.money import Money
from conservancy.payments.gateway import (
    BalanceTransaction,
    CardSetupRequest,
    Charge,
    Checkout,
    CheckoutRequest,
    DisputeInfo,
    Event,
    Gateway,
    GatewayError,
    LineItem,
    PayoutInfo,
    RefundInfo,
    object_id,
)

T = TypeVar("T")
PAID = {"paid", "no_payment_required"}
SETTLES_CHECKOUT = {"checkout.session.completed", "checkout.session.async_payment_succeeded"}


class MemoGateway:
    """A gateway whose reads are answered once per key, then from memory."""

    def __init__(self, gateway: Gateway) -> None:
        self._gateway = gateway
        self.livemode = gateway.livemode
        self._answers: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _read(self, name: str, key: str, call: Callable[[str], T]) -> T:
        with self._lock:
            if (name, key) in self._answers:
                answer: T = self._answers[name, key]
                return answer
        answer = call(key)
        with self._lock:
            self._answers[name, key] = answer
        return answer

    # -- reads, remembered ---------------------------------------------------------------------

    def checkout_session(self, session_id: str) -> Mapping[str, Any]:
        return self._read("checkout_session", session_id, self._gateway.checkout_session)

    def charge_of_payment_intent(self, payment_intent_id: str) -> Charge | None:
        return self._read(
            "charge_of_payment_intent", payment_intent_id, self._gateway.charge_of_payment_intent
        )

    def charge(self, charge_id: str) -> Charge:
        return self._read("charge", charge_id, self._gateway.charge)

    def charge_of_invoice(self, invoice_id: str) -> Charge | None:
        return self._read("charge_of_invoice", invoice_id, self._gateway.charge_of_invoice)

    def invoice_of_payment_intent(self, payment_intent_id: str) -> Mapping[str, Any] | None:
        return self._read(
            "invoice_of_payment_intent", payment_intent_id, self._gateway.invoice_of_payment_intent
        )

    def refunds_of_charge(self, charge_id: str) -> list[RefundInfo]:
        return list(self._read("refunds_of_charge", charge_id, self._gateway.refunds_of_charge))

    def refund(self, refund_id: str) -> RefundInfo:
        return self._read("refund", refund_id, self._gateway.refund)

    def dispute(self, dispute_id: str) -> DisputeInfo:
        return self._read("dispute", dispute_id, self._gateway.dispute)

    def payout(self, payout_id: str) -> PayoutInfo:
        return self._read("payout", payout_id, self._gateway.payout)

    # -- everything else, straight to the gateway ------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        return self._gateway.create_checkout(request)

    def verify_event(self, payload: bytes, signature: str | None) -> Event:
        return self._gateway.verify_event(payload, signature)

    def create_refund(
        self, charge_id: str, amount: Money, idempotency_key: str, reason: str
    ) -> RefundInfo:
        return self._gateway.create_refund(charge_id, amount, idempotency_key, reason)

    def events_since(self, since: datetime) -> Iterator[Event]:
        return self._gateway.events_since(since)

    def balance_transactions_since(self, since: datetime) -> Iterator[BalanceTransaction]:
        return self._gateway.balance_transactions_since(since)

    def balance(self) -> list[Money]:
        return self._gateway.balance()

    def update_subscription_amount(
        self, subscription_id: str, line: LineItem, interval: str, idempotency_key: str
    ) -> None:
        self._gateway.update_subscription_amount(subscription_id, line, interval, idempotency_key)

    def cancel_subscription(self, subscription_id: str, idempotency_key: str) -> None:
        self._gateway.cancel_subscription(subscription_id, idempotency_key)

    def create_card_setup(self, request: CardSetupRequest) -> Checkout:
        return self._gateway.create_card_setup(request)

    def setup_intent(self, setup_intent_id: str) -> Mapping[str, Any]:
        return self._read("setup_intent", setup_intent_id, self._gateway.setup_intent)

    def set_subscription_card(
        self, subscription_id: str, payment_method_id: str, idempotency_key: str
    ) -> None:
        self._gateway.set_subscription_card(subscription_id, payment_method_id, idempotency_key)


def prefetch(gateway: MemoGateway, event: Event) -> None:
    """Make the reads that settling ``event`` will make (``events.HANDLERS``), as far as the
    event alone tells. A failure is left for the handler to meet again."""
    obj = event.object
    try:
        if event.type in SETTLES_CHECKOUT:
            # The session is read again (a later event may have changed it), and its charge
            # after it: two round trips in a row. The event's own copy names the charge's
            # payment or invoice as it nearly always still is, so that read goes out beside
            # the session's; if the session now names another, the handler reads that one.
            ahead = threading.Thread(target=_charge_of_session, args=(gateway, obj))
            ahead.start()
            session = gateway.checkout_session(str(obj["id"]))
            ahead.join()
            _charge_of_session(gateway, session)  # the memo's when it names the same
        elif event.type == "invoice.paid":
            gateway.charge_of_invoice(str(obj["id"]))
        elif event.type in {"charge.refunded", "refund.updated"}:
            charge = (
                str(obj["id"]) if obj.get("object") == "charge" else object_id(obj.get("charge"))
            )
            if charge:
                gateway.refunds_of_charge(charge)
        elif event.type.startswith("charge.dispute."):
            gateway.dispute(str(obj["id"]))
        elif event.type in {"payout.paid", "payout.failed"}:
            gateway.payout(str(obj["id"]))
    except (GatewayError, KeyError, TypeError):
        return


def _charge_of_session(gateway: MemoGateway, session: Mapping[str, Any]) -> None:
    """The charge a checkout session (as the event brought it, or as Stripe has it now) was
    paid by."""
    if session.get("payment_status") not in PAID:
        return
    try:
        if session.get("mode") == "subscription":
            if invoice := object_id(session.get("invoice")):
                gateway.charge_of_invoice(invoice)
        elif intent := object_id(session.get("payment_intent")):
            gateway.charge_of_payment_intent(intent)
    except GatewayError:
        return  # the handler asks again, and meets the error itself
