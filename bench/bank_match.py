"""Matching a big bank statement against the books' entries on the account.

    .venv/bin/python -m bench.bank_match
    .venv/bin/python -m bench.bank_match --lines 20000 --unmatched 1000

Synthetic entries (payments of random amounts over a year) and a statement holding each
of them a few days later, plus ``--unmatched`` lines of amounts the books do not hold,
which make the matcher look for sets of entries adding up to them (a deposit of several
cheques), its most expensive search. Times ``bank.matching.match`` alone: no database,
no files. Issue 22 names no budget; the figure says an import of a busy account's
statement is a moment, not minutes.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date, timedelta

from conservancy.bank import matching
from conservancy.bank.matching import Line
from conservancy.ledger.index import BankEntry
from conservancy.money import Money


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=5_000)
    parser.add_argument("--unmatched", type=int, default=300)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    start = date(2026, 1, 1)
    entries, lines = [], []
    for n in range(args.lines):
        day = start + timedelta(days=rng.randrange(360))
        amount = Money.from_minor(rng.randrange(100, 500_000), "USD")
        entries.append(
            BankEntry(n, day, "Assets:Bank:Checking", "*", None, "x", f"e-{n}", "f", n, amount)
        )
        lines.append(Line(n, day + timedelta(days=rng.randrange(4)), amount, "PAYMENT"))
    for n in range(args.lines, args.lines + args.unmatched):
        day = start + timedelta(days=rng.randrange(360))
        lines.append(Line(n, day, Money.from_minor(rng.randrange(100, 500_000), "USD"), "?"))
    began = time.perf_counter()
    found = matching.match(lines, entries, set())
    took = time.perf_counter() - began
    print(
        f"{len(lines)} lines against {len(entries)} entries: {len(found)} matched "
        f"in {took:.2f} s ({took / len(lines) * 1e6:.0f} us a line)"
    )


if __name__ == "__main__":
    main()
