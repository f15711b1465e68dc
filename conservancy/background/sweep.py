"""The sweep: work that a lost job left waiting in the database, done every few minutes.

A job carries no work (``conservancy.background.jobs``): the database is the queue. A job that
is lost (Redis restarted, a worker or web process killed, Redis down when the web
committed) loses nothing, but its work waits for the next job of its kind, which on
a quiet site may be hours away. So every deployment sweeps now and then:
``conservancy worker`` at its start and every few minutes after
(:class:`conservancy.background.jobs.Sweeper`), and, where there is no worker, ``conservancy
sweep`` from a timer (``deploy/conservancy-sweep.timer``). A sweep

- settles the Stripe events the webhook stored when one has been due longer than
  :data:`LOST_AFTER` (its settler died, or its try failed and is due again:
  ``payments.inbox``), and then every event that is due;
- posts the ledger outbox when an entry has waited longer than :data:`LOST_AFTER`
  (it posts everything pending then, as any post does: one append under the
  books' lock, in the outbox's order);
- draws and sends when a receipt has had no PDF, or a message has been pending,
  longer than that (so a message the mail server refused "for now" is tried again
  at each sweep, up to ``mail.outbox.MAX_ATTEMPTS``);
- counts the messages stuck in ``sending``, without sending them again: whether
  they went out cannot be known, and a second receipt cannot be taken back
  (``mail.outbox``); ``conservancy receipts deliver`` names them.
- removes the rows that have served their while: spent sign-in links and
  sessions, old rate-limit counts (``conservancy.background.retention`` says which, and what
  is kept for good).

Work younger than a minute is left to its own job, which does it within seconds:
the sweep neither waits on the books' lock nor draws a PDF that a running job is
drawing. Were both to happen, nothing would be done twice (the lock, the outbox's
claims): the minute only saves the work. Nothing here needs Redis, so a sweep
does its work while Redis is down, which is when the web's jobs could not be queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from conservancy.background.host import Delivery, Host
from conservancy.background.retention import Removed, remove_stale
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import PostResult
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.mail.outbox import stuck
from conservancy.payments.inbox import NOTHING as NOTHING_SETTLED
from conservancy.payments.inbox import Settled
from conservancy.payments.models import StripeInbox
from conservancy.receipts.models import Receipt

# Work waiting longer than this was lost: a job does it within seconds of the commit.
LOST_AFTER = timedelta(minutes=1)
NOTHING_DELIVERED = Delivery(0, 0, 0, 0, 0)


@dataclass(frozen=True)
class SweepResult:
    settled: Settled
    posted: PostResult
    delivered: Delivery
    stuck: int
    removed: Removed

    def summary(self) -> str:
        """One line of counts, for the command's output and the worker's log."""
        d = self.delivered
        line = (
            f"posted {_count(self.posted.posted, 'ledger entry', 'ledger entries')}, "
            f"drew {_count(d.rendered, 'document')}, sent {_count(d.sent, 'message')}"
        )
        if self.settled.claimed:
            line = f"settled {_count(self.settled.settled, 'Stripe event')}, {line}"
        if self.posted.recovered:
            line += f" (completed {self.posted.recovered} from an interrupted append)"
        if self.settled.failed:
            line += f", {_count(self.settled.failed, 'Stripe event')} to settle later"
        if d.retry_later:
            line += f", {d.retry_later} to retry later"
        if d.render_failed:
            line += f", {_count(d.render_failed, 'document')} cannot be drawn (see the log)"
        if d.send_failed:
            line += f", {_count(d.send_failed, 'message')} refused for good"
        line += f", {self.stuck} stuck in 'sending'"
        return f"{line}; {self.removed.summary()}"


def sweep(
    runtime: Host, *, lost_after: timedelta = LOST_AFTER, now: datetime | None = None
) -> SweepResult:
    """Post and deliver what has waited longer than ``lost_after``, and remove stale rows.
    Safe to run any time, anywhere, any number of times, alongside jobs and other sweeps."""
    now = now or clock.now()
    cutoff = now - lost_after
    with runtime.sessions() as session:
        settle = _any(session, select(StripeInbox.id).where(StripeInbox.due_at <= cutoff))
    # Settling posts its entries and delivers its receipts itself.
    settled = runtime.settle_all() if settle else NOTHING_SETTLED
    with runtime.sessions() as session:
        post = _any(
            session,
            select(LedgerOutbox.id).where(
                LedgerOutbox.posted_at.is_(None), LedgerOutbox.recorded_at <= cutoff
            ),
        )
        deliver = _any(
            session,
            select(MailMessage.id).where(
                MailMessage.status == MailStatus.PENDING, MailMessage.created_at <= cutoff
            ),
        ) or _any(
            session,
            select(Receipt.id).where(Receipt.pdf_path.is_(None), Receipt.issued_at <= cutoff),
        )
    posted = runtime.post_ledger() if post else PostResult(0, 0)
    delivered = deliver_all(runtime) if deliver else NOTHING_DELIVERED
    with runtime.sessions() as session:
        stuck_now = len(stuck(session))
        removed = remove_stale(session, now)
        session.commit()
    return SweepResult(settled, posted, delivered, stuck_now, removed)


def deliver_all(runtime: Host) -> Delivery:
    """Passes of ``Runtime.deliver`` until one does nothing (each pass takes a few hundred)."""
    rendered = sent = send_failed = 0
    while True:
        done = runtime.deliver()
        rendered += done.rendered
        sent += done.sent
        send_failed += done.send_failed
        if not done.busy:
            # What is left to retry, or cannot be drawn, is as the last pass found it.
            return Delivery(rendered, done.render_failed, sent, done.retry_later, send_failed)


def _any(session: Session, query: Select[Any]) -> bool:
    return bool(session.scalar(select(query.exists())))


def _count(n: int, thing: str, things: str | None = None) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {things or thing + 's'}"
