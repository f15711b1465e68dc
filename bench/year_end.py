"""The sponsor's year-end package on big books (issue 7), and a year close on the same books.

    .venv/bin/python -m bench.year_end --transactions 100000
    .venv/bin/python -m bench.year_end --transactions 1000000 --dir /tmp/year-end-1m  # ~20 min
    .venv/bin/python -m bench.year_end --transactions 1000000 --no-close   # the package only

The books are ``bench.ledger_reader``'s synthetic books (its ``generate``: gifts
over 50 funds settled at Stripe, each with its sponsorship-fee entry, weekly
payouts, over 2024 and 2025), with the bookkeeper's file split by year as a
close asks (``staff-2024.beancount`` and ``staff.beancount``; the same
entries). The package is made for 2025, the last full year. Each step runs in a
fresh interpreter, so that its peak RSS (VmHWM, or ``wait4`` for a child) is its
own:

snapshot  ``python -m conservancy.ledger.rebuild LEDGER_DIR``: the snapshot and
          the transaction index, which the package reads (``report year-end``
          builds them itself when they are absent or stale: ``Books.ready``).
seed      a migrated SQLite database that agrees with the books, as the app's
          would: the sponsor; the 50 projects (their Open entries marked posted:
          the books already open them); one donor per ``entity`` the books name
          (the entity is the donor's ref), with a name and an address; donations
          (a donor in three gives monthly: one donation per donor and project);
          one gift per gift entry (its ref, date, fund and amount); the receipt
          each gift entry names. Read from the index, inserted in bulk; not timed.
report    ``conservancy report year-end --year 2025 --out DIR``, the command, in a
          child (``--repeat`` times): wall time, peak RSS, exit status. PASS when
          it exits 0 ("every total ties to the books to the cent"), and every row
          of tie-out.csv says yes, and the eight files are there.
parts     the same in one interpreter, timed by part: the runtime and the saved
          snapshot (``covering`` + ``Books.ready``), ``year_end`` (the index read,
          the database's donors, receipts and settled gifts), the CSVs, the PDF.
close     (unless ``--no-close``) ``conservancy ledger close --year 2024`` on the
          same books and database, in a child, after the staff's part (2024's
          file moved into closed/); then ``report year-end`` for 2025 again (the
          day-to-day books, now the open year and its opening balances) and for
          2024 (a closed year: the full history's books, whose snapshot the close
          saved). Both must tie out, and give the same figures as before the close.

Figures go to ``bench/results/year_end-<N>.json`` and are printed as a table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from datetime import time as dtime
from pathlib import Path
from typing import Any

from bench.ledger_reader import (
    FIRST_NAMES,
    LAST_NAMES,
    OPENED_ON,
    PROJECTS,
    RESULTS,
    STAFF_FILE,
    YEARS,
    generate,
    machine,
    peak_rss_mib,
    phase_in_child,
    rss_mib,
    stripe_fee,
)
from bench.year_close import move_to_closed

REPO = Path(__file__).resolve().parent.parent
YEAR = YEARS[-1]  # the last full year of the synthetic books
SECRET_KEY = "bench-year-end-secret-key-0123456789"
PACKAGE_FILES = 7  # six CSVs and the PDF
BATCH = 20_000


def slug_of(fund: str) -> str:
    return fund.lower()


# ---------------------------------------------------------------------------
# the books: ledger_reader's, the staff's file split by year


def split_staff_file(root: Path) -> None:
    """The bookkeeper's entries of the first year into their own file, as a close asks;
    the ``open`` directives stay in staff.beancount (the open year uses the accounts)."""
    text = (root / STAFF_FILE).read_text("utf-8")
    head, *blocks = re.split(r"\n(?=\d{4}-\d{2}-\d{2} \*)", text)
    first = str(YEARS[0])
    early = [b for b in blocks if b.startswith(first)]
    late = [b for b in blocks if not b.startswith(first)]
    name = f"staff-{first}.beancount"
    (root / name).write_text("".join(b.rstrip("\n") + "\n\n" for b in early), "utf-8")
    (root / STAFF_FILE).write_text(
        head.rstrip("\n") + "\n\n" + "".join(b.rstrip("\n") + "\n\n" for b in late), "utf-8"
    )
    main = root / "main.beancount"
    main.write_text(main.read_text("utf-8") + f'include "{name}"\n', "utf-8")
    (root / "closed").mkdir(exist_ok=True)


# ---------------------------------------------------------------------------
# seed: a database that agrees with the books


def _donor_name(n: int) -> str:
    first = FIRST_NAMES[n % len(FIRST_NAMES)]
    last = LAST_NAMES[(n // len(FIRST_NAMES)) % len(LAST_NAMES)]
    return f"{first} {last}"


def phase_seed(root: Path, url: str) -> dict[str, Any]:
    from sqlalchemy import insert, update

    from conservancy.donations.models import Donation, Donor, Gift
    from conservancy.infra.db import make_engine, make_sessions, migrate
    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles
    from conservancy.ledger.models import LedgerOutbox
    from conservancy.projects.service import add_project, set_up_sponsor
    from conservancy.receipts.models import Receipt
    from conservancy.reports.year_end import is_contribution

    started = time.perf_counter()
    migrate(url)
    engine = make_engine(url)
    books = Books(LedgerFiles(root))
    books.ready()
    counts = {"donors": 0, "donations": 0, "monthly_donations": 0, "gifts": 0, "receipts": 0}
    by_year: dict[str, int] = {}
    with make_sessions(engine)() as session:
        set_up_sponsor(
            session,
            legal_name="Bench Sponsor, Inc.",
            ein="12-3456789",
            address="137 Montague Street, Suite 380\nBrooklyn, NY 11201",
            time_zone="America/New_York",
            books_open_on=OPENED_ON,
        )
        project_of: dict[str, tuple[int, int]] = {}
        for fund, name, bp in PROJECTS:
            project = add_project(
                session, slug=slug_of(fund), name=name, fund=fund, fee_rate_bp=bp,
                opened_on=OPENED_ON,
            )  # fmt: skip
            project_of[fund] = (project.id, bp)
        # The synthetic books open every one of these accounts with the same refs.
        session.execute(update(LedgerOutbox).values(posted_at=datetime.now(UTC)))
        session.commit()

        donors: dict[str, int] = {}
        monthly: dict[tuple[int, str], int] = {}
        rows: dict[str, list[dict[str, Any]]] = {"donors": [], "donations": [], "gifts": []}
        receipts: list[dict[str, Any]] = []

        def flush(force: bool = False) -> None:
            if not force and len(rows["gifts"]) < BATCH:
                return
            for model, key in ((Donor, "donors"), (Donation, "donations"), (Gift, "gifts")):
                if rows[key]:
                    session.execute(insert(model), rows[key])
                    rows[key].clear()
            if receipts:  # after the gifts they name
                session.execute(insert(Receipt), receipts)
                receipts.clear()

        created = datetime(YEARS[0], 1, 1, tzinfo=UTC)
        with books.index.read() as view:
            entries = view.entries_posting_to(
                is_contribution, date(YEARS[0], 1, 1), date(YEARS[-1], 12, 31)
            )
            for entry in entries:
                if entry.entity is None or entry.gift is not None or entry.ref is None:
                    continue  # a hand-written cheque names no donor: not a gift in the database
                ((fund, currency), minor), *more = entry.amounts.items()
                assert not more, entry
                assert minor < 0, entry
                gross = -minor
                number = int(entry.entity.removeprefix("donor:"))
                donor_id = donors.get(entry.entity)
                if donor_id is None:
                    donor_id = donors[entry.entity] = len(donors) + 1
                    rows["donors"].append(
                        {
                            "id": donor_id,
                            "ref": entry.entity,
                            "name": _donor_name(number),
                            "email": f"donor{number}@example.org",
                            "address": f"{number} Main Street\nPortland, ME 04101",
                            "created_at": created,
                        }
                    )
                project_id, bp = project_of[fund]
                donation_id = monthly.get((donor_id, fund)) if number % 3 == 0 else None
                if donation_id is None:
                    donation_id = counts["donations"] = counts["donations"] + 1
                    rows["donations"].append(
                        {
                            "id": donation_id,
                            "project_id": project_id,
                            "donor_id": donor_id,
                            "amount_minor": gross,
                            "currency": currency,
                            "frequency": "monthly" if number % 3 == 0 else "once",
                            "visibility": "anonymous" if number % 10 == 0 else "public",
                            "status": "paid",
                            "cover_fees": False,
                            "extra_general_minor": 0,
                            "created_at": created,
                        }
                    )
                    if number % 3 == 0:
                        monthly[(donor_id, fund)] = donation_id
                        counts["monthly_donations"] += 1
                gift_id = counts["gifts"] = counts["gifts"] + 1
                at = datetime.combine(entry.date, dtime(15), tzinfo=UTC)
                rows["gifts"].append(
                    {
                        "id": gift_id,
                        "donation_id": donation_id,
                        "ref": entry.ref,
                        "charge_id": f"ch_bench{gift_id:09d}",
                        "payment_intent_id": f"pi_bench{gift_id:09d}",
                        "invoice_id": None,
                        "balance_transaction_id": entry.stripe_id,
                        "currency": currency,
                        "project_minor": gross,
                        "general_minor": 0,
                        "fee_minor": stripe_fee(gross),
                        "fee_rate_bp": bp,
                        "fund": fund,
                        "reversed_minor": 0,
                        "refunded_minor": 0,
                        "refund_requests": 0,
                        "settled_at": at,
                        "settled_on": entry.date,
                        "payment_method": "Card (Visa)",
                    }
                )
                year = str(entry.date.year)
                by_year[year] = by_year.get(year, 0) + 1
                if entry.receipt:
                    _r, receipt_year, sequence = entry.receipt.split("-")
                    counts["receipts"] += 1
                    receipts.append(
                        {
                            "id": counts["receipts"],
                            "number": entry.receipt,
                            "year": int(receipt_year),
                            "sequence": int(sequence),
                            "kind": "receipt",
                            "gift_id": gift_id,
                            "amount_minor": gross,
                            "deductible_minor": gross,
                            "currency": currency,
                            "issued_at": at,
                            "issued_on": entry.date,
                        }
                    )
                flush()
        flush(force=True)
        session.commit()
    engine.dispose()
    counts["donors"] = len(donors)
    return {
        **counts,
        "gifts_by_year": by_year,
        "seed_s": time.perf_counter() - started,
        "db_bytes": Path(url.removeprefix("sqlite:///")).stat().st_size,
        "peak_rss_mib": peak_rss_mib(),
    }


# ---------------------------------------------------------------------------
# the command, in a child


def app_env(root: Path, url: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(
        CONSERVANCY_ENV="production",
        CONSERVANCY_DATABASE_URL=url,
        CONSERVANCY_LEDGER_DIR=str(root),
        CONSERVANCY_RECEIPTS_DIR=str(work / "receipts"),
        CONSERVANCY_INSTANCE_DIR=str(work / "instance"),
        CONSERVANCY_SECRET_KEY=SECRET_KEY,
    )
    return env


def run_measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """A child's wall time, peak RSS (``wait4``: its VmHWM), CPU, exit status and output."""
    load = os.getloadavg()
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err)
        _pid, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    return {
        "command": cmd,
        "exit": os.waitstatus_to_exitcode(status),
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "stdout": stdout[-4000:],
        "stderr": stderr[-4000:],
        "loadavg_before": load,
        "loadavg_after": os.getloadavg(),
    }


