"""The payment gateway as the rest of conservancy sees it.

Values here are ours: amounts are Money, times are aware datetimes. Stripe's
integer amounts and Unix times are converted in the gateway and nowhere else.
The only implementation talks to Stripe (or to the stand-in, which speaks
Stripe's API), so tests exercise the real client code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol

from conservancy.errors import DomainError
from conservancy.money import Money


class GatewayError(DomainError):
    """The payment processor refused a request or could not be reached."""

    http_status = 502


class BadSignature(DomainError):
    """A webhook whose signature, body or mode we cannot accept."""


@dataclass(frozen=True)
class LineItem:
    name: str
    amount: Money


@dataclass(frozen=True)
class CheckoutRequest:
    donation_id: int | None  # None: not a gift (a sponsorship invoice names itself in metadata)
    lines: tuple[LineItem, ...]
    interval: str | None  # None: one payment; "week", "month" or "year": a subscription
    customer_email: str
    success_url: str
    cancel_url: str
    idempotency_key: str
    # More of our ids for the session and its payment: {"sponsorship_invoice_id": "7"}.
    metadata: Mapping[str, str] = field(default_factory=dict)
    submit_type: str = "donate"  # the label of Stripe's button: "donate", "pay"


@dataclass(frozen=True)
class Checkout:
    id: str
    url: str


@dataclass(frozen=True)
class BalanceTransaction:
    id: str
    amount: Money  # what moved in or out of the Stripe balance, before fees
    fee: Money
    created_at: datetime
    type: str = ""  # Stripe's: charge, refund, adjustment, payout, ...
    source: str | None = None  # the charge, refund, dispute or payout that made it
    # Stripe's rate when the money was in another currency than the balance's: the
    # other amount times the rate is ``amount``. None when nothing was converted.
    exchange_rate: Decimal | None = None

    @property
    def net(self) -> Money:
        """What the balance moved by: the amount less the fee (Stripe's ``net``)."""
        return self.amount - self.fee


@dataclass(frozen=True)
class Charge:
    id: str
    amount: Money
    payment_intent_id: str | None
    balance_transaction: BalanceTransaction
    created_at: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)
    # How the donor paid, for their receipt: "Card (Visa)", "Bank debit (ACH)". Never a number.
    payment_method: str = "Card"


@dataclass(frozen=True)
class RefundInfo:
    id: str
    charge_id: str
    amount: Money
    status: str  # pending, succeeded, failed, canceled, requires_action
    created_at: datetime
    balance_transaction_id: str | None
    failure_balance_transaction: BalanceTransaction | None
    # What the refund took from the balance, in its currency (USD) at the refund's own rate.
    balance_transaction: BalanceTransaction | None = None


@dataclass(frozen=True)
class DisputeInfo:
    id: str
    charge_id: str
    amount: Money
    status: str
    balance_transactions: tuple[BalanceTransaction, ...]


@dataclass(frozen=True)
class PayoutInfo:
    id: str
    amount: Money
    status: str
    balance_transaction: BalanceTransaction | None
    failure_balance_transaction: BalanceTransaction | None


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    livemode: bool
    created_at: datetime
    object: Mapping[str, Any]


class Gateway(Protocol):
    livemode: bool  # True for live keys: events from the other mode are refused

    def create_checkout(self, request: CheckoutRequest) -> Checkout: ...

    def verify_event(self, payload: bytes, signature: str | None) -> Event: ...

    def checkout_session(self, session_id: str) -> Mapping[str, Any]: ...

    def charge_of_payment_intent(self, payment_intent_id: str) -> Charge | None: ...

    def charge(self, charge_id: str) -> Charge: ...

    def charge_of_invoice(self, invoice_id: str) -> Charge | None: ...

    def invoice_of_payment_intent(self, payment_intent_id: str) -> Mapping[str, Any] | None: ...

    def refunds_of_charge(self, charge_id: str) -> list[RefundInfo]: ...

    def refund(self, refund_id: str) -> RefundInfo: ...

    def create_refund(
        self, charge_id: str, amount: Money, idempotency_key: str, reason: str
    ) -> RefundInfo: ...

    def dispute(self, dispute_id: str) -> DisputeInfo: ...

    def payout(self, payout_id: str) -> PayoutInfo: ...

    def events_since(self, since: datetime) -> Iterator[Event]: ...

    def balance_transactions_since(self, since: datetime) -> Iterator[BalanceTransaction]: ...

    def balance(self) -> list[Money]: ...

    def update_subscription_amount(
        self, subscription_id: str, line: LineItem, interval: str, idempotency_key: str
    ) -> None: ...

    def cancel_subscription(self, subscription_id: str, idempotency_key: str) -> None: ...
