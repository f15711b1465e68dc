"""What the security headers and a staff session's look-up cost the donation form.

    .venv/bin/python -m bench.headers                     # 40 rounds x 50 requests per variant
    .venv/bin/python -m bench.headers --rounds 10         # a quick look
    .venv/bin/python -m bench.headers --database-url postgresql://postgres@127.0.0.1:5432/test

GET /donate/<slug> through Flask's test client, in one process, on a site set up as the demo's
(a sponsor, one project, no campaign; SQLite in a temp dir, or a fresh PostgreSQL database made
beside the one named and dropped at the end). Three variants of the same app:

headers      as shipped: ``headers.protect`` (conservancy/web/headers.py) runs after every
             request and adds CSP, nosniff and Referrer-Policy. A donor's first visit: no
             cookie, so the page starts a Flask session for its CSRF token.
no-headers   the same app with ``headers.protect`` taken out of ``app.after_request_funcs``
             for the round, and put back after it.
staff-cookie as shipped, with a signed-in treasurer's cookie: ``auth.load_signed_in`` finds
             the staff session in the database (a hashed-id look-up and its last-used time
             committed) before the form is drawn. An anonymous donor's request does no such
             look-up: the donation form reads no session of its own.

The variants alternate: each round runs every variant ``--per-round`` times, in an order
rotated round by round, so that a busy neighbour or a warming cache weighs on all alike.
Reported: p50/p95/mean of all requests of each variant (wall clock, and the CPU time of the
request's thread, which a busy neighbour disturbs less), and the median over rounds of each
round's p50 difference (headers - no-headers; staff-cookie - headers), which is steadier than
the difference of the pooled p50s. ``headers.protect`` alone on a bare response is timed too.
Results land in bench/results/headers-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import timeit
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "bench" / "results"
SLUG = "twisted"
FORM = f"/donate/{SLUG}"
EMAIL = "treasurer@bench.example.org"
PASSWORD = "correct horse battery staple"
VARIANTS = ("headers", "no-headers", "staff-cookie")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(seconds: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "mean_ms": statistics.fmean(ms),
    }


@contextmanager
def database(url: str | None) -> Iterator[str]:
    """SQLite in a temp dir, or a database of our own on the PostgreSQL server of ``url``."""
    if url is None or not url.startswith("postgresql"):
        with tempfile.TemporaryDirectory(prefix="bench-headers-db-") as tmp:
            yield url or f"sqlite:///{tmp}/conservancy.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    base = make_url(url).set(drivername="postgresql+psycopg")
    name = f"conservancy_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield base.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def site(url: str, work: Path) -> Any:
    """A migrated database with the sponsor, one project and a treasurer of it; the runtime."""
    from conservancy.infra.config import Environment, Settings
    from conservancy.infra.db import migrate
    from conservancy.projects.service import add_project, set_up_sponsor
    from conservancy.runtime import Runtime
    from conservancy.staff import audit, passwords
    from conservancy.staff.models import Role
    from conservancy.staff.service import add_user, get_user

    migrate(url)
    settings = Settings(
        env=Environment.TEST,
        database_url=url,
        ledger_dir=work / "ledgers",
        receipts_dir=work / "receipts",
        instance_dir=work / "instance",
        secret_key="bench-headers-secret-key-0123456789",
    )
    rt = Runtime.from_settings(settings)
    opened = date(2026, 1, 1)
    with rt.sessions() as session:
        set_up_sponsor(
            session,
            legal_name="Bench Sponsor, Inc.",
            ein="12-3456789",
            address="137 Montague Street, Suite 380\nBrooklyn, NY 11201",
            time_zone="America/New_York",
            books_open_on=opened,
        )
        rt.ledger.create_skeleton("Bench Sponsor, Inc.")
        add_project(session, slug=SLUG, name="Twisted", opened_on=opened)
        user_id = add_user(
            session, audit.COMMAND_LINE, email=EMAIL, role=Role.TREASURER, project=SLUG
        ).user.id
        user = get_user(session, user_id)
        user.password_hash = passwords.hash_password(PASSWORD)
        user.totp_secret = None
        session.commit()
    rt.post_ledger()
    rt.books.load()
    return rt


def sign_in(client: Any) -> None:
    page = client.get("/password-reset")  # a public page with a form
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "no CSRF token on /password-reset"
    answer = client.post(
        "/sign-in", data={"email": EMAIL, "password": PASSWORD, "csrf_token": found.group(1)}
    )
    assert answer.status_code == 303, f"sign-in failed: {answer.status_code} {answer.text[:300]}"


def run(args: argparse.Namespace) -> dict[str, Any]:
    from conservancy import create_app
    from conservancy.web import headers

    out: dict[str, Any] = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True
        ).stdout.strip(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "rounds": args.rounds,
        "per_round": args.per_round,
    }
    with database(args.database_url) as url, tempfile.TemporaryDirectory() as tmp:
        out["database"] = url.split(":", 1)[0]
        rt = site(url, Path(tmp))
        app = create_app(runtime=rt)
        after = app.after_request_funcs.setdefault(None, [])
        assert headers.protect in after, "headers.protect is not installed on the app"
        anonymous = app.test_client(use_cookies=False)
        staff = app.test_client()
        sign_in(staff)

        cpu: dict[str, list[float]] = {name: [] for name in VARIANTS}

        def get(client: Any, expect_csp: bool, spent: list[float]) -> float:
            c0, t0 = time.thread_time(), time.perf_counter()
            answer = client.get(FORM)
            elapsed = time.perf_counter() - t0
            spent.append(time.thread_time() - c0)
            assert answer.status_code == 200, f"GET {FORM}: {answer.status_code}"
            has_csp = "Content-Security-Policy" in answer.headers
            assert has_csp == expect_csp, f"GET {FORM}: CSP present {has_csp}"
            return elapsed

        @contextmanager
        def without_headers() -> Iterator[None]:
            at = after.index(headers.protect)
            del after[at]
            try:
                yield
            finally:
                after.insert(at, headers.protect)

        def variant(name: str) -> Callable[[], float]:
            if name == "headers":
                return lambda: get(anonymous, True, cpu[name])
            if name == "staff-cookie":
                return lambda: get(staff, True, cpu[name])
            return lambda: get(anonymous, False, cpu[name])

        samples: dict[str, list[float]] = {name: [] for name in VARIANTS}
        round_p50: dict[str, list[float]] = {name: [] for name in VARIANTS}
        round_cpu_p50: dict[str, list[float]] = {name: [] for name in VARIANTS}
        for name in VARIANTS:  # warm-up: templates compiled, connections pooled
            with without_headers() if name == "no-headers" else _nothing():
                for _ in range(args.warmup):
                    variant(name)()
            cpu[name].clear()
        out["loadavg_before"] = os.getloadavg()
        started = time.perf_counter()
        for r in range(args.rounds):
            order = VARIANTS[r % 3 :] + VARIANTS[: r % 3]
            for name in order:
                call = variant(name)
                with without_headers() if name == "no-headers" else _nothing():
                    these = [call() for _ in range(args.per_round)]
                samples[name] += these
                round_p50[name].append(percentile(these, 50) * 1000)
                round_cpu_p50[name].append(percentile(cpu[name][-len(these) :], 50) * 1000)
        out["seconds"] = time.perf_counter() - started
        out["loadavg_after"] = os.getloadavg()
        out["variants"] = {name: summary(samples[name]) for name in VARIANTS}
        out["cpu"] = {name: summary(cpu[name]) for name in VARIANTS}

        def paired(per_round: dict[str, list[float]], a: str, b: str) -> float:
            pairs = zip(per_round[a], per_round[b], strict=True)
            return statistics.median(x - y for x, y in pairs)

        for key, per_round in (("p50", round_p50), ("cpu_p50", round_cpu_p50)):
            out[f"headers_minus_no_headers_{key}_ms"] = paired(per_round, "headers", "no-headers")
            out[f"staff_cookie_minus_headers_{key}_ms"] = paired(
                per_round, "staff-cookie", "headers"
            )

        from flask import Response

        n = 100_000
        with app.app_context():
            protected = min(
                timeit.repeat(lambda: headers.protect(Response("x")), number=n, repeat=5)
            )
            bare = min(timeit.repeat(lambda: Response("x"), number=n, repeat=5))
        out["protect_alone_us"] = (protected - bare) / n * 1e6
        out["header_bytes"] = sum(len(k) + len(v) + 4 for k, v in headers.HEADERS.items())
        rt.books.wait()
        rt.close()
    return out


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def report(out: dict[str, Any]) -> str:
    lines = [
        f"GET {FORM}, {out['database']}, {out['rounds']} rounds x {out['per_round']} requests "
        f"per variant, commit {out['commit']}, load {out['loadavg_before'][0]:.1f} -> "
        f"{out['loadavg_after'][0]:.1f}",
        "",
        "| variant | p50 | p95 | mean | CPU p50 | CPU mean |",
        "|---|---|---|---|---|---|",
    ]
    for name, s in out["variants"].items():
        c = out["cpu"][name]
        lines.append(
            f"| {name} | {s['p50_ms']:.3f} ms | {s['p95_ms']:.3f} ms | {s['mean_ms']:.3f} ms "
            f"| {c['p50_ms']:.3f} ms | {c['mean_ms']:.3f} ms |"
        )
    lines += [
        "",
        "headers - no-headers, median of round p50s: "
        f"{out['headers_minus_no_headers_p50_ms'] * 1000:+.0f} us wall, "
        f"{out['headers_minus_no_headers_cpu_p50_ms'] * 1000:+.0f} us CPU",
        "staff-cookie - headers, median of round p50s: "
        f"{out['staff_cookie_minus_headers_p50_ms'] * 1000:+.0f} us wall, "
        f"{out['staff_cookie_minus_headers_cpu_p50_ms'] * 1000:+.0f} us CPU",
        f"headers.protect alone: {out['protect_alone_us']:.1f} us a response, "
        f"{out['header_bytes']} bytes of headers",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--per-round", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--database-url", help="postgresql://... (a database is made beside it)")
    args = parser.parse_args(argv)
    out = run(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"headers-{stamp}.json").write_text(json.dumps(out, indent=2) + "\n")
    print(report(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