def conservancy(*args: str) -> list[str]:
    return [str(Path(sys.executable).parent / "conservancy"), *args]


def verify(run: dict[str, Any], folder: Path) -> dict[str, Any]:
    """PASS: exit 0, the command's own word that everything ties, every tie-out row yes."""
    problems = []
    if run["exit"] != 0:
        problems.append(f"exit {run['exit']}: {run['stderr'].strip()[-500:]}")
    if "every total ties to the books to the cent" not in run["stdout"]:
        problems.append("the command did not say that every total ties")
    written = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if len(written) != PACKAGE_FILES:
        problems.append(f"{len(written)} files written: {written}")
    tie_rows: list[list[str]] = []
    if (folder / "tie-out.csv").exists():
        with (folder / "tie-out.csv").open(newline="", encoding="utf-8") as fh:
            tie_rows = list(csv.reader(fh))[1:]
        problems += [f"does not tie: {row}" for row in tie_rows if row[-1] != "yes"]
    else:
        problems.append("no tie-out.csv")
    found = re.search(
        r"contributions (\S+), (\d+) on Schedule B, (\d+) gifts of 250.00 or more, "
        r"(\d+) refunds",
        run["stdout"],
    )
    figures = {}
    if found:
        figures = {
            "contributions": found.group(1),
            "schedule_b": int(found.group(2)),
            "acknowledgements": int(found.group(3)),
            "reversals": int(found.group(4)),
        }
    pdf = next(folder.glob("year-end-*.pdf"), None) if folder.is_dir() else None
    return {
        "pass": not problems,
        "problems": problems[:10],
        "tie_out_rows": len(tie_rows),
        "files": written,
        "package_bytes": sum(p.stat().st_size for p in folder.iterdir()) if written else 0,
        "pdf_bytes": pdf.stat().st_size if pdf else 0,
        "figures": figures,
        "tie_out": {row[0]: row[1:] for row in tie_rows},
    }


