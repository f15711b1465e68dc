"""The year test (issue 15): one year of every kind of money movement the app knows, made as
its users make them, on a site run as the README runs it; then every report and download
the app offers, and whether they agree.

The site is a folder standing for the checkout, the working directory of every command and
of the server, with the default relative folders (`ledgers`, `receipts`, `instance`); the
`conservancy` console script to install it and book the year, and the same commands in the
test's process to close and report on it (tests/integration/site.py); a real
`conservancy stripe stand-in` and `conservancy serve`.
The year booked is last year: the site's clock (conservancy.kernel.clock's test shift, which the
stand-in shares) stands on 1 December of it while the money moves; then the stand-in (on the
state it kept) and the server start again on the real clock, in the year after, to close the
year and report on it.

Where a report or download disagrees the test goes on, and fails at the end naming each
disagreement, so that one run shows them all.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from tests.integration import movements as move
from tests.integration import people
from tests.integration.browser import Browser, messages
from tests.integration.documents import (
    attached,
    csv_rows,
    fund_balances,
    gifts_income,
    image_size,
    pdf_text,
    zip_files,
)
from tests.integration.site import Site

# Its commands' couriers deliver on their own threads, as the console script's do.
pytestmark = [pytest.mark.slow, pytest.mark.background_courier]

SPONSOR = "Year Test Conservancy, Inc."
TIME_ZONE = ZoneInfo("America/New_York")  # the default CONSERVANCY_TIMEZONE
YEAR = datetime.now(TIME_ZONE).year - 1  # a year that has ended
BOOKED_ON = date(YEAR, 12, 1)  # the site's day while the year's money moves
FUNDS = ("General", "Inkscape", "Twisted")
PDF, CSV = "application/pdf", "text/csv"
# Marie Curie asked Twisted not to name her (her gift to Inkscape names her).
ANONYMOUS = "Marie Curie"
# The recurring gifts still running at the year's end, as a project export lists them.
RECURRING = {
    "twisted": {
        ("Ada Lovelace", "monthly", "25.00", "USD", "2"),
        ("Anonymous", "monthly", "15.00", "EUR", "2"),
    }
}


@dataclass(frozen=True)
class Booked:
    """What the year's movements made that the reports are checked against."""

    invoices: tuple[str, str, str]  # paid by card, by cheque, voided
    expenses: tuple[str, ...]  # their staff pages
    refunded_in_part: str  # the staff page of a card gift refunded in part


@dataclass(frozen=True)
class OnThePages:
    """Files the pages gave before the close, to set against the commands' after it."""

    package: dict[str, bytes]  # the year-end zip's files
    statements: dict[str, bytes]  # the treasurer's CSV statement of the year, by project


class Disagreements:
    """What did not agree, each under what was being checked; the test fails on any."""

    def __init__(self) -> None:
        self.found: list[str] = []

    @contextmanager
    def check(self, what: str) -> Iterator[None]:
        try:
            yield
        except AssertionError as exc:
            self.found.append(f"{what}: {exc}")


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    """A new site in a folder of its own, on SQLite (the default, in `instance/`) or on the
    test PostgreSQL database; its clock on BOOKED_ON."""
    root = tmp_path / "checkout"
    root.mkdir()
    today = datetime.now(TIME_ZONE).date()
    running = Site(
        root,
        None if database_url.startswith("sqlite") else database_url,
        shift_days=(BOOKED_ON - today).days,
    )
    try:
        yield running
    finally:
        running.stop_all()


