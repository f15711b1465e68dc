"""How fast annual giving statements are issued, against WeasyPrint alone (SPEC section 10).

    .venv/bin/python -m bench.annual_statements                 # 2,000 donors
    .venv/bin/python -m bench.annual_statements --donors 200    # a quick look

A SQLite database (migrated, in a temp dir) is seeded in bulk with a sponsor,
five projects and N donors who gave ``--gifts`` times each in 2025, every gift
with its receipt (some with a thank-you t-shirt, some refunded in part or in
full, their voiding notices and replacements numbered too). Then, with the
same number of worker processes (``--jobs``, default one per core):

ours     ``issue_statements``: gathering from the database, drawing in the
         pool, storing each PDF, recording the rows and queueing the mail in
         batches; end to end, pool start-up included.
ceiling  WeasyPrint and nothing else, in a pool of the same size: the very same
         HTML strings, written with the same PDF options (PDF/A-3b, the same
         JSON attachment), the bytes thrown away; pool start-up included.

Each round runs both (the second round in the other order, and ours after
deleting the first round's rows and files), so drift in the machine's load
falls on both. The budget is ours >= 90% of the ceiling's rate. Figures are
printed as a Markdown table and written to ``bench/results/annual_statements-<N>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from datetime import time as midnight
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
YEAR = 2025
ISSUED_ON = date(2026, 1, 15)
PROJECTS = [
    ("twisted", "Twisted"),
    ("inkscape", "Inkscape"),
    ("git", "Git"),
    ("samba", "Samba"),
    ("qemu", "QEMU"),
]
AMOUNTS = [1000, 2500, 5000, 10000, 25000, 50000]
FIRST = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton"]
STREETS = ["Harbor Lane", "Analytical Row", "Montague Street", "Elm Street", "Main Street"]


# -- seeding --------------------------------------------------------------------


def seed(url: str, donors: int, gifts: int) -> dict[str, int]:
    """The sponsor, projects, donors, donations, gifts and receipts, inserted in bulk."""
    from sqlalchemy import insert

    from conservancy.donations.models import Donation, Donor, Gift
    from conservancy.infra.db import make_engine, make_sessions, migrate
    from conservancy.projects.models import Project
    from conservancy.projects.service import add_project, set_up_sponsor
    from conservancy.receipts.models import Receipt

    migrate(url)
    engine = make_engine(url)
    counts = {"donors": donors, "gifts": 0, "receipts": 0, "tshirts": 0, "partial": 0, "full": 0}
    with make_sessions(engine)() as session:
        sponsor, _ = set_up_sponsor(
            session,
            legal_name="Bench Sponsor, Inc.",
            ein="12-3456789",
            address="137 Montague Street, Suite 380\nBrooklyn, NY 11201",
            time_zone="America/New_York",
            books_open_on=date(YEAR, 1, 1),
        )
        sponsor.signatory_name, sponsor.signatory_title = "Jane Roe", "Treasurer"
        projects: list[Project] = [
            add_project(session, slug=slug, name=name, opened_on=date(YEAR, 1, 1))
            for slug, name in PROJECTS
        ]
        session.flush()
        donor_rows, donation_rows, gift_rows, receipt_rows = [], [], [], []
        sequence = 0
        created = datetime(YEAR, 1, 1, tzinfo=UTC)

        def receipt(gift_id: int, on: date, **kw: Any) -> int:
            nonlocal sequence
            sequence += 1
            at = datetime.combine(on, midnight(15), tzinfo=UTC)
            receipt_rows.append(
                {
                    "id": sequence,
                    "number": f"{YEAR}-{sequence:06d}",
                    "year": YEAR,
                    "sequence": sequence,
                    "gift_id": gift_id,
                    "currency": "USD",
                    "issued_at": at,
                    "issued_on": on,
                    "replaces_id": None,
                    "reason": None,
                    **kw,
                }
            )
            return sequence

        gift_id = 0
        for d in range(1, donors + 1):
            first, last = FIRST[d % len(FIRST)], LAST[(d // len(FIRST)) % len(LAST)]
            named = {
                "name": f"{first} {last}",
                "address": f"{d} {STREETS[d % len(STREETS)]}\nPortland, ME 04101",
            }
            given = {"donor_name": named["name"], "donor_address": named["address"]}
            donor_rows.append(
                {
                    "id": d,
                    "ref": f"donor-{d:012x}",
                    **named,
                    "email": f"donor{d}@example.org",
                    "created_at": created,
                }
            )
            for g in range(gifts):
                gift_id += 1
                project = projects[(d + g) % len(projects)]
                amount = AMOUNTS[(d * 7 + g) % len(AMOUNTS)]
                on = date(YEAR, 1, 1) + timedelta(days=(d * 37 + g * 113) % 365)
                tshirt = amount >= 5000 and gift_id % 10 == 0
                donation_rows.append(
                    {
                        "id": gift_id,
                        "project_id": project.id,
                        "donor_id": d,
                        **given,
                        "amount_minor": amount,
                        "currency": "USD",
                        "frequency": "once",
                        "visibility": "public",
                        "status": "paid",
                        "cover_fees": False,
                        "extra_general_minor": 0,
                        "benefit_description": "Project t-shirt" if tshirt else None,
                        "benefit_value_minor": 3000 if tshirt else None,
                        "created_at": created,
                    }
                )
                refund = 0
                if gift_id % 37 == 0:
                    refund = amount  # refunded in full
                elif gift_id % 29 == 0:
                    refund = amount // 4  # refunded in part
                gift_rows.append(
                    {
                        "id": gift_id,
                        "donation_id": gift_id,
                        "ref": f"stripe-txn_{gift_id}",
                        **given,
                        "charge_id": f"ch_{gift_id}",
                        "balance_transaction_id": f"txn_{gift_id}",
                        "currency": "USD",
                        "project_minor": amount,
                        "general_minor": 0,
                        "fee_minor": amount * 29 // 1000 + 30,
                        "fee_rate_bp": 1000,
                        "fund": project.fund,
                        "reversed_minor": refund,
                        "refunded_minor": refund,
                        "refund_requests": 0,
                        "settled_at": datetime.combine(on, midnight(15), tzinfo=UTC),
                        "settled_on": on,
                        "payment_method": "Card (Visa)",
                    }
                )
                tshirt_off = 3000 if tshirt else 0
                first_receipt = receipt(
                    gift_id,
                    on,
                    kind="receipt",
                    amount_minor=amount,
                    deductible_minor=amount - tshirt_off,
                )
                counts["tshirts"] += tshirt
                if refund:
                    later = min(on + timedelta(days=10), date(YEAR, 12, 31))
                    receipt(
                        gift_id,
                        later,
                        kind="voiding",
                        amount_minor=amount,
                        deductible_minor=0,
                        replaces_id=first_receipt,
                        reason="refund",
                    )
                    if refund < amount:
                        rest = amount - refund
                        receipt(
                            gift_id,
                            later,
                            kind="replacement",
                            amount_minor=rest,
                            deductible_minor=max(rest - tshirt_off, 0),
                            replaces_id=first_receipt,
                            reason="refund",
                        )
                        counts["partial"] += 1
                    else:
                        counts["full"] += 1
        session.execute(insert(Donor), donor_rows)
        session.execute(insert(Donation), donation_rows)
        session.execute(insert(Gift), gift_rows)
        session.execute(insert(Receipt), receipt_rows)
        session.commit()
    engine.dispose()
    counts["gifts"] = gift_id
    counts["receipts"] = sequence
    return counts


# -- the ceiling: WeasyPrint alone ------------------------------------------------


def weasyprint_only(html: str, data: str, stamp: datetime) -> int:
    """What the ceiling's workers do: WeasyPrint, the same options, nothing else."""
    from weasyprint import HTML, Attachment  # type: ignore[import-untyped]

    attachment = Attachment(
        string=data,
        name="statement.json",
        description="machine-readable",
        created=stamp,
        modified=stamp,
        relationship="Data",
    )
    pdf: bytes = HTML(string=html).write_pdf(
        pdf_variant="pdf/a-3b", attachments=[attachment], uncompressed_pdf=False
    )
    return len(pdf)