def report_runs(
    root: Path, url: str, work: Path, year: int, repeat: int, label: str
) -> dict[str, Any]:
    runs = []
    for i in range(repeat):
        folder = work / f"package-{label}-{i}"
        run = run_measured(
            conservancy("report", "year-end", "--year", str(year), "--out", str(folder)),
            app_env(root, url, work),
        )
        run["verify"] = verify(run, folder)
        shutil.rmtree(folder, ignore_errors=True)
        word = "PASS" if run["verify"]["pass"] else "FAIL"
        print(
            f"   report year-end --year {year} ({label}, run {i + 1}): {run['wall_s']:.1f} s, "
            f"peak {run['peak_rss_mib']:.0f} MiB, exit {run['exit']}: {word}",
            file=sys.stderr,
            flush=True,
        )
        if not run["verify"]["pass"]:
            print("\n".join(run["verify"]["problems"]), file=sys.stderr)
        runs.append(run)
    walls = [r["wall_s"] for r in runs]
    return {
        "year": year,
        "runs": runs,
        "wall_s_median": statistics.median(walls),
        "wall_s_min": min(walls),
        "peak_rss_mib_max": max(r["peak_rss_mib"] for r in runs),
        "pass": all(r["verify"]["pass"] for r in runs),
    }


# ---------------------------------------------------------------------------
# parts: the same work in one interpreter, timed by part