def test_a_year_of_every_money_movement_agrees_in_every_report_and_download(site: Site) -> None:
    admin, admin_secret = open_the_books(site)
    booked = book_the_year(site, admin)

    # The year is over: the site starts again on the real clock, Stripe's stand-in on the
    # state it kept.
    site.stop_all()
    site.shift_days = 0
    site.start_standin()
    site.start_server()
    admin, treasurer = Browser(site.url), Browser(site.url)
    people.sign_in(admin, "admin@sponsor.example", secret=admin_secret, shift_days=0)
    people.sign_in(treasurer, "treasurer@twisted.example", secret=None, shift_days=0)

    found = Disagreements()
    before_close = fund_balances(site.root / "ledgers" / "main.beancount", date(YEAR, 12, 31))
    assert set(before_close) == set(FUNDS)
    on_the_pages = staff_and_treasurer_downloads(
        site, booked, admin, treasurer, before_close, found
    )

    site.command("receipts", "annual", "--year", str(YEAR))
    annual_statements_add_up_to_the_receipts(site, found)
    donors_download_their_receipts_and_statements(site, found)

    close_the_year(site)
    balances = fund_balances(site.root / "ledgers" / "history.beancount", date(YEAR, 12, 31))
    with found.check("the close keeps every fund's balance"):
        assert balances == before_close
    with found.check("no gift's income is taken back beyond what it gave"):
        stands = gifts_income(site.root / "ledgers" / "history.beancount")
        assert {gift: amount for gift, amount in stands.items() if amount < 0} == {}
    commands_agree_with_the_books(site, booked, balances, on_the_pages, found)
    a_refund_after_the_close_leaves_the_closed_year_as_it_was(site, admin, booked, found)
    with found.check("every document mailed is the one stored"):
        mailed_documents_are_the_stored_ones(site)

    assert not found.found, "\n\n".join(found.found)


# -- the year's money --------------------------------------------------------------------------


def open_the_books(site: Site) -> tuple[Browser, str]:
    """Install as the README says: init, projects, people; the stand-in and the server.
    Returns the admin's browser, signed in, and their authenticator's secret (set up at
    their first sign-in)."""
    site.run(
        "init",
        "--sponsor-name",
        SPONSOR,
        "--ein",
        "12-3456789",
        "--address",
        "1 Main Street\nBrooklyn, NY 11201",
    )
    site.run("project", "add", "twisted", "--name", "Twisted")
    site.run("project", "add", "inkscape", "--name", "Inkscape", "--fee-rate", "7.5")
    admin_link = people.invitation_path(
        site.run("user", "add", "admin@sponsor.example", "--role", "admin").stdout
    )
    treasurer_link = people.invitation_path(
        site.run(
            "user",
            "add",
            "treasurer@twisted.example",
            "--role",
            "treasurer",
            "--project",
            "twisted",
        ).stdout
    )
    site.start_standin()
    site.start_server()

    admin, treasurer = Browser(site.url), Browser(site.url)
    people.choose_password(admin, admin_link)
    people.choose_password(treasurer, treasurer_link)
    secret = people.sign_in(admin, "admin@sponsor.example", secret=None, shift_days=site.shift_days)
    assert secret is not None

    settings = admin.form(admin.get("/admin/projects/twisted"), "/admin/projects/twisted")
    admin.submit(
        settings,
        {
            "thank_you_description": "Twisted t-shirt",
            "thank_you_value": "25.00",
            "thank_you_minimum": "100.00",
        },
    )
    admin.fill(
        "/admin/projects/twisted",
        "/admin/projects/twisted/logo",
        files={"logo": ("twisted.png", move.a_logo(), "image/png")},
    )
    move.sponsorship_level(
        admin,
        project="twisted",
        name="Gold",
        annual="10000.00",
        benefits="Logo on twistedmatrix.com | 0.00\nTwo conference passes | 500.00",
    )
    move.sponsorship_level(
        admin, project="twisted", name="Silver", annual="2500.00", benefits="Logo | 0.00"
    )
    return admin, secret


