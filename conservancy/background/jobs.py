"""Work started after a commit: on RQ when CONSERVANCY_REDIS_URL is set, in this process otherwise.

A view (or command) commits, then calls ``runtime.jobs.enqueue(Job.…)``:

``post-ledger``
    append the ledger outbox's pending entries to the books (:meth:`Runtime.post_ledger`);
``deliver``
    draw the receipts and documents that have no PDF yet and send the mail that is due
    (:meth:`Runtime.deliver`, pass after pass until one finds nothing), posting the
    ledger outbox before each document when entries wait there;
``settle``
    settle the Stripe events the webhook stored (:meth:`Runtime.settle`, batch after
    batch until none is due), post their entries and start their receipts' delivery;
``annual-statements``
    issue a year's giving statements (``receipts.annual.issue_statements``), then deliver them.

A job carries no work of its own, only its kind: every job starts from the database
and claims its work there (the ledger outbox under the writers' locks, the mail
outbox's claims, a statement per donor and year under a unique key). So a job run
twice, or two at once on two workers, does the work once, and a job that is lost
(Redis restarted, a worker killed) loses nothing: the next job of its kind, a
worker's start, its sweep every few minutes (``conservancy.background.sweep``), ``conservancy
sweep``, ``ledger sync`` or ``receipts deliver`` does it.

Without Redis, ``enqueue`` does what the web process always did: posts at once and
kicks the courier thread (``conservancy.background.courier``).

Jobs run on a :class:`~conservancy.background.host.Host`, the runtime as they see it:
this module never imports ``conservancy.runtime``, which imports it. What RQ calls,
``conservancy.runtime.run``, lives there, since it is what builds a runtime in a
worker that has none.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from conservancy.background.host import Host
from conservancy.background.sweep import sweep as sweep_lost_work
from conservancy.infra.config import SettingsError

if TYPE_CHECKING:
    from redis import Redis
    from rq import Queue, SimpleWorker

log = logging.getLogger(__name__)

QUEUE = "conservancy"
# Long enough for the slowest job of each kind; RQ stops a job that runs longer.
TIMEOUTS = {
    "post-ledger": timedelta(minutes=10),
    "settle": timedelta(minutes=30),
    "deliver": timedelta(minutes=30),
    "annual-statements": timedelta(hours=12),
}
# A job that fails (the database restarting, say) is tried again after these waits.
RETRY_INTERVALS = (10, 60, 300)
# How often a worker sweeps for work a lost job left (conservancy.background.sweep).
SWEEP_EVERY = timedelta(minutes=5)


class Job(StrEnum):
    POST_LEDGER = "post-ledger"
    DELIVER = "deliver"
    SETTLE = "settle"
    ANNUAL_STATEMENTS = "annual-statements"


class Jobs(Protocol):
    def enqueue(self, kind: Job, **params: int) -> bool:
        """Start ``kind`` of work soon; returns at once (except posting, in-process).

        False: the queue could not be reached (logged); the work waits in the database.
        """


# What RQ calls for a job: ``entry(kind, params)`` (``conservancy.runtime.run``).
Entry = Callable[[str, dict[str, int]], str]


class InProcessJobs:
    """No Redis: post in the caller, settle and deliver on their threads, statements in the
    caller."""

    def __init__(self, runtime: Host) -> None:
        self.runtime = runtime

    def enqueue(self, kind: Job, **params: int) -> bool:
        if kind is Job.POST_LEDGER:
            self.runtime.post_ledger()
        elif kind is Job.DELIVER:
            self.runtime.courier.kick()
        elif kind is Job.SETTLE:
            self.runtime.settler.kick()
        else:
            perform(self.runtime, kind, params)
        return True


class QueuedJobs:
    """Jobs on an RQ queue in Redis, for ``conservancy worker`` to run."""

    def __init__(self, redis_url: str, entry: Entry) -> None:
        self.redis_url = redis_url
        self.entry = entry
        self._queue: Queue | None = None

    @property
    def queue(self) -> Queue:
        if self._queue is None:
            self._queue = make_queue(connect(self.redis_url))
        return self._queue

    def enqueue(self, kind: Job, **params: int) -> bool:
        from rq import Retry

        try:
            self.queue.enqueue(
                self.entry,
                kind.value,
                params,
                job_timeout=int(TIMEOUTS[kind.value].total_seconds()),
                retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
                # A finished job's record is of no use: the database holds the outcome.
                result_ttl=0,
                description=f"conservancy {kind.value}",
            )
        except Exception as exc:
            # The commit stands and the work is in the database: the next job of this
            # kind, or a worker's start, does it. Logged without the URL (it may hold
            # Redis's password).
            log.error("could not queue %s (%s); a later job will do it", kind, type(exc).__name__)
            return False
        return True


def connect(redis_url: str) -> Redis:
    from redis import Redis

    return Redis.from_url(redis_url)


def make_queue(connection: Redis) -> Queue:
    from rq import Queue

    return Queue(QUEUE, connection=connection)


def jobs_for(runtime: Host, entry: Entry) -> Jobs:
    url = runtime.settings.redis_url
    return QueuedJobs(url, entry) if url else InProcessJobs(runtime)


# -- in the worker ---------------------------------------------------------------------------

_worker_runtime: Host | None = None
_worker_pid: int | None = None


def use_runtime(runtime: Host) -> None:
    """The runtime this process's jobs run on (``conservancy worker``, tests)."""
    global _worker_runtime, _worker_pid
    _worker_runtime, _worker_pid = runtime, os.getpid()