def phase_parts(root: Path, url: str, work: Path, year: int) -> dict[str, Any]:
    out: dict[str, Any] = {"loadavg_before": os.getloadavg(), "rss_at_start_mib": rss_mib()}
    t = time.perf_counter()
    from conservancy.cli.reports import letterhead_of
    from conservancy.infra.config import Settings
    from conservancy.ledger.books import covering
    from conservancy.reports.year_end import csv_rows, pdf_bytes, write_csv
    from conservancy.reports.year_end import year_end as build
    from conservancy.runtime import Runtime

    out["imports_s"] = time.perf_counter() - t
    settings = Settings.from_env(app_env(root, url, work))
    rt = Runtime.from_settings(settings)
    try:
        with rt.sessions() as session:
            t = time.perf_counter()
            books = covering(rt.books, date(year, 1, 1))
            books.ready()
            out["ready_s"] = time.perf_counter() - t
            out["history_books"] = books is not rt.books
            out["rss_after_ready_mib"] = rss_mib()
            letterhead = letterhead_of(session)
            t = time.perf_counter()
            package = build(session, books.index, books.current(), year)
            out["year_end_s"] = time.perf_counter() - t
            out["rss_after_year_end_mib"] = rss_mib()
        import io

        t = time.perf_counter()
        size = 0
        for _name, header, rows in csv_rows(package):
            text = io.StringIO(newline="")
            write_csv(rows, header, text)
            size += len(text.getvalue().encode("utf-8"))
        out["csv_s"] = time.perf_counter() - t
        out["csv_bytes"] = size
        t = time.perf_counter()
        pdf = pdf_bytes(package, letterhead, prepared_on=datetime.now(UTC).date())
        out["pdf_s"] = time.perf_counter() - t
        out["pdf_bytes"] = len(pdf)
    finally:
        rt.close()
    out["ties_out"] = package.ties_out
    out["contributions"] = package.contributions_total.format()
    out["contributors"] = package.contributors
    out["schedule_b"] = len(package.schedule_b)
    out["acknowledgements"] = len(package.acknowledgements)
    out["without_receipt"] = sum(1 for a in package.acknowledgements if a.receipt is None)
    out["reversals"] = len(package.reversals)
    out["peak_rss_mib"] = peak_rss_mib()
    out["loadavg_after"] = os.getloadavg()
    return out


