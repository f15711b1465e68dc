"""The donor portal: sign-in by e-mailed link, then the donor's gifts, receipts and statements.

A link is used by a POST from the page it opens (mail scanners fetch links
with GET; that must not use them up). Using it clears the browser's session
and starts a donor session on the server (``service.start_session``); the
cookie holds only its random id. Signing out ends that session there, so a
copy of the cookie taken before no longer signs anyone in. Every other page
needs a session that has not ended or expired; what it may reach is decided by
``conservancy.portal.service``, which looks only among the signed-in donor's own gifts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Concatenate, ParamSpec

from flask import (
    Blueprint,
    Response,
    flash,
    g,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask import session as web_session
from flask.typing import ResponseReturnValue
from wtforms import StringField  # type: ignore[import-untyped]

from conservancy.background.jobs import Job
from conservancy.donations.models import Donation, DonationStatus, Visibility
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.payments.gateway import GatewayError
from conservancy.portal import service
from conservancy.portal.service import ChangeRefused, LinkRefused, TooManyLinkRequests
from conservancy.projects.service import get_sponsor
from conservancy.receipts.models import ReceiptKind
from conservancy.web.browser_sessions import DONOR_SESSION_KEY, end_sessions
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.forms import PlainTextForm
from conservancy.web.public.donate_form import parse_amount, valid_email

bp = Blueprint("portal", __name__, url_prefix="/portal")
log = logging.getLogger(__name__)
P = ParamSpec("P")

SESSION_KEY = DONOR_SESSION_KEY
STATUS = {
    DonationStatus.PAID: "Paid",
    DonationStatus.PARTIALLY_REFUNDED: "Partly refunded",
    DonationStatus.REFUNDED: "Refunded",
    DonationStatus.DISPUTED: "Disputed",
    DonationStatus.CANCELLED: "Cancelled",
}


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class LinkRequestForm(PlainTextForm):
    email = StringField("E-mail address", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if not self.email.data:
            self.email.errors.append("Please give the e-mail address you gave with your gift.")
        elif not valid_email(self.email.data):
            self.email.errors.append("Enter an e-mail address such as ada@example.org.")
        return not self.errors


class VisibilityForm(PlainTextForm):
    visibility = StringField("How we may show your name", filters=[_strip])

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        if self.visibility.data not in {v.value for v in Visibility}:
            self.visibility.errors.append("Choose how we may show your name.")
        return not self.errors


class AmountForm(PlainTextForm):
    amount = StringField("New amount", filters=[_strip])

    currency: Currency
    maximum: Money
    money: Money | None = None

    def validate(self, extra_validators: Any = None) -> bool:
        super().validate(extra_validators)
        try:
            self.money = parse_amount(self.amount.data or "", self.currency, self.maximum)
        except ValueError as exc:
            self.amount.errors.append(str(exc))
        return not self.errors


@dataclass(frozen=True)
class Problem:
    """A refused change, shown by its field on the donation it was for."""

    donation_id: int
    field: str
    message: str
    value: str | None = None


# -- who is signed in ------------------------------------------------------------------


def _signed_in_donor() -> int | None:
    """The donor this request's session cookie signs in, if any. A session that idled
    out is ended on the server and the donor told why they must sign in again."""
    session_id = web_session.get(SESSION_KEY)
    if not isinstance(session_id, str):
        return None
    session, idle_timeout = db(), runtime().settings.donor_idle_timeout
    found = service.visit(session, session_id, clock.now(), idle_timeout)
    session.commit()  # the time it was last used, or that it ended
    if found.donor_id is None:
        web_session.pop(SESSION_KEY, None)  # ended or expired: forgotten
    if found.idle:
        g.portal_idle = True
        minutes = int(idle_timeout.total_seconds() // 60)
        flash(
            f"To keep your gifts private, you were signed out after {minutes} minutes "
            "without activity. Please ask for a new sign-in link below."
        )
    return found.donor_id


def signed_in(
    view: Callable[Concatenate[int, P], ResponseReturnValue],
) -> Callable[P, ResponseReturnValue]:
    """The view gets the signed-in donor's id first; anyone else goes to the sign-in page."""

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
        donor_id = _signed_in_donor()
        if donor_id is None:
            if not g.get("portal_idle"):  # told already
                flash("Please sign in to see your gifts.")
            return redirect(url_for("portal.index"), code=303)
        return view(donor_id, *args, **kwargs)

    return wrapper


bp.after_request(never_cached)


# -- signing in and out ------------------------------------------------------------------


