"""The stand-in's HTTP face: Stripe's v1 routes that the application calls, and
the ``/_standin/`` control addresses for tests and the demo.

API requests need ``Authorization: Bearer sk_test_…``; parameters arrive
form-encoded (query string for GET and DELETE), exactly as the ``stripe``
library sends them, and are checked against the library's own parameter types.

Stripe answers each API call in a few hundred milliseconds; the stand-in in microseconds,
unless told otherwise: with a latency (``StandIn(latency_ms=…)``, ``conservancy stripe
stand-in --latency-ms``, or ``POST /_standin/latency`` with ``ms``) every API call waits that
long before it is answered, outside the store's lock, so calls in flight together wait side
by side as they do at Stripe. Control addresses and the checkout page answer at once.

A POST with an ``Idempotency-Key`` runs under the store's lock from the key
check to the remembered answer. The same key with the same parameters gets the
first answer back byte for byte, with ``Idempotent-Replayed: true``; with other
parameters it gets ``idempotency_error``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from stripe import params as stripe_params
from stripe.params import checkout as checkout_params
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from conservancy.standin import billing, exchange, objects, pages, params, payments
from conservancy.standin.errors import ParameterError, StripeError
from conservancy.standin.objects import Obj
from conservancy.standin.state import Answer, Store
from conservancy.standin.webhooks import WebhookSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Call:
    """One API request, parsed."""

    params: dict[str, Any]
    expand: list[str]


Handler = Callable[..., Obj]


# -- API handlers ---------------------------------------------------------------


def _retrieve(object_type: str) -> Handler:
    def handler(store: Store, call: Call, object_id: str) -> Obj:
        return store.snapshot(store.get(object_type, object_id), call.expand)

    return handler


def _create_session(store: Store, call: Call) -> Obj:
    return store.snapshot(billing.create_checkout_session(store, call.params), call.expand)


def _expire_session(store: Store, call: Call, object_id: str) -> Obj:
    return store.snapshot(billing.expire_checkout(store, object_id), call.expand)


def _create_refund(store: Store, call: Call) -> Obj:
    charge_id = params.text(call.params, "charge")
    intent_id = params.text(call.params, "payment_intent")
    if (charge_id is None) == (intent_id is None):
        raise ParameterError(
            "You must pass either `charge` or `payment_intent`, but not both.",
            code="parameter_missing" if charge_id is None else "parameters_exclusive",
            param="charge",
        )
    amount = params.integer(call.params, "amount", minimum=1)
    reason = params.text(
        call.params, "reason", choices=("duplicate", "fraudulent", "requested_by_customer")
    )
    metadata = params.metadata(call.params)
    if intent_id is not None:
        intent = store.get("payment_intent", intent_id, param="payment_intent")
        if intent["latest_charge"] is None:
            raise StripeError(
                f"PaymentIntent {intent_id} has no successful charge to refund.",
                code="charge_not_refundable",
                param="payment_intent",
            )
        charge_id = intent["latest_charge"]
    assert charge_id is not None
    made = payments.refund(store, charge_id, amount, metadata, reason)
    return store.snapshot(made, call.expand)


def _update_subscription(store: Store, call: Call, object_id: str) -> Obj:
    return store.snapshot(billing.update_subscription(store, object_id, call.params), call.expand)


def _cancel_subscription(store: Store, call: Call, object_id: str) -> Obj:
    return store.snapshot(billing.cancel_subscription(store, object_id), call.expand)


def _page(store: Store, items: list[Obj], call: Call, url: str) -> Obj:
    """Stripe's list shape over ``items`` (newest first), with cursors and ``data.`` expansions."""
    limit = params.integer(call.params, "limit", minimum=1) or 10
    if limit > 100:
        raise ParameterError("Invalid integer: limit must be at most 100", param="limit")
    ids = [item["id"] for item in items]
    after = params.text(call.params, "starting_after")
    before = params.text(call.params, "ending_before")
    for cursor, name in ((after, "starting_after"), (before, "ending_before")):
        if cursor is not None and cursor not in ids:
            raise ParameterError(f"No such object: '{cursor}'", code="resource_missing", param=name)
    if after is not None:
        window = items[ids.index(after) + 1 :]
        chosen = window[:limit]
    elif before is not None:
        window = items[: ids.index(before)]
        chosen = window[-limit:]
    else:
        window = items
        chosen = window[:limit]
    expand = []
    for path in call.expand:
        if not path.startswith("data."):
            raise ParameterError(f"This property cannot be expanded ({path}).", param="expand")
        expand.append(path.removeprefix("data."))
    return objects.list_object(
        [store.snapshot(item, expand) for item in chosen], url, len(window) > len(chosen)
    )