def same_html(url: str, donor_ids: list[int]) -> list[tuple[str, str, datetime]]:
    """The HTML (and attachment) of every statement, as ``issue_statements`` draws them."""
    from conservancy.infra.db import make_engine, make_sessions
    from conservancy.receipts.annual import CHUNK, build_statements, sponsor_of, statement_html

    engine = make_engine(url)
    out = []
    stamp = datetime.combine(ISSUED_ON, midnight(), tzinfo=UTC)
    with make_sessions(engine)() as session:
        sponsor = sponsor_of(session)
        for start in range(0, len(donor_ids), CHUNK):
            built = build_statements(
                session,
                donor_ids[start : start + CHUNK],
                YEAR,
                issued_on=ISSUED_ON,
                sponsor=sponsor,
            )
            for due in built.due:
                data = json.dumps(due.doc.data(), indent=2, sort_keys=True)
                out.append((statement_html(due.doc), data, stamp))
    engine.dispose()
    return out


def workers_cpu() -> float:
    """CPU seconds of every worker that has ended so far (all are the fork server's children).

    Wall-clock rates on a shared machine drift with other jobs' load; CPU
    seconds per statement hardly do, so both are reported.
    """
    from multiprocessing import forkserver

    pid = forkserver._forkserver._forkserver_pid  # type: ignore[attr-defined]
    time.sleep(0.3)  # the server reaps its children on SIGCHLD
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # Fields 16 and 17 of stat (counted from 1; the rest starts at field 3): cutime, cstime.
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def run_ceiling(jobs: int, work: list[tuple[str, str, datetime]]) -> dict[str, Any]:
    from conservancy.receipts.annual import pool_context

    cpu, workers, started = time.process_time(), workers_cpu(), time.perf_counter()
    with ProcessPoolExecutor(jobs, mp_context=pool_context()) as pool:
        sizes = list(pool.map(weasyprint_only, *zip(*work, strict=True)))
    seconds = time.perf_counter() - started
    cpu, workers = time.process_time() - cpu, workers_cpu() - workers
    return {
        "statements": len(sizes),
        "seconds": seconds,
        "rate": len(sizes) / seconds,
        "parent_cpu_seconds": cpu,
        "workers_cpu_seconds": workers,
        "mean_pdf_bytes": sum(sizes) // max(len(sizes), 1),
    }


