"""The sweep: work a lost job left waiting in the database is done within minutes,
once, by ``conservancy sweep`` or the worker's own sweep; younger work is left to its job."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import select, update

from conservancy.background.jobs import Sweeper
from conservancy.background.sweep import sweep
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger.check import check_books
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import pending_count, posted_refs, record
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.mail.outbox import queue
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import ref_counts, run_cli

LATER = timedelta(minutes=2)  # past the minute after which waiting work counts as lost
NOTHING_REMOVED = (
    "removed 0 donor sign-in links, 0 donor sessions, 0 staff links, 0 staff sessions, "
    "0 checkout attempts, 0 sign-in failures"
)


def _gift(rt: Runtime, ref: str) -> None:
    with rt.sessions() as session:
        record(session, factories.gift(ref))
        session.commit()


def _project(rt: Runtime) -> Runtime:
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    rt.post_ledger()
    return rt


def _mail(rt: Runtime, key: str) -> None:
    with rt.sessions() as session:
        queue(
            session,
            key=key,
            to_address="ada@example.org",
            to_name="Ada Lovelace",
            subject="Thank you",
            body="Thank you for your gift.",
        )
        session.commit()


def _backdate(rt: Runtime, by: timedelta) -> None:
    """Everything waiting was recorded ``by`` ago, as if its job had been lost then."""
    then = clock.now() - by
    with rt.sessions() as session:
        session.execute(
            update(LedgerOutbox).where(LedgerOutbox.posted_at.is_(None)).values(recorded_at=then)
        )
        session.execute(update(MailMessage).values(created_at=then))
        session.commit()


def _sent_files(rt: Runtime) -> list[str]:
    return sorted(p.name for p in rt.settings.outbox_dir.glob("*.eml"))


def _books_check(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        refs = posted_refs(session)
    return [p.message for p in check_books(rt.ledger, refs).problems]


def test_an_entry_pending_longer_than_a_minute_is_posted_and_the_books_check(
    runtime: Runtime,
) -> None:
    rt = _project(runtime)
    _gift(rt, "lost-1")

    result = sweep(rt, now=clock.now() + LATER)

    assert result.posted.posted == 1
    assert ref_counts(rt.ledger, ["lost-1"]) == {"lost-1": 1}
    with rt.sessions() as session:
        assert pending_count(session) == 0
    assert _books_check(rt) == []


def test_an_entry_younger_than_a_minute_is_left_for_its_own_job(runtime: Runtime) -> None:
    rt = _project(runtime)
    _gift(rt, "young-1")

    result = sweep(rt)

    assert result.posted.posted == 0
    assert ref_counts(rt.ledger, ["young-1"]) == {"young-1": 0}
    rt.post_ledger()  # what its job does
    assert ref_counts(rt.ledger, ["young-1"]) == {"young-1": 1}


def test_a_lost_entry_is_posted_with_the_younger_ones_behind_it_each_once(
    runtime: Runtime,
) -> None:
    rt = _project(runtime)
    _gift(rt, "old-1")
    _backdate(rt, LATER)
    _gift(rt, "new-1")

    assert sweep(rt).posted.posted == 2
    assert sweep(rt).posted.posted == 0
    rt.post_ledger()  # the younger entry's own job, arriving late, finds nothing

    assert ref_counts(rt.ledger, ["old-1", "new-1"]) == {"old-1": 1, "new-1": 1}
    assert _books_check(rt) == []


def test_mail_a_lost_job_left_pending_is_sent_once(runtime: Runtime) -> None:
    _mail(runtime, "thanks-1")
    assert sweep(runtime).delivered.sent == 0  # its job may still be on the way
    assert _sent_files(runtime) == []

    first = sweep(runtime, now=clock.now() + LATER)
    again = sweep(runtime, now=clock.now() + LATER)

    assert (first.delivered.sent, again.delivered.sent) == (1, 0)
    assert _sent_files(runtime) == ["thanks-1.eml"]
    with runtime.sessions() as session:
        [row] = session.scalars(select(MailMessage)).all()
        assert row.status is MailStatus.SENT
        assert row.attempts == 1


def test_a_message_stuck_mid_send_is_counted_and_not_sent_again(runtime: Runtime) -> None:
    _mail(runtime, "stuck-1")
    with runtime.sessions() as session:
        session.execute(
            update(MailMessage).values(
                status=MailStatus.SENDING,
                claimed_at=clock.now() - timedelta(hours=1),
                created_at=clock.now() - timedelta(hours=1),
                attempts=1,
            )
        )
        session.commit()

    result = sweep(runtime)

    assert result.stuck == 1
    assert result.delivered.sent == 0
    assert _sent_files(runtime) == []
    assert ", 1 stuck in 'sending';" in result.summary()


def test_the_sweep_command_prints_one_line_of_counts_and_is_harmless_twice(
    runtime: Runtime,
) -> None:
    rt = _project(runtime)
    _gift(rt, "cli-1")
    _mail(rt, "cli-thanks")
    _backdate(rt, timedelta(minutes=5))

    first = run_cli(rt.settings, "sweep")
    second = run_cli(rt.settings, "sweep")

    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        "posted 1 ledger entry, drew 0 documents, sent 1 message, 0 stuck in 'sending'; "
        + NOTHING_REMOVED
    ]
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines() == [
        "posted 0 ledger entries, drew 0 documents, sent 0 messages, 0 stuck in 'sending'; "
        + NOTHING_REMOVED
    ]
    assert ref_counts(rt.ledger, ["cli-1"]) == {"cli-1": 1}
    assert _sent_files(rt) == ["cli-thanks.eml"]
    assert _books_check(rt) == []


def test_the_sweep_command_without_books_says_so(settings: Settings) -> None:
    done = run_cli(settings, "sweep")

    assert done.returncode == 1
    assert done.stderr.strip() == "error: no books yet: run 'conservancy init'"


def test_the_worker_sweeps_every_few_minutes_beside_its_jobs(runtime: Runtime) -> None:
    rt = _project(runtime)
    sweeper = Sweeper(rt, timedelta(milliseconds=50))
    sweeper.start()
    try:
        _gift(rt, "timer-1")
        _mail(rt, "timer-thanks")
        _backdate(rt, LATER)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _sent_files(rt):
            time.sleep(0.05)
    finally:
        sweeper.stop()

    assert ref_counts(rt.ledger, ["timer-1"]) == {"timer-1": 1}
    assert _sent_files(rt) == ["timer-thanks.eml"]
