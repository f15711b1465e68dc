"""Stripe's events, acknowledged at once and settled after: the inbox.

Stripe asks for a 2xx answer before any real work ("return a 200 response before
updating a customer's invoice as paid in your accounting system"), and real API reads
take about a quarter of a second each. So the webhook only :func:`receive`\\ s: it
verifies the signature, the mode and the age, stores the event in ``stripe_inbox``
(its id the key: a second delivery stores nothing) and answers. It asks Stripe nothing.
An event of a type no handler acts on is recorded as done at once (``ignored``).

A settler then does what the webhook used to do, in batches (:func:`settle_batch`):

1. it **claims** the events that are due (``FOR UPDATE SKIP LOCKED`` on PostgreSQL,
   the write lock on SQLite), moving each one's ``due_at`` a lease ahead, so any
   number of settlers run side by side and a settler that dies leaves its events to
   the next one once the lease ends;
2. for each money object of the batch, on a pool of threads (many objects at once), it
   **fetches** what its events' handlers will ask Stripe into a memo the handlers then
   read (:mod:`conservancy.payments.prefetch`), so Stripe's latency is waited out side
   by side and never inside a transaction; then it
3. **settles** each event in its own transaction, as ``events.process`` always did
   (the ``stripe_events`` key, each money object under its own ref), the events of one
   money object one after another, in the order they arrived; the transaction that
   settles an event deletes it from the inbox;
4. an event whose settling fails stays in the inbox, due again after a growing wait,
   with the failure's kind (never a donor's data) for the ledger health page.

The caller posts the batch's ledger entries with one append (one lock, one fsync) and
starts the receipts' delivery. Where settlers run: :mod:`conservancy.background.jobs`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from conservancy.kernel import clock
from conservancy.payments.events import HANDLERS, process
from conservancy.payments.gateway import BadSignature, Event, Gateway, GatewayError, object_id
from conservancy.payments.models import StripeEvent, StripeInbox, insert_once
from conservancy.payments.prefetch import MemoGateway, prefetch

log = logging.getLogger(__name__)

# How long a claim holds: a batch settles in a second or two; a settler that died is replaced
# then (one that is only slow, and loses its claim, does no harm: events.process is once-only).
LEASE = timedelta(seconds=15)
# After the n-th failed try an event waits this long (the last one from then on).
RETRY_WAITS = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(hours=1),
)
BATCH = 100
# Settling transactions under way at once in one settler: enough to overlap their round
# trips to the database, few enough to leave the pool's connections to the web's requests.
SETTLING_AT_ONCE = 4


# -- the webhook --------------------------------------------------------------------------------


def receive(
    gateway: Gateway, sessions: sessionmaker[Session], payload: bytes, signature: str | None
) -> str:
    """Verify and store. Returns ``received``; ``ignored`` for a type we do not act on
    (recorded as done at once); ``duplicate`` for an event stored or done before.

    Raises BadSignature (the caller answers 400) for a bad signature, a body that is
    not an event, or an event from the other mode (live vs test)."""
    event = gateway.verify_event(payload, signature)
    if event.livemode != gateway.livemode:
        raise BadSignature("the event's livemode does not match our Stripe key")
    with sessions() as session:
        if event.type in HANDLERS:
            outcome = "received" if store(session, event) else "duplicate"
        else:
            outcome = "ignored" if _ignore(session, event) else "duplicate"
        session.commit()
    return outcome


def store(session: Session, event: Event) -> bool:
    """Put ``event`` in the inbox unless it is there or settled already; True if it was put.

    The row goes in first and the settled events are looked at after: a settler's
    transaction deletes the event's row and records it as settled at once, so either this
    insert waits for it and then sees it settled, or it finds the row still there. Looked
    at first, a settling that committed in between would let the event in again."""
    now = clock.now()
    stored = insert_once(
        session,
        StripeInbox,
        id=event.id,
        type=event.type,
        object_key=object_key(event),
        livemode=event.livemode,
        created_at=event.created_at,
        received_at=now,
        object=dict(event.object),
        due_at=now,
        attempts=0,
    )
    if stored and session.get(StripeEvent, event.id) is not None:
        session.execute(delete(StripeInbox).where(StripeInbox.id == event.id))
        return False
    return stored


def _ignore(session: Session, event: Event) -> bool:
    """An event of a type we do not act on is done once it is recorded."""
    now = clock.now()
    return insert_once(
        session,
        StripeEvent,
        id=event.id,
        type=event.type,
        created_at=event.created_at,
        received_at=now,
        settled_at=now,
    )


def object_key(event: Event) -> str:
    """The money object an event is about, so that its events settle in order.

    A checkout session's events share its donation; a subscription's and its
    invoices' share the subscription; refunds and disputes share their charge."""
    obj = event.object
    kind = event.type.split(".", 1)[0]
    if kind == "checkout":
        donation = str((obj.get("metadata") or {}).get("donation_id") or "")
        return f"donation:{donation}" if donation.isdigit() else f"session:{obj.get('id')}"
    if kind == "invoice":
        details = (obj.get("parent") or {}).get("subscription_details") or {}
        subscription = object_id(details.get("subscription"))
        return f"subscription:{subscription}" if subscription else f"invoice:{obj.get('id')}"
    if event.type.startswith("customer.subscription."):
        return f"subscription:{obj.get('id')}"
    if event.type.startswith(("charge.dispute.", "refund.")):
        return f"charge:{object_id(obj.get('charge'))}"
    if kind == "charge":
        return f"charge:{obj.get('id')}"
    return f"{obj.get('object', kind)}:{obj.get('id')}"


