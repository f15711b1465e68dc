"""The staff's corporate sponsorship pages: levels per project, companies' requests to
approve (which issues the invoice) or decline, invoices, cheque and ACH payments, voiding
an open invoice, refunding a card-paid one, stopping a sponsorship's yearly renewal, and
the aging report of open invoices.

Admins and bookkeepers change; auditors read (a POST from them answers 403);
treasurers get 404 (conservancy.web.auth). Each change goes through one service,
which writes the audit log; after each commit that booked something the books
are posted and the courier kicked (the acknowledgement PDF and its e-mail).
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from conservancy.background.jobs import Job
from conservancy.kernel import clock
from conservancy.kernel.errors import NotFound
from conservancy.kernel.submissions import AlreadySubmitted, BadFormKey
from conservancy.money import Currency
from conservancy.payments.gateway import GatewayError
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.sponsorships.aging import BUCKETS, aging
from conservancy.sponsorships.models import (
    SponsorshipInvoice,
    SponsorshipLevel,
    SponsorshipRequest,
    SponsorshipStatusChange,
)
from conservancy.sponsorships.payments import refund_invoice
from conservancy.sponsorships.renewals import stop_renewal
from conservancy.sponsorships.service import (
    SponsorshipRefused,
    add_level,
    approve_request,
    decline_request,
    find_invoice,
    find_request,
    pay_url,
    pending_requests,
    record_bank_payment,
    void_invoice,
)
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.forms import sent_before
from conservancy.web.staff.admin import SECTIONS, Section
from conservancy.web.staff.sponsorship_forms import (
    PAYMENT_METHODS,
    ApproveForm,
    DeclineForm,
    InvoiceRefundForm,
    LevelForm,
    PaymentForm,
    StopRenewalForm,
    VoidForm,
)

bp = Blueprint("admin_sponsorships", __name__, url_prefix="/admin/sponsorships")
log = logging.getLogger(__name__)

SECTIONS.append(
    Section(
        "Corporate sponsorships",
        "admin_sponsorships.index",
        Area.GIFTS,
        "Sponsorship levels, requests to approve, invoices, cheque and ACH payments, "
        "the aging report.",
    )
)


bp.after_request(never_cached)


@bp.get("")
@require_area(Area.GIFTS)
def index(staff: Staff) -> ResponseReturnValue:
    return _index(staff, _level_form(formdata=None))


@bp.post("/levels")
@require_area(Area.PROJECTS, change=True)
def add(staff: Staff) -> ResponseReturnValue:
    session = db()
    form = _level_form()
    if not form.validate_on_submit():
        return _index(staff, form), 400
    assert form.money is not None
    project = session.scalars(select(Project).where(Project.slug == form.project.data)).one()
    try:
        level = add_level(
            session,
            staff,
            project,
            name=form.name.data,
            annual=form.money,
            benefits=form.benefit_values,
        )
    except SponsorshipRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _index(staff, form), 400
    session.commit()
    flash(f"{project.name} now offers the {level.name} level at {level.annual.format()} a year.")
    return redirect(url_for(".index"), code=303)


@bp.get("/requests/<int:request_id>")
@require_area(Area.GIFTS)
def request_page(staff: Staff, request_id: int) -> ResponseReturnValue:
    return _request_page(staff, _request(request_id))


@bp.post("/requests/<int:request_id>/approve")
@require_area(Area.GIFTS, change=True)
def approve(staff: Staff, request_id: int) -> ResponseReturnValue:
    session = db()
    found = _request(request_id)
    form = ApproveForm()
    if not form.validate_on_submit():
        return _request_page(staff, found, approve_form=form), 400
    try:
        issued = approve_request(
            session,
            staff,
            request_id,
            key=form.once.data,
            tz=runtime().settings.timezone,
            base_url=runtime().settings.base_url,
            period_start=form.day,
        )
    except AlreadySubmitted:
        return sent_before(session, url_for(".request_page", request_id=request_id))
    except (SponsorshipRefused, BadFormKey) as exc:
        session.rollback()
        field = getattr(exc, "field", None)
        form.refuse(field, str(exc))
        return _request_page(staff, _request(request_id), approve_form=form), (
            400 if field else 409
        )
    session.commit()
    _after_commit()
    flash(f"Invoice {issued.number} is issued, booked and on its way to the sponsor.")
    return redirect(url_for(".invoice", number=issued.number), code=303)


@bp.post("/requests/<int:request_id>/decline")
@require_area(Area.GIFTS, change=True)
def decline(staff: Staff, request_id: int) -> ResponseReturnValue:
    session = db()
    found = _request(request_id)
    form = DeclineForm()
    if not form.validate_on_submit():
        return _request_page(staff, found, decline_form=form), 400
    try:
        decline_request(session, staff, request_id, reason=form.reason.data, key=form.once.data)
    except AlreadySubmitted:
        return sent_before(session, url_for(".request_page", request_id=request_id))
    except (SponsorshipRefused, BadFormKey) as exc:
        session.rollback()
        form.refuse(getattr(exc, "field", None), str(exc))
        return _request_page(staff, _request(request_id), decline_form=form), 400
    session.commit()
    runtime().jobs.enqueue(Job.DELIVER)
    flash("The request is declined; nothing was booked, and the company is told.")
    return redirect(url_for(".request_page", request_id=request_id), code=303)


@bp.get("/invoices/<number>")
@require_area(Area.GIFTS)
def invoice(staff: Staff, number: str) -> ResponseReturnValue:
    return _invoice_page(staff, _invoice(number), _payment_form(formdata=None))


@bp.post("/invoices/<number>/payment")
@require_area(Area.GIFTS, change=True)
def payment(staff: Staff, number: str) -> ResponseReturnValue:
    session = db()
    found = _invoice(number)
    form = _payment_form()
    if not form.validate_on_submit():
        return _invoice_page(staff, found, form), 400
    assert form.paid_by is not None
    assert form.day is not None
    try:
        record_bank_payment(
            session,
            staff,
            found,
            paid_by=form.paid_by,
            received_on=form.day,
            reference=form.reference.data or "",
        )
    except SponsorshipRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _invoice_page(staff, found, form), 400
    session.commit()
    _after_commit()
    flash(f"Invoice {number} is paid; the acknowledgement is on its way to the sponsor.")
    return redirect(url_for(".invoice", number=number), code=303)


@bp.post("/invoices/<number>/void")
@require_area(Area.GIFTS, change=True)
def void(staff: Staff, number: str) -> ResponseReturnValue:
    session = db()
    found = _invoice(number)
    form = VoidForm()
    if not form.validate_on_submit():
        return _invoice_page(staff, found, _payment_form(formdata=None), void_form=form), 400
    try:
        void_invoice(session, staff, found, reason=form.reason.data or "", on=_today())
    except SponsorshipRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _invoice_page(staff, found, _payment_form(formdata=None), void_form=form), 400
    session.commit()
    _after_commit()
    flash(f"Invoice {number} is void; its books are reversed. Its number is not reused.")
    return redirect(url_for(".invoice", number=number), code=303)


@bp.post("/invoices/<number>/refund")
@require_area(Area.GIFTS, change=True)
def refund(staff: Staff, number: str) -> ResponseReturnValue:
    session = db()
    found = _invoice(number)
    form = InvoiceRefundForm(currency=Currency(found.currency))
    if not form.validate_on_submit():
        return _invoice_page(staff, found, _payment_form(formdata=None), refund_form=form), 400
    assert form.money is not None
    rt = runtime()
    try:
        refund_invoice(
            session,
            rt.gateway,
            staff,
            found,
            form.money,
            reason=form.reason.data or "",
            key=form.once.data,
            tz=rt.settings.timezone,
        )
    except AlreadySubmitted:
        return sent_before(session, url_for(".invoice", number=number))
    except (SponsorshipRefused, BadFormKey) as exc:
        session.rollback()
        form.refuse(getattr(exc, "field", None), str(exc))
        return _invoice_page(staff, found, _payment_form(formdata=None), refund_form=form), 400
    except GatewayError as exc:
        log.warning("the refund of invoice %s failed at Stripe: %s", number, exc)
        session.rollback()
        form.refuse(None, exc.for_staff("nothing was refunded"))
        return _invoice_page(
            staff, found, _payment_form(formdata=None), refund_form=form
        ), exc.http_status
    session.commit()
    _after_commit()
    flash(f"{form.money.format()} of invoice {number} is refunded to the card.")
    return redirect(url_for(".invoice", number=number), code=303)


@bp.post("/invoices/<number>/stop-renewal")
@require_area(Area.GIFTS, change=True)
def stop_renewing(staff: Staff, number: str) -> ResponseReturnValue:
    session = db()
    found = _invoice(number)
    form = StopRenewalForm()
    if not form.validate_on_submit():
        return _invoice_page(staff, found, _payment_form(formdata=None), stop_form=form), 400
    try:
        stop_renewal(session, staff, number)
    except SponsorshipRefused as exc:
        session.rollback()
        form.refuse(None, str(exc))
        return _invoice_page(
            staff, _invoice(number), _payment_form(formdata=None), stop_form=form
        ), 409
    session.commit()
    flash(f"The sponsorship of invoice {number} will not be renewed.")
    return redirect(url_for(".invoice", number=number), code=303)


@bp.get("/invoices/<number>/<any(invoice, acknowledgement):kind>.pdf")
@require_area(Area.GIFTS)
def pdf(staff: Staff, number: str, kind: str) -> ResponseReturnValue:
    found = _invoice(number)
    stored = found.pdf_path if kind == "invoice" else found.acknowledgement_pdf_path
    if stored is None:
        runtime().jobs.enqueue(Job.DELIVER)
        abort(404, "This document is not drawn yet (or not due). Reload the page in a moment.")
    path = runtime().settings.receipts_dir / stored
    if not path.is_file():
        abort(404)
    name = f"{number}.pdf" if kind == "invoice" else f"{number}-acknowledgement.pdf"
    return send_file(path, mimetype="application/pdf", as_attachment=True, download_name=name)


@bp.get("/aging")
@require_area(Area.GIFTS)
def aging_report(staff: Staff) -> ResponseReturnValue:
    report = aging(db(), _today())
    return _page("staff/admin/sponsorship_aging.html", report=report, buckets=BUCKETS)


def _request(request_id: int) -> SponsorshipRequest:
    try:
        return find_request(db(), request_id)
    except NotFound:
        abort(404)


def _invoice(number: str) -> SponsorshipInvoice:
    try:
        return find_invoice(db(), number)
    except NotFound:
        abort(404)


def _level_form(formdata: Any = ...) -> LevelForm:
    slugs = frozenset(db().scalars(select(Project.slug)))
    if formdata is ...:
        return LevelForm(slugs=slugs)
    return LevelForm(formdata=formdata, slugs=slugs)


def _payment_form(formdata: Any = ...) -> PaymentForm:
    form = PaymentForm() if formdata is ... else PaymentForm(formdata=formdata)
    if formdata is None:
        form.received_on.data = _today().isoformat()
    return form


def _today() -> date:
    return clock.today(runtime().settings.timezone)


def _after_commit() -> None:
    rt = runtime()
    try:
        rt.jobs.enqueue(Job.POST_LEDGER)
    except Exception:
        log.exception("posting to the books failed; 'conservancy ledger sync' retries")
    rt.jobs.enqueue(Job.DELIVER)


def _index(staff: Staff, form: LevelForm) -> str:
    session = db()
    levels = session.scalars(
        select(SponsorshipLevel)
        .join(Project)
        .order_by(Project.name, SponsorshipLevel.annual_minor.desc())
    ).all()
    invoices = session.scalars(
        select(SponsorshipInvoice).order_by(SponsorshipInvoice.id.desc()).limit(200)
    ).all()
    return _page(
        "staff/admin/sponsorships.html",
        form=form,
        levels=levels,
        requests=pending_requests(session),
        invoices=invoices,
        projects=session.scalars(select(Project).order_by(Project.name)).all(),
        may_change=can_change(staff, Area.PROJECTS),
    )


def _invoice_page(
    staff: Staff,
    found: SponsorshipInvoice,
    form: PaymentForm,
    *,
    void_form: VoidForm | None = None,
    refund_form: InvoiceRefundForm | None = None,
    stop_form: StopRenewalForm | None = None,
) -> str:
    return _page(
        "staff/admin/sponsorship_invoice.html",
        invoice=found,
        pay_url=pay_url(found, runtime().settings.base_url),
        history=_history(found),
        form=form,
        void_form=void_form or VoidForm(formdata=None),
        refund_form=refund_form or InvoiceRefundForm(formdata=None).begin(),
        stop_form=stop_form or StopRenewalForm(formdata=None),
        methods=PAYMENT_METHODS,
        may_change=can_change(staff, Area.GIFTS),
    )


def _request_page(
    staff: Staff,
    found: SponsorshipRequest,
    *,
    approve_form: ApproveForm | None = None,
    decline_form: DeclineForm | None = None,
) -> str:
    return _page(
        "staff/admin/sponsorship_request.html",
        asked=found,
        approve_form=approve_form or ApproveForm(formdata=None).begin(),
        decline_form=decline_form or DeclineForm(formdata=None).begin(),
        may_change=can_change(staff, Area.GIFTS),
    )


def _history(found: SponsorshipInvoice) -> list[SponsorshipStatusChange]:
    """The invoice's status changes, after those of the request it was issued for."""
    asked = db().scalar(select(SponsorshipRequest).where(SponsorshipRequest.invoice_id == found.id))
    return [*(asked.history if asked is not None else []), *found.history]


def _page(template: str, **context: Any) -> str:
    return render_template(template, sponsor=get_sponsor(db()), staff=current_user(), **context)
