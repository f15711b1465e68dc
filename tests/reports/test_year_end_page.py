"""The year-end package as staff download it: the page, its tie-out, the zip."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import date

import pytest
from flask import Flask

from conservancy.kernel import clock
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.pages import signed_in
from tests.receipts.pdfs import pdf_text, requires_weasyprint
from tests.reports.test_year_end import at, books  # noqa: F401 - the year's books

PAGE = "/admin/reports/year-end"
AFTER_2026 = date(2027, 3, 1)  # the sponsor's today: 2026 has ended, its package is final


def test_the_page_offers_last_year_by_default(app: Flask, books: Runtime) -> None:  # noqa: F811
    page = signed_in(app, books, "auditor").get(PAGE)

    assert page.status_code == 200
    assert 'name="year" type="text" inputmode="numeric" maxlength="4" value="2025"' in page.text


def test_a_year_shows_its_figures_and_says_it_ties(app: Flask, books: Runtime) -> None:  # noqa: F811
    page = signed_in(app, books, "bookkeeper").get(PAGE, query_string={"year": "2026"})

    assert page.status_code == 200
    assert "Every total ties to the books to the cent." in page.text
    assert "4 contributors, $21,000.00" in page.text  # Schedule B
    assert f'href="{PAGE}/2026.zip"' in page.text


def test_a_gift_never_posted_is_shown_as_not_tying(app: Flask, books: Runtime) -> None:  # noqa: F811
    factories.settled_gift(books, email="zed@example.org", name="Zed", at=at(8, 1), post=False)

    page = signed_in(app, books, "bookkeeper").get(PAGE, query_string={"year": "2026"})

    assert "1 check does not tie to the books" in page.text
    assert "does not tie</strong>" in page.text


def test_a_bad_year_is_refused_by_the_field(app: Flask, books: Runtime) -> None:  # noqa: F811
    client = signed_in(app, books, "bookkeeper")

    for typed in ("twenty", "20266", "0999"):
        page = client.get(PAGE, query_string={"year": typed})
        assert page.status_code == 400
        assert '<p class="field-error" id="year-error">' in page.text
        assert 'aria-invalid="true"' in page.text


@requires_weasyprint
def test_the_zip_holds_the_package(
    app: Flask,
    books: Runtime,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: AFTER_2026)
    answer = signed_in(app, books, "auditor").get(f"{PAGE}/2026.zip")

    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == 'attachment; filename="year-end-2026.zip"'
    assert answer.headers["Cache-Control"] == "no-store"
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    assert sorted(archive.namelist()) == sorted(
        f"year-end-2026/{name}" for name in ("README.txt", *ye.CSV_FILES, "year-end-2026.pdf")
    )
    rows = csv.DictReader(io.StringIO(archive.read("year-end-2026/schedule-b.csv").decode()))
    assert {r["name"] for r in rows} == {"Ada Exact", "Cy Split", "Eve Cheque", "Fay Hidden"}
    assert "Every total ties" in pdf_text(archive.read("year-end-2026/year-end-2026.pdf"))
    readme = archive.read("year-end-2026/README.txt").decode()
    assert "Basis: accrual (" in readme
    listed = readme.splitlines()[readme.splitlines().index("Files:") + 1 :]
    assert sorted(f"year-end-2026/{line.split()[0]}" for line in listed) == sorted(
        archive.namelist()
    )


def test_a_treasurer_is_told_there_is_no_such_page(app: Flask, books: Runtime) -> None:  # noqa: F811
    client = signed_in(app, books, "treasurer")

    assert client.get(PAGE, query_string={"year": "2026"}).status_code == 404
    assert client.get(f"{PAGE}/2026.zip").status_code == 404
