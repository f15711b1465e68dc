"""Payouts: the whole available balance, listed by the transactions it settled."""

from __future__ import annotations

import requests
import stripe

from conservancy.standin import StandIn
from tests.standin.flows import control, paid_charge
from tests.standin.receiver import Receiver


def test_payout_pays_the_net_of_charges_and_refunds_and_lists_what_it_settled(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    first = paid_charge(stripe_client, standin, 2500)  # net 2397
    paid_charge(stripe_client, standin, 1000)  # net 941
    stripe_client.v1.refunds.create({"charge": first.id, "amount": 500})
    answer = control(standin, "payouts")
    assert answer.status_code == 200
    payout = answer.json()
    assert (payout["status"], payout["amount"]) == ("paid", 2397 + 941 - 500)

    listed = stripe_client.v1.balance_transactions.list({"payout": payout["id"], "limit": 100})
    assert sorted(t.type for t in listed.data) == ["charge", "charge", "payout", "refund"]
    assert sum(t.net for t in listed.data) == 0
    own = stripe_client.v1.balance_transactions.retrieve(payout["balance_transaction"])
    assert (own.type, own.amount, own.fee, own.net) == ("payout", -2838, 0, -2838)
    assert standin.records()["balance"] == {"usd": 0}

    assert standin.wait_for_webhooks(5)
    payout_events = [e for e in receiver.events() if e["type"].startswith("payout.")]
    assert [(e["type"], e["data"]["object"]["status"]) for e in payout_events] == [
        ("payout.created", "in_transit"),
        ("payout.paid", "paid"),
    ]


def test_second_payout_takes_only_what_came_in_since(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    paid_charge(stripe_client, standin, 2500)
    control(standin, "payouts")
    paid_charge(stripe_client, standin, 1000)
    second = control(standin, "payouts").json()
    assert second["amount"] == 941
    listed = stripe_client.v1.balance_transactions.list({"payout": second["id"]})
    assert [t.type for t in listed.data] == ["payout", "charge"]


def test_nothing_to_pay_out_is_refused(standin: StandIn) -> None:
    answer = control(standin, "payouts")
    assert answer.status_code == 400
    assert "no available" in answer.json()["error"]["message"]
    assert standin.records()["payouts"] == []


def test_failed_payout_returns_the_money_to_the_balance(
    stripe_client: stripe.StripeClient, standin: StandIn, receiver: Receiver
) -> None:
    paid_charge(stripe_client, standin, 2500)
    failed = control(standin, "payouts", outcome="failed").json()
    assert failed["status"] == "failed"
    assert standin.records()["balance"] == {"usd": 2397}
    assert control(standin, "payouts").json()["amount"] == 2397
    assert standin.wait_for_webhooks(5)
    assert "payout.failed" in receiver.types()


def test_state_address_shows_the_same_ledger_as_records(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    paid_charge(stripe_client, standin)
    state = requests.get(f"{standin.url}/_standin/state", timeout=10)
    assert state.status_code == 200
    assert state.json() == standin.records()
    assert set(state.json()) >= {
        "charges",
        "refunds",
        "disputes",
        "payouts",
        "balance_transactions",
    }


def test_balance_is_what_the_balance_transactions_add_up_to(
    stripe_client: stripe.StripeClient, standin: StandIn
) -> None:
    assert [(b.currency, b.amount) for b in stripe_client.v1.balance.retrieve().available] == [
        ("usd", 0)
    ]
    first = paid_charge(stripe_client, standin, 2500)  # net 2397
    paid_charge(stripe_client, standin, 1000)  # net 941
    stripe_client.v1.refunds.create({"charge": first.id, "amount": 500})
    balance = stripe_client.v1.balance.retrieve()
    held = sum(b.amount for b in [*balance.available, *balance.pending] if b.currency == "usd")
    assert held == 2397 + 941 - 500 == standin.records()["balance"]["usd"]
    control(standin, "payouts")
    assert sum(b.amount for b in stripe_client.v1.balance.retrieve().available) == 0
