# ruff: noqa: F811 - pytest fixtures imported from the giving tests, used by name
"""Work after a commit on RQ when CONSERVANCY_REDIS_URL is set.

These need a Redis server (CONSERVANCY_TEST_REDIS_URL, or one at 127.0.0.1:6379,
each test process in a database of its own, 15 down to 8) and skip when none
answers. The worker runs in this process, in burst mode: it works off the queue
and returns.
"""

from __future__ import annotations

import email
import email.policy
import logging
import os
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from conservancy.background.jobs import (
    InProcessJobs,
    Job,
    QueuedJobs,
    connect,
    make_queue,
    make_worker,
    work,
)
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger.outbox import pending_count, record
from conservancy.payments import inbox
from conservancy.receipts.models import AnnualStatement, Receipt
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.environment import settings_env
from tests.factories import settled_gift, with_project
from tests.giving.conftest import (  # noqa: F401 - the giving tests' fixtures
    LiveServer,
    giving_app,
    giving_runtime,
    giving_settings,
    live,
    standin,
)
from tests.giving.flows import give
from tests.ledger.processes import CONSERVANCY, TIMEOUT, ref_counts, run_cli
from tests.receipts.pdfs import requires_weasyprint


def _redis_db() -> int:
    """A database of its own for each test process (pytest-xdist's gw0, gw1, ...): they
    would otherwise empty each other's queue and run each other's jobs. 15 down to 8."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw")
    return 15 - (int(worker) % 8 if worker.isdigit() else 0)


REDIS_URL = os.environ.get("CONSERVANCY_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_redis_db()}")


@pytest.fixture
def redis_url() -> Iterator[str]:
    """A reachable Redis with an empty queue, or a skip saying why not."""
    from redis.exceptions import RedisError

    connection = connect(REDIS_URL)
    try:
        connection.ping()
    except RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__})")
    queue = make_queue(connection)
    queue.empty()  # type: ignore[no-untyped-call]
    yield REDIS_URL
    queue.empty()  # type: ignore[no-untyped-call]
    connection.close()


def queued(runtime: Runtime, redis_url: str) -> Runtime:
    """The runtime, its work after a commit now going to the queue."""
    runtime.settings = replace(runtime.settings, redis_url=redis_url)
    runtime._jobs = None
    assert isinstance(runtime.jobs, QueuedJobs)
    return runtime


def queue_length(redis_url: str) -> int:
    return len(make_queue(connect(redis_url)))


def _inbox(rt: Runtime) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        for path in sorted(rt.settings.outbox_dir.glob("*.eml"))
    ]


def test_a_settled_gift_is_posted_and_mailed_by_the_worker_and_not_before(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer, redis_url: str
) -> None:
    rt = queued(giving_runtime, redis_url)
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    rt.post_ledger()
    give(rt, standin, "25.00", name="Ada Lovelace")
    assert standin.wait_for_webhooks(30), "the stand-in still has webhooks to deliver"

    # The webhook stored the events and queued the settling: the web process's own settler
    # and courier, given their chance, find nothing kicked, and nothing is settled yet.
    assert rt.settler.wait_idle(5)
    assert rt.courier.wait_idle(5)
    assert queue_length(redis_url) >= 1
    with rt.sessions() as session:
        assert inbox.pending(session) > 0
        assert pending_count(session) == 0
    assert rt.books.load().fund_balance("Twisted").minor == 0
    assert _inbox(rt) == []

    # The worker settles them, posts the gift and queues its receipt, which it then mails.
    work(rt, burst=True, sweep=False)

    assert queue_length(redis_url) == 0
    with rt.sessions() as session:
        assert inbox.pending(session) == 0
        assert pending_count(session) == 0
    assert rt.books.load().fund_balance("Twisted").minor > 0
    [mail] = _inbox(rt)
    assert mail["Subject"] == "Your donation receipt 2026-000001"
    assert [a.get_filename() for a in mail.iter_attachments()] == ["2026-000001.pdf"]


def test_the_same_posting_job_queued_twice_posts_once(runtime: Runtime, redis_url: str) -> None:
    rt = queued(runtime, redis_url)
    with rt.sessions() as session:
        factories.project(session)
        record(session, factories.gift("twice-0"))
        session.commit()

    assert rt.jobs.enqueue(Job.POST_LEDGER)
    assert rt.jobs.enqueue(Job.POST_LEDGER)
    assert queue_length(redis_url) == 2
    assert ref_counts(rt.ledger, ["twice-0"]) == {"twice-0": 0}

    work(rt, burst=True, sweep=False)

    assert queue_length(redis_url) == 0
    assert ref_counts(rt.ledger, ["twice-0"]) == {"twice-0": 1}
    with rt.sessions() as session:
        assert pending_count(session) == 0


@requires_weasyprint
def test_a_receipt_job_posts_what_waits_between_its_documents(
    runtime: Runtime, redis_url: str
) -> None:
    """In a burst the worker draws receipts for minutes while the webhooks' posting jobs
    wait behind in the queue: the receipt job posts what waits as it goes, so the books
    keep up with the webhooks."""
    rt = queued(with_project(runtime), redis_url)
    settled_gift(rt, post=False)
    settled_gift(rt, email="grace@example.org", name="Grace Hopper", post=False)
    with rt.sessions() as session:
        assert pending_count(session) == 4  # two gifts, each with its sponsorship fee
    assert rt.jobs.enqueue(Job.DELIVER)  # only the receipts' job: no posting job queued

    work(rt, burst=True, sweep=False)

    with rt.sessions() as session:
        assert pending_count(session) == 0
        assert all(session.scalars(select(Receipt.pdf_path)))
    assert rt.books.load().fund_balance("Twisted").minor > 0


def test_a_worker_starting_posts_what_a_lost_job_left_in_the_database(
    runtime: Runtime, redis_url: str
) -> None:
    rt = queued(runtime, redis_url)
    with rt.sessions() as session:
        factories.project(session)
        record(session, factories.gift("lost-0"))
        session.commit()
    # No job was queued (Redis was down when the gift was committed, say).

    work(rt, burst=True)

    assert ref_counts(rt.ledger, ["lost-0"]) == {"lost-0": 1}


def test_without_redis_the_work_runs_in_the_process_as_before(runtime: Runtime) -> None:
    assert runtime.settings.redis_url is None
    assert isinstance(runtime.jobs, InProcessJobs)
    with runtime.sessions() as session:
        factories.project(session)
        record(session, factories.gift("here-0"))
        session.commit()

    runtime.jobs.enqueue(Job.POST_LEDGER)

    assert ref_counts(runtime.ledger, ["here-0"]) == {"here-0": 1}


def test_an_unreachable_redis_keeps_the_commit_and_logs_no_password(
    runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    # Port 1: nothing listens there, so the connection is refused at once.
    runtime.settings = replace(runtime.settings, redis_url="redis://:hunter2@127.0.0.1:1/0")
    runtime._jobs = None
    with caplog.at_level(logging.ERROR, logger="conservancy.background.jobs"):
        assert runtime.jobs.enqueue(Job.DELIVER) is False
    assert "could not queue deliver" in caplog.text
    assert "hunter2" not in caplog.text


def test_the_worker_command_without_redis_names_the_setting(settings: Settings) -> None:
    done = run_cli(settings, "worker", "--burst")

    assert done.returncode == 2
    assert done.stderr.strip() == "error: CONSERVANCY_REDIS_URL is required to run a worker"


def test_the_worker_command_runs_what_the_web_queued(runtime: Runtime, redis_url: str) -> None:
    rt = queued(runtime, redis_url)
    with rt.sessions() as session:
        factories.project(session)
        record(session, factories.gift("queued-0"))
        session.commit()
    assert rt.jobs.enqueue(Job.POST_LEDGER)

    done = subprocess.run(
        [str(CONSERVANCY), "worker", "--burst"],
        env={**settings_env(rt.settings), "CONSERVANCY_REDIS_URL": redis_url},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert queue_length(redis_url) == 0
    assert ref_counts(rt.ledger, ["queued-0"]) == {"queued-0": 1}


def test_background_annual_statements_without_redis_names_the_setting(
    settings: Settings,
) -> None:
    year = clock.today(settings.timezone).year - 1
    done = run_cli(settings, "receipts", "annual", "--year", str(year), "--background")

    assert done.returncode == 2
    assert done.stderr.strip() == "error: CONSERVANCY_REDIS_URL is required for --background"


@requires_weasyprint
def test_background_annual_statements_are_issued_and_mailed_by_the_worker(
    runtime: Runtime, redis_url: str
) -> None:
    rt = queued(with_project(runtime), redis_url)
    year = clock.today(rt.settings.timezone).year - 1
    for n in range(2):
        settled_gift(
            rt,
            email=f"d{n}@example.org",
            name=f"Donor {n}",
            at=datetime(year, 5, n + 1, tzinfo=UTC),
        )
    rt.jobs.enqueue(Job.DELIVER)  # the gifts' own receipts, queued as the web would
    work(rt, burst=True, sweep=False)
    mailed = len(_inbox(rt))
    env = {**settings_env(rt.settings), "CONSERVANCY_REDIS_URL": redis_url}

    done = subprocess.run(
        [str(CONSERVANCY), "receipts", "annual", "--year", str(year), "--background"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"queued the {year} statements for 'conservancy worker'"
    with rt.sessions() as session:
        assert session.scalars(select(AnnualStatement)).all() == []
    assert queue_length(redis_url) == 1

    work(rt, burst=True, sweep=False)

    with rt.sessions() as session:
        assert len(session.scalars(select(AnnualStatement)).all()) == 2
    assert len(_inbox(rt)) == mailed + 2


def test_a_worker_ending_does_not_wait_out_a_minute_long_read_of_its_commands(
    redis_url: str,
) -> None:
    """RQ's listener for commands reads Redis 60 s at a time and a worker ending waited for
    that read: `conservancy worker --burst` under load took a minute to stop."""
    worker = make_worker(connect(redis_url))
    worker.subscribe()
    listener = worker.pubsub_thread
    assert listener is not None
    # Not a timing assertion: 10 s is a bound far under RQ's 60 s read, far over ours.
    listener.stop(timeout=10)
    assert not listener.is_alive()