# -- ours -------------------------------------------------------------------------


def run_ours(url: str, folder: Path, jobs: int) -> dict[str, Any]:
    from sqlalchemy import delete

    from conservancy.cli.receipts import ProgressBar
    from conservancy.infra.db import make_engine, make_sessions
    from conservancy.mail.models import MailMessage
    from conservancy.receipts.annual import issue_statements
    from conservancy.receipts.models import AnnualStatement

    engine = make_engine(url)
    sessions = make_sessions(engine)
    with sessions() as session:  # a fresh start: no rows, no files
        session.execute(delete(MailMessage))
        session.execute(delete(AnnualStatement))
        session.commit()
    shutil.rmtree(folder / "statements", ignore_errors=True)
    bar = ProgressBar(sys.stderr, "statements")
    cpu, workers, started = time.process_time(), workers_cpu(), time.perf_counter()
    result = issue_statements(
        sessions, folder, YEAR, today=ISSUED_ON, jobs=jobs, progress=bar, batch=50
    )
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    workers = workers_cpu() - workers
    bar.close()
    engine.dispose()
    if result.problems:
        raise SystemExit(f"statements not issued: {result.problems[:3]}")
    files = list((folder / "statements").rglob("*.pdf"))
    return {
        "statements": result.issued,
        "nothing_stands": result.nothing_stands,
        "seconds": seconds,
        "rate": result.issued / seconds,
        "parent_cpu_seconds": cpu,
        "workers_cpu_seconds": workers,
        "mean_pdf_bytes": sum(p.stat().st_size for p in files) // max(len(files), 1),
    }


def warm_up(jobs: int) -> None:
    """Start the fork server (it loads WeasyPrint once) before anything is timed."""
    from conservancy.receipts.annual import make_pool

    with make_pool(jobs) as pool:
        list(pool.map(abs, range(jobs)))


# -- report -----------------------------------------------------------------------