def _created_filter(call: Call) -> Callable[[Obj], bool]:
    created = call.params.get("created")
    if created is None:
        return lambda obj: True
    if isinstance(created, str):
        exact = params.integer(call.params, "created")
        return lambda obj: bool(obj["created"] == exact)
    bounds = {
        op: params.integer(created, op, param=f"created[{op}]") for op in ("gt", "gte", "lt", "lte")
    }

    def keep(obj: Obj) -> bool:
        at: int = obj["created"]
        gt, gte, lt, lte = (bounds[op] for op in ("gt", "gte", "lt", "lte"))
        return (
            (gt is None or at > gt)
            and (gte is None or at >= gte)
            and (lt is None or at < lt)
            and (lte is None or at <= lte)
        )

    return keep


def _list_events(store: Store, call: Call) -> Obj:
    wanted = params.text(call.params, "type")
    types = call.params.get("types") or []
    if isinstance(types, str):
        types = [types]
    created = _created_filter(call)

    def keep(event: Obj) -> bool:
        kind: str = event["type"]
        if wanted is not None:
            if wanted.endswith("*"):
                if not kind.startswith(wanted[:-1]):
                    return False
            elif kind != wanted:
                return False
        return (not types or kind in types) and created(event)

    return _page(store, [e for e in store.events() if keep(e)], call, "/v1/events")


def _list_balance_transactions(store: Store, call: Call) -> Obj:
    payout = params.text(call.params, "payout")
    if payout is not None:
        items = payments.payout_transactions(store, payout)
    else:
        items = store.all("balance_transaction")[::-1]
    type_ = params.text(call.params, "type")
    source = params.text(call.params, "source")
    currency = params.text(call.params, "currency")
    created = _created_filter(call)
    items = [
        txn
        for txn in items
        if (type_ is None or txn["type"] == type_)
        and (source is None or txn["source"] == source)
        and (currency is None or txn["currency"] == currency)
        and created(txn)
    ]
    return _page(store, items, call, "/v1/balance_transactions")


def _balance(store: Store, call: Call) -> Obj:
    return objects.balance(store.all("balance_transaction"))


def _list_invoice_payments(store: Store, call: Call) -> Obj:
    invoice = params.text(call.params, "invoice")
    payment = params.mapping(call.params, "payment")
    intent = params.text(payment, "payment_intent", param="payment[payment_intent]")
    status = params.text(call.params, "status")
    items = [
        p
        for p in store.all("invoice_payment")[::-1]
        if (invoice is None or p["invoice"] == invoice)
        and (intent is None or p["payment"].get("payment_intent") == intent)
        and (status is None or p["status"] == status)
    ]
    return _page(store, items, call, "/v1/invoice_payments")


def _list_refunds(store: Store, call: Call) -> Obj:
    charge = params.text(call.params, "charge")
    intent = params.text(call.params, "payment_intent")
    items = [
        r
        for r in store.all("refund")[::-1]
        if (charge is None or r["charge"] == charge)
        and (intent is None or r["payment_intent"] == intent)
    ]
    return _page(store, items, call, "/v1/refunds")


