"""What one process needs to reach the database, the books and Stripe, built once from Settings."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from conservancy.background.courier import Courier, Traffic
from conservancy.background.host import Delivery
from conservancy.background.jobs import Job, Jobs, jobs_for, perform, worker_runtime
from conservancy.infra.config import Settings, SettingsError
from conservancy.infra.db import make_engine, make_sessions
from conservancy.ledger.books import Books
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.outbox import PostResult, post_pending
from conservancy.payments.gateway import Gateway
from conservancy.payments.inbox import NOTHING, Settled, settle_batch

# A settler's threads: money objects settled at once, each waiting on its Stripe reads, then
# settling in a short transaction on a connection of the engine's pool (five kept, ten lent;
# a thread waits for one when all are out).
SETTLER_THREADS = 32
# The web process's settler also looks this often for events due again (after a failure, or
# a settler that died and whose claim ran out).
SETTLER_EVERY = 5.0


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    ledger: LedgerFiles
    books: Books
    _gateway: Gateway | None = field(default=None, repr=False)
    _jobs: Jobs | None = field(default=None, repr=False)
    courier: Courier = field(init=False, repr=False)
    # Settles the Stripe events the webhook stored (payments.inbox), off the request.
    settler: Courier = field(init=False, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    # The web requests and settler batches under way in this process; the courier draws
    # receipts in their pauses.
    traffic: Traffic = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.traffic = Traffic()
        self.courier = Courier(lambda: self.deliver(pause=self.traffic.wait_quiet).busy)
        self.settler = Courier(lambda: self.settle().busy, name="settler", every=SETTLER_EVERY)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        engine = make_engine(settings.database_url)
        ledger = LedgerFiles(settings.ledger_dir)
        return cls(settings, engine, make_sessions(engine), ledger, Books(ledger))

    @property
    def gateway(self) -> Gateway:
        """The payment gateway; built on first use, so pages that take no money need no keys."""
        if self._gateway is None:
            key = self.settings.stripe_secret_key
            secret = self.settings.stripe_webhook_secret
            if not key:
                raise SettingsError("CONSERVANCY_STRIPE_SECRET_KEY is required to take gifts")
            if not secret:
                raise SettingsError("CONSERVANCY_STRIPE_WEBHOOK_SECRET is required to take gifts")
            from conservancy.payments.stripe_gateway import StripeGateway

            self._gateway = StripeGateway(
                key, secret, self.settings.stripe_api_base, proxy=self.settings.stripe_proxy
            )
        return self._gateway

    @property
    def jobs(self) -> Jobs:
        """Where work after a commit goes: RQ with CONSERVANCY_REDIS_URL, this process without."""
        if self._jobs is None:
            self._jobs = jobs_for(self, run)
        return self._jobs

    def post_ledger(self) -> PostResult:
        """Append whatever the outbox holds; call after each commit that recorded entries."""
        return post_pending(self.sessions, self.ledger)

    def settle(self) -> Settled:
        """One batch of the Stripe events the webhook stored: claimed, the reads their
        settling needs made at once, each settled; the batch's entries posted in one
        append; their receipts handed to the courier (or the queue)."""
        if not (self.settings.stripe_secret_key and self.settings.stripe_webhook_secret):
            return NOTHING  # no webhook could have stored anything (see web/stripe)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(SETTLER_THREADS, thread_name_prefix="settle")
        # A batch counts as traffic: the courier draws receipts after the books are settled.
        self.traffic.started()
        try:
            done = settle_batch(
                self.sessions, self.gateway, self.settings.timezone, pool=self._pool
            )
        finally:
            self.traffic.finished()
        if done.settled:
            self.post_ledger()
            self.jobs.enqueue(Job.DELIVER)
        return done

    def settle_all(self) -> Settled:
        """Batches until none is due (a worker's job, the sweep, ``stripe sync``)."""
        claimed = settled = failed = 0
        while (done := self.settle()).busy:
            claimed, settled = claimed + done.claimed, settled + done.settled
            failed += done.failed
        return Settled(claimed, settled, failed)

    def deliver(self, pause: Callable[[], None] | None = None) -> Delivery:
        """After a commit: draw receipts that have no PDF yet, then send the mail that is due.

        ``pause`` is called before each document is drawn (the courier waits there for
        a pause in its process's requests)."""
        from conservancy.mail.outbox import Sender, send_pending
        from conservancy.mail.transport import transport_for
        from conservancy.projects.service import get_sponsor
        from conservancy.receipts.issue import render_pending
        from conservancy.sponsorships.documents import render_pending as render_sponsorships

        receipts_dir = self.settings.receipts_dir
        rendered = render_pending(self.sessions, receipts_dir, pause=pause)
        drawn = render_sponsorships(
            self.sessions,
            receipts_dir,
            self.settings.base_url,
            pause=pause,
            contact=self.settings.sender_address,
        )
        with self.sessions() as session:
            sponsor = get_sponsor(session)
            name = sponsor.legal_name if sponsor is not None else "Donations"
        sent = send_pending(
            self.sessions,
            transport_for(self.settings.smtp_url, self.settings.outbox_dir),
            Sender(
                self.settings.sender_address,
                name,
                footer=name,
                portal_line=f"Your gifts, receipts and statements: {self.settings.base_url}/portal",
            ),
            receipts_dir,
        )
        return Delivery(
            rendered.rendered + drawn.rendered,
            rendered.failed + drawn.failed,
            sent.sent,
            sent.retry_later,
            sent.failed,
        )

    def close(self) -> None:
        self.settler.finish(timeout=30)
        self.courier.finish(timeout=30)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        self.engine.dispose()


def run(kind: str, params: dict[str, int]) -> str:
    """What RQ calls: one job of ``kind``. Answers a line for the job's log.

    RQ stores this function's dotted path with each job (``conservancy.runtime.run``;
    ``conservancy.jobs.run`` for jobs queued before issue 17, a shim). In a worker that
    ``conservancy worker`` did not start, the first job builds the runtime from the
    environment.
    """
    return perform(worker_runtime(_from_env), Job(kind), params)


def _from_env() -> Runtime:
    return Runtime.from_settings(Settings.from_env())