@bp.get("")
def index() -> ResponseReturnValue:
    donor_id = _signed_in_donor()
    if donor_id is None:
        return _page("portal/sign_in.html", form=LinkRequestForm())
    if request.args.get("card") == "saved":  # back from Stripe's page (update_card)
        flash("Your new card is saved: the next payment is charged to it.")
        return redirect(url_for("portal.index"), code=303)
    return _dashboard(donor_id)


@bp.post("/sign-in")
def ask_for_link() -> ResponseReturnValue:
    form = LinkRequestForm()
    if not form.validate_on_submit():
        return _page("portal/sign_in.html", form=form), 400
    session, rt, now = db(), runtime(), clock.now()
    try:
        service.admit_link_request(
            session,
            key=rt.settings.web_secret_key().encode(),
            address=request.remote_addr,  # behind a proxy: see conservancy.donations.abuse
            email=form.email.data,
            now=now,
        )
    except TooManyLinkRequests as exc:
        session.commit()  # the refused request counts too
        return _page("portal/sign_in.html", form=form, refusal=str(exc)), 429
    # The same answer, and no mail, for an address that is not a donor's.
    service.request_link(session, email=form.email.data, base_url=rt.settings.base_url, now=now)
    session.commit()
    rt.jobs.enqueue(Job.DELIVER)  # the mail goes off the request: known and unknown answer alike
    return _page("portal/link_sent.html", email=form.email.data)


@bp.get("/sign-in/<token>")
def confirm_link(token: str) -> ResponseReturnValue:
    if not service.link_usable(db(), token, clock.now()):
        return _link_refused()
    return _page("portal/confirm.html", token=token)


@bp.post("/sign-in/<token>")
def use_link(token: str) -> ResponseReturnValue:
    session, now = db(), clock.now()
    try:
        donor_id = service.sign_in(session, token, now)
    except LinkRefused:
        session.rollback()
        return _link_refused()
    end_sessions(session, now)  # a fresh session: nothing set before signing in carries over
    session_id = service.start_session(session, donor_id, now)
    session.commit()
    web_session[SESSION_KEY] = session_id
    return redirect(url_for("portal.index"), code=303)


@bp.post("/sign-out")
def sign_out() -> ResponseReturnValue:
    session = db()
    end_sessions(session, clock.now())  # a staff session this browser held too
    session.commit()
    flash("You are signed out.")
    return redirect(url_for("portal.index"), code=303)


def _link_refused() -> ResponseReturnValue:
    message = str(LinkRefused())
    return _page("portal/link_refused.html", form=LinkRequestForm(), message=message), 400


# -- changing a gift -------------------------------------------------------------------------


@bp.post("/donations/<int:donation_id>/visibility")
@signed_in
def change_visibility(donor_id: int, donation_id: int) -> ResponseReturnValue:
    session = db()
    service.donor_donation(session, donor_id, donation_id)  # another donor's: 404 first
    form = VisibilityForm()
    if not form.validate_on_submit():
        session.rollback()
        problem = Problem(donation_id, "visibility", " ".join(form.visibility.errors))
        return _dashboard(donor_id, problem), 400
    donation = service.set_visibility(
        session, donor_id, donation_id, Visibility(form.visibility.data)
    )
    session.commit()
    flash(f"Saved how we show your name with your gift to {donation.project.name}.")
    return _back_to(donation_id)


@bp.post("/donations/<int:donation_id>/amount")
@signed_in
def change_amount(donor_id: int, donation_id: int) -> ResponseReturnValue:
    session, rt = db(), runtime()
    donation = service.donor_donation(session, donor_id, donation_id)
    form = AmountForm()
    form.currency = Currency(donation.currency)
    form.maximum = Money.from_minor(rt.settings.max_donation.minor, form.currency)
    typed = form.amount.data
    if not form.validate_on_submit():
        session.rollback()
        return _dashboard(
            donor_id, Problem(donation_id, "amount", " ".join(form.amount.errors), typed)
        ), 400
    assert form.money is not None
    try:
        donation = service.change_amount(
            session, rt.gateway, donor_id, donation_id, form.money, maximum=rt.settings.max_donation
        )
    except ChangeRefused as exc:
        session.rollback()
        return _dashboard(donor_id, Problem(donation_id, "amount", str(exc), typed)), 400
    except GatewayError as exc:
        log.warning("could not change the amount of donation %s: %s", donation_id, exc)
        session.rollback()
        refusal = _nothing_changed(exc)
        return _dashboard(donor_id, Problem(donation_id, "amount", refusal, typed)), exc.http_status
    session.commit()
    flash(
        f"Your gift to {donation.project.name} is now {donation.amount.format()} "
        f"{donation.frequency.every}, from the next payment on."
    )
    return _back_to(donation_id)


