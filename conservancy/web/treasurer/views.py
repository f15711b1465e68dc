"""Treasurers' pages: a project's fund, its gifts and donors, and its statements.

Every view takes the project through :func:`conservancy.web.auth.treasurer_page`:
a treasurer of another project gets 404, exactly as for a project that does
not exist. Figures come from the books' snapshot and index; a page never
loads the ledger (if the first build of the books is still running, the
page says so and asks to come back). Once a year is closed, the books pages
read hold the open years only; a statement for a period starting earlier needs
the full history, which a page never loads: staff prepare those
(``conservancy statement``), and the form says so.
"""

from __future__ import annotations

import io
from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from conservancy.expenses.requests import summary as spending_summary
from conservancy.kernel import clock
from conservancy.ledger import years
from conservancy.ledger.books import BooksLoading
from conservancy.money import Currency
from conservancy.projects.fund import campaigns, donors, overview
from conservancy.projects.giving import receiving
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.receipts.annual import sponsor_of
from conservancy.receipts.issue import project_copy
from conservancy.receipts.models import Receipt
from conservancy.receipts.render import render_receipt
from conservancy.reports import statement as statements
from conservancy.staff.permissions import Staff
from conservancy.web.auth import current_user, treasurer_page
from conservancy.web.branding import brand, embed_snippet
from conservancy.web.context import db, never_cached, runtime

bp = Blueprint("treasurer", __name__, url_prefix="/treasurer/<slug>")
bp.after_request(never_cached)  # donors' names must not stay in a browser's cache

RECENT = 10
PER_PAGE = 50
FORMATS = {"pdf": "application/pdf", "csv": "text/csv"}


def _page(template: str, project: Project, **context: Any) -> str:
    return render_template(
        template,
        sponsor=get_sponsor(db()),
        staff=current_user(),
        project=project,
        brand=brand(project),
        currency=Currency(project.currency),
        **context,
    )


def _loading(project: Project) -> ResponseReturnValue:
    return _page("treasurer/loading.html", project), 503, {"Retry-After": "30"}


@bp.get("/")
@treasurer_page
def dashboard(staff: Staff, project: Project) -> ResponseReturnValue:
    return _dashboard(project, {}, 200)


def _dashboard(project: Project, errors: dict[str, str], status: int) -> ResponseReturnValue:
    rt = runtime()
    today = clock.today(rt.settings.timezone)
    try:
        snapshot = rt.books.current()
        recent = rt.books.index.fund_transactions(project.fund, limit=RECENT)
    except BooksLoading:
        return _loading(project)
    session = db()
    page = _page(
        "treasurer/dashboard.html",
        project,
        today=today,
        figures=overview(snapshot, project, today, rt.books.closed.saved()),
        giving=receiving(session, project, names=False),  # the page shows no names
        campaigns=campaigns(session, project, today),
        recent=recent.transactions,
        snippet=embed_snippet(project, rt.settings.base_url),
        period=_period_defaults(today),
        errors=errors,
        spending=spending_summary(session, project),
    )
    return page, status


@bp.get("/transactions")
@treasurer_page
def transactions(staff: Staff, project: Project) -> ResponseReturnValue:
    before = request.args.get("before", type=int)
    try:
        runtime().books.current()
        page = runtime().books.index.fund_transactions(project.fund, before=before, limit=PER_PAGE)
    except BooksLoading:
        return _loading(project)
    return _page("treasurer/transactions.html", project, page=page, first=before is None)


@bp.get("/donors")
@treasurer_page
def donor_list(staff: Staff, project: Project) -> ResponseReturnValue:
    page = max(request.args.get("page", default=1, type=int), 1)
    lines, more = donors(db(), project, page)
    return _page("treasurer/donors.html", project, lines=lines, page=page, more=more)


@bp.get("/receipts/<number>.pdf")
@treasurer_page
def receipt_copy(staff: Staff, project: Project, number: str) -> ResponseReturnValue:
    """A project's copy of a receipt for a gift to it (receipts.issue.project_copy)."""
    session = db()
    found = session.scalar(select(Receipt).where(Receipt.number == number))
    if found is None or found.gift.donation.project_id != project.id:
        abort(404)  # another project's receipt is as absent as one that does not exist
    sponsor = get_sponsor(session)
    if sponsor is None:
        abort(404)  # no receipt is issued before the sponsor is recorded
    pdf = render_receipt(project_copy(found, sponsor))
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{number}-copy.pdf"',
            "Cache-Control": "private, no-store",
        },
    )


@bp.get("/statement")
@treasurer_page
def statement(staff: Staff, project: Project) -> ResponseReturnValue:
    """The project's statement for a period, as PDF or CSV; bad dates go back to the form."""
    errors: dict[str, str] = {}
    first = _date_arg("from", errors)
    last = _date_arg("to", errors)
    kind = request.args.get("format", "pdf")
    if kind not in FORMATS:
        errors["format"] = "Choose PDF or CSV."
    if first and last and first > last:
        errors["to"] = "The period must end on or after the day it starts."
    rt = runtime()
    opened = years.first_open_day(rt.ledger)
    if first and opened and first < opened:
        errors["from"] = (
            f"The books before {opened.day} {opened:%B %Y} are closed: the sponsor's staff "
            "prepare statements for periods starting earlier."
        )
    if errors or first is None or last is None:
        return _dashboard(project, errors, 400)
    try:
        rt.books.current()
        report = statements.project_statement(rt.books.index, project, first, last)
    except BooksLoading:
        return _loading(project)
    name = f"{project.slug}-statement-{first.isoformat()}-{last.isoformat()}.{kind}"
    if kind == "csv":
        text = io.StringIO()
        statements.write_csv(report, text)
        body: bytes = text.getvalue().encode("utf-8")
    else:
        sponsor = sponsor_of(db())
        pdf = io.BytesIO()
        statements.write_pdf(report, sponsor, pdf, prepared_on=clock.today(rt.settings.timezone))
        body = pdf.getvalue()
    return Response(
        body,
        mimetype=FORMATS[kind],
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "private, no-store",
        },
    )


def _date_arg(name: str, errors: dict[str, str]) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        errors[name] = "Give a date (YYYY-MM-DD)."
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = f"{text[:20]!r} is not a date: use YYYY-MM-DD."
        return None


def _period_defaults(today: date) -> dict[str, str]:
    """The form's period, as typed (after an error) or this year so far."""
    return {
        "from": request.args.get("from", date(today.year, 1, 1).isoformat()),
        "to": request.args.get("to", today.isoformat()),
        "format": request.args.get("format", "pdf"),
    }
