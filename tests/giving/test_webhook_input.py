"""What POST /stripe/webhook answers to each kind of input (SPEC sections 7 and 9).

Payloads are signed here with Stripe's scheme (``t=<unix>,v1=<HMAC-SHA256 of
"<t>.<payload>">``) and posted to the app's test client. Whatever is refused
gets a 400 and writes nothing: no ``stripe_events`` or ``stripe_inbox`` row, no outbox
row, not a byte of the books. What is accepted is only stored and answered; the books
change when the settler has settled it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import stripe
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.donations.models import DonationStatus, Gift
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.payments.models import StripeEvent, StripeInbox
from conservancy.payments.stripe_gateway import SIGNATURE_TOLERANCE
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import WEBHOOK_SECRET
from tests.giving.flows import (
    books_digest,
    donation,
    give,
    ledger_refs,
    outbox_refs,
    raw_events,
    signature,
)

URL = "/stripe/webhook"


@dataclass(frozen=True)
class Written:
    """Everything a webhook could write, to compare before and after."""

    events: int
    inbox: int
    outbox: int
    books: str  # a digest of every .beancount file (the snapshot cache is not the books)


def written(rt: Runtime) -> Written:
    with rt.sessions() as session:
        events = session.scalar(select(func.count()).select_from(StripeEvent)) or 0
        inbox = session.scalar(select(func.count()).select_from(StripeInbox)) or 0
        outbox = session.scalar(select(func.count()).select_from(LedgerOutbox)) or 0
    return Written(events, inbox, outbox, books_digest(rt))


def deliver(client: FlaskClient, payload: bytes, header: str | None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json"}
    if header is not None:
        headers["Stripe-Signature"] = header
    response = client.post(URL, data=payload, headers=headers)
    body: dict[str, Any] = response.get_json(silent=True) or {}
    return response.status_code, body


def event_payload(
    *, type_: str = "customer.created", livemode: bool = False, id_: str = "evt_input_1"
) -> bytes:
    event = {
        "id": id_,
        "object": "event",
        "api_version": "2025-09-30.clover",
        "created": int(time.time()),
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": type_,
        "data": {"object": {"id": "cus_input", "object": "customer", "livemode": livemode}},
    }
    return json.dumps(event).encode()


@pytest.fixture
def client(giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


REFUSED: list[tuple[str, bytes, Any]] = [
    ("bad signature", event_payload(), lambda p: signature(p, secret="whsec_someone_else")),
    ("missing signature", event_payload(), lambda p: None),
    ("empty signature", event_payload(), lambda p: ""),
    ("signature header not Stripe's", event_payload(), lambda p: "sha256=0123abcd"),
    ("signature of another body", event_payload(), lambda p: signature(p + b" ")),
    ("unparsable JSON, correctly signed", b'{"id": "evt_1", "type": ', signature),
    ("not UTF-8, correctly signed", b'{"id": "\xff\xfe"}', signature),
    ("JSON that is not an event, correctly signed", b'{"hello": "world"}', signature),
    ("a JSON list, correctly signed", b'[{"id": "evt_1"}]', signature),
    (
        "an event without its object, correctly signed",
        json.dumps({"id": "evt_2", "type": "customer.created", "livemode": False}).encode(),
        signature,
    ),
    ("a live event signed with our secret", event_payload(livemode=True), signature),
    (
        "a signature older than five minutes",
        event_payload(),
        lambda p: signature(p, at=int(time.time()) - SIGNATURE_TOLERANCE - 60),
    ),
    (
        "a signature dated more than five minutes ahead",
        event_payload(),
        lambda p: signature(p, at=int(time.time()) + SIGNATURE_TOLERANCE + 60),
    ),
]


@pytest.mark.parametrize(
    ("payload", "sign"), [(p, s) for _, p, s in REFUSED], ids=[name for name, _, _ in REFUSED]
)
def test_webhook_that_cannot_be_accepted_gets_400_and_writes_nothing(
    rt: Runtime, client: FlaskClient, payload: bytes, sign: Any
) -> None:
    before = written(rt)
    status, body = deliver(client, payload, sign(payload))
    assert status == 400
    assert body["error"]
    assert written(rt) == before


def test_signature_is_checked_as_stripe_signs_it(rt: Runtime, client: FlaskClient) -> None:
    """Our signer agrees with Stripe's library, and the app accepts what either signs."""
    payload = event_payload(type_="customer.created", id_="evt_signed_by_library")
    at = int(time.time())
    ours = signature(payload, at=at)
    expected = stripe.WebhookSignature._compute_signature(
        f"{at}.{payload.decode()}", WEBHOOK_SECRET
    )
    assert ours == f"t={at},v1={expected}"
    # Stripe may send several v1 signatures (during a secret's rollover): one good one is enough.
    rolled = f"t={at},v1={'0' * 64},v1={expected}"
    assert deliver(client, payload, rolled) == (200, {"status": "ignored"})


