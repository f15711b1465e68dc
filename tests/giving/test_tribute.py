"""Tribute gifts: the dedication on the receipt, and a card to the person it honours."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Donation
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import GOOD_CARD, control, post, settle_webhooks
from tests.giving.test_donate_form import donate


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


@pytest.fixture
def client(rt: Runtime, giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


CARD = {
    "dedication": "In memory of Alan Turing",
    "honoree_name": "Sara Turing",
    "honoree_email": "Sara@example.org",
}


def _pay(answer: Any, standin: StandIn) -> None:
    assert answer.status_code == 303, answer.text
    session_id = answer.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    assert post(f"{standin.url}/_standin/checkout/{session_id}/pay", card_number=GOOD_CARD) == 303


def _cards(rt: Runtime) -> list[MailMessage]:
    with rt.sessions() as session:
        return list(
            session.scalars(select(MailMessage).where(MailMessage.key.like("tribute-card-%")))
        )


def test_the_honoree_gets_one_card_naming_the_donor_and_the_dedication_not_the_amount(
    rt: Runtime, client: FlaskClient, standin: StandIn, live: LiveServer
) -> None:
    answer = donate(client, amount="other", other_amount="17.50", frequency="monthly", **CARD)
    assert _cards(rt) == []  # nothing until the money is in
    _pay(answer, standin)
    settle_webhooks(rt, standin)

    [card] = _cards(rt)
    assert card.to_address == "sara@example.org"
    assert card.subject == "A gift to Twisted, dedicated to you"
    body = " ".join(card.body.split())
    assert body.startswith("Dear Sara Turing,")
    assert "Ada Lovelace has made a gift to Twisted with this dedication: In memory of Alan" in body
    assert "17.50" not in body
    assert "$" not in body

    with rt.sessions() as session:
        donation = session.scalars(select(Donation)).one()
        subscription = donation.stripe_subscription_id
    control(standin, f"subscriptions/{subscription}/renew")
    settle_webhooks(rt, standin)
    assert len(_cards(rt)) == 1  # a monthly gift sends one card, not one a month


def test_no_card_is_sent_unless_the_donor_asks(
    rt: Runtime, client: FlaskClient, standin: StandIn, live: LiveServer
) -> None:
    _pay(donate(client, dedication="For my mother"), standin)
    settle_webhooks(rt, standin)
    assert _cards(rt) == []