def book_the_year(site: Site, admin: Browser) -> Booked:
    """Every kind of money movement, each as its people make it."""
    # Card gifts, once and monthly, in dollars and in euros.
    ada = move.give(
        site,
        admin,
        "twisted",
        "120.00",
        name="Ada Lovelace",
        email="ada@example.org",
        address="12 St James's Square\nLondon SW1Y 4JH",
        employer="Babbage Engines Ltd",
        thank_you="y",
    )
    grace = move.give(
        site,
        admin,
        "twisted",
        "300.00",
        name="Grace Hopper",
        email="grace@example.org",
        address="1 Navy Yard\nArlington, VA 22202",
    )
    alan = move.give(
        site,
        admin,
        "twisted",
        "80.00",
        name="Alan Turing",
        email="alan@example.org",
        extra_general="20.00",
    )
    edsger = move.give(
        site,
        admin,
        "inkscape",
        "250.00",
        name="Edsger Dijkstra",
        email="edsger@example.org",
        address="Plataanstraat 5\n5671 AL Nuenen",
    )
    barbara = move.give(
        site, admin, "twisted", "150.00", name="Barbara Liskov", email="barbara@example.org"
    )
    ada_monthly = move.give(
        site,
        admin,
        "twisted",
        "25.00",
        name="Ada Lovelace",
        email="ada@example.org",
        address="12 St James's Square\nLondon SW1Y 4JH",
        frequency="monthly",
    )
    marie = move.give(
        site,
        admin,
        "inkscape",
        "100.00",
        name="Marie Curie",
        email="marie@example.fr",
        currency="EUR",
        card=move.PAYS_FROM_FRANCE,
        address="36 quai de Béthune\n75004 Paris",
    )
    marie_monthly = move.give(
        site,
        admin,
        "twisted",
        "15.00",
        name="Marie Curie",
        email="marie@example.fr",
        currency="EUR",
        frequency="monthly",
        visibility="anonymous",  # to the project: the sponsor's records keep her name
    )
    move.pay_out(site)
    assert ada_monthly.subscription
    assert marie_monthly.subscription
    move.renew(site, ada_monthly.subscription)
    move.renew(site, marie_monthly.subscription)

    # A cheque, stock, a donor-advised fund's grant and an employer's match, entered by staff.
    move.offline_gift(
        admin,
        project="twisted",
        amount="5000.00",
        received_on=f"{YEAR}-03-14",
        method="cheque",
        reference="4417",
        name="Katherine Johnson",
        email="katherine@example.org",
        address="3 Langley Boulevard\nHampton, VA 23681",
    )
    move.offline_gift(
        admin,
        project="inkscape",
        amount="1234.56",
        received_on=f"{YEAR}-05-20",
        method="stock",
        reference="10 shares of ACME Corp",
        name="Hedy Lamarr",
        email="hedy@example.org",
        address="1 Frequency Lane\nVienna",
    )
    move.offline_gift(
        admin,
        project="twisted",
        amount="2000.00",
        received_on=f"{YEAR}-09-09",
        method="daf",
        reference="Fidelity Charitable",
        name="Grace Hopper",
        email="grace@example.org",
    )
    move.employer_match(
        admin,
        ada.page,
        amount="120.00",
        method="cheque",
        reference="88213",
        address="1 Difference Row\nLondon",
    )

    # Sponsorships: one paid by card, one by cheque, one voided.
    acme = move.sponsor(
        site,
        admin,
        "twisted",
        "Gold",
        company_name="Acme Networks, Inc.",
        contact_name="Wile E. Coyote",
        email="ap@acme.example",
        address="1 Desert Road\nPhoenix, AZ 85001",
    )
    globex = move.sponsor(
        site,
        admin,
        "twisted",
        "Silver",
        company_name="Globex Corporation",
        contact_name="Hank Scorpio",
        email="ap@globex.example",
        address="1 Cypress Creek\nSpringfield",
    )
    initech = move.sponsor(
        site,
        admin,
        "twisted",
        "Silver",
        company_name="Initech LLC",
        contact_name="Bill Lumbergh",
        email="ap@initech.example",
        address="4120 Freidrich Lane\nAustin, TX 78744",
    )
    move.pay_invoice_by_card(site, admin, "twisted", acme)
    move.invoice_paid_by_cheque(admin, globex, "20431")
    move.void_invoice(admin, initech, "The company withdrew before paying.")

    # Refunds in full and in part; disputes won and lost (one after a partial refund).
    move.refund(site, admin, grace.page, "300.00", "Given twice by mistake.")
    move.refund(site, admin, alan.page, "30.00", "Asked to give less.")
    move.refund(site, admin, barbara.page, "50.00", "Asked to give less.")
    # Euros are worth more than on the day of the gift: 40.00 EUR goes back at the new rate.
    site.stripe_control("exchange_rates", eur="1.12")
    move.refund(site, admin, marie.page, "40.00", "Asked to give less.")
    move.dispute(site, edsger.charge, "won")
    move.dispute(site, barbara.charge, "lost")

    # Expenses with their invoices; a staff entry in a staff file; the last payout.
    expenses = (
        move.expense(
            admin,
            ("hetzner.pdf", move.an_invoice_pdf(), "application/pdf"),
            project="twisted",
            amount="300.00",
            payee="Hetzner Online GmbH",
            category="Hosting",
            description="Build servers, one year",
        ),
        move.expense(
            admin,
            ("train.jpg", move.a_scanned_invoice(), "image/jpeg"),
            project="inkscape",
            amount="150.00",
            payee="Deutsche Bahn",
            category="Travel",
            description="To the hackfest",
        ),
    )
    add_a_staff_entry(site)
    move.pay_out(site)
    # What the web workers had no pause to draw yet (the sponsor's cron runs this too).
    site.run("receipts", "deliver")
    return Booked((acme, globex, initech), expenses, alan.page)


