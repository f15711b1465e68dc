"""Money moving through the stand-in: charges and their fees, refunds,
disputes and payouts. Each writes balance transactions the way Stripe does,
so that the account's balance is always the sum of their ``net``.

Fees are Stripe's standard US schedule, in integer minor units:

- card: 2.9% + 30 cents per successful charge, the percentage rounded half-up
  (25.00 -> 72.5 -> 73 cents, + 30 = 1.03); 1% more when the charge is in another
  currency than the balance (USD) and is converted, 1.5% more for a card issued
  outside the US, all of the settled dollars (100.00 EUR settled as 108.34 USD
  on a US card: 3.9% of 108.34 = 4.23, + 30 = 4.53);
- US bank account (ACH Direct Debit): 0.8%, rounded half-up, capped at 5.00;
- dispute: 15.00 when the dispute opens, given back if it is won.

A dispute is for at most the charge's amount, and may be for all of it after a
partial refund (the card network sees the original charge): Stripe withdraws the
whole disputed amount, so the refunded part goes back a second time. Won, all of
it is reinstated; lost, only the part that was refunded already, and the dispute
is still ``lost`` (Stripe's support article "Dispute for full charge amount after a
partial refund was issued"). A charge refunded in full cannot be disputed (Stripe's
"Dispute fees FAQ").

Refunds cost nothing and give no fee back. Money in another currency is
converted at the store's rates (see :mod:`conservancy.standin.exchange`): a
refund or a dispute at the rate of its own day.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from decimal import Decimal

from conservancy.standin import exchange, objects
from conservancy.standin.errors import CardDeclined, ParameterError, StripeError
from conservancy.standin.objects import Obj
from conservancy.standin.state import Store

DISPUTE_FEE = 1500


def card_fee(amount: int, *, converted: bool = False, international: bool = False) -> int:
    """The fee on a card charge that settled as ``amount`` US cents."""
    tenths = 29 + (10 if converted else 0) + (15 if international else 0)
    return _percent_half_up(amount, tenths) + 30


def bank_fee(amount: int) -> int:
    return min(_percent_half_up(amount, 8), 500)


def _percent_half_up(amount: int, tenths_of_percent: int) -> int:
    return (amount * tenths_of_percent + 500) // 1000


@dataclass(frozen=True)
class Card:
    brand: str
    funding: str = "credit"
    decline: tuple[str, str] | None = None  # (decline code, message shown to the payer)
    country: str = "US"  # where the card was issued: outside the US costs 1.5% more


# Stripe's test card numbers that the stand-in knows.
CARDS = {
    "4242424242424242": Card("visa"),
    "4000056655665556": Card("visa", funding="debit"),
    "5555555555554444": Card("mastercard"),
    "378282246310005": Card("amex"),
    "4000002500000003": Card("visa", country="FR"),
    "4000008260000000": Card("visa", country="GB"),
    "4000001240000000": Card("visa", country="CA"),
    "4000000000000002": Card("visa", decline=("generic_decline", "Your card was declined.")),
    "4000000000009995": Card(
        "visa", decline=("insufficient_funds", "Your card has insufficient funds.")
    ),
}

# Stripe's test US bank account numbers: the debit settles a little later,
# successfully or not.
BANK_ACCOUNTS = {
    "000123456789": None,
    "000111111116": ("account_closed", "The customer's bank account has been closed."),
}


@dataclass(frozen=True)
class Method:
    """How a payer pays: a saved payment method id and its details on a charge."""

    id: str
    details: Obj
    decline: tuple[str, str] | None = None

    @property
    def is_card(self) -> bool:
        return bool(self.details["type"] == "card")


def card_method(store: Store, number: str) -> Method:
    """The payment method for one of Stripe's test card numbers (spaces allowed)."""
    digits = "".join(number.split())
    card = CARDS.get(digits)
    if card is None:
        raise StripeError(
            "Your card number is incorrect.",
            status=402,
            type_="card_error",
            code="incorrect_number",
            param="card_number",
        )
    method = Method(
        id=objects.new_id("pm_"),
        details=objects.card_details(card.brand, digits[-4:], card.funding, card.country),
        decline=card.decline,
    )
    store.payment_methods[method.id] = method.details
    return method