def run_child_phase(args: list[str]) -> dict[str, Any]:
    return phase_in_child("bench.year_end", args)


# ---------------------------------------------------------------------------
# the table


def _run(r: dict[str, Any]) -> str:
    times = ", ".join(f"{x['wall_s']:.1f}" for x in r["runs"])
    cpu = statistics.median(x["cpu_s"] for x in r["runs"])
    word = "PASS" if r["pass"] else "FAIL"
    peak = f"{r['peak_rss_mib_max']:,.0f} MiB"
    return f"{r['wall_s_median']:.1f} s (runs: {times} s; CPU {cpu:.1f} s), peak {peak}; {word}"


def _child(c: dict[str, Any]) -> str:
    return f"{c['wall_s']:.1f} s (CPU {c['cpu_s']:.1f} s), peak {c['peak_rss_mib']:,.0f} MiB"


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    gen, seed, snap = results["books"], results["seed"], results["snapshot"]
    rep, parts = results["report"], results["parts"]
    figures = rep["runs"][0]["verify"]["figures"]
    out = [
        (
            "books",
            f"{gen['transactions']:,} app transactions ({gen['gifts']:,} gifts + their fee "
            f"entries + {gen['payouts']} payouts) + {gen['staff_transactions']} staff, "
            f"{YEARS[0]}-{YEARS[-1]}, {gen['funds']} funds, {gen['app_bytes'] / 2**20:.0f} MiB",
        ),
        (
            "database (SQLite, seeded from the books)",
            f"{seed['gifts']:,} gifts ({seed['gifts_by_year'].get(str(YEAR), 0):,} settled in "
            f"{YEAR}), {seed['receipts']:,} receipts, {seed['donors']:,} donors, "
            f"{seed['donations']:,} donations, {seed['db_bytes'] / 2**20:.0f} MiB",
        ),
        (
            "snapshot + index build (`python -m conservancy.ledger.rebuild`, a child)",
            _child(snap),
        ),
        (
            f"**`conservancy report year-end --year {YEAR}`** (snapshot saved), median of "
            f"{len(rep['runs'])}",
            f"**{_run(rep)}**",
        ),
        (
            "  the package",
            f"contributions {figures.get('contributions', '?')}, {parts['contributors']:,} "
            f"contributors, {figures.get('schedule_b', '?')} on Schedule B, "
            f"{figures.get('acknowledgements', 0):,} gifts of 250.00 or more "
            f"({parts['without_receipt']} without a receipt), "
            f"{rep['runs'][0]['verify']['tie_out_rows']} tie-out lines, "
            f"{rep['runs'][0]['verify']['package_bytes'] / 2**20:.1f} MiB of files",
        ),
        (
            "  in one interpreter: imports / runtime + saved snapshot / `year_end` / CSVs / PDF",
            f"{parts['imports_s']:.2f} / {parts['ready_s']:.2f} / {parts['year_end_s']:.2f} / "
            f"{parts['csv_s']:.2f} / {parts['pdf_s']:.2f} s; peak {parts['peak_rss_mib']:.0f} MiB",
        ),
    ]
    close = results.get("close")
    if close:
        c = close["close"]
        out += [
            (
                "`conservancy ledger close --year 2024` (a child; history loaded, closing "
                "entries, switch, both snapshots built)",
                _child(c) + f", exit {c['exit']}",
            ),
            (
                f"after the close: `report year-end --year {YEAR}` (the open year)",
                _run(close["open"]),
            ),
            (
                f"after the close: `report year-end --year {YEARS[0]}` (closed: the full history)",
                _run(close["closed"]),
            ),
            (
                f"{YEAR}'s tie-out figures after the close = before it",
                str(close["same_figures"]),
            ),
        ]
    return out


def _machine_line(results: dict[str, Any]) -> str:
    m = results["machine"]
    return (
        f"{m['cpus']} cores ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}, "
        f"Beancount {m['beancount']}; load average {m['loadavg_at_start'][0]:.2f} at the start, "
        f"{m.get('loadavg_at_end', [0])[0]:.2f} at the end (other jobs share the machine)"
    )


def table(results: dict[str, Any]) -> str:
    return "\n".join(
        [
            f"Books of {results['books']['transactions']:,} transactions, commit "
            f"{results.get('commit', '?')} — {_machine_line(results)}",
            "",
            "| figure | value |",
            "|---|---|",
            *(f"| {name} | {value} |" for name, value in rows(results)),
        ]
    )


