"""Files staff uploaded, served back: project logos to anyone, an expense's invoice to the
project's treasurers (sponsor staff have theirs under /admin/expenses).

A logo is served only under a name the upload could have made, from the logos
folder, with the type its bytes were checked to be, and ``nosniff``, so a browser
never takes it for anything else.
"""

from __future__ import annotations

from flask import Blueprint, abort, send_file
from flask.typing import ResponseReturnValue

from conservancy.expenses.models import Expense
from conservancy.projects.models import Project
from conservancy.projects.settings import logo_file
from conservancy.staff.permissions import Staff
from conservancy.web.auth import treasurer_page
from conservancy.web.context import db, runtime
from conservancy.web.staff.money import send_invoice

bp = Blueprint("files", __name__)


@bp.get("/media/logos/<name>")
def logo(name: str) -> ResponseReturnValue:
    found = logo_file(runtime().settings.uploads_dir, name)
    if found is None:
        abort(404)
    path, content_type = found
    answer = send_file(path, mimetype=content_type, max_age=365 * 24 * 3600)
    answer.headers["X-Content-Type-Options"] = "nosniff"
    answer.headers["Content-Security-Policy"] = "default-src 'none'"
    return answer


@bp.get("/treasurer/<slug>/expenses/<int:expense_id>/invoice")
@treasurer_page
def treasurer_invoice(staff: Staff, project: Project, expense_id: int) -> ResponseReturnValue:
    found = db().get(Expense, expense_id)
    if found is None or found.project_id != project.id:
        abort(404)
    return send_invoice(found)
