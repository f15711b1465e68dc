"""A stand-in with a state file goes on, when started again, where the last one stopped:
charges it took can be refunded and subscriptions it made can be changed, as at Stripe."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import stripe
from click.testing import CliRunner

from conservancy.cli.stripe import stripe as stripe_commands
from conservancy.money import Currency, Money
from conservancy.payments.gateway import LineItem
from conservancy.payments.stripe_gateway import StripeGateway
from conservancy.standin import StandIn
from tests.standin.flows import paid_charge, subscribed
from tests.standin.receiver import Receiver

KEY = "sk_test_standin"


def client_for(standin: StandIn) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": standin.url}, max_network_retries=0)


def gateway_for(standin: StandIn) -> StripeGateway:
    """The application's own gateway: the calls the admin pages and the portal make."""
    return StripeGateway(KEY, "whsec_state", standin.url)


def usd(text: str) -> Money:
    return Money(Decimal(text), Currency.USD)


def test_a_stand_in_started_again_on_its_file_refunds_and_changes_what_the_last_one_made(
    tmp_path: Path,
) -> None:
    state = tmp_path / "stripe-standin.json"
    with StandIn(state_file=state) as first:
        client = client_for(first)
        charge = paid_charge(client, first, 2500)
        subscription = subscribed(client, first)
        early = gateway_for(first).create_refund(charge.id, usd("5.00"), "donation-1-refund-1", "")
        balance_before = first.records()["balance"]
        events_before = [event["id"] for event in first.store.events()]

    with Receiver() as receiver, StandIn(webhook_url=receiver.url, state_file=state) as second:
        gateway = gateway_for(second)
        # The same request sent again after the restart is answered as before, not made twice.
        assert gateway.create_refund(charge.id, usd("5.00"), "donation-1-refund-1", "").id == (
            early.id
        )
        refund = gateway.create_refund(charge.id, usd("15.00"), "donation-1-refund-2", "asked")
        assert (refund.status, refund.amount) == ("succeeded", usd("15.00"))
        assert [r.amount for r in gateway.refunds_of_charge(charge.id)] == [
            usd("15.00"),
            usd("5.00"),
        ]
        gateway.update_subscription_amount(
            subscription.id, LineItem("Gift to Twisted", usd("25.00")), "month", "donation-2-amount"
        )
        changed = client_for(second).v1.subscriptions.retrieve(subscription.id)
        assert changed["items"].data[0].price.unit_amount == 2500
        assert second.records()["balance"] == {"usd": balance_before["usd"] - 1500}
        listed = [e.id for e in gateway.events_since(datetime(2000, 1, 1, tzinfo=UTC))]
        assert listed[: len(events_before)] == events_before[::-1]  # oldest first, all kept
        assert second.wait_for_webhooks(10)
        assert "charge.refunded" in receiver.types()  # the new refund's events go out

    with StandIn(state_file=state) as third:  # and the new refund is kept in its turn
        assert third.records()["balance"] == {"usd": balance_before["usd"] - 1500}


def test_the_state_file_keeps_amounts_as_stripes_integers_and_rates_as_text(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state.json"
    with StandIn(state_file=state) as running:
        charge = paid_charge(client_for(running), running, 2500)
        requests.post(f"{running.url}/_standin/exchange_rates", data={"eur": "1.1"}, timeout=10)

    saved = json.loads(state.read_text())
    [kept] = [obj for obj in saved["objects"] if obj["id"] == charge.id]
    assert kept["amount"] == 2500
    assert isinstance(kept["amount"], int)
    assert saved["exchange_rates"]["eur"] == "1.1"
    assert not list(tmp_path.glob(".*.tmp"))  # written whole, then renamed


def test_a_stand_in_without_a_state_file_forgets_everything(tmp_path: Path) -> None:
    with StandIn() as first:
        charge = paid_charge(client_for(first), first, 2500)
    with StandIn() as second, pytest.raises(stripe.InvalidRequestError, match="No such charge"):
        client_for(second).v1.charges.retrieve(charge.id)
    assert list(tmp_path.iterdir()) == []


def test_a_damaged_state_file_is_a_one_line_error(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"version": 1, "objects": [')

    result = CliRunner().invoke(stripe_commands, ["stand-in", "--port", "0", "--state", str(state)])

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert f"the stand-in's state: {state}: not JSON" in result.output


def test_help_names_the_state_option() -> None:
    result = CliRunner().invoke(stripe_commands, ["stand-in", "--help"])
    assert "--state FILE" in result.output
