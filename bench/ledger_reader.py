"""How fast the books reader is on big books (SPEC section 10).

    .venv/bin/python -m bench.ledger_reader --transactions 100000
    .venv/bin/python -m bench.ledger_reader --transactions 1000000

Synthetic books are written straight to the app files, in the text the writer
produces (checked against ``ledger.writer.render`` on a sample), then each
measurement runs in a fresh interpreter so that its peak memory is its own:

build   ``snapshot.build`` (what ``Books.load`` and a background rebuild run),
        split into Beancount's loader and our pass over its entries; peak RSS.
load    Beancount's own ``loader.load_file`` on the same books, for reference.
check   ``conservancy ledger check`` (``check_books``) on the same books.
serve   what a web worker does: start from the persisted snapshot
        (``load_saved`` + ``catch_up``), balance look-ups through
        ``Books.current()``, appends through the outbox until they show, and
        look-ups while a staff edit makes the worker rebuild in the background.

The figures are printed as a Markdown table and written to
``bench/results/ledger_reader-<N>.json``; ``--report`` prints every size found
there side by side (the README's table).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results"
TITLE = "Bench Sponsor, Inc."
YEARS = (2024, 2025)
OPENED_ON = date(YEARS[0], 1, 1)
STAFF_FILE = "staff.beancount"
PHASES = ["build", "load", "check", "serve"]

# (fund, project name, sponsorship fee in basis points); a few funds take most gifts.
PROJECTS: list[tuple[str, str, int]] = [
    (fund, name, bp)
    for fund, name, bp in [
        ("Twisted", "Twisted", 1000),
        ("Inkscape", "Inkscape", 1000),
        ("Git", "Git", 1000),
        ("Samba", "Samba", 1000),
        ("Wine", "Wine", 700),
        ("Mercurial", "Mercurial", 1000),
        ("QEMU", "QEMU", 1000),
        ("Selenium", "Selenium", 1000),
        ("SugarLabs", "Sugar Labs", 1000),
        ("Godot", "Godot Engine", 1000),
        ("Busybox", "BusyBox", 1000),
        ("Boost", "Boost", 1000),
        ("Darcs", "Darcs", 1000),
        ("Amarok", "Amarok", 1000),
        ("Bongo", "Bongo Project", 1000),
        ("Evergreen", "Evergreen ILS", 1000),
        ("Foresight", "Foresight Linux", 1000),
        ("Homebrew", "Homebrew", 500),
        ("Kallithea", "Kallithea", 1000),
        ("Mifos", "Mifos", 1000),
        ("Outreachy", "Outreachy", 1000),
        ("PyPy", "PyPy", 1000),
        ("Reproducible", "Reproducible Builds", 1000),
        ("Etherpad", "Etherpad", 1000),
        ("Gevent", "gevent", 1000),
        ("Harvey", "Harvey OS", 1000),
        ("Inferno", "Inferno", 1000),
        ("Jquery", "jQuery Foundation Fund", 1000),
        ("K9Mail", "K-9 Mail", 1000),
        ("Laminas", "Laminas", 1000),
        ("Lucene", "Lucene Fund", 1000),
        ("Metalink", "Metalink", 1000),
        ("NTPsec", "NTPsec", 1000),
        ("OpenChange", "OpenChange", 1000),
        ("Phpmyadmin", "phpMyAdmin", 1000),
        ("Racket", "Racket", 1000),
        ("Sambashare", "Samba Share", 1000),
        ("Squeak", "Squeak", 1000),
        ("SurfaceTools", "Surface Tools", 1000),
        ("ThreeDSlicer", "3D Slicer", 1000),
        ("Tiled", "Tiled Map Editor", 1000),
        ("Toybox", "Toybox", 1000),
        ("Usb", "USB/IP", 1000),
        ("Vmkit", "VMKit", 1000),
        ("Wordpress", "WordPress Fund", 1000),
        ("Xapian", "Xapian", 1000),
        ("Yocto", "Yocto Fund", 1000),
        ("Zulip", "Zulip Fund", 1000),
        ("Openwrt", "OpenWrt", 1000),
        ("Coreboot", "coreboot", 1000),
    ]
]
FIRST_NAMES = [
    "Ada",
    "Alan",
    "Amara",
    "Ana",
    "Anders",
    "Aroha",
    "Bao",
    "Beatriz",
    "Björn",
    "Carmen",
    "Chen",
    "Chloé",
    "Dario",
    "Deepa",
    "Diego",
    "Emeka",
    "Emily",
    "Fatima",
    "Feng",
    "Freya",
    "Giulia",
    "Hana",
    "Hiroshi",
    "Ines",
    "Ivan",
    "Jamal",
    "Jean-Luc",
    "José",
    "Karin",
    "Kwame",
    "Lars",
    "Leila",
    "Li",
    "Lucía",
    "Mads",
    "Maria",
    "Mateo",
    "Mei",
    "Mohammed",
    "Nadia",
    "Niamh",
    "Olu",
    "Omar",
    "Priya",
    "Rafael",
    "Ravi",
    "Sakura",
    "Sean",
    "Siobhán",
    "Sven",
    "Tariq",
    "Thandiwe",
    "Tomás",
    "Uma",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoë",
]
LAST_NAMES = [
    "Abbott",
    "Adeyemi",
    "Almeida",
    "Andersson",
    "Bauer",
    "Bianchi",
    "Brown",
    "Chowdhury",
    "Costa",
    "Dubois",
    "Dvořák",
    "Eriksen",
    "Fernández",
    "García",
    "Gonzalez",
    "Haddad",
    "Hansen",
    "Ivanova",
    "Jensen",
    "Johnson",
    "Kaur",
    "Kim",
    "Kowalski",
    "Kumar",
    "Larsen",
    "Lee",
    "Liu",
    "Martin",
    "Mensah",
    "Müller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "O'Brien",
    "O'Connor",
    "Okafor",
    "Patel",
    "Petrov",
    "Popescu",
    "Quispe",
    "Rahman",
    "Rossi",
    "Sánchez",
    "Schmidt",
    "Silva",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Van den Berg",
    "Wang",
    "Williams",
    "Yamamoto",
    "Zhang",
    "Zimmermann",
]
# Amounts people give (cents), and how often.
COMMON_GIFTS = [500, 1000, 1500, 2000, 2500, 5000, 7500, 10000, 15000, 25000, 50000, 100000]
COMMON_WEIGHTS = [8, 14, 5, 12, 14, 14, 3, 12, 2, 4, 2, 1]


# ---------------------------------------------------------------------------
# Synthetic books


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _num(cents: int) -> str:
    sign = "-" if cents < 0 else ""
    cents = abs(cents)
    return f"{sign}{cents // 100}.{cents % 100:02d}"


def _block(
    day: str,
    payee: str | None,
    narration: str,
    meta: list[tuple[str, str]],
    postings: list[tuple[str, int]],
) -> str:
    """One transaction as ``writer.render`` prints it (Beancount's printer, USD only)."""
    if payee:
        out = [f'{day} * "{_esc(payee)}" "{_esc(narration)}"\n']
    else:
        out = [f'{day} * "{_esc(narration)}"\n']
    out += [f'  {key}: "{_esc(value)}"\n' for key, value in meta]
    numbers = [_num(c) for _, c in postings]
    wa = max(len(a) for a, _ in postings)
    wn = max(len(n) for n in numbers)
    out += [
        f"  {account:<{wa}}  {number:>{wn}} USD\n"
        for (account, _), number in zip(postings, numbers, strict=True)
    ]
    out.append("\n")
    return "".join(out)


def _rendered(
    day: str,
    payee: str | None,
    narration: str,
    meta: list[tuple[str, str]],
    postings: list[tuple[str, int]],
) -> str:
    """The same transaction through the real writer, to check ``_block`` against."""
    from conservancy.ledger.entries import Posting, Transaction
    from conservancy.ledger.writer import render
    from conservancy.money import Currency, Money

    ref = dict(meta)["ref"]
    return render(
        Transaction(
            ref=ref,
            date=date.fromisoformat(day),
            payee=payee,
            narration=narration,
            meta={k: v for k, v in meta if k != "ref"},
            postings=tuple(
                Posting(account, Money.from_minor(cents, Currency.USD))
                for account, cents in postings
            ),
        )
    )


def stripe_fee(gross: int) -> int:
    """2.9% + 0.30, half up, in cents."""
    return (gross * 29 + 500) // 1000 + 30


def sponsorship_fee(gross: int, bp: int) -> int:
    return (gross * bp + 5000) // 10000


def gift_blocks(
    day: str,
    ref: str,
    fund: str,
    project: str,
    bp: int,
    gross: int,
    payee: str,
    donor: int,
    receipt: str | None,
    recurring: bool,
    *,
    check: bool = False,
) -> tuple[str, int]:
    """A settled gift and its sponsorship fee; returns the text and what reaches Stripe."""
    fee = stripe_fee(gross)
    cut = sponsorship_fee(gross, bp)
    meta = [("ref", ref), ("stripe-id", ref), ("entity", f"donor:{donor}")]
    meta.append(("income-type", "Donations"))
    if receipt:
        meta.append(("receipt", receipt))
    narration = f"{'Monthly donation' if recurring else 'Donation'} to {project}"
    postings = [
        ("Assets:Stripe", gross - fee),
        (f"Expenses:{fund}:Payment-Processing", fee),
        (f"Income:{fund}:Donations", -gross),
    ]
    fee_meta = [("ref", f"fee:{ref}")]
    fee_narration = f"Sponsorship fee {bp / 100:g}% on {ref}"
    fee_postings = [
        (f"Expenses:{fund}:Sponsorship-Fees", cut),
        ("Income:General:Sponsorship-Fees", -cut),
    ]
    text = _block(day, payee, narration, meta, postings) + _block(
        day, None, fee_narration, fee_meta, fee_postings
    )
    if check:
        expected = _rendered(day, payee, narration, meta, postings) + _rendered(
            day, None, fee_narration, fee_meta, fee_postings
        )
        if text != expected:
            raise AssertionError(f"generator drifted from writer.render:\n{text}\n!=\n{expected}")
    return text, gross - fee


def payout_block(day: str, ref: str, amount: int, *, check: bool = False) -> str:
    meta = [("ref", ref), ("stripe-id", ref)]
    postings = [("Assets:Bank:Checking", amount), ("Assets:Stripe", -amount)]
    text = _block(day, None, "Stripe payout", meta, postings)
    if check and text != _rendered(day, None, "Stripe payout", meta, postings):
        raise AssertionError(f"generator drifted from writer.render:\n{text}")
    return text


def accounts_text() -> str:
    from conservancy.ledger import accounts
    from conservancy.ledger.entries import Open
    from conservancy.ledger.files import APP_FILE_HEADER
    from conservancy.ledger.writer import render

    names = accounts.sponsor_accounts()
    for fund, _, _ in PROJECTS:
        names += accounts.fund_accounts(fund)
    return APP_FILE_HEADER + "".join(
        render(Open(ref=f"open:{name}", date=OPENED_ON, account=name)) for name in names
    )


def staff_text() -> str:
    """A bookkeeper's own file: opening balances, bank fees, a cheque, a transfer."""
    lines = [
        "; Entered by hand by the bookkeeper.\n\n",
        f'{OPENED_ON} open Expenses:General:Bank-Fees\n  function: "management"\n',
        f"{OPENED_ON} open Assets:Bank:Savings\n\n",
        f'{OPENED_ON} * "Opening balances"\n',
        "  Assets:Bank:Checking         250000.00 USD\n",
        "  Equity:Net-Assets:General   -200000.00 USD\n",
        "  Equity:Net-Assets:Twisted    -50000.00 USD\n\n",
    ]
    for year in YEARS:
        for month in range(1, 13):
            lines.append(
                f'{year}-{month:02d}-28 * "First Bank" "Monthly account fee"\n'
                "  Expenses:General:Bank-Fees    15.00 USD\n"
                "  Assets:Bank:Checking         -15.00 USD\n\n"
            )
    lines += [
        f'{YEARS[0]}-06-30 * "Move reserve to savings"\n',
        "  Assets:Bank:Savings     100000.00 USD\n",
        "  Assets:Bank:Checking   -100000.00 USD\n\n",
        f'{YEARS[1]}-03-14 * "ACME Corp" "Cheque 1042 for Inkscape"\n',
        "  Assets:Bank:Checking       5000.00 USD\n",
        "  Income:Inkscape:Donations  -5000.00 USD\n\n",
    ]
    return "".join(lines)


STAFF_TRANSACTIONS = 1 + 12 * len(YEARS) + 2


def generate(root: Path, n: int, seed: int = 1, checks: int = 2000) -> dict[str, Any]:
    """Write books of exactly ``n`` app transactions (gifts, their fees, weekly payouts)."""
    from conservancy.ledger.files import APP_FILE_HEADER, LedgerFiles, main_file_text

    started = time.perf_counter()
    files = LedgerFiles(root)
    (root / "app").mkdir(parents=True, exist_ok=True)
    files.main.write_text(
        main_file_text(TITLE) + f'\n; The bookkeeper\'s own entries.\ninclude "{STAFF_FILE}"\n',
        "utf-8",
    )
    (root / STAFF_FILE).write_text(staff_text(), "utf-8")
    files.accounts.write_text(accounts_text(), "utf-8")

    first = date(YEARS[0], 1, 1)
    days = (date(YEARS[-1], 12, 31) - first).days + 1
    n_payouts = min(days // 7, max(1, n // 100))
    n_gifts = (n - n_payouts) // 2
    n_payouts = n - 2 * n_gifts
    rng = random.Random(seed)
    n_donors = max(100, n_gifts // 4)
    # A few projects get most gifts: fund i weighs 1/(i+1).
    fund_pool = [i for i in range(len(PROJECTS)) for _ in range(max(1, 1000 // (i + 1)))]
    amount_pool = [c for c, w in zip(COMMON_GIFTS, COMMON_WEIGHTS, strict=True) for _ in range(w)]
    check_every = max(1, n_gifts // checks)

    handles = {year: files.year_file(year).open("w", encoding="utf-8") for year in YEARS}
    for fh in handles.values():
        fh.write(APP_FILE_HEADER)
    buffered: dict[int, list[str]] = {year: [] for year in YEARS}

    def emit(year: int, text: str) -> None:
        buf = buffered[year]
        buf.append(text)
        if len(buf) >= 20000:
            handles[year].writelines(buf)
            buf.clear()

    stripe = 0
    payouts_done = 0
    receipts = dict.fromkeys(YEARS, 0)

    def payouts_until(day_index: int) -> None:
        nonlocal stripe, payouts_done
        # Payout j falls on day (j + 1) * days // n_payouts - 1.
        while payouts_done < n_payouts and (payouts_done + 1) * days // n_payouts - 1 < day_index:
            day = first + timedelta(days=(payouts_done + 1) * days // n_payouts - 1)
            ref = f"po_{payouts_done:06d}{rng.getrandbits(48):012x}"
            check = payouts_done % 10 == 0
            emit(day.year, payout_block(day.isoformat(), ref, stripe, check=check))
            stripe = 0
            payouts_done += 1

    day_strings = [(first + timedelta(days=i)).isoformat() for i in range(days)]
    for k in range(n_gifts):
        day_index = k * days // n_gifts
        payouts_until(day_index)
        day = day_strings[day_index]
        year = int(day[:4])
        fund, project, bp = PROJECTS[fund_pool[rng.randrange(len(fund_pool))]]
        if rng.random() < 0.25:
            gross = rng.randrange(100, 50001)
        else:
            gross = amount_pool[rng.randrange(len(amount_pool))]
        donor = rng.randrange(n_donors)
        if donor % 10 == 0:
            payee = "Anonymous"
        else:
            first_name = FIRST_NAMES[donor % len(FIRST_NAMES)]
            last_name = LAST_NAMES[(donor // len(FIRST_NAMES)) % len(LAST_NAMES)]
            payee = f"{first_name} {last_name}"
            if donor % 97 == 1:
                payee = f'{first_name} "{last_name[:3]}" {last_name}'  # a nickname in quotes
        receipt = None
        if rng.random() < 0.95:
            receipts[year] += 1
            receipt = f"R-{year}-{receipts[year]:07d}"
        ref = f"txn_{k:08x}{rng.getrandbits(64):016x}"
        text, net = gift_blocks(
            day,
            ref,
            fund,
            project,
            bp,
            gross,
            payee,
            donor,
            receipt,
            recurring=donor % 3 == 0,
            check=k % check_every == 0,
        )
        stripe += net
        emit(year, text)
        if k and k % 100000 == 0:
            print(f"  generated {2 * k:,} transactions", file=sys.stderr, flush=True)
    payouts_until(days)
    assert payouts_done == n_payouts
    for year, fh in handles.items():
        fh.writelines(buffered[year])
        fh.close()
    size = sum(p.stat().st_size for p in files.app_files())
    return {
        "transactions": n,
        "gifts": n_gifts,
        "fee_entries": n_gifts,
        "payouts": n_payouts,
        "staff_transactions": STAFF_TRANSACTIONS,
        "funds": len(PROJECTS),
        "app_bytes": size,
        "seconds": time.perf_counter() - started,
        "checked_against_render": n_gifts // check_every + n_payouts // 10,
    }


# ---------------------------------------------------------------------------
# Measuring


def _status(field: str) -> int:
    """A field of /proc/self/status in KiB (VmRSS: now, VmHWM: the peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    return _status("VmRSS") / 1024


def peak_rss_mib() -> float:
    return _status("VmHWM") / 1024


def phase_in_child(module: str, args: list[str]) -> dict[str, Any]:
    """Run one phase of bench ``module`` in a fresh interpreter (so that its peak memory is
    its own); the JSON it wrote to ``--phase-out``, with the phase's wall time."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = Path(tmp.name)
    cmd = [sys.executable, "-m", module, *args, "--phase-out", str(result_path)]
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(result_path.read_text("utf-8"))
    result_path.unlink()
    result["wall_s"] = time.perf_counter() - t
    return result


def summary(samples_s: list[float]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    ms = sorted(s * 1000 for s in samples_s)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, round(p / 100 * (len(ms) - 1)))]

    return {
        "n": len(ms),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "max_ms": ms[-1],
        "mean_ms": statistics.fmean(ms),
    }


def timed(fn: Callable[[], object], repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


@contextmanager
def _loader_timer(sink: dict[str, float]) -> Iterator[None]:
    """Times Beancount's loader inside snapshot.build, to split the build in two."""
    from unittest import mock

    from beancount import loader  # the module snapshot.build calls load_file on

    real = loader.load_file

    def load_file(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            sink["loader_s"] = time.perf_counter() - t

    with mock.patch.object(loader, "load_file", load_file):
        yield


def phase_build(root: Path) -> dict[str, Any]:
    from conservancy.ledger import snapshot
    from conservancy.ledger.files import LedgerFiles

    files = LedgerFiles(root)
    out: dict[str, Any] = {"rss_before_mib": rss_mib(), "loadavg_before": os.getloadavg()}
    t = time.perf_counter()
    with _loader_timer(out):
        built = snapshot.build(files)
    out["build_s"] = time.perf_counter() - t
    out["ours_s"] = out["build_s"] - out["loader_s"]
    t = time.perf_counter()
    snapshot.save(files, built)
    out["save_s"] = time.perf_counter() - t
    out["peak_rss_mib"] = peak_rss_mib()
    gc.collect()
    out["rss_after_mib"] = rss_mib()  # what a worker keeps after a rebuild
    out["transactions"] = built.transactions
    out["errors"] = built.errors
    out["accounts"] = len(built.balances)
    out["snapshot_bytes"] = (files.cache_dir / "snapshot.json").stat().st_size

    # What the pass over the loader's entries pays per transaction for path checks.
    name = str(files.year_file(YEARS[-1]))
    per_call = statistics.median(
        timed(lambda: (files.is_app_file(name), files.relative(name)), 2000)
    )
    out["path_checks_per_entry_us"] = per_call * 1e6
    out["path_checks_est_s"] = per_call * built.transactions
    out["loadavg_after"] = os.getloadavg()
    return out


def phase_load(root: Path) -> dict[str, Any]:
    from beancount import loader

    loader.initialize(use_cache=False)  # as snapshot does: no pickle cache beside the books
    out: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    t = time.perf_counter()
    entries, errors, _options = loader.load_file(str(root / "main.beancount"))
    out["load_s"] = time.perf_counter() - t
    out["peak_rss_mib"] = peak_rss_mib()
    out["entries"] = len(entries)
    out["errors"] = len(errors)
    out["first_errors"] = [str(e.message) for e in errors[:3]]
    out["loadavg_after"] = os.getloadavg()
    return out


def phase_check(root: Path) -> dict[str, Any]:
    """``conservancy ledger check`` on the same books (SPEC: at most 1.2x a plain load)."""
    from conservancy.ledger.check import check_books
    from conservancy.ledger.files import LedgerFiles

    out: dict[str, Any] = {"loadavg_before": os.getloadavg()}
    t = time.perf_counter()
    result = check_books(LedgerFiles(root))
    out["check_s"] = time.perf_counter() - t
    out["peak_rss_mib"] = peak_rss_mib()
    out["transactions"] = result.transactions
    out["problems"] = len(result.problems)
    out["first_problems"] = [str(p) for p in result.problems[:3]]
    out["loadavg_after"] = os.getloadavg()
    return out


def phase_serve(root: Path, lookups: int, appends: int, rebuild_probe: bool) -> dict[str, Any]:
    from conservancy.infra.db import make_engine, make_sessions, migrate
    from conservancy.ledger import snapshot
    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles
    from conservancy.ledger.outbox import post_pending, record

    files = LedgerFiles(root)
    out: dict[str, Any] = {"loadavg_before": os.getloadavg(), "rss_before_mib": rss_mib()}
    funds = [fund for fund, _, _ in PROJECTS]

    # (b) start-up from the persisted snapshot
    saved = snapshot.load_saved(files)
    if saved is None:
        raise SystemExit("no usable persisted snapshot: run the build phase first")
    out["load_saved"] = summary(timed(lambda: snapshot.load_saved(files), 20))
    out["catch_up_nothing_new"] = summary(timed(lambda: snapshot.catch_up(files, saved), 200))

    def start() -> Books:
        books = Books(files)
        books.start()
        assert not books.rebuilding, "the persisted snapshot was refused"
        return books

    out["books_start"] = summary(timed(start, 20))
    books = start()
    out["rss_after_start_mib"] = rss_mib()

    # (c) warm look-ups: what a dashboard does per request, and its parts
    rng = random.Random(7)
    for _ in range(200):
        books.current().fund_balance(funds[rng.randrange(len(funds))])

    def lookup() -> None:
        snap = books.current()
        snap.fund_balance(funds[rng.randrange(len(funds))])
        snap.account_balance("Assets:Stripe")

    out["lookup"] = summary(timed(lookup, lookups))
    snap = books.current()
    parts = max(1000, lookups // 5)
    out["lookup_parts"] = {
        "Books.current": summary(timed(books.current, parts)),
        "snapshot.stale": summary(timed(lambda: snapshot.stale(files, snap), parts)),
        "snapshot.catch_up": summary(timed(lambda: snapshot.catch_up(files, snap), parts)),
        "Snapshot.fund_balance": summary(timed(lambda: snap.fund_balance("Twisted"), parts)),
        "Snapshot.account_balance": summary(
            timed(lambda: snap.account_balance("Assets:Stripe"), parts)
        ),
    }

    # (d) append to visible: a gift and its fee recorded, committed, posted, then read
    db = root / "bench.db"
    url = f"sqlite:///{db}"
    migrate(url)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    from conservancy.ledger.entries import Posting, Transaction
    from conservancy.money import Currency, Money

    def usd(cents: int) -> Money:
        return Money.from_minor(cents, Currency.USD)

    stamp = time.time_ns()
    phases: dict[str, list[float]] = {"record_commit": [], "post_pending": [], "visible": []}
    totals: list[float] = []
    polls: list[int] = []
    for i in range(appends):
        fund, project, bp = PROJECTS[i % len(PROJECTS)]
        gross = 2500 + i
        fee, cut = stripe_fee(gross), sponsorship_fee(gross, bp)
        before = books.current().fund_balance(fund)
        expected = before + usd(gross - fee - cut)
        ref = f"txn_bench{stamp:x}{i:04d}"
        day = date(YEARS[-1], 12, 31)
        gift = Transaction(
            ref=ref,
            date=day,
            payee="Bench Donor",
            narration=f"Donation to {project}",
            meta={"stripe-id": ref, "entity": f"donor:bench-{i}", "income-type": "Donations"},
            postings=(
                Posting("Assets:Stripe", usd(gross - fee)),
                Posting(f"Expenses:{fund}:Payment-Processing", usd(fee)),
                Posting(f"Income:{fund}:Donations", usd(-gross)),
            ),
        )
        fee_entry = Transaction(
            ref=f"fee:{ref}",
            date=day,
            narration=f"Sponsorship fee {bp / 100:g}% on {ref}",
            postings=(
                Posting(f"Expenses:{fund}:Sponsorship-Fees", usd(cut)),
                Posting("Income:General:Sponsorship-Fees", usd(-cut)),
            ),
        )
        t0 = time.perf_counter()
        with sessions() as session:
            record(session, gift)
            record(session, fee_entry)
            session.commit()
        t1 = time.perf_counter()
        post_pending(sessions, files)
        t2 = time.perf_counter()
        n = 0
        while True:
            n += 1
            if books.current().fund_balance(fund) == expected:
                break
            if time.perf_counter() - t2 > 10:
                raise AssertionError(f"append {ref} did not show in 10 s")
        t3 = time.perf_counter()
        phases["record_commit"].append(t1 - t0)
        phases["post_pending"].append(t2 - t1)
        phases["visible"].append(t3 - t2)
        totals.append(t3 - t0)
        polls.append(n)
    out["append_to_visible"] = summary(totals)
    out["append_parts"] = {name: summary(samples) for name, samples in phases.items()}
    out["append_polls_max"] = max(polls) if polls else 0
    engine.dispose()
    out["rss_after_appends_mib"] = rss_mib()
    out["peak_rss_before_rebuild_mib"] = peak_rss_mib()
    incremental = books.current()
    out["transactions_after_appends"] = incremental.transactions

    # (f) a staff edit: the worker rebuilds in the background and keeps answering
    if rebuild_probe:
        with (root / STAFF_FILE).open("a", encoding="utf-8") as fh:
            fh.write(f"; touched by the benchmark at {stamp}\n")
        # Samples go into a C array: a Python float kept per sample would pin
        # the allocator's arenas that the rebuild fills, and inflate the RSS after it.
        during = array("d")
        t = time.perf_counter()
        lookup()

        def rebuilding() -> bool:
            return books.rebuilding

        if not rebuilding():
            raise AssertionError("a staff edit did not start a rebuild")
        while rebuilding():
            t0 = time.perf_counter()
            lookup()
            during.append(time.perf_counter() - t0)
            time.sleep(0.005)  # requests arriving every few milliseconds
        books.wait()
        out["rebuild_in_worker_s"] = time.perf_counter() - t
        out["lookup_during_rebuild"] = summary(list(during)) if during else None
        rebuilt = books.current()
        out["rebuild_error"] = books.last_error
        out["rebuild_matches_incremental"] = dict(rebuilt.balances) == dict(
            incremental.balances
        ) and (rebuilt.transactions == incremental.transactions)
        gc.collect()
        out["rss_after_rebuild_mib"] = rss_mib()
    out["peak_rss_mib"] = peak_rss_mib()
    out["loadavg_after"] = os.getloadavg()
    return out


# ---------------------------------------------------------------------------
# Running and reporting


def run_phase(phase: str, root: Path, args: argparse.Namespace) -> dict[str, Any]:
    """One phase in a fresh interpreter, so that its memory peak is its own."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as tmp:
        result_path = Path(tmp.name)
    cmd = [
        sys.executable,
        "-m",
        "bench.ledger_reader",
        "--phase",
        phase,
        "--dir",
        str(root),
        "--phase-out",
        str(result_path),
        "--lookups",
        str(args.lookups),
        "--appends",
        str(args.appends),
    ]
    if args.no_rebuild_probe:
        cmd.append("--no-rebuild-probe")
    print(f"-- {phase} ...", file=sys.stderr, flush=True)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(result_path.read_text("utf-8"))
    result_path.unlink()
    print(f"   {phase} took {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)
    return result


def machine() -> dict[str, Any]:
    import beancount

    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kib = int(line.split()[1])
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "python": platform.python_version(),
        "beancount": beancount.__version__,
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }


def _ms(part: dict[str, float] | None) -> str:
    if not part:
        return "-"
    return f"{part['p50_ms']:.3g} / {part['p95_ms']:.3g} ms"


def rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """(figure, value) pairs; the names do not depend on the size, so runs line up."""
    gen, build = results["books"], results.get("build", {})
    load, serve = results.get("load", {}), results.get("serve", {})
    out: list[tuple[str, str]] = [
        (
            "books",
            f"{gen['transactions']:,} app transactions ({gen['gifts']:,} gifts + their fee "
            f"entries + {gen['payouts']} payouts) + {gen['staff_transactions']} staff, "
            f"{gen['funds']} funds, {gen['app_bytes'] / 2**20:.0f} MiB",
        ),
    ]
    if build:
        out += [
            ("snapshot build (`snapshot.build`)", f"{build['build_s']:.1f} s"),
            (
                "  of which Beancount's loader / our pass",
                f"{build['loader_s']:.1f} s / {build['ours_s']:.1f} s",
            ),
            ("  peak RSS during build", f"{build['peak_rss_mib']:,.0f} MiB"),
            ("  RSS kept after build (gc'd)", f"{build['rss_after_mib']:,.0f} MiB"),
        ]
    if load:
        out.append(("Beancount `loader.load_file` alone", f"{load['load_s']:.1f} s"))
        out.append(("  its peak RSS", f"{load['peak_rss_mib']:,.0f} MiB"))
        if build:
            out.append(("build / plain load", f"{build['build_s'] / load['load_s']:.2f}x"))
    check = results.get("check", {})
    if check:
        out.append(
            (
                "`conservancy ledger check` (`check_books`)",
                f"{check['check_s']:.1f} s, {check['problems']} problems",
            )
        )
        if load:
            out.append(("check / plain load", f"{check['check_s'] / load['load_s']:.2f}x"))
    if serve:
        out += [
            (
                "start-up from saved snapshot (`Books.start`) p50 / p95",
                _ms(serve["books_start"]),
            ),
            (
                "  `load_saved` / `catch_up` (nothing new) p50",
                f"{serve['load_saved']['p50_ms']:.3g} ms / "
                f"{serve['catch_up_nothing_new']['p50_ms']:.3g} ms",
            ),
            ("worker RSS after start-up", f"{serve['rss_after_start_mib']:.0f} MiB"),
            (
                "balance look-up, warm (current + fund + account), p50 / p95",
                _ms(serve["lookup"])
                + f" (p99 {serve['lookup']['p99_ms']:.3g}, max {serve['lookup']['max_ms']:.3g};"
                f" n={serve['lookup']['n']:,})",
            ),
            ("  `Books.current()` alone, p50 / p95", _ms(serve["lookup_parts"]["Books.current"])),
            (
                "  `fund_balance` alone, p50 / p95",
                _ms(serve["lookup_parts"]["Snapshot.fund_balance"]),
            ),
            (
                "append to visible (record+commit → post_pending → current), p50 / p95",
                _ms(serve["append_to_visible"])
                + f" (max {serve['append_to_visible']['max_ms']:.3g};"
                f" n={serve['append_to_visible']['n']})",
            ),
            (
                "  record+commit / post_pending / until visible, p50",
                " / ".join(
                    f"{serve['append_parts'][k]['p50_ms']:.3g}"
                    for k in ("record_commit", "post_pending", "visible")
                )
                + " ms",
            ),
        ]
        if serve.get("lookup_during_rebuild") is not None:
            d = serve["lookup_during_rebuild"]
            out += [
                (
                    "look-up while the worker rebuilds (staff edit), p50 / p95",
                    _ms(d) + f" (p99 {d['p99_ms']:.3g}, max {d['max_ms']:,.0f}; n={d['n']:,})",
                ),
                ("  rebuild in the worker took", f"{serve['rebuild_in_worker_s']:.1f} s"),
                (
                    "  worker RSS after that rebuild / its peak",
                    f"{serve['rss_after_rebuild_mib']:,.0f} MiB / {serve['peak_rss_mib']:,.0f} MiB",
                ),
                ("  rebuild equals incremental", str(serve["rebuild_matches_incremental"])),
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
    gen = results["books"]
    lines = [
        f"Books of {gen['transactions']:,} transactions — {_machine_line(results)}",
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows(results)),
    ]
    earlier = [p for p in PHASES if results.get(p, {}).get("from_earlier_run")]
    if earlier:
        lines.append(f"\n({', '.join(earlier)}: figures from an earlier run on the same books)")
    return "\n".join(lines)


def report() -> str:
    """Every size in bench/results side by side, for the README."""
    runs = sorted(
        (json.loads(p.read_text("utf-8")) for p in RESULTS.glob("ledger_reader-*.json")),
        key=lambda r: r["books"]["transactions"],
    )
    if not runs:
        return "no results yet: run the benchmark first"
    by_run = [dict(rows(r)) for r in runs]
    names: list[str] = []
    for r in runs:
        names += [name for name, _ in rows(r) if name not in names]
    head = [f"{r['books']['transactions']:,}" for r in runs]
    lines = [
        "| figure | " + " | ".join(head) + " |",
        "|---|" + "---|" * len(runs),
        *(
            f"| {name} | " + " | ".join(values.get(name, "-") for values in by_run) + " |"
            for name in names
        ),
        "",
        *(f"* {h} transactions: {_machine_line(r)}" for h, r in zip(head, runs, strict=True)),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger_reader", description=__doc__)
    parser.add_argument("--transactions", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="where the books go (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="keep books already in --dir")
    parser.add_argument("--keep", action="store_true", help="keep the temp dir")
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--appends", type=int, default=100)
    parser.add_argument("--skip", default="", help="phases to skip: " + ",".join(PHASES))
    parser.add_argument("--no-rebuild-probe", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--report", action="store_true", help="print every size in bench/results side by side"
    )
    parser.add_argument("--phase", choices=PHASES, help=argparse.SUPPRESS)
    parser.add_argument("--phase-out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.report:
        print(report())
        return 0
    if args.phase:
        root = args.dir
        if args.phase == "build":
            result = phase_build(root)
        elif args.phase == "load":
            result = phase_load(root)
        elif args.phase == "check":
            result = phase_check(root)
        else:
            result = phase_serve(root, args.lookups, args.appends, not args.no_rebuild_probe)
        args.phase_out.write_text(json.dumps(result, indent=2), "utf-8")
        return 0

    temp = args.dir is None
    root = Path(tempfile.mkdtemp(prefix="bench-ledger-")) if temp else args.dir
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
        skip = set(filter(None, args.skip.split(",")))
        earlier = RESULTS / f"ledger_reader-{books['transactions']}.json"
        if args.reuse and skip and earlier.exists():
            # Re-running some phases on the same books: keep the others' figures.
            before = json.loads(earlier.read_text("utf-8"))
            for phase in skip & set(before):
                results[phase] = {**before[phase], "from_earlier_run": True}
        if "serve" not in skip and "build" in skip and not (root / ".cache").exists():
            raise SystemExit("serve needs a persisted snapshot: do not skip build")
        for phase in PHASES:
            if phase not in skip:
                results[phase] = run_phase(phase, root, args)
    finally:
        if temp and not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    text = table(results)
    results["table"] = text
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"ledger_reader-{results['books']['transactions']}.json"
    out.write_text(json.dumps(results, indent=2), "utf-8")
    print(text)
    print(f"\n(written to {out.relative_to(REPO)})")
    return 0


if __name__ == "__main__":
    threading.current_thread().name = "bench"
    sys.exit(main())
