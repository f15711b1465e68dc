"""A close of 2026 that is killed part-way.

    python -m tests.ledger.crashing_close STEP

Runs with the test's settings in the environment, on books already made ready
for the close (``tests.ledger.closing``). It closes 2026 as ``conservancy ledger
close --year 2026`` does on 1 March 2027, with the checkpoint hooks of
``conservancy.ledger.close`` and of the outbox (which posts the closing
entries) replaced, so that the process SIGKILLs itself the first time it
reaches STEP. If STEP is never reached it exits 3, so a step that does not
exist fails the test.
"""

from __future__ import annotations

import os
import signal
import sys

from conservancy.infra.config import Settings
from conservancy.ledger import close, outbox
from conservancy.runtime import Runtime
from tests.ledger.closing import TODAY


def main(argv: list[str]) -> int:
    (step,) = argv

    def checkpoint(name: str) -> None:
        if name == step:
            os.kill(os.getpid(), signal.SIGKILL)

    close._checkpoint = checkpoint  # type: ignore[assignment]
    outbox._checkpoint = checkpoint  # type: ignore[assignment]
    runtime = Runtime.from_settings(Settings.from_env())
    close.close_year(runtime.sessions, runtime.ledger, 2026, today=TODAY)
    print(f"{step} was never reached", file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
