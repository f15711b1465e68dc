"""Events that arrive at the same moment (SPEC section 7: each event id is processed
at most once; each Stripe money object is posted at most once, whichever event
brings it).

The stand-in here has no webhook address: the tests take real events from its
``/v1/events`` and hand them to several threads at once, released together by a
barrier. PostgreSQL is where this matters (writers really run side by side);
SQLite serialises writers, and runs the same tests as a baseline.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import requests
from flask import Flask
from sqlalchemy import func, select

from conservancy.donations.models import DonationStatus, Frequency, Gift, Refund
from conservancy.donations.settlement import apply_refund
from conservancy.ledger.check import check_books
from conservancy.payments import events
from conservancy.payments.gateway import Event
from conservancy.payments.models import StripeEvent
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    donation,
    entries_by_ref,
    give,
    ledger_refs,
    outbox_refs,
    postings,
    raw_events,
    signature,
    standin_events,
    stripe_client,
)

THREADS = 8
ROUNDS = 5
D = Decimal


@pytest.fixture
def rt(giving_runtime: Runtime) -> Runtime:
    return factories.with_project(giving_runtime)


@pytest.fixture
def server(giving_app: Flask) -> Iterator[LiveServer]:
    """The app over HTTP, with nothing delivering to it but the test."""
    with LiveServer(giving_app) as running:
        yield running


def at_once(calls: list[Callable[[], str]]) -> list[str]:
    """Run ``calls`` in threads released together; answers each call's outcome."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], str]) -> str:
        barrier.wait(timeout=30)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def processing(rt: Runtime, event: Event) -> Callable[[], str]:
    return lambda: events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)


def only_event(standin: StandIn, type_: str) -> Event:
    found = standin_events(standin, type_)
    assert len(found) == 1, [e.id for e in found]
    return found[0]


def assert_each_ref_once(rt: Runtime) -> None:
    rt.post_ledger()
    in_outbox = Counter(outbox_refs(rt))
    assert in_outbox.most_common(1)[0][1] == 1
    assert ledger_refs(rt) == in_outbox
    assert check_books(rt.ledger).problems == []


def count(rt: Runtime, model: type[Gift] | type[Refund] | type[StripeEvent]) -> int:
    with rt.sessions() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_same_event_delivered_by_many_threads_at_once_is_posted_once(
    rt: Runtime, standin: StandIn, database_url: str
) -> None:
    donation_id = give(rt, standin, "100.00")
    completed = only_event(standin, "checkout.session.completed")
    outbox_before = len(outbox_refs(rt))

    outcomes = at_once([processing(rt, completed) for _ in range(THREADS)])

    assert sorted(outcomes) == ["duplicate"] * (THREADS - 1) + ["processed"]
    assert count(rt, Gift) == 1
    assert count(rt, StripeEvent) == 1
    assert len(outbox_refs(rt)) == outbox_before + 2  # the gift and its sponsorship fee
    assert donation(rt, donation_id).status is DonationStatus.PAID
    assert_each_ref_once(rt)
    assert rt.books.load().fund_balance("Twisted").amount == D("86.80")


