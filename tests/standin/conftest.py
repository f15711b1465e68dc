"""A running stand-in, a Stripe client pointed at it, and a webhook receiver."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from conservancy.standin import StandIn
from tests.standin.receiver import Receiver

SECRET = "whsec_test_standin"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def standin(receiver: Receiver) -> Iterator[StandIn]:
    with StandIn(webhook_url=receiver.url, webhook_secret=SECRET) as running:
        yield running


@pytest.fixture
def stripe_client(standin: StandIn) -> stripe.StripeClient:
    # No retries: a refused request must fail once, visibly.
    return stripe.StripeClient(
        "sk_test_standin", base_addresses={"api": standin.url}, max_network_retries=0
    )
