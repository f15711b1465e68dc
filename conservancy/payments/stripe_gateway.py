"""The Stripe gateway: the only code in the application that imports ``stripe``.

Stripe's integer amounts and Unix times become Money and aware datetimes
here. Every call that creates something carries an idempotency key built
from our own ids (``donation-42-checkout``), so a retry after a timeout
cannot charge or refund twice.

Calls go through :func:`http_client`: a requests session that reads no proxy
settings from the environment (see there).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast
from urllib.parse import quote

import requests
import stripe

from conservancy.kernel import clock
from conservancy.money import Currency, Money, MoneyError
from conservancy.payments.gateway import (
    BadSignature,
    BalanceTransaction,
    CardSetupRequest,
    Charge,
    Checkout,
    CheckoutRequest,
    DisputeInfo,
    Event,
    GatewayError,
    GatewayRefused,
    GatewayUnavailable,
    LineItem,
    PayoutInfo,
    RefundInfo,
    object_id,
)

Obj = dict[str, Any]
# How far a webhook's signed time may be from ours, either way: Stripe's own default.
# Stripe's library checks only the past (a replay of an old delivery); a time in the
# future is as suspect (a signature made ahead to be replayed later, or a clock gone
# wrong), so both are checked here, against our one clock (conservancy.kernel.clock).
SIGNATURE_TOLERANCE = 300


def _plain(value: Any) -> Obj:
    return cast(Obj, value.to_dict() if hasattr(value, "to_dict") else dict(value))


def _path(object_id: str) -> str:
    """An object's id as one segment of an API path."""
    return quote(object_id, safe="")


def _money(minor: int, currency: str) -> Money:
    try:
        return Money.from_minor(int(minor), Currency(currency.upper()))
    except (ValueError, MoneyError) as exc:
        raise GatewayError(f"Stripe answered in a currency we do not keep: {currency}") from exc


def _time(unix: int) -> datetime:
    return datetime.fromtimestamp(int(unix), UTC)


def _balance_transaction(obj: Obj) -> BalanceTransaction:
    return BalanceTransaction(
        id=obj["id"],
        amount=_money(obj["amount"], obj["currency"]),
        fee=_money(obj["fee"], obj["currency"]),
        created_at=_time(obj["created"]),
        type=str(obj.get("type") or ""),
        source=object_id(obj.get("source")),
        exchange_rate=_rate(obj.get("exchange_rate")),
    )


def _rate(value: Any) -> Decimal | None:
    """Stripe's ``exchange_rate``, a JSON number: read back through its shortest decimal text
    (``repr``), which is the rate as Stripe wrote it. Used to say what the rate was, never to
    compute an amount: those come in cents from the balance transaction."""
    if value is None:
        return None
    try:
        rate = Decimal(repr(value) if isinstance(value, float) else str(value))
    except ArithmeticError as exc:
        raise GatewayError(f"Stripe sent an exchange rate we cannot read: {value!r}") from exc
    return rate if rate.is_finite() and rate > 0 else None


# -- Stripe's errors, as ours ---------------------------------------------------------

# Statuses after which the same request may go through later: Stripe's own failures,
# "too many requests", and "the same idempotency key is still being worked on" (409,
# which Stripe's library itself retries). Every other answer is Stripe's decision.
_TRY_AGAIN = frozenset({409, 429})

# What a donor may be told of a refusal, by Stripe's error code: short, and naming nothing
# (Stripe's own messages may carry ids, amounts, even an e-mail address).
_REASON_BY_CODE = {
    "resource_missing": "it has no record of this payment or recurring gift",
    "charge_already_refunded": "this payment has already been refunded",
    "amount_too_large": "the amount is more than it allows",
    "charge_disputed": "this payment is disputed",
    "charge_not_refundable": "this payment cannot be refunded",
}