def _commit() -> str:
    """The commit measured: git's, or BENCH_COMMIT for an export of one (``git archive``)."""
    if os.environ.get("BENCH_COMMIT"):
        return os.environ["BENCH_COMMIT"] + " (an export of it)"
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "conservancy"],
            cwd=REPO,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "?"
    return (head or "?") + (" (conservancy/ modified in the working tree)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.year_end", description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="where the books go (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the books and the database")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the command to time")
    parser.add_argument("--no-close", action="store_true", help="skip the close of 2024")
    parser.add_argument("--report", action="store_true", help="print the tables of bench/results")
    parser.add_argument("--phase", choices=["seed", "parts"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--year", type=int, default=YEAR, help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.report:
        for path in sorted(RESULTS.glob("year_end-*.json"), key=lambda p: len(p.name)):
            print(table(json.loads(path.read_text("utf-8"))) + "\n")
        return 0
    if args.phase == "seed":
        result = phase_seed(args.dir, args.url)
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0
    if args.phase == "parts":
        result = phase_parts(args.dir, args.url, args.work, args.year)
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0

    temp = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="bench-year-end-")) if temp else args.dir
    if root.exists() and any(root.iterdir()):
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-year-end-db-"))
    url = f"sqlite:///{work / 'conservancy.db'}"
    results: dict[str, Any] = {"machine": machine(), "command": sys.argv, "commit": _commit()}
    ok = False
    try:
        print(f"-- generating {args.transactions:,} transactions in {root}", file=sys.stderr)
        results["books"] = generate(root, args.transactions)
        split_staff_file(root)
        print("-- snapshot + index (child: conservancy.ledger.rebuild) ...", file=sys.stderr)
        snap = run_measured([sys.executable, "-m", "conservancy.ledger.rebuild", str(root)])
        if snap["exit"] != 0:
            raise SystemExit(f"rebuild failed: {snap['stderr']}")
        results["snapshot"] = snap
        print(f"   {snap['wall_s']:.1f} s", file=sys.stderr)
        print("-- seeding the database from the books ...", file=sys.stderr, flush=True)
        results["seed"] = run_child_phase(["--phase", "seed", "--dir", str(root), "--url", url])
        print(f"   {results['seed']['wall_s']:.1f} s", file=sys.stderr)
        print(f"-- report year-end --year {YEAR} ...", file=sys.stderr, flush=True)
        results["report"] = report_runs(root, url, work, YEAR, args.repeat, "before")
        results["parts"] = run_child_phase(
            ["--phase", "parts", "--dir", str(root), "--url", url, "--work", str(work)]
        )
        ok = results["report"]["pass"] and results["parts"]["ties_out"]
        if not args.no_close:
            print(f"-- ledger close --year {YEARS[0]} ...", file=sys.stderr, flush=True)
            move_to_closed(root, YEARS[0])
            close = run_measured(
                conservancy("ledger", "close", "--year", str(YEARS[0])), app_env(root, url, work)
            )
            print(f"   {close['wall_s']:.1f} s, exit {close['exit']}", file=sys.stderr)
            results["close"] = {"close": close}
            if close["exit"] != 0:
                print(close["stdout"], close["stderr"], file=sys.stderr)
                ok = False
            else:
                opened = report_runs(root, url, work, YEAR, args.repeat, "after")
                closed = report_runs(root, url, work, YEARS[0], args.repeat, "closed")
                before_ties = results["report"]["runs"][0]["verify"]
                after_ties = opened["runs"][0]["verify"]
                same = (
                    before_ties["tie_out"] == after_ties["tie_out"]
                    and before_ties["figures"] == after_ties["figures"]
                )
                results["close"].update(open=opened, closed=closed, same_figures=same)
                ok = ok and opened["pass"] and closed["pass"] and same
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
            if temp:
                shutil.rmtree(root, ignore_errors=True)
    results["pass"] = ok
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    text = table(results)
    results["table"] = text
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"year_end-{args.transactions}.json"
    out.write_text(json.dumps(results, indent=2), "utf-8")
    print(text)
    print(f"\n{'PASS' if ok else 'FAIL'}: the package ties out to the books", end="")
    print(" (before and after the close)" if "close" in results else "")
    print(f"(written to {out.relative_to(REPO)})")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