STAFF_FILE = "staff.beancount"
STAFF_ENTRY = f"""
{YEAR}-11-28 * "First Bank" "Wire fee on the Hetzner payment"
  Expenses:Twisted:Bank-Fees     15.00 USD
  Assets:Bank:Checking          -15.00 USD
"""


def add_a_staff_entry(site: Site) -> None:
    """A bookkeeper's own file, included from main.beancount (README: How the books are kept)."""
    ledgers = site.root / "ledgers"
    (ledgers / STAFF_FILE).write_text(
        f"; The bookkeeper's own entries.\n\n{YEAR}-01-01 open Expenses:Twisted:Bank-Fees USD\n"
        '  function: "program"\n' + STAFF_ENTRY
    )
    main = ledgers / "main.beancount"
    main.write_text(main.read_text() + f'include "{STAFF_FILE}"\n')


def close_the_year(site: Site) -> None:
    """`ledger close` refuses while a file of the staff's, still loaded by main.beancount,
    holds an entry of the year; moved into ledgers/closed/ as the README says, it closes."""
    refused = site.command("ledger", "close", "--year", str(YEAR), expect=1)
    assert STAFF_FILE in refused.stderr + refused.stdout
    ledgers = site.root / "ledgers"
    (ledgers / "closed").mkdir(exist_ok=True)
    (ledgers / "closed" / f"staff-{YEAR}.beancount").write_text(STAFF_ENTRY)
    staff = ledgers / STAFF_FILE
    staff.write_text(staff.read_text().replace(STAFF_ENTRY, ""))
    site.command("ledger", "close", "--year", str(YEAR))
    assert (ledgers / "app" / "closed" / f"{YEAR}.beancount").is_file()


# -- the reports and downloads -----------------------------------------------------------------


