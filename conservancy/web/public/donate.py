"""The donation form of each project: shown, posted, and thanked for after Stripe's checkout.

A post is parsed (the form), counted against the card-testing limits, recorded
as a pending donation and committed; only then is Stripe asked for a checkout
session, whose idempotency key is built from the donation's id, and the donor
is sent there. Nothing reaches the books until Stripe says the money came in.
"""

from __future__ import annotations

import logging

from flask import Blueprint, redirect, render_template, request
from flask import session as browser
from flask.typing import ResponseReturnValue
from sqlalchemy import select
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


# The browser's cookie remembers the donation it was last sent to Stripe's checkout page for
# (its id and the donor's choices of amount, frequency and the like: nothing personal), so
# that coming back from the page, paid or not, this browser finds its gift again.
RETURNING = "checkout"
CHOICES = ("amount", "other_amount", "frequency", "currency", "visibility", "cover_fees",
           "thank_you", "extra_general")  # fmt: skip
NOTHING_CHARGED = "You left the payment page, so nothing was charged."
CANCELLED = (
    f"{NOTHING_CHARGED} Your gift is as you left it below: check it, then continue to "
    "payment again."
)


@bp.get("/donate/<slug>")
def form(slug: str) -> ResponseReturnValue:
    project = find_active_project(db(), slug)
    if "cancelled" not in request.args:
        return _page(project, _form(project))
    # Back from Stripe's page without paying (its cancel link). The form comes back as the
    # donor filled it in, when this browser is the one that sent it.
    left = _returning(db(), project)
    if left is None:
        return _page(project, _form(project), notice=NOTHING_CHARGED)
    returned = DonateForm.returning(
        project, maximum=runtime().settings.max_donation, choices=left[1], donation=left[0]
    )
    return _page(project, returned, notice=CANCELLED)


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
    browser[RETURNING] = {
        "donation": donation.id,
        "choices": {name: form[name].raw_data for name in CHOICES if form[name].raw_data},
    }
    return _checkout(session, donation)


@bp.get("/donate/<slug>/thanks")
def thanks(slug: str) -> ResponseReturnValue:
    """Where Stripe's page sends the donor once paid, with ``?session_id=`` the checkout's id.

    The page repeats the gift: the amount, how often, and to whom. Only the checkout's own id
    finds it (Stripe's ids are long and random), and it shows no name or address. Without
    one, or with one of no gift of this project's, there is nothing to thank for: 404.
    """
    session = db()
    project = find_active_project(session, slug)
    checkout_id = request.args.get("session_id", "")
    donation = (
        session.scalars(
            select(Donation).where(
                Donation.checkout_session_id == checkout_id, Donation.project_id == project.id
            )
        ).one_or_none()
        if checkout_id
        else None
    )
    page = render_template(
        "public/donate/thanks.html",
        sponsor=get_sponsor(session),
        project=project,
        brand=brand(project),
        donation=donation,
    )
    if donation is None:
        return page, 404
    browser.pop(RETURNING, None)
    return page


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


def _returning(session: Session, project: Project) -> tuple[Donation, dict[str, list[str]]] | None:
    """The donation this browser last went to pay for, if of ``project`` and still unpaid,
    with the choices it was made with."""
    left = browser.get(RETURNING)
    if not isinstance(left, dict) or not isinstance(left.get("donation"), int):
        return None
    donation = session.get(Donation, left["donation"])
    if (
        donation is None
        or donation.project_id != project.id
        or donation.status is not DonationStatus.PENDING
    ):
        return None
    choices = left.get("choices")
    return donation, choices if isinstance(choices, dict) else {}


def _page(project: Project, form: DonateForm, *, notice: str | None = None) -> str:
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
        notice=notice,
    )
