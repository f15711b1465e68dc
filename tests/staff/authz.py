"""Who gets what from each address: the table the authorization matrix checks.

``test_authorization.py`` walks ``app.url_map``: every rule (public pages, the
donor portal, the API, the Stripe webhook, static files, the staff pages) must
have a row here for each of its methods, or the test fails. So a page added
later without a rule is caught. (The demo's /demo pages exist only when
CONSERVANCY_ENV is demo, so never in the app the tests make: a test says so.)
To add yours, append rows to ``RULES`` in this file (near your feature's
comment), using the shorthands:

    Row("/treasurer/<slug>/", "GET", "/treasurer/{twisted}/", project_page()),
    Row("/admin/gifts", "GET", "/admin/gifts", staff_only()),
    Row("/admin/gifts", "POST", "/admin/gifts", changes(Area.GIFTS, ok=400)),

``path`` is the address to request, with ``{twisted}``, ``{other}`` (a project
the Twisted treasurer is not treasurer of), ``{user_id}``, ``{role_id}`` and
``{token}`` filled in from :class:`World`, and with whatever the functions in
``SETUPS`` return (add one that makes a gift of Twisted and returns
``{"gift_id": gift_id}`` to write ``/admin/gifts/{gift_id}``; the portal's rows
name ``{donor_gift}``, ``{donor_receipt}`` and ``{other_donor_gift}`` this way).
POSTs are sent with a valid CSRF token and ``data``; with no data, a page that
lets the user in usually answers 400 (its form is empty), which is what
``ok=400`` says: authorization passed. The columns are in :class:`Who`; staff
signed in are not donors, so the portal's pages send them to its sign-in form.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import select

from conservancy.donations.models import Donor, Frequency, Gift
from conservancy.projects.models import Campaign, Project
from conservancy.receipts.models import AnnualStatement, Receipt
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from conservancy.staff.permissions import CHANGES, READS, Area
from tests.factories import settled_gift


class Who(StrEnum):
    NOBODY = "nobody"
    DONOR = "donor signed in to the portal"  # not staff: staff pages treat them as nobody
    TREASURER = "treasurer of Twisted"
    OTHER_TREASURER = "treasurer of another project"
    MEMBER = "member of Twisted"  # files spending requests; sees none of the fund's pages
    AUDITOR = "auditor"
    BOOKKEEPER = "bookkeeper"
    ADMIN = "admin"


# An expected answer: a status code, SIGN_IN for a 303 to the staff sign-in page,
# PORTAL_SIGN_IN for a 303 to the portal's sign-in form (GET /portal, nothing more), or
# BACK_TO_GIFT for the portal's 303 back to a gift on the donor's page (/portal#donation-N).
SIGN_IN = "sign-in"
PORTAL_SIGN_IN = "portal sign-in"
BACK_TO_GIFT = "back to the gift"
Expected = int | str
STAFF_ROLES = {Who.AUDITOR: Role.AUDITOR, Who.BOOKKEEPER: Role.BOOKKEEPER, Who.ADMIN: Role.ADMIN}
# The donor who signs in, and another donor whose receipt, statement and gifts are asked for.
DONOR, OTHER_DONOR = "ada@example.org", "grace@example.org"


@dataclass(frozen=True)
class World:
    """The ids a path may name."""

    twisted: str = "twisted"
    other: str = "sugar"
    user_id: int = 0  # a treasurer of Twisted who is none of the signed-in users
    role_id: int = 0  # that user's role
    token: str = "x" * 43  # a one-time link that was never issued


# Each makes what some rows' paths name, once per matrix test (the projects Twisted and
# Sugar Labs exist by then), and returns the names to fill in: {"gift_id": 7}.
SETUPS: list[Callable[[Runtime], Mapping[str, object]]] = []


@dataclass(frozen=True)
class Row:
    rule: str  # as in app.url_map: "/admin/users/<int:user_id>"
    method: str
    path: str  # what to request; str.format()ted with a World's fields
    expect: Mapping[Who, Expected]
    data: Mapping[str, str] = field(default_factory=dict)
    # Rows are requested by ascending ``order``: 1 for a row that changes what others
    # use, 2 for one that signs the user out.
    order: int = 0


def everyone(status: Expected) -> dict[Who, Expected]:
    return dict.fromkeys(Who, status)


def public(status: Expected = 200, signed_in: Expected | None = None) -> dict[Who, Expected]:
    """A page for anyone; ``signed_in`` if it answers signed-in staff otherwise."""
    return {
        **everyone(status if signed_in is None else signed_in),
        Who.NOBODY: status,
        Who.DONOR: status,
    }


def signed_in(ok: Expected = 200) -> dict[Who, Expected]:
    """Any signed-in staff user."""
    return {**everyone(ok), Who.NOBODY: SIGN_IN, Who.DONOR: SIGN_IN}


def donor_only(ok: Expected = 200) -> dict[Who, Expected]:
    """A portal page for the signed-in donor; anyone else, staff too, is sent to sign in
    there (a staff session is not a donor's)."""
    return {**everyone(PORTAL_SIGN_IN), Who.DONOR: ok}


def staff_only(ok: Expected = 200) -> dict[Who, Expected]:
    """Sponsor staff; treasurers and members get 404."""
    return {
        Who.NOBODY: SIGN_IN,
        Who.DONOR: SIGN_IN,
        Who.TREASURER: 404,
        Who.OTHER_TREASURER: 404,
        Who.MEMBER: 404,
        Who.AUDITOR: ok,
        Who.BOOKKEEPER: ok,
        Who.ADMIN: ok,
    }


def reads(area: Area, ok: Expected = 200) -> dict[Who, Expected]:
    """Sponsor staff whose role reads ``area`` (permissions.READS); other staff 403."""
    return {
        **staff_only(ok),
        **{who: ok if area in READS[role] else 403 for who, role in STAFF_ROLES.items()},
    }


def changes(area: Area, ok: Expected = 200) -> dict[Who, Expected]:
    """Sponsor staff whose role changes ``area`` (permissions.CHANGES); other staff 403."""
    return {
        **staff_only(ok),
        **{
            who: ok if area in CHANGES.get(role, frozenset()) else 403
            for who, role in STAFF_ROLES.items()
        },
    }


def project_page(ok: Expected = 200) -> dict[Who, Expected]:
    """A page of the Twisted project: its treasurer and sponsor staff; another 404."""
    return {**staff_only(ok), Who.TREASURER: ok}


def other_project_page(ok: Expected = 200) -> dict[Who, Expected]:
    """A page of the project the Twisted treasurer is not treasurer of."""
    return {**staff_only(ok), Who.OTHER_TREASURER: ok}


RULES: list[Row] = [
    # -- sign-in and links (conservancy/web/staff/views.py) ------------------------------------
    Row("/sign-in", "GET", "/sign-in", public(200, signed_in=303)),
    Row("/sign-in", "POST", "/sign-in", everyone(400)),
    Row("/sign-in/code", "GET", "/sign-in/code", everyone(SIGN_IN)),
    Row("/sign-in/code", "POST", "/sign-in/code", everyone(SIGN_IN)),
    # No password waits for its second factor: back to the sign-in form.
    Row("/sign-in/security-key", "POST", "/sign-in/security-key", everyone(SIGN_IN)),
    Row("/sign-in/link/<token>", "GET", "/sign-in/link/{token}", everyone(400)),
    Row("/sign-in/link/<token>", "POST", "/sign-in/link/{token}", everyone(400)),
    Row("/password-reset", "GET", "/password-reset", everyone(200)),
    Row("/password-reset", "POST", "/password-reset", everyone(400)),
    Row("/password-reset/<token>", "GET", "/password-reset/{token}", everyone(400)),
    Row("/password-reset/<token>", "POST", "/password-reset/{token}", everyone(400)),
    Row("/sign-out", "POST", "/sign-out", everyone(303), order=2),
    # -- the user's own account ------------------------------------------------------------
    Row("/account/two-factor", "GET", "/account/two-factor", signed_in(200)),
    # Everyone in the matrix has two-factor sign-in on already: nothing to set up.
    Row("/account/two-factor", "POST", "/account/two-factor", signed_in(303)),
    # Everyone in the matrix has two-factor on: new recovery codes, shown once.
    Row(
        "/account/two-factor/recovery-codes",
        "POST",
        "/account/two-factor/recovery-codes",
        signed_in(200),
    ),
    # Security keys (issue 16, finding 10): with no data, the form's errors (400); a key
    # that is not the user's own is not found, whoever asks.
    Row(
        "/account/two-factor/security-keys",
        "POST",
        "/account/two-factor/security-keys",
        signed_in(400),
    ),
    Row(
        "/account/two-factor/security-keys/<int:key_id>/remove",
        "POST",
        "/account/two-factor/security-keys/999999/remove",
        signed_in(404),
    ),
    Row("/account/password", "GET", "/account/password", signed_in(200)),
    Row("/account/password", "POST", "/account/password", signed_in(400)),
    # -- treasurers' projects -----------------------------------------------------------------
    Row("/treasurer/", "GET", "/treasurer/", signed_in(200)),
    # -- the sponsor's pages (conservancy/web/staff/admin.py) -----------------------------------
    Row("/admin/", "GET", "/admin/", staff_only(200)),
    Row("/admin/users", "GET", "/admin/users", reads(Area.USERS)),
    Row("/admin/users", "POST", "/admin/users", changes(Area.USERS, ok=400)),
    Row("/admin/users/<int:user_id>", "GET", "/admin/users/{user_id}", reads(Area.USERS)),
    Row(
        "/admin/users/<int:user_id>/roles",
        "POST",
        "/admin/users/{user_id}/roles",
        changes(Area.USERS, ok=400),
    ),
    Row(
        "/admin/users/<int:user_id>/roles/<int:role_id>/remove",
        "POST",
        "/admin/users/{user_id}/roles/{role_id}/remove",
        # An admin removes the role: that row goes last, so no other row depends on it.
        changes(Area.USERS, ok=303),
        order=1,
    ),
    Row(
        "/admin/users/<int:user_id>/active",
        "POST",
        "/admin/users/{user_id}/active",
        changes(Area.USERS, ok=400),
    ),
    Row(
        "/admin/users/<int:user_id>/link",
        "POST",
        "/admin/users/{user_id}/link",
        changes(Area.USERS, ok=400),
    ),
    Row(
        "/admin/users/<int:user_id>/two-factor/reset",
        "POST",
        "/admin/users/{user_id}/two-factor/reset",
        changes(Area.USERS, ok=303),
    ),
    Row("/admin/audit", "GET", "/admin/audit", reads(Area.AUDIT)),
]
# -- the sponsor's money pages (conservancy/web/staff/money.py, conservancy/web/staff/files.py) ----
# The matrix's world has no gift or expense: those addresses name one that does not exist,
# so a user who is let in gets 404 (no such gift) and one who is not gets what the rules say
# before anything is looked up. tests/admin/ asks them of real gifts and expenses.
RULES += [
    Row("/admin/gifts", "GET", "/admin/gifts", reads(Area.GIFTS)),
    Row("/admin/gifts/<int:gift_id>", "GET", "/admin/gifts/999999", reads(Area.GIFTS, ok=404)),
    Row(
        "/admin/gifts/<int:gift_id>/refund",
        "POST",
        "/admin/gifts/999999/refund",
        changes(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/gifts/<int:gift_id>/match",
        "POST",
        "/admin/gifts/999999/match",
        changes(Area.GIFTS, ok=404),
    ),
    Row("/admin/gifts/offline", "GET", "/admin/gifts/offline", reads(Area.GIFTS)),
    Row("/admin/gifts/offline", "POST", "/admin/gifts/offline", changes(Area.GIFTS, ok=400)),
    Row(
        "/admin/receipts/<number>.pdf",
        "GET",
        "/admin/receipts/2026-999999.pdf",
        reads(Area.GIFTS, ok=404),
    ),
    Row("/admin/expenses", "GET", "/admin/expenses", reads(Area.BOOKS)),
    Row("/admin/expenses", "POST", "/admin/expenses", changes(Area.BOOKS, ok=400)),
    Row(
        "/admin/expenses/<int:expense_id>",
        "GET",
        "/admin/expenses/999999",
        reads(Area.BOOKS, ok=404),
    ),
    Row(
        "/admin/expenses/<int:expense_id>/invoice",
        "GET",
        "/admin/expenses/999999/invoice",
        reads(Area.BOOKS, ok=404),
    ),
    Row("/admin/projects", "GET", "/admin/projects", reads(Area.PROJECTS)),
    Row("/admin/projects/<slug>", "GET", "/admin/projects/{twisted}", reads(Area.PROJECTS)),
    Row(
        "/admin/projects/<slug>",
        "POST",
        "/admin/projects/{twisted}",
        changes(Area.PROJECTS, ok=400),
    ),
    Row(
        "/admin/projects/<slug>/logo",
        "POST",
        "/admin/projects/{twisted}/logo",
        changes(Area.PROJECTS, ok=400),
    ),
    Row(
        "/admin/projects/<slug>/campaigns",
        "POST",
        "/admin/projects/{twisted}/campaigns",
        changes(Area.PROJECTS, ok=400),
    ),
    # {campaign_id} is Twisted's (the SETUP below): asked through another project, it is
    # not found, by whoever may look.
    Row(
        "/admin/projects/<slug>/campaigns/<int:campaign_id>",
        "GET",
        "/admin/projects/{twisted}/campaigns/{campaign_id}",
        reads(Area.PROJECTS),
    ),
    Row(
        "/admin/projects/<slug>/campaigns/<int:campaign_id>",
        "GET",
        "/admin/projects/{other}/campaigns/{campaign_id}",
        reads(Area.PROJECTS, ok=404),
    ),
    Row(
        "/admin/projects/<slug>/campaigns/<int:campaign_id>",
        "POST",
        "/admin/projects/{twisted}/campaigns/{campaign_id}",
        changes(Area.PROJECTS, ok=400),
    ),
    Row(
        "/admin/projects/<slug>/campaigns/<int:campaign_id>",
        "POST",
        "/admin/projects/{other}/campaigns/{campaign_id}",
        changes(Area.PROJECTS, ok=404),
    ),
    Row("/admin/ledger", "GET", "/admin/ledger", reads(Area.BOOKS)),
    # The year-end package (conservancy.web.staff.reports).
    Row("/admin/reports/year-end", "GET", "/admin/reports/year-end", reads(Area.REPORTS)),
    Row(
        "/admin/reports/year-end/<int:year>.zip",
        "GET",
        "/admin/reports/year-end/2026.zip",
        reads(Area.REPORTS),
    ),
    Row(
        "/treasurer/<slug>/expenses/<int:expense_id>/invoice",
        "GET",
        "/treasurer/{twisted}/expenses/999999/invoice",
        project_page(ok=404),
    ),
]


def _twisted_campaign(rt: Runtime) -> Mapping[str, object]:
    """A campaign of Twisted, for the campaign pages' rows."""
    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        campaign = Campaign(
            project_id=twisted.id,
            name="Twisted 25",
            goal_minor=50000,
            currency=twisted.currency,
            starts_on=date(2026, 1, 1),
            ends_on=date(2026, 12, 31),
        )
        session.add(campaign)
        session.commit()
        return {"campaign_id": campaign.id}


SETUPS.append(_twisted_campaign)

# -- reconciliation with Stripe (conservancy/web/staff/reconcile.py) -------------------------------
# Without a period the page is only its form, and a POST without one comes back with the
# form's errors (400) before Stripe is asked: authorization passed.
RULES += [
    Row("/admin/reconcile", "GET", "/admin/reconcile", reads(Area.BOOKS)),
    Row("/admin/reconcile", "POST", "/admin/reconcile", changes(Area.BOOKS, ok=400)),
]

# -- bank reconciliation (conservancy/web/staff/bank.py) -------------------------------------------
# An upload without its file comes back with the error by the field (400), and a decision for a
# line that does not exist is 404: authorization passed. Matching again with nothing imported
# matches nothing and shows the page again (303).
RULES += [
    Row("/admin/bank", "GET", "/admin/bank", reads(Area.BOOKS)),
    Row("/admin/bank/import", "POST", "/admin/bank/import", changes(Area.BOOKS, ok=400)),
    Row(
        "/admin/bank/lines/<int:line_id>",
        "POST",
        "/admin/bank/lines/999999",
        changes(Area.BOOKS, ok=404),
    ),
    Row(
        "/admin/bank/lines/<int:line_id>/match",
        "POST",
        "/admin/bank/lines/999999/match",
        changes(Area.BOOKS, ok=404),
    ),
    Row(
        "/admin/bank/lines/<int:line_id>/unmatch",
        "POST",
        "/admin/bank/lines/999999/unmatch",
        changes(Area.BOOKS, ok=404),
    ),
    Row("/admin/bank/rematch", "POST", "/admin/bank/rematch", changes(Area.BOOKS, ok=303)),
]

# -- treasurer pages (conservancy/web/treasurer/views.py) ----------------------------------------
RULES += [
    Row(route, "GET", path.format(slug=slug), rule)
    for route, path, ok in [
        ("/treasurer/<slug>/", "/treasurer/{slug}/", 200),
        ("/treasurer/<slug>/transactions", "/treasurer/{slug}/transactions", 200),
        ("/treasurer/<slug>/donors", "/treasurer/{slug}/donors", 200),
        # No such receipt: the project's copy is not found, once authorization passed.
        (
            "/treasurer/<slug>/receipts/<number>.pdf",
            "/treasurer/{slug}/receipts/2026-999999.pdf",
            404,
        ),
        # Without a period the form comes back with its errors: authorization passed.
        ("/treasurer/<slug>/statement", "/treasurer/{slug}/statement", 400),
    ]
    for slug, rule in [("{twisted}", project_page(ok)), ("{other}", other_project_page(ok))]
]

# Corporate sponsorships (issue 8): levels are project settings, invoices are gifts'.
RULES += [
    Row("/admin/sponsorships", "GET", "/admin/sponsorships", reads(Area.GIFTS)),
    Row(
        "/admin/sponsorships/levels",
        "POST",
        "/admin/sponsorships/levels",
        changes(Area.PROJECTS, ok=400),
    ),
    Row("/admin/sponsorships/aging", "GET", "/admin/sponsorships/aging", reads(Area.GIFTS)),
    Row(
        "/admin/sponsorships/invoices/<number>",
        "GET",
        "/admin/sponsorships/invoices/INV-2026-9999",
        reads(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/invoices/<number>/<any(invoice, acknowledgement):kind>.pdf",
        "GET",
        "/admin/sponsorships/invoices/INV-2026-9999/invoice.pdf",
        reads(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/invoices/<number>/payment",
        "POST",
        "/admin/sponsorships/invoices/INV-2026-9999/payment",
        changes(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/invoices/<number>/void",
        "POST",
        "/admin/sponsorships/invoices/INV-2026-9999/void",
        changes(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/invoices/<number>/refund",
        "POST",
        "/admin/sponsorships/invoices/INV-2026-9999/refund",
        changes(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/invoices/<number>/stop-renewal",
        "POST",
        "/admin/sponsorships/invoices/INV-2026-9999/stop-renewal",
        changes(Area.GIFTS, ok=404),
    ),
    # A company's request from the public form: approving issues its invoice.
    Row(
        "/admin/sponsorships/requests/<int:request_id>",
        "GET",
        "/admin/sponsorships/requests/999999",
        reads(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/requests/<int:request_id>/approve",
        "POST",
        "/admin/sponsorships/requests/999999/approve",
        changes(Area.GIFTS, ok=404),
    ),
    Row(
        "/admin/sponsorships/requests/<int:request_id>/decline",
        "POST",
        "/admin/sponsorships/requests/999999/decline",
        changes(Area.GIFTS, ok=404),
    ),
]

# -- public pages (conservancy/web/public/pages.py, donate.py, sponsor.py, api.py, files.py) -------
# Anyone may ask; a form sent empty comes back with its errors (400): nothing to refuse.
# A sponsorship invoice's public address goes by a token: one never issued is not found.
RULES += [
    Row("/", "GET", "/", everyone(200)),
    Row("/ways-to-give", "GET", "/ways-to-give", everyone(200)),
    Row("/healthz", "GET", "/healthz", everyone(200)),
    Row("/static/<path:filename>", "GET", "/static/site.css", everyone(200)),
    Row("/media/logos/<name>", "GET", "/media/logos/no-such-logo.png", everyone(404)),
    Row("/donate/<slug>", "GET", "/donate/{twisted}", everyone(200)),
    Row("/donate/<slug>", "POST", "/donate/{twisted}", everyone(400)),
    # Without a checkout session it thanks no one: the same 404 for everyone.
    Row("/donate/<slug>/thanks", "GET", "/donate/{twisted}/thanks", everyone(404)),
    Row("/donate/<slug>/ways-to-give", "GET", "/donate/{twisted}/ways-to-give", everyone(200)),
    Row("/projects/<slug>", "GET", "/projects/{twisted}", everyone(200)),
    Row("/donate/<slug>/sponsor", "GET", "/donate/{twisted}/sponsor", everyone(200)),
    Row("/donate/<slug>/sponsor", "POST", "/donate/{twisted}/sponsor", everyone(400)),
    Row(
        "/donate/<slug>/sponsor/<token>",
        "GET",
        "/donate/{twisted}/sponsor/{token}",
        everyone(404),
    ),
    Row(
        "/donate/<slug>/sponsor/<token>/pay",
        "POST",
        "/donate/{twisted}/sponsor/{token}/pay",
        everyone(404),
    ),
    Row(
        "/api/v1/projects/<slug>/summary",
        "GET",
        "/api/v1/projects/{twisted}/summary",
        everyone(200),
    ),
    Row(
        "/api/v1/projects/<slug>/button.svg",
        "GET",
        "/api/v1/projects/{twisted}/button.svg",
        everyone(200),
    ),
    # Stripe signs its requests: one without a valid signature is refused, whoever sends it.
    Row("/stripe/webhook", "POST", "/stripe/webhook", everyone(400)),
]

# -- the donor portal (conservancy/web/portal/views.py) --------------------------------------------
# The donor (DONOR) has a one-time gift with its receipt, a monthly gift still running at
# Stripe, and a statement for 2026; the other donor (OTHER_DONOR) a gift with its receipt and
# a statement for 2025 only. The donor's own things answer; the other's are not found (404)
# however they are asked for. Anyone not signed in to the portal, staff included, is sent
# to its sign-in form.
RULES += [
    # The sign-in form for anyone else, the donor's own page for the donor.
    Row("/portal", "GET", "/portal", everyone(200)),
    Row("/portal/sign-in", "POST", "/portal/sign-in", everyone(400)),
    Row("/portal/sign-in/<token>", "GET", "/portal/sign-in/{token}", everyone(400)),
    Row("/portal/sign-in/<token>", "POST", "/portal/sign-in/{token}", everyone(400)),
    Row("/portal/sign-out", "POST", "/portal/sign-out", everyone(303), order=2),
    Row(
        "/portal/receipts/<number>.pdf",
        "GET",
        "/portal/receipts/{donor_receipt}.pdf",
        donor_only(200),
    ),
    Row(
        "/portal/receipts/<number>.pdf",
        "GET",
        "/portal/receipts/{other_donor_receipt}.pdf",
        donor_only(404),
    ),
    Row("/portal/statements/<int:year>.pdf", "GET", "/portal/statements/2026.pdf", donor_only()),
    Row(
        "/portal/statements/<int:year>.pdf",
        "GET",
        "/portal/statements/2025.pdf",
        donor_only(404),
    ),
    Row(
        "/portal/donations/<int:donation_id>/visibility",
        "POST",
        "/portal/donations/{donor_gift}/visibility",
        donor_only(BACK_TO_GIFT),
        data={"visibility": "anonymous"},
    ),
    Row(
        "/portal/donations/<int:donation_id>/visibility",
        "POST",
        "/portal/donations/{other_donor_gift}/visibility",
        donor_only(404),
        data={"visibility": "anonymous"},
    ),
    # A one-time gift has no amount to change: refused with a message by the field.
    Row(
        "/portal/donations/<int:donation_id>/amount",
        "POST",
        "/portal/donations/{donor_gift}/amount",
        donor_only(400),
        data={"amount": "1.00"},
    ),
    Row(
        "/portal/donations/<int:donation_id>/amount",
        "POST",
        "/portal/donations/{other_donor_gift}/amount",
        donor_only(404),
        data={"amount": "1.00"},
    ),
    Row(
        "/portal/donations/<int:donation_id>/cancel",
        "GET",
        "/portal/donations/{donor_monthly}/cancel",
        donor_only(200),
    ),
    Row(
        "/portal/donations/<int:donation_id>/cancel",
        "GET",
        "/portal/donations/{other_donor_gift}/cancel",
        donor_only(404),
    ),
    # Cancelling the one-time gift is refused (nothing runs at Stripe): 400, before Stripe.
    Row(
        "/portal/donations/<int:donation_id>/cancel",
        "POST",
        "/portal/donations/{donor_gift}/cancel",
        donor_only(400),
    ),
    Row(
        "/portal/donations/<int:donation_id>/cancel",
        "POST",
        "/portal/donations/{other_donor_gift}/cancel",
        donor_only(404),
    ),
    # A one-time gift has no card to update: back to it, with the message, before Stripe.
    Row(
        "/portal/donations/<int:donation_id>/card",
        "POST",
        "/portal/donations/{donor_gift}/card",
        donor_only(BACK_TO_GIFT),
    ),
    Row(
        "/portal/donations/<int:donation_id>/card",
        "POST",
        "/portal/donations/{other_donor_gift}/card",
        donor_only(404),
    ),
]


def _donors(rt: Runtime) -> Mapping[str, object]:
    """The two donors' gifts, receipts and statements, for the portal's rows."""
    donor_gift = settled_gift(rt, email=DONOR, name="Ada Lovelace")
    donor_monthly = settled_gift(rt, email=DONOR, name="Ada Lovelace", frequency=Frequency.MONTHLY)
    other_gift = settled_gift(rt, email=OTHER_DONOR, name="Grace Hopper")
    names: dict[str, object] = {}
    with rt.sessions() as session:
        for key, gift_id in [("donor", donor_gift), ("other_donor", other_gift)]:
            gift = session.get(Gift, gift_id)
            assert gift is not None
            names[f"{key}_gift"] = gift.donation_id
            [receipt] = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).all()
            receipt.pdf_path = _stored_pdf(rt, f"receipts/matrix/{receipt.number}.pdf")
            names[f"{key}_receipt"] = receipt.number
        monthly = session.get(Gift, donor_monthly)
        assert monthly is not None
        monthly.donation.stripe_subscription_id = "sub_matrix"  # running at Stripe
        names["donor_monthly"] = monthly.donation_id
        for address, year in [(DONOR, 2026), (OTHER_DONOR, 2025)]:
            donor = session.scalars(select(Donor).where(Donor.email == address)).one()
            relative = _stored_pdf(rt, f"statements/matrix/{year}-{donor.id}.pdf")
            session.add(
                AnnualStatement(
                    donor_id=donor.id,
                    year=year,
                    gift_count=1,
                    totals={"USD": {"amount": 10000, "deductible": 10000}},
                    issued_at=datetime(year + 1, 1, 15, tzinfo=UTC),
                    pdf_path=relative,
                    pdf_sha256=hashlib.sha256(b"%PDF-1.7").hexdigest(),
                )
            )
        session.commit()
    return names


def _stored_pdf(rt: Runtime, relative: str) -> str:
    path = rt.settings.receipts_dir / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"%PDF-1.7")
    return relative


SETUPS.append(_donors)


# -- spending requests (issue 21: conservancy/web/treasurer/spending.py, web/staff/spending.py)
# A request of Twisted filed by another member than the matrix's, with a receipt on line 1:
# the matrix's member sees the project's list and files, but not this request.


def _spending_request(rt: Runtime) -> Mapping[str, object]:
    from conservancy.expenses.models import RequestKind
    from conservancy.expenses.requests import LineAsked, RequestAsked, file_request
    from conservancy.infra.config import SpendingPolicy
    from conservancy.kernel import clock
    from conservancy.money import Currency, Money
    from conservancy.staff.permissions import Staff
    from conservancy.staff.service import add_user
    from tests.admin.files import pdf

    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        added = add_user(
            session, "test", email="requester@example.org", role=Role.MEMBER, project="twisted"
        )
        made = file_request(
            session,
            Staff.of(added.user),
            twisted,
            RequestAsked(
                kind=RequestKind.REIMBURSEMENT,
                payee="Requester",
                purpose="A sprint",
                lines=(
                    LineAsked(
                        category="Travel",
                        description="Bus",
                        spent_on=clock.today(rt.settings.timezone),
                        amount=Money.parse("12.00", Currency.USD),
                        receipt=pdf(),
                    ),
                ),
            ),
            policy=SpendingPolicy(),
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
        return {"request_id": made.id, "member_id": added.user.id}


SETUPS.append(_spending_request)


def project_people(ok: Expected = 200, *, member: Expected = 200) -> dict[Who, Expected]:
    """A spending page of Twisted: its treasurer and sponsor staff; its member as
    ``member``; another project's treasurer 404."""
    return {**project_page(ok), Who.MEMBER: member}


def filers(ok: Expected = 200) -> dict[Who, Expected]:
    """Filing a request for Twisted: its member and treasurer; not the sponsor's staff."""
    return {**staff_only(404), Who.TREASURER: ok, Who.MEMBER: ok}


RULES += [
    Row("/projects/<slug>/expenses/", "GET", "/projects/{twisted}/expenses/", project_people()),
    Row(
        "/projects/<slug>/expenses/",
        "GET",
        "/projects/{other}/expenses/",
        {**other_project_page(), Who.MEMBER: 404},
    ),
    Row("/projects/<slug>/expenses/new", "GET", "/projects/{twisted}/expenses/new", filers()),
    Row(
        "/projects/<slug>/expenses/new",
        "GET",
        "/projects/{other}/expenses/new",
        {**staff_only(404), Who.OTHER_TREASURER: 200},  # Twisted's people do not file there
    ),
    Row("/projects/<slug>/expenses/new", "POST", "/projects/{twisted}/expenses/new", filers(400)),
    Row(
        "/projects/<slug>/expenses/<int:request_id>",
        "GET",
        "/projects/{twisted}/expenses/{request_id}",
        project_people(member=404),  # another member's request
    ),
    Row(
        "/projects/<slug>/expenses/<int:request_id>/decision",
        "POST",
        "/projects/{twisted}/expenses/{request_id}/decision",
        {**staff_only(404), Who.TREASURER: 400},  # the project's treasurer alone decides
    ),
    Row(
        "/projects/<slug>/expenses/<int:request_id>/receipts/<int:position>",
        "GET",
        "/projects/{twisted}/expenses/{request_id}/receipts/1",
        project_people(member=404),
    ),
    Row("/admin/spending/", "GET", "/admin/spending/", reads(Area.SPENDING)),
    Row(
        "/admin/spending/<int:request_id>",
        "GET",
        "/admin/spending/{request_id}",
        reads(Area.SPENDING),
    ),
    Row(
        "/admin/spending/<int:request_id>/decision",
        "POST",
        "/admin/spending/{request_id}/decision",
        changes(Area.SPENDING, ok=400),
    ),
    Row(
        "/admin/spending/<int:request_id>/receipts/<int:position>",
        "GET",
        "/admin/spending/{request_id}/receipts/1",
        reads(Area.SPENDING),
    ),
]

# Paying them: the requester's own payment details (whoever files requests), and the
# sponsor's runs (no run exists: found or not is answered once authorization passed).
RULES += [
    Row(
        "/account/payment-details",
        "GET",
        "/account/payment-details",
        {**staff_only(404), Who.TREASURER: 200, Who.OTHER_TREASURER: 200, Who.MEMBER: 200},
    ),
    Row(
        "/account/payment-details",
        "POST",
        "/account/payment-details",
        {**staff_only(404), Who.TREASURER: 400, Who.OTHER_TREASURER: 400, Who.MEMBER: 400},
    ),
    Row("/admin/spending/payments", "GET", "/admin/spending/payments", reads(Area.SPENDING)),
    Row(
        "/admin/spending/payments",
        "POST",
        "/admin/spending/payments",
        changes(Area.SPENDING, ok=400),
    ),
    Row(
        "/admin/spending/runs/<int:run_id>",
        "GET",
        "/admin/spending/runs/999999",
        reads(Area.SPENDING, ok=404),
    ),
    Row(
        "/admin/spending/runs/<int:run_id>/paid",
        "POST",
        "/admin/spending/runs/999999/paid",
        changes(Area.SPENDING, ok=404),
    ),
    # The ACH file holds whole account numbers: those who pay, not auditors.
    Row(
        "/admin/spending/runs/<int:run_id>/ach.txt",
        "GET",
        "/admin/spending/runs/999999/ach.txt",
        changes(Area.SPENDING, ok=404),
    ),
    Row(
        "/admin/spending/runs/<int:run_id>/wires.txt",
        "GET",
        "/admin/spending/runs/999999/wires.txt",
        changes(Area.SPENDING, ok=404),
    ),
    Row(
        "/admin/spending/runs/<int:run_id>/register.csv",
        "GET",
        "/admin/spending/runs/999999/register.csv",
        reads(Area.SPENDING, ok=404),
    ),
]

# A project's treasurer invites its members (conservancy/web/treasurer/spending.py).
RULES += [
    Row(
        "/projects/<slug>/expenses/members",
        "GET",
        "/projects/{twisted}/expenses/members",
        {**staff_only(404), Who.TREASURER: 200},
    ),
    Row(
        "/projects/<slug>/expenses/members",
        "POST",
        "/projects/{twisted}/expenses/members",
        {**staff_only(404), Who.TREASURER: 400},
    ),
]

RULES += [
    # The project's treasurer takes the role from its member (the other rows do not need it).
    Row(
        "/projects/<slug>/expenses/members/<int:user_id>/remove",
        "POST",
        "/projects/{twisted}/expenses/members/{member_id}/remove",
        {**staff_only(404), Who.TREASURER: 303},
        order=1,
    ),
]