# -- settlers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    event: Event
    object_key: str
    received_at: datetime
    attempts: int


@dataclass(frozen=True)
class Settled:
    claimed: int
    settled: int
    failed: int

    @property
    def busy(self) -> bool:
        """True when a batch claimed anything: there may be more."""
        return bool(self.claimed)


NOTHING = Settled(0, 0, 0)


def claim(
    sessions: sessionmaker[Session], limit: int = BATCH, *, now: datetime | None = None
) -> list[Claimed]:
    """Take up to ``limit`` due events for this settler, oldest first, for a lease."""
    now = now or clock.now()
    me = f"{socket.gethostname()[:80]}:{os.getpid()}"  # this process (forked ones differ)
    with sessions() as session:
        rows = session.scalars(
            select(StripeInbox)
            .where(StripeInbox.due_at <= now)
            .order_by(StripeInbox.due_at, StripeInbox.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:
            row.due_at = now + LEASE
            row.attempts += 1
            row.claimed_by = me
            created, received = clock.as_utc(row.created_at), clock.as_utc(row.received_at)
            event = Event(row.id, row.type, row.livemode, created, row.object)
            claimed.append(Claimed(event, row.object_key, received, row.attempts))
        session.commit()
    return claimed


def settle_batch(
    sessions: sessionmaker[Session],
    gateway: Gateway,
    tz: ZoneInfo,
    *,
    pool: Executor,
    limit: int = BATCH,
    at_once: int = SETTLING_AT_ONCE,
) -> Settled:
    """Claim a batch and settle it on ``pool``'s threads, one money object per task: each
    task makes its events' Stripe reads, then settles them in order. Stripe's latency is
    so waited out side by side, and a settling transaction never waits on Stripe. The
    caller posts the ledger afterwards."""
    batch = claim(sessions, limit)
    if not batch:
        return NOTHING
    memo = MemoGateway(gateway)
    transactions = threading.BoundedSemaphore(at_once)

    def settle(group: list[Claimed]) -> int:
        for claimed in group:
            prefetch(memo, claimed.event)
        with transactions:
            return _settle_group(sessions, memo, tz, group)

    settled = sum(pool.map(settle, _groups(batch)))
    return Settled(len(batch), settled, len(batch) - settled)


def _groups(batch: Iterable[Claimed]) -> list[list[Claimed]]:
    groups: dict[str, list[Claimed]] = {}
    for claimed in batch:
        groups.setdefault(claimed.object_key, []).append(claimed)
    for group in groups.values():
        group.sort(key=lambda c: (c.event.created_at, c.received_at, c.event.id))
    return list(groups.values())


def _settle_group(
    sessions: sessionmaker[Session], gateway: Gateway, tz: ZoneInfo, group: list[Claimed]
) -> int:
    settled = 0
    for claimed in group:
        try:
            process(sessions, gateway, claimed.event, tz, received_at=claimed.received_at)
        except GatewayError as exc:
            what = "could not reach Stripe" if exc.temporary else "Stripe refused a request"
            _failed(sessions, claimed, f"{what}: {exc}")
        except Exception as exc:
            # The type only: a database error's text may quote a donor's row.
            log.exception("settling stripe event %s failed", claimed.event.id)
            _failed(sessions, claimed, type(exc).__name__)
        else:
            settled += 1
    return settled


def _failed(sessions: sessionmaker[Session], claimed: Claimed, error: str) -> None:
    wait = RETRY_WAITS[min(claimed.attempts, len(RETRY_WAITS)) - 1]
    log.warning(
        "stripe event %s (%s) not settled, try %d; again in %s: %s",
        claimed.event.id,
        claimed.event.type,
        claimed.attempts,
        wait,
        error,
    )
    with sessions() as session:
        session.execute(
            update(StripeInbox)
            .where(StripeInbox.id == claimed.event.id)
            .values(due_at=clock.now() + wait, last_error=error[:300])
        )
        session.commit()


# -- what staff see -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Intake:
    waiting: int
    oldest_received_at: datetime | None
    failing: int  # waiting events whose last try failed
    settled_recently: int
    window: timedelta

    @property
    def per_minute(self) -> float:
        return self.settled_recently / (self.window.total_seconds() / 60)

    def oldest_age(self, now: datetime) -> timedelta | None:
        return None if self.oldest_received_at is None else now - self.oldest_received_at


def intake(
    session: Session, *, now: datetime | None = None, window: timedelta = timedelta(minutes=5)
) -> Intake:
    """The inbox for the ledger health page: what waits, since when, and how fast it settles."""
    now = now or clock.now()
    waiting, oldest, failing = session.execute(
        select(
            func.count(),
            func.min(StripeInbox.received_at),
            func.count(StripeInbox.last_error),
        ).select_from(StripeInbox)
    ).one()
    recent = session.scalar(
        select(func.count()).select_from(StripeEvent).where(StripeEvent.settled_at > now - window)
    )
    oldest = None if oldest is None else clock.as_utc(oldest)
    return Intake(int(waiting), oldest, int(failing), int(recent or 0), window)


def pending(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(StripeInbox)) or 0)
