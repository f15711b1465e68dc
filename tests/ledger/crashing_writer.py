"""A writer that is killed part-way through posting.

    python -m tests.ledger.crashing_writer STEP [--barrier DIR --name NAME] [REF=DATE ...]

Runs with the test's settings in the environment. Records a gift to Twisted for
each REF, dated DATE, in one database transaction and commits; then posts the
outbox as the application does (``Runtime.post_ledger``) with the outbox's
checkpoint hook replaced, so that the process SIGKILLs itself the first time it
reaches STEP. STEP is a checkpoint name of ``conservancy.ledger.outbox``, or
``after-commit`` to die after the commit without posting at all.

With no REF it records nothing and only posts, as ``conservancy ledger sync`` does.
If STEP is never reached it exits 3, so a step that does not exist fails the test.

With ``--barrier``, it stops at STEP (holding whatever it holds there: the books'
lock, a half-written batch), says it is ready, and dies when the test lets the
other processes at the barrier go: they start while it dies.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from datetime import date
from pathlib import Path

from conservancy.infra.config import Settings
from conservancy.ledger import outbox
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import wait_at_barrier


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("step")
    parser.add_argument("gifts", nargs="*", metavar="REF=DATE")
    parser.add_argument("--barrier", type=Path)
    parser.add_argument("--name", default="crasher")
    args = parser.parse_args(argv)
    step: str = args.step

    def die() -> None:
        if args.barrier is not None:
            wait_at_barrier(args.barrier, args.name)
        os.kill(os.getpid(), signal.SIGKILL)

    runtime = Runtime.from_settings(Settings.from_env())
    if args.gifts:
        with runtime.sessions() as session:
            for spec in args.gifts:
                ref, on = spec.split("=")
                outbox.record(session, factories.gift(ref, on=date.fromisoformat(on)))
            session.commit()
    if step == "after-commit":
        die()

    def checkpoint(name: str) -> None:
        if name == step:
            die()

    outbox._checkpoint = checkpoint  # type: ignore[assignment]
    runtime.post_ledger()
    print(f"{step} was never reached", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
