"""Every page of the site, in a browser, at a phone's width and a desktop's: nothing runs off
the side of the screen, and axe-core finds nothing wrong for people using assistive
technology.

"Every page" is the app's own list of addresses: each one that answers GET is either
visited here, by someone allowed to see it, or named in NOT_PAGES with the reason. A page
added later fails this test until it is in one or the other. (The demo's own pages,
/demo/books and /demo/mail, exist only in the demo, so not in this app.)
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Donation, Frequency, Visibility
from conservancy.kernel import clock
from conservancy.projects.models import Campaign, Project
from conservancy.runtime import Runtime
from conservancy.staff.models import StaffUser
from tests import factories
from tests.admin.pages import signed_in
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.giving.conftest import LiveServer
from tests.integration.movements import an_invoice_pdf
from tests.portal.donor import sign_in as donor_signs_in
from tests.sponsorships.sponsors import gold_level, invoice, requested, signed_up

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

WIDTHS = (390, 1280)  # a phone held upright; a laptop
SHOTS = os.environ.get("CONSERVANCY_SCREENSHOTS")

# Addresses that answer GET but draw no page of ours to look at.
NOT_PAGES = {
    "static": "style sheets",
    "files.logo": "a project's logo image",
    "files.treasurer_invoice": "an expense's invoice file",
    "admin_money.invoice": "an expense's invoice file",
    "admin_money.receipt_pdf": "a PDF",
    "admin_sponsorships.pdf": "a PDF",
    "admin_reports.download": "a zip file",
    "portal.receipt_pdf": "a PDF",
    "portal.statement_pdf": "a PDF",
    "treasurer.receipt_copy": "a PDF",
    "spending.receipt": "a spending request's receipt file",
    "staff_spending.receipt": "a spending request's receipt file",
    "staff_spending.ach": "a payment run's ACH file",
    "staff_spending.register": "a payment run's CSV",
    "staff_spending.wires": "a payment run's wire instructions, text",
    "api.button": "an SVG image",
    "api.summary": "JSON",
    "public.healthz": "JSON",
}


# The innermost elements whose right edge is past the screen's: what to fix.
STICKING_OUT = """
(() => {
  const width = document.documentElement.clientWidth;
  const out = [...document.querySelectorAll("body *")].filter(
    (e) => e.getBoundingClientRect().right > width + 1);
  const innermost = out.filter((e) => !out.some((o) => o !== e && e.contains(o)));
  return innermost.slice(0, 3).map((e) => e.tagName.toLowerCase()
    + (e.className ? "." + String(e.className).split(" ").join(".") : "")
    + " '" + e.textContent.trim().slice(0, 30) + "'").join("; ");
})()
"""


@dataclass(frozen=True)
class Site:
    """The books every page is looked at with, and the addresses each person opens."""

    anyone: list[str]
    donor: list[str]
    treasurer: list[str]
    admin: list[str]


def _books(rt: Runtime) -> dict[str, Any]:
    """A project with some of everything its pages show: one-off, recurring and anonymous
    gifts, a refund and a cheque, an expense, a campaign, a sponsorship asked for and one
    invoiced. Returns the ids the addresses need."""
    factories.with_project(rt)
    gift = factories.settled_gift(rt)
    factories.settled_gift(
        rt, email="ada@example.org", amount="10.00", fee="0.59", frequency=Frequency.MONTHLY
    )
    factories.settled_gift(
        rt, email="grace@example.org", name="Grace Hopper", visibility=Visibility.ANONYMOUS
    )
    factories.refund(rt, gift, "20.00", "re_every_page")
    factories.cheque(rt, "Charles Babbage", "250.00", date(2026, 3, 2), address="1 Engine Way")
    level = gold_level(rt)
    asked = requested(rt, level, "Initech LLC")
    number = signed_up(rt, level)
    paid = factories.expense(rt, invoice=an_invoice_pdf())
    spending = _spending_request(rt)
    run = _payment_run(rt)
    _bank_statement(rt)
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        recurring = session.scalars(
            select(Donation).where(Donation.frequency == Frequency.MONTHLY)
        ).one()
        recurring.stripe_subscription_id = "sub_every_page"
        recurring.stripe_customer_id = "cus_every_page"
        recurring.next_payment_on = date(2026, 4, 1)
        campaign = Campaign(
            project=project,
            name="The fund drive",
            goal_minor=50_000_00,
            starts_on=date(2026, 3, 1),
            ends_on=date(2026, 3, 1) + timedelta(days=60),
        )
        session.add(campaign)
        session.commit()
        ids = {
            "gift": gift,
            "donation": recurring.id,
            "campaign": campaign.id,
            "expense": paid,
            "request": asked,
            "number": number,
            "token": invoice(rt, number).public_token,
            "spending": spending,
            "run": run,
        }
    rt.post_ledger()
    return ids


def _spending_request(rt: Runtime) -> int:
    """A reimbursement a member of Twisted asked for, with a receipt on its first line."""
    from conservancy.expenses.models import RequestKind
    from conservancy.expenses.requests import LineAsked, RequestAsked, file_request
    from conservancy.staff.models import Role
    from conservancy.staff.permissions import Staff
    from conservancy.staff.service import add_user

    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        member = add_user(
            session, "test", email="grace@twisted.example", role=Role.MEMBER, project="twisted"
        ).user
        made = file_request(
            session,
            Staff.of(member),
            twisted,
            RequestAsked(
                kind=RequestKind.REIMBURSEMENT,
                payee="Grace Hopper",
                purpose="Talk on Twisted at PyCon US",
                lines=(
                    LineAsked(
                        "Travel",
                        "Train",
                        clock.today(rt.settings.timezone),
                        factories.usd("120.00"),
                        an_invoice_pdf(),
                    ),
                    LineAsked(
                        "Meals", "Lunch", clock.today(rt.settings.timezone), factories.usd("18.50")
                    ),
                ),
            ),
            policy=rt.settings.spending,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
        return made.id


def _bank_statement(rt: Runtime) -> None:
    """March's statement imported: the bank's fee waiting, and the cheque's deposit too,
    its match undone, with the cheque offered to match it to."""
    from conservancy.bank import service
    from conservancy.bank.models import BankLine
    from conservancy.bank.statement import Statement, StatementLine
    from conservancy.money import Currency, Money
    from conservancy.staff.audit import COMMAND_LINE
    from tests.bank.statements import to_ofx

    usd = Money.parse
    lines = (
        StatementLine("M-1", date(2026, 3, 3), usd("250.00", "USD"), "", "DEPOSIT 1 ITEM"),
        StatementLine("M-2", date(2026, 3, 31), -usd("12.00", "USD"), "", "MONTHLY SERVICE FEE"),
    )
    statement = Statement(
        "",
        "000123456789",
        Currency.USD,
        date(2026, 3, 1),
        date(2026, 3, 31),
        usd("0.00", "USD"),
        usd("238.00", "USD"),
        lines,
    )
    with rt.sessions() as session:
        service.import_statement(
            session,
            rt.books.index,
            rt.settings.bank_accounts[0],
            to_ofx(statement),
            file_name="march.ofx",
            actor=COMMAND_LINE,
            today=clock.today(rt.settings.timezone),
        )
        # The deposit's match undone: the page offers the cheque to match it to by hand.
        deposit = session.scalars(select(BankLine).where(BankLine.bank_id == "M-1")).one()
        service.unmatch(session, deposit.id, actor=COMMAND_LINE)
        session.commit()


def _payment_run(rt: Runtime) -> int:
    """A cheque run of one request of Twisted's member, endorsed and approved."""
    from conservancy.expenses import payees, payments, requests
    from conservancy.expenses.models import PayMethod, SpendingRequest
    from conservancy.staff.models import Role
    from conservancy.staff.permissions import Staff
    from conservancy.staff.service import add_user, find_user

    with rt.sessions() as session:
        member = find_user(session, "grace@twisted.example")
        assert member is not None
        grace = Staff.of(member)
        payees.save_details(
            session,
            grace,
            payees.DetailsAsked(
                legal_name="Grace B. Hopper",
                tax_class="individual",
                tin_kind="ssn",
                tin="987-65-4321",
                address="1 Navy Yard\nArlington, VA 22202",
                method="cheque",
                certified=True,
            ),
            keys=payees.PayeeKeys.of(rt.settings),
            today=clock.today(rt.settings.timezone),
        )
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        asked = requests.RequestAsked(
            kind=requests.RequestKind.REIMBURSEMENT,
            payee="Grace Hopper",
            purpose="Printing for the sprint",
            lines=(
                requests.LineAsked(
                    "Printing", "Flyers", clock.today(rt.settings.timezone), factories.usd("9.00")
                ),
            ),
        )
        request = requests.file_request(
            session,
            grace,
            twisted,
            asked,
            policy=rt.settings.spending,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        treasurer = add_user(
            session, "test", email="glyph@twisted.example", role=Role.TREASURER, project="twisted"
        ).user
        books = add_user(session, "test", email="books@sponsor.example", role=Role.BOOKKEEPER).user
        requests.endorse(session, Staff.of(treasurer), request, approve=True, comment="")
        session.commit()
        request = session.get(SpendingRequest, request.id)
        assert request is not None
        requests.approve(
            session,
            Staff.of(books),
            request,
            policy=rt.settings.spending,
            books=rt.books,
            tz=rt.settings.timezone,
        )
        run = payments.prepare_run(session, Staff.of(books), PayMethod.CHEQUE, [request.id])
        session.commit()
        return run.id


def _site(ids: dict[str, Any], admin_id: int) -> Site:
    twisted = "/donate/twisted"
    return Site(
        anyone=[
            "/",
            "/ways-to-give",
            twisted,
            f"{twisted}/sponsor",
            f"{twisted}/sponsor/{ids['token']}",
            f"{twisted}/thanks",
            f"{twisted}/ways-to-give",
            "/projects/twisted",
            "/portal",
            "/portal/sign-in/not-a-real-link",
            "/sign-in",
            "/sign-in/code",
            "/sign-in/link/not-a-real-link",
            "/password-reset",
            "/password-reset/not-a-real-link",
        ],
        donor=["/portal", f"/portal/donations/{ids['donation']}/cancel"],
        treasurer=[
            "/treasurer/",
            "/treasurer/twisted/",
            "/treasurer/twisted/donors",
            "/treasurer/twisted/transactions",
            "/treasurer/twisted/statement",
            "/projects/twisted/expenses/",
            "/projects/twisted/expenses/new",
            f"/projects/twisted/expenses/{ids['spending']}",
            "/account/payment-details",
            "/projects/twisted/expenses/members",
        ],
        admin=[
            "/admin/",
            "/admin/audit",
            "/admin/bank",
            "/admin/expenses",
            f"/admin/expenses/{ids['expense']}",
            "/admin/gifts",
            "/admin/gifts?q=Ada",
            f"/admin/gifts/{ids['gift']}",
            "/admin/gifts/offline",
            "/admin/ledger",
            "/admin/projects",
            "/admin/projects/twisted",
            f"/admin/projects/twisted/campaigns/{ids['campaign']}",
            "/admin/reconcile",
            "/admin/reports/year-end",
            "/admin/spending/",
            f"/admin/spending/{ids['spending']}",
            "/admin/spending/payments",
            f"/admin/spending/runs/{ids['run']}",
            "/admin/sponsorships",
            "/admin/sponsorships/aging",
            f"/admin/sponsorships/invoices/{ids['number']}",
            f"/admin/sponsorships/requests/{ids['request']}",
            "/admin/users",
            f"/admin/users/{admin_id}",
            "/account/password",
            "/account/two-factor",
        ],
    )


def _endpoints_visited(app: Flask, site: Site) -> set[str]:
    adapter = app.url_map.bind("localhost")
    seen = set()
    for path in (*site.anyone, *site.donor, *site.treasurer, *site.admin):
        endpoint, _ = adapter.match(path.split("?")[0], method="GET")
        seen.add(endpoint)
    return seen


@pytest.fixture
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    pytest.importorskip("axe_playwright_python")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def _look(
    browser: Any, live: LiveServer, who: str, client: FlaskClient | None, paths: list[str]
) -> list[str]:
    """Open each page at each width, as ``who``, whom ``client`` is signed in as; what is
    wrong. With CONSERVANCY_SCREENSHOTS set to a folder, each page is saved there too, to
    look at."""
    from axe_playwright_python.sync_playwright import Axe

    found = []
    for width in WIDTHS:
        context = browser.new_context(viewport={"width": width, "height": 900})
        # axe-core goes into every page as it loads (the browser's doing, which the pages'
        # script policy does not govern), not injected again by each check (45 s to 35 s).
        context.add_init_script(Axe().axe_script)
        if client is not None:
            cookie = client.get_cookie("session")
            assert cookie is not None, "the test client is not signed in"
            context.add_cookies([{"name": "session", "value": cookie.value, "url": live.url}])
        page = context.new_page()
        page.set_default_timeout(20_000)
        for path in paths:
            answer = page.goto(f"{live.url}{path}")
            assert answer is not None
            where = f"{path} at {width} px"
            if answer.status >= 500:
                found.append(f"{where}: answered {answer.status}")
                continue
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if overflow > 0:
                culprits = page.evaluate(STICKING_OUT)
                found.append(f"{where}: {overflow} px wider than the screen, by {culprits}")
            if SHOTS:
                name = path.strip("/").replace("/", "_").replace("?", "_") or "index"
                page.screenshot(path=f"{SHOTS}/{who}-{name}-{width}.png", full_page=True)
            result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
            for violation in result["violations"]:
                nodes = ", ".join(n["target"][0] for n in violation["nodes"][:3])
                found.append(f"{where}: {violation['id']} ({violation['help']}) at {nodes}")
        context.close()
    return found


def test_every_page_fits_a_phone_and_a_desktop_and_axe_finds_nothing(
    database_url: str,
    giving_runtime: Runtime,
    giving_app: Flask,
    live: LiveServer,
    chromium: Any,
) -> None:
    rt = giving_runtime
    ids = _books(rt)
    admin = signed_in(giving_app, rt, "admin")
    treasurer = signed_in(giving_app, rt, "treasurer")
    donor = giving_app.test_client()
    donor_signs_in(donor, rt, "ada@example.org")
    with rt.sessions() as session:
        admin_id = session.scalars(
            select(StaffUser.id).where(StaffUser.email == "admin@example.org")
        ).one()
    site = _site(ids, admin_id)

    every = {r.endpoint for r in giving_app.url_map.iter_rules() if "GET" in (r.methods or ())}
    unseen = every - _endpoints_visited(giving_app, site) - set(NOT_PAGES)
    assert not unseen, f"pages this test does not visit: {sorted(unseen)}"

    found = [
        *_look(chromium, live, "anyone", None, site.anyone),
        *_look(chromium, live, "donor", donor, site.donor),
        *_look(chromium, live, "treasurer", treasurer, site.treasurer),
        *_look(chromium, live, "admin", admin, site.admin),
    ]
    assert not found, "\n".join(found)


def test_a_statement_sent_back_with_errors_opens_at_the_form_not_the_pages_top(
    database_url: str,
    giving_runtime: Runtime,
    giving_app: Flask,
    live: LiveServer,
    chromium: Any,
) -> None:
    factories.with_project(giving_runtime)
    treasurer = signed_in(giving_app, giving_runtime, "treasurer")
    context = chromium.new_context(viewport={"width": 390, "height": 800})
    cookie = treasurer.get_cookie("session")
    assert cookie is not None
    context.add_cookies([{"name": "session", "value": cookie.value, "url": live.url}])
    page = context.new_page()
    page.goto(f"{live.url}/treasurer/twisted/")
    page.fill("#period-from", "2026-05-01")
    page.fill("#period-to", "2026-04-01")  # ends before it starts
    page.get_by_role("button", name="Download the statement").click()
    page.wait_for_load_state("load")

    error = page.locator("#period-to-error")
    assert error.inner_text() == "The period must end on or after the day it starts."
    top = error.evaluate("e => e.getBoundingClientRect().top")
    assert 0 <= top < 800, f"the message is {top} px down the page, out of view"
    context.close()
