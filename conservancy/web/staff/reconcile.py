"""The reconciliation page: Stripe's balance transactions against the books, for a period.

Admins, bookkeepers and auditors read it (area BOOKS); admins and bookkeepers
may, when a period that has ended matches, write the balance assertion into
the books (a POST with its CSRF token; the service audit-logs it). The books'
side is read from the transaction index, never by loading the ledger; Stripe
is asked during the request, which for one period is acceptable.
"""

from __future__ import annotations

import logging
from datetime import date, timedelta
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import IntegrityError
from wtforms import StringField  # type: ignore[import-untyped]

from conservancy.background.jobs import Job
from conservancy.kernel import clock
from conservancy.ledger import years
from conservancy.ledger.books import BooksLoading
from conservancy.payments import reconcile as reconciling
from conservancy.payments.gateway import GatewayError
from conservancy.projects.service import get_sponsor
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.forms import PlainTextForm
from conservancy.web.staff.admin import SECTIONS, Section
from conservancy.web.staff.money_forms import parse_day

bp = Blueprint("admin_reconcile", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

SECTIONS.append(
    Section(
        "Reconcile with Stripe",
        "admin_reconcile.page",
        Area.BOOKS,
        "Stripe's balance transactions against the books; assert the balance once it matches.",
    )
)


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class PeriodForm(PlainTextForm):
    """The period asked about: sent by GET to see the report, by POST to assert it."""

    first = StringField("From", name="from", filters=[_strip])
    last = StringField("To (included)", name="to", filters=[_strip])

    period: reconciling.Period | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        days = []
        for field in (self.first, self.last):
            try:
                days.append(parse_day(field.data))
            except ValueError as exc:
                field.errors.append(str(exc))
        if self.errors:
            return False
        first, last = days
        if first > last:
            self.last.errors.append("The period must end on or after the day it starts.")
            return False
        self.period = reconciling.Period(first, last)
        return True

    def refuse(self, field: str | None, message: str) -> None:
        target = {"first": self.first, "last": self.last}.get(field or "")
        (target.errors if target is not None else self.form_errors).append(message)


bp.after_request(never_cached)


@bp.get("/reconcile")
@require_area(Area.BOOKS)
def page(staff: Staff) -> ResponseReturnValue:
    """Without a period, the form (last month by default); with one, the report."""
    if "from" not in request.args and "to" not in request.args:
        form = PeriodForm(formdata=None, meta={"csrf": False})
        form.first.data, form.last.data = (d.isoformat() for d in _last_month(_today()))
        return _page(staff, form)
    form = PeriodForm(request.args, meta={"csrf": False})
    if not form.validate():
        return _page(staff, form), 400
    assert form.period is not None
    return _report(staff, form, form.period)


@bp.post("/reconcile")
@require_area(Area.BOOKS, change=True)
def assert_balance(staff: Staff) -> ResponseReturnValue:
    """Write the balance assertion for a period that has ended and matches; once."""
    session, today = db(), _today()
    form = PeriodForm()
    if not form.validate_on_submit():
        return _page(staff, form), 400
    period = form.period
    assert period is not None
    try:
        reconciling.check_ended(period, today)
    except reconciling.ReconcileRefused as exc:
        form.refuse(exc.field, str(exc))
        return _page(staff, form), 400
    found = _reconcile(period)
    if not isinstance(found, reconciling.Reconciliation):
        return found
    if runtime().books.rebuilding:  # the index may not have a staff file's change yet
        form.refuse(None, "A staff file changed and the books are being reloaded: try again soon.")
        return _page(staff, form, report=found), 409
    try:
        written = reconciling.assert_balance(session, staff, found, today=today)
        session.commit()
    except reconciling.ReconcileRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _page(staff, form, report=found), 400
    except IntegrityError:  # another bookkeeper asserted it at the same moment
        session.rollback()
        written = []
    if written:
        _post()
        amounts = "; ".join(f"{e.amount.format()} at the start of {e.date}" for e in written)
        flash(
            f"Asserted in the books: Assets:Stripe {amounts}. From now on 'ledger check' "
            "fails if anything before that date changes it."
        )
    else:
        flash(f"The balance on {period.after} was asserted before; nothing was written again.")
    asked: dict[str, Any] = {"from": period.first.isoformat(), "to": period.last.isoformat()}
    return redirect(url_for(".page", **asked), code=303)


def _report(staff: Staff, form: PeriodForm, period: reconciling.Period) -> ResponseReturnValue:
    found = _reconcile(period)
    if not isinstance(found, reconciling.Reconciliation):
        return found
    return _page(staff, form, report=found)


def _reconcile(period: reconciling.Period) -> reconciling.Reconciliation | ResponseReturnValue:
    """The report, or the page saying why there is none (books loading, Stripe unreachable)."""
    rt = runtime()
    opened = years.first_open_day(rt.ledger)
    if opened is not None and period.first - reconciling.MARGIN < opened:
        return _message(
            f"The books before {opened} are closed and this page does not load them: run "
            f"'conservancy stripe reconcile --from {period.first} --to {period.last}'."
        ), 409
    try:
        rt.books.current()  # catches the index up; starts a reload if a staff file changed
        return reconciling.reconcile(rt.books.index, rt.gateway, period, rt.settings.timezone)
    except BooksLoading:
        return _message("The books are being loaded. Reload this page in a minute."), 503
    except GatewayError as exc:
        log.warning("reconciling with Stripe failed: %s", exc)
        return _message(exc.for_staff("the report could not be made")), exc.http_status


def _post() -> None:
    try:
        runtime().jobs.enqueue(Job.POST_LEDGER)
    except Exception:
        log.exception("posting to the books failed; 'conservancy ledger sync' retries")


def _today() -> date:
    return clock.today(runtime().settings.timezone)


def _last_month(today: date) -> tuple[date, date]:
    last = today.replace(day=1) - timedelta(days=1)
    return last.replace(day=1), last


def _message(text: str) -> str:
    return render_template(
        "staff/admin/reconcile.html",
        sponsor=get_sponsor(db()),
        staff=current_user(),
        form=None,
        report=None,
        notice=text,
    )


def _page(staff: Staff, form: PeriodForm, report: reconciling.Reconciliation | None = None) -> str:
    today = _today()
    ended = report is not None and report.period.last < today
    return render_template(
        "staff/admin/reconcile.html",
        sponsor=get_sponsor(db()),
        staff=current_user(),
        form=form,
        report=report,
        notice=None,
        zone=str(runtime().settings.timezone),
        may_assert=can_change(staff, Area.BOOKS) and ended and report is not None and report.clean,
        ended=ended,
        rebuilding=runtime().books.rebuilding,
    )
