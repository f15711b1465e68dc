"""Several processes posting to the same books at once neither lose nor double
an entry, and the books stay valid.

Each test starts real processes (``tests/ledger/concurrent_writer.py`` and
``crashing_writer.py``), holds them at a barrier until all are ready, then lets
them go together.
"""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conservancy.infra.config import Settings
from conservancy.ledger import accounts
from conservancy.ledger.outbox import pending_count
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import (
    finish,
    ref_counts,
    release_barrier,
    run_cli,
    start_helper,
)

pytestmark = pytest.mark.slow

WRITERS = 4
GIFTS_EACH = 5
SYNCERS = 2
SYNC_ROUNDS = 3
NET_GIFT_CENTS = 9680  # 100.00 less the 3.20 card fee


class Crowd:
    """The processes a test starts; any still running when it ends are killed."""

    def __init__(self, settings: Settings, barrier: Path) -> None:
        self.settings = settings
        self.barrier = barrier
        self.processes: dict[str, subprocess.Popen[str]] = {}

    def start(self, name: str, module: str, *args: str) -> None:
        self.processes[name] = start_helper(self.settings, module, *args)

    def writer(self, name: str, fund: str, *flags: str) -> None:
        self.start(
            name,
            "concurrent_writer",
            str(self.barrier),
            name,
            "post",
            fund,
            str(GIFTS_EACH),
            *flags,
        )

    def syncer(self, name: str, *flags: str) -> None:
        self.start(
            name, "concurrent_writer", str(self.barrier), name, "sync", str(SYNC_ROUNDS), *flags
        )

    def go(self) -> dict[str, tuple[int, str, str]]:
        release_barrier(self.barrier, self.processes, self.processes.values())
        return {name: finish(process) for name, process in self.processes.items()}

    def kill_the_rest(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.communicate()


@pytest.fixture
def crowd(settings: Settings, tmp_path: Path) -> Iterator[Crowd]:
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    crowd = Crowd(settings, barrier)
    yield crowd
    crowd.kill_the_rest()


def writer_refs(names: list[str]) -> list[str]:
    return [f"{name}-{i}" for name in names for i in range(GIFTS_EACH)]


def fund_for(writer: str) -> str:
    return f"Fund{writer.upper()}"


def assert_books_hold_exactly(rt: Runtime, settings: Settings, refs: list[str]) -> None:
    assert ref_counts(rt.ledger, refs) == dict.fromkeys(refs, 1)
    checked = run_cli(settings, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with rt.sessions() as session:
        assert pending_count(session) == 0
    assert not rt.ledger.journal.exists()


def test_processes_posting_at_once_write_every_entry_exactly_once(
    runtime: Runtime, settings: Settings, crowd: Crowd
) -> None:
    writers = [f"w{i}" for i in range(WRITERS)]
    for name in writers:
        crowd.writer(name, fund_for(name))
    for i in range(SYNCERS):
        crowd.syncer(f"s{i}")

    results = crowd.go()

    for name, (code, _, err) in results.items():
        assert code == 0, f"{name} exited {code}: {err}"
    opened = [
        f"open:{account}" for name in writers for account in accounts.fund_accounts(fund_for(name))
    ]
    assert_books_hold_exactly(runtime, settings, writer_refs(writers) + opened)
    books = runtime.books.load()
    for name in writers:
        balance = books.fund_balance(fund_for(name))
        assert balance.minor == GIFTS_EACH * NET_GIFT_CENTS, name
    # Nothing was left for a later sync.
    synced = run_cli(settings, "ledger", "sync")
    assert synced.returncode == 0, synced.stderr
    assert "posted 0 entries" in synced.stdout


def test_writer_dying_mid_append_while_others_post_loses_and_doubles_nothing(
    runtime: Runtime, settings: Settings, crowd: Crowd
) -> None:
    with runtime.sessions() as session:
        factories.project(session)
        session.commit()
    runtime.post_ledger()
    crashed = ["crash-1", "crash-2", "crash-3"]
    # Holds the books' lock with one entry of its batch written when the others
    # start, and dies as they do; they queue for the lock it holds.
    crowd.start(
        "crasher",
        "crashing_writer",
        "wrote-entry",
        *(f"{ref}=2026-03-0{i}" for i, ref in enumerate(crashed, start=1)),
        "--barrier",
        str(crowd.barrier),
        "--name",
        "crasher",
    )
    writers = [f"w{i}" for i in range(WRITERS - 1)]
    for name in writers:
        crowd.writer(name, fund_for(name))
    crowd.syncer("s0")

    results = crowd.go()

    code, _, err = results.pop("crasher")
    assert code == -signal.SIGKILL, f"the crasher exited {code}: {err}"
    for name, (code, _, err) in results.items():
        assert code == 0, f"{name} exited {code}: {err}"
    # The processes that came after it repaired its half-written batch: no sync needed.
    assert_books_hold_exactly(runtime, settings, writer_refs(writers) + crashed)
    assert runtime.books.load().fund_balance("Twisted").minor == 3 * NET_GIFT_CENTS


@pytest.mark.postgresql
def test_on_postgresql_the_database_lock_alone_keeps_writers_to_one_at_a_time(
    runtime: Runtime, settings: Settings, crowd: Crowd
) -> None:
    """As on hosts sharing the books over a network filesystem that ignores flock."""
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the writers' database lock is PostgreSQL's (SQLite is one host's file)")
    writers = [f"w{i}" for i in range(WRITERS)]
    for name in writers:
        crowd.writer(name, fund_for(name), "--no-flock")
    for i in range(SYNCERS):
        crowd.syncer(f"s{i}", "--no-flock")

    results = crowd.go()

    for name, (code, _, err) in results.items():
        assert code == 0, f"{name} exited {code}: {err}"
    opened = [
        f"open:{account}" for name in writers for account in accounts.fund_accounts(fund_for(name))
    ]
    assert_books_hold_exactly(runtime, settings, writer_refs(writers) + opened)
