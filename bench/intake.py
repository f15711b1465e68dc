"""Webhook intake under a Giving Tuesday burst: gunicorn (2 workers) on PostgreSQL.

    .venv/bin/python -m bench.intake                       # 2,000 gifts: ceiling, app, phases
    .venv/bin/python -m bench.intake --faults              # 2,000 gifts, duplicated and shuffled,
                                                           # a worker killed, PostgreSQL restarted
    .venv/bin/python -m bench.intake --gifts 100           # a quick look
    .venv/bin/python -m bench.intake --stripe-latency-ms 250   # Stripe's own pace: each API
                                                           # call of the burst 250 ms late

SPEC section 10: webhook intake, gunicorn (2 workers) + PostgreSQL, 2 cores: >= 300 gifts/s
end to end, p99 <= 200 ms.

set-up   a fresh PostgreSQL database (``conservancy_bench_<hex>``, dropped at the end),
         ``conservancy init`` and four projects (fee rates 10, 8, 5 and 7%), the books in a temp
         dir; the stand-in (``conservancy stripe stand-in``, its own process, delivering
         nothing); ``conservancy serve --workers 2`` (gunicorn) with CONSERVANCY_* pointing at
         them; and the ceiling: a bare Flask app (one route that reads the body and answers
         200) under gunicorn with the same settings (2 sync workers, access log on stdout).
prepare  N donations recorded and their checkouts created as the form does, each paid on the
         stand-in with 4242 4242 4242 4242 (whole-dollar amounts, so every sponsorship fee is
         a whole cent); the stand-in's own ``checkout.session.completed`` events, read from
         its ``/v1/events``, are the payloads.
latency  (``--stripe-latency-ms N``) from the burst on, the stand-in answers each API call N
         ms late (``POST /_standin/latency``), calls in flight together waiting side by side;
         the phases run with none.
burst    a load generator (threads, one new connection a request, as Stripe's deliveries
         are) signs each payload at send time with Stripe's scheme and POSTs it; the same
         payloads to the ceiling first, then to the app. Per request: latency; per run:
         requests/s; for the app, end to end: the first webhook sent to the last ledger entry
         posted (``ledger_outbox.posted_at``), gifts/s. CPU seconds of each party (gunicorn
         master + workers, the stand-in, PostgreSQL, the generator) over the burst.
faults   (``--faults``) every payload twice, all shuffled; a gunicorn worker SIGKILLed a third
         of the way in; PostgreSQL restarted (``pg_ctlcluster``, as root; ``--pg-fault
         terminate`` ends our backends with ``pg_terminate_backend`` instead) two thirds in;
         a failed delivery is retried (up to 8 times, backing off) as Stripe retries.
         Afterwards ``conservancy stripe sync`` and ``conservancy ledger sync``, as an operator
         would.
verify   exactly N gifts in the database; each gift's ref once in the books and no ref twice;
         every fund's balance (and Assets:Stripe) equal to what the stand-in's charges say;
         ``conservancy ledger check`` clean. PASS or FAIL, and exit 1 on FAIL.
phases   (clean run) 200 more prepared gifts through the same app in-process (Flask's test
         client, one at a time, the courier's receipts left for afterwards) with each phase
         timed: signature check, Stripe fetches, settle, commit, ledger post, the rest (Flask,
         the event's row and the donation's lock), SQL statements and CPU per request; then 50
         receipt PDFs drawn as the courier draws them, per receipt; a cProfile of 100 requests.
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import contextlib
import cProfile
import hashlib
import hmac
import http.client
import io
import json
import os
import platform
import pstats
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
PYTHON = Path(sys.executable)
CONSERVANCY = PYTHON.parent / "conservancy"
# Where to create the bench's database (any database on the server will do to connect to).
ADMIN_URL = os.environ.get(
    "CONSERVANCY_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = "redis://127.0.0.1:6379/11"  # a Redis database of the bench's own (tests use 15)
SECRET_KEY = "sk_test_bench_intake"
WEBHOOK_SECRET = "whsec_bench_intake"
GOOD_CARD = "4242424242424242"
# slug, name, fund, fee rate (percent): whole-dollar gifts keep every fee a whole cent.
PROJECTS = [
    ("twisted", "Twisted", "Twisted", 10),
    ("inkscape", "Inkscape", "Inkscape", 8),
    ("sugar-labs", "Sugar Labs", "SugarLabs", 5),
    ("mercurial", "Mercurial", "Mercurial", 7),
]
AMOUNTS = [5, 10, 20, 25, 35, 50, 75, 100, 150, 250]
RETRIES = 8  # deliveries of one payload, as Stripe retries a failed one
PROFILE_GIFTS = 200
WARM_GIFTS = 10  # each server answers these before the burst: a Giving Tuesday's is warm


# -- processes and their CPU ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def wait_http(
    url: str, timeout: float = 60.0, process: subprocess.Popen[Any] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")


TICK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat(int(entry.name))
            if fields is not None and int(fields[1]) == pid:
                found.append(int(entry.name))
    return sorted(found)


def cpu_seconds(pid: int, *, tree: bool = True) -> float:
    """User + system CPU of ``pid``, its reaped children (cutime) and, with ``tree``, its
    live children's (a gunicorn worker or a PostgreSQL backend that exits lands in its
    parent's cutime once reaped)."""
    fields = _stat(pid)
    if fields is None:
        return 0.0
    ticks = sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
    if tree:
        for child in children(pid):
            child_fields = _stat(child)
            if child_fields is not None:
                ticks += int(child_fields[11]) + int(child_fields[12])
    return ticks / TICK


def postmaster_pid() -> int | None:
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if cmd and cmd[0].endswith(b"postgres") and b"-D" in cmd:
                return int(entry.name)
    return None


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields) - idle) / TICK, sum(fields) / TICK


@dataclass
class CpuMeter:
    parties: dict[str, Callable[[], float]]
    start: dict[str, float] = field(default_factory=dict)

    def begin(self) -> None:
        self.start = {name: read() for name, read in self.parties.items()}

    def end(self) -> dict[str, float]:
        return {name: round(read() - self.start[name], 2) for name, read in self.parties.items()}


