"""The treasurer dashboard on big books: latency, a new gift's time to appear, worker RSS.

    .venv/bin/python -m bench.dashboard --transactions 100000
    .venv/bin/python -m bench.dashboard --transactions 1000000 --dir /tmp/books-1m --keep
    .venv/bin/python -m bench.dashboard --transactions 1000000 --dir /tmp/books-1m --reuse \
        --experiment-index    # with an index the migrations lack: dashboard-<N>-index.json
    .venv/bin/python -m bench.dashboard --report        # every size in bench/results

SPEC section 10: the treasurer dashboard of books of 1M transactions, warm, p95
<= 50 ms; a new gift's webhook to its appearance on the dashboard <= 1 s at any
size; one web worker with books of 1M transactions <= 300 MB RSS.

The books are ``bench.ledger_reader``'s synthetic books (its ``generate``). Each
step runs in a fresh interpreter, so that the worker's memory is its own:

snapshot  ``python -m conservancy.ledger.rebuild LEDGER_DIR``, as a web worker's
          child builds it (skipped when a saved snapshot still fits the books).
seed      a SQLite database in a temp dir, migrated: the sponsor; the 50 projects
          with the books' funds (their accounts' Open entries marked posted,
          since the synthetic books already open them); donors, donations
          (one-time and recurring) and gifts as many as the books hold, in bulk;
          a treasurer of the biggest project.
serve     what one web worker does, in-process through Flask's test client (no
          network, no gunicorn): ``build_app`` (post pending entries, then
          ``Books.start`` from the saved snapshot, rebuilds in a child), sign in
          through the form, then the dashboard of the biggest project (cold,
          then warm), its transactions and donors pages; new gifts settled as
          the webhook settles them (``settle`` + commit + ``post_ledger``) and
          the dashboard read until the donor's name is among its latest
          transactions; the process's RSS; a cProfile of warm dashboards.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.ledger_reader import (
    COMMON_GIFTS,
    COMMON_WEIGHTS,
    FIRST_NAMES,
    LAST_NAMES,
    OPENED_ON,
    PROJECTS,
    YEARS,
    _machine_line,
    generate,
    machine,
    peak_rss_mib,
    phase_in_child,
    rss_mib,
    stripe_fee,
    summary,
)

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
EMAIL = "treasurer@bench.example.org"
PASSWORD = "correct horse battery staple"
SECRET_KEY = "bench-dashboard-secret-key-0123456789"
BIG = PROJECTS[0]  # fund 0 takes the most gifts (weights 1/(i+1))


def slug_of(fund: str) -> str:
    return fund.lower()


# ---------------------------------------------------------------------------
# seed: the database


# Not in the app's migrations: what --experiment-index adds to the seeded database, to
# measure the fix the first runs called for (see bench/README.md).
EXPERIMENT_INDEX = (
    "CREATE INDEX bench_ix_donations_recurring ON donations "
    "(project_id, frequency, status, currency, visibility, donor_id, amount_minor)"
)


def phase_seed(url: str, db_gifts: int, seed: int = 3, index: bool = False) -> dict[str, Any]:
    """Sponsor, projects, donors, donations and gifts in bulk; a treasurer of the biggest."""
    from sqlalchemy import insert, text, update

    from conservancy.donations.models import Donation, Donor, Gift, recount_everything
    from conservancy.infra.db import make_engine, make_sessions, migrate
    from conservancy.ledger.models import LedgerOutbox
    from conservancy.projects.service import add_project, set_up_sponsor
    from conservancy.staff import audit, passwords
    from conservancy.staff.models import Role
    from conservancy.staff.service import add_user, get_user

    started = time.perf_counter()
    migrate(url)
    engine = make_engine(url)
    out: dict[str, Any] = {}
    with make_sessions(engine)() as session:
        set_up_sponsor(
            session,
            legal_name="Bench Sponsor, Inc.",
            ein="12-3456789",
            address="137 Montague Street, Suite 380\nBrooklyn, NY 11201",
            time_zone="America/New_York",
            books_open_on=OPENED_ON,
        )
        project_ids = []
        for fund, name, bp in PROJECTS:
            project = add_project(
                session,
                slug=slug_of(fund),
                name=name,
                fund=fund,
                fee_rate_bp=bp,
                opened_on=OPENED_ON,
            )
            project_ids.append(project.id)
        # The synthetic books open every one of these accounts with the same refs:
        # the outbox says so, and nothing is appended twice.
        session.execute(update(LedgerOutbox).values(posted_at=datetime.now(UTC)))
        user_id = add_user(
            session, audit.COMMAND_LINE, email=EMAIL, role=Role.TREASURER, project=slug_of(BIG[0])
        ).user.id
        user = get_user(session, user_id)
        user.password_hash = passwords.hash_password(PASSWORD)
        user.totp_secret = None
        session.commit()

        # Donors and gifts shaped as the books' are: a few projects take most gifts,
        # a donor in three gives monthly (one donation, a gift each month), one in ten
        # anonymously; amounts from the same pool.
        rng = random.Random(seed)
        n_donors = max(100, db_gifts // 4)
        fund_pool = [i for i in range(len(PROJECTS)) for _ in range(max(1, 1000 // (i + 1)))]
        amount_pool = [
            c for c, w in zip(COMMON_GIFTS, COMMON_WEIGHTS, strict=True) for _ in range(w)
        ]
        first_day = date(YEARS[0], 1, 1)
        days = (date(YEARS[-1], 12, 31) - first_day).days + 1
        created = datetime(YEARS[0], 1, 1, tzinfo=UTC)
        donor_rows = []

        def given(d: int) -> dict[str, str]:
            """Donor ``d``'s name and address, as their donations and gifts keep them too."""
            first, last = FIRST_NAMES[d % len(FIRST_NAMES)], LAST_NAMES[d % len(LAST_NAMES)]
            return {"name": f"{first} {last}", "address": f"{d} Main Street\nPortland, ME 04101"}

        for d in range(1, n_donors + 1):
            donor_rows.append(
                {
                    "id": d,
                    "ref": f"donor-{d:012x}",
                    **given(d),
                    "email": f"donor{d}@example.org",
                    "created_at": created,
                }
            )
        for i in range(0, len(donor_rows), 20_000):
            session.execute(insert(Donor), donor_rows[i : i + 20_000])
        del donor_rows
        recurring: dict[tuple[int, int], int] = {}  # (donor, project) -> donation id
        donations: list[dict[str, Any]] = []
        gifts: list[dict[str, Any]] = []
        n_donations = 0
        counts = {"donations": 0, "recurring_donations": 0, "active_recurring": 0, "gifts": 0}
        big_counts = {"donations": 0, "recurring": 0, "gifts": 0}

        def flush() -> None:
            if donations:
                session.execute(insert(Donation), donations)
            if gifts:
                session.execute(insert(Gift), gifts)
            donations.clear()
            gifts.clear()

        for k in range(db_gifts):
            p = fund_pool[rng.randrange(len(fund_pool))]
            fund, _name, bp = PROJECTS[p]
            donor = rng.randrange(1, n_donors + 1)
            monthly = donor % 3 == 0
            if rng.random() < 0.25:
                amount = rng.randrange(100, 50001)
            else:
                amount = amount_pool[rng.randrange(len(amount_pool))]
            donation_id = recurring.get((donor, p)) if monthly else None
            if donation_id is None:
                n_donations += 1
                donation_id = n_donations
                # Recurring: one in eight cancelled since; the rest still billed.
                status = "cancelled" if monthly and donor % 8 == 0 else "paid"
                donations.append(
                    {
                        "id": donation_id,
                        "project_id": project_ids[p],
                        "donor_id": donor,
                        "donor_name": given(donor)["name"],
                        "donor_address": given(donor)["address"],
                        "amount_minor": amount,
                        "currency": "USD",
                        "frequency": "monthly" if monthly else "once",
                        "visibility": "anonymous"
                        if donor % 10 == 0
                        else ("project" if donor % 10 in (1, 2) else "public"),
                        "status": status,
                        "cover_fees": False,
                        "extra_general_minor": 0,
                        "created_at": created,
                    }
                )
                counts["donations"] += 1
                if p == 0:
                    big_counts["donations"] += 1
                if monthly:
                    recurring[(donor, p)] = donation_id
                    counts["recurring_donations"] += 1
                    counts["active_recurring"] += status == "paid"
                    if p == 0:
                        big_counts["recurring"] += 1
            on = first_day + timedelta(days=k * days // db_gifts)
            at = datetime.combine(on, datetime.min.time(), tzinfo=UTC) + timedelta(hours=15)
            gifts.append(
                {
                    "id": k + 1,
                    "donation_id": donation_id,
                    "ref": f"stripe-txn_seed{k:08x}",
                    "donor_name": given(donor)["name"],
                    "donor_address": given(donor)["address"],
                    "charge_id": f"ch_seed{k:08x}",
                    "payment_intent_id": f"pi_seed{k:08x}",
                    "invoice_id": None,
                    "balance_transaction_id": f"txn_seed{k:08x}",
                    "currency": "USD",
                    "project_minor": amount,
                    "general_minor": 0,
                    "fee_minor": stripe_fee(amount),
                    "fee_rate_bp": bp,
                    "fund": fund,
                    "reversed_minor": 0,
                    "refunded_minor": 0,
                    "refund_requests": 0,
                    "settled_at": at,
                    "settled_on": on,
                    "payment_method": "Card (Visa)",
                }
            )
            counts["gifts"] += 1
            big_counts["gifts"] += p == 0
            if len(gifts) >= 20_000:
                flush()
        flush()
        # The bulk inserts bypass the ORM's events that keep the donors page's totals.
        counted = time.perf_counter()
        recount_everything(session.connection())
        out["donor_totals_s"] = time.perf_counter() - counted
        if index:
            session.execute(text(EXPERIMENT_INDEX))
            out["experiment_index"] = EXPERIMENT_INDEX
        session.commit()
    engine.dispose()
    out.update(counts)
    out["donors"] = n_donors
    out["biggest_project"] = {"slug": slug_of(BIG[0]), "fund": BIG[0], **big_counts}
    out["seed_s"] = time.perf_counter() - started
    out["db_bytes"] = Path(url.removeprefix("sqlite:///")).stat().st_size
    return out


# ---------------------------------------------------------------------------
# serve: one web worker


def _escaped(text: str) -> str:
    from markupsafe import escape

    return str(escape(text))


def _sign_in(client: Any) -> None:
    page = client.get("/password-reset")  # a public page with a form
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token on /password-reset"
    answer = client.post(
        "/sign-in", data={"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    assert answer.status_code == 303, f"sign-in failed: {answer.status_code} {answer.text[:300]}"


def _recurring_by_index() -> None:
    """--experiment-index: the patrons' filter spelled so that an index can seek on it
    (``frequency IN (weekly, monthly, yearly)`` for ``frequency != once``: the same rows)."""
    from conservancy.donations.models import Donation, Frequency
    from conservancy.projects import giving
    from conservancy.projects.models import Project

    def active_recurring(project: Project) -> list[object]:
        return [
            Donation.project_id == project.id,
            Donation.frequency.in_([f for f in Frequency if f is not Frequency.ONCE]),
            Donation.status.in_(giving.ACTIVE),
            Donation.currency == project.currency,
        ]

    giving._active_recurring = active_recurring


def phase_serve(
    root: Path,
    url: str,
    work: Path,
    requests: int,
    new_gifts: int,
    profiled: int,
    experiment: bool = False,
) -> dict[str, Any]:
    out: dict[str, Any] = {"loadavg_before": os.getloadavg(), "rss_at_start_mib": rss_mib()}
    hwm: dict[str, float] = {}
    out["peak_rss_by_step_mib"] = hwm
    from sqlalchemy import select

    from conservancy.donations.models import Donation, Frequency, Visibility
    from conservancy.donations.service import DonationRequest, record_donation
    from conservancy.donations.settlement import settle
    from conservancy.infra.config import Environment, Settings
    from conservancy.money import Currency, Money
    from conservancy.payments.gateway import BalanceTransaction, Charge
    from conservancy.projects.fund import donors
    from conservancy.projects.models import Project
    from conservancy.runtime import Runtime
    from conservancy.web.app import build_app

    out["rss_after_imports_mib"] = rss_mib()
    hwm["imports"] = peak_rss_mib()
    if experiment:
        _recurring_by_index()
        out["experiment"] = "index on donations + patrons' filter as IN (see EXPERIMENT_INDEX)"
    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        ledger_dir=root,
        receipts_dir=work / "receipts",
        instance_dir=work / "instance",
        secret_key=SECRET_KEY,
    )
    rt = Runtime.from_settings(settings)
    t = time.perf_counter()
    app = build_app(settings, rt)  # posts what is pending, Books.start(isolated=True)
    out["build_app_ms"] = (time.perf_counter() - t) * 1000
    if rt.books.rebuilding:
        raise SystemExit("the saved snapshot was refused: the worker is rebuilding")
    out["rss_after_start_mib"] = rss_mib()
    hwm["build_app"] = peak_rss_mib()
    client = app.test_client()
    _sign_in(client)
    hwm["sign_in"] = peak_rss_mib()
    fund, _name, _bp = BIG
    slug = slug_of(fund)
    base = f"/treasurer/{slug}/"
    currency = Currency.USD

    def balance_text() -> str:
        return _escaped(rt.books.current().fund_balance(fund, currency).format())

    def get(path: str, expect: str) -> tuple[float, str]:
        t0 = time.perf_counter()
        answer = client.get(path)
        elapsed = time.perf_counter() - t0
        if answer.status_code != 200:
            raise AssertionError(f"GET {path}: {answer.status_code}\n{answer.text[:500]}")
        text = answer.text
        if expect not in text:
            raise AssertionError(f"GET {path}: {expect!r} is not on the page")
        return elapsed, text

    # (1) the dashboard: cold (first request of the worker), then warm
    expected = balance_text()
    out["fund"] = fund
    out["fund_balance"] = expected
    out["transactions_in_snapshot"] = rt.books.current().transactions
    cold, first_page = get(base, expected)
    out["dashboard_cold_ms"] = cold * 1000
    out["dashboard_bytes"] = len(first_page.encode())
    out["rss_after_first_dashboard_mib"] = rss_mib()
    for _ in range(20):
        get(base, expected)
    out["dashboard_warm"] = summary([get(base, expected)[0] for _ in range(requests)])
    out["rss_after_dashboards_mib"] = rss_mib()
    hwm["dashboards"] = peak_rss_mib()

    newest = rt.books.index.fund_transactions(fund, limit=50).transactions[0]
    tx_expect = _escaped(newest.payee or newest.narration)
    get(f"{base}transactions", tx_expect)
    out["transactions_warm"] = summary(
        [get(f"{base}transactions", tx_expect)[0] for _ in range(max(50, requests // 3))]
    )
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        lines, _more = donors(session, project)
        top = _escaped(lines[0].name)
    t0 = time.perf_counter()
    get(f"{base}donors", top)
    out["donors_cold_ms"] = (time.perf_counter() - t0) * 1000
    out["donors_warm"] = summary(
        [get(f"{base}donors", top)[0] for _ in range(max(20, requests // 10))]
    )

    hwm["transactions_donors"] = peak_rss_mib()

    # (2) new gifts: settled as the webhook does, then the dashboard read until it shows
    usd = Currency.USD
    phases: dict[str, list[float]] = {"settle_commit": [], "post_ledger": [], "until_shown": []}
    totals: list[float] = []
    polls: list[int] = []
    for i in range(new_gifts):
        unique = secrets.token_hex(5)
        name = f"Newgift Donor {unique}"
        amount = Money.parse(f"{25 + i}.00", usd)
        with rt.sessions() as session:  # the donation form, before the webhook: not timed
            project = session.scalars(select(Project).where(Project.slug == slug)).one()
            donation = record_donation(
                session,
                project,
                DonationRequest(
                    amount=amount,
                    frequency=Frequency.ONCE,
                    name=name,
                    email=f"newgift-{unique}@example.org",
                    visibility=Visibility.PUBLIC,
                    address="1 Bench Road\nPortland, ME 04101",
                ),
                maximum=settings.max_donation,
                today=datetime.now(UTC).date(),
            )
            session.commit()
            donation_id = donation.id
        t0 = time.perf_counter()
        with rt.sessions() as session:
            paying = session.get(Donation, donation_id)
            assert paying is not None
            at = datetime.now(UTC)
            charge = Charge(
                id=f"ch_{unique}",
                amount=paying.total,
                payment_intent_id=f"pi_{unique}",
                balance_transaction=BalanceTransaction(
                    id=f"txn_{unique}",
                    amount=paying.total,
                    fee=Money.from_minor(stripe_fee(paying.total.minor), usd),
                    created_at=at,
                ),
                created_at=at,
                metadata={"donation_id": str(paying.id)},
                payment_method="Card (Visa)",
            )
            settle(session, paying, charge, settings.timezone)
            session.commit()
        t1 = time.perf_counter()
        rt.post_ledger()
        t2 = time.perf_counter()
        wanted = _escaped(name)
        n = 0
        while True:
            n += 1
            answer = client.get(base)
            assert answer.status_code == 200, answer.status_code
            if wanted in answer.text:
                break
            if time.perf_counter() - t2 > 10:
                raise AssertionError(f"gift {i} ({name}) did not show on the dashboard in 10 s")
        t3 = time.perf_counter()
        phases["settle_commit"].append(t1 - t0)
        phases["post_ledger"].append(t2 - t1)
        phases["until_shown"].append(t3 - t2)
        totals.append(t3 - t0)
        polls.append(n)
    hwm["new_gifts"] = peak_rss_mib()
    out["new_gift"] = summary(totals)
    out["new_gift_parts"] = {k: summary(v) for k, v in phases.items()}
    out["new_gift_polls_max"] = max(polls) if polls else 0
    # The balance on the page still agrees with the snapshot after the gifts.
    expected = balance_text()
    get(base, expected)
    out["fund_balance_after"] = expected
    out["rss_after_requests_mib"] = rss_mib()
    out["peak_rss_mib"] = peak_rss_mib()
    out["rebuilding_at_end"] = rt.books.rebuilding

    # (3) where a warm dashboard's time goes (after the timed runs: not in the figures)
    if profiled:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(profiled):
            client.get(base)
        profile.disable()
        text = io.StringIO()
        stats = pstats.Stats(profile, stream=text)
        stats.sort_stats("cumulative").print_stats(35)
        stats.sort_stats("tottime").print_stats(20)
        out["profile_requests"] = profiled
        out["profile"] = text.getvalue()
    rt.books.wait(timeout=1)
    rt.close()
    out["loadavg_after"] = os.getloadavg()
    return out


# ---------------------------------------------------------------------------
# Running and reporting


def run_child(args: list[str]) -> dict[str, Any]:
    return phase_in_child("bench.dashboard", args)


def build_snapshot(root: Path) -> dict[str, Any]:
    """``python -m conservancy.ledger.rebuild`` in a child (it stops at once when a saved
    snapshot still fits); the child's peak RSS as wait4 reports it."""
    t = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-m", "conservancy.ledger.rebuild", str(root)], cwd=REPO
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"rebuild failed (exit {child.returncode})")
    return {"rebuild_s": time.perf_counter() - t, "peak_rss_mib": usage.ru_maxrss / 1024}


def _ms(part: dict[str, float] | None) -> str:
    if not part:
        return "-"
    return f"{part['p50_ms']:.3g} / {part['p95_ms']:.3g} ms"


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    gen, db, serve = results["books"], results["seed"], results["serve"]
    big = db["biggest_project"]
    snap = results.get("snapshot", {})
    d = serve["dashboard_warm"]
    g = serve["new_gift"]
    parts = serve["new_gift_parts"]
    out = [
        (
            "books",
            f"{gen['transactions']:,} app transactions + {gen['staff_transactions']} staff, "
            f"{gen['funds']} funds, {gen['app_bytes'] / 2**20:.0f} MiB",
        ),
        (
            "database (SQLite)",
            f"{db['gifts']:,} gifts, {db['donations']:,} donations ({db['recurring_donations']:,} "
            f"monthly, {db['active_recurring']:,} still billed), {db['donors']:,} donors; "
            f"{big['slug']}: {big['gifts']:,} gifts, {big['donations']:,} donations, "
            f"{big['recurring']:,} monthly",
        ),
    ]
    if snap.get("rebuild_s") is not None:
        out.append(
            (
                "snapshot built by `python -m conservancy.ledger.rebuild` (a child)",
                f"{snap['rebuild_s']:.1f} s, peak {snap['peak_rss_mib']:,.0f} MiB"
                + (" (an earlier run, same books)" if snap.get("from_earlier_run") else ""),
            )
        )
    out += [
        (
            "worker start (`build_app`: post pending + `Books.start`)",
            f"{serve['build_app_ms']:.3g} ms",
        ),
        ("dashboard, first request (cold)", f"{serve['dashboard_cold_ms']:.3g} ms"),
        (
            "dashboard, warm, p50 / p95 (budget p95 ≤ 50 ms at 1M)",
            _ms(d) + f" (p99 {d['p99_ms']:.3g}, max {d['max_ms']:.3g}; n={d['n']})",
        ),
        ("`/transactions` (50 a page), warm, p50 / p95", _ms(serve["transactions_warm"])),
        (
            "`/donors` (100 a page), warm, p50 / p95",
            _ms(serve["donors_warm"]) + f" (first {serve['donors_cold_ms']:.3g} ms)",
        ),
        (
            "new gift to the dashboard: settle + commit + post + GET until shown, p50 / p95 "
            "(budget ≤ 1 s)",
            _ms(g) + f" (max {g['max_ms']:.3g}; n={g['n']})",
        ),
        (
            "  settle + commit / `post_ledger` / GETs until shown, p50",
            " / ".join(
                f"{parts[k]['p50_ms']:.3g}" for k in ("settle_commit", "post_ledger", "until_shown")
            )
            + f" ms (GETs needed: at most {serve['new_gift_polls_max']})",
        ),
        (
            "worker RSS: after start / after all requests / peak (budget ≤ 300 MB at 1M)",
            f"{serve['rss_after_start_mib']:.0f} / {serve['rss_after_requests_mib']:.0f} / "
            f"{serve['peak_rss_mib']:.0f} MiB",
        ),
    ]
    return out


def table(results: dict[str, Any]) -> str:
    gen = results["books"]
    experiment = results["serve"].get("experiment")
    return "\n".join(
        [
            f"Books of {gen['transactions']:,} transactions — {_machine_line(results)}",
            *([f"EXPERIMENT: {experiment}"] if experiment else []),
            "",
            "| figure | value |",
            "|---|---|",
            *(f"| {name} | {value} |" for name, value in rows(results)),
        ]
    )


def report() -> str:
    runs = sorted(
        (json.loads(p.read_text("utf-8")) for p in RESULTS.glob("dashboard-*.json")),
        key=lambda r: (r["books"]["transactions"], "experiment" in r["serve"]),
    )
    if not runs:
        return "no results yet: run the benchmark first"
    by_run = [dict(rows(r)) for r in runs]
    names: list[str] = []
    for r in runs:
        names += [name for name, _ in rows(r) if name not in names]
    head = [
        f"{r['books']['transactions']:,}" + (" + index" if "experiment" in r["serve"] else "")
        for r in runs
    ]
    return "\n".join(
        [
            "| figure | " + " | ".join(head) + " |",
            "|---|" + "---|" * len(runs),
            *(
                f"| {name} | " + " | ".join(v.get(name, "-") for v in by_run) + " |"
                for name in names
            ),
            "",
            *(
                f"* {h.replace(' + index', '')} transactions{' + index' if '+' in h else ''}: "
                f"{_machine_line(r)}"
                for h, r in zip(head, runs, strict=True)
            ),
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.dashboard", description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="where the books go (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="keep books already in --dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir of the books")
    parser.add_argument("--requests", type=int, default=300, help="warm dashboards to time")
    parser.add_argument("--gifts", type=int, default=20, help="new gifts to time")
    parser.add_argument(
        "--db-gifts", type=int, help="gifts in the database (default: as many as the books)"
    )
    parser.add_argument("--profile", type=int, default=100, help="dashboards under cProfile")
    parser.add_argument(
        "--experiment-index",
        action="store_true",
        help="add an index the migrations lack and spell the patrons' filter for it "
        "(results go to dashboard-<N>-index.json)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", action="store_true")
    parser.add_argument("--phase", choices=["seed", "serve"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.report:
        print(report())
        return 0
    if args.phase == "seed":
        result = phase_seed(args.url, args.db_gifts, index=args.experiment_index)
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0
    if args.phase == "serve":
        result = phase_serve(
            args.dir,
            args.url,
            args.work,
            args.requests,
            args.gifts,
            args.profile,
            args.experiment_index,
        )
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0

    temp = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="bench-dashboard-")) if temp else args.dir
    work = Path(tempfile.mkdtemp(prefix="bench-dashboard-db-"))
    results: dict[str, Any] = {"machine": machine(), "command": sys.argv}
    try:
        if args.reuse and (root / "main.beancount").exists():
            books = json.loads((root / "bench-books.json").read_text("utf-8"))
            print(f"-- reusing the books in {root}", file=sys.stderr)
        else:
            if root.exists() and any(root.iterdir()):
                shutil.rmtree(root)
            root.mkdir(parents=True, exist_ok=True)
            print(f"-- generating {args.transactions:,} transactions in {root}", file=sys.stderr)
            books = generate(root, args.transactions, seed=args.seed)
            (root / "bench-books.json").write_text(json.dumps(books), "utf-8")
            print(f"   generated in {books['seconds']:.1f} s", file=sys.stderr)
        results["books"] = books

        print("-- snapshot (child: conservancy.ledger.rebuild) ...", file=sys.stderr, flush=True)
        results["snapshot"] = build_snapshot(root)
        print(f"   {results['snapshot']['rebuild_s']:.1f} s", file=sys.stderr, flush=True)
        earlier = RESULTS / f"dashboard-{books['transactions']}.json"
        if results["snapshot"]["rebuild_s"] < 5 and earlier.exists():
            # The saved snapshot still fitted the books: the child stopped at once.
            # Keep the figures of the run that built it.
            before = json.loads(earlier.read_text("utf-8")).get("snapshot", {})
            if before.get("rebuild_s", 0) >= 5 or before.get("from_earlier_run"):
                results["snapshot"] = {**before, "from_earlier_run": True}

        url = f"sqlite:///{work / 'conservancy.db'}"
        db_gifts = args.db_gifts if args.db_gifts is not None else books["gifts"]
        print(f"-- seeding the database ({db_gifts:,} gifts) ...", file=sys.stderr, flush=True)
        experiment = ["--experiment-index"] if args.experiment_index else []
        results["seed"] = run_child(
            ["--phase", "seed", "--url", url, "--db-gifts", str(db_gifts), *experiment]
        )
        print(f"   {results['seed']['wall_s']:.1f} s", file=sys.stderr, flush=True)

        print("-- serving (one worker, in-process test client) ...", file=sys.stderr, flush=True)
        results["serve"] = run_child(
            [
                "--phase",
                "serve",
                "--dir",
                str(root),
                "--url",
                url,
                "--work",
                str(work),
                "--requests",
                str(args.requests),
                "--gifts",
                str(args.gifts),
                "--profile",
                str(args.profile),
                *experiment,
            ]
        )
        print(f"   {results['serve']['wall_s']:.1f} s", file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if temp and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    text = table(results)
    results["table"] = text
    RESULTS.mkdir(parents=True, exist_ok=True)
    suffix = "-index" if args.experiment_index else ""
    out = RESULTS / f"dashboard-{books['transactions']}{suffix}.json"
    out.write_text(json.dumps(results, indent=2), "utf-8")
    print(text)
    print(f"\n(written to {out.relative_to(REPO)}; the profile is in its serve.profile)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
