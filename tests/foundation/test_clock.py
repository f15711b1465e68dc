"""The test clock: CONSERVANCY_TEST_CLOCK_SHIFT_DAYS moves "now" in every process of a test
site (the server, the stand-in, each command), and only where CONSERVANCY_ENV=test; anywhere
else the settings refuse to start with it."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conservancy.infra.config import Settings, SettingsError

CONSERVANCY = Path(sys.executable).parent / "conservancy"
SHOW_NOW = "from conservancy.kernel import clock; print(clock.now().isoformat())"


def now_in_a_process(**variables: str) -> datetime:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(variables)
    shown = subprocess.run(
        [sys.executable, "-c", SHOW_NOW], env=env, capture_output=True, text=True, check=True
    )
    return datetime.fromisoformat(shown.stdout.strip())


def test_a_test_process_runs_its_clock_the_shifted_number_of_days_behind() -> None:
    before = datetime.now(UTC)
    shown = now_in_a_process(CONSERVANCY_ENV="test", CONSERVANCY_TEST_CLOCK_SHIFT_DAYS="-400")
    after = datetime.now(UTC)

    assert before - timedelta(days=400) <= shown <= after - timedelta(days=400)


@pytest.mark.parametrize("env", ["production", "demo"])
def test_outside_tests_the_clock_ignores_the_shift(env: str) -> None:
    before = datetime.now(UTC)
    shown = now_in_a_process(CONSERVANCY_ENV=env, CONSERVANCY_TEST_CLOCK_SHIFT_DAYS="-400")

    assert shown >= before


@pytest.mark.parametrize("env", [None, "production", "demo"])
def test_the_settings_refuse_a_shifted_clock_outside_tests(env: str | None) -> None:
    environ = {"CONSERVANCY_TEST_CLOCK_SHIFT_DAYS": "-400"}
    if env is not None:
        environ["CONSERVANCY_ENV"] = env

    with pytest.raises(SettingsError, match=r"CONSERVANCY_TEST_CLOCK_SHIFT_DAYS .* tests only"):
        Settings.from_env(environ)


@pytest.mark.parametrize("value", ["yesterday", "-4.5", "1e3", "-99999999"])
def test_a_malformed_shift_is_named(value: str) -> None:
    environ = {"CONSERVANCY_ENV": "test", "CONSERVANCY_TEST_CLOCK_SHIFT_DAYS": value}

    with pytest.raises(SettingsError, match="CONSERVANCY_TEST_CLOCK_SHIFT_DAYS must be a whole"):
        Settings.from_env(environ)


def test_a_production_command_with_a_shifted_clock_stops_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(CONSERVANCY_TEST_CLOCK_SHIFT_DAYS="-400", CONSERVANCY_SECRET_KEY="x" * 32)
    done = subprocess.run(
        [str(CONSERVANCY), "ledger", "check"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: CONSERVANCY_TEST_CLOCK_SHIFT_DAYS moves the clock for tests only: unset it "
        "(it needs CONSERVANCY_ENV=test, not production)"
    ]