def staff_and_treasurer_downloads(
    site: Site,
    booked: Booked,
    admin: Browser,
    treasurer: Browser,
    balances: dict[str, Decimal],
    found: Disagreements,
) -> OnThePages:
    """Every file the staff's and the treasurer's pages offer, before the year is closed
    (the pages read the open years only)."""
    receipts = sorted((site.root / "receipts" / str(YEAR)).glob("*.pdf"))
    with found.check("the year's receipts are numbered without gaps, each drawn once"):
        assert len(receipts) >= 20
        assert [p.stem for p in receipts] == [f"{YEAR}-{n:06}" for n in range(1, len(receipts) + 1)]
    with found.check("the admin's download of each receipt"):
        refused = {}
        for path in receipts:
            try:
                body = admin.download(f"/admin/receipts/{path.name}", PDF)
            except AssertionError as exc:
                status = re.search(r"answered (\d+)", str(exc))
                refused[path.stem] = status[1] if status else str(exc)
                continue
            assert body == path.read_bytes()
            assert attached(body, "receipt.json")["number"] == path.stem
        assert not refused, f"{len(refused)} of {len(receipts)} answered otherwise: {refused}"

    for expense in booked.expenses:
        with found.check(f"the admin's invoice of {expense}"):
            image_or_pdf(admin.download(f"{expense}/invoice"))
    transactions = treasurer.get("/treasurer/twisted/transactions").text
    for link in re.findall(r'href="(/treasurer/twisted/expenses/\d+/invoice)"', transactions) or [
        "(none listed)"
    ]:
        with found.check(f"the treasurer's expense invoice {link}"):
            image_or_pdf(treasurer.download(link))
    with found.check("the treasurer's copies of the receipts"):
        copies = re.findall(r'href="(/treasurer/twisted/receipts/[^"]+\.pdf)"', transactions)
        assert len(copies) >= 10, copies
        for link in copies:
            copy = pdf_text(treasurer.download(link, PDF))
            assert "(project's copy)" in copy, link
            assert ANONYMOUS not in copy, link
    with found.check("the treasurer's pages do not name an anonymous donor"):
        for page in ("transactions", "donors", ""):
            assert ANONYMOUS not in treasurer.get(f"/treasurer/twisted/{page}").text, page

    for number in booked.invoices:
        page = admin.get(f"/admin/sponsorships/invoices/{number}").text
        for kind in ("invoice", "acknowledgement"):
            if f"/{number}/{kind}.pdf" not in page:
                continue
            with found.check(f"the {kind} PDF of {number}"):
                text = pdf_text(
                    admin.download(f"/admin/sponsorships/invoices/{number}/{kind}.pdf", PDF)
                )
                assert number in text
                if kind == "acknowledgement" and number == booked.invoices[0]:
                    # Gold: 10,000.00 less two conference passes, as Schedule B counts it
                    assert "$9,500.00" in text
    acme, globex, _initech = booked.invoices
    with found.check("both paid invoices offer their acknowledgement"):
        for number in (acme, globex):
            assert (
                f"/{number}/acknowledgement.pdf"
                in admin.get(f"/admin/sponsorships/invoices/{number}").text
            )

    logos = re.findall(r'src="(/media/logos/[^"]+)"', Browser(site.url).get("/donate/twisted").text)
    with found.check("the project's logo"):
        assert logos, "the donation page shows no uploaded logo"
        assert image_size(Browser(site.url).download(logos[0], "image/png")) == (120, 60)

    statements: dict[str, bytes] = {}
    for fund, slug in (("Twisted", "twisted"),):
        period = f"from={YEAR}-01-01&to={YEAR}-12-31"
        with found.check(f"the treasurer's CSV statement of {fund}"):
            body = treasurer.download(f"/treasurer/{slug}/statement?{period}&format=csv", CSV)
            statements[slug] = body
            assert closing_of(csv_rows(body)) == balances[fund]
        with found.check(f"the treasurer's PDF statement of {fund}"):
            closes_on(
                pdf_text(
                    treasurer.download(f"/treasurer/{slug}/statement?{period}&format=pdf", PDF)
                ),
                balances[fund],
            )
        with found.check(f"the treasurer's dashboard of {fund}"):
            assert money(balances[fund]) in treasurer.get(f"/treasurer/{slug}/").text

    with found.check("the reconciliation page"):
        page = admin.get(f"/admin/reconcile?from={YEAR}-01-01&to={YEAR}-12-31").text
        assert "Stripe and the books match." in page, messages(page)

    package: dict[str, bytes] = {}
    with found.check("the year-end page"):
        page = admin.get(f"/admin/reports/year-end?year={YEAR}").text
        assert "tie" in page
        assert "do not tie" not in page
        assert "does not tie" not in page
    with found.check("the year-end zip"):
        files = zip_files(admin.download(f"/admin/reports/year-end/{YEAR}.zip", "application/zip"))
        package = {name.rsplit("/", 1)[1]: body for name, body in files.items()}
        assert str(YEAR) in pdf_text(package[f"year-end-{YEAR}.pdf"])
    if package:
        year_end_agrees(package, balances, booked, found, "the year-end zip")
    return OnThePages(package, statements)