@bp.post("/donations/<int:donation_id>/card")
@signed_in
def update_card(donor_id: int, donation_id: int) -> ResponseReturnValue:
    """To Stripe's page to save a new card for the gift (Checkout in setup mode)."""
    session, rt = db(), runtime()
    try:
        checkout = service.start_card_update(
            session, rt.gateway, donor_id, donation_id, base_url=rt.settings.base_url
        )
    except ChangeRefused as exc:
        flash(str(exc))
        return _back_to(donation_id)
    except GatewayError as exc:
        log.warning("could not start a card update for donation %s: %s", donation_id, exc)
        return _dashboard(donor_id, Problem(donation_id, "card", _nothing_changed(exc))), (
            exc.http_status
        )
    return redirect(checkout.url, code=303)


@bp.get("/donations/<int:donation_id>/cancel")
@signed_in
def confirm_cancel(donor_id: int, donation_id: int) -> ResponseReturnValue:
    donation = service.donor_donation(db(), donor_id, donation_id, lock=False)
    if not service.manageable(donation):
        flash("This recurring gift is not running any more: there is nothing to cancel.")
        return _back_to(donation_id)
    return _page("portal/cancel.html", donation=donation)


@bp.post("/donations/<int:donation_id>/cancel")
@signed_in
def cancel(donor_id: int, donation_id: int) -> ResponseReturnValue:
    session, rt = db(), runtime()
    service.donor_donation(session, donor_id, donation_id)  # another donor's: 404 first
    try:
        donation = service.cancel_recurring(session, rt.gateway, donor_id, donation_id)
    except GatewayError as exc:
        log.warning("could not cancel donation %s: %s", donation_id, exc)
        session.rollback()
        donation = service.donor_donation(session, donor_id, donation_id, lock=False)
        return _page(
            "portal/cancel.html", donation=donation, refusal=_nothing_changed(exc)
        ), exc.http_status
    session.commit()
    flash(
        f"Your recurring gift to {donation.project.name} is cancelled: no further payments "
        "will be taken. Thank you for your support."
    )
    return _back_to(donation_id)


def _nothing_changed(exc: GatewayError) -> str:
    return exc.for_donor("nothing was changed", runtime().settings.sender_address)


# -- files ----------------------------------------------------------------------------------


@bp.get("/receipts/<number>.pdf")
@signed_in
def receipt_pdf(donor_id: int, number: str) -> ResponseReturnValue:
    receipt = service.donor_receipt(db(), donor_id, number)
    assert receipt.pdf_path is not None
    name = "voiding-notice" if receipt.kind is ReceiptKind.VOIDING else "receipt"
    return _pdf(receipt.pdf_path, f"{name}-{receipt.number}.pdf")


@bp.get("/statements/<int:year>.pdf")
@signed_in
def statement_pdf(donor_id: int, year: int) -> ResponseReturnValue:
    statement = service.donor_statement(db(), donor_id, year)
    return _pdf(statement.pdf_path, f"giving-statement-{statement.year}.pdf")


def _pdf(relative: str, download_name: str) -> Response:
    path = service.stored_pdf(runtime().settings.receipts_dir, relative)
    return send_file(
        path, mimetype="application/pdf", as_attachment=True, download_name=download_name
    )


# -- pages -----------------------------------------------------------------------------------


def _page(template: str, **context: Any) -> str:
    return render_template(template, sponsor=get_sponsor(db()), **context)


def _dashboard(donor_id: int, problem: Problem | None = None) -> str:
    history = service.donor_history(db(), donor_id)
    return _page(
        "portal/dashboard.html",
        history=history,
        problem=problem,
        status=STATUS,
        name_shown=name_shown,
    )


def name_shown(donation: Donation) -> dict[str, str]:
    """Each way a gift may show its donor's name, in words (as the donation form offers them)."""
    project = donation.project.name
    return {
        Visibility.PUBLIC.value: f"Publicly, as a supporter of {project}",
        Visibility.PROJECT.value: f"To the {project} team only",
        Visibility.ANONYMOUS.value: "Not at all: my gift is anonymous",
    }


def _back_to(donation_id: int) -> ResponseReturnValue:
    return redirect(url_for("portal.index", _anchor=f"donation-{donation_id}"), code=303)
