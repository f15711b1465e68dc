"""What closing years saves the day-to-day loads (issue 6).

    .venv/bin/python -m bench.year_close                        # 100,000 transactions, 6 years
    .venv/bin/python -m bench.year_close --transactions 1000000 --dir /tmp/close-1m

Synthetic books over the last ``--years`` calendar years (the current one
included), written straight to the app files in the writer's text with
``bench.ledger_reader``'s gift and payout blocks: gifts over 50 funds, each
with its sponsorship-fee entry, weekly payouts. The bookkeeper's hand entries
are in files included from main.beancount: ``staff-<year>.beancount`` for each
past year (a monthly bank fee; the first year's also the opening balances) and
``staff.beancount`` (the same fee in the current year). Then, each measurement
in a fresh interpreter so that its peak memory is its own:

* **before**: Beancount's ``loader.load_file`` of main.beancount, which is the
  whole history, and ``snapshot.build`` (what a rebuild of the day-to-day books
  runs: the loader, our pass, the transaction index);
* **close**: ``close_year`` for every past year, oldest first, as ``conservancy
  ledger close --year`` runs it on a migrated SQLite database (each is a full
  load of the history, the closing entries through the outbox, the switch, and
  the day-to-day snapshot rebuilt); the time of each. Before each, the staff's
  part, as a refused close asks: that year's file moved into ``closed/`` and
  its include taken out of main.beancount;
* **after**: the same two loads of main.beancount, now the open year and its
  opening balances; and of history.beancount, the full history that reports
  over closed years read (``conservancy statement``/``report year-end``);
* each fund's balance from the day-to-day snapshot after the closes must be
  what the whole history gave before them.

Figures go to ``bench/results/year_close-<N>.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.ledger_reader import (
    COMMON_GIFTS,
    COMMON_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    PROJECTS,
    RESULTS,
    TITLE,
    gift_blocks,
    machine,
    payout_block,
    peak_rss_mib,
)

REPO = Path(__file__).resolve().parent.parent
PHASES = ["before", "close", "after", "history"]
STAFF_FILE = "staff.beancount"


# --- synthetic books ---------------------------------------------------------------------


def _opens(first: date) -> str:
    from conservancy.ledger import accounts
    from conservancy.ledger.entries import Open
    from conservancy.ledger.files import APP_FILE_HEADER
    from conservancy.ledger.writer import render

    names = accounts.sponsor_accounts()
    for fund, _, _ in PROJECTS:
        names += accounts.fund_accounts(fund)
    return APP_FILE_HEADER + "".join(
        render(Open(ref=f"open:{name}", date=first, account=name)) for name in names
    )


def _bank_fees(year: int) -> str:
    return "".join(
        f'{year}-{month:02d}-28 * "First Bank" "Monthly account fee"\n'
        "  Expenses:General:Bank-Fees    15.00 USD\n"
        "  Assets:Bank:Checking         -15.00 USD\n\n"
        for month in range(1, 13)
    )


def generate(root: Path, n: int, years: list[int], seed: int = 1) -> dict[str, Any]:
    """Books of exactly ``n`` app transactions spread evenly over ``years``."""
    from conservancy.ledger.files import APP_FILE_HEADER, LedgerFiles, main_file_text

    started = time.perf_counter()
    files = LedgerFiles(root)
    (root / "app").mkdir(parents=True, exist_ok=True)
    (root / "closed").mkdir(exist_ok=True)
    first, last = date(years[0], 1, 1), date(years[-1], 12, 31)
    includes = [STAFF_FILE, *(_staff_file(year) for year in years[:-1])]
    files.main.write_text(
        main_file_text(TITLE) + "".join(f'include "{name}"\n' for name in includes), "utf-8"
    )
    (root / STAFF_FILE).write_text(
        f'{first} open Expenses:General:Bank-Fees\n  function: "management"\n\n'
        + _bank_fees(years[-1]),
        "utf-8",
    )
    for year in years[:-1]:
        opening = (
            f'{first} * "Opening balances"\n'
            "  Assets:Bank:Checking         250000.00 USD\n"
            "  Equity:Net-Assets:General   -200000.00 USD\n"
            "  Equity:Net-Assets:Twisted    -50000.00 USD\n\n"
        )
        text = (opening if year == years[0] else "") + _bank_fees(year)
        (root / _staff_file(year)).write_text(text, "utf-8")
    files.accounts.write_text(_opens(first), "utf-8")

    days = (last - first).days + 1
    n_payouts = min(days // 7, max(1, n // 100))
    n_gifts = (n - n_payouts) // 2
    n_payouts = n - 2 * n_gifts
    rng = random.Random(seed)
    fund_pool = [i for i in range(len(PROJECTS)) for _ in range(max(1, 1000 // (i + 1)))]
    amount_pool = [c for c, w in zip(COMMON_GIFTS, COMMON_WEIGHTS, strict=True) for _ in range(w)]
    out: dict[int, list[str]] = {year: [APP_FILE_HEADER] for year in years}
    counts = dict.fromkeys(years, 0)
    stripe = paid_out = 0
    for k in range(n_gifts):
        day = first + timedelta(days=k * days // n_gifts)
        while paid_out < n_payouts and (paid_out + 1) * days // n_payouts - 1 < (day - first).days:
            on = first + timedelta(days=(paid_out + 1) * days // n_payouts - 1)
            out[on.year].append(payout_block(on.isoformat(), f"po_{paid_out:08d}", stripe))
            counts[on.year] += 1
            stripe, paid_out = 0, paid_out + 1
        fund, project, bp = PROJECTS[fund_pool[rng.randrange(len(fund_pool))]]
        gross = amount_pool[rng.randrange(len(amount_pool))]
        donor = rng.randrange(max(100, n_gifts // 4))
        payee = f"{FIRST_NAMES[donor % len(FIRST_NAMES)]} {LAST_NAMES[donor % len(LAST_NAMES)]}"
        text, net = gift_blocks(
            day.isoformat(), f"txn_{k:010d}", fund, project, bp, gross, payee, donor,
            None, recurring=donor % 3 == 0, check=k % 5000 == 0,
        )  # fmt: skip
        stripe += net
        out[day.year].append(text)
        counts[day.year] += 2  # the gift and its sponsorship fee
    while paid_out < n_payouts:
        on = first + timedelta(days=(paid_out + 1) * days // n_payouts - 1)
        out[on.year].append(payout_block(on.isoformat(), f"po_{paid_out:08d}", stripe))
        counts[on.year] += 1
        stripe, paid_out = 0, paid_out + 1
    for year, texts in out.items():
        files.year_file(year).write_text("".join(texts), "utf-8")
    per_year = {str(year): count for year, count in counts.items()}
    assert sum(per_year.values()) == n
    return {
        "transactions": n,
        "years": years,
        "per_year": per_year,
        "funds": len(PROJECTS),
        "app_bytes": sum(p.stat().st_size for p in files.app_files()),
        "seconds": time.perf_counter() - started,
    }


# --- measuring, each phase in its own interpreter ---------------------------------------


def _staff_file(year: int) -> str:
    return f"staff-{year}.beancount"


def move_to_closed(root: Path, year: int) -> None:
    """What a refused close asks of the staff: the year's own entries into closed/."""
    name = _staff_file(year)
    (root / name).replace(root / "closed" / name)
    main = root / "main.beancount"
    main.write_text(main.read_text("utf-8").replace(f'include "{name}"\n', ""), "utf-8")


