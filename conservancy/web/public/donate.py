"""The donation form of each project: shown, posted, and thanked for after Stripe's checkout.

A post is parsed (the form), counted against the card-testing limits, recorded
as a pending donation and committed; only then is Stripe asked for a checkout
session, whose idempotency key is built from the donation's id, and the donor
is sent there. Nothing reaches the books until Stripe says the money came in.
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import Session

from conservancy.donations.abuse import TooManyAttempts, admit_attempt
from conservancy.donations.models import Donation, DonationStatus
from conservancy.donations.service import (
    DonationRefused,
    begin_checkout,
    campaign_raised,
    current_campaign,
    find_active_project,
    record_donation,
)
from conservancy.kernel import clock
from conservancy.payments.gateway import GatewayError
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.web.branding import brand
from conservancy.web.context import db, runtime
from conservancy.web.public.donate_form import DonateForm
from conservancy.web.public.pages import ways_to_give_page

bp = Blueprint("donate", __name__)
log = logging.getLogger(__name__)


@bp.get("/donate/<slug>")
def form(slug: str) -> ResponseReturnValue:
    project = find_active_project(db(), slug)
    return _page(project, _form(project))


@bp.post("/donate/<slug>")
def give(slug: str) -> ResponseReturnValue:
    session = db()
    project = find_active_project(session, slug)
    form = _form(project)
    if not form.validate_on_submit():
        return _page(project, form), 400
    try:
        donation = _record(session, project, form)
    except TooManyAttempts as exc:
        session.commit()  # the refused try counts too, so hammering keeps it refused
        form.refuse(None, str(exc))
        return _page(project, form), 429
    except DonationRefused as exc:
        session.rollback()
        form.refuse(exc.field, str(exc))
        return _page(project, form), 400
    session.commit()
    return _checkout(session, donation)


@bp.get("/donate/<slug>/thanks")
def thanks(slug: str) -> ResponseReturnValue:
    # Stripe appends ?session_id=...; nothing here depends on it (anyone can type it).
    session = db()
    project = find_active_project(session, slug)
    return render_template(
        "public/donate/thanks.html",
        sponsor=get_sponsor(session),
        project=project,
        brand=brand(project),
    )


@bp.get("/donate/<slug>/ways-to-give")
def ways_to_give(slug: str) -> ResponseReturnValue:
    project = find_active_project(db(), slug)
    return ways_to_give_page(project, brand(project))


def _form(project: Project) -> DonateForm:
    return DonateForm.for_project(
        project,
        maximum=runtime().settings.max_donation,
        currency=request.args.get("currency"),
    )


def _record(session: Session, project: Project, form: DonateForm) -> Donation:
    settings = runtime().settings
    admit_attempt(
        session,
        key=settings.web_secret_key().encode(),
        address=request.remote_addr,  # behind a proxy: see conservancy.donations.abuse
        email=form.email.data,
        now=clock.now(),
    )
    return record_donation(
        session,
        project,
        form.donation_request(),
        maximum=settings.max_donation,
        today=clock.today(settings.timezone),
    )


def _checkout(session: Session, donation: Donation) -> ResponseReturnValue:
    rt = runtime()
    sponsor = get_sponsor(session)
    try:
        checkout = begin_checkout(
            session,
            rt.gateway,
            donation,
            base_url=rt.settings.base_url,
            sponsor_name=sponsor.legal_name if sponsor else "the sponsor",
        )
    except GatewayError as exc:
        # No session, so no one can pay it and no event will come for it: close it.
        log.warning("could not start a checkout for donation %s: %s", donation.id, exc)
        session.rollback()
        donation.change_status(
            DonationStatus.FAILED,
            "the payment processor could not be reached"
            if exc.temporary
            else "the payment processor refused the checkout",
        )
        session.commit()
        message = exc.for_donor("nothing was charged", rt.settings.sender_address)
        return render_template(
            "errors/error.html", sponsor=sponsor, code=exc.http_status, message=message
        ), exc.http_status
    session.commit()
    return redirect(checkout.url, code=303)


def _page(project: Project, form: DonateForm) -> str:
    session = db()
    today = clock.today(runtime().settings.timezone)
    campaign = current_campaign(session, project, today)
    return render_template(
        "public/donate/form.html",
        sponsor=get_sponsor(session),
        project=project,
        brand=brand(project),
        form=form,
        campaign=campaign,
        raised=campaign_raised(session, campaign) if campaign else None,
        days_left=(campaign.ends_on - today).days if campaign else None,
    )