def test_a_signature_is_as_old_as_the_apps_clock_says_not_the_machines(
    rt: Runtime, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The app's "now" is conservancy.kernel.clock's (a test site's is moved a year back, and so is
    its Stripe stand-in's): a signature is fresh or stale by that clock."""
    then = datetime.now(UTC) - timedelta(days=400)
    monkeypatch.setattr(clock, "now", lambda: then)
    at = int(then.timestamp())
    fresh = event_payload(type_="customer.created", id_="evt_signed_by_the_apps_clock")
    stale = event_payload(type_="customer.created", id_="evt_stale_by_the_apps_clock")

    assert deliver(client, fresh, signature(fresh, at=at)) == (200, {"status": "ignored"})
    status, _ = deliver(client, stale, signature(stale, at=at - SIGNATURE_TOLERANCE - 60))
    assert status == 400


def test_replayed_event_is_answered_200_and_books_nothing_twice(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    # The stand-in has no webhook address here: this test delivers its events itself.
    donation_id = give(rt, standin, "100.00")
    before = written(rt)
    completed = next(e for e in raw_events(standin) if e["type"] == "checkout.session.completed")
    payload = json.dumps(completed, indent=2).encode()

    assert deliver(client, payload, signature(payload)) == (200, {"status": "received"})
    # Stored, not yet acted on: the settler does that, after the answer.
    assert donation(rt, donation_id).status is DonationStatus.PENDING
    assert written(rt).inbox == before.inbox + 1
    assert rt.settler.wait_idle()
    assert donation(rt, donation_id).status is DonationStatus.PAID
    after_first = written(rt)
    assert after_first.inbox == before.inbox
    refs = ledger_refs(rt)
    assert after_first.events == before.events + 1
    assert after_first.outbox == before.outbox + 2  # the gift and its sponsorship fee
    assert sorted(refs) == sorted(outbox_refs(rt))

    # The same payload, later, with a fresh signature: Stripe's retry, or an attacker's replay.
    replay_at = int(time.time()) + 1
    assert deliver(client, payload, signature(payload, at=replay_at)) == (
        200,
        {"status": "duplicate"},
    )
    # Stripe's own reformatting of the same event (another JSON layout) is the same event.
    compact = json.dumps(completed, separators=(",", ":")).encode()
    assert deliver(client, compact, signature(compact)) == (200, {"status": "duplicate"})

    assert written(rt) == after_first
    assert ledger_refs(rt) == refs
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Gift)) == 1


def test_unknown_event_type_is_acknowledged_ignored_and_recorded_once(
    rt: Runtime, client: FlaskClient
) -> None:
    payload = event_payload(type_="customer.tax_id.created", id_="evt_unknown_type")
    before = written(rt)

    assert deliver(client, payload, signature(payload)) == (200, {"status": "ignored"})
    assert deliver(client, payload, signature(payload)) == (200, {"status": "duplicate"})

    after = written(rt)
    assert after.events == before.events + 1
    assert (after.outbox, after.books) == (before.outbox, before.books)
    with rt.sessions() as session:
        row = session.get(StripeEvent, "evt_unknown_type")
        assert row is not None
        assert row.type == "customer.tax_id.created"
