"""Checkout sessions and subscriptions: what a payer buys and how it is billed.

A session sells one line item. Paying it in ``payment`` mode makes a customer,
a payment intent and a charge; in ``subscription`` mode also a product, a
price, the subscription and its first invoice, paid through an invoice
payment; in ``setup`` mode it sells nothing and saves the card to the customer
through a SetupIntent. Renewals bill the next period on demand rather than on a
clock, from the subscription's default payment method.
"""

from __future__ import annotations

import calendar
import copy
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from conservancy.standin import exchange, objects, params, payments
from conservancy.standin.errors import CardDeclined, ParameterError, StripeError
from conservancy.standin.objects import Obj
from conservancy.standin.state import CheckoutTerms, Store

INTERVALS = ("day", "week", "month", "year")
SUBMIT_TYPES = ("auto", "book", "donate", "pay", "subscribe")


# -- periods ------------------------------------------------------------------


def _add_interval(anchor: int, interval: str, count: int) -> int:
    moment = datetime.fromtimestamp(anchor, UTC)
    if interval in ("day", "week"):
        days = count * (7 if interval == "week" else 1)
        return int((moment + timedelta(days=days)).timestamp())
    months = moment.month - 1 + count * (12 if interval == "year" else 1)
    year, month = moment.year + months // 12, months % 12 + 1
    # Stripe keeps the anchor's day, or the month's last day when it is shorter.
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


def next_period_end(anchor: int, after: int, recurring: Obj) -> int:
    """The first period boundary counted from the billing anchor that falls after ``after``."""
    step = 1
    while True:
        end = _add_interval(anchor, recurring["interval"], step * recurring["interval_count"])
        if end > after:
            return end
        step += 1


# -- checkout -----------------------------------------------------------------


def _terms(store: Store, request: dict[str, Any], mode: str) -> CheckoutTerms:
    items = request.get("line_items")
    if not items:
        raise ParameterError(
            "Missing required param: line_items.", code="parameter_missing", param="line_items"
        )
    if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0], dict):
        raise ParameterError(
            "The stand-in sells exactly one line item per Checkout Session.", param="line_items"
        )
    item = items[0]
    where = "line_items[0]"
    quantity = params.integer(item, "quantity", minimum=1, param=f"{where}[quantity]") or 1
    price_id = params.text(item, "price", param=f"{where}[price]")
    if price_id is not None:
        price = store.get("price", price_id, param=f"{where}[price]")
        product = store.get("product", price["product"])
        currency, unit_amount, name = price["currency"], price["unit_amount"], product["name"]
        recurring: dict[str, Any] = price["recurring"] or {}
        interval, interval_count = recurring.get("interval"), recurring.get("interval_count", 1)
    else:
        data = params.mapping(item, "price_data", param=f"{where}[price_data]")
        if not data:
            raise ParameterError(
                f"You must specify either `price` or `price_data` in `{where}`.",
                code="parameter_missing",
                param=f"{where}[price_data]",
            )
        where = f"{where}[price_data]"
        currency = (
            params.text(data, "currency", required=True, param=f"{where}[currency]") or ""
        ).lower()
        unit_amount = (
            params.integer(
                data, "unit_amount", required=True, minimum=0, param=f"{where}[unit_amount]"
            )
            or 0
        )
        product_id = params.text(data, "product", param=f"{where}[product]")
        if product_id is not None:
            name = store.get("product", product_id, param=f"{where}[product]")["name"]
        else:
            product_data = params.mapping(data, "product_data", param=f"{where}[product_data]")
            name = (
                params.text(
                    product_data, "name", required=True, param=f"{where}[product_data][name]"
                )
                or ""
            )
        recurring_params = params.mapping(data, "recurring", param=f"{where}[recurring]")
        interval = params.text(
            recurring_params,
            "interval",
            required=bool(recurring_params),
            choices=INTERVALS,
            param=f"{where}[recurring][interval]",
        )
        interval_count = (
            params.integer(
                recurring_params,
                "interval_count",
                minimum=1,
                param=f"{where}[recurring][interval_count]",
            )
            or 1
        )
    if mode == "subscription" and interval is None:
        raise ParameterError(
            "You must provide at least one recurring price in `subscription` mode when using "
            "prices.",
            param="line_items",
        )
    if mode == "payment" and interval is not None:
        raise ParameterError(
            "You specified `payment` mode but passed a recurring price. Either switch to "
            "`subscription` mode or use only one-time prices.",
            param="line_items",
        )
    if currency != exchange.SETTLEMENT_CURRENCY and currency not in store.exchange_rates:
        known = ", ".join([exchange.SETTLEMENT_CURRENCY, *sorted(store.exchange_rates)])
        raise ParameterError(
            f"Invalid currency: {currency}. The stand-in supports these currencies: {known}.",
            param="line_items",
        )
    if unit_amount * quantity < 50:
        raise ParameterError(
            "The Checkout Session's total amount due must add up to at least $0.50 usd",
            param="line_items",
        )
    intent_data = params.mapping(request, "payment_intent_data")
    subscription_data = params.mapping(request, "subscription_data")
    if intent_data and mode != "payment":
        raise ParameterError(
            "You can not pass `payment_intent_data` in `subscription` mode.",
            param="payment_intent_data",
        )
    if subscription_data and mode != "subscription":
        raise ParameterError(
            "You can not pass `subscription_data` in `payment` mode.", param="subscription_data"
        )
    return CheckoutTerms(
        product_name=name,
        currency=currency,
        unit_amount=unit_amount,
        quantity=quantity,
        interval=interval,
        interval_count=interval_count,
        price_id=price_id,
        payment_intent_metadata=params.metadata(intent_data),
        payment_intent_description=params.text(
            intent_data, "description", param="payment_intent_data[description]"
        ),
        subscription_metadata=params.metadata(subscription_data),
    )