_P = stripe_params
API: list[tuple[str, str, Handler, type]] = [
    ("POST", "/v1/checkout/sessions", _create_session, checkout_params.SessionCreateParams),
    (
        "GET",
        "/v1/checkout/sessions/<object_id>",
        _retrieve("checkout.session"),
        checkout_params.SessionRetrieveParams,
    ),
    (
        "POST",
        "/v1/checkout/sessions/<object_id>/expire",
        _expire_session,
        checkout_params.SessionExpireParams,
    ),
    (
        "GET",
        "/v1/payment_intents/<object_id>",
        _retrieve("payment_intent"),
        _P.PaymentIntentRetrieveParams,
    ),
    ("GET", "/v1/charges/<object_id>", _retrieve("charge"), _P.ChargeRetrieveParams),
    (
        "GET",
        "/v1/balance_transactions",
        _list_balance_transactions,
        _P.BalanceTransactionListParams,
    ),
    (
        "GET",
        "/v1/balance_transactions/<object_id>",
        _retrieve("balance_transaction"),
        _P.BalanceTransactionRetrieveParams,
    ),
    ("GET", "/v1/balance", _balance, _P.BalanceRetrieveParams),
    ("POST", "/v1/refunds", _create_refund, _P.RefundCreateParams),
    ("GET", "/v1/refunds", _list_refunds, _P.RefundListParams),
    ("GET", "/v1/refunds/<object_id>", _retrieve("refund"), _P.RefundRetrieveParams),
    ("GET", "/v1/disputes/<object_id>", _retrieve("dispute"), _P.DisputeRetrieveParams),
    ("GET", "/v1/payouts/<object_id>", _retrieve("payout"), _P.PayoutRetrieveParams),
    ("GET", "/v1/invoices/<object_id>", _retrieve("invoice"), _P.InvoiceRetrieveParams),
    ("GET", "/v1/invoice_payments", _list_invoice_payments, _P.InvoicePaymentListParams),
    (
        "GET",
        "/v1/invoice_payments/<object_id>",
        _retrieve("invoice_payment"),
        _P.InvoicePaymentRetrieveParams,
    ),
    (
        "GET",
        "/v1/subscriptions/<object_id>",
        _retrieve("subscription"),
        _P.SubscriptionRetrieveParams,
    ),
    ("POST", "/v1/subscriptions/<object_id>", _update_subscription, _P.SubscriptionUpdateParams),
    (
        "DELETE",
        "/v1/subscriptions/<object_id>",
        _cancel_subscription,
        _P.SubscriptionCancelParams,
    ),
    (
        "GET",
        "/v1/setup_intents/<object_id>",
        _retrieve("setup_intent"),
        _P.SetupIntentRetrieveParams,
    ),
    ("GET", "/v1/customers/<object_id>", _retrieve("customer"), _P.CustomerRetrieveParams),
    ("GET", "/v1/products/<object_id>", _retrieve("product"), _P.ProductRetrieveParams),
    ("GET", "/v1/prices/<object_id>", _retrieve("price"), _P.PriceRetrieveParams),
    ("GET", "/v1/events", _list_events, _P.EventListParams),
    ("GET", "/v1/events/<object_id>", _retrieve("event"), _P.EventRetrieveParams),
]


# -- the WSGI application ---------------------------------------------------------


def _json(body: object, status: int = 200) -> Response:
    return Response(json.dumps(body, indent=2) + "\n", status, mimetype="application/json")


def _error(error: StripeError) -> Response:
    return _json(error.body(), error.status)


def _body(error: StripeError) -> bytes:
    return (json.dumps(error.body(), indent=2) + "\n").encode()


def _html(body: str, status: int = 200) -> Response:
    return Response(body, status, mimetype="text/html")


def _flag(form: dict[str, str], name: str) -> bool | None:
    raw = form.get(name)
    if raw is None or raw == "":
        return None
    if raw in ("1", "true", "on", "yes"):
        return True
    if raw in ("0", "false", "off", "no"):
        return False
    raise ParameterError(f"{name} must be 0 or 1, not {raw!r}.", param=name)


def _faults(form: dict[str, str]) -> Faults:
    """``status`` (429, 500, 502 or 503; empty or 0 switches faults off) and ``count``
    (how many API requests; empty: until switched off)."""
    raw = form.get("status") or "0"
    if raw == "0":
        return Faults()
    if not raw.isdigit() or int(raw) not in _FAULTS:
        choices = ", ".join(str(status) for status in _FAULTS)
        raise ParameterError(f"status must be one of {choices}, or 0 for none.", param="status")
    count = params.integer(form, "count", minimum=1)
    return Faults(status=int(raw), left=count)