def worker_runtime(make: Callable[[], Host]) -> Host:
    """The runtime this process's jobs run on; ``make`` builds one if none was set."""
    global _worker_runtime, _worker_pid
    if _worker_runtime is None:
        use_runtime(make())
    assert _worker_runtime is not None
    if _worker_pid != os.getpid():
        # A forked work horse: the parent's pooled connections are not ours to use.
        _worker_runtime.engine.dispose(close=False)
        _worker_pid = os.getpid()
    return _worker_runtime


def perform(runtime: Host, kind: Job, params: dict[str, Any]) -> str:
    if kind is Job.POST_LEDGER:
        posted = runtime.post_ledger()
        return f"posted {posted.posted} entries"
    if kind is Job.DELIVER:
        return _deliver_until_idle(runtime)
    if kind is Job.SETTLE:
        done = runtime.settle_all()
        return f"settled {done.settled} Stripe events ({done.failed} to try again)"
    from conservancy.kernel import clock
    from conservancy.receipts.annual import issue_statements

    year = int(params["year"])
    result = issue_statements(
        runtime.sessions,
        runtime.settings.receipts_dir,
        year,
        today=clock.today(runtime.settings.timezone),
    )
    for problem in result.problems:
        log.warning("annual statement for %s not issued: %s", year, problem)
    return f"issued {result.issued} statements for {year}; {_deliver_until_idle(runtime)}"


def _deliver_until_idle(runtime: Host) -> str:
    rendered = sent = 0
    while (done := runtime.deliver(pause=lambda: _post_waiting(runtime))).busy:
        rendered += done.rendered
        sent += done.sent
    return f"drew {rendered} documents, sent {sent} messages"


def _post_waiting(runtime: Host) -> None:
    """Before each document a job draws: post what commits left waiting meanwhile.

    A burst's receipts keep a worker drawing for minutes, and the post-ledger jobs its
    webhooks queued wait behind that job; the books would lag by as much. Posting here,
    between documents, keeps them within a document of the webhooks (the queued jobs
    then find nothing to post).
    """
    from conservancy.ledger.outbox import pending_count

    with runtime.sessions() as session:
        waiting = pending_count(session)
    if waiting:
        runtime.post_ledger()


# How long the worker's thread that listens for RQ's commands (stop a job, shut down) waits
# in one read of Redis. RQ's own is 60 s, and a worker ending waits for that read: under
# load a burst worker (`conservancy worker --burst`) took a minute to stop after its last job.
COMMAND_POLL_SECONDS = 1.0


def make_worker(connection: Redis) -> SimpleWorker:
    """A ``SimpleWorker`` on the queue whose command listener stops within a second."""
    from rq import SimpleWorker

    class Worker(SimpleWorker):
        def subscribe(self) -> None:
            self.pubsub = self.connection.pubsub()
            self.pubsub.subscribe(**{self.pubsub_channel_name: self.handle_payload})
            # RQ declares the attribute None (its own assigns the thread all the same).
            self.pubsub_thread = self.pubsub.run_in_thread(  # type: ignore[assignment]
                sleep_time=COMMAND_POLL_SECONDS,
                daemon=True,
                exception_handler=self._pubsub_exception_handler,
            )

    return Worker([make_queue(connection)], connection=connection)


def work(
    runtime: Host,
    *,
    burst: bool = False,
    sweep: bool = True,
    sweep_every: timedelta = SWEEP_EVERY,
) -> bool:
    """Run an RQ worker on the queue until stopped (``burst``: until the queue is empty).

    ``sweep``: first post and deliver whatever the database holds, in case a job was
    lost, and (unless ``burst``) sweep again every ``sweep_every`` while working.

    A ``SimpleWorker`` runs each job in this process rather than in a forked child: the
    jobs are our own and short, and every webhook queues one, so a fork and a new
    database connection per job would cost more than the work; it keeps the pool warm.
    RQ still stops a job that overruns its timeout (by an alarm signal).
    """
    url = runtime.settings.redis_url
    if not url:
        raise SettingsError("CONSERVANCY_REDIS_URL is required to run a worker")
    use_runtime(runtime)
    if sweep:
        # At the start, everything waiting: no job of this worker's is running yet.
        log.info("sweep at start: %s", sweep_lost_work(runtime, lost_after=timedelta(0)).summary())
    connection = connect(url)
    worker = make_worker(connection)
    sweeper = Sweeper(runtime, sweep_every) if sweep and not burst else None
    if sweeper is not None:
        sweeper.start()
    try:
        return bool(worker.work(burst=burst, with_scheduler=True))
    finally:
        if sweeper is not None:
            sweeper.stop()


class Sweeper:
    """Sweeps (``conservancy.background.sweep``) every ``every`` on a thread of the worker, until
    stopped.

    A thread rather than a job RQ schedules: it sweeps while Redis is down, which is
    when the web's jobs could not be queued and the sweep is wanted most, and there is
    no chain of self-queuing jobs to keep single across workers and restarts. It runs
    beside the worker's jobs as a second worker would: the books' locks (a flock on a
    descriptor of its own, the PostgreSQL advisory lock on a connection of its own) and
    the outbox's claims keep each piece of work to one of them. Several workers sweeping
    do no harm either; a sweep that finds nothing lost costs three small queries.
    """

    def __init__(self, runtime: Host, every: timedelta) -> None:
        self.runtime = runtime
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 60.0) -> None:
        """Stop after the sweep in hand, if any (waiting up to ``timeout`` seconds)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.wait(self.every.total_seconds()):
            try:
                result = sweep_lost_work(self.runtime)
            except Exception as exc:
                # The type only: a database error's text may quote donors' rows.
                log.error("the sweep failed (%s); the next one tries again", type(exc).__name__)
                continue
            log.info("sweep: %s", result.summary())
