"""The sponsor staff's side of spending requests: what waits for them, and deciding it.

``/admin/spending`` lists the requests a project has endorsed (and treasurers' own, which
no one at the project can approve); admins and bookkeepers approve, which books the
payable, or reject with a reason. Auditors read. The rules are in
conservancy.expenses.requests.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from conservancy.background.jobs import Job
from conservancy.expenses import payees, payments
from conservancy.expenses import requests as spending
from conservancy.expenses.models import PaymentRun, PayMethod, RequestStatus, SpendingRequest
from conservancy.expenses.nacha import AchRefused
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.service import get_sponsor
from conservancy.staff import audit
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.downloads import send_line_receipt
from conservancy.web.staff.admin import SECTIONS, Section
from conservancy.web.treasurer.spending_forms import (
    DecisionForm,
    PaidForm,
    PaymentRunForm,
    show_problems,
)

bp = Blueprint("staff_spending", __name__, url_prefix="/admin/spending")
bp.after_request(never_cached)

SECTIONS.append(
    Section(
        "Spending requests",
        "staff_spending.index",
        Area.SPENDING,
        "Projects' requests to be paid: approve them into the books or reject them; pay "
        "them in runs by ACH, cheque or wire.",
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
        refusal = show_problems(form, refused.problems, ("comment",))
        return _request_page(staff, found, form, refusal), 400
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
    return send_line_receipt(runtime().settings.receipts_dir, _request(request_id), position)


def _request(request_id: int) -> SpendingRequest:
    found = db().get(SpendingRequest, request_id)
    if found is None:
        abort(404)
    return found


# -- paying: runs ------------------------------------------------------------------------


@bp.get("/payments")
@require_area(Area.SPENDING)
def payments_page(staff: Staff) -> ResponseReturnValue:
    return _payments_page(staff, PaymentRunForm(formdata=None), None)


def _payments_page(staff: Staff, form: PaymentRunForm, refusal: str | None) -> str:
    session = db()
    waiting = payments.due(session)
    methods = {
        r.id: (d.method.value if (d := payees.details_of(session, r.requester_id)) else None)
        for r in waiting
    }
    runs = session.scalars(select(PaymentRun).order_by(PaymentRun.id.desc()).limit(RECENT)).all()
    return _page(
        "staff/admin/spending_payments.html",
        waiting=waiting,
        methods=methods,
        runs=runs,
        form=form,
        refusal=refusal,
        may_change=can_change(staff, Area.SPENDING),
    )


@bp.post("/payments")
@require_area(Area.SPENDING, change=True)
def prepare(staff: Staff) -> ResponseReturnValue:
    form = PaymentRunForm()
    if not form.validate_on_submit():
        return _payments_page(staff, form, None), 400
    if form.method.data not in {m.value for m in PayMethod}:
        form.method.errors = ["Choose how this run pays: ACH, cheque or wire."]
        return _payments_page(staff, form, None), 400
    ids = [int(v) for v in request.form.getlist("request") if v.isdigit()]
    session = db()
    try:
        run = payments.prepare_run(session, staff, PayMethod(form.method.data), ids)
    except spending.RequestRefused as refused:
        session.rollback()
        return _payments_page(staff, form, show_problems(form, refused.problems, ())), 400
    session.commit()
    flash(f"{run.number} is prepared: pay it at the bank, then mark it paid here.")
    return redirect(url_for(".run_page", run_id=run.id), code=303)


@bp.get("/runs/<int:run_id>")
@require_area(Area.SPENDING)
def run_page(staff: Staff, run_id: int) -> ResponseReturnValue:
    return _run_page(staff, _run(run_id), PaidForm(formdata=None), None)


def _run_page(staff: Staff, run: PaymentRun, form: PaidForm, refusal: str | None) -> str:
    rt = runtime()
    if form.paid_on.data is None:
        form.paid_on.data = clock.today(rt.settings.timezone).isoformat()
    return _page(
        "staff/admin/spending_run.html",
        run=run,
        form=form,
        refusal=refusal,
        may_change=can_change(staff, Area.SPENDING),
        total=Money.from_minor(sum(r.total_minor for r in run.requests), Currency.USD),
        bank_set=rt.settings.wire is not None,
    )


@bp.post("/runs/<int:run_id>/paid")
@require_area(Area.SPENDING, change=True)
def mark_paid(staff: Staff, run_id: int) -> ResponseReturnValue:
    run = _run(run_id)
    form = PaidForm()
    if not form.validate_on_submit():
        return _run_page(staff, run, form, None), 400
    try:
        paid_on = date.fromisoformat(form.paid_on.data or "")
    except ValueError:
        form.paid_on.errors = ["Give the day as on a calendar: 2026-03-05."]
        return _run_page(staff, run, form, None), 400
    first = form.first_cheque.data or ""
    if first and not first.isdigit():
        form.first_cheque.errors = ["A cheque's number is digits only."]
        return _run_page(staff, run, form, None), 400
    session, rt = db(), runtime()
    try:
        payments.mark_paid(
            session,
            staff,
            run,
            paid_on=paid_on,
            tz=rt.settings.timezone,
            first_cheque=int(first) if first else None,
        )
    except spending.RequestRefused as refused:
        session.rollback()
        refusal = show_problems(form, refused.problems, ("paid_on", "first_cheque"))
        return _run_page(staff, _run(run_id), form, refusal), 400
    session.commit()
    rt.jobs.enqueue(Job.POST_LEDGER)
    rt.jobs.enqueue(Job.DELIVER)
    flash(f"{run.number} is paid and booked: each request once, against the bank.")
    return redirect(url_for(".run_page", run_id=run.id), code=303)


@bp.get("/runs/<int:run_id>/ach.txt")
@require_area(Area.SPENDING, change=True)  # the file holds whole account numbers
def ach(staff: Staff, run_id: int) -> ResponseReturnValue:
    run = _run(run_id)
    if run.method is not PayMethod.ACH:
        abort(404)
    session, rt = db(), runtime()
    try:
        text = payments.ach_file(
            session,
            run,
            keys=payees.PayeeKeys.of(rt.settings),
            bank=rt.settings.wire,
            created_at=clock.now().astimezone(rt.settings.timezone),
            effective_on=clock.today(rt.settings.timezone),
        )
    except (spending.RequestRefused, AchRefused) as refused:
        flash(str(refused))
        return redirect(url_for(".run_page", run_id=run.id), code=303)
    audit.record(session, staff, "payment-run.ach-file", ("payment_run", run.id))
    session.commit()
    return _download(text, "text/plain", f"{run.number}-ach.txt")


@bp.get("/runs/<int:run_id>/wires.txt")
@require_area(Area.SPENDING, change=True)  # whole account numbers, as for the ACH file
def wires(staff: Staff, run_id: int) -> ResponseReturnValue:
    run = _run(run_id)
    if run.method is not PayMethod.WIRE:
        abort(404)
    session, rt = db(), runtime()
    text = payments.wire_instructions(session, run, keys=payees.PayeeKeys.of(rt.settings))
    audit.record(session, staff, "payment-run.wire-instructions", ("payment_run", run.id))
    session.commit()
    return _download(text, "text/plain", f"{run.number}-wires.txt")


@bp.get("/runs/<int:run_id>/register.csv")
@require_area(Area.SPENDING)
def register(staff: Staff, run_id: int) -> ResponseReturnValue:
    run = _run(run_id)
    return _download(payments.register_csv(db(), run), "text/csv", f"{run.number}.csv")


def _download(text: str, mimetype: str, name: str) -> ResponseReturnValue:
    return Response(
        text,
        mimetype=mimetype,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _run(run_id: int) -> PaymentRun:
    found = db().get(PaymentRun, run_id)
    if found is None:
        abort(404)
    return found
