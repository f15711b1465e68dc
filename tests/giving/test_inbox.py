"""The webhook only acknowledges; a settler does the rest (issue 19, payments.inbox).

Stripe waits on the webhook's answer and retries what is slow, and each of its API
reads takes about a quarter of a second: so the webhook verifies, stores the event and
answers, asking Stripe nothing. These tests deliver real events from the stand-in to
the app's test client and check what each side did: what the request wrote and asked,
and what the settler wrote and asked after.
"""

from __future__ import annotations

import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select, update

from conservancy.background.sweep import sweep
from conservancy.donations.models import DonationStatus, Gift
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.payments import inbox
from conservancy.payments.gateway import Event
from conservancy.payments.models import StripeEvent, StripeInbox
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.admin.pages import signed_in
from tests.cli import invoke
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    donation,
    give,
    ledger_refs,
    raw_events,
    signature,
    stripe_env,
)

URL = "/stripe/webhook"


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


@pytest.fixture
def client(giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


def deliver(client: FlaskClient, event: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    payload = json.dumps(event, indent=2).encode()
    response = client.post(
        URL,
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature(payload)},
    )
    return response.status_code, response.get_json(silent=True) or {}


def completed_event(standin: StandIn) -> dict[str, Any]:
    return next(e for e in raw_events(standin) if e["type"] == "checkout.session.completed")


def waiting(rt: Runtime) -> list[StripeInbox]:
    with rt.sessions() as session:
        return list(session.scalars(select(StripeInbox).order_by(StripeInbox.id)))


def counts(rt: Runtime) -> tuple[int, int, int]:
    """Stripe events done, ledger entries recorded, gifts."""
    with rt.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(StripeEvent)) or 0,
            session.scalar(select(func.count()).select_from(LedgerOutbox)) or 0,
            session.scalar(select(func.count()).select_from(Gift)) or 0,
        )