def machine() -> dict[str, Any]:
    import weasyprint

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "weasyprint": weasyprint.__version__,
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def table(results: dict[str, Any]) -> str:
    data = results["data"]
    rounds = results["rounds"]
    ours_n = sum(r["ours"]["statements"] for r in rounds)
    ours_s = sum(r["ours"]["seconds"] for r in rounds)
    ceil_n = sum(r["ceiling"]["statements"] for r in rounds)
    ceil_s = sum(r["ceiling"]["seconds"] for r in rounds)
    ratio = (ours_n / ours_s) / (ceil_n / ceil_s)
    results["ratio"] = ratio
    lines = [
        f"| figure | {data['donors']:,} donors |",
        "|---|---|",
        f"| data | {data['donors']:,} donors, {data['gifts']:,} gifts in {YEAR} "
        f"({data['tshirts']} with a t-shirt, {data['partial']} refunded in part, "
        f"{data['full']} in full), {data['receipts']:,} receipts |",
        f"| worker processes | {results['jobs']} |",
    ]
    for n, r in enumerate(rounds, 1):
        o, c = r["ours"], r["ceiling"]
        lines.append(
            f"| round {n}: `issue_statements` / WeasyPrint alone | "
            f"{o['statements']:,} in {o['seconds']:.1f} s = {o['rate']:.1f}/s / "
            f"{c['statements']:,} in {c['seconds']:.1f} s = {c['rate']:.1f}/s "
            f"({o['rate'] / c['rate']:.1%}) |"
        )

    def cpu_each(which: str) -> float:
        n = sum(r[which]["statements"] for r in rounds)
        return (
            sum(r[which]["workers_cpu_seconds"] + r[which]["parent_cpu_seconds"] for r in rounds)
            / n
        )

    ours_cpu, ceil_cpu = cpu_each("ours"), cpu_each("ceiling")
    results["cpu_ratio"] = ceil_cpu / ours_cpu
    lines += [
        f"| statements/s, all rounds: ours / ceiling | {ours_n / ours_s:.1f} / "
        f"{ceil_n / ceil_s:.1f} |",
        f"| ours as a share of the ceiling's rate (budget >= 90%) | {ratio:.1%} |",
        f"| CPU per statement, workers + parent: ours / ceiling | {ours_cpu * 1000:.0f} / "
        f"{ceil_cpu * 1000:.0f} ms |",
        f"| ceiling / ours, CPU per statement (the rate ratio with cores to spare) | "
        f"{ceil_cpu / ours_cpu:.1%} |",
        f"| parent process CPU during ours (gather, record, mail rows) | "
        f"{sum(r['ours']['parent_cpu_seconds'] for r in rounds) / len(rounds):.1f} s a round |",
        f"| mean statement PDF | {rounds[0]['ours']['mean_pdf_bytes'] / 1024:.0f} KiB |",
    ]
    m = results["machine"]
    lines.append("")
    lines.append(
        f"* {m['cpus']} cores ({m['cpu']}), Python {m['python']}, WeasyPrint {m['weasyprint']}; "
        f"load average {m['loadavg_at_start'][0]:.2f} at the start, "
        f"{m['loadavg_at_end'][0]:.2f} at the end"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from conservancy.receipts.annual import default_jobs

    parser = argparse.ArgumentParser(prog="python -m bench.annual_statements", description=__doc__)
    parser.add_argument("--donors", type=int, default=2000)
    parser.add_argument("--gifts", type=int, default=3, help="gifts per donor in the year")
    parser.add_argument("--jobs", type=int, default=default_jobs(), help="worker processes")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--keep", action="store_true", help="keep the temp dir (and its PDFs)")
    args = parser.parse_args(argv)

    root = Path(tempfile.mkdtemp(prefix="bench-statements-"))
    url = f"sqlite:///{root / 'bench.db'}"
    folder = root / "receipts"
    results: dict[str, Any] = {"machine": machine(), "command": sys.argv, "jobs": args.jobs}
    try:
        started = time.perf_counter()
        results["data"] = seed(url, args.donors, args.gifts)
        print(
            f"-- seeded {args.donors:,} donors in {time.perf_counter() - started:.1f} s ({root})",
            file=sys.stderr,
        )
        work = same_html(url, list(range(1, args.donors + 1)))
        warm_up(args.jobs)
        results["rounds"] = []
        for n in range(args.rounds):
            one: dict[str, Any] = {}
            for which in ("ceiling", "ours") if n % 2 == 0 else ("ours", "ceiling"):
                print(f"-- round {n + 1}: {which}", file=sys.stderr, flush=True)
                if which == "ours":
                    one["ours"] = run_ours(url, folder, args.jobs)
                else:
                    one["ceiling"] = run_ceiling(args.jobs, work)
                print(
                    f"   {one[which]['statements']} in {one[which]['seconds']:.1f} s",
                    file=sys.stderr,
                )
            results["rounds"].append(one)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    text = table(results)
    results["table"] = text
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"annual_statements-{args.donors}.json"
    out.write_text(json.dumps(results, indent=2, default=str), "utf-8")
    print(text)
    print(f"\n(written to {out.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