def bank_method(store: Store, account_number: str) -> Method:
    digits = "".join(account_number.split())
    if digits not in BANK_ACCOUNTS:
        raise StripeError(
            "Your bank account number is incorrect; use a Stripe test account number.",
            status=402,
            type_="invalid_request_error",
            code="payment_method_invalid_parameter",
            param="account_number",
        )
    method = Method(
        id=objects.new_id("pm_"),
        details=objects.bank_details(digits[-4:]),
        decline=BANK_ACCOUNTS[digits],
    )
    store.payment_methods[method.id] = method.details
    return method


def saved_method(store: Store, payment_method: str) -> Method:
    return Method(id=payment_method, details=store.payment_methods[payment_method])


def start_payment(
    store: Store,
    *,
    amount: int,
    currency: str,
    customer: Obj,
    method: Method,
    metadata: dict[str, str],
    description: str | None,
) -> tuple[Obj, Obj]:
    """A payment intent and its charge, not yet settled."""
    now = store.now()
    intent = store.add(
        objects.payment_intent(
            now=now,
            amount=amount,
            currency=currency,
            customer=customer["id"],
            metadata=dict(metadata),
            description=description,
            payment_method=method.id,
            method_type=method.details["type"],
            receipt_email=customer["email"],
        )
    )
    charge = store.add(
        objects.charge(
            now=now,
            base_url=store.base_url,
            amount=amount,
            currency=currency,
            customer=customer["id"],
            payment_intent=intent["id"],
            payment_method=method.id,
            method_details=method.details,
            metadata=dict(metadata),
            description=description,
            email=customer["email"],
        )
    )
    intent["latest_charge"] = charge["id"]
    return intent, charge


def settle(store: Store, intent: Obj, charge: Obj) -> Obj:
    """The charge succeeds: its balance transaction carries the real fee, in US dollars."""
    details = charge["payment_method_details"]
    card = details["type"] == "card"
    settled, rate = exchange.settlement(store.exchange_rates, charge["amount"], charge["currency"])
    if card:
        abroad = details["card"]["country"] != "US"
        fee = card_fee(settled, converted=rate is not None, international=abroad)
    else:
        fee = bank_fee(settled)
    txn = store.add(
        objects.balance_transaction(
            now=store.now(),
            amount=settled,
            fee=fee,
            fee_description="Stripe processing fees",
            currency=exchange.SETTLEMENT_CURRENCY,
            type_="charge" if card else "payment",
            reporting_category="charge",
            source=charge["id"],
            description=charge["description"],
            exchange_rate=rate,
        )
    )
    charge.update(
        status="succeeded",
        paid=True,
        captured=True,
        amount_captured=charge["amount"],
        balance_transaction=txn["id"],
        outcome=objects.outcome(paid=True),
    )
    intent.update(status="succeeded", amount_received=charge["amount"], processing=None)
    return txn


def fail(intent: Obj, charge: Obj, decline: tuple[str, str]) -> None:
    code, message = decline
    card = charge["payment_method_details"]["type"] == "card"
    charge.update(
        status="failed",
        paid=False,
        failure_code="card_declined" if card else code,
        failure_message=message,
        outcome=objects.outcome(paid=False, reason=code),
    )
    intent.update(
        status="requires_payment_method",
        processing=None,
        last_payment_error={
            "charge": charge["id"],
            "code": "card_declined" if card else code,
            "decline_code": code if card else None,
            "doc_url": "https://docs.stripe.com/error-codes/card-declined",
            "message": message,
            "payment_method": {"id": charge["payment_method"], "object": "payment_method"},
            "type": "card_error" if card else "invalid_request_error",
        },
    )


def pay_now(store: Store, intent: Obj, charge: Obj, method: Method) -> None:
    """Settle a card payment at once, or decline it."""
    if method.decline is not None:
        fail(intent, charge, method.decline)
        store.emit("charge.failed", charge)
        store.emit("payment_intent.payment_failed", intent)
        raise CardDeclined(method.decline[1], method.decline[0])
    settle(store, intent, charge)
    store.emit("charge.succeeded", charge)
    store.emit("payment_intent.succeeded", intent)


# -- refunds ------------------------------------------------------------------


def _dollars(amount: int) -> str:
    sign, cents = ("-" if amount < 0 else ""), abs(amount)
    return f"{sign}${cents // 100:,}.{cents % 100:02d}"


