"""Project statements and the transaction index they read (SPEC section 10).

    .venv/bin/python -m bench.project_statement                      # a 5,000-transaction PDF
    .venv/bin/python -m bench.project_statement --books 1000000      # the index on big books

The first form writes books where one project, Twisted, has ``--transactions``
transactions in 2025 (gifts settled at Stripe and their sponsorship-fee
entries, in the writer's text), builds the snapshot and index, and then, each
in a fresh interpreter so that its memory is its own:

ours        ``conservancy statement``'s work: the statement from the index, then
            the PDF drawn in parts, in one process (the command's default, and
            what a web worker does);
ours-jobs   the same, the parts drawn by ``--jobs`` worker processes (one per
            core by default);
register-1  WeasyPrint drawing our register as one document;
table-1     WeasyPrint drawing the same transactions as one HTML table, in the
            house style, as one document: the SPEC's reference (41 s, 1.3 GB).

Peak memory is the sum over the process tree (the workers included), sampled
every 50 ms from outside, and the largest single process.

The second form (``--books N``) reuses ``bench.ledger_reader``'s synthetic
books (50 funds, two years): the full build with and without the index, the
index's size, and what the treasurer pages would ask of it in a worker
started from the saved snapshot: a fund's newest page and the pages after it,
a balance on a date, a month's transactions, a month's statement, the
snapshot's monthly figures, and how soon an appended gift is listed.

Results land in ``bench/results/project_statement-*.json``; tables are printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bench.ledger_reader import (
    FIRST_NAMES,
    LAST_NAMES,
    PROJECTS,
    TITLE,
    accounts_text,
    gift_blocks,
    peak_rss_mib,
    rss_mib,
    summary,
    timed,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
YEAR = 2025
PDF_PHASES = ["build", "ours", "ours-jobs", "register-1", "table-1"]


# --- books -------------------------------------------------------------------------


def generate(root: Path, n: int, seed: int = 1) -> dict[str, Any]:
    """Books where Twisted has ``n`` transactions in YEAR (n/2 gifts and their fees)."""
    from conservancy.ledger.files import APP_FILE_HEADER, LedgerFiles, main_file_text

    files = LedgerFiles(root)
    (root / "app").mkdir(parents=True, exist_ok=True)
    files.main.write_text(main_file_text(TITLE), "utf-8")
    files.accounts.write_text(accounts_text(), "utf-8")
    rng = random.Random(seed)
    gifts = n // 2
    blocks = [APP_FILE_HEADER]
    for k in range(gifts):
        day = date(YEAR, 1, 1) + timedelta(days=k * 365 // gifts)
        donor = rng.randrange(max(100, gifts // 3))
        payee = (
            "Anonymous"
            if donor % 10 == 0
            else f"{FIRST_NAMES[donor % len(FIRST_NAMES)]} "
            f"{LAST_NAMES[(donor // len(FIRST_NAMES)) % len(LAST_NAMES)]}"
        )
        text, _net = gift_blocks(
            day.isoformat(),
            f"txn_{k:08x}{rng.getrandbits(64):016x}",
            "Twisted",
            "Twisted",
            1000,
            rng.choice([500, 1000, 2500, 5000, 10000, rng.randrange(100, 50001)]),
            payee,
            donor,
            f"{YEAR}-{k + 1:06d}",
            recurring=donor % 3 == 0,
        )
        blocks.append(text)
    files.year_file(YEAR).write_text("".join(blocks), "utf-8")
    return {"transactions": 2 * gifts, "gifts": gifts}


# --- measuring ---------------------------------------------------------------------


def _tree(root: int) -> dict[int, tuple[int, float]]:
    """Each process of ``root``'s tree: (resident set in KiB, CPU seconds so far)."""
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry.name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    tick = os.sysconf("SC_CLK_TCK")
    page_kib = os.sysconf("SC_PAGE_SIZE") // 1024
    out = {}
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        if pid in stats:
            fields = stats[pid]  # after the name: state, ppid, ... utime (12), stime (13)
            cpu = (int(fields[11]) + int(fields[12])) / tick
            out[pid] = (int(fields[21]) * page_kib, cpu)
    return out


