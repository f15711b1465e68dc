"""The ``conservancy`` command as an operator runs it, one line per problem.

The console script runs in a subprocess where the process itself is what is tested: init
from nothing and again, no terminal to prompt on, a failure without a traceback, the help.
What each command accepts and refuses runs the same command group in the test's process
(``run_cli``, tests/cli.py), which answers with the same output and exit status.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from conservancy.infra.config import Settings
from conservancy.projects.models import Project, Sponsor
from conservancy.runtime import Runtime
from tests import factories
from tests.cli import run_cli
from tests.environment import settings_env

CONSERVANCY = Path(sys.executable).parent / "conservancy"
# Checks that never reach the database need not run on both.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SPONSOR = ["--sponsor-name", "Acme Freedom, Inc.", "--ein", "98-7654321", "--address", "1 Main St"]


def run(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSERVANCY), *args],
        env=settings_env(settings),
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,  # not a terminal: nothing may be prompted for
        timeout=60,
        check=False,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stdout + result.stderr
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def ledger_bytes(ledger_dir: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(ledger_dir)): path.read_bytes()
        for path in sorted(ledger_dir.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def fresh(settings: Settings, tmp_path: Path) -> Settings:
    """Nothing set up: no books; on SQLite not even a database file."""
    if settings.database_url.startswith("sqlite"):
        return replace(settings, database_url=f"sqlite:///{tmp_path / 'fresh' / 'new.db'}")
    return settings


def projects(runtime: Runtime) -> list[tuple[str, str, int]]:
    with runtime.sessions() as session:
        rows = session.execute(select(Project.slug, Project.fund, Project.fee_rate_bp))
        return sorted(tuple(row) for row in rows)  # type: ignore[misc]


def test_init_creates_books_and_sponsor_and_a_second_run_changes_nothing(fresh: Settings) -> None:
    first = run(fresh, "init", *SPONSOR)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("initialised")
    assert (fresh.ledger_dir / "main.beancount").is_file()
    assert "open Assets:Stripe" in (fresh.ledger_dir / "app" / "accounts.beancount").read_text()
    books = ledger_bytes(fresh.ledger_dir)

    second = run(fresh, "init", *SPONSOR)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("already initialised")
    assert ledger_bytes(fresh.ledger_dir) == books

    rt = Runtime.from_settings(fresh)
    try:
        with rt.sessions() as session:
            sponsors = session.scalars(select(Sponsor)).all()
            assert [(s.legal_name, s.ein, s.address) for s in sponsors] == [
                ("Acme Freedom, Inc.", "98-7654321", "1 Main St")
            ]
    finally:
        rt.close()
    check = run(fresh, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr


@sqlite_only
def test_init_without_a_terminal_and_without_ein_fails_in_one_line(fresh: Settings) -> None:
    result = run(fresh, "init", "--sponsor-name", "Acme", "--address", "1 Main St")
    line = assert_one_line_failure(result)
    assert "--ein" in line
    assert not (fresh.ledger_dir / "main.beancount").exists()


@sqlite_only
def test_init_refuses_a_malformed_ein_in_one_line(fresh: Settings) -> None:
    args = ["--sponsor-name", "Acme", "--ein", "123", "--address", "1 Main St"]
    line = assert_one_line_failure(run_cli(fresh, "init", *args))
    assert "EIN" in line


def test_init_refuses_different_sponsor_details_and_changes_nothing(runtime: Runtime) -> None:
    books = ledger_bytes(runtime.settings.ledger_dir)
    line = assert_one_line_failure(run_cli(runtime.settings, "init", *SPONSOR))
    assert "already set up" in line
    assert ledger_bytes(runtime.settings.ledger_dir) == books


def test_project_add_opens_the_funds_accounts_and_the_books_stay_clean(runtime: Runtime) -> None:
    result = run_cli(runtime.settings, "project", "add", "sugar-labs", "--name", "Sugar Labs")
    assert result.returncode == 0, result.stderr
    assert "SugarLabs" in result.stdout
    opened = runtime.ledger.accounts.read_text()
    for account in [
        "Income:SugarLabs:Donations",
        "Expenses:SugarLabs:Payment-Processing",
        "Expenses:SugarLabs:Sponsorship-Fees",
        "Equity:Net-Assets:SugarLabs",
    ]:
        assert f" open {account}\n" in opened
    assert projects(runtime) == [("sugar-labs", "SugarLabs", 1000)]

    check = run_cli(runtime.settings, "ledger", "check")
    assert check.returncode == 0, check.stdout + check.stderr
    assert "no problems" in check.stdout


def test_project_add_takes_fee_rate_and_account_name(runtime: Runtime) -> None:
    args = ["--name", "The Twisted Project", "--fee-rate", "7.5", "--account-name", "Twisted"]
    result = run_cli(runtime.settings, "project", "add", "twisted", *args)
    assert result.returncode == 0, result.stderr
    assert projects(runtime) == [("twisted", "Twisted", 750)]
    assert " open Income:Twisted:Donations\n" in runtime.ledger.accounts.read_text()


def _refusal(runtime: Runtime, *args: str) -> str:
    """Run a project add that must fail; check it failed in one line and changed nothing."""
    with runtime.sessions() as session:
        factories.project(session)
        session.commit()
    runtime.post_ledger()
    books = ledger_bytes(runtime.settings.ledger_dir)
    before = projects(runtime)

    line = assert_one_line_failure(run_cli(runtime.settings, "project", "add", *args))
    assert projects(runtime) == before
    assert ledger_bytes(runtime.settings.ledger_dir) == books
    return line


def test_project_add_refuses_a_duplicate_slug_and_changes_nothing(runtime: Runtime) -> None:
    assert "'twisted' already exists" in _refusal(runtime, "twisted", "--name", "Twisted Two")


def test_project_add_refuses_a_fund_another_project_has(runtime: Runtime) -> None:
    # "twisted" as a name makes the fund Twisted, which the first project holds.
    assert "Twisted" in _refusal(runtime, "twisted-2", "--name", "twisted")


@sqlite_only
@pytest.mark.parametrize(
    ("args", "named"),
    [
        pytest.param(["Bad Slug", "--name", "Bad"], "slug", id="bad-slug"),
        pytest.param(["cheap", "--name", "Cheap", "--fee-rate", "ten"], "--fee-rate", id="fee"),
        pytest.param(["big", "--name", "Big", "--fee-rate", "150"], "--fee-rate", id="fee-150"),
        pytest.param(["tw", "--name", "Tw", "--account-name", "twisted"], "twisted", id="lower"),
        pytest.param(["hs", "--name", "Hs", "--account-name", "Has Space"], "Has Space", id="sp"),
        pytest.param(["gen", "--name", "Gen", "--account-name", "General"], "General", id="gen"),
    ],
)
def test_project_add_refuses_bad_input_in_one_line_and_changes_nothing(
    runtime: Runtime, args: list[str], named: str
) -> None:
    assert named in _refusal(runtime, *args)


@sqlite_only
@pytest.mark.parametrize(
    "args",
    [
        pytest.param(["project", "add", "twisted", "--name", "Twisted"], id="project-add"),
        pytest.param(["ledger", "sync"], id="ledger-sync"),
    ],
)
def test_commands_before_init_say_so_in_one_line(fresh: Settings, args: list[str]) -> None:
    line = assert_one_line_failure(run_cli(fresh, *args))
    assert "conservancy init" in line


def test_project_add_on_a_migrated_database_without_init_writes_nothing(
    settings: Settings,
) -> None:
    """The database has its tables but nobody ran init: no sponsor, no books."""
    line = assert_one_line_failure(
        run_cli(settings, "project", "add", "twisted", "--name", "Twisted")
    )
    assert "conservancy init" in line
    rt = Runtime.from_settings(settings)
    try:
        assert projects(rt) == []
    finally:
        rt.close()


@sqlite_only
def test_ledger_check_before_init_points_to_init_without_a_traceback(fresh: Settings) -> None:
    result = run(fresh, "ledger", "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert "conservancy init" in result.stdout


@sqlite_only
def test_commands_have_help(fresh: Settings) -> None:
    for command in [["init"], ["demo"], ["project", "add"]]:
        result = run(fresh, *command, "--help")
        assert result.returncode == 0, command
        assert "Usage: conservancy" in result.stdout
