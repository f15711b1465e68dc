"""The sponsor staff's side of spending requests: what waits for them, and deciding it.

``/admin/spending`` lists the requests a project has endorsed (and treasurers' own, which
no one at the project can approve); admins and bookkeepers approve, which books the
payable, or reject with a reason. Auditors read. The rules are in
conservancy.expenses.requests.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from conservancy.background.jobs import Job
from conservancy.expenses import requests as spending
from conservancy.expenses.models import RequestStatus, SpendingRequest
from conservancy.projects.service import get_sponsor
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.downloads import send_upload
from conservancy.web.staff.admin import SECTIONS, Section
from conservancy.web.treasurer.spending_forms import DecisionForm

bp = Blueprint("staff_spending", __name__, url_prefix="/admin/spending")
bp.after_request(never_cached)

SECTIONS.append(
    Section(
        "Spending requests",
        "staff_spending.index",
        Area.SPENDING,
        "Projects' requests to be paid: approve them into the books, or reject them.",
    )
)
RECENT = 50


def _page(template: str, **context: Any) -> str:
    return render_template(template, sponsor=get_sponsor(db()), staff=current_user(), **context)


@bp.get("/")
@require_area(Area.SPENDING)
def index(staff: Staff) -> ResponseReturnValue:
    session = db()
    recent = session.scalars(
        select(SpendingRequest)
        .where(SpendingRequest.status.in_([RequestStatus.APPROVED, RequestStatus.REJECTED]))
        .options(selectinload(SpendingRequest.project))
        .order_by(SpendingRequest.decided_at.desc(), SpendingRequest.id.desc())
        .limit(RECENT)
    ).all()
    return _page(
        "staff/admin/spending.html", waiting=spending.awaiting_sponsor(session), recent=recent
    )


@bp.get("/<int:request_id>")
@require_area(Area.SPENDING)
def request_page(staff: Staff, request_id: int) -> ResponseReturnValue:
    return _request_page(staff, _request(request_id), DecisionForm(formdata=None), None)


def _request_page(
    staff: Staff, found: SpendingRequest, form: DecisionForm, refusal: str | None
) -> str:
    session = db()
    waiting = spending.sponsor_may_decide(found, spending.treasurer_ids(session, found.project_id))
    return _page(
        "staff/admin/spending_request.html",
        found=found,
        form=form,
        refusal=refusal,
        decides=waiting and can_change(staff, Area.SPENDING) and found.requester_id != staff.id,
        waiting=waiting,
        two_needed=found.first_approved_by is not None,
        receipt_endpoint="staff_spending.receipt",
        receipt_args={"request_id": found.id},
    )


@bp.post("/<int:request_id>/decision")
@require_area(Area.SPENDING, change=True)
def decide(staff: Staff, request_id: int) -> ResponseReturnValue:
    found = _request(request_id)
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
        if not form.errors:
            form.decision.errors = ["Choose approve or reject."]
        return _request_page(staff, found, form, None), 400
    session, rt = db(), runtime()
    try:
        if form.decision.data == "approve":
            spending.approve(
                session,
                staff,
                found,
                policy=rt.settings.spending,
                books=rt.books,
                tz=rt.settings.timezone,
            )
        else:
            spending.reject(session, staff, found, comment=form.comment.data or "")
    except spending.NotYours as refused:
        session.rollback()
        return _request_page(staff, found, form, str(refused)), 403
    except spending.RequestRefused as refused:
        session.rollback()
        general = [p.message for p in refused.problems if p.field != "comment"]
        form.comment.errors = [p.message for p in refused.problems if p.field == "comment"]
        return _request_page(staff, found, form, " ".join(general) or None), 400
    session.commit()
    if found.status is RequestStatus.APPROVED:
        rt.jobs.enqueue(Job.POST_LEDGER)
        flash(f"{found.number} is approved and booked as payable: {found.total.format()}.")
    elif found.status is RequestStatus.REJECTED:
        flash(f"{found.number} is rejected; the requester hears why.")
    else:
        flash(f"{found.number} has one approval of the two its size needs.")
    rt.jobs.enqueue(Job.DELIVER)
    return redirect(url_for(".request_page", request_id=found.id), code=303)


@bp.get("/<int:request_id>/receipts/<int:position>")
@require_area(Area.SPENDING)
def receipt(staff: Staff, request_id: int, position: int) -> ResponseReturnValue:
    found = _request(request_id)
    line = next((ln for ln in found.lines if ln.position == position), None)
    if line is None or line.receipt_path is None or line.receipt_type is None:
        abort(404)
    path = runtime().settings.receipts_dir / line.receipt_path
    return send_upload(path, line.receipt_type, f"{found.number}-line-{position}{path.suffix}")


def _request(request_id: int) -> SpendingRequest:
    found = db().get(SpendingRequest, request_id)
    if found is None:
        abort(404)
    return found