def _setup_terms(request: dict[str, Any]) -> CheckoutTerms:
    """A ``setup`` session sells nothing: it saves a card for the customer's later payments.
    As at Stripe, it takes no line items, and its SetupIntent's metadata from
    ``setup_intent_data``."""
    if request.get("line_items"):
        raise ParameterError("You cannot pass `line_items` in `setup` mode.", param="line_items")
    if params.text(request, "customer") is None:
        raise ParameterError(
            "The stand-in needs a `customer` in `setup` mode: the card is saved to it.",
            param="customer",
        )
    data = params.mapping(request, "setup_intent_data") or {}
    return CheckoutTerms(
        product_name="Save a card for future payments",
        currency=(params.text(request, "currency") or "usd").lower(),
        unit_amount=0,
        quantity=1,
        interval=None,
        interval_count=1,
        price_id=None,
        payment_intent_metadata=params.metadata(data),
        payment_intent_description=params.text(data, "description"),
        subscription_metadata={},
    )


def create_checkout_session(store: Store, request: dict[str, Any]) -> Obj:
    mode = params.text(request, "mode", required=True, choices=("payment", "setup", "subscription"))
    assert mode is not None
    terms = _setup_terms(request) if mode == "setup" else _terms(store, request, mode)
    customer_id = params.text(request, "customer")
    if customer_id is not None:
        store.get("customer", customer_id, param="customer")
    session = objects.checkout_session(
        base_url=store.base_url,
        now=store.now(),
        mode=mode,
        currency=terms.currency,
        amount=terms.amount,
        submit_type=params.text(request, "submit_type", choices=SUBMIT_TYPES),
        customer_email=params.text(request, "customer_email"),
        client_reference_id=params.text(request, "client_reference_id"),
        metadata=params.metadata(request),
        success_url=params.text(request, "success_url"),
        cancel_url=params.text(request, "cancel_url"),
    )
    session["customer"] = customer_id
    store.add(session)
    store.terms[session["id"]] = terms
    return session


def expire_checkout(store: Store, session_id: str) -> Obj:
    session = store.get("checkout.session", session_id, param="session")
    if session["status"] != "open":
        raise StripeError(
            'Only Checkout Sessions with a status in ["open"] can be expired.',
            param="session",
        )
    session.update(status="expired", url=None)
    store.emit("checkout.session.expired", session)
    return session


def pay_checkout(
    store: Store, session_id: str, *, card_number: str | None, account_number: str | None
) -> Obj:
    """What the hosted page's Pay button does. Declined cards change nothing."""
    session = store.get("checkout.session", session_id)
    if session["status"] == "open" and session["expires_at"] <= store.now():
        expire_checkout(store, session_id)
    if session["status"] != "open":
        raise StripeError(f"This Checkout Session is {session['status']}; it cannot be paid.")
    terms = store.terms[session_id]
    if account_number:
        if session["mode"] != "payment":
            raise ParameterError(
                "The stand-in takes bank debits for one-time payments only.",
                param="account_number",
            )
        method = payments.bank_method(store, account_number)
    elif card_number:
        method = payments.card_method(store, card_number)
        if method.decline is not None:
            raise CardDeclined(method.decline[1], method.decline[0])
    else:
        raise ParameterError(
            "Missing required param: card_number.", code="parameter_missing", param="card_number"
        )
    if session["customer"] is not None:
        customer = store.get("customer", session["customer"])
    else:
        customer = store.add(objects.customer(now=store.now(), email=session["customer_email"]))
        store.emit("customer.created", customer)
    session.update(
        customer=customer["id"],
        customer_details=objects.customer_details(customer["email"]),
        collected_information={
            "business_name": None,
            "individual_name": None,
            "shipping_details": None,
        },
        status="complete",
        url=None,
    )
    if session["mode"] == "payment":
        _complete_payment(store, session, terms, customer, method)
    elif session["mode"] == "setup":
        _complete_setup(store, session, terms, customer, method)
    else:
        _complete_subscription(store, session, terms, customer, method)
    return session