def _redacted(key: str) -> str:
    return key[:8] + "*" * max(len(key) - 12, 0) + key[-4:] if len(key) > 12 else "****"


# What Stripe answers when it fails on its side, or when it is asked too much too fast.
_FAULTS = {
    429: (
        "Too many requests hit the API too quickly. We recommend an exponential backoff of "
        "your requests.",
        "invalid_request_error",
        "rate_limit",
    ),
    500: ("An unknown error occurred", "api_error", None),
    502: ("An unknown error occurred", "api_error", None),
    503: ("Stripe is unavailable right now; please retry.", "api_error", None),
}


MAX_LATENCY_MS = 60_000  # a minute: longer than any client waits


def check_latency(ms: int) -> int:
    """``ms`` if it is a latency the stand-in can keep; ValueError saying why not."""
    if not 0 <= ms <= MAX_LATENCY_MS:
        raise ValueError(f"a latency is 0 to {MAX_LATENCY_MS} ms, not {ms}")
    return ms


@dataclass
class Faults:
    """API requests answered with an error instead, as Stripe does when it is down or
    throttling: ``status`` for the next ``left`` requests (None: until switched off)."""

    status: int | None = None
    left: int | None = None

    def take(self) -> StripeError | None:
        if self.status is None:
            return None
        status = self.status
        if self.left is not None:
            self.left -= 1
            if self.left <= 0:
                self.status = self.left = None
        message, type_, code = _FAULTS[status]
        return StripeError(message, status=status, type_=type_, code=code)


