"""`make demo` runs `conservancy demo`: it serves `/` on 127.0.0.1 with a demo sponsor
and member projects including Twisted, and can be started again on the same data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CONSERVANCY = Path(sys.executable).parent / "conservancy"
STARTUP_LIMIT = 60.0  # seconds; a bound on waiting, not a performance claim

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def demo_env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(
        CONSERVANCY_ENV="demo",
        CONSERVANCY_DATABASE_URL=f"sqlite:///{root / 'instance' / 'conservancy.db'}",
        CONSERVANCY_LEDGER_DIR=str(root / "ledgers"),
        CONSERVANCY_RECEIPTS_DIR=str(root / "receipts"),
        CONSERVANCY_INSTANCE_DIR=str(root / "instance"),
    )
    return env


def serve_demo_and_fetch_index(root: Path) -> str:
    """Start the demo, wait until `/` answers, return the page, stop the demo."""
    port = free_port()
    log = root / f"demo-{port}.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(CONSERVANCY), "demo", "--port", str(port), "--stripe-port", str(free_port())],
            cwd=root,
            env=demo_env(root),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_LIMIT
        while True:
            if process.poll() is not None:
                pytest.fail(f"the demo exited with {process.returncode}:\n{log.read_text()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as answer:
                    assert answer.status == 200
                    page: str = answer.read().decode("utf-8")
                    break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    pytest.fail(f"the demo did not answer on port {port}:\n{log.read_text()}")
                time.sleep(0.2)
        assert f"http://127.0.0.1:{port}/" in log.read_text()  # it tells you where to go
        return page
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_demo_serves_the_sponsor_page_with_twisted(tmp_path: Path) -> None:
    page = serve_demo_and_fetch_index(tmp_path)
    assert "Demo Software Freedom Conservancy, Inc." in page
    assert '<h2><a href="/projects/twisted">Twisted</a></h2>' in page
    assert "event-driven networking engine" in page
    assert '<h2><a href="/projects/inkscape">Inkscape</a></h2>' in page
    assert (tmp_path / "ledgers" / "main.beancount").is_file()


def test_demo_starts_again_on_the_same_data(tmp_path: Path) -> None:
    first = serve_demo_and_fetch_index(tmp_path)
    accounts = (tmp_path / "ledgers" / "app" / "accounts.beancount").read_bytes()
    second = serve_demo_and_fetch_index(tmp_path)
    assert second.count('<h2><a href="/projects/twisted">Twisted</a></h2>') == 1
    assert second.count("<h2>") == first.count("<h2>")
    assert (tmp_path / "ledgers" / "app" / "accounts.beancount").read_bytes() == accounts