def run_phase(phase: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One measurement in a fresh interpreter, its process tree's memory sampled from here."""
    out = Path(tempfile.mkstemp(prefix=f"bench-{phase}-", suffix=".json")[1])
    argv = [sys.executable, "-m", "bench.project_statement", "--phase", phase, "--dir", str(root)]
    argv += ["--phase-out", str(out), "--jobs", str(args.jobs)]
    started = time.perf_counter()
    print(f"-- {phase}", file=sys.stderr, flush=True)
    child = subprocess.Popen(argv, cwd=REPO)
    peak_total = peak_single = 0
    cpu: dict[int, float] = {}
    while child.poll() is None:
        tree = _tree(child.pid)
        peak_total = max(peak_total, sum(rss for rss, _ in tree.values()))
        peak_single = max([peak_single, *(rss for rss, _ in tree.values())])
        cpu.update({pid: seconds for pid, (_, seconds) in tree.items()})
        time.sleep(0.05)
    if child.returncode != 0:
        raise SystemExit(f"phase {phase} failed (exit {child.returncode})")
    result: dict[str, Any] = json.loads(out.read_text("utf-8"))
    out.unlink()
    result["wall_with_start_s"] = time.perf_counter() - started
    result["tree_cpu_s"] = sum(cpu.values())  # sampled: each process's last 50 ms may be missed
    result["tree_peak_rss_mib"] = peak_total / 1024
    result["largest_process_peak_rss_mib"] = peak_single / 1024
    print(f"   {phase}: {json.dumps(_brief(result))}", file=sys.stderr, flush=True)
    return result


def _brief(result: dict[str, Any]) -> dict[str, Any]:
    return {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items() if k != "ms"}


def _twisted() -> Any:
    from conservancy.projects.models import Project

    return Project(slug="twisted", name="Twisted", fund="Twisted", currency="USD")


SPONSOR_ARGS = ("Bench Sponsor, Inc.", "12-3456789", "1 Main Street\nBrooklyn, NY 11201")


def phase_build(root: Path) -> dict[str, Any]:
    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles
    from conservancy.ledger.index import IndexBuilder

    spent = {"add": 0.0, "finish": 0.0}
    real_add, real_finish = IndexBuilder.add, IndexBuilder.finish

    def add(self: IndexBuilder, *a: Any) -> None:
        t = time.perf_counter()
        real_add(self, *a)
        spent["add"] += time.perf_counter() - t

    def finish(self: IndexBuilder, *a: Any) -> str:
        t = time.perf_counter()
        try:
            return real_finish(self, *a)
        finally:
            spent["finish"] += time.perf_counter() - t

    setattr(IndexBuilder, "add", add)  # noqa: B010 - timing the real methods
    setattr(IndexBuilder, "finish", finish)  # noqa: B010
    files = LedgerFiles(root)
    t = time.perf_counter()
    built = Books(files).load()
    took = time.perf_counter() - t
    index_file = files.cache_dir / (files.cache_dir / "index.sqlite").readlink()
    return {
        "build_s": took,
        "index_s": spent["add"] + spent["finish"],
        "index_add_s": spent["add"],
        "index_finish_s": spent["finish"],
        "transactions": built.transactions,
        "index_mib": index_file.stat().st_size / 2**20,
        "snapshot_kib": (files.cache_dir / "snapshot.json").stat().st_size / 1024,
        "peak_rss_mib": peak_rss_mib(),
    }


def _statement() -> tuple[Any, Any, dict[str, float]]:
    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles
    from conservancy.receipts.document import Sponsor
    from conservancy.reports.statement import project_statement

    files = LedgerFiles(Path(ARGS.dir))
    t = time.perf_counter()
    books = Books(files)
    books.ready()
    ready = time.perf_counter() - t
    t = time.perf_counter()
    result = project_statement(books.index, _twisted(), date(YEAR, 1, 1), date(YEAR, 12, 31))
    return (
        result,
        Sponsor(*SPONSOR_ARGS),
        {"ready_s": ready, "statement_s": time.perf_counter() - t},
    )


def phase_ours(jobs: int) -> dict[str, Any]:
    from conservancy.reports.statement import write_pdf

    t0 = time.perf_counter()
    result, sponsor, out = _statement()
    t = time.perf_counter()
    buf = io.BytesIO()
    pages = write_pdf(result, sponsor, buf, prepared_on=date(YEAR + 1, 1, 5), jobs=jobs)
    out.update(
        pdf_s=time.perf_counter() - t,
        total_s=time.perf_counter() - t0,
        jobs=jobs,
        rows=len(result.rows),
        pages=pages,
        pdf_kib=len(buf.getvalue()) / 1024,
        main_process_peak_rss_mib=peak_rss_mib(),
    )
    return out


def phase_register_one() -> dict[str, Any]:
    from conservancy.receipts.render import draw_pdf
    from conservancy.reports import statement as st

    result, sponsor, out = _statement()
    doc = st._Document(result, sponsor, date(YEAR + 1, 1, 5))
    lines = st.register_lines(result)
    pages = [
        "\n".join(lines[i : i + st.ROWS_PER_PAGE]) for i in range(0, len(lines), st.ROWS_PER_PAGE)
    ]
    html = st._register_html(doc, pages, 1, len(pages), True)
    t = time.perf_counter()
    pdf = draw_pdf(html)
    out.update(pdf_s=time.perf_counter() - t, pdf_kib=len(pdf) / 1024, pages=len(pages))
    out["main_process_peak_rss_mib"] = peak_rss_mib()
    return out


TABLE = """<!doctype html><html><head><meta charset="utf-8"><style>
@page { size: letter; margin: 0.7in 0.6in 0.8in;
  @bottom-right { content: "page " counter(page) " of " counter(pages);
    font: 8pt "DejaVu Sans", sans-serif; color: #5b6474; } }
html { font: 8pt/1.35 "DejaVu Sans", "Liberation Sans", sans-serif; color: #1d2433; }
table { width: 100%; border-collapse: collapse; }
thead { display: table-header-group; }
tr { page-break-inside: avoid; }
th { text-align: left; font-weight: 600; color: #5b6474; font-size: 7pt; text-transform: uppercase;
  border-bottom: 1pt solid #1d2433; padding: 3pt 4pt; }
td { border-bottom: .5pt solid #d9dde5; padding: 2pt 4pt; vertical-align: top; }
.num { text-align: right; white-space: nowrap; }
</style></head><body><h1>Twisted: transactions</h1><table>
<thead><tr><th>Date</th><th>Payee</th><th>Description</th><th>Kind</th>
<th class="num">Amount</th><th class="num">Balance</th><th>Receipt / ref</th></tr></thead>
<tbody>{rows}</tbody></table></body></html>"""


def phase_table_one() -> dict[str, Any]:
    from html import escape

    from conservancy.receipts.render import draw_pdf

    result, _sponsor, out = _statement()
    rows = "".join(
        f"<tr><td>{r.date}</td><td>{escape(r.payee)}</td><td>{escape(r.description)}</td>"
        f"<td>{escape(r.kind)}</td><td class=num>{r.amount.amount:,}</td>"
        f"<td class=num>{r.balance.amount:,}</td><td>{escape(r.reference)}</td></tr>"
        for r in result.rows
    )
    t = time.perf_counter()
    pdf = draw_pdf(TABLE.replace("{rows}", rows))
    from pypdf import PdfReader

    out.update(
        pdf_s=time.perf_counter() - t,
        pdf_kib=len(pdf) / 1024,
        pages=len(PdfReader(io.BytesIO(pdf)).pages),
        main_process_peak_rss_mib=peak_rss_mib(),
    )
    return out


# --- the index on big books ----------------------------------------------------------


def phase_index_build(root: Path) -> dict[str, Any]:
    return phase_build(root)


def phase_index_serve(root: Path) -> dict[str, Any]:
    """What treasurer pages ask of a worker started from the saved snapshot."""
    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles
    from conservancy.reports.statement import project_statement

    files = LedgerFiles(root)
    out: dict[str, Any] = {"rss_before_mib": rss_mib()}
    books = Books(files)
    t = time.perf_counter()
    books.start(isolated=True)
    assert not books.rebuilding, "the saved snapshot was refused"
    out["start_ms"] = (time.perf_counter() - t) * 1000
    index = books.index
    rng = random.Random(7)
    funds = [fund for fund, _, _ in PROJECTS]
    first_day, last_day = date(2024, 1, 1), date(2025, 12, 31)
    span = (last_day - first_day).days

    def first_page() -> None:
        books.current()
        index.fund_transactions(funds[rng.randrange(len(funds))], limit=50)

    out["first_page"] = summary(timed(first_page, 1000))
    before: list[int | None] = [None]

    def next_page() -> None:
        page = index.fund_transactions("Twisted", before=before[0], limit=50)
        before[0] = page.next_before

    out["next_page_twisted"] = summary(timed(next_page, 200))

    def balance_on_a_day() -> None:
        day = first_day + timedelta(days=rng.randrange(span))
        index.balance_before(funds[rng.randrange(len(funds))], day)

    out["balance_before"] = summary(timed(balance_on_a_day, 1000))
    count = [0]

    def month_of_twisted() -> None:
        start = date(2024 + rng.randrange(2), 1 + rng.randrange(12), 1)
        end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        count[0] = len(index.transactions_between("Twisted", start, end))

    out["month_of_twisted"] = summary(timed(month_of_twisted, 50))
    out["twisted_transactions_a_month"] = count[0]

    def month_statement() -> None:
        project_statement(index, _twisted(), date(2025, 6, 1), date(2025, 6, 30))

    out["statement_twisted_june"] = summary(timed(month_statement, 20))

    def dashboard_figures() -> None:
        snapshot = books.current()
        fund = funds[rng.randrange(len(funds))]
        snapshot.fund_month(fund, "2025-12")
        snapshot.fund_year(fund, 2025)
        snapshot.donations_by_month(fund, "2025-12", 12)
        snapshot.fund_balance(fund)

    out["dashboard_figures"] = summary(timed(dashboard_figures, 1000))
    out["rss_after_queries_mib"] = rss_mib()

    # A gift appended as the writer appends it, until the index lists it.
    from bench.ledger_reader import gift_blocks as blocks

    year_file = files.year_file(2025)
    waits = []
    for k in range(50):
        text, _net = blocks(
            "2025-12-31", f"bench-{k}", "Twisted", "Twisted", 1000, 2500, "Ada", 1, None, False
        )
        with files.lock(), year_file.open("a", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        t = time.perf_counter()
        while index.fund_transactions("Twisted", limit=1).transactions[0].ref != f"fee:bench-{k}":
            pass
        waits.append(time.perf_counter() - t)
    out["append_to_listed"] = summary(waits)
    out["peak_rss_mib"] = peak_rss_mib()
    out["rss_after_mib"] = rss_mib()
    return out


# --- reporting -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import weasyprint  # type: ignore[import-untyped]

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "weasyprint": weasyprint.__version__,
        "loadavg_at_start": os.getloadavg(),
    }


def pdf_table(results: dict[str, Any]) -> str:
    ours, pool = results["ours"], results.get("ours-jobs")
    reg, table = results.get("register-1"), results.get("table-1")
    rows = [
        (
            "books",
            f"{results['books']['transactions']:,} transactions of Twisted in {YEAR} "
            f"(gifts and their fee entries); index built in {results['build']['index_s']:.1f} s "
            f"of a {results['build']['build_s']:.1f} s build",
        ),
        (
            "statement from the index (`project_statement`)",
            f"{ours['statement_s'] * 1000:.0f} ms ({ours['rows']:,} rows; "
            f"`Books.ready` {ours['ready_s'] * 1000:.0f} ms)",
        ),
        (
            "**ours**: the PDF in parts, in one process (the command's default)",
            f"**{ours['total_s']:.1f} s** ({ours['pdf_s']:.1f} s drawing; CPU "
            f"{ours['tree_cpu_s']:.1f} s), {ours['pages']} pages, {ours['pdf_kib']:,.0f} KiB; "
            f"**peak RSS {ours['tree_peak_rss_mib']:,.0f} MiB**",
        ),
    ]
    if pool:
        rows.append(
            (
                f"ours, the parts drawn by {pool['jobs']} worker processes (`--jobs`)",
                f"{pool['total_s']:.1f} s (CPU {pool['tree_cpu_s']:.1f} s, all processes), "
                f"peak RSS {pool['tree_peak_rss_mib']:,.0f} MiB all processes, largest "
                f"{pool['largest_process_peak_rss_mib']:,.0f} MiB",
            )
        )
    if reg:
        rows.append(
            (
                "WeasyPrint alone, our register as one document",
                f"{reg['pdf_s']:.1f} s (CPU of the run {reg['tree_cpu_s']:.1f} s), "
                f"peak RSS {reg['main_process_peak_rss_mib']:,.0f} MiB",
            )
        )
    if table:
        rows.append(
            (
                "WeasyPrint alone, the same rows as one HTML table",
                f"{table['pdf_s']:.1f} s (CPU of the run {table['tree_cpu_s']:.1f} s), "
                f"{table['pages']} pages, peak RSS {table['main_process_peak_rss_mib']:,.0f} MiB",
            )
        )
    m = results["machine"]
    return "\n".join(
        [
            "| figure | value |",
            "|---|---|",
            *(f"| {a} | {b} |" for a, b in rows),
            "",
            f"* {m['cpus']} cores, Python {m['python']}, WeasyPrint {m['weasyprint']}; load "
            f"average {m['loadavg_at_start'][0]:.2f} at the start, "
            f"{m['loadavg_at_end'][0]:.2f} at the end",
        ]
    )


def _ms(d: dict[str, float]) -> str:
    return f"{d['p50_ms']:.3g} / {d['p95_ms']:.3g} ms (max {d['max_ms']:.3g}, n={d['n']:,})"


def index_table(results: dict[str, Any]) -> str:
    build, serve = results["build"], results["serve"]
    month = serve["twisted_transactions_a_month"]
    rows = [
        ("books", f"{results['books']['transactions']:,} app transactions, 50 funds, 2 years"),
        (
            "full build (`Books.load`: loader, snapshot, index)",
            f"{build['build_s']:.1f} s, of which the index {build['index_s']:.1f} s "
            f"(rows {build['index_add_s']:.1f} s, monthly sums and close "
            f"{build['index_finish_s']:.1f} s); peak RSS {build['peak_rss_mib']:,.0f} MiB",
        ),
        (
            "index file / snapshot.json",
            f"{build['index_mib']:,.0f} MiB / {build['snapshot_kib']:,.0f} KiB",
        ),
        ("worker start from the saved snapshot", f"{serve['start_ms']:.1f} ms"),
        (
            "a fund's newest 50 (`Books.current` + `fund_transactions`), p50 / p95",
            _ms(serve["first_page"]),
        ),
        ("Twisted's next pages of 50, p50 / p95", _ms(serve["next_page_twisted"])),
        ("`balance_before` a random day, p50 / p95", _ms(serve["balance_before"])),
        (
            f"a month of Twisted (`transactions_between`, ~{month:,} rows)",
            _ms(serve["month_of_twisted"]),
        ),
        (
            "Twisted's statement for June 2025 (`project_statement`)",
            _ms(serve["statement_twisted_june"]),
        ),
        (
            "dashboard figures (month, year, 12 months of donations, balance), p50 / p95",
            _ms(serve["dashboard_figures"]),
        ),
        (
            "an appended gift listed by `fund_transactions`, p50 / p95",
            _ms(serve["append_to_listed"]),
        ),
        (
            "worker RSS after start / after the queries / peak",
            f"{serve['rss_before_mib']:.0f} → {serve['rss_after_queries_mib']:.0f} MiB / "
            f"{serve['peak_rss_mib']:.0f} MiB",
        ),
    ]
    m = results["machine"]
    return "\n".join(
        [
            "| figure | value |",
            "|---|---|",
            *(f"| {a} | {b} |" for a, b in rows),
            "",
            f"* {m['cpus']} cores, Python {m['python']}; load average "
            f"{m['loadavg_at_start'][0]:.2f} at the start, {m['loadavg_at_end'][0]:.2f} at the end",
        ]
    )


ARGS = argparse.Namespace()


def main(argv: list[str] | None = None) -> int:
    from bench.ledger_reader import generate as generate_big

    parser = argparse.ArgumentParser(prog="python -m bench.project_statement", description=__doc__)
    parser.add_argument("--transactions", type=int, default=5000)
    parser.add_argument("--books", type=int, help="measure the index on books of this size")
    parser.add_argument("--dir", type=Path, help="where the books go (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="keep books already in --dir")
    parser.add_argument("--jobs", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip", default="", help="phases to skip: " + ",".join(PDF_PHASES))
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    ARGS.__dict__.update(vars(args))

    if args.phase:
        root = args.dir
        phases: dict[str, Callable[[], dict[str, Any]]] = {
            "build": lambda: phase_build(root),
            "ours": lambda: phase_ours(1),
            "ours-jobs": lambda: phase_ours(args.jobs),
            "register-1": phase_register_one,
            "table-1": phase_table_one,
            "index-build": lambda: phase_index_build(root),
            "index-serve": lambda: phase_index_serve(root),
        }
        result = phases[args.phase]()
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0

    temp = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="bench-statement-")) if temp else args.dir
    results: dict[str, Any] = {"machine": machine(), "command": sys.argv}
    try:
        if not (args.reuse and (root / "main.beancount").exists()):
            if root.exists():
                shutil.rmtree(root)
            root.mkdir(parents=True)
            print(f"-- generating books in {root}", file=sys.stderr, flush=True)
            if args.books:
                results["books"] = generate_big(root, args.books)
            else:
                results["books"] = generate(root, args.transactions)
            (root / "bench-books.json").write_text(json.dumps(results["books"]), "utf-8")
        else:
            results["books"] = json.loads((root / "bench-books.json").read_text("utf-8"))
        if args.books:
            shutil.rmtree(root / ".cache", ignore_errors=True)
            results["build"] = run_phase("index-build", root, args)
            results["serve"] = run_phase("index-serve", root, args)
            name, text = f"project_statement-index-{args.books}", index_table
        else:
            skip = set(filter(None, args.skip.split(",")))
            for phase in PDF_PHASES:
                if phase not in skip:
                    results[phase] = run_phase(phase, root, args)
            name, text = f"project_statement-{args.transactions}", pdf_table
    finally:
        if temp:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    table = text(results)
    results["table"] = table
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(results, indent=2), "utf-8")
    print(table)
    print(f"\n(written to bench/results/{name}.json)")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
