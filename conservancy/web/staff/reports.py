"""The sponsor's year-end package as a download for staff (``conservancy report year-end``).

A GET form picks the year; the package (every CSV and the PDF summary) comes
as one zip file. It is read from the books' snapshot and index like every
page: nothing here loads the ledger. When a total does not tie to the books,
the download still comes (the differences are in it) and the page says so
before it is fetched. A closed year's package needs the full history, which a
page never loads: the page names the command that makes it. A year that has not
ended in the sponsor's time zone gives a draft: the page says so, and so do the
zip's name and every file in it. Payees' taxpayer identification numbers in the zip's
1099-nec.csv are masked to their last four digits: a download never holds them in full
(the command's ``--with-tins`` does).
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from flask import Blueprint, Response, render_template, request
from flask.typing import ResponseReturnValue

from conservancy.kernel import clock
from conservancy.ledger import years
from conservancy.ledger.books import BooksLoading
from conservancy.projects.service import get_sponsor
from conservancy.receipts.annual import sponsor_of
from conservancy.reports import year_end as ye
from conservancy.staff.permissions import Area, Staff
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.staff.admin import SECTIONS, Section

bp = Blueprint("admin_reports", __name__, url_prefix="/admin/reports")

SECTIONS.append(
    Section(
        "Year-end package",
        "admin_reports.year_end",
        Area.REPORTS,
        "Schedule B, contributions, roll-forwards, acknowledgements, and their tie-out.",
    )
)


bp.after_request(never_cached)


@bp.get("/year-end")
@require_area(Area.REPORTS)
def year_end(staff: Staff) -> ResponseReturnValue:
    """The form, and with ``?year=`` the year's figures and tie-out on the page."""
    rt = runtime()
    today = clock.today(rt.settings.timezone)
    text = request.args.get("year")
    if text is None:
        return _page(year=str(today.year - 1))
    year, error = _year(text)
    if year is None:
        return _page(year=text, error=error), 400
    try:
        package = ye.year_end(
            db(), rt.books.index, rt.books.current(), year, rule=rt.settings.schedule_b_rule
        )
    except BooksLoading:
        return _page(year=text, loading=True), 503, {"Retry-After": "30"}
    return _page(year=text, package=package, today=today, draft=ye.unfinished(year, today))


@bp.get("/year-end/<int:year>.zip")
@require_area(Area.REPORTS)
def download(staff: Staff, year: int) -> ResponseReturnValue:
    """Every file of the package in one zip, named as the command names them."""
    _checked, error = _year(str(year))
    if error:
        return _page(year=str(year), error=error), 400
    rt = runtime()
    session = db()
    try:
        package = ye.year_end(
            session, rt.books.index, rt.books.current(), year, rule=rt.settings.schedule_b_rule
        )
    except BooksLoading:
        return _page(year=str(year), loading=True), 503, {"Retry-After": "30"}
    prepared_on = clock.today(rt.settings.timezone)
    folder = ye.package_name(year, prepared_on)  # year-end-2026, or year-end-2026-DRAFT
    body = io.BytesIO()
    with zipfile.ZipFile(body, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in ye.package_files(
            package, sponsor_of(session), prepared_on=prepared_on
        ):
            archive.writestr(f"{folder}/{name}", content)
    return Response(
        body.getvalue(),
        mimetype="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{folder}.zip"'},
    )


def _year(text: str) -> tuple[int | None, str | None]:
    text = text.strip()
    if not (text.isascii() and text.isdigit() and len(text) == 4):
        return None, f"{text[:20]!r} is not a year: give four digits, such as 2026."
    try:
        year = ye.check_year(int(text))
    except ye.BadYear as exc:
        return None, str(exc)
    opened = years.first_open_day(runtime().ledger)
    if opened is not None and year < opened.year:
        return None, (
            f"{year} is closed: its package is read from the full history, which pages do not "
            f"load. Run 'conservancy report year-end --year {year} --out DIR'."
        )
    return year, None


def _page(**context: Any) -> str:
    return render_template(
        "staff/admin/year_end.html",
        sponsor=get_sponsor(db()),
        staff=current_user(),
        package=context.pop("package", None),
        error=context.pop("error", None),
        loading=context.pop("loading", False),
        draft=context.pop("draft", False),
        **context,
    )