def _complete_setup(
    store: Store, session: Obj, terms: CheckoutTerms, customer: Obj, method: payments.Method
) -> None:
    """The card is saved to the customer through a succeeded SetupIntent; nothing is charged.
    Making it a subscription's default is the caller's next call, as at Stripe."""
    intent = store.add(
        objects.setup_intent(
            now=store.now(),
            customer=customer["id"],
            payment_method=method.id,
            metadata=dict(terms.payment_intent_metadata),
            description=terms.payment_intent_description,
        )
    )
    session.update(setup_intent=intent["id"], payment_status="no_payment_required")
    store.emit("setup_intent.created", intent)
    store.emit("setup_intent.succeeded", intent)
    store.emit("checkout.session.completed", session)


def _complete_payment(
    store: Store, session: Obj, terms: CheckoutTerms, customer: Obj, method: payments.Method
) -> None:
    intent, charge = payments.start_payment(
        store,
        amount=terms.amount,
        currency=terms.currency,
        customer=customer,
        method=method,
        metadata=terms.payment_intent_metadata,
        description=terms.payment_intent_description,
    )
    session["payment_intent"] = intent["id"]
    if method.is_card:
        payments.pay_now(store, intent, charge, method)
        session["payment_status"] = "paid"
        store.emit("checkout.session.completed", session)
        return
    # A bank debit: the session completes unpaid, and the debit settles after.
    store.emit("payment_intent.processing", intent)
    store.emit("charge.pending", charge)
    store.emit("checkout.session.completed", session)
    if method.decline is not None:
        payments.fail(intent, charge, method.decline)
        store.emit("charge.failed", charge)
        store.emit("payment_intent.payment_failed", intent)
        store.emit("checkout.session.async_payment_failed", session)
    else:
        payments.settle(store, intent, charge)
        session["payment_status"] = "paid"
        store.emit("charge.succeeded", charge)
        store.emit("payment_intent.succeeded", intent)
        store.emit("checkout.session.async_payment_succeeded", session)


def _complete_subscription(
    store: Store, session: Obj, terms: CheckoutTerms, customer: Obj, method: payments.Method
) -> None:
    now = store.now()
    if terms.price_id is not None:
        price = store.get("price", terms.price_id)
    else:
        product = store.add(objects.product(now=now, name=terms.product_name))
        price = store.add(
            objects.price(
                now=now,
                product=product["id"],
                currency=terms.currency,
                unit_amount=terms.unit_amount,
                interval=terms.interval or "month",
            )
        )
        price["recurring"]["interval_count"] = terms.interval_count
        product["default_price"] = price["id"]
    subscription = objects.subscription(
        now=now,
        customer=customer["id"],
        currency=terms.currency,
        metadata=dict(terms.subscription_metadata),
        payment_method=method.id,
    )
    period = (now, next_period_end(now, now, price["recurring"]))
    item = objects.subscription_item(
        now=now,
        subscription=subscription["id"],
        price=copy.deepcopy(price),
        quantity=terms.quantity,
        period=period,
    )
    subscription["items"]["data"].append(item)
    store.add(subscription)
    invoice = _bill(store, subscription, customer, method, "subscription_create", period)
    subscription.update(status="active", latest_invoice=invoice["id"])
    session.update(subscription=subscription["id"], invoice=invoice["id"], payment_status="paid")
    store.emit("customer.subscription.created", subscription)
    store.emit("invoice.paid", invoice)
    store.emit("invoice.payment_succeeded", invoice)
    store.emit("checkout.session.completed", session)