def own_cpu() -> float:
    t = os.times()
    return t.user + t.system


# -- the database and the app -----------------------------------------------------------


def _libpq(url: str) -> str:
    """A URL psycopg takes (no SQLAlchemy driver name)."""
    from sqlalchemy.engine import make_url

    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(admin_url: str) -> tuple[str, str]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"conservancy_bench_{secrets.token_hex(4)}"
    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_url(_libpq(admin_url)).set(database=name)
    return name, url.render_as_string(hide_password=False)


def drop_database(admin_url: str, name: str) -> None:
    import psycopg

    for _ in range(10):
        try:
            with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            return
        except psycopg.OperationalError:
            time.sleep(1)  # PostgreSQL still coming back from a restart


def app_env(work: Path, database_url: str, standin_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(
        CONSERVANCY_ENV="production",
        CONSERVANCY_DATABASE_URL=database_url,
        CONSERVANCY_LEDGER_DIR=str(work / "ledgers"),
        CONSERVANCY_RECEIPTS_DIR=str(work / "receipts"),
        CONSERVANCY_INSTANCE_DIR=str(work / "instance"),
        CONSERVANCY_SECRET_KEY=secrets.token_hex(16),
        # Production seals two-factor secrets and will not start without a key (a Fernet
        # key: 32 random bytes, URL-safe base64).
        CONSERVANCY_TOTP_KEYS=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        CONSERVANCY_BASE_URL=f"http://127.0.0.1:{port}",
        CONSERVANCY_STRIPE_SECRET_KEY=SECRET_KEY,
        CONSERVANCY_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        CONSERVANCY_STRIPE_API_BASE=standin_url,
    )
    return env


def cli(env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(CONSERVANCY), *args], env=env, capture_output=True, text=True, timeout=1800
    )
    if check and done.returncode != 0:
        raise RuntimeError(f"conservancy {' '.join(args)}: {done.stdout}{done.stderr}")
    return done


def settings_of(env: dict[str, str]) -> Any:
    from conservancy.infra.config import Settings

    return Settings.from_env(env)


@contextmanager
def running(args: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def ceiling_app() -> Any:
    """The ceiling: a Flask route that reads the body and answers 200."""
    from flask import Flask, request

    app = Flask("ceiling")

    @app.post("/stripe/webhook")
    def webhook() -> tuple[dict[str, str], int]:
        request.get_data(cache=False)
        return {"status": "ok"}, 200

    @app.get("/healthz")
    def healthz() -> str:
        return "ok"

    return app


def serve_ceiling(port: int, workers: int) -> None:
    """The ceiling under gunicorn, configured as ``conservancy serve`` configures it."""
    from gunicorn.app.base import BaseApplication

    class App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"127.0.0.1:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("accesslog", "-")
            try:  # the access log as conservancy serve writes it, where it has its own
                from conservancy.web.access_log import ACCESS_LOG_FORMAT, RedactingLogger
            except ImportError:
                return
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)
            self.cfg.set("logger_class", RedactingLogger)

        def load(self) -> object:
            return ceiling_app()

    App().run()


# -- preparing the gifts ------------------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    payloads: list[str]  # checkout.session.completed events, as the stand-in would send them
    donations: dict[int, str]  # donation id -> fund (the warm-up's too)
    warm: list[str] = field(default_factory=list)  # sent before the burst, not timed