def _timed_loads(root: Path, *, history: bool) -> dict[str, Any]:
    from beancount import loader

    from conservancy.ledger import snapshot
    from conservancy.ledger.files import LedgerFiles

    files = LedgerFiles(root, history=history)
    out: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    t = time.perf_counter()
    entries, errors, _options = loader.load_file(str(files.main))
    out["load_s"] = time.perf_counter() - t
    out["entries"] = len(entries)
    out["errors"] = [str(e.message) for e in errors[:3]]
    del entries
    t = time.perf_counter()
    built = snapshot.build(files)
    out["build_s"] = time.perf_counter() - t
    snapshot.save(files, built)
    out["transactions"] = built.transactions
    out["funds"] = {
        fund: str(built.fund_balance(fund).amount)
        for fund in ["General", *(p[0] for p in PROJECTS)]
    }
    out["peak_rss_mib"] = peak_rss_mib()
    out["loadavg_after"] = os.getloadavg()
    return out


def phase_close(root: Path, years: list[int]) -> dict[str, Any]:
    from conservancy.infra.db import make_engine, make_sessions, migrate
    from conservancy.kernel import clock
    from conservancy.ledger.close import close_year
    from conservancy.ledger.files import LedgerFiles

    url = f"sqlite:///{root / 'bench.db'}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    files = LedgerFiles(root)
    today = clock.today(clock_zone())
    out: dict[str, Any] = {"loadavg_before": os.getloadavg(), "closes": {}}
    for year in years[:-1]:
        move_to_closed(root, year)
        t = time.perf_counter()
        result = close_year(sessions, files, year, today=today)
        out["closes"][str(year)] = {
            "seconds": time.perf_counter() - t,
            "closing_entries": result.closing_entries,
            "carried": result.carried,
        }
        print(f"   closed {year} in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    out["peak_rss_mib"] = peak_rss_mib()
    out["loadavg_after"] = os.getloadavg()
    engine.dispose()
    return out


def clock_zone() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("America/New_York")


def run_phase(phase: str, root: Path, years: list[int]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = Path(tmp.name)
    cmd = [sys.executable, "-m", "bench.year_close", "--phase", phase, "--dir", str(root)]
    cmd += ["--phase-out", str(result_path), "--years", ",".join(map(str, years))]
    print(f"-- {phase} ...", file=sys.stderr, flush=True)
    subprocess.run(cmd, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(result_path.read_text("utf-8"))
    result_path.unlink()
    return result


def table(results: dict[str, Any]) -> str:
    books, before, after, history = (results[k] for k in ("books", "before", "after", "history"))
    closes, closes_rss = results["close"]["closes"], results["close"]["peak_rss_mib"]
    open_year = str(books["years"][-1])
    share = books["per_year"][open_year] / sum(books["per_year"].values())
    rows = [
        (
            "books",
            f"{books['transactions']:,} app transactions over {len(books['years'])} years "
            f"({books['years'][0]}-{books['years'][-1]}), {books['funds']} funds, "
            f"{books['app_bytes'] / 2**20:.0f} MiB; the open year {open_year}: "
            f"{books['per_year'][open_year]:,} ({share:.0%})",
        ),
        ("full history, Beancount load (main.beancount before any close)", _s(before["load_s"])),
        ("full history, snapshot build (loader + our pass + index)", _s(before["build_s"])),
        ("**open year, Beancount load (main.beancount after closing)**", _s(after["load_s"])),
        ("open year, snapshot build", _s(after["build_s"])),
        (
            "**open year / full history**: load, build",
            f"**{after['load_s'] / before['load_s']:.1%}**, "
            f"{after['build_s'] / before['build_s']:.1%}",
        ),
        ("transactions the builds read: before / after", _n(before, after)),
        ("peak RSS of the build: before / after", _mib(before, after)),
        ("history.beancount after the closes: load / build", _pair(history)),
        (
            "each close (history loaded, entries, switch, both snapshots built)",
            ", ".join(f"{y}: {c['seconds']:.1f} s" for y, c in closes.items()),
        ),
        ("peak RSS of the closes (one process, all of them)", f"{closes_rss:.0f} MiB"),
        ("fund balances, day-to-day after = whole history before", str(results["same_funds"])),
    ]
    lines = ["| figure | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)


def _s(seconds: float) -> str:
    return f"{seconds:.2f} s"


def _n(before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"{before['transactions']:,} / {after['transactions']:,}"


def _mib(before: dict[str, Any], after: dict[str, Any]) -> str:
    return f"{before['peak_rss_mib']:.0f} / {after['peak_rss_mib']:.0f} MiB"


def _pair(run: dict[str, Any]) -> str:
    return f"{run['load_s']:.2f} s / {run['build_s']:.2f} s ({run['transactions']:,} transactions)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year_close", description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--years", help="comma-separated (default: the last 6, this one included)")
    parser.add_argument("--dir", type=Path, help="where the books go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.years:
        years = [int(y) for y in args.years.split(",")]
    else:
        from conservancy.kernel import clock

        this = clock.today(clock_zone()).year
        years = list(range(this - 5, this + 1))

    if args.phase:
        if args.phase == "close":
            result = phase_close(args.dir, years)
        else:
            result = _timed_loads(args.dir, history=args.phase == "history")
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0

    temp = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="bench-close-")) if temp else args.dir
    if root.exists() and any(root.iterdir()):
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine(), "command": sys.argv}
    try:
        print(f"-- generating {args.transactions:,} transactions in {root}", file=sys.stderr)
        results["books"] = generate(root, args.transactions, years)
        for phase in PHASES:
            results[phase] = run_phase(phase, root, years)
        results["same_funds"] = results["before"]["funds"] == results["after"]["funds"]
        results["machine"]["loadavg_at_end"] = os.getloadavg()
        RESULTS.mkdir(parents=True, exist_ok=True)
        out = RESULTS / f"year_close-{args.transactions}.json"
        out.write_text(json.dumps(results, indent=2), "utf-8")
        print(table(results))
        print(f"\n(written to {out})")
    finally:
        if temp and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    return 0 if results.get("same_funds") else 1


if __name__ == "__main__":
    sys.exit(main())
