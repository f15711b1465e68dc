"""A project's spending requests, as its members and treasurers see them.

``/projects/<slug>/expenses``: a member files a request and follows their own; the
project's treasurers see every request of it and approve or reject, except their own
(conservancy.expenses.requests has the rules). To anyone else the pages do not exist (404).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from conservancy.background.jobs import Job
from conservancy.expenses import payees
from conservancy.expenses import requests as spending
from conservancy.expenses.models import RequestStatus, SpendingRequest
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.money import Currency
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.staff import service as staff_service
from conservancy.staff.models import TokenPurpose
from conservancy.staff.permissions import (
    Staff,
    can_file_requests,
    can_see_project,
    can_see_requests,
)
from conservancy.web.auth import require_roles
from conservancy.web.branding import brand
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.downloads import send_line_receipt
from conservancy.web.treasurer.spending_forms import (
    KINDS,
    METHODS,
    MOST_ROWS,
    TAX_CLASSES,
    DecisionForm,
    InviteForm,
    PaymentDetailsForm,
    RemoveForm,
    SpendingForm,
    show_problems,
)

bp = Blueprint("spending", __name__, url_prefix="/projects/<slug>/expenses")
bp.after_request(never_cached)

# Receipts of a request's lines, 10 MB each: the filing form may send this much.
REQUEST_LIMIT = 40 * 1024 * 1024


@bp.record_once
def _allow_receipts(state: BlueprintSetupState) -> None:
    # Before CSRFProtect reads the form (an app-wide hook registered earlier).
    state.app.before_request_funcs.setdefault(None, []).insert(0, _receipts_limit)


def _receipts_limit() -> None:
    if request.endpoint == "spending.file":
        request.max_content_length = REQUEST_LIMIT


def _project(staff: Staff, slug: str) -> Project:
    project = db().scalar(select(Project).where(Project.slug == slug))
    if project is None or not can_see_requests(staff, project):
        abort(404)
    return project


def _page(template: str, project: Project, *, staff: Staff, **context: Any) -> str:
    return render_template(
        template,
        sponsor=get_sponsor(db()),
        staff=staff,
        project=project,
        brand=brand(project),
        treasurer_view=can_see_project(staff, project),  # a member sees no fund pages
        **context,
    )


@bp.get("/")
@require_roles()
def index(staff: Staff, slug: str) -> ResponseReturnValue:
    project = _project(staff, slug)
    session = db()
    return _page(
        "treasurer/spending/index.html",
        project,
        staff=staff,
        requests=spending.requests_for(session, staff, project),
        committed=spending.committed(session, project),
        may_file=can_file_requests(staff, project),
    )


@bp.get("/new")
@require_roles()
def new(staff: Staff, slug: str) -> ResponseReturnValue:
    project = _project(staff, slug)
    if not can_file_requests(staff, project):
        abort(404)
    return _form_page(staff, project, SpendingForm(formdata=None), [])


@bp.post("/new", endpoint="file")
@require_roles()
def file_request(staff: Staff, slug: str) -> ResponseReturnValue:
    project = _project(staff, slug)
    if not can_file_requests(staff, project):
        abort(404)
    form = SpendingForm()
    if "add_line" in request.form:
        if len(form.lines) < MOST_ROWS:
            form.lines.append_entry()
        # Files are not sent back to a browser: the page asks for them again.
        return _form_page(staff, project, form, [], added=True)
    valid = form.validate_on_submit()
    asked = form.asked(Currency(project.currency))  # marks the amounts and days it cannot read
    if not valid or asked is None:
        return _form_page(staff, project, form, []), 400
    session, rt = db(), runtime()
    try:
        made = spending.file_request(
            session,
            staff,
            project,
            asked,
            policy=rt.settings.spending,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
    except spending.RequestRefused as refused:
        session.rollback()
        return _form_page(staff, project, form, form.show(refused.problems)), 400
    session.commit()
    runtime().jobs.enqueue(Job.DELIVER)  # the requester's mail
    flash(f"{made.number} is filed. {project.name}'s treasurer decides it next.")
    return redirect(url_for(".request_page", slug=project.slug, request_id=made.id), code=303)


def _form_page(
    staff: Staff, project: Project, form: SpendingForm, general: list[str], added: bool = False
) -> str:
    return _page(
        "treasurer/spending/new.html",
        project,
        staff=staff,
        form=form,
        general=general,
        added=added,
        policy=runtime().settings.spending,
        most_rows=MOST_ROWS,
        kinds=KINDS,
    )


@bp.get("/<int:request_id>")
@require_roles()
def request_page(staff: Staff, slug: str, request_id: int) -> ResponseReturnValue:
    project = _project(staff, slug)
    found = _request(staff, project, request_id)
    return _request_page(staff, project, found, DecisionForm(formdata=None), None)


def _request_page(
    staff: Staff,
    project: Project,
    found: SpendingRequest,
    form: DecisionForm,
    refusal: str | None,
) -> str:
    decides = (
        found.status is RequestStatus.FILED
        and project.id in staff.treasurer_of
        and found.requester_id != staff.id
    )
    return _page(
        "treasurer/spending/request.html",
        project,
        staff=staff,
        found=found,
        form=form,
        decides=decides,
        refusal=refusal,
        receipt_endpoint="spending.receipt",
        receipt_args={"slug": project.slug, "request_id": found.id},
    )


@bp.post("/<int:request_id>/decision")
@require_roles()
def decide(staff: Staff, slug: str, request_id: int) -> ResponseReturnValue:
    project = _project(staff, slug)
    if project.id not in staff.treasurer_of:
        abort(404)  # the project's treasurers decide for it; the sponsor's staff at /admin
    found = _request(staff, project, request_id)
    form = DecisionForm()
    if not form.validate_on_submit() or form.decision.data not in ("approve", "reject"):
        if not form.errors:
            form.decision.errors = ["Choose approve or reject."]
        return _request_page(staff, project, found, form, None), 400
    session = db()
    try:
        spending.endorse(
            session,
            staff,
            found,
            approve=form.decision.data == "approve",
            comment=form.comment.data or "",
        )
    except spending.NotYours as refused:
        session.rollback()
        return _request_page(staff, project, found, form, str(refused)), 403
    except spending.RequestRefused as refused:
        session.rollback()
        refusal = show_problems(form, refused.problems, ("comment",))
        return _request_page(staff, project, found, form, refusal), 400
    session.commit()
    runtime().jobs.enqueue(Job.DELIVER)
    flash(f"{found.number} is {found.status.value}. The requester hears of it by e-mail.")
    return redirect(url_for(".request_page", slug=project.slug, request_id=found.id), code=303)


@bp.get("/<int:request_id>/receipts/<int:position>")
@require_roles()
def receipt(staff: Staff, slug: str, request_id: int, position: int) -> ResponseReturnValue:
    project = _project(staff, slug)
    found = _request(staff, project, request_id)
    return send_line_receipt(runtime().settings.receipts_dir, found, position)


def _request(staff: Staff, project: Project, request_id: int) -> SpendingRequest:
    try:
        return spending.get_request(db(), staff, project, request_id)
    except NotFound:
        abort(404)


# -- the requester's payment details and W-9 -----------------------------------------------

details_bp = Blueprint("payee", __name__, url_prefix="/account/payment-details")
details_bp.after_request(never_cached)


@details_bp.get("")
@require_roles()
def payment_details(staff: Staff) -> ResponseReturnValue:
    if not (staff.member_of or staff.treasurer_of):
        abort(404)  # only those who ask to be paid have payment details
    return _details_page(staff, PaymentDetailsForm(formdata=None), saved=True)


@details_bp.post("")
@require_roles()
def save_payment_details(staff: Staff) -> ResponseReturnValue:
    if not (staff.member_of or staff.treasurer_of):
        abort(404)
    form = PaymentDetailsForm()
    if not form.validate_on_submit():
        return _details_page(staff, form), 400
    session, rt = db(), runtime()
    try:
        payees.save_details(
            session,
            staff,
            form.asked(),
            keys=payees.PayeeKeys.of(rt.settings),
            today=clock.today(rt.settings.timezone),
        )
    except spending.RequestRefused as refused:
        session.rollback()
        show_problems(form, refused.problems, tuple(form._fields))  # each has its field
        return _details_page(staff, form), 400
    session.commit()
    flash("Your payment details and W-9 are saved.")
    return redirect(url_for(".payment_details"), code=303)


def _details_page(staff: Staff, form: PaymentDetailsForm, saved: bool = False) -> str:
    found = payees.details_of(db(), staff.id)
    if saved and found is not None:  # the form shows what is on file, never the numbers
        form.legal_name.data, form.tax_class.data = found.legal_name, found.tax_class.value
        form.tin_kind.data, form.address.data = found.tin_kind, found.address
        form.method.data, form.routing_number.data = found.method.value, found.routing_number
        form.account_type.data = found.account_type or "checking"
    return render_template(
        "treasurer/spending/payment_details.html",
        sponsor=get_sponsor(db()),
        staff=staff,
        form=form,
        found=found,
        masked_tin=payees.masked_tin(found) if found is not None else None,
        tax_classes=TAX_CLASSES,
        methods=METHODS,
    )


# -- the project's members: invited by its treasurer --------------------------------------


@bp.get("/members")
@require_roles()
def members(staff: Staff, slug: str) -> ResponseReturnValue:
    project = _project(staff, slug)
    if project.id not in staff.treasurer_of:
        abort(404)  # the project's treasurers invite; the sponsor's staff use the users page
    return _members_page(staff, project, InviteForm(formdata=None))


@bp.post("/members")
@require_roles()
def invite(staff: Staff, slug: str) -> ResponseReturnValue:
    project = _project(staff, slug)
    if project.id not in staff.treasurer_of:
        abort(404)
    form = InviteForm()
    if not form.validate_on_submit():
        return _members_page(staff, project, form), 400
    session, rt = db(), runtime()
    try:
        added = staff_service.invite_member(
            session, staff, project, email=form.email.data or "", name=form.name.data or None
        )
    except DomainError as refused:
        session.rollback()
        form.email.errors = [str(refused)]
        return _members_page(staff, project, form), 400
    user = added.user
    if user.password_hash is None:
        # The link goes by mail only, to the address invited: never shown on this page.
        link = staff_service.issue_link(
            session,
            staff,
            user,
            TokenPurpose.INVITE,
            base_url=rt.settings.base_url,
            now=clock.now(),
        )
        sponsor = get_sponsor(session)
        staff_service.mail_invitation(
            session, user, link, sponsor=sponsor.legal_name if sponsor else "our fiscal sponsor"
        )
    session.commit()
    rt.jobs.enqueue(Job.DELIVER)
    said = (
        f"{user.email} may now file {project.name}'s spending requests"
        if added.role_added
        else f"{user.email} was a member already"
    )
    mailed = "; a sign-in link is on its way to them" if user.password_hash is None else ""
    flash(f"{said}{mailed}.")
    return redirect(url_for(".members", slug=project.slug), code=303)


@bp.post("/members/<int:user_id>/remove")
@require_roles()
def remove_member(staff: Staff, slug: str, user_id: int) -> ResponseReturnValue:
    project = _project(staff, slug)
    if project.id not in staff.treasurer_of:
        abort(404)
    if not RemoveForm().validate_on_submit():
        abort(400, "This form has expired. Please go back, reload the page and try again.")
    session = db()
    try:
        user = staff_service.remove_member(session, staff, project, user_id)
    except NotFound:
        abort(404)
    session.commit()
    flash(f"{user.email} is no longer a member of {project.name}; their requests stay.")
    return redirect(url_for(".members", slug=project.slug), code=303)


def _members_page(staff: Staff, project: Project, form: InviteForm) -> str:
    return _page(
        "treasurer/spending/members.html",
        project,
        staff=staff,
        form=form,
        members=staff_service.members_of(db(), project),
    )
