"""``conservancy statement SLUG --from --to --format --out`` as an operator runs it."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import click
import pytest
from pypdf import PdfReader

from conservancy.cli import reports as cli_reports
from conservancy.infra.config import Settings
from conservancy.projects.models import Project
from conservancy.receipts.document import Sponsor
from conservancy.reports import statement as st
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import run_cli
from tests.receipts.pdfs import requires_weasyprint

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
OLD = b"last month's statement\n"


def statement(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "statement", *args)


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """Where statements are written (tmp_path also holds the books and the database)."""
    path = tmp_path / "statements"
    path.mkdir()
    return path


@pytest.fixture
def books(runtime: Runtime) -> Runtime:
    factories.with_project(runtime)
    factories.settled_gift(runtime, at=datetime(2026, 3, 1, 15, 0, tzinfo=UTC))
    factories.settled_gift(
        runtime, email="grace@example.org", name="Grace Hopper", amount="50.00", fee="1.75"
    )
    return runtime


def test_csv_statement_is_written_and_reported_in_one_line(
    books: Runtime, settings: Settings, folder: Path
) -> None:
    out = folder / "twisted.csv"
    out.write_bytes(OLD)  # replaced whole
    shutil.rmtree(books.ledger.cache_dir)  # the command builds what it needs
    done = statement(
        settings, "twisted", "--from", "2026-01-01", "--to", "2026-12-31", "--format", "csv",
        "--out", str(out),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"wrote {out}: Twisted, 2026-01-01 to 2026-12-31, 4 transactions, closing balance $130.05"
    ]  # 96.80 + 48.25 - 10.00 - 5.00
    rows = list(csv.DictReader(io.StringIO(out.read_text("utf-8"))))
    assert [r["record"] for r in rows].count("transaction") == 4
    assert rows[-1]["balance"] == "130.05"
    assert str(books.books.ready().fund_balance("Twisted")) == "130.05 USD"
    assert [p.name for p in folder.iterdir()] == ["twisted.csv"]  # no temporary file left


@requires_weasyprint
def test_pdf_statement(books: Runtime, settings: Settings, folder: Path) -> None:
    out = folder / "twisted.pdf"
    done = statement(
        settings, "twisted", "--from", "2026-03-01", "--to", "2026-03-31", "--format", "pdf",
        "--out", str(out), "--jobs", "2",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pages = PdfReader(io.BytesIO(out.read_bytes())).pages
    assert len(pages) == 2
    assert "Closing balance, March 31, 2026 $130.05" in " ".join(pages[0].extract_text().split())
    assert "Grace Hopper" in pages[1].extract_text()


@sqlite_only
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["nope", "--from", "2026-01-01", "--to", "2026-01-31", "--format", "csv"],
            "error: there is no project 'nope'",
        ),
        (
            ["twisted", "--from", "2026-02-01", "--to", "2026-01-31", "--format", "csv"],
            "error: the period starts (2026-02-01) after it ends (2026-01-31)",
        ),
        (
            ["twisted", "--from", "2026-02-30", "--to", "2026-03-31", "--format", "csv"],
            "error: --from: '2026-02-30' is not a date (use YYYY-MM-DD)",
        ),
        (
            ["twisted", "--from", "2026-01-01", "--to", "March", "--format", "csv"],
            "error: --to: 'March' is not a date (use YYYY-MM-DD)",
        ),
        (
            ["twisted", "--from", "2026-01-01", "--to", "2026-01-31", "--format", "xlsx"],
            "error: --format: 'xlsx' is not one of pdf, csv",
        ),
    ],
)
def test_bad_input_is_one_line_and_leaves_the_file_as_it_was(
    books: Runtime, settings: Settings, folder: Path, args: list[str], message: str
) -> None:
    out = folder / "statement.csv"
    out.write_bytes(OLD)
    assert one_line_failure(statement(settings, *args, "--out", str(out))) == message
    assert out.read_bytes() == OLD
    assert [p.name for p in folder.iterdir()] == ["statement.csv"]


@sqlite_only
def test_an_out_file_that_cannot_be_written_is_one_line(
    books: Runtime, settings: Settings, folder: Path
) -> None:
    period = ["twisted", "--from", "2026-01-01", "--to", "2026-01-31", "--format", "csv"]
    missing = folder / "no-such-dir" / "statement.csv"
    assert one_line_failure(statement(settings, *period, "--out", str(missing))) == (
        f"error: --out: there is no directory {missing.parent}"
    )
    assert one_line_failure(statement(settings, *period, "--out", str(folder))) == (
        f"error: --out: {folder} is a directory"
    )


def test_a_failure_while_writing_leaves_the_old_file_whole(
    books: Runtime, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The disk fills up halfway through: the old statement stays, no temporary file stays."""
    out = folder / "statement.csv"
    out.write_bytes(OLD)
    result = st.project_statement(
        books.books.index, twisted(books), date(2026, 1, 1), date(2026, 12, 31)
    )

    def half_then_full(statement: st.Statement, text: io.TextIOBase) -> None:
        text.write("record,date,payee\nopening,2026-01-01,")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(st, "write_csv", half_then_full)
    sponsor = Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street")
    with pytest.raises(click.ClickException, match="No space left on device"):
        cli_reports._write(out, "csv", result, sponsor, date(2026, 4, 2), 1)
    assert out.read_bytes() == OLD
    assert [p.name for p in folder.iterdir()] == ["statement.csv"]


def twisted(runtime: Runtime) -> Project:
    with runtime.sessions() as session:
        project = session.query(Project).filter_by(slug="twisted").one()
        session.expunge(project)
        return project