def test_same_signed_webhook_posted_to_the_server_by_many_threads_is_posted_once(
    rt: Runtime, standin: StandIn, server: LiveServer
) -> None:
    give(rt, standin, "100.00")
    (completed,) = [e for e in raw_events(standin) if e["type"] == "checkout.session.completed"]
    payload = json.dumps(completed, indent=2).encode()

    def post() -> str:
        answer = requests.post(
            f"{server.url}/stripe/webhook",
            data=payload,
            headers={"Stripe-Signature": signature(payload), "Content-Type": "application/json"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        return str(answer.json()["status"])

    outcomes = at_once([post for _ in range(THREADS)])

    # One delivery stored it; the settler then books it once.
    assert sorted(outcomes) == ["duplicate"] * (THREADS - 1) + ["received"]
    assert rt.settler.wait_idle()
    assert count(rt, Gift) == 1
    assert_each_ref_once(rt)
    assert rt.books.load().fund_balance("Twisted").amount == D("86.80")


@pytest.mark.parametrize("with_refund", [False, True], ids=["gift", "gift and its refund"])
def test_different_events_bringing_the_same_charge_at_once_book_one_gift(
    rt: Runtime, standin: StandIn, with_refund: bool
) -> None:
    """A subscription's first payment comes with checkout.session.completed and with
    invoice.paid (and, once refunded, with charge.refunded): each may settle it.
    A few rounds, each a new donation, since a race shows itself only sometimes."""
    client = stripe_client(standin)
    for round_ in range(ROUNDS):
        seen = len(standin_events(standin))
        donation_id = give(rt, standin, "25.00", frequency=Frequency.MONTHLY)
        if with_refund:
            charge = standin.records()["charges"][-1]["id"]
            client.v1.refunds.create({"charge": charge, "amount": 1000})
        wanted = {"checkout.session.completed", "invoice.paid", "charge.refunded"}
        bringing = [e for e in standin_events(standin)[seen:] if e.type in wanted]
        assert len(bringing) == (3 if with_refund else 2)
        # Each event from several threads: the same event thrice, different events together.
        calls = [processing(rt, event) for event in bringing for _ in range(3)]

        outcomes = at_once(calls)

        assert Counter(outcomes) == {"processed": len(bringing), "duplicate": 2 * len(bringing)}
        assert count(rt, Gift) == round_ + 1
        assert count(rt, Refund) == (round_ + 1 if with_refund else 0)
        (gift,) = donation(rt, donation_id).gifts
        assert gift.invoice_id is not None
        assert gift.reversed_minor == (1000 if with_refund else 0)
    assert_each_ref_once(rt)
    # Each: 25.00 less 1.03 card fee and 2.50 sponsorship fee; refunded 10.00 (1.00 of fee).
    expected = ROUNDS * (D("21.47") - (D("9.00") if with_refund else 0))
    assert rt.books.load().fund_balance("Twisted").amount == expected


def test_refunds_of_one_gift_booked_at_once_each_count_once(rt: Runtime, standin: StandIn) -> None:
    """Three refunds of a 1.00 gift at Stripe, their events processed side by side:
    the gift's reversed total and the sponsorship fee come out as if one at a time."""
    donation_id = give(rt, standin, "1.00")
    for event in standin_events(standin):
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
    gift = donation(rt, donation_id).gifts[0]
    client = stripe_client(standin)
    for amount in (33, 33, 34):
        client.v1.refunds.create({"charge": gift.charge_id, "amount": amount})
    refunded = [e for e in standin_events(standin) if e.type in {"charge.refunded"}]
    assert len(refunded) == 3

    outcomes = at_once([processing(rt, event) for event in refunded for _ in range(2)])

    assert Counter(outcomes) == {"processed": 3, "duplicate": 3}
    with rt.sessions() as session:
        row = session.get(Gift, gift.id)
        assert row is not None
        assert row.reversed_minor == 100
    assert count(rt, Refund) == 3
    assert_each_ref_once(rt)
    books = rt.books.load()
    assert books.account_balance("Income:Twisted:Donations") == 0
    assert books.account_balance("Expenses:Twisted:Sponsorship-Fees") == 0
    assert books.fund_balance("Twisted").amount == D("-0.33")


def test_refund_booked_after_another_refund_of_the_gift_committed_meanwhile_counts_both(
    rt: Runtime, standin: StandIn, database_url: str
) -> None:
    """Two writers, each booking one refund of the same gift: the second read the gift
    before the first committed. Its booking must start from what is committed, not from
    what it read (PostgreSQL runs such writers side by side; SQLite never does)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("SQLite serialises writers from their first read")
    donation_id = give(rt, standin, "1.00")
    for event in standin_events(standin):
        events.process(rt.sessions, rt.gateway, event, rt.settings.timezone)
    gift_id = donation(rt, donation_id).gifts[0].id
    charge_id = donation(rt, donation_id).gifts[0].charge_id
    client = stripe_client(standin)
    first = rt.gateway.refund(client.v1.refunds.create({"charge": charge_id, "amount": 33}).id)
    second = rt.gateway.refund(client.v1.refunds.create({"charge": charge_id, "amount": 33}).id)
    tz = rt.settings.timezone

    with rt.sessions() as late:
        stale = late.get(Gift, gift_id)  # read before the other writer commits
        assert stale is not None
        with rt.sessions() as early:
            gift = early.get(Gift, gift_id)
            assert gift is not None
            apply_refund(early, gift, first, tz)
            early.commit()
        apply_refund(late, stale, second, tz)
        late.commit()

    with rt.sessions() as session:
        row = session.get(Gift, gift_id)
        assert row is not None
        assert row.reversed_minor == 66
    assert_each_ref_once(rt)
    entries = entries_by_ref(rt)
    fee_back = [
        postings(entries[f"stripe-{refund.id}/sponsorship-fee"])[
            "Expenses:Twisted:Sponsorship-Fees"
        ]
        for refund in (first, second)
    ]
    # 10% of 1.00 is 0.10; on 0.67 it is 0.07, on 0.34 it is 0.03.
    assert fee_back == [D("-0.03"), D("-0.04")]
