"""The sponsor staff's money pages: gifts (finding, refunding, cheques and wires), expenses,
projects' settings and campaigns, and the ledger's health.

Admins and bookkeepers change; auditors read every page, without its forms (a
POST from them answers 403); treasurers get 404 (conservancy.web.auth). Each
change goes through one service, which writes the audit log; a form that moves
money carries a key, so that sending it twice acts once (conservancy.kernel.submissions):
the second send is taken to what the first made. After each commit that
recorded entries, the books are posted and the receipts' courier is kicked.
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
    request,
    send_file,
    url_for,
)
from flask.sansio.blueprints import BlueprintSetupState
from flask.typing import ResponseReturnValue
from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.background.jobs import Job
from conservancy.bank.service import reconciled_through
from conservancy.donations.matching import matches_of, record_matching_gift
from conservancy.donations.models import Gift, OfflineMethod, OfflineRefund, Refund
from conservancy.donations.offline import (
    OfflineRefused,
    offline_of,
    payment_wording,
    record_offline_gift,
    refund_offline_gift,
)
from conservancy.donations.refunds import (
    ReasonMissing,
    find_gifts,
    recent_gifts,
    refund_card_gift,
)
from conservancy.donations.service import RefundTooLarge
from conservancy.expenses.models import Expense
from conservancy.expenses.service import ExpenseRefused, expenses_of, invoice_file, record_expense
from conservancy.kernel import clock
from conservancy.kernel.submissions import AlreadySubmitted, BadFormKey
from conservancy.ledger.health import ledger_health
from conservancy.mail.outbox import stuck
from conservancy.money import Currency, Money
from conservancy.payments.gateway import GatewayError
from conservancy.payments.inbox import intake
from conservancy.projects.fund import campaign_progress, campaigns
from conservancy.projects.models import Campaign, Project
from conservancy.projects.service import get_sponsor
from conservancy.projects.settings import (
    SettingsRefused,
    add_campaign,
    change_campaign,
    change_logo,
    change_project,
)
from conservancy.receipts.models import Receipt
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.downloads import send_upload
from conservancy.web.forms import sent_before
from conservancy.web.staff.admin import SECTIONS, Section
from conservancy.web.staff.money_forms import (
    GIFT_METHODS,
    METHODS,
    VISIBILITIES,
    CampaignForm,
    ExpenseForm,
    LogoForm,
    MatchForm,
    OfflineGiftForm,
    ProjectForm,
    RefundForm,
)

bp = Blueprint("admin_money", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

# An invoice may be 10 MB; the app takes less by default (MAX_CONTENT_LENGTH), so
# the expense form's request alone may be this large.
EXPENSE_REQUEST_LIMIT = 10 * 1024 * 1024 + 256 * 1024

SECTIONS.extend(
    [
        Section("Gifts", "admin_money.gifts", Area.GIFTS, "Find a gift; refund it."),
        Section(
            "Cheques and wires",
            "admin_money.offline_gift",
            Area.GIFTS,
            "Enter a gift that came to the bank.",
        ),
        Section("Expenses", "admin_money.expenses", Area.BOOKS, "Pay from a project's fund."),
        Section(
            "Projects",
            "admin_money.projects",
            Area.PROJECTS,
            "Branding, suggested amounts, fee rates, campaigns, whether each takes gifts.",
        ),
        Section(
            "Ledger health",
            "admin_money.ledger",
            Area.BOOKS,
            "What waits to be posted; the last check of the books.",
        ),
    ]
)


@bp.record_once
def _allow_invoices(state: BlueprintSetupState) -> None:
    # Before CSRFProtect reads the form (an app-wide hook registered earlier).
    state.app.before_request_funcs.setdefault(None, []).insert(0, _invoice_limit)


def _invoice_limit() -> None:
    if request.endpoint == "admin_money.add_expense":
        request.max_content_length = EXPENSE_REQUEST_LIMIT


bp.after_request(never_cached)


# -- gifts and refunds ---------------------------------------------------------------------------


@bp.get("/gifts")
@require_area(Area.GIFTS)
def gifts(staff: Staff) -> ResponseReturnValue:
    query = request.args.get("q", "").strip()[:254]
    return _page(
        "staff/admin/gifts.html",
        query=query,
        found=find_gifts(db(), query) if query else recent_gifts(db()),
    )


@bp.get("/gifts/<int:gift_id>")
@require_area(Area.GIFTS)
def gift(staff: Staff, gift_id: int) -> ResponseReturnValue:
    found = _gift(gift_id)
    return _gift_page(staff, found, _refund_form(found, formdata=None).begin())


@bp.post("/gifts/<int:gift_id>/match")
@require_area(Area.GIFTS, change=True)
def add_match(staff: Staff, gift_id: int) -> ResponseReturnValue:
    session = db()
    found = _gift(gift_id)
    form = _match_form(found)
    refund_form = _refund_form(found, formdata=None).begin()
    if not form.validate_on_submit():
        return _gift_page(staff, found, refund_form, form), 400
    assert form.match is not None
    try:
        made = record_matching_gift(
            session, staff, found, form.match, key=form.once.data, tz=runtime().settings.timezone
        )
    except AlreadySubmitted as exc:
        return _already(session, exc)
    except (OfflineRefused, BadFormKey) as exc:
        session.rollback()
        form.refuse(_field_of(exc), str(exc))
        return _gift_page(staff, _gift(gift_id), refund_form, form), 400
    session.commit()
    _after_commit()
    flash(
        f"Recorded {made.total.format()} from {made.donor_name}, matching this gift. "
        "Its receipt is addressed to the company: download it below and send it."
    )
    return redirect(url_for(".gift", gift_id=made.id), code=303)


@bp.post("/gifts/<int:gift_id>/refund")
@require_area(Area.GIFTS, change=True)
def refund(staff: Staff, gift_id: int) -> ResponseReturnValue:
    session, rt = db(), runtime()
    found = _gift(gift_id)
    form = _refund_form(found)
    if not form.validate_on_submit():
        return _gift_page(staff, found, form), 400
    assert form.money is not None
    try:
        if form.offline:
            assert form.day is not None
            refund_offline_gift(
                session,
                staff,
                found,
                form.money,
                method=OfflineMethod(form.method.data),
                reference=form.reference.data,
                refunded_on=form.day,
                reason=form.reason.data,
                key=form.once.data,
                tz=rt.settings.timezone,
            )
        else:
            refund_card_gift(
                session,
                rt.gateway,
                staff,
                found,
                form.money,
                reason=form.reason.data,
                key=form.once.data,
                tz=rt.settings.timezone,
            )
    except AlreadySubmitted as exc:
        return _already(session, exc)
    except (OfflineRefused, RefundTooLarge, ReasonMissing, BadFormKey) as exc:
        session.rollback()
        form.refuse(_field_of(exc), str(exc))
        return _gift_page(staff, _gift(gift_id), form), 400
    except GatewayError as exc:
        session.rollback()
        log.warning("a refund of gift %s failed at Stripe: %s", gift_id, exc)
        form.refuse(None, exc.for_staff("nothing was refunded"))
        return _gift_page(staff, _gift(gift_id), form), exc.http_status
    session.commit()
    _after_commit()
    flash(f"Refunded {form.money.format()}. The donor's receipt is voided and replaced as due.")
    return redirect(url_for(".gift", gift_id=gift_id), code=303)


@bp.get("/gifts/offline")
@require_area(Area.GIFTS)
def offline_gift(staff: Staff) -> ResponseReturnValue:
    return _offline_page(staff, _offline_form(formdata=None).begin())


@bp.post("/gifts/offline")
@require_area(Area.GIFTS, change=True)
def add_offline_gift(staff: Staff) -> ResponseReturnValue:
    session = db()
    form = _offline_form()
    if not form.validate_on_submit():
        return _offline_page(staff, form), 400
    assert form.chosen is not None
    assert form.gift is not None
    try:
        made = record_offline_gift(
            session,
            staff,
            form.chosen,
            form.gift,
            key=form.once.data,
            tz=runtime().settings.timezone,
        )
    except AlreadySubmitted as exc:
        return _already(session, exc)
    except (OfflineRefused, BadFormKey) as exc:
        session.rollback()
        form.refuse(_field_of(exc), str(exc))
        return _offline_page(staff, form), 400
    session.commit()
    _after_commit()
    how = (
        "Its receipt is on its way to the donor."
        if made.donation.donor.email
        else ("The donor gave no e-mail address: download the receipt below and post it.")
    )
    flash(f"Recorded {made.total.format()} for {made.donation.project.name}. {how}")
    return redirect(url_for(".gift", gift_id=made.id), code=303)


@bp.get("/receipts/<number>.pdf")
@require_area(Area.GIFTS)
def receipt_pdf(staff: Staff, number: str) -> ResponseReturnValue:
    found = db().scalar(select(Receipt).where(Receipt.number == number))
    if found is None:
        abort(404)
    if found.pdf_path is None:
        runtime().jobs.enqueue(Job.DELIVER)
        abort(404, "This receipt's PDF is being drawn. Reload the page in a moment.")
    path = runtime().settings.receipts_dir / found.pdf_path
    if not path.is_file():
        abort(404)
    return send_file(
        path, mimetype="application/pdf", as_attachment=True, download_name=f"{number}.pdf"
    )


# -- expenses ------------------------------------------------------------------------------------


@bp.get("/expenses")
@require_area(Area.BOOKS)
def expenses(staff: Staff) -> ResponseReturnValue:
    return _expenses_page(staff, _expense_form(formdata=None).begin())


@bp.post("/expenses")
@require_area(Area.BOOKS, change=True)
def add_expense(staff: Staff) -> ResponseReturnValue:
    session, rt = db(), runtime()
    form = _expense_form()
    if not form.validate_on_submit():
        return _expenses_page(staff, form), 400
    assert form.chosen is not None
    assert form.expense is not None
    try:
        made = record_expense(
            session,
            staff,
            form.chosen,
            form.expense,
            key=form.once.data,
            books=rt.books,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
    except AlreadySubmitted as exc:
        return _already(session, exc)
    except (ExpenseRefused, BadFormKey) as exc:
        session.rollback()
        form.refuse(_field_of(exc), str(exc))
        return _expenses_page(staff, form), 400
    session.commit()
    _after_commit()
    flash(f"Paid {made.amount.format()} to {made.payee} from the {made.fund} fund.")
    return redirect(url_for(".expense", expense_id=made.id), code=303)


@bp.get("/expenses/<int:expense_id>")
@require_area(Area.BOOKS)
def expense(staff: Staff, expense_id: int) -> ResponseReturnValue:
    return _page("staff/admin/expense.html", expense=_expense(expense_id))


@bp.get("/expenses/<int:expense_id>/invoice")
@require_area(Area.BOOKS)
def invoice(staff: Staff, expense_id: int) -> ResponseReturnValue:
    return send_invoice(_expense(expense_id))


def send_invoice(found: Expense) -> ResponseReturnValue:
    """The invoice as a download of the type its bytes said, never shown inline."""
    path = invoice_file(runtime().settings.receipts_dir, found)
    return send_upload(path, found.invoice_type, f"{found.ref}-invoice{path.suffix}")


# -- projects ------------------------------------------------------------------------------------


@bp.get("/projects")
@require_area(Area.PROJECTS)
def projects(staff: Staff) -> ResponseReturnValue:
    rows = db().scalars(select(Project).order_by(Project.name)).all()
    return _page("staff/admin/projects.html", projects=rows)


@bp.get("/projects/<slug>")
@require_area(Area.PROJECTS)
def project(staff: Staff, slug: str) -> ResponseReturnValue:
    found = _project(slug)
    return _project_page(staff, found, ProjectForm.showing(found), LogoForm(formdata=None))


@bp.post("/projects/<slug>")
@require_area(Area.PROJECTS, change=True)
def change_settings(staff: Staff, slug: str) -> ResponseReturnValue:
    session = db()
    found = _project(slug)
    form = ProjectForm()
    form.currency = Currency(found.currency)
    if not form.validate_on_submit():
        return _project_page(staff, found, form, LogoForm(formdata=None)), 400
    assert form.wanted is not None
    try:
        changed = change_project(
            session, staff, found, form.wanted, maximum=runtime().settings.max_donation
        )
    except SettingsRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _project_page(staff, _project(slug), form, LogoForm(formdata=None)), 400
    session.commit()
    flash(f"Saved {found.name}'s settings." if changed else "Nothing was changed.")
    return redirect(url_for(".project", slug=slug), code=303)


@bp.post("/projects/<slug>/logo")
@require_area(Area.PROJECTS, change=True)
def change_project_logo(staff: Staff, slug: str) -> ResponseReturnValue:
    session = db()
    found = _project(slug)
    form = LogoForm()
    if not form.validate_on_submit():
        return _project_page(staff, found, ProjectForm.showing(found), form), 400
    try:
        change_logo(
            session, staff, found, form.data_bytes, uploads_dir=runtime().settings.uploads_dir
        )
    except SettingsRefused as exc:
        session.rollback()
        form.logo.errors.append(str(exc))
        return _project_page(staff, _project(slug), ProjectForm.showing(found), form), 400
    session.commit()
    flash(f"{found.name}'s new logo is on its donation page.")
    return redirect(url_for(".project", slug=slug), code=303)


# -- a project's campaigns -----------------------------------------------------------------------


@bp.post("/projects/<slug>/campaigns")
@require_area(Area.PROJECTS, change=True)
def add_project_campaign(staff: Staff, slug: str) -> ResponseReturnValue:
    session = db()
    found = _project(slug)
    form = CampaignForm.sent(Currency(found.currency))
    if not form.validate_on_submit():
        return _project_page(staff, found, campaign_form=form), 400
    assert form.wanted is not None
    try:
        made = add_campaign(session, staff, found, form.wanted)
    except SettingsRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _project_page(staff, _project(slug), campaign_form=form), 400
    session.commit()
    flash(f"Added the campaign {made.name}.")
    return redirect(url_for(".project", slug=slug, _anchor="campaigns"), code=303)


@bp.get("/projects/<slug>/campaigns/<int:campaign_id>")
@require_area(Area.PROJECTS)
def campaign(staff: Staff, slug: str, campaign_id: int) -> ResponseReturnValue:
    found = _campaign(slug, campaign_id)
    return _campaign_page(staff, found, CampaignForm.showing(found))


@bp.post("/projects/<slug>/campaigns/<int:campaign_id>")
@require_area(Area.PROJECTS, change=True)
def change_project_campaign(staff: Staff, slug: str, campaign_id: int) -> ResponseReturnValue:
    session = db()
    found = _campaign(slug, campaign_id)
    form = CampaignForm.sent(Currency(found.currency))
    if not form.validate_on_submit():
        return _campaign_page(staff, found, form), 400
    assert form.wanted is not None
    try:
        changed = change_campaign(session, staff, found, form.wanted)
    except SettingsRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _campaign_page(staff, _campaign(slug, campaign_id), form), 400
    session.commit()
    flash(f"Saved the campaign {found.name}." if changed else "Nothing was changed.")
    return redirect(url_for(".project", slug=slug, _anchor="campaigns"), code=303)


# -- the ledger's health -------------------------------------------------------------------------


@bp.get("/ledger")
@require_area(Area.BOOKS)
def ledger(staff: Staff) -> ResponseReturnValue:
    session = db()
    return _page(
        "staff/admin/ledger.html",
        health=ledger_health(session, runtime().books),
        intake=intake(session),
        now=clock.now(),
        stuck=stuck(session),
        reconciled=[
            (bank.account, reconciled_through(session, bank.account))
            for bank in runtime().settings.bank_accounts
        ],
    )


# -- helpers -------------------------------------------------------------------------------------


def _after_commit() -> None:
    """Post what the commit recorded, and let the courier draw and mail the receipts."""
    rt = runtime()
    try:
        rt.jobs.enqueue(Job.POST_LEDGER)
    except Exception:
        log.exception("posting to the books failed; 'conservancy ledger sync' retries")
    rt.jobs.enqueue(Job.DELIVER)


def _already(session: Session, exc: AlreadySubmitted) -> ResponseReturnValue:
    """A form sent again: to what its first send made."""
    kind, _, ident = (exc.result or "").partition(":")
    if kind == "gift" and ident.isdigit():
        return sent_before(session, url_for(".gift", gift_id=int(ident)))
    if kind == "expense" and ident.isdigit():
        return sent_before(session, url_for(".expense", expense_id=int(ident)))
    return sent_before(session, url_for("staff_admin.home"))


def _field_of(exc: Exception) -> str | None:
    if isinstance(exc, RefundTooLarge):
        return "amount"
    if isinstance(exc, ReasonMissing):
        return "reason"
    field = getattr(exc, "field", None)
    return field if isinstance(field, str) else None


def _gift(gift_id: int) -> Gift:
    found = db().get(Gift, gift_id)
    if found is None:
        abort(404)
    return found


def _expense(expense_id: int) -> Expense:
    found = db().get(Expense, expense_id)
    if found is None:
        abort(404)
    return found


def _project(slug: str) -> Project:
    found = db().scalar(select(Project).where(Project.slug == slug))
    if found is None:
        abort(404)
    return found


def _campaign(slug: str, campaign_id: int) -> Campaign:
    """The campaign of project ``slug``; 404 for one of another project, as for none."""
    project = _project(slug)
    found = db().get(Campaign, campaign_id)
    if found is None or found.project_id != project.id:
        abort(404)
    return found


def _all_projects() -> dict[str, Project]:
    return {p.slug: p for p in db().scalars(select(Project).order_by(Project.name))}


def _refund_form(found: Gift, formdata: Any = ...) -> RefundForm:
    form = RefundForm() if formdata is ... else RefundForm(formdata=formdata)
    form.offline = found.charge_id is None
    form.currency = found.remaining.currency
    if formdata is None:
        form.method.data = OfflineMethod.CHEQUE.value
        form.refunded_on.data = _today().isoformat()
    return form


def _match_form(found: Gift, formdata: Any = ...) -> MatchForm:
    form = MatchForm() if formdata is ... else MatchForm(formdata=formdata)
    form.currency = Currency(found.donation.project.currency)
    if formdata is None:
        form.company.data = found.donation.employer or ""
        form.method.data = OfflineMethod.CHEQUE.value
        form.received_on.data = _today().isoformat()
    return form


def _offline_form(formdata: Any = ...) -> OfflineGiftForm:
    form = OfflineGiftForm() if formdata is ... else OfflineGiftForm(formdata=formdata)
    form.projects = _all_projects()
    if formdata is None:
        form.received_on.data = _today().isoformat()
    return form


def _expense_form(formdata: Any = ...) -> ExpenseForm:
    form = ExpenseForm() if formdata is ... else ExpenseForm(formdata=formdata)
    form.projects = _all_projects()
    if formdata is None:
        form.paid_on.data = _today().isoformat()
    return form


def _today() -> date:
    return clock.today(runtime().settings.timezone)


def _gift_page(
    staff: Staff, found: Gift, form: RefundForm, match_form: MatchForm | None = None
) -> str:
    session = db()
    receipts = session.scalars(
        select(Receipt).where(Receipt.gift_id == found.id).order_by(Receipt.id)
    ).all()
    currency = found.remaining.currency
    refunds = [
        (
            clock.accounting_date(clock.as_utc(r.created_at), runtime().settings.timezone),
            Money.from_minor(r.amount_minor, currency),
            f"to the card ({r.status})",
            r.reason,
        )
        for r in session.scalars(
            select(Refund).where(Refund.gift_id == found.id).order_by(Refund.id)
        )
    ]
    refunds += [
        (
            r.refunded_on,
            Money.from_minor(r.amount_minor, currency),
            f"from the bank: {payment_wording(r.method, r.reference).lower()}",
            r.reason,
        )
        for r in session.scalars(
            select(OfflineRefund)
            .where(OfflineRefund.gift_id == found.id)
            .order_by(OfflineRefund.id)
        )
    ]
    return _page(
        "staff/admin/gift.html",
        gift=found,
        offline=offline_of(session, found),
        receipts=receipts,
        refunds=refunds,
        form=form,
        may_change=can_change(staff, Area.GIFTS),
        methods=METHODS,
        matches=matches_of(session, found),
        match_form=(
            _match_form(found, formdata=None).begin() if match_form is None else match_form
        ),
    )


def _offline_page(staff: Staff, form: OfflineGiftForm) -> str:
    return _page(
        "staff/admin/offline_gift.html",
        form=form,
        projects=list(form.projects.values()),
        may_change=can_change(staff, Area.GIFTS),
        methods=GIFT_METHODS,
        visibilities=VISIBILITIES,
    )


def _expenses_page(staff: Staff, form: ExpenseForm) -> str:
    return _page(
        "staff/admin/expenses.html",
        form=form,
        projects=list(form.projects.values()),
        expenses=expenses_of(db()),
        may_change=can_change(staff, Area.BOOKS),
    )


def _project_page(
    staff: Staff,
    found: Project,
    form: ProjectForm | None = None,
    logo: LogoForm | None = None,
    campaign_form: CampaignForm | None = None,
) -> str:
    """The project's page; each form not given is shown as it first is."""
    today = _today()
    return _page(
        "staff/admin/project.html",
        project=found,
        form=ProjectForm.showing(found) if form is None else form,
        logo_form=LogoForm(formdata=None) if logo is None else logo,
        new_campaign=(
            CampaignForm.new(Currency(found.currency), today)
            if campaign_form is None
            else campaign_form
        ),
        campaigns=campaigns(db(), found, today),
        may_change=can_change(staff, Area.PROJECTS),
    )


def _campaign_page(staff: Staff, found: Campaign, form: CampaignForm) -> str:
    return _page(
        "staff/admin/campaign.html",
        project=found.project,
        campaign=found,
        progress=campaign_progress(db(), found, _today()),
        form=form,
        may_change=can_change(staff, Area.PROJECTS),
    )


def _page(template: str, **context: Any) -> str:
    return render_template(
        template,
        sponsor=get_sponsor(db()),
        staff=current_user(),
        **context,
    )