def classify(exc: stripe.StripeError, what: str) -> GatewayError:
    """One of Stripe's errors as ours: temporary when the same request may succeed later
    (no answer at all, a 5xx, 429 or 409), otherwise a refusal. ``what`` says what we
    asked ("cancel the subscription"); the message keeps Stripe's words and request id
    for staff, the reason keeps only what a donor may read."""
    status, code = exc.http_status, _code(exc)
    words = exc.user_message or str(exc) or type(exc).__name__
    answered = f"HTTP {status}" if status else "no answer"
    details = ", ".join(
        part
        for part in (answered, code, f"request {exc.request_id}" if exc.request_id else None)
        if part
    )
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        temporary = True
    elif isinstance(exc, stripe.APIError) and (status is None or status < 400):
        temporary = True  # an answer we could not read (a proxy's page, a cut-off body)
    else:
        temporary = status is not None and (status >= 500 or status in _TRY_AGAIN)
    if temporary:
        return GatewayUnavailable(
            f"Stripe could not be asked to {what}: {words} ({details})", request_id=exc.request_id
        )
    return GatewayRefused(
        f"Stripe refused to {what}: {words} ({details})",
        reason=_reason(exc),
        request_id=exc.request_id,
    )


def _code(exc: stripe.StripeError) -> str | None:
    """Stripe's error code (``resource_missing``), which the library keeps only on some errors."""
    if exc.code:
        return exc.code
    return getattr(exc.error, "code", None) or None


def _reason(exc: stripe.StripeError) -> str:
    code = _code(exc)
    if code in _REASON_BY_CODE:
        return _REASON_BY_CODE[code]
    if isinstance(exc, stripe.CardError):
        return "the card was declined"
    if isinstance(exc, stripe.AuthenticationError | stripe.PermissionError):
        return "our account with it does not allow this request"
    if isinstance(exc, stripe.IdempotencyError):
        return "it clashes with an earlier request"
    return "it does not accept this request"


def http_client(proxy: str | None = None) -> stripe.HTTPClient:
    """Stripe's requests client on a session that never looks in the environment.

    A requests session left as it is (``trust_env``) looks up proxies for each
    request (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY`` and the
    lower-case ones, read from ``os.environ`` item by item), ``REQUESTS_CA_BUNDLE``
    and ``~/.netrc``: a profile of the webhook intake showed that on every Stripe
    call. Here it reads none of them; Stripe's calls go straight to Stripe, or,
    with ``CONSERVANCY_STRIPE_PROXY`` (read once, with the settings), through that
    proxy, whatever else the environment says. The CA bundle is Stripe's own.

    One session for the gateway's life, so connections to Stripe are kept alive
    between calls. Threads share it: urllib3's connection pool is thread-safe, and
    nothing here changes the session after this.
    """
    session = requests.Session()
    session.trust_env = False
    return stripe.RequestsClient(session=session, proxy=proxy)