def prepare(env: dict[str, str], standin_url: str, count: int, seed: int) -> Prepared:
    """Donations recorded, checkouts created and paid on the stand-in; their events."""
    from sqlalchemy import select

    from conservancy.donations.models import Frequency
    from conservancy.donations.service import DonationRequest, begin_checkout, record_donation
    from conservancy.kernel import clock
    from conservancy.money import Currency, Money
    from conservancy.projects.models import Project
    from conservancy.runtime import Runtime

    rng = random.Random(seed)
    settings = settings_of(env)
    rt = Runtime.from_settings(settings)
    lock = threading.Lock()
    donations: dict[int, str] = {}
    sessions_paid: list[str] = []

    def one(i: int) -> None:
        slug = PROJECTS[i % len(PROJECTS)][0]
        with lock:
            amount = rng.choice(AMOUNTS)
        with rt.sessions() as session:
            project = session.scalars(select(Project).where(Project.slug == slug)).one()
            donation = record_donation(
                session,
                project,
                DonationRequest(
                    amount=Money(Decimal(amount), Currency.USD),
                    frequency=Frequency.ONCE,
                    name=f"Donor {i:05d}",
                    email=f"donor{i:05d}@example.org",
                ),
                maximum=settings.max_donation,
                today=clock.today(settings.timezone),
            )
            session.commit()
            checkout = begin_checkout(
                session, rt.gateway, donation, base_url=settings.base_url, sponsor_name="Bench"
            )
            session.commit()
            donation_id, fund = donation.id, project.fund
        data = urllib.parse.urlencode({"card_number": GOOD_CARD}).encode()
        pay = urllib.request.Request(
            f"{standin_url}/_standin/checkout/{checkout.id}/pay", data=data, method="POST"
        )
        opener = urllib.request.build_opener(_NoRedirect)
        try:
            opener.open(pay, timeout=60)
        except urllib.error.HTTPError as exc:
            if exc.code != 303:
                raise
        with lock:
            donations[donation_id] = fund
            sessions_paid.append(checkout.id)

    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(one, range(count)))
    rt.engine.dispose()
    events = fetch_events(standin_url, "checkout.session.completed")
    wanted = set(sessions_paid)
    payloads = [json.dumps(e) for e in events if e["data"]["object"]["id"] in wanted]
    assert len(payloads) == count, (len(payloads), count)
    return Prepared(payloads, donations)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def fetch_events(standin_url: str, type_: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        fields = {"limit": "100", "type": type_}
        if after:
            fields["starting_after"] = after
        request = urllib.request.Request(
            f"{standin_url}/v1/events?{urllib.parse.urlencode(fields)}",
            headers={"Authorization": f"Bearer {SECRET_KEY}"},
        )
        with urllib.request.urlopen(request, timeout=60) as answer:
            page = json.loads(answer.read())
        found.extend(page["data"])
        if not page["has_more"]:
            return found[::-1]
        after = page["data"][-1]["id"]


def set_latency(standin_url: str, ms: int) -> int:
    """Every API call of the stand-in answered ``ms`` late from now on; the latency it keeps."""
    request = urllib.request.Request(
        f"{standin_url}/_standin/latency",
        data=urllib.parse.urlencode({"ms": ms}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=60) as answer:
        kept: int = json.load(answer)["ms"]
    return kept


def standin_state(standin_url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{standin_url}/_standin/state", timeout=60) as answer:
        state: dict[str, Any] = json.loads(answer.read())
        return state


# -- the load generator -------------------------------------------------------------------


def sign(payload: bytes) -> str:
    timestamp = int(time.time())
    digest = hmac.new(
        WEBHOOK_SECRET.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass
class Delivery:
    payload: bytes
    attempts: int = 0
    ready_at: float = 0.0


@dataclass
class Burst:
    """What the generator saw: one latency per attempt, statuses, and when."""

    sent_at: float = 0.0  # wall clock (time.time()) of the first request
    finished_at: float = 0.0
    latencies_ok: list[float] = field(default_factory=list)
    latencies_failed: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    gave_up: int = 0
    attempts: int = 0
    delivered: int = 0

    def answered(self, status: int | str, outcome: str, took: float) -> bool:
        """Count one attempt (under the caller's lock); True if it was delivered."""
        self.attempts += 1
        self.statuses[str(status)] += 1
        if status != 200:
            self.latencies_failed.append(took)
            return False
        self.latencies_ok.append(took)
        self.outcomes[outcome] += 1
        self.delivered += 1
        return True


def post(port: int, payload: bytes) -> tuple[int | str, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(
            "POST",
            "/stripe/webhook",
            body=payload,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
                "Stripe-Signature": sign(payload),
            },
        )
        response = connection.getresponse()
        body = response.read()
        outcome = ""
        if response.status == 200:
            try:
                outcome = str(json.loads(body).get("status", ""))
            except ValueError:
                outcome = "?"
        return response.status, outcome
    except (OSError, http.client.HTTPException) as exc:
        return type(exc).__name__, ""
    finally:
        connection.close()


def fire(
    port: int,
    payloads: list[bytes],
    concurrency: int,
    *,
    retry: bool,
    progress: Callable[[int], None] | None = None,
) -> Burst:
    """POST every payload with ``concurrency`` threads; with ``retry``, a failed delivery
    goes back in the queue after a growing delay (0.25 s doubled, at most 4 s), as Stripe's
    retries do, up to RETRIES attempts."""
    queue = [Delivery(p) for p in payloads]
    queue.reverse()  # pop() takes from the end: first payload first
    result = Burst()
    lock = threading.Condition()
    outstanding = len(queue)
    finished = 0

    def take() -> Delivery | None:
        with lock:
            while True:
                if outstanding == 0:
                    return None
                now = time.monotonic()
                for i in range(len(queue) - 1, max(len(queue) - 64, -1), -1):
                    if queue[i].ready_at <= now:
                        return queue.pop(i)
                if queue:
                    soonest = min(d.ready_at for d in queue)
                    lock.wait(max(soonest - now, 0.005))
                else:
                    lock.wait(0.05)

    def work() -> None:
        nonlocal outstanding, finished
        while (delivery := take()) is not None:
            delivery.attempts += 1
            started = time.perf_counter()
            status, outcome = post(port, delivery.payload)
            took = time.perf_counter() - started
            with lock:
                if result.answered(status, outcome, took):
                    outstanding -= 1
                    finished += 1
                else:
                    if retry and delivery.attempts < RETRIES:
                        delay = min(0.25 * 2 ** (delivery.attempts - 1), 4.0)
                        delivery.ready_at = time.monotonic() + delay
                        queue.insert(0, delivery)
                    else:
                        result.gave_up += 1
                        outstanding -= 1
                        finished += 1
                lock.notify_all()
                done_now = finished
            if progress is not None:
                progress(done_now)

    threads = [threading.Thread(target=work, daemon=True) for _ in range(concurrency)]
    result.sent_at = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.finished_at = time.time()
    return result


def fire_steady(port: int, payloads: list[bytes], rate: float) -> tuple[Burst, dict[int, float]]:
    """POST the i-th payload at ``i / rate`` seconds (a thread each when its time comes,
    so a slow answer delays no other); answers when each donation's webhook was sent."""
    result = Burst()
    sent: dict[int, float] = {}
    lock = threading.Lock()

    def one(payload: bytes) -> None:
        at = time.time()
        started = time.perf_counter()
        status, outcome = post(port, payload)
        took = time.perf_counter() - started
        with lock:
            sent[_donation_id(payload.decode())] = at
            if not result.answered(status, outcome, took):
                result.gave_up += 1  # no retries at a steady rate: a failure is counted

    threads = []
    start = time.monotonic()
    result.sent_at = time.time()
    for i, payload in enumerate(payloads):
        time.sleep(max(0.0, start + i / rate - time.monotonic()))
        thread = threading.Thread(target=one, args=(payload,), daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join()
    result.finished_at = time.time()
    return result, sent


def posted_after_sent(database_url: str, sent: dict[int, float]) -> dict[str, Any]:
    """For each gift: its webhook sent -> its entry posted to the books (what the dashboard
    reads from the books' tail at its next request)."""
    import psycopg

    with psycopg.connect(_libpq(database_url)) as conn:
        rows = conn.execute(
            "SELECT g.donation_id, o.posted_at FROM gifts g JOIN ledger_outbox o ON o.ref = g.ref"
        ).fetchall()
    delays = [
        posted.timestamp() - sent[donation]
        for donation, posted in rows
        if donation in sent and posted is not None
    ]
    return {"gifts": len(delays), "of": len(sent), **percentiles(delays)}


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000, 2)

    return {
        "n": len(ordered),
        "p50_ms": at(0.50),
        "p95_ms": at(0.95),
        "p99_ms": at(0.99),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(sum(ordered) / len(ordered) * 1000, 2),
    }


def burst_summary(burst: Burst, count: int) -> dict[str, Any]:
    wall = burst.finished_at - burst.sent_at
    return {
        "wall_s": round(wall, 3),
        "requests": burst.attempts,
        "requests_per_s": round(burst.attempts / wall, 1),
        "delivered": burst.delivered,
        "gave_up": burst.gave_up,
        "latency_ok": percentiles(burst.latencies_ok),
        "latency_failed": percentiles(burst.latencies_failed),
        "statuses": dict(burst.statuses),
        "outcomes": dict(burst.outcomes),
        "payloads": count,
    }


# -- the database's view -----------------------------------------------------------------


def db_counts(database_url: str) -> dict[str, Any]:
    import psycopg

    def scalar(conn: psycopg.Connection[Any], sql: str) -> Any:
        row = conn.execute(sql).fetchone()
        return row[0] if row else None

    with psycopg.connect(_libpq(database_url)) as conn:
        return {
            "gifts": int(scalar(conn, "SELECT count(*) FROM gifts")),
            "pending": int(
                scalar(conn, "SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL")
            ),
            "last_posted_at": scalar(conn, "SELECT max(posted_at) FROM ledger_outbox"),
            "stripe_events": int(scalar(conn, "SELECT count(*) FROM stripe_events")),
        }


def wait_posted(database_url: str, gifts: int, timeout: float) -> dict[str, Any]:
    """Until ``gifts`` gifts are in the database and nothing waits to be posted."""
    deadline = time.monotonic() + timeout
    while True:
        counts = db_counts(database_url)
        if (counts["gifts"] >= gifts and counts["pending"] == 0) or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


# -- verifying the books --------------------------------------------------------------------


def verify(
    env: dict[str, str], database_url: str, standin_url: str, prepared: Prepared
) -> dict[str, Any]:
    """Exactly the prepared gifts, each once in the books, funds as Stripe's charges say."""
    import psycopg
    from beancount import loader
    from beancount.core import data

    from conservancy.ledger.books import Books
    from conservancy.ledger.files import LedgerFiles

    settings = settings_of(env)
    checks: dict[str, Any] = {}
    with psycopg.connect(_libpq(database_url)) as conn:
        rows = conn.execute(
            "SELECT g.ref, g.charge_id, d.id FROM gifts g JOIN donations d ON d.id = g.donation_id"
        ).fetchall()
        pending = conn.execute(
            "SELECT count(*) FROM ledger_outbox WHERE posted_at IS NULL"
        ).fetchone()
    gift_refs = [str(r[0]) for r in rows]
    wanted_donations = set(prepared.donations)
    gifted_donations = Counter(int(r[2]) for r in rows)
    checks["gifts in the database"] = {
        "expected": len(wanted_donations),
        "found": len(rows),
        "ok": len(rows) == len(wanted_donations)
        and set(gifted_donations) == wanted_donations
        and max(gifted_donations.values(), default=1) == 1,
    }
    checks["nothing left to post"] = {"pending": int(pending[0]) if pending else -1}
    checks["nothing left to post"]["ok"] = checks["nothing left to post"]["pending"] == 0

    entries, errors, _ = loader.load_file(str(settings.ledger_dir / "main.beancount"))
    refs = Counter(str(e.meta["ref"]) for e in entries if e.meta and "ref" in e.meta)
    gift_entries = [
        e
        for e in entries
        if isinstance(e, data.Transaction) and e.meta.get("income-type") == "Donations"
    ]
    gift_entry_refs = Counter(str(e.meta["ref"]) for e in gift_entries)
    checks["gift entries in the books"] = {
        "expected": len(wanted_donations),
        "found": len(gift_entries),
        "each gift's ref once": all(refs[r] == 1 for r in gift_refs),
        "no ref twice": (refs.most_common(1)[0][1] if refs else 0) == 1,
        "beancount errors": len(errors),
        "ok": len(gift_entries) == len(wanted_donations)
        and set(gift_entry_refs) == set(gift_refs)
        and all(refs[r] == 1 for r in gift_refs)
        and (refs.most_common(1)[0][1] if refs else 0) == 1
        and not errors,
    }

    # What Stripe's charges say each fund should hold, computed here from the stand-in's
    # own records (amount, Stripe's fee from the balance transaction) and the fee rates.
    state = standin_state(standin_url)
    txns = {t["id"]: t for t in state["balance_transactions"]}
    rates = {fund: rate for _, _, fund, rate in PROJECTS}
    expected: dict[str, int] = defaultdict(int)
    stripe_net = 0
    charges = 0
    for charge in state["charges"]:
        if charge.get("status") != "succeeded":
            continue
        donation_id = int(charge["metadata"]["donation_id"])
        if donation_id not in prepared.donations:
            continue
        charges += 1
        fund = prepared.donations[donation_id]
        txn = txns[charge["balance_transaction"]]
        fee_cents = charge["amount"] * rates[fund] // 100
        assert charge["amount"] * rates[fund] % 100 == 0  # whole dollars: whole cents
        expected[fund] += txn["amount"] - txn["fee"] - fee_cents
        expected["General"] += fee_cents
        stripe_net += txn["net"]
    books = Books(LedgerFiles(settings.ledger_dir)).load()
    funds = {}
    for fund, cents in sorted(expected.items()):
        got = books.fund_balance(fund)
        funds[fund] = {
            "expected": f"{Decimal(cents) / 100:.2f}",
            "books": f"{got.amount:.2f}",
            "ok": got.amount == Decimal(cents) / 100,
        }
    stripe_books = sum(
        (
            p.units.number
            for e in entries
            if isinstance(e, data.Transaction)
            for p in e.postings
            if p.account == "Assets:Stripe" and p.units is not None and p.units.number is not None
        ),
        Decimal(0),
    )
    checks["fund balances = the stand-in's charges"] = {
        "charges": charges,
        "funds": funds,
        "Assets:Stripe": {
            "expected": f"{Decimal(stripe_net) / 100:.2f}",
            "books": f"{stripe_books:.2f}",
        },
        "ok": charges == len(wanted_donations)
        and all(f["ok"] for f in funds.values())
        and stripe_books == Decimal(stripe_net) / 100,
    }
    done = cli(env, "ledger", "check", check=False)
    checks["conservancy ledger check"] = {
        "exit": done.returncode,
        "output": (done.stdout + done.stderr).strip()[-2000:],
        "ok": done.returncode == 0,
    }
    checks["verdict"] = (
        "PASS" if all(c["ok"] for c in checks.values() if isinstance(c, dict)) else "FAIL"
    )
    return checks


# -- the phases of one webhook, in-process ---------------------------------------------------


class Phases:
    """Exclusive time per phase: a phase called inside another is taken out of the outer."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = defaultdict(float)
        self.stack: list[list[Any]] = []

    def wrap(self, owner: Any, name: str, phase: str, *, unless_in: str | None = None) -> None:
        original = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            if unless_in is not None and any(frame[0] == unless_in for frame in self.stack):
                return original(*args, **kwargs)
            frame = [phase, time.perf_counter(), 0.0]
            self.stack.append(frame)
            try:
                return original(*args, **kwargs)
            finally:
                self.stack.pop()
                elapsed = time.perf_counter() - frame[1]
                self.totals[phase] += elapsed - frame[2]
                if self.stack:
                    self.stack[-1][2] += elapsed

        setattr(owner, name, timed)


class Inline(concurrent.futures.Executor):
    """An executor that runs each task at once, in the caller's thread."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:
            future.set_exception(exc)
        return future


def profile_phases(env: dict[str, str], payloads: list[str]) -> dict[str, Any]:
    """The app in this process, one webhook at a time, each phase timed."""
    from sqlalchemy import event
    from sqlalchemy.orm import Session

    from conservancy import create_app
    from conservancy.background.courier import Courier
    from conservancy.donations import settlement
    from conservancy.payments import inbox
    from conservancy.payments.stripe_gateway import StripeGateway
    from conservancy.receipts import issue
    from conservancy.runtime import Runtime

    settings = settings_of(env)
    app = create_app(settings)
    rt: Runtime = app.extensions["conservancy"]
    client = app.test_client()
    phases = Phases()
    # The settler and the courier do nothing when kicked: the settler's batch is run below,
    # in this thread (cProfile and the phases see one thread), and receipts are timed apart.
    Courier.kick = lambda self: None  # type: ignore[method-assign]
    rt._pool = Inline()  # type: ignore[assignment]
    phases.wrap(StripeGateway, "verify_event", "webhook: signature check and parse")
    phases.wrap(inbox, "store", "webhook: the event stored")
    phases.wrap(inbox, "claim", "settler: claim")
    phases.wrap(StripeGateway, "checkout_session", "Stripe fetch: checkout session")
    phases.wrap(StripeGateway, "charge_of_payment_intent", "Stripe fetch: payment intent + charge")
    phases.wrap(settlement, "settle", "settle: the gift, the donation's status")
    phases.wrap(issue, "reconcile", "settle: the receipt numbered, its PDF and mail queued")
    phases.wrap(settlement, "record", "settle: the entries recorded in the outbox")
    phases.wrap(Runtime, "post_ledger", "ledger post (journal, append, mark posted)")
    phases.wrap(os, "fsync", "ledger post: fsync")
    statements = [0]

    def count_statement(*args: Any) -> None:
        statements[0] += 1

    event.listen(rt.engine, "after_cursor_execute", count_statement)
    phases.wrap(Session, "commit", "commit", unless_in="ledger post (append, fsync, mark posted)")

    def one(payload: str) -> float:
        """The webhook's request, then the settler's batch (of this one event)."""
        body = payload.encode()
        started = time.perf_counter()
        answer = client.post(
            "/stripe/webhook",
            data=body,
            headers={"Stripe-Signature": sign(body), "Content-Type": "application/json"},
        )
        answered.append(time.perf_counter() - started)
        assert answer.status_code == 200, answer.data
        assert answer.json is not None
        assert answer.json["status"] == "received", answer.data
        assert rt.settle().settled == 1
        return time.perf_counter() - started

    answered: list[float] = []

    warm, timed, profiled = payloads[:10], payloads[10 : len(payloads) - 100], payloads[-100:]
    for payload in warm:
        one(payload)
    phases.totals.clear()
    statements[0] = 0
    answered.clear()
    cpu_before = own_cpu()
    totals = [one(p) for p in timed]
    webhook_ms = percentiles(answered)
    cpu_each = (own_cpu() - cpu_before) / len(timed)
    statements_each = statements[0] / len(timed)
    per_request = {k: round(v / len(timed) * 1000, 3) for k, v in phases.totals.items()}
    total_ms = sum(totals) / len(timed) * 1000
    per_request["the rest (Flask, the inbox row's read and delete, event row, lock, JSON)"] = round(
        total_ms - sum(per_request.values()), 3
    )
    # CPU time, not wall time: where this process's CPU goes (waits on the stand-in and
    # PostgreSQL cost it nothing).
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for payload in profiled:
        one(payload)
    profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    out_tt = io.StringIO()
    pstats.Stats(profiler, stream=out_tt).sort_stats("tottime").print_stats(25)
    by_package = cpu_by_package(profiler, len(profiled))
    cpu0 = own_cpu()
    started = time.perf_counter()
    # 50 receipts (the burst's may still be waiting: drawing them all would take minutes).
    from conservancy.receipts.issue import render_pending

    drawn = render_pending(rt.sessions, settings.receipts_dir, limit=50).rendered
    receipts_wall = time.perf_counter() - started
    receipts_cpu = own_cpu() - cpu0
    rt.engine.dispose()
    return {
        "gifts": len(timed),
        "webhook_answer_ms": webhook_ms,
        "request_and_settle_ms": percentiles(totals),
        "per_request_ms": per_request,
        "cpu_ms_per_request": round(cpu_each * 1000, 2),  # this process: app + Stripe client
        "sql_statements_per_request": round(statements_each, 1),
        "receipts": {
            "drawn": drawn,
            "wall_ms_each": round(receipts_wall / max(drawn, 1) * 1000, 1),
            "cpu_ms_each": round(receipts_cpu / max(drawn, 1) * 1000, 1),
        },
        "cpu_ms_per_request_by_package": by_package,
        "cprofile_cumulative": out.getvalue()[-16000:],
        "cprofile_tottime": out_tt.getvalue()[-8000:],
    }


def cpu_by_package(profiler: cProfile.Profile, requests: int) -> dict[str, float]:
    """The profile's own time per function, summed by where the function lives."""
    totals: dict[str, float] = defaultdict(float)
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _, name), (_, _, own, _, _) in stats.items():
        if "site-packages/" in filename:
            where = filename.split("site-packages/", 1)[1].split("/", 1)[0]
        elif "/conservancy/" in filename:
            where = "conservancy"
        elif "/bench/" in filename:
            where = "bench (the timers)"
        elif filename == "~":
            where = f"built-in: {_builtin_kind(name)}"
        else:
            where = "python stdlib"
        totals[where] += own
    ranked = sorted(totals.items(), key=lambda kv: -kv[1])
    return {k: round(v / requests * 1000, 3) for k, v in ranked if v / requests >= 0.00005}


def _builtin_kind(name: str) -> str:
    for word in ("socket", "recv", "send", "connect", "fsync", "write", "read", "select", "poll"):
        if word in name:
            return "I/O calls"
    return "other C functions"


# -- the runs ----------------------------------------------------------------------------------


def held_by(database_url: str, pid: int | None) -> int | None:
    """Stripe events claimed by process ``pid``'s settler and not yet settled."""
    if pid is None:
        return None
    import psycopg

    try:
        with psycopg.connect(_libpq(database_url)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM stripe_inbox WHERE claimed_by LIKE %s AND due_at > now()",
                (f"%:{pid}",),
            ).fetchone()
    except psycopg.Error:
        return None  # a figure for the report; the run goes on without it
    return int(row[0]) if row else 0


def kill_a_worker(master: int) -> int | None:
    workers = children(master)
    if not workers:
        return None
    os.kill(workers[0], signal.SIGKILL)
    return workers[0]


def restart_postgresql(how: str, admin_url: str, database: str) -> dict[str, Any]:
    started = time.perf_counter()
    if how == "restart":
        done = subprocess.run(
            ["pg_ctlcluster", "15", "main", "restart"], capture_output=True, text=True, timeout=120
        )
        return {
            "how": "pg_ctlcluster 15 main restart",
            "exit": done.returncode,
            "output": (done.stdout + done.stderr).strip(),
            "took_s": round(time.perf_counter() - started, 2),
        }
    import psycopg

    with psycopg.connect(_libpq(admin_url), autocommit=True) as conn:
        ended = conn.execute(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = %s AND pid <> pg_backend_pid()) t",
            (database,),
        ).fetchone()
    return {
        "how": "pg_terminate_backend of every backend on the bench's database",
        "backends_ended": int(ended[0]) if ended else 0,
        "took_s": round(time.perf_counter() - started, 2),
    }


@dataclass(frozen=True)
class Options:
    gifts: int = 2000
    concurrency: int = 8
    faults: bool = False
    pg_fault: str = "restart"  # or "terminate"
    redis: bool = False  # CONSERVANCY_REDIS_URL set and one `conservancy worker` running
    ceiling: bool = True
    phases: bool = True
    seed: int = 7
    keep: bool = False
    stripe_latency_ms: int = 0  # the stand-in's, for the burst (conservancy.standin.api)
    rate: float = 0.0  # > 0: a steady rate (gifts a second) instead of a burst
    serve_config: Path | None = None  # a gunicorn configuration file for `conservancy serve`
    admin_url: str = ADMIN_URL
    redis_url: str = REDIS_URL


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(REPO), *args],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip()


def run(options: Options) -> dict[str, Any]:
    """Set up, prepare, burst (ceiling, then the app), verify, time the phases; tear down."""
    work = Path(tempfile.mkdtemp(prefix="conservancy-intake-"))
    db_name, database_url = create_database(options.admin_url)
    standin_port, app_port, ceiling_port = free_port(), free_port(), free_port()
    standin_url = f"http://127.0.0.1:{standin_port}"
    env = app_env(work, database_url, standin_url, app_port)
    if options.redis:
        env["CONSERVANCY_REDIS_URL"] = options.redis_url
        _empty_queue(options.redis_url)
    out: dict[str, Any] = {
        "gifts": options.gifts,
        "concurrency": options.concurrency,
        "faults": options.faults,
        "redis": options.redis,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "code": _conservancy_dir(),  # the package measured (a worktree via PYTHONPATH)
        "machine": {
            "cores": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "load_average_start": [round(v, 2) for v in os.getloadavg()],
        },
    }
    # The phases are the request's own work, timed in-process without RQ.
    extra = PROFILE_GIFTS if options.phases and not (options.faults or options.redis) else 0
    try:
        standin_cmd = [
            str(CONSERVANCY),
            "stripe",
            "stand-in",
            "--port",
            str(standin_port),
            "--webhook-secret",
            WEBHOOK_SECRET,
        ]
        with running(standin_cmd, env, work / "standin.log") as standin:
            wait_http(f"{standin_url}/_standin/state", process=standin)
            t0 = time.perf_counter()
            cli(env, "init", "--sponsor-name", "Bench Conservancy, Inc.", "--ein", "12-3456789",
                "--address", "1 Main Street, Brooklyn, NY 11201")  # fmt: skip
            for slug, name, fund, rate in PROJECTS:
                cli(env, "project", "add", slug, "--name", name, "--fee-rate", str(rate),
                    "--account-name", fund)  # fmt: skip
            prepared = prepare(env, standin_url, options.gifts + WARM_GIFTS + extra, options.seed)
            out["prepare_s"] = round(time.perf_counter() - t0, 1)
            print(f"prepared {len(prepared.payloads)} paid checkouts in {out['prepare_s']} s")
            # The burst's gifts, the warm-up's, then the phases'.
            n = options.gifts
            profile_payloads = prepared.payloads[n + WARM_GIFTS :]
            profile_ids = {_donation_id(p) for p in profile_payloads}
            burst = Prepared(
                prepared.payloads[:n],
                {k: v for k, v in prepared.donations.items() if k not in profile_ids},
                prepared.payloads[n : n + WARM_GIFTS],
            )
            # Stripe's latency for the burst alone: preparing thousands of checkouts one
            # after another at 250 ms a call would take the best part of an hour.
            out["stripe_latency_ms"] = set_latency(standin_url, options.stripe_latency_ms)
            if options.ceiling and not options.faults:
                out["ceiling"] = run_ceiling(options, env, work, ceiling_port, burst)
                print("ceiling:", _line(out["ceiling"]), flush=True)
            out["app"] = run_app(options, env, work, app_port, standin, burst, db_name)
            print("app:", _line(out["app"]), flush=True)
            out["verify"] = verify(env, database_url, standin_url, burst)
            print("verify:", out["verify"]["verdict"], flush=True)
            if profile_payloads:
                set_latency(standin_url, 0)  # the phases are the request's own work
                out["phases"] = profile_phases(env, profile_payloads)
                print("phases (ms a request):", out["phases"]["per_request_ms"], flush=True)
    finally:
        out["machine"]["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
        if options.keep:
            out["work"], out["database"] = str(work), database_url
        else:
            drop_database(options.admin_url, db_name)
            shutil.rmtree(work, ignore_errors=True)
    return out


def _empty_queue(redis_url: str) -> None:
    """Jobs an earlier run left behind (they carry no data, but would run first)."""
    from redis import Redis

    Redis.from_url(redis_url).flushdb()


def _conservancy_dir() -> str:
    import conservancy

    return str(Path(conservancy.__file__ or "").parent)


def _donation_id(payload: str) -> int:
    return int(json.loads(payload)["data"]["object"]["metadata"]["donation_id"])


def run_ceiling(
    options: Options, env: dict[str, str], work: Path, port: int, burst: Prepared
) -> dict[str, Any]:
    ceiling_cmd = [str(PYTHON), "-m", "bench.intake", "--serve-ceiling", str(port)]
    with running(ceiling_cmd, env, work / "ceiling.log") as ceiling:
        wait_http(f"http://127.0.0.1:{port}/healthz", process=ceiling)
        meter = CpuMeter(
            {
                "gunicorn (master + 2 workers)": lambda: cpu_seconds(ceiling.pid),
                "load generator": own_cpu,
                "machine busy": lambda: machine_cpu()[0],
            }
        )
        fire(port, [p.encode() for p in burst.warm], 2, retry=False)
        meter.begin()
        payloads = [p.encode() for p in burst.payloads]
        fired = fire(port, payloads, options.concurrency, retry=False)
        summary = burst_summary(fired, len(payloads))
        summary["cpu_s"] = meter.end()
        return summary


def run_app(
    options: Options,
    env: dict[str, str],
    work: Path,
    port: int,
    standin: subprocess.Popen[bytes],
    burst: Prepared,
    db_name: str,
) -> dict[str, Any]:
    database_url = env["CONSERVANCY_DATABASE_URL"]
    pg = postmaster_pid()
    serve_cmd = [str(CONSERVANCY), "serve", "--port", str(port), "--workers", "2"]
    if options.serve_config is not None:
        serve_cmd += ["--config", str(options.serve_config)]
    with contextlib.ExitStack() as stack:
        app = stack.enter_context(running(serve_cmd, env, work / "app.log"))
        parties: dict[str, Callable[[], float]] = {
            "gunicorn (master + 2 workers)": lambda: cpu_seconds(app.pid),
            "stand-in": lambda: cpu_seconds(standin.pid),
            "load generator": own_cpu,
            "machine busy": lambda: machine_cpu()[0],
        }
        if pg and not (options.faults and options.pg_fault == "restart"):  # a new postmaster
            parties["postgresql (all processes)"] = lambda: cpu_seconds(pg)
        if options.redis:
            worker = stack.enter_context(
                running([str(CONSERVANCY), "worker"], env, work / "worker.log")
            )
            parties["rq worker"] = lambda: cpu_seconds(worker.pid)
        wait_http(f"http://127.0.0.1:{port}/healthz", process=app)
        while len(children(app.pid)) < 2:
            time.sleep(0.1)
        warm = fire(port, [p.encode() for p in burst.warm], 2, retry=True)
        assert warm.delivered == len(burst.warm), warm.statuses
        wait_posted(database_url, len(burst.warm), timeout=120)
        meter = CpuMeter(parties)
        deliveries = [p.encode() for p in burst.payloads]
        faults: dict[str, Any] = {}
        fault_threads: list[threading.Thread] = []
        progress = None
        if options.faults:
            deliveries = deliveries * 2  # every event delivered twice
            random.Random(options.seed + 1).shuffle(deliveries)
            kill_at, restart_at = len(deliveries) // 3, 2 * len(deliveries) // 3
            fault_lock = threading.Lock()

            def progress(done: int) -> None:
                with fault_lock:
                    if done >= kill_at and "worker killed" not in faults:
                        pid = kill_a_worker(app.pid)
                        faults["worker killed"] = killed = {
                            "pid": pid,
                            "after_deliveries": done,
                            "at_s": round(time.time() - t_burst, 2),
                        }
                        # Events its settler had claimed and not settled: mid-batch.
                        killed["its_settler_held"] = held_by(database_url, pid)
                    if done >= restart_at and "postgresql" not in faults:
                        faults["postgresql"] = {
                            "after_deliveries": done,
                            "at_s": round(time.time() - t_burst, 2),
                        }

                        def restart() -> None:
                            faults["postgresql"].update(
                                restart_postgresql(options.pg_fault, options.admin_url, db_name)
                            )

                        thread = threading.Thread(target=restart, daemon=True)
                        fault_threads.append(thread)
                        thread.start()

        meter.begin()
        t_burst = time.time()
        sent: dict[int, float] = {}
        if options.rate > 0:
            fired, sent = fire_steady(port, deliveries, options.rate)
        else:
            fired = fire(
                port, deliveries, options.concurrency, retry=options.faults, progress=progress
            )
        for thread in fault_threads:
            thread.join()
        counts = wait_posted(database_url, len(burst.donations), timeout=600)
        summary = burst_summary(fired, len(burst.payloads))
        summary["cpu_s"] = meter.end()
        last_posted = counts.pop("last_posted_at")
        if last_posted is not None:
            e2e = last_posted.timestamp() - fired.sent_at
            summary["end_to_end_s"] = round(e2e, 3)
            summary["gifts_per_s_end_to_end"] = round(len(burst.payloads) / e2e, 1)
        summary["after_burst"] = counts
        if sent:
            summary["rate_per_s"] = options.rate
            summary["sent_to_posted_ms"] = posted_after_sent(database_url, sent)
        summary["receipts_drawn_by_then"] = receipts_drawn(database_url)
        if options.faults:
            summary["faults"] = faults
            summary["workers_after"] = children(app.pid)
            summary["operator"] = {
                " ".join(command): operator(env, *command)
                for command in (("stripe", "sync"), ("ledger", "sync"))
            }
        return summary


def operator(env: dict[str, str], *command: str) -> dict[str, Any]:
    started = time.perf_counter()
    done = cli(env, *command, check=False)
    return {
        "exit": done.returncode,
        "output": (done.stdout + done.stderr).strip()[-1000:],
        "took_s": round(time.perf_counter() - started, 1),
    }


def receipts_drawn(database_url: str) -> int | None:
    import psycopg

    try:
        with psycopg.connect(_libpq(database_url)) as conn:
            row = conn.execute(
                "SELECT count(*) FROM receipts WHERE pdf_path IS NOT NULL"
            ).fetchone()
    except psycopg.Error:
        return None
    return int(row[0]) if row else None


def _line(summary: dict[str, Any]) -> str:
    lat = summary["latency_ok"]
    text = (
        f"{summary['requests']} requests in {summary['wall_s']} s = {summary['requests_per_s']}/s, "
        f"p50/p95/p99 {lat.get('p50_ms')}/{lat.get('p95_ms')}/{lat.get('p99_ms')} ms"
    )
    if "gifts_per_s_end_to_end" in summary:
        text += f"; end to end {summary['gifts_per_s_end_to_end']} gifts/s"
    if posted := summary.get("sent_to_posted_ms"):
        text += (
            f"; each gift's webhook to its entry in the books p50/p95/p99 "
            f"{posted.get('p50_ms')}/{posted.get('p95_ms')}/{posted.get('p99_ms')} ms"
        )
    return text


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.intake",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--gifts", type=int, default=2000)
    parser.add_argument(
        "--concurrency", type=int, default=8, help="deliveries in flight at once (default 8)"
    )
    parser.add_argument(
        "--faults",
        action="store_true",
        help="every event twice, shuffled; a worker killed; PostgreSQL restarted",
    )
    parser.add_argument(
        "--pg-fault",
        choices=["restart", "terminate"],
        default="restart",
        help="restart: pg_ctlcluster 15 main restart (root); terminate: pg_terminate_backend",
    )
    parser.add_argument(
        "--redis",
        action="store_true",
        help=f"CONSERVANCY_REDIS_URL={REDIS_URL} and one 'conservancy worker' running",
    )
    parser.add_argument(
        "--stripe-latency-ms",
        type=int,
        default=0,
        help="the stand-in answers each API call this late during the burst, as Stripe "
        "takes a few hundred ms (default 0)",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="send the gifts at this steady rate a second instead of in a burst, and report "
        "each gift's time from its webhook to its entry in the books",
    )
    parser.add_argument(
        "--serve-config",
        type=Path,
        default=None,
        help="a gunicorn configuration file for the app's `conservancy serve --config` "
        "(its bind and workers are the bench's)",
    )
    parser.add_argument("--no-ceiling", action="store_true")
    parser.add_argument("--no-phases", action="store_true")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the database and temp dir")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--serve-ceiling", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_ceiling:
        serve_ceiling(args.serve_ceiling, 2)
        return 0
    if shutil.which("gunicorn", path=str(PYTHON.parent)) is None:
        print("gunicorn is not installed in this virtualenv", file=sys.stderr)
        return 2
    options = Options(
        gifts=args.gifts,
        concurrency=args.concurrency,
        faults=args.faults,
        pg_fault=args.pg_fault,
        redis=args.redis,
        ceiling=not args.no_ceiling,
        phases=not args.no_phases,
        seed=args.seed,
        keep=args.keep,
        stripe_latency_ms=args.stripe_latency_ms,
        rate=args.rate,
        serve_config=args.serve_config,
    )
    result = run(options)
    RESULTS.mkdir(parents=True, exist_ok=True)
    kind = "faults" if args.faults else "burst"
    kind += "-redis" if args.redis else ""
    kind += f"-latency{args.stripe_latency_ms}" if args.stripe_latency_ms else ""
    kind += f"-rate{args.rate:g}" if args.rate else ""
    stamp = f"{datetime.now(UTC):%Y-%m-%d}"
    target = args.out or RESULTS / f"intake-{kind}-{args.gifts}-{stamp}.json"
    target.write_text(json.dumps(result, indent=2, default=str), "utf-8")
    print(f"results: {target}")
    return 0 if result.get("verify", {}).get("verdict") == "PASS" else 1


if __name__ == "__main__":
    sys.exit(main())