def donors_download_their_receipts_and_statements(site: Site, found: Disagreements) -> None:
    outbox = site.root / "instance" / "outbox"
    for address in ("ada@example.org", "marie@example.fr", "katherine@example.org"):
        donor = Browser(site.url)
        people.portal_sign_in(donor, outbox, address)
        page = donor.get("/portal").text
        links = re.findall(r'href="(/portal/(?:receipts|statements)/[^"]+\.pdf)"', page)
        with found.check(f"{address}'s portal offers receipts and a statement"):
            assert any("/receipts/" in link for link in links), links
            assert f"/portal/statements/{YEAR}.pdf" in links, links
        for link in links:
            with found.check(f"{address}'s download {link}"):
                body = donor.download(link, PDF)
                name = "statement.json" if "/statements/" in link else "receipt.json"
                attached(body, name)


def annual_statements_add_up_to_the_receipts(site: Site, found: Disagreements) -> None:
    """Each gift line of an annual statement stands at its receipt's figures, the statement's
    total is the sum of its lines, and every receipt standing for a gift of the year is on
    exactly one statement."""
    receipts = {}
    for path in (site.root / "receipts" / str(YEAR)).glob("*.pdf"):
        receipt = attached(path.read_bytes(), "receipt.json")
        receipts[receipt["number"]] = receipt
    voided = {r["replaces"] for r in receipts.values() if r["kind"] == "voiding"}
    standing = {
        number
        for number, r in receipts.items()
        if r["kind"] != "voiding" and number not in voided and r.get("gift_kind") != "daf"
    }
    listed: dict[str, int] = defaultdict(int)
    statements = sorted((site.root / "receipts" / "statements" / str(YEAR)).glob("*.pdf"))
    with found.check("an annual statement for each donor with a gift standing"):
        # Not Grace Hopper (her card gift refunded in full; her fund's grant is the fund's)
        # nor Barbara Liskov (refunded in part, then the rest lost in a dispute).
        assert sorted(
            re.search(r"Dear (.+?),", pdf_text(p.read_bytes()))[1] for p in statements
        ) == [
            "Ada Lovelace",
            "Alan Turing",
            "Babbage Engines Ltd",
            "Edsger Dijkstra",
            "Hedy Lamarr",
            "Katherine Johnson",
            "Marie Curie",
        ]
    for path in statements:
        body = path.read_bytes()
        statement = attached(body, "statement.json")
        with found.check(f"the annual statement {path.name}"):
            deductible = Decimal(0)
            for line in statement["gifts"]:
                receipt = receipts[line["receipt"]]
                listed[line["receipt"]] += 1
                if line["void"]:
                    assert line["receipt"] in voided
                    continue
                assert line["receipt"] in standing, line
                if line["deductible"] is None:  # property: the donor values it
                    assert receipt["deductible"] is None
                    continue
                assert Decimal(line["deductible"]) == Decimal(receipt["deductible"]), line
                assert Decimal(line["amount"]) == Decimal(receipt["amount"]), line
                deductible += Decimal(line.get("usd_deductible", line["deductible"]))
            total = Decimal(statement["totals"]["USD"]["deductible"])
            assert total == deductible, statement["totals"]
            shown = re.search(rf"Total for {YEAR}, USD (\S+) (\S+)", pdf_text(body))
            assert shown, "the statement shows no total"
            assert shown[2] == money(total)
    with found.check("every standing receipt is on one annual statement"):
        assert {n for n in standing if receipts[n]["gift_on"].startswith(str(YEAR))} == {
            n for n, count in listed.items() if count == 1 and n in standing
        }
        assert all(count == 1 for count in listed.values()), listed


