"""A process catching up the transaction index in a loop, for the exactly-once test.

    python -m tests.ledger.index_reader BARRIER NAME EXPECTED

Waits at the barrier, then catches up until the test says it is done and the
index holds the EXPECTED ``race-*`` gifts (or time runs out).
"""

from __future__ import annotations

import sys
import time
from datetime import date
from pathlib import Path

from conservancy.infra.config import Settings
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.index import TransactionIndex
from tests.ledger.processes import TIMEOUT, wait_at_barrier


def main(barrier: Path, name: str, expected: int) -> int:
    index = TransactionIndex(LedgerFiles(Settings.from_env().ledger_dir))
    index.catch_up()  # opened before the start, like a worker already serving
    wait_at_barrier(barrier, name)
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        index.catch_up()
        raced = [
            t
            for t in index.transactions_between("Twisted", date(2026, 4, 1), date(2026, 4, 30))
            if t.ref and t.ref.startswith("race-")
        ]
        if (barrier / "done").exists() and len(raced) >= expected:
            print(f"{name}: {len(raced)}")
            return 0
    print(f"{name}: timed out", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
