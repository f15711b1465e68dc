"""Public figures for a project's own website (SPEC section 5), and its donate button.

``GET /api/v1/projects/<slug>/summary`` answers JSON that any site may fetch
(CORS open, cached for a minute): what the project raised this year, as the
books say; what it receives a week from its patrons and how many they are,
with the names of those who gave them to the public; and its campaign's
progress. Nothing in it names a donor who did not allow it.

``GET /api/v1/projects/<slug>/button.svg`` is a donate button showing the
weekly figure, for a project's README or site: an image inside a link, so it
needs no script (see :func:`conservancy.web.branding.embed_snippet`).
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, url_for
from flask.typing import ResponseReturnValue

from conservancy.donations.service import campaign_raised, current_campaign
from conservancy.kernel import clock
from conservancy.kernel.errors import NotFound
from conservancy.ledger.books import BooksLoading
from conservancy.money import Currency, Money
from conservancy.projects.giving import receiving
from conservancy.projects.models import Project
from conservancy.projects.public import public_figures
from conservancy.web.branding import brand
from conservancy.web.context import db, runtime

bp = Blueprint("api", __name__, url_prefix="/api/v1")

SUMMARY_MAX_AGE = 60
BUTTON_MAX_AGE = 300
DEFAULT_PRIMARY, DEFAULT_ACCENT = "#2b5b84", "#f2b632"


def _project(slug: str) -> Project:
    from conservancy.donations.service import find_active_project

    return find_active_project(db(), slug)


def _public(response: Response, max_age: int) -> Response:
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    return response


def _error(message: str, status: int, **headers: str) -> ResponseReturnValue:
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return _public(response, 0)


@bp.get("/projects/<slug>/summary")
def summary(slug: str) -> ResponseReturnValue:
    try:
        project = _project(slug)
    except NotFound as exc:
        return _error(str(exc), 404)
    settings = runtime().settings
    today = clock.today(settings.timezone)
    session = db()
    books = runtime().books
    try:
        figures = public_figures(session, books.current(), project, today, books.closed.saved())
    except BooksLoading:
        return _error(
            "The books are being loaded; try again in a minute.", 503, **{"Retry-After": "60"}
        )
    giving = figures.receiving
    body: dict[str, Any] = {
        "project": {
            "slug": project.slug,
            "name": project.name,
            "donate_url": settings.base_url + url_for("donate.form", slug=project.slug),
            "page_url": settings.base_url + url_for("public.project", slug=project.slug),
        },
        "currency": project.currency,
        "year": today.year,
        "raised_this_year": str(figures.raised_this_year.amount),
        "balance": str(figures.balance.amount),
        "recurring_per_week": str(giving.per_week.amount),
        "patrons": giving.patrons,
        "named_patrons": list(giving.named),
        # What /projects/<slug> charts and lists, oldest month first.
        "months": [
            {"month": m.month, "income": str(m.income.amount), "expenses": str(m.expenses.amount)}
            for m in figures.chart.months
        ],
        "latest_gifts": [{"name": g.name, "on": g.on.isoformat()} for g in figures.latest],
        "expenses": None
        if figures.expenses is None
        else [
            {
                "on": e.on.isoformat(),
                "payee": e.payee,
                "category": e.category,
                "amount": str(e.amount.amount),
            }
            for e in figures.expenses
        ],
        "campaign": _campaign(project, today),
        "as_of": clock.now().isoformat(timespec="seconds"),
    }
    return _public(jsonify(body), SUMMARY_MAX_AGE)


def _campaign(project: Project, today: date) -> dict[str, Any] | None:
    session = db()
    campaign = current_campaign(session, project, today)
    if campaign is None:
        return None
    raised = campaign_raised(session, campaign)
    goal = Money.from_minor(campaign.goal_minor, Currency(campaign.currency))
    return {
        "name": campaign.name,
        "goal": str(goal.amount),
        "raised": str(raised.amount),
        "percent": min(100, raised.minor * 100 // goal.minor) if goal.minor > 0 else None,
        "starts_on": campaign.starts_on.isoformat(),
        "ends_on": campaign.ends_on.isoformat(),
    }


@bp.get("/projects/<slug>/button.svg")
def button(slug: str) -> ResponseReturnValue:
    project = _project(slug)  # 404 page for an unknown or inactive project
    giving = receiving(db(), project, names=False)
    label = f"{giving.per_week.format()}/week" if giving.per_week else None
    colours = brand(project)
    svg = render_template(
        "api/button.svg",
        name=project.name,
        primary=colours["primary"] or DEFAULT_PRIMARY,
        accent=colours["accent"] or DEFAULT_ACCENT,
        label=label,
    )
    response = Response(svg, mimetype="image/svg+xml")
    return _public(response, BUTTON_MAX_AGE)