def commands_agree_with_the_books(
    site: Site,
    booked: Booked,
    balances: dict[str, Decimal],
    on_the_pages: OnThePages,
    found: Disagreements,
) -> None:
    out = site.root.parent / "reports"
    with found.check("report year-end"):
        site.command("report", "year-end", "--year", str(YEAR), "--out", str(out / "year-end"))
    package = {p.name: p.read_bytes() for p in (out / "year-end").glob("*")}
    year_end_agrees(package, balances, booked, found, "the year-end package after the close")
    with found.check("the year-end package: the page's zip before the close, the command's after"):
        for name, body in on_the_pages.package.items():
            if name.endswith(".csv"):
                assert package.get(name) == body, name

    contributions = {
        (c["fund"], c["income_type"]): Decimal(c["amount"])
        for c in csv_rows(package.get("contributions.csv", b"fund,income_type,amount\n"))
        if c["fund"]
    }
    for fund, slug in (("Twisted", "twisted"), ("Inkscape", "inkscape")):
        csv_file = out / f"{slug}.csv"
        pdf_file = out / f"{slug}.pdf"
        period = ("--from", f"{YEAR}-01-01", "--to", f"{YEAR}-12-31")
        with found.check(f"the statement of {fund} (CSV)"):
            site.command("statement", slug, *period, "--format", "csv", "--out", str(csv_file))
            assert closing_of(csv_rows(csv_file.read_text())) == balances[fund]
            if slug in on_the_pages.statements:  # the treasurer's, before the close
                assert csv_file.read_bytes() == on_the_pages.statements[slug]
        with found.check(f"the statement of {fund} (PDF)"):
            site.command("statement", slug, *period, "--format", "pdf", "--out", str(pdf_file))
            closes_on(pdf_text(pdf_file.read_bytes()), balances[fund])
        with found.check(f"the project export of {fund}"):
            export = out / f"export-{slug}"
            site.command("project", "export", slug, "--out", str(export))
            assert fund_balances(export / f"{slug}.beancount", date.max)[fund] == balances[fund]
            summary = pdf_text((export / "summary.pdf").read_bytes())
            assert re.search(
                rf"Closing balance, [A-Za-z]+ \d+, \d+ {re.escape(money(balances[fund]))}", summary
            )
            # Each donor's gifts add up to the fund's donations in the year-end package.
            donors = sum(Decimal(d["total"]) for d in csv_rows((export / "donors.csv").read_text()))
            assert donors == contributions.get((fund, "Donations")), (donors, contributions)
            running = {
                (r["donor"], r["frequency"], r["amount"], r["currency"], r["payments"])
                for r in csv_rows((export / "recurring.csv").read_text())
            }
            assert running == RECURRING.get(slug, set())
            assert csv_rows((export / "invoices.csv").read_text()) == []  # none left open
            for file in export.iterdir():  # no e-mail or postal address, no anonymous name
                assert not re.search(rb"@example|@acme|Langley|Navy Yard", file.read_bytes()), file
                if slug == "twisted":
                    assert ANONYMOUS.encode() not in file.read_bytes(), file

    with found.check("stripe sync: a year of Stripe's events again books nothing"):
        before = books_bytes(site)
        synced = site.command("stripe", "sync", "--since", f"{YEAR}-01-01").stdout
        assert re.match(r"0 events processed, [1-9]\d* already done, .*; 0 ledger entries", synced)
        assert books_bytes(site) == before
    with found.check("sponsorships aging: nothing left open"):
        aging = site.command("sponsorships", "aging").stdout
        assert "total open: $0.00" in aging, aging
    with found.check("stripe reconcile"):
        done = site.command(
            "stripe", "reconcile", "--from", f"{YEAR}-01-01", "--to", f"{YEAR}-12-31"
        )
        assert "ok: Stripe and the books match" in done.stdout
    with found.check("ledger check"):
        site.command("ledger", "check")
    with found.check("ledger check --history"):
        site.command("ledger", "check", "--history")
    with found.check("the server's log holds no traceback"):
        assert "Traceback" not in site.log("server"), site.log("server")[-4000:]


def a_refund_after_the_close_leaves_the_closed_year_as_it_was(
    site: Site, admin: Browser, booked: Booked, found: Disagreements
) -> None:
    """A gift of the closed year refunded in the next: booked in the open year (Stripe kept
    the charge across its restart), last year's package as it was, Stripe and the books
    still agreeing."""
    out = site.root.parent / "reports"
    before = {p.name: p.read_bytes() for p in (out / "year-end").glob("*.csv")}
    with found.check("a refund in the next year of a gift of the closed year"):
        move.refund(site, admin, booked.refunded_in_part, "20.00", "Asked for more back.")
        late = [
            path.name
            for path in (site.root / "ledgers" / "app").glob("*.beancount")
            if '"Refund"' in path.read_text() and path.stem == str(YEAR + 1)
        ]
        assert late == [f"{YEAR + 1}.beancount"], "the refund is not in the open year's file"
    with found.check("the closed year's package after a refund in the next"):
        site.command(
            "report", "year-end", "--year", str(YEAR), "--out", str(out / "year-end-again")
        )
        again = {p.name: p.read_bytes() for p in (out / "year-end-again").glob("*.csv")}
        assert again == before
    with found.check("stripe reconcile of the open year, to today"):
        today = datetime.now(TIME_ZONE).date()
        site.command(
            "stripe", "reconcile", "--from", f"{YEAR + 1}-01-01", "--to", today.isoformat()
        )
    with found.check("ledger check after the late refund"):
        site.command("ledger", "check")
        site.command("ledger", "check", "--history")