def refund(
    store: Store,
    charge_id: str,
    amount: int | None,
    metadata: dict[str, str],
    reason: str | None,
) -> Obj:
    charge = store.get("charge", charge_id, param="charge")
    if charge["status"] != "succeeded":
        raise StripeError(
            f"Charge {charge_id} has not succeeded and cannot be refunded.",
            code="charge_not_refundable",
            param="charge",
        )
    dispute = next((d for d in store.all("dispute") if d["charge"] == charge_id), None)
    if dispute is not None and dispute["status"] != "won":
        raise StripeError(
            f"Charge {charge_id} has been charged back; cannot issue a refund.",
            code="charge_disputed",
            param="charge",
        )
    remaining = charge["amount"] - charge["amount_refunded"]
    if remaining == 0:
        raise StripeError(
            f"Charge {charge_id} has already been refunded.", code="charge_already_refunded"
        )
    amount = remaining if amount is None else amount
    if amount > remaining:
        raise StripeError(
            f"Refund amount ({_dollars(amount)}) is greater than unrefunded amount on "
            f"charge ({_dollars(remaining)})",
            code="amount_too_large",
            param="amount",
        )
    now = store.now()
    made = store.add(
        objects.refund(now=now, charge=charge, amount=amount, metadata=metadata, reason=reason)
    )
    settled, rate = exchange.settlement(store.exchange_rates, amount, charge["currency"])
    txn = store.add(
        objects.balance_transaction(
            now=now,
            amount=-settled,
            fee=0,
            fee_description="",
            currency=exchange.SETTLEMENT_CURRENCY,
            exchange_rate=rate,
            type_="refund",
            reporting_category="refund",
            source=made["id"],
            description=(
                f"REFUND FOR CHARGE ({charge['description']})"
                if charge["description"]
                else "REFUND FOR CHARGE"
            ),
        )
    )
    made["balance_transaction"] = txn["id"]
    charge["amount_refunded"] += amount
    charge["refunded"] = charge["amount_refunded"] == charge["amount"]
    refunds = [r for r in store.all("refund") if r["charge"] == charge_id][::-1]
    charge["refunds"].update(data=copy.deepcopy(refunds[:10]), has_more=len(refunds) > 10)
    store.emit("charge.refunded", charge)
    store.emit("refund.created", made)
    return made


def fail_refund(store: Store, refund_id: str) -> Obj:
    """The card's bank sends a refund back (a closed card, say): the money returns to the
    balance under a ``refund_failure`` balance transaction, and the refund is ``failed``."""
    made = store.get("refund", refund_id)
    if made["status"] not in ("succeeded", "pending"):
        raise StripeError(f"Refund {refund_id} is {made['status']} and cannot fail.")
    taken = store.get("balance_transaction", made["balance_transaction"])
    returned = store.add(
        objects.balance_transaction(
            now=store.now(),
            amount=-taken["amount"],
            fee=0,
            fee_description="",
            currency=taken["currency"],
            exchange_rate=(
                None if taken["exchange_rate"] is None else Decimal(str(taken["exchange_rate"]))
            ),
            type_="refund_failure",
            reporting_category="refund_failure",
            source=made["id"],
            description="REFUND FAILURE",
        )
    )
    made.update(
        status="failed",
        failure_balance_transaction=returned["id"],
        failure_reason="expired_or_canceled_card",
    )
    charge = store.get("charge", made["charge"])
    charge["amount_refunded"] -= made["amount"]
    charge["refunded"] = False
    refunds = [r for r in store.all("refund") if r["charge"] == charge["id"]][::-1]
    charge["refunds"].update(data=copy.deepcopy(refunds[:10]), has_more=len(refunds) > 10)
    store.emit("refund.updated", made)
    store.emit("refund.failed", made)
    return made


# -- disputes -----------------------------------------------------------------


