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

from conservancy.kernel.errors import DomainError
from conservancy.money import Money


def object_id(value: Any) -> str | None:
    """The id in a field Stripe fills with an object's id, or with the object itself when
    it was expanded; None for an empty field."""
    if value is None:
        return None
    return str(value["id"]) if isinstance(value, Mapping) else str(value)


class GatewayError(DomainError):
    """The payment processor refused a request, could not be reached, or answered in a way
    we cannot use.

    Two classes, because they ask different things of a person: a *temporary* error
    (:class:`GatewayUnavailable`: no answer, Stripe's own failure, or "slow down") goes away
    if the same request is sent again later; any other will get the same answer again, so
    someone has to look. Which is which is decided where Stripe's errors are caught, in
    ``stripe_gateway``, and nowhere else.

    The message (``str``) is for staff: it may quote Stripe and name Stripe's ids.
    ``reason`` is short and names no one and nothing (no ids, amounts or addresses), fit
    for a donor. ``for_donor`` and ``for_staff`` word the whole message for each.
    """

    http_status = 502
    temporary = False

    def __init__(
        self,
        message: str,
        *,
        reason: str = "it answered in a way we cannot use",
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.request_id = request_id  # Stripe's, to look the request up in its dashboard

    def for_donor(self, nothing: str, contact: str) -> str:
        """For a donor (or a sponsor paying an invoice): what happened, with ``nothing``
        (``"nothing was charged"``) and where to write, never Stripe's own words."""
        return (
            f"Our payment processor refused this request, so {nothing}: {self.reason}. "
            f"Trying again will not help; please contact us at {contact}."
        )

    def for_staff(self, nothing: str) -> str:
        """For sponsor staff: Stripe's own message and request id, and whether to retry."""
        return (
            f"Stripe's answer cannot be used, so {nothing}: {self}. Trying again will not "
            "help; look at the request in Stripe's dashboard."
        )


class GatewayRefused(GatewayError):
    """Stripe answered and refused (a 4xx other than 409 and 429): the same request will be
    refused again. A card declined, an object Stripe does not know (or no longer lets
    change), a key Stripe does not accept, an idempotency key reused with other values."""

    def for_staff(self, nothing: str) -> str:
        return (
            f"Stripe refused this, so {nothing}: {self}. Trying again will get the same "
            "answer; look at the request in Stripe's dashboard."
        )


class GatewayUnavailable(GatewayError):
    """Stripe could not be reached, failed on its side (5xx), asked us to slow down (429),
    or was still busy with the same request (409): the same request may well go through
    in a few minutes, and its idempotency key makes sending it again safe."""

    http_status = 503
    temporary = True

    def __init__(self, message: str, *, request_id: str | None = None) -> None:
        super().__init__(
            message, reason="our payment processor could not be reached", request_id=request_id
        )

    def for_donor(self, nothing: str, contact: str) -> str:
        return (
            f"We could not reach our payment processor, so {nothing}. "
            "Please try again in a few minutes."
        )

    def for_staff(self, nothing: str) -> str:
        return (
            f"Stripe could not be reached or is busy, so {nothing}: {self}. "
            "Try again in a few minutes."
        )


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
class CardSetupRequest:
    """A Checkout Session in setup mode: the customer saves a new card, nothing is charged.
    ``metadata`` goes on the session and on its SetupIntent."""

    customer_id: str
    currency: str
    metadata: Mapping[str, str]
    success_url: str
    cancel_url: str
    idempotency_key: str


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

    def create_card_setup(self, request: CardSetupRequest) -> Checkout: ...

    def setup_intent(self, setup_intent_id: str) -> Mapping[str, Any]: ...

    def set_subscription_card(
        self, subscription_id: str, payment_method_id: str, idempotency_key: str
    ) -> None: ...