class StripeGateway:
    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        *,
        proxy: str | None = None,
    ) -> None:
        options: dict[str, Any] = {"max_network_retries": 2, "http_client": http_client(proxy)}
        if api_base:
            options["base_addresses"] = {"api": api_base}
        self._client = stripe.StripeClient(secret_key, **options)
        self._webhook_secret = webhook_secret
        self.livemode = secret_key.startswith(("sk_live_", "rk_live_"))

    def _call(self, what: str, fn: Any, *args: Any) -> Obj:
        try:
            return _plain(fn(*args))
        except stripe.StripeError as exc:
            raise classify(exc, what) from exc

    def _get(self, what: str, path: str, params: Obj | None = None) -> Obj:
        """A read, answered as Stripe's JSON: the stripe library builds no objects of it.

        Building them (``StripeObject``, then back to dicts) cost about a millisecond of
        the 28 ms of CPU that settling a gift costs (bench/intake.py's phases: the two reads
        of a checkout went from 12.3 to 8.0 ms). The call is the library's all the same:
        its retries, its errors (raised as ours by :func:`classify`), its encoding of
        ``params`` (``expand[]``, nested dictionaries)."""
        try:
            answer = self._client.raw_request("get", path, **(params or {}))
        except stripe.StripeError as exc:
            raise classify(exc, what) from exc
        data = answer.data
        if not isinstance(data, dict):
            raise GatewayError(f"Stripe's answer to {what} is not an object")
        return data

    # -- checkout --------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> Checkout:
        metadata = dict(request.metadata)
        if request.donation_id is not None:
            metadata["donation_id"] = str(request.donation_id)
        # One line item for the whole charge: a subscription then has one item to
        # change later, and the stand-in sells exactly one. The split between the
        # project and General is ours (the donation), not Stripe's.
        total = request.lines[0].amount
        for line in request.lines[1:]:
            total = total + line.amount
        price_data: Obj = {
            "currency": total.currency.value.lower(),
            "unit_amount": total.minor,
            "product_data": {"name": " and ".join(line.name for line in request.lines)[:250]},
        }
        if request.interval:
            price_data["recurring"] = {"interval": request.interval}
        line_items = [{"price_data": price_data, "quantity": 1}]
        params: Obj = {
            "mode": "subscription" if request.interval else "payment",
            "line_items": line_items,
            "submit_type": request.submit_type,
            "customer_email": request.customer_email,
            "metadata": metadata,
            "success_url": request.success_url,
            "cancel_url": request.cancel_url,
        }
        if request.donation_id is not None:
            params["client_reference_id"] = str(request.donation_id)
        if request.interval:
            params["subscription_data"] = {"metadata": metadata}
        else:
            params["payment_intent_data"] = {"metadata": metadata}
        session = self._call(
            "start the checkout",
            self._client.v1.checkout.sessions.create,
            params,
            {"idempotency_key": request.idempotency_key},
        )
        return Checkout(id=session["id"], url=session["url"])

    def checkout_session(self, session_id: str) -> Mapping[str, Any]:
        return self._get("find the checkout session", f"/v1/checkout/sessions/{_path(session_id)}")

    # -- webhooks and events -----------------------------------------------------

    def verify_event(self, payload: bytes, signature: str | None) -> Event:
        if not signature:
            raise BadSignature("the Stripe-Signature header is missing")
        try:
            text = payload.decode("utf-8")
            # The signature only; its time is checked below, both ways.
            stripe.WebhookSignature.verify_header(text, signature, self._webhook_secret, None)
            data = json.loads(text)
        except (UnicodeDecodeError, stripe.SignatureVerificationError) as exc:
            raise BadSignature("the webhook signature does not verify") from exc
        except ValueError as exc:
            raise BadSignature("the webhook body is not JSON") from exc
        _check_signed_time(signature)
        return self._event(data)

    def _event(self, data: Any) -> Event:
        try:
            return Event(
                id=str(data["id"]),
                type=str(data["type"]),
                livemode=bool(data["livemode"]),
                created_at=_time(data["created"]),
                object=dict(data["data"]["object"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise BadSignature("the webhook body is not a Stripe event") from exc

    def events_since(self, since: datetime) -> Iterator[Event]:
        params: Obj = {"created": {"gte": int(since.timestamp())}, "limit": 100}
        page = self._call("list events", self._client.v1.events.list, params)
        batch: list[Obj] = list(page["data"])
        while page.get("has_more"):
            params["starting_after"] = page["data"][-1]["id"]
            page = self._call("list events", self._client.v1.events.list, params)
            batch.extend(page["data"])
        for data in reversed(batch):  # oldest first
            yield self._event(data)

    # -- the balance (reconciliation) ---------------------------------------------

    def balance_transactions_since(self, since: datetime) -> Iterator[BalanceTransaction]:
        """Every balance transaction created at ``since`` or later, newest first, page by page."""
        params: Obj = {"created": {"gte": int(since.timestamp())}, "limit": 100}
        while True:
            page = self._call(
                "list balance transactions", self._client.v1.balance_transactions.list, params
            )
            for obj in page["data"]:
                yield _balance_transaction(obj)
            if not page.get("has_more") or not page["data"]:
                return
            params["starting_after"] = page["data"][-1]["id"]

    def balance(self) -> list[Money]:
        """What Stripe holds now, per currency: available and pending together."""
        obj = self._call("read the balance", self._client.v1.balance.retrieve)
        held: dict[str, int] = {}
        for part in (*obj.get("available", []), *obj.get("pending", [])):
            held[part["currency"]] = held.get(part["currency"], 0) + int(part["amount"])
        return [_money(minor, currency) for currency, minor in sorted(held.items())]

    # -- charges ---------------------------------------------------------------

    def _charge(self, obj: Obj, intent: Mapping[str, Any] | None = None) -> Charge:
        """A charge; our metadata (the donation id) lives on its payment intent."""
        txn = obj.get("balance_transaction")
        if not isinstance(txn, Mapping):
            txn = self._call(
                "find a balance transaction",
                self._client.v1.balance_transactions.retrieve,
                str(txn),
            )
        return Charge(
            id=obj["id"],
            amount=_money(obj["amount"], obj["currency"]),
            payment_intent_id=object_id(obj.get("payment_intent")),
            balance_transaction=_balance_transaction(dict(txn)),
            created_at=_time(obj["created"]),
            metadata={**(obj.get("metadata") or {}), **((intent or {}).get("metadata") or {})},
            payment_method=_payment_method(obj.get("payment_method_details")),
        )

    def charge(self, charge_id: str) -> Charge:
        obj = self._get(
            "find the charge",
            f"/v1/charges/{_path(charge_id)}",
            {"expand": ["balance_transaction", "payment_intent"]},
        )
        intent = obj.get("payment_intent")
        return self._charge(obj, intent if isinstance(intent, Mapping) else None)

    def charge_of_payment_intent(self, payment_intent_id: str) -> Charge | None:
        intent = self._get(
            "find the payment",
            f"/v1/payment_intents/{_path(payment_intent_id)}",
            {"expand": ["latest_charge.balance_transaction"]},
        )
        charge = intent.get("latest_charge")
        if intent.get("status") != "succeeded" or not isinstance(charge, Mapping):
            return None
        return self._charge(dict(charge), intent)

    def charge_of_invoice(self, invoice_id: str) -> Charge | None:
        payments = self._get(
            "find the invoice's payments",
            "/v1/invoice_payments",
            {"invoice": invoice_id, "status": "paid"},
        )
        for payment in payments["data"]:
            intent = (payment.get("payment") or {}).get("payment_intent")
            if intent:
                return self.charge_of_payment_intent(str(object_id(intent)))
        return None

    def invoice_of_payment_intent(self, payment_intent_id: str) -> Mapping[str, Any] | None:
        payments = self._get(
            "find the invoice of a payment",
            "/v1/invoice_payments",
            {"payment": {"type": "payment_intent", "payment_intent": payment_intent_id}},
        )
        for payment in payments["data"]:
            return self._get("find the invoice", f"/v1/invoices/{_path(str(payment['invoice']))}")
        return None

    # -- refunds ---------------------------------------------------------------

    def _txn(self, value: Any) -> BalanceTransaction | None:
        """A balance transaction given by id or already expanded; None for none."""
        if value is None:
            return None
        if not isinstance(value, Mapping):
            value = self._get(
                "find a balance transaction", f"/v1/balance_transactions/{_path(str(value))}"
            )
        return _balance_transaction(dict(value))

    def _refund(self, obj: Obj) -> RefundInfo:
        return RefundInfo(
            id=obj["id"],
            charge_id=str(object_id(obj["charge"])),
            amount=_money(obj["amount"], obj["currency"]),
            status=str(obj["status"]),
            created_at=_time(obj["created"]),
            balance_transaction_id=object_id(obj.get("balance_transaction")),
            failure_balance_transaction=self._txn(obj.get("failure_balance_transaction")),
            balance_transaction=self._txn(obj.get("balance_transaction")),
        )

    def refunds_of_charge(self, charge_id: str) -> list[RefundInfo]:
        params: Obj = {"charge": charge_id, "limit": 100, "expand": ["data.balance_transaction"]}
        page = self._get("list refunds", "/v1/refunds", params)
        found = list(page["data"])
        while page.get("has_more"):
            params["starting_after"] = page["data"][-1]["id"]
            page = self._get("list refunds", "/v1/refunds", params)
            found.extend(page["data"])
        return [self._refund(obj) for obj in found]

    def refund(self, refund_id: str) -> RefundInfo:
        return self._refund(
            self._get(
                "find the refund",
                f"/v1/refunds/{_path(refund_id)}",
                {"expand": ["balance_transaction"]},
            )
        )

    def create_refund(
        self, charge_id: str, amount: Money, idempotency_key: str, reason: str
    ) -> RefundInfo:
        params: Obj = {
            "charge": charge_id,
            "amount": amount.minor,
            "metadata": {"reason": reason[:500]} if reason else {},
            "expand": ["balance_transaction"],
        }
        obj = self._call(
            "refund", self._client.v1.refunds.create, params, {"idempotency_key": idempotency_key}
        )
        return self._refund(obj)

    # -- disputes and payouts ----------------------------------------------------

    def dispute(self, dispute_id: str) -> DisputeInfo:
        obj = self._get("find the dispute", f"/v1/disputes/{_path(dispute_id)}")
        return DisputeInfo(
            id=obj["id"],
            charge_id=str(object_id(obj["charge"])),
            amount=_money(obj["amount"], obj["currency"]),
            status=str(obj["status"]),
            balance_transactions=tuple(
                _balance_transaction(dict(t)) for t in obj.get("balance_transactions") or []
            ),
        )

    def payout(self, payout_id: str) -> PayoutInfo:
        obj = self._get(
            "find the payout",
            f"/v1/payouts/{_path(payout_id)}",
            {"expand": ["balance_transaction", "failure_balance_transaction"]},
        )
        txn, failure = obj.get("balance_transaction"), obj.get("failure_balance_transaction")
        return PayoutInfo(
            id=obj["id"],
            amount=_money(obj["amount"], obj["currency"]),
            status=str(obj["status"]),
            balance_transaction=_balance_transaction(dict(txn)) if txn else None,
            failure_balance_transaction=_balance_transaction(dict(failure)) if failure else None,
        )

    # -- subscriptions -----------------------------------------------------------

    def update_subscription_amount(
        self, subscription_id: str, line: LineItem, interval: str, idempotency_key: str
    ) -> None:
        subscription = self._call(
            "find the subscription", self._client.v1.subscriptions.retrieve, subscription_id
        )
        item = subscription["items"]["data"][0]
        params: Obj = {
            "items": [
                {
                    "id": item["id"],
                    "price_data": {
                        "currency": line.amount.currency.value.lower(),
                        "unit_amount": line.amount.minor,
                        "product": object_id(item["price"]["product"]),
                        "recurring": {"interval": interval},
                    },
                }
            ],
            "proration_behavior": "none",
        }
        self._call(
            "change the subscription",
            self._client.v1.subscriptions.update,
            subscription_id,
            params,
            {"idempotency_key": idempotency_key},
        )

    def cancel_subscription(self, subscription_id: str, idempotency_key: str) -> None:
        self._call(
            "cancel the subscription",
            self._client.v1.subscriptions.cancel,
            subscription_id,
            {},
            {"idempotency_key": idempotency_key},
        )

    def create_card_setup(self, request: CardSetupRequest) -> Checkout:
        metadata = dict(request.metadata)
        session = self._call(
            "start saving the card",
            self._client.v1.checkout.sessions.create,
            {
                "mode": "setup",
                "customer": request.customer_id,
                "currency": request.currency.lower(),
                "metadata": metadata,
                "setup_intent_data": {"metadata": metadata},
                "success_url": request.success_url,
                "cancel_url": request.cancel_url,
            },
            {"idempotency_key": request.idempotency_key},
        )
        return Checkout(id=session["id"], url=session["url"])

    def setup_intent(self, setup_intent_id: str) -> Mapping[str, Any]:
        return self._get("find the saved card", f"/v1/setup_intents/{_path(setup_intent_id)}")

    def set_subscription_card(
        self, subscription_id: str, payment_method_id: str, idempotency_key: str
    ) -> None:
        self._call(
            "make the card the subscription's",
            self._client.v1.subscriptions.update,
            subscription_id,
            {"default_payment_method": payment_method_id},
            {"idempotency_key": idempotency_key},
        )


_BRANDS = {
    "amex": "American Express",
    "diners": "Diners Club",
    "discover": "Discover",
    "jcb": "JCB",
    "mastercard": "Mastercard",
    "unionpay": "UnionPay",
    "visa": "Visa",
}


def _payment_method(details: object) -> str:
    """How a charge was paid, in words for a receipt: the kind and brand, never a number."""
    if not isinstance(details, Mapping):
        return "Card"
    kind = details.get("type")
    if kind == "card":
        brand = (details.get("card") or {}).get("brand")
        return f"Card ({_BRANDS[brand]})" if brand in _BRANDS else "Card"
    if kind == "us_bank_account":
        return "Bank debit (ACH)"
    if kind == "sepa_debit":
        return "Bank debit (SEPA)"
    return "Online payment"


def _check_signed_time(signature: str) -> None:
    """The ``t=`` of a verified Stripe-Signature is within the tolerance of now, either way."""
    stamps = [p[2:] for p in signature.split(",") if p.strip().startswith("t=")]
    try:
        signed = int(stamps[0].strip())
    except (IndexError, ValueError):
        raise BadSignature("the webhook signature has no time") from None
    drift = signed - clock.now().timestamp()
    if drift > SIGNATURE_TOLERANCE:
        raise BadSignature("the webhook signature is dated in the future")
    if drift < -SIGNATURE_TOLERANCE:
        raise BadSignature("the webhook signature is too old")