class StandInApp:
    """WSGI application over one store and one webhook sender."""

    def __init__(self, store: Store, webhooks: WebhookSender, latency_ms: int = 0) -> None:
        self.store = store
        self.webhooks = webhooks
        self.faults = Faults()
        self.latency_ms = check_latency(latency_ms)
        # API calls answered so far, by "METHOD /path" (tests: what asked Stripe what).
        self.api_calls: Counter[str] = Counter()
        rules = [
            Rule(path, methods=[method], endpoint=("api", index))
            for index, (method, path, _, _) in enumerate(API)
        ]
        rules += [
            Rule("/_standin/", methods=["GET"], endpoint=("control", "index")),
            Rule("/_standin/checkout/<object_id>", methods=["GET"], endpoint=("control", "page")),
            Rule(
                "/_standin/checkout/<object_id>/pay", methods=["POST"], endpoint=("control", "pay")
            ),
            Rule(
                "/_standin/charges/<object_id>/dispute",
                methods=["POST"],
                endpoint=("control", "dispute"),
            ),
            Rule(
                "/_standin/disputes/<object_id>/close",
                methods=["POST"],
                endpoint=("control", "close"),
            ),
            Rule(
                "/_standin/refunds/<object_id>/fail",
                methods=["POST"],
                endpoint=("control", "fail-refund"),
            ),
            Rule(
                "/_standin/subscriptions/<object_id>/renew",
                methods=["POST"],
                endpoint=("control", "renew"),
            ),
            Rule("/_standin/payouts", methods=["POST"], endpoint=("control", "payouts")),
            Rule("/_standin/webhooks/mode", methods=["GET", "POST"], endpoint=("control", "mode")),
            Rule("/_standin/state", methods=["GET"], endpoint=("control", "state")),
            Rule("/_standin/faults", methods=["GET", "POST"], endpoint=("control", "faults")),
            Rule("/_standin/latency", methods=["GET", "POST"], endpoint=("control", "latency")),
            Rule(
                "/_standin/exchange_rates", methods=["GET", "POST"], endpoint=("control", "rates")
            ),
            Rule(
                "/_standin/receipts/<object_id>", methods=["GET"], endpoint=("control", "receipt")
            ),
        ]
        self.url_map = Map(rules, strict_slashes=False)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        try:
            (kind, name), args = adapter.match()
        except (NotFound, MethodNotAllowed):
            return _error(
                StripeError(
                    f"Unrecognized request URL ({request.method}: {request.path}).",
                    status=404,
                )
            )
        except HTTPException as exc:  # e.g. a redirect for a trailing slash
            return exc.get_response(request.environ)
        try:
            if kind == "api":
                response = self.api(request, name, args["object_id"] if args else None)
            else:
                response = self.control(request, name, args.get("object_id"))
            if request.method not in ("GET", "HEAD"):
                self.store.save()  # kept before the caller hears of it
            return response
        except Exception:
            log.exception("stand-in failed on %s %s", request.method, request.path)
            return _error(
                StripeError("The stand-in failed; see its log.", status=500, type_="api_error")
            )

    # -- API ---------------------------------------------------------------------

    def api(self, request: Request, index: int, object_id: str | None) -> Response:
        method, _, handler, schema = API[index]
        with self.store.lock:
            self.api_calls[f"{method} {request.path}"] += 1
        if latency_ms := self.latency_ms:
            time.sleep(latency_ms / 1000)  # the way to Stripe and back; no lock is held
        with self.store.lock:
            fault = self.faults.take()
        if fault is not None:
            return self._respond(fault.status, _body(fault), objects.new_id("req_", 14))
        try:
            self._authorize(request)
            source = request.form if method == "POST" else request.args
            pairs = list(source.items(multi=True))
            call_params = params.decode(pairs)
            params.check_known(call_params, schema)
            call = Call(call_params, params.expand_paths(call_params))
        except StripeError as exc:
            return _error(exc)
        args = {} if object_id is None else {"object_id": object_id}
        key = request.headers.get("Idempotency-Key") if method == "POST" else None
        if key is None:
            with self.store.lock:
                status, body, request_id = self._run(handler, call, args, None)
            return self._respond(status, body, request_id)
        fingerprint = hashlib.sha256(
            json.dumps([method, request.path, sorted(pairs)]).encode()
        ).hexdigest()
        with self.store.lock:
            try:
                answer = self.store.answer_for(key, fingerprint)
            except StripeError as exc:
                return _error(exc)
            if answer is not None:
                response = self._respond(answer.status, answer.body, answer.request_id)
                response.headers["Idempotent-Replayed"] = "true"
                response.headers["Idempotency-Key"] = key
                return response
            status, body, request_id = self._run(handler, call, args, key)
            if status > 0:
                self.store.remember(key, Answer(fingerprint, status, body, request_id))
        response = self._respond(abs(status), body, request_id)
        response.headers["Idempotency-Key"] = key
        return response

    def _run(
        self, handler: Handler, call: Call, args: dict[str, str], key: str | None
    ) -> tuple[int, bytes, str]:
        """Run a handler; a negative status marks an answer an idempotency key must not keep."""
        request_id = objects.new_id("req_", 14)
        with self.store.acting_for(request_id, key):
            try:
                result = handler(self.store, call, **args)
            except StripeError as exc:
                return (exc.status if exc.remembered else -exc.status), _body(exc), request_id
        return 200, (json.dumps(result, indent=2) + "\n").encode(), request_id

    @staticmethod
    def _respond(status: int, body: bytes, request_id: str) -> Response:
        response = Response(body, abs(status), mimetype="application/json")
        response.headers["Request-Id"] = request_id
        response.headers["Stripe-Version"] = objects.STRIPE_API_VERSION
        return response

    @staticmethod
    def _authorize(request: Request) -> None:
        header = request.headers.get("Authorization", "")
        key = ""
        if header.startswith("Bearer "):
            key = header.removeprefix("Bearer ").strip()
        elif request.authorization is not None and request.authorization.type == "basic":
            key = request.authorization.username or ""
        if not key:
            raise StripeError(
                "You did not provide an API key. You need to provide your API key in the "
                "Authorization header, using Bearer auth (e.g. 'Authorization: Bearer "
                "YOUR_SECRET_KEY').",
                status=401,
            )
        if not key.startswith("sk_test_") or len(key) == len("sk_test_"):
            raise StripeError(f"Invalid API Key provided: {_redacted(key)}", status=401)

    # -- control addresses ---------------------------------------------------------

    def control(self, request: Request, name: str, object_id: str | None) -> Response:
        store = self.store
        form = dict(request.form.items())
        if name == "index":
            return _html(pages.index(store.base_url))
        if name in ("page", "pay"):
            assert object_id is not None
            return self._checkout(request, name, object_id)
        if name == "receipt":
            assert object_id is not None
            try:
                return _html(pages.receipt(store.snapshot(store.get("charge", object_id))))
            except StripeError as exc:
                return _html(pages.message("Not found", exc.message), exc.status)
        try:
            with store.lock:
                result = self._control_json(name, object_id, form)
        except StripeError as exc:
            return _error(exc)
        return _json(result)

    def _control_json(self, name: str, object_id: str | None, form: dict[str, str]) -> Obj:
        store = self.store
        if name == "state":
            return store.records()
        if name == "rates":
            store.exchange_rates.update(exchange.parse_rates(form, store.exchange_rates))
            return {currency: str(rate) for currency, rate in store.exchange_rates.items()}
        if name == "faults":
            if form:
                self.faults = _faults(form)
            return {"status": self.faults.status, "left": self.faults.left}
        if name == "latency":
            if form:
                ms = params.integer(form, "ms", required=True)
                assert ms is not None
                try:
                    self.latency_ms = check_latency(ms)
                except ValueError as exc:
                    raise ParameterError(str(exc), param="ms") from exc
            return {"ms": self.latency_ms}
        if name == "mode":
            mode = self.webhooks.set_mode(
                duplicate=_flag(form, "duplicate"),
                shuffle=_flag(form, "shuffle"),
                fail_first=_flag(form, "fail_first"),
            )
            return {
                "duplicate": mode.duplicate,
                "shuffle": mode.shuffle,
                "fail_first": mode.fail_first,
            }
        if name == "payouts":
            currency = (params.text(form, "currency") or "usd").lower()
            outcome = params.text(form, "outcome", choices=("paid", "failed")) or "paid"
            return store.snapshot(payments.pay_out(store, currency, outcome))
        assert object_id is not None
        if name == "dispute":
            amount = params.integer(form, "amount", minimum=1)
            reason = params.text(form, "reason") or "general"
            return store.snapshot(payments.open_dispute(store, object_id, amount, reason))
        if name == "close":
            closed = params.text(form, "outcome", required=True, choices=("won", "lost"))
            assert closed is not None
            return store.snapshot(payments.close_dispute(store, object_id, closed))
        if name == "fail-refund":
            return store.snapshot(payments.fail_refund(store, object_id))
        if name == "renew":
            result = billing.renew(store, object_id, params.text(form, "card_number"))
            return store.snapshot(result)
        raise AssertionError(name)

    def _checkout(self, request: Request, name: str, session_id: str) -> Response:
        store = self.store
        with store.lock:
            try:
                session = store.get("checkout.session", session_id)
            except StripeError as exc:
                return _html(pages.message("Checkout not found", exc.message), 404)
            terms = store.terms[session_id]
            if name == "page":
                if session["status"] != "open":
                    return _html(
                        pages.message(
                            "Checkout closed", f"This checkout session is {session['status']}."
                        )
                    )
                return _html(pages.checkout(session, terms))
            try:
                billing.pay_checkout(
                    store,
                    session_id,
                    card_number=request.form.get("card_number"),
                    account_number=request.form.get("account_number"),
                )
            except StripeError as exc:
                if session["status"] != "open":
                    return _html(pages.message("Checkout closed", exc.message), exc.status)
                return _html(pages.checkout(session, terms, exc.message), exc.status)
            success_url = session["success_url"]
        if success_url is None:
            return _html(pages.message("Paid", "Thank you: the payment went through."))
        target = success_url.replace("{CHECKOUT_SESSION_ID}", session_id)
        return Response("", 303, headers={"Location": target})