def open_dispute(store: Store, charge_id: str, amount: int | None, reason: str) -> Obj:
    charge = store.get("charge", charge_id)
    if charge["status"] != "succeeded":
        raise StripeError(f"Charge {charge_id} did not succeed; it cannot be disputed.")
    if charge["disputed"]:
        raise StripeError(f"Charge {charge_id} is already disputed.", status=409)
    if charge["refunded"]:
        raise StripeError(f"Charge {charge_id} was refunded in full; it cannot be disputed.")
    amount = charge["amount"] if amount is None else amount
    if not 0 < amount <= charge["amount"]:
        raise ParameterError(
            f"A dispute is for between 1 and {charge['amount']}; {amount} given.", param="amount"
        )
    dispute = store.add(
        objects.dispute(now=store.now(), charge=charge, amount=amount, reason=reason)
    )
    settled, rate = exchange.settlement(store.exchange_rates, amount, charge["currency"])
    txn = store.add(
        objects.balance_transaction(
            now=store.now(),
            amount=-settled,
            fee=DISPUTE_FEE,
            fee_description="Dispute fee",
            currency=exchange.SETTLEMENT_CURRENCY,
            exchange_rate=rate,
            type_="adjustment",
            reporting_category="dispute",
            source=dispute["id"],
            description=f"Chargeback withdrawal for {charge_id}",
        )
    )
    dispute["balance_transactions"].append(copy.deepcopy(txn))
    charge["disputed"] = True
    store.emit("charge.dispute.created", dispute)
    store.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(store: Store, dispute_id: str, outcome: str) -> Obj:
    dispute = store.get("dispute", dispute_id)
    if dispute["status"] in ("won", "lost"):
        raise StripeError(f"Dispute {dispute_id} is already closed ({dispute['status']}).")
    if outcome == "won":
        _reinstate(store, dispute, dispute["amount"], fee=-DISPUTE_FEE)
        dispute.update(status="won", is_charge_refundable=True)
        store.emit("charge.dispute.funds_reinstated", dispute)
    else:
        # Lost: what the cardholder had back twice (refunded, then disputed) returns.
        charge = store.get("charge", dispute["charge"])
        unrefunded = charge["amount"] - charge["amount_refunded"]
        twice = min(max(dispute["amount"] - unrefunded, 0), dispute["amount"])
        dispute["status"] = "lost"
        if twice:
            _reinstate(store, dispute, twice, fee=0)
            store.emit("charge.dispute.funds_reinstated", dispute)
    store.emit("charge.dispute.closed", dispute)
    return dispute


def _reinstate(store: Store, dispute: Obj, amount: int, *, fee: int) -> None:
    """Give ``amount`` (in the charge's currency) of the dispute back to the balance, and
    ``-fee`` of the dispute fee."""
    settled, rate = exchange.settlement(store.exchange_rates, amount, dispute["currency"])
    txn = store.add(
        objects.balance_transaction(
            now=store.now(),
            amount=settled,
            fee=fee,
            fee_description="Dispute fee",
            currency=exchange.SETTLEMENT_CURRENCY,
            exchange_rate=rate,
            type_="adjustment",
            reporting_category="dispute_reversal",
            source=dispute["id"],
            description=f"Chargeback reversal for {dispute['charge']}",
        )
    )
    dispute["balance_transactions"].append(copy.deepcopy(txn))


# -- payouts ------------------------------------------------------------------


def pay_out(store: Store, currency: str, outcome: str) -> Obj:
    """Pay the whole available balance in one currency to the bank account."""
    due = [
        txn
        for txn in store.all("balance_transaction")
        if txn["currency"] == currency and txn["id"] not in store.paid_out_by
    ]
    total = sum(txn["net"] for txn in due)
    if total <= 0:
        raise StripeError(
            f"There is no available {currency.upper()} balance to pay out "
            f"(balance {_dollars(total)}).",
            code="balance_insufficient",
        )
    now = store.now()
    payout = store.add(objects.payout(now=now, amount=total, currency=currency))
    txn = store.add(
        objects.balance_transaction(
            now=now,
            amount=-total,
            fee=0,
            fee_description="",
            currency=currency,
            type_="payout",
            reporting_category="payout",
            source=payout["id"],
            description="STRIPE PAYOUT",
        )
    )
    payout["balance_transaction"] = txn["id"]
    for included in [*due, txn]:
        store.paid_out_by[included["id"]] = payout["id"]
    store.emit("payout.created", payout)
    if outcome == "failed":
        returned = store.add(
            objects.balance_transaction(
                now=now,
                amount=total,
                fee=0,
                fee_description="",
                currency=currency,
                type_="payout_failure",
                reporting_category="payout_reversal",
                source=payout["id"],
                description="Payout failure",
            )
        )
        payout.update(
            status="failed",
            failure_balance_transaction=returned["id"],
            failure_code="account_closed",
            failure_message="The bank account has been closed.",
        )
        store.emit("payout.failed", payout)
    else:
        payout["status"] = "paid"
        store.emit("payout.paid", payout)
    return payout


def payout_transactions(store: Store, payout_id: str) -> list[Obj]:
    """The balance transactions a payout settled, itself included, newest first."""
    store.get("payout", payout_id, param="payout")
    return [
        txn
        for txn in store.all("balance_transaction")[::-1]
        if store.paid_out_by.get(txn["id"]) == payout_id
    ]
