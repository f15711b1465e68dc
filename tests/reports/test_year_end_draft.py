"""Issue 15, finding 6: the package of a year that has not ended is a draft, and says so.

``ledger close`` and ``receipts annual`` refuse a year not yet over in the sponsor's time
zone; the year-end package is still made (staff look at the year as it goes), but marked
DRAFT on every PDF page, in every CSV (a first line a spreadsheet shows in its first cell
and a program skips), in the zip's name and on the page; the command warns. A package of a
year that has ended carries none of it. The sponsor's today is pinned either side of the
end of 2026, whose books the ``books`` fixture holds. (Issue 18, item 6: Schedule A's and
Part IX's files too, and README.txt, which states the basis; a final package's CSVs begin
with their header, as a program written for final packages reads them.)
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from flask import Flask
from pypdf import PdfReader

from conservancy.cli import cli
from conservancy.cli.reports import report
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from tests.admin.pages import signed_in
from tests.environment import settings_env
from tests.receipts.pdfs import requires_weasyprint
from tests.reports.test_year_end import books  # noqa: F401 - the year's books

cli.add_command(report)  # as the console script's main() does

PAGE = "/admin/reports/year-end"
DURING_2026 = date(2026, 12, 6)
AFTER_2026 = date(2027, 1, 1)
FILES = ("README.txt", *ye.CSV_FILES, "year-end-2026.pdf")
# These books hold no gift of property (Schedule B Part II) and no payment for services
# (Form 1099-NEC): those files have their header only.
MAY_BE_EMPTY = {"schedule-b-noncash.csv", "1099-nec.csv"}
# The files of issue 18, items 3 and 4: marked like every other file.
assert {"schedule-a-part-ii.csv", "schedule-a-contributors.csv", "part-ix.csv"} <= set(ye.CSV_FILES)


def _today(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: day)


def _year_end(settings: Settings, out: Path) -> Result:
    return CliRunner(env=settings_env(settings)).invoke(
        cli, ["report", "year-end", "--year", "2026", "--out", str(out)], catch_exceptions=False
    )


def _pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(BytesIO(pdf)).pages]


def _files(out: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in out.iterdir()}


def _assert_draft_everywhere(files: dict[str, bytes]) -> None:
    assert sorted(files) == sorted(FILES)
    for name in ye.CSV_FILES:
        notice, rest = files[name].decode("utf-8").split("\r\n", 1)
        assert notice == (
            "# DRAFT: 2026 has not ended (prepared 2026-12-06); every figure here may still change"
        ), name
        assert next(csv.reader([notice])) == [notice]  # one cell in a spreadsheet
        assert not rest.startswith("#"), name  # that one line, and nothing more
        below = csv.DictReader(io.StringIO(rest))
        assert below.fieldnames, name  # the header below it
        assert all(re.fullmatch(r"[a-z0-9_]+", f) for f in below.fieldnames), name
        assert list(below) or name in MAY_BE_EMPTY, name  # and its rows
    readme = files["README.txt"].decode("utf-8").splitlines()
    assert readme[0] == "Year-end package, 2026 (DRAFT)"
    assert (
        "Status: DRAFT: 2026 has not ended (prepared 2026-12-06); every figure here may still "
        "change"
    ) in readme
    assert "Prepared: 2026-12-06" in readme
    pages = _pages(files["year-end-2026.pdf"])
    assert len(pages) >= 2
    for number, text in enumerate(pages, 1):
        assert "DRAFT: 2026 has not ended" in text, f"page {number}"


def _assert_no_draft(files: dict[str, bytes]) -> None:
    assert sorted(files) == sorted(FILES)
    for name in ye.CSV_FILES:
        text = files[name].decode("utf-8")
        assert "DRAFT" not in text, name
        assert not text.startswith("#"), name  # no line above the header
        found = csv.DictReader(io.StringIO(text))
        assert found.fieldnames, name
        assert all(re.fullmatch(r"[a-z0-9_]+", f) for f in found.fieldnames), name
        assert list(found) or name in MAY_BE_EMPTY, name
    readme = files["README.txt"].decode("utf-8")
    assert "DRAFT" not in readme
    assert "Status: final (2026 has ended)" in readme.splitlines()
    pages = _pages(files["year-end-2026.pdf"])
    assert len(pages) >= 2
    assert not [n for n, text in enumerate(pages, 1) if "DRAFT" in text]


@requires_weasyprint
def test_a_package_for_a_year_not_yet_ended_says_draft_on_every_page_and_file(
    books: Runtime,  # noqa: F811
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _today(monkeypatch, DURING_2026)

    done = _year_end(settings, tmp_path / "pkg")

    assert done.exit_code == 0, done.output  # it ties: a draft is not a failure
    assert done.stderr.splitlines() == [
        "warning: 2026 has not ended (today is 2026-12-06 in the sponsor's time zone): "
        "this package is a DRAFT, marked so on every page and file"
    ]
    assert done.stdout.splitlines()[-1] == "every total ties to the books to the cent"
    _assert_draft_everywhere(_files(tmp_path / "pkg"))


@requires_weasyprint
def test_a_package_for_a_year_that_has_ended_says_draft_nowhere(
    books: Runtime,  # noqa: F811
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _today(monkeypatch, AFTER_2026)

    done = _year_end(settings, tmp_path / "pkg")

    assert done.exit_code == 0, done.output
    assert done.stderr == ""
    assert "DRAFT" not in done.output
    _assert_no_draft(_files(tmp_path / "pkg"))


def _unzipped(answer: bytes, folder: str) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(answer))
    assert {name.split("/")[0] for name in archive.namelist()} == {folder}
    return {name.split("/")[1]: archive.read(name) for name in archive.namelist()}


@requires_weasyprint
def test_staff_see_and_download_a_draft_for_a_year_not_yet_ended(
    app: Flask,
    books: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _today(monkeypatch, DURING_2026)
    client = signed_in(app, books, "bookkeeper")

    page = client.get(PAGE, query_string={"year": "2026"})
    answer = client.get(f"{PAGE}/2026.zip")

    assert page.status_code == 200
    assert "<h2>2026 (DRAFT)</h2>" in page.text
    assert "<strong>DRAFT:</strong> 2026 has not ended (today is 2026-12-06" in page.text
    assert "Download the draft package" in page.text
    assert "Every total ties to the books to the cent." in page.text
    assert answer.status_code == 200
    disposition = answer.headers["Content-Disposition"]
    assert disposition == 'attachment; filename="year-end-2026-DRAFT.zip"'
    _assert_draft_everywhere(_unzipped(answer.data, "year-end-2026-DRAFT"))


@requires_weasyprint
def test_staff_see_and_download_a_final_package_once_the_year_has_ended(
    app: Flask,
    books: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _today(monkeypatch, AFTER_2026)
    client = signed_in(app, books, "bookkeeper")

    page = client.get(PAGE, query_string={"year": "2026"})
    answer = client.get(f"{PAGE}/2026.zip")

    assert page.status_code == 200
    assert "DRAFT" not in page.text
    assert answer.headers["Content-Disposition"] == 'attachment; filename="year-end-2026.zip"'
    _assert_no_draft(_unzipped(answer.data, "year-end-2026"))