def _bill(
    store: Store,
    subscription: Obj,
    customer: Obj,
    method: payments.Method,
    billing_reason: str,
    period: tuple[int, int],
) -> Obj:
    """Cut an invoice for the subscription and try to collect it once."""
    product = store.get("product", subscription["items"]["data"][0]["price"]["product"])
    invoice = store.add(
        objects.invoice(
            now=store.now(),
            subscription=subscription,
            customer=customer,
            product_name=product["name"],
            billing_reason=billing_reason,
            period=period,
        )
    )
    customer["next_invoice_sequence"] += 1
    store.emit("invoice.created", invoice)
    store.emit("invoice.finalized", invoice)
    intent, charge = payments.start_payment(
        store,
        amount=invoice["amount_due"],
        currency=invoice["currency"],
        customer=customer,
        method=method,
        metadata={},
        description=(
            "Subscription creation"
            if billing_reason == "subscription_create"
            else "Subscription update"
        ),
    )
    payment = store.add(
        objects.invoice_payment(now=store.now(), invoice=invoice, payment_intent=intent["id"])
    )
    invoice.update(attempt_count=invoice["attempt_count"] + 1, attempted=True)
    try:
        payments.pay_now(store, intent, charge, method)
    except CardDeclined:
        invoice["next_payment_attempt"] = store.now() + 3 * 24 * 3600
        return invoice
    now = store.now()
    payment.update(status="paid", amount_paid=invoice["amount_due"])
    payment["status_transitions"]["paid_at"] = now
    invoice.update(status="paid", amount_paid=invoice["amount_due"], amount_remaining=0)
    invoice["status_transitions"]["paid_at"] = now
    return invoice


# -- subscriptions --------------------------------------------------------------


def _changes(before: Obj, after: Obj) -> Obj:
    """Stripe's ``previous_attributes``: the old value of each top-level field that changed."""
    return {key: before.get(key) for key in after if before.get(key) != after[key]}


def renew(store: Store, subscription_id: str, card_number: str | None) -> Obj:
    """Bill the next period now, as Stripe would at the end of the current one."""
    subscription = store.get("subscription", subscription_id)
    if subscription["status"] not in ("active", "past_due"):
        raise StripeError(
            f"Subscription {subscription_id} is {subscription['status']}; it does not renew."
        )
    if card_number:
        method = payments.card_method(store, card_number)
    else:
        method = payments.saved_method(store, subscription["default_payment_method"])
    before = copy.deepcopy(subscription)
    now = store.now()
    if subscription["cancel_at_period_end"]:
        subscription.update(status="canceled", ended_at=now)
        store.emit("customer.subscription.deleted", subscription)
        return {"subscription": subscription, "invoice": None, "paid": False}
    item = subscription["items"]["data"][0]
    start = item["current_period_end"]
    period = (
        start,
        next_period_end(subscription["billing_cycle_anchor"], start, item["price"]["recurring"]),
    )
    item.update(current_period_start=period[0], current_period_end=period[1])
    customer = store.get("customer", subscription["customer"])
    invoice = _bill(store, subscription, customer, method, "subscription_cycle", period)
    paid = invoice["status"] == "paid"
    subscription.update(latest_invoice=invoice["id"], status="active" if paid else "past_due")
    store.emit("invoice.paid" if paid else "invoice.payment_failed", invoice)
    if paid:
        store.emit("invoice.payment_succeeded", invoice)
    store.emit("customer.subscription.updated", subscription, _changes(before, subscription))
    return {"subscription": subscription, "invoice": invoice, "paid": paid}


def _price_fields(store: Store, subscription: Obj, data: dict[str, Any], where: str) -> Obj:
    """The checked fields of ``items[n][price_data]``; the price is made once all is valid."""
    currency = (
        params.text(data, "currency", required=True, param=f"{where}[currency]") or ""
    ).lower()
    if currency != subscription["currency"]:
        raise ParameterError(
            f"The price's currency ({currency}) must match the subscription's "
            f"({subscription['currency']}).",
            param=f"{where}[currency]",
        )
    product = params.text(data, "product", required=True, param=f"{where}[product]") or ""
    store.get("product", product, param=f"{where}[product]")
    recurring = params.mapping(data, "recurring", param=f"{where}[recurring]")
    interval = params.text(
        recurring,
        "interval",
        required=True,
        choices=INTERVALS,
        param=f"{where}[recurring][interval]",
    )
    unit_amount = params.integer(
        data, "unit_amount", required=True, minimum=0, param=f"{where}[unit_amount]"
    )
    count = params.integer(
        recurring, "interval_count", minimum=1, param=f"{where}[recurring][interval_count]"
    )
    return {
        "product": product,
        "currency": currency,
        "unit_amount": unit_amount or 0,
        "interval": interval or "month",
        "interval_count": count or 1,
    }


