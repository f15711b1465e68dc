"""The sponsor's public pages and the health check."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template
from flask.typing import ResponseReturnValue
from sqlalchemy import text
from werkzeug.exceptions import NotFound

from conservancy.donations.service import find_active_project
from conservancy.kernel import clock
from conservancy.ledger.books import BooksLoading
from conservancy.projects.models import Project
from conservancy.projects.public import public_figures
from conservancy.projects.service import active_projects, get_sponsor
from conservancy.web.branding import brand
from conservancy.web.context import db, runtime

bp = Blueprint("public", __name__)


@bp.get("/")
def index() -> str:
    session = db()
    return render_template(
        "public/index.html",
        sponsor=get_sponsor(session),
        projects=active_projects(session),
        has_donate="donate.form" in current_app.view_functions,
    )


@bp.get("/ways-to-give")
def ways_to_give() -> str:
    return ways_to_give_page(None, brand={})


def ways_to_give_page(project: Project | None, brand: dict[str, str | None]) -> str:
    """How to give other than by card: the sponsor's, or a project's (named in each memo).

    Bank and brokerage details come from settings; unset, the page says to ask.
    """
    sponsor = get_sponsor(db())
    if sponsor is None:
        raise NotFound("There is no sponsor to give to yet.")
    settings = runtime().settings
    return render_template(
        "public/ways_to_give.html",
        sponsor=sponsor,
        project=project,
        brand=brand,
        wire=settings.wire,
        stock=settings.stock,
        has_donate="donate.form" in current_app.view_functions,
    )


@bp.get("/projects/<slug>")
def project(slug: str) -> ResponseReturnValue:
    """A project's public page: what it receives and spends, and who gives, as each allowed
    (conservancy.projects.public). Figures come from the books' snapshot."""
    session = db()
    found = find_active_project(session, slug)
    rt = runtime()
    today = clock.today(rt.settings.timezone)
    try:
        figures = public_figures(session, rt.books.current(), found, today, rt.books.closed.saved())
    except BooksLoading:
        page = render_template(
            "errors/error.html",
            code=503,
            message="The books are being loaded after a change; please reload this page soon.",
        )
        return page, 503, {"Retry-After": "30"}
    return render_template(
        "public/project.html",
        sponsor=get_sponsor(session),
        project=found,
        brand=brand(found),
        figures=figures,
        today=today,
    )


@bp.get("/healthz")
def healthz() -> tuple[dict[str, object], int]:
    problems = []
    try:
        db().execute(text("SELECT 1"))
    except Exception:
        problems.append("database unreachable")
    files = runtime().ledger
    if not files.exists():
        problems.append("ledger directory has no books")
    elif not _writable(files.root):
        problems.append("ledger directory not writable")
    status = 503 if problems else 200
    return {"status": "ok" if not problems else "unavailable", "problems": problems}, status


def _writable(path: object) -> bool:
    import os

    return os.access(str(path), os.W_OK)
