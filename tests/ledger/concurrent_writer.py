"""One of several processes posting to the same books at once.

    python -m tests.ledger.concurrent_writer BARRIER NAME post FUND COUNT
    python -m tests.ledger.concurrent_writer BARRIER NAME sync ROUNDS

Runs with the test's settings in the environment and waits at BARRIER until the
test lets every process go together.

``post`` adds a member project whose fund is FUND (its account openings go to
the accounts file), then records COUNT gifts to it, refs ``NAME-0`` ...,
committing and posting after each, as a web worker does after each webhook.

``sync`` runs the real ``conservancy ledger sync`` command in this process
ROUNDS times.

A trailing ``--no-flock`` turns the books' flock into a no-op in this process,
as on hosts whose network filesystem does not share flocks: only the database's
writer lock is left to serialise the writers.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from conservancy.cli import cli
from conservancy.cli.ledger import ledger
from conservancy.infra.config import Settings
from conservancy.ledger import outbox
from conservancy.ledger.files import LedgerFiles
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import wait_at_barrier


def post(barrier: Path, name: str, fund: str, count: int) -> None:
    runtime = Runtime.from_settings(Settings.from_env())
    wait_at_barrier(barrier, name)
    with runtime.sessions() as session:
        factories.project(session, slug=fund.lower(), name=fund)
        session.commit()
    runtime.post_ledger()
    for i in range(count):
        with runtime.sessions() as session:
            outbox.record(session, factories.gift(f"{name}-{i}", fund=fund))
            session.commit()
        runtime.post_ledger()
    runtime.close()


def sync(barrier: Path, name: str, rounds: int) -> None:
    cli.add_command(ledger)
    wait_at_barrier(barrier, name)
    for _ in range(rounds):
        # Not standalone: a failure returns its exit code instead of ending the process.
        code = cli.main(args=["ledger", "sync"], prog_name="conservancy", standalone_mode=False)
        if code:
            raise SystemExit(f"{name}: conservancy ledger sync exited {code}")


@contextmanager
def _no_flock(_files: LedgerFiles, *, shared: bool = False) -> Iterator[None]:
    yield


def main(argv: list[str]) -> int:
    if "--no-flock" in argv:
        argv = [a for a in argv if a != "--no-flock"]
        LedgerFiles.lock = _no_flock  # type: ignore[method-assign,assignment]
    barrier, name, mode, *rest = argv
    if mode == "post":
        post(Path(barrier), name, rest[0], int(rest[1]))
    elif mode == "sync":
        sync(Path(barrier), name, int(rest[0]))
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