@dataclass
class _ItemChange:
    item: Obj
    price: Obj | None  # an existing price to switch to
    price_fields: Obj | None  # or the fields of a new one
    quantity: int | None


def update_subscription(store: Store, subscription_id: str, request: dict[str, Any]) -> Obj:
    """Change the item's price or quantity, cancellation at period end, or metadata.

    Everything is validated before anything changes, so a refused update writes nothing.
    """
    subscription = store.get("subscription", subscription_id, param="subscription_exposed_id")
    if subscription["status"] == "canceled" and set(request) - {
        "metadata",
        "cancellation_details",
        "expand",
    }:
        raise StripeError(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    items = request.get("items") or []
    if not isinstance(items, list):
        raise ParameterError("Invalid array: items", param="items")
    item_changes: list[_ItemChange] = []
    for index, change in enumerate(items):
        where = f"items[{index}]"
        if not isinstance(change, dict):
            raise ParameterError(f"Invalid object: {where}", param=where)
        item_id = params.text(change, "id", required=True, param=f"{where}[id]")
        item = next((i for i in subscription["items"]["data"] if i["id"] == item_id), None)
        if item is None:
            raise StripeError(
                f"Invalid subscription item: {item_id} is not on {subscription_id}.",
                param=f"{where}[id]",
            )
        price_id = params.text(change, "price", param=f"{where}[price]")
        price_data = params.mapping(change, "price_data", param=f"{where}[price_data]")
        item_changes.append(
            _ItemChange(
                item=item,
                price=None
                if price_id is None
                else store.get("price", price_id, param=f"{where}[price]"),
                price_fields=_price_fields(store, subscription, price_data, f"{where}[price_data]")
                if price_data and price_id is None
                else None,
                quantity=params.integer(change, "quantity", minimum=1, param=f"{where}[quantity]"),
            )
        )
    cancel_at_period_end = params.boolean(request, "cancel_at_period_end")
    default_method = params.text(request, "default_payment_method")
    if default_method is not None and default_method not in store.payment_methods:
        raise StripeError(
            f"No such PaymentMethod: '{default_method}'",
            status=404,
            code="resource_missing",
            param="default_payment_method",
        )
    clear_metadata = request.get("metadata") == ""
    metadata = {} if clear_metadata else params.metadata(request)

    before = copy.deepcopy(subscription)
    for planned in item_changes:
        item, new_price, fields = planned.item, planned.price, planned.price_fields
        if fields is not None:
            new_price = store.add(
                objects.price(
                    now=store.now(),
                    product=fields["product"],
                    currency=fields["currency"],
                    unit_amount=fields["unit_amount"],
                    interval=fields["interval"],
                )
            )
            new_price["recurring"]["interval_count"] = fields["interval_count"]
        price = copy.deepcopy(new_price) if new_price is not None else item["price"]
        quantity = planned.quantity or item["quantity"]
        item.update(price=price, plan=objects.plan(price), quantity=quantity)
    if (
        cancel_at_period_end is not None
        and cancel_at_period_end != subscription["cancel_at_period_end"]
    ):
        period_end = subscription["items"]["data"][0]["current_period_end"]
        subscription.update(
            cancel_at_period_end=cancel_at_period_end,
            cancel_at=period_end if cancel_at_period_end else None,
            canceled_at=store.now() if cancel_at_period_end else None,
        )
        subscription["cancellation_details"]["reason"] = (
            "cancellation_requested" if cancel_at_period_end else None
        )
    if default_method is not None:
        subscription["default_payment_method"] = default_method
    if clear_metadata:
        subscription["metadata"] = {}
    for key, value in metadata.items():
        if value == "":
            subscription["metadata"].pop(key, None)
        else:
            subscription["metadata"][key] = value
    previous = _changes(before, subscription)
    if previous:
        store.emit("customer.subscription.updated", subscription, previous)
    return subscription


def cancel_subscription(store: Store, subscription_id: str) -> Obj:
    subscription = store.get("subscription", subscription_id, param="subscription_exposed_id")
    if subscription["status"] == "canceled":
        raise StripeError(
            f"Subscription {subscription_id} is already canceled.",
            param="subscription_exposed_id",
        )
    now = store.now()
    subscription.update(status="canceled", canceled_at=now, ended_at=now)
    subscription["cancellation_details"]["reason"] = "cancellation_requested"
    store.emit("customer.subscription.deleted", subscription)
    return subscription