def mailed_documents_are_the_stored_ones(site: Site) -> None:
    """Each PDF attached to a mail (receipts, notices, statements, invoices and
    acknowledgements) is byte for byte the file kept in the receipts folder."""
    stored = {p.read_bytes() for p in (site.root / "receipts").rglob("*.pdf")}
    attached_pdfs = [
        (message["Subject"], part.get_content())
        for message in people.mails(site.root / "instance" / "outbox", "@")
        for part in message.iter_attachments()
        if part.get_content_type() == "application/pdf"
    ]
    assert len(attached_pdfs) >= 30
    assert [subject for subject, body in attached_pdfs if body not in stored] == []


def year_end_agrees(
    package: dict[str, bytes],
    balances: dict[str, Decimal],
    booked: Booked,
    found: Disagreements,
    which: str,
) -> None:
    """The package ties out, its roll-forward closes on the books' fund balances, its
    Schedule B names each contributor with an address, counting a sponsor's deductible part,
    every contributor it names is one on record, and a voided invoice is no one's gift."""
    with found.check(f"{which}: the tie-out"):
        ties = csv_rows(package["tie-out.csv"])
        assert ties, "the tie-out is empty"
        assert [t["check"] for t in ties if t["ties"] != "yes"] == []
    with found.check(f"{which}: the roll-forward closes on the books' fund balances"):
        closing = {r["fund"]: Decimal(r["closing"]) for r in csv_rows(package["roll-forward.csv"])}
        assert closing == balances
    with found.check(f"{which}: Schedule B"):
        schedule_b = {r["name"]: r for r in csv_rows(package["schedule-b.csv"])}
        assert set(schedule_b) == {"Katherine Johnson", "Acme Networks, Inc."}, schedule_b
        assert all(r["address"] for r in schedule_b.values()), schedule_b
        # 10,000.00 paid, less the two conference passes' 500.00
        assert Decimal(schedule_b["Acme Networks, Inc."]["total"]) == Decimal("9500.00")
    with found.check(f"{which}: every contributor named is on record"):
        unknown = [n for n, body in package.items() if b"(not in the donor records" in body]
        assert unknown == []
    with found.check(f"{which}: the voided invoice needs no acknowledgement"):
        voided = f"sponsorship-{booked.invoices[2]}"
        assert [a for a in csv_rows(package["acknowledgements.csv"]) if a["ref"] == voided] == []


def books_bytes(site: Site) -> dict[str, bytes]:
    ledgers = site.root / "ledgers"
    return {str(p.relative_to(ledgers)): p.read_bytes() for p in ledgers.rglob("*.beancount")}


def closing_of(rows: list[dict[str, str]]) -> Decimal:
    closing = [r for r in rows if r["record"] == "closing"]
    assert len(closing) == 1, rows[-3:]
    return Decimal(closing[0]["balance"])


def closes_on(statement: str, balance: Decimal) -> None:
    """A statement PDF's summary and its register both close on ``balance``."""
    summary = f"Closing balance, December 31, {YEAR} {money(balance)}"
    assert summary in statement, re.findall(r"Closing balance, [^$]*\S+", statement)
    assert statement.endswith(f"Closing balance {money(balance).replace('$', '')}"), statement[-60:]


def money(amount: Decimal) -> str:
    return f"-${-amount:,.2f}" if amount < 0 else f"${amount:,.2f}"


def image_or_pdf(body: bytes) -> None:
    if body.startswith(b"%PDF-"):
        pdf_text(body)
    else:
        image_size(body)
