"""Corporate sponsorship for each project: the sign-up form, and an invoice's page to pay it.

A sign-up is validated and recorded as a request for staff to approve; nothing is
booked or numbered until they do (sponsorships.service.approve_request), and the page
says the invoice follows by e-mail once staff confirm.
Paying by card starts a Stripe Checkout Session for the invoice, like a gift's.
An invoice's page goes by the random token issued with it, never by its sequential
number (sponsorships.service.find_public_invoice): a wrong token is 404 like any
page that does not exist. The page still shows only the amount, project and status,
and names no company.

An address made of a number (``/donate/<slug>/sponsor/INV-2026-0001``) is what
invoices drawn before the tokens print. It answers one neutral page, the same for
every number, issued or not, without looking anything up: the payment address has
changed, use the one in our latest e-mail or write to us. So a sponsor holding an
old PDF learns what to do, and counting numbers tells nobody anything.
"""

from __future__ import annotations

import logging
import re

from flask import Blueprint, redirect, render_template, request
from flask.typing import ResponseReturnValue

from conservancy.donations.abuse import Limits, TooManyAttempts, admit_attempt
from conservancy.donations.service import find_active_project
from conservancy.kernel import clock
from conservancy.payments.gateway import GatewayError
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.sponsorships.models import InvoiceStatus, SponsorshipInvoice
from conservancy.sponsorships.service import (
    SponsorshipRefused,
    begin_card_payment,
    find_public_invoice,
    levels_of,
    request_sponsorship,
)
from conservancy.web.branding import brand
from conservancy.web.context import db, runtime
from conservancy.web.public.sponsor_forms import SponsorForm

bp = Blueprint("sponsor", __name__)
log = logging.getLogger(__name__)

_TOO_MANY = (
    "There have been too many sign-ups from your connection or with this e-mail address "
    "in the last few minutes. Please wait ten minutes, then try again, or write to us."
)
SIGN_UP_LIMITS = Limits(
    kind="sponsor",
    per_address=5,
    per_email=3,
    address_refusal=_TOO_MANY,
    email_refusal=_TOO_MANY,
)


@bp.get("/donate/<slug>/sponsor")
def form(slug: str) -> ResponseReturnValue:
    project = find_active_project(db(), slug)
    return _page(project, _form(project, formdata=None))


@bp.post("/donate/<slug>/sponsor")
def submit(slug: str) -> ResponseReturnValue:
    session = db()
    project = find_active_project(session, slug)
    form = _form(project)
    if not form.validate_on_submit():
        return _page(project, form), 400
    settings = runtime().settings
    try:
        # A request books nothing, but each is one for staff to read: counted like the
        # donation form's tries (donations.abuse).
        admit_attempt(
            session,
            key=settings.web_secret_key().encode(),
            address=request.remote_addr,
            email=form.email.data,
            now=clock.now(),
            limits=SIGN_UP_LIMITS,
        )
        requested = request_sponsorship(session, project, form.sign_up())
    except TooManyAttempts as exc:
        session.commit()  # the refused try counts too, so hammering keeps it refused
        form.refuse(None, str(exc))
        return _page(project, form), 429
    except SponsorshipRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _page(project, form), 400
    session.commit()
    return render_template(
        "public/sponsor/requested.html",
        sponsor=get_sponsor(session),
        project=project,
        brand=brand(project),
        requested=requested,
    )


# What an invoice number looks like (sponsorships.numbering), in any letter case.
_NUMBERED = re.compile(r"^INV-\d{4}-\d{4,}$", re.IGNORECASE)


@bp.get("/donate/<slug>/sponsor/<token>")
def invoice(slug: str, token: str) -> ResponseReturnValue:
    session = db()
    project = find_active_project(session, slug)
    if _NUMBERED.match(token):
        return render_template(
            "public/sponsor/payment_moved.html",
            sponsor=get_sponsor(session),
            project=project,
            brand=brand(project),
            contact=runtime().settings.sender_address,
            paid=request.args.get("paid") == "1",
        )
    found = find_public_invoice(session, project, token)
    return _invoice_page(project, found, paid=request.args.get("paid") == "1")


@bp.post("/donate/<slug>/sponsor/<token>/pay")
def pay(slug: str, token: str) -> ResponseReturnValue:
    session = db()
    project = find_active_project(session, slug)
    found = find_public_invoice(session, project, token)
    if found.status is not InvoiceStatus.OPEN:
        return _invoice_page(project, found), 409
    rt = runtime()
    try:
        checkout = begin_card_payment(session, rt.gateway, found, base_url=rt.settings.base_url)
    except GatewayError as exc:
        log.warning("could not start a checkout for invoice %s: %s", found.number, exc)
        session.rollback()
        message = exc.for_donor("nothing was charged", rt.settings.sender_address)
        return render_template(
            "errors/error.html",
            sponsor=get_sponsor(session),
            code=exc.http_status,
            message=message,
        ), exc.http_status
    session.commit()
    return redirect(checkout.url, code=303)


def _form(project: Project, formdata: object = ...) -> SponsorForm:
    ids = frozenset(level.id for level in levels_of(db(), project))
    if formdata is ...:
        return SponsorForm(level_ids=ids)
    return SponsorForm(formdata=formdata, level_ids=ids)


def _page(project: Project, form: SponsorForm) -> str:
    session = db()
    return render_template(
        "public/sponsor/form.html",
        sponsor=get_sponsor(session),
        project=project,
        brand=brand(project),
        form=form,
        levels=levels_of(session, project),
        contact=runtime().settings.sender_address,
    )


def _invoice_page(project: Project, found: SponsorshipInvoice, *, paid: bool = False) -> str:
    return render_template(
        "public/sponsor/invoice_page.html",
        sponsor=get_sponsor(db()),
        project=project,
        brand=brand(project),
        invoice=found,
        paid=paid,
    )
