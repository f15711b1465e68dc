"""A sponsor's site run as a user runs it: a folder standing for the checkout (the working
directory of every command and of the server), the default relative folders in it
(`ledgers`, `receipts`, `instance`), the `conservancy` console script (or, for the
commands after the year has ended, the same commands in the test's process), a real
`conservancy stripe stand-in` and a real `conservancy serve`."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.cli import invoke

CONSERVANCY = Path(sys.executable).parent / "conservancy"
STRIPE_KEY = "sk_test_yeartest"
WEBHOOK_SECRET = "whsec_yeartest"
STARTUP_LIMIT = 60.0  # seconds; a bound on waiting, not a performance claim
COMMAND_LIMIT = 300.0
BOOKING_LIMIT = 60.0  # seconds for Stripe's webhooks to reach the books


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _exited(
    done: subprocess.CompletedProcess[str], expect: int
) -> subprocess.CompletedProcess[str]:
    """``done``, once it exited ``expect`` without a traceback."""
    assert done.returncode == expect, (
        f"{' '.join(map(str, done.args))} exited {done.returncode}, not {expect}:\n"
        f"{done.stdout}\n{done.stderr}"
    )
    assert "Traceback" not in done.stderr, done.stderr
    return done


@dataclass
class Site:
    """The checkout-like folder ``root`` and the processes that serve it.

    ``database_url`` is None for the default (`sqlite:///instance/conservancy.db`, relative
    to the folder); ``shift_days`` moves every process's clock (conservancy.kernel.clock).
    """

    root: Path
    database_url: str | None
    port: int = field(default_factory=free_port)
    stripe_port: int = field(default_factory=free_port)
    shift_days: int = 0
    _processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def stripe_url(self) -> str:
        return f"http://127.0.0.1:{self.stripe_port}"

    @property
    def logs(self) -> Path:
        # Outside the folder: nothing of the test's own belongs in the checkout.
        return self.root.parent / "logs"

    def env(self) -> dict[str, str]:
        """What a user sets: the mode, the keys, the addresses; no folder is set."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
        env.update(
            CONSERVANCY_ENV="test",
            CONSERVANCY_SECRET_KEY="yeartest-secret-key-0123456789",
            CONSERVANCY_BASE_URL=self.url,
            CONSERVANCY_STRIPE_SECRET_KEY=STRIPE_KEY,
            CONSERVANCY_STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            CONSERVANCY_STRIPE_API_BASE=self.stripe_url,
        )
        if self.database_url is not None:
            env["CONSERVANCY_DATABASE_URL"] = self.database_url
        if self.shift_days:
            env["CONSERVANCY_TEST_CLOCK_SHIFT_DAYS"] = str(self.shift_days)
        return env

    # -- commands ----------------------------------------------------------------------------

    def run(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """``conservancy ARGS`` in the folder; asserts its exit status."""
        done = subprocess.run(
            [str(CONSERVANCY), *args],
            cwd=self.root,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_LIMIT,
            check=False,
        )
        return _exited(done, expect)

    def command(self, *args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        """``conservancy ARGS`` as :meth:`run` has it, the folder its working directory, but
        in this process (tests/cli.py): the same command group, settings and answer, without
        a second of starting Python and the app each time. Only on the real clock, which
        this process keeps (the shift is read once per process)."""
        assert self.shift_days == 0, "a shifted clock needs the console script: site.run"
        with contextlib.chdir(self.root):
            return _exited(invoke(self.env(), *args), expect)

    # -- Stripe (the stand-in): its control addresses, its API as a dashboard would show it -----

    def stripe_control(self, path: str, **form: str) -> dict[str, Any]:
        answer = requests.post(f"{self.stripe_url}/_standin/{path}", data=form, timeout=30)
        assert answer.status_code == 200, (
            f"/_standin/{path} answered {answer.status_code}: {answer.text}"
        )
        found: dict[str, Any] = answer.json()
        return found

    def stripe_api(self, path: str, **query: str) -> dict[str, Any]:
        answer = requests.get(
            f"{self.stripe_url}/v1/{path}",
            params=query,
            headers={"Authorization": f"Bearer {STRIPE_KEY}"},
            timeout=30,
        )
        assert answer.status_code == 200, f"/v1/{path} answered {answer.status_code}: {answer.text}"
        found: dict[str, Any] = answer.json()
        return found

    def stripe_state(self) -> dict[str, Any]:
        answer = requests.get(f"{self.stripe_url}/_standin/state", timeout=30)
        assert answer.status_code == 200
        found: dict[str, Any] = answer.json()
        return found

    def wait_for_the_books(self) -> None:
        """Until every balance transaction at Stripe is in the books (the webhooks are
        delivered and posted): a charge, dispute movement or payout under its own ref, a
        refund under the refund's."""
        deadline = time.monotonic() + BOOKING_LIMIT
        while True:
            books = "".join(
                p.read_text() for p in sorted((self.root / "ledgers").rglob("*.beancount"))
            )
            missing = [
                txn["id"]
                for txn in self.stripe_state()["balance_transactions"]
                if f'"stripe-{txn["id"]}"' not in books
                and not (txn["type"] == "refund" and f'"stripe-{txn["source"]}"' in books)
            ]
            if not missing:
                return
            assert time.monotonic() < deadline, (
                f"not in the books after {BOOKING_LIMIT} s: {missing}\n{self.log('server')[-3000:]}"
            )
            time.sleep(0.3)

    # -- the processes -------------------------------------------------------------------------

    def start_standin(self) -> None:
        self._start(
            "stand-in",
            [
                "stripe",
                "stand-in",
                "--port",
                str(self.stripe_port),
                "--webhook-url",
                f"{self.url}/stripe/webhook",
                "--webhook-secret",
                WEBHOOK_SECRET,
                "--state",
                "instance/stripe-standin.json",  # kept across restarts, as the demo's
            ],
            f"{self.stripe_url}/_standin/",
        )

    def start_server(self) -> None:
        self._start(
            "server",
            ["serve", "--port", str(self.port), "--workers", "2"],
            f"{self.url}/healthz",
        )

    def stop(self, name: str) -> None:
        process = self._processes.pop(name, None)
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop_all(self) -> None:
        for name in list(self._processes):
            self.stop(name)

    def log(self, name: str) -> str:
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def _start(self, name: str, args: Sequence[str], ready: str) -> None:
        assert name not in self._processes, f"{name} is running already"
        self.logs.mkdir(exist_ok=True)
        with (self.logs / f"{name}.log").open("ab") as out:
            process = subprocess.Popen(
                [str(CONSERVANCY), *args],
                cwd=self.root,
                env=self.env(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._processes[name] = process
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if process.poll() is not None:
                raise AssertionError(f"{name} exited with {process.returncode}:\n{self.log(name)}")
            try:
                # A worker's first answer waits for its start (the books' snapshot): slow
                # on a busy machine, and not yet an answer that it failed.
                if requests.get(ready, timeout=STARTUP_LIMIT).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} did not answer at {ready}:\n{self.log(name)}")
            time.sleep(0.2)
