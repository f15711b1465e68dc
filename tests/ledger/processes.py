"""Running conservancy in other processes, for the crash and concurrency tests.

The parent (a test) starts helpers with :func:`start_helper` or :func:`run_helper`;
helpers that must start together call :func:`wait_at_barrier`, and the parent
lets them all go at once with :func:`release_barrier`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from conservancy.infra.config import Settings
from conservancy.ledger.files import LedgerFiles

# What a command does after a crash or beside a race is the same in this process (tests/cli.py).
from tests.cli import run_cli  # noqa: F401 - the crash and race tests import it from here
from tests.environment import settings_env

REPO = Path(__file__).resolve().parents[2]
CONSERVANCY = Path(sys.executable).parent / "conservancy"
# Not a timing assertion: only a guard so that a hung child fails the test instead of the suite.
TIMEOUT = 120.0


def _helper_argv(module: str, args: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", f"tests.ledger.{module}", *args]


def start_helper(settings: Settings, module: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _helper_argv(module, args),
        env=settings_env(settings),
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_helper(settings: Settings, module: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _helper_argv(module, args),
        env=settings_env(settings),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def ref_counts(files: LedgerFiles, refs: Iterable[str]) -> dict[str, int]:
    """How many times each ref is written in the application's files."""
    # A torn append may end inside a character; count what is there all the same.
    text = "".join(p.read_bytes().decode("utf-8", "replace") for p in files.app_files())
    return {ref: text.count(f'ref: "{ref}"') for ref in refs}


def app_file_bytes(files: LedgerFiles) -> dict[str, bytes]:
    return {files.relative(path): path.read_bytes() for path in files.app_files()}


def wait_at_barrier(barrier: Path, name: str) -> None:
    """In a helper: say it is ready, then wait until the test says go."""
    (barrier / f"{name}.ready").touch()
    deadline = time.monotonic() + TIMEOUT
    while not (barrier / "go").exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"{name}: the barrier was never released")
        time.sleep(0.002)


def release_barrier(
    barrier: Path, names: Iterable[str], processes: Iterable[subprocess.Popen[str]]
) -> None:
    """In the test: once every helper is waiting at the barrier, let them all go at once."""
    names, processes = list(names), list(processes)
    deadline = time.monotonic() + TIMEOUT
    while not all((barrier / f"{name}.ready").exists() for name in names):
        for process in processes:
            if process.poll() is not None:
                _, err = process.communicate()
                raise AssertionError(f"a helper exited before the start: {err}")
        if time.monotonic() > deadline:
            raise AssertionError("the helpers never reached the barrier")
        time.sleep(0.01)
    (barrier / "go").touch()


def finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err