def test_the_webhook_asks_stripe_nothing_and_the_settler_books_the_gift(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    donation_id = give(rt, standin, "100.00", name="Ada Lovelace")
    event = completed_event(standin)
    asked_before = standin.api_calls()
    done_before = counts(rt)

    assert deliver(client, event) == (200, {"status": "received"})

    # The request asked Stripe nothing and wrote only the inbox row.
    assert standin.api_calls() == asked_before
    assert counts(rt) == done_before
    assert [row.id for row in waiting(rt)] == [event["id"]]
    assert donation(rt, donation_id).status is DonationStatus.PENDING

    assert rt.settler.wait_idle()

    # The settler asked Stripe for the session and its charge, once each, and booked.
    asked = standin.api_calls() - asked_before
    session_id = event["data"]["object"]["id"]
    assert asked[f"GET /v1/checkout/sessions/{session_id}"] == 1
    assert sum(asked.values()) <= 3, asked
    assert waiting(rt) == []
    assert donation(rt, donation_id).status is DonationStatus.PAID
    events, entries, gifts = counts(rt)
    assert (events, gifts) == (done_before[0] + 1, done_before[2] + 1)
    assert entries == done_before[1] + 2  # the gift and its sponsorship fee
    # The settler posted the batch: the entries are in the books without another post.
    assert len(ledger_refs(rt)) == entries


def test_a_second_delivery_stores_nothing_before_or_after_settling(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    give(rt, standin, "20.00")
    event = completed_event(standin)

    assert deliver(client, event) == (200, {"status": "received"})
    assert deliver(client, event) == (200, {"status": "duplicate"})
    assert len(waiting(rt)) == 1
    assert rt.settler.wait_idle()
    before = counts(rt)
    assert deliver(client, event) == (200, {"status": "duplicate"})
    assert waiting(rt) == []
    assert rt.settler.wait_idle()
    assert counts(rt) == before


def test_a_delivery_racing_the_settling_of_its_event_is_a_duplicate(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    """Stripe's retry arrives while a settler commits the first delivery: it must not put
    the event back in the inbox (answered "received" a second time)."""
    give(rt, standin, "15.00")
    event = completed_event(standin)
    assert deliver(client, event)[1] == {"status": "received"}
    [claimed] = inbox.claim(rt.sessions)

    # A settler's transaction, up to its commit: the event done, its inbox row deleted.
    settling = rt.sessions()
    now = clock.now()
    settling.add(
        StripeEvent(
            id=claimed.event.id,
            type=claimed.event.type,
            created_at=claimed.event.created_at,
            received_at=claimed.received_at,
            settled_at=now,
        )
    )
    settling.execute(delete(StripeInbox).where(StripeInbox.id == claimed.event.id))
    settling.flush()
    answers: list[tuple[int, dict[str, Any]]] = []
    retry = threading.Thread(target=lambda: answers.append(deliver(client, event)))
    retry.start()
    retry.join(0.5)  # it waits on the settling transaction (PostgreSQL's row, SQLite's lock)
    settling.commit()
    settling.close()
    retry.join(30)

    assert answers == [(200, {"status": "duplicate"})]
    assert waiting(rt) == []


def test_an_event_that_fails_to_settle_waits_and_is_settled_when_stripe_answers_again(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    donation_id = give(rt, standin, "50.00")
    event = completed_event(standin)
    control(standin, "faults", status="503")  # Stripe down: every read fails

    assert deliver(client, event) == (200, {"status": "received"})
    assert rt.settler.wait_idle()

    [row] = waiting(rt)
    assert row.attempts == 1
    assert row.claimed_by is not None
    assert row.claimed_by.endswith(f":{os.getpid()}")  # this process's settler tried it
    assert row.last_error is not None
    assert "could not reach Stripe" in row.last_error
    assert clock.as_utc(row.due_at) > clock.now()  # not tried again at once
    assert donation(rt, donation_id).status is DonationStatus.PENDING
    assert rt.settle().claimed == 0  # not due yet

    control(standin, "faults", status="0")
    with rt.sessions() as session:
        session.execute(update(StripeInbox).values(due_at=clock.now()))
        session.commit()
    assert rt.settle_all().settled == 1
    assert waiting(rt) == []
    assert donation(rt, donation_id).status is DonationStatus.PAID


def test_settlers_side_by_side_claim_each_event_once_and_a_dead_ones_after_its_lease(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    for amount in ("10.00", "11.00", "12.00", "13.00"):
        give(rt, standin, amount)
    stored = [e for e in raw_events(standin) if e["type"] == "checkout.session.completed"]
    for event in stored:
        assert deliver(client, event)[1] == {"status": "received"}

    start = threading.Barrier(4)

    def claim() -> list[str]:
        start.wait()
        return [c.event.id for c in inbox.claim(rt.sessions, limit=2)]

    with ThreadPoolExecutor(4) as pool:
        claimed = list(pool.map(lambda _: claim(), range(4)))
    every = [event_id for batch in claimed for event_id in batch]
    assert sorted(every) == sorted(e["id"] for e in stored)  # each once, none left
    assert inbox.claim(rt.sessions) == []

    # Those settlers died. Their claims end with the lease, and the next settler takes all.
    later = clock.now() + inbox.LEASE + timedelta(seconds=1)
    again = inbox.claim(rt.sessions, now=later)
    assert sorted(c.event.id for c in again) == sorted(every)
    assert {c.attempts for c in again} == {2}


def test_the_events_of_one_donation_settle_in_order_in_one_task() -> None:
    def claimed(event_id: str, key: str, created: int) -> inbox.Claimed:
        at = clock.now() + timedelta(seconds=created)
        event = Event(event_id, "invoice.paid", False, at, {})
        return inbox.Claimed(event, key, clock.now(), 1)

    batch = [
        claimed("evt_c", "subscription:sub_1", 3),
        claimed("evt_x", "charge:ch_9", 1),
        claimed("evt_a", "subscription:sub_1", 1),
        claimed("evt_b", "subscription:sub_1", 2),
    ]
    groups = inbox._groups(batch)
    assert [[c.event.id for c in group] for group in groups] == [
        ["evt_a", "evt_b", "evt_c"],
        ["evt_x"],
    ]


def test_the_sweep_and_stripe_sync_settle_what_a_stopped_settler_left(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    """A settler that never ran (the process stopped after answering): the events wait in
    the inbox, and the sweep or ``stripe sync`` settles them."""
    first = give(rt, standin, "30.00")
    assert deliver(client, completed_event(standin))[1] == {"status": "received"}
    rt.settler.finish()  # the kick is dropped, as a process that stopped drops it

    assert sweep(rt).settled.settled == 0  # younger than a minute: its own settler's
    result = sweep(rt, lost_after=timedelta(0))
    assert result.settled.settled == 1
    assert result.summary().startswith("settled 1 Stripe event, posted")
    assert donation(rt, first).status is DonationStatus.PAID
    assert waiting(rt) == []

    second = give(rt, standin, "31.00")
    [event] = [
        e
        for e in raw_events(standin)
        if e["type"] == "checkout.session.completed"
        and e["data"]["object"]["metadata"]["donation_id"] == str(second)
    ]
    assert deliver(client, event)[1] == {"status": "received"}
    rt.settler.finish()

    synced = invoke(stripe_env(rt.settings, standin), "stripe", "sync")
    assert synced.returncode == 0, synced.stderr
    # The stored event settled first, then found done in Stripe's list with the first.
    assert synced.stdout.startswith("1 events processed, 2 already done, "), synced.stdout
    assert donation(rt, second).status is DonationStatus.PAID
    assert waiting(rt) == []


def test_the_ledger_health_page_shows_the_events_waiting(
    rt: Runtime, standin: StandIn, client: FlaskClient, giving_app: Flask
) -> None:
    give(rt, standin, "40.00")
    assert deliver(client, completed_event(standin))[1] == {"status": "received"}
    with rt.sessions() as session:
        session.execute(update(StripeInbox).values(received_at=clock.now() - timedelta(minutes=7)))
        session.commit()
    staff = signed_in(giving_app, rt, "bookkeeper")
    page = staff.get("/admin/ledger").get_data(as_text=True)
    assert "Waiting to be settled</dt><dd>1" in page
    assert "received 42" in page  # 420 s ago (421 if the second turned)
    assert "Events have waited more than five minutes" in page

    assert rt.settler.wait_idle()
    page = staff.get("/admin/ledger").get_data(as_text=True)
    assert "Waiting to be settled</dt><dd>0" in page
    assert "Settled lately</dt><dd>1 in the last 5 minutes (0.2 a minute)" in page
    assert "Events have waited" not in page
    assert "The oldest waiting</dt><dd>—" in page


@pytest.mark.background_courier  # the web process's own settler thread, as in the site
def test_the_web_processs_settler_books_what_its_webhook_stored(
    rt: Runtime, standin: StandIn, live: LiveServer
) -> None:
    donation_id = give(rt, standin, "60.00")
    assert standin.wait_for_webhooks(30)
    deadline = time.monotonic() + 30
    while donation(rt, donation_id).status is not DonationStatus.PAID:
        assert time.monotonic() < deadline, "the settler did not settle the gift"
        time.sleep(0.05)
    assert rt.settler.wait_idle(30)
    assert waiting(rt) == []
    assert rt.books.load().fund_balance("Twisted").minor > 0
