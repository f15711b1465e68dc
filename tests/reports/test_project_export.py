"""A project's exit: ``conservancy project export SLUG --out DIR``, as a new sponsor receives it.

Twisted's books hold card gifts (a public donor, an anonymous one, one shown to the
project only, whose name is full of quotes and backslashes and has a line break, and
who got part of it back), a cheque, an expense paid from the fund, a monthly gift
still running and one the donor stopped, and a bookkeeper's own file (a corporate
sponsorship, a contractor, money moved to the sponsor's fund, a gift collected at a
meetup). Inkscape, another project, has a gift of its own, which must appear nowhere.

The fund's balance the tests expect is read from the sponsor's books with Beancount's
own loader (and once worked out by hand), never from the code under test.
"""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from sqlalchemy import select

from conservancy.donations.models import (
    DonationStatus,
    Frequency,
    Gift,
    Visibility,
)
from conservancy.expenses.service import ExpenseRequest, record_expense
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.kernel.submissions import new_key
from conservancy.portal.service import set_visibility
from conservancy.projects.models import Project
from conservancy.receipts.document import Sponsor, long_date
from conservancy.reports import project_export as px
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import PaidBy
from conservancy.sponsorships.service import find_invoice, record_bank_payment
from tests import factories
from tests.admin.files import pdf
from tests.ledger.processes import run_cli
from tests.receipts.pdfs import pdf_text, requires_weasyprint, tagged_pdf_a_problems
from tests.reports.test_statement import include_staff_file
from tests.saved_books import saved_books
from tests.sponsorships.sponsors import gold_level, signed_up

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
BEAN_CHECK = Path(sys.executable).parent / "bean-check"
HOLDER = "Assets:Held-By-Sponsor:Test-Sponsor-Inc"
SPONSOR = Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street\nBrooklyn, NY 11201")
PREPARED_ON = date(2026, 11, 24)
# A donor who types quotes, a backslash and a line break into the name field.
TRICKY_NAME = 'Bob "Tables" \\ O\'Brien\nJr.'
TRICKY_PAYEE = 'Bob "Tables" \\ O\'Brien Jr.'  # as the books hold it: one line
STAFF_ENTRIES = (
    "; The bookkeeper's own entries.\n\n"
    '2026-01-01 open Expenses:Twisted:Contractors\n  function: "program"\n\n'
    '2026-02-20 * "ACME Corp" "Sponsorship, invoice 7"\n'
    '  ref: "invoice-7"\n'
    "  Assets:Bank:Checking          250.00 USD\n"
    "  Income:Twisted:Sponsorships  -250.00 USD\n\n"
    '2026-02-25 * "Build farm hosting"\n'
    "  Expenses:Twisted:Contractors   40.00 USD\n"
    "  Assets:Bank:Checking          -40.00 USD\n\n"
    '2026-03-01 * "Reclassify: part of a gift was meant for the sponsor"\n'
    "  Equity:Net-Assets:Twisted     20.00 USD\n"
    "  Equity:Net-Assets:General    -20.00 USD\n\n"
    '2026-03-02 * "Club \\"Quoted\\" \\\\ Backslash" "Gift collected at a meetup"\n'
    '  receipt: "2026-000042"\n'
    "  Assets:Bank:Checking          30.00 USD\n"
    "  Income:Twisted:Donations     -30.00 USD\n\n"
)
# Worked out by hand from the gifts below (each card gift less its fee and 10%):
# Ada 86.80, Anonymous 43.25, Bob 69.38 less 27.00 refunded, ACME 250.00, contractor
# -40.00, moved to General -20.00, meetup 30.00, cheque 180.00, expense -25.00,
# Rita 21.47, Sam 8.41.
CLOSING = "577.31"
DONATIONS = "465.00"  # 100 + 50 + 80 - 30 + 30 + 200 + 25 + 10


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


def expense(rt: Runtime, amount: str, on: date) -> None:
    with rt.sessions() as session:
        project = session.query(Project).filter_by(slug="twisted").one()
        record_expense(
            session,
            "bookkeeper@example.org",
            project,
            ExpenseRequest(
                amount=factories.usd(amount),
                payee="Hosting Co.",
                category="Hosting",
                paid_on=on,
                description="Web hosting, March",
                invoice=pdf(),
            ),
            key=new_key(),
            books=rt.books,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
    rt.post_ledger()


def stop(rt: Runtime, gift_id: int) -> None:
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        gift.donation.change_status(DonationStatus.CANCELLED, "cancelled by the donor")
        session.commit()


def ask_for_anonymity(rt: Runtime, gift_id: int) -> None:
    """What the donor does in the portal after giving."""
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        set_visibility(session, gift.donation.donor_id, gift.donation_id, Visibility.ANONYMOUS)
        session.commit()


@saved_books
def books(rt: Runtime) -> None:
    factories.with_project(rt)
    factories.with_project(rt, "inkscape", "Inkscape")
    factories.settled_gift(rt, at=at(1, 10))  # Ada Lovelace, public, 100.00
    factories.settled_gift(
        rt,
        email="grace@example.org",
        name="Grace Hopper",
        amount="50.00",
        fee="1.75",
        visibility=Visibility.ANONYMOUS,
        at=at(2, 5),
    )
    bob = factories.settled_gift(
        rt,
        email="bob@example.org",
        name=TRICKY_NAME,
        amount="80.00",
        fee="2.62",
        visibility=Visibility.PROJECT,
        at=at(2, 10),
    )
    factories.refund(rt, bob, "30.00", "re_bob")
    factories.settled_gift(
        rt, email="ivan@example.org", name="Ivan Elsewhere", amount="500.00", slug="inkscape"
    )
    include_staff_file(rt, STAFF_ENTRIES)
    rt.books.load()  # the staff file is new: the books are built again
    factories.cheque(
        rt,
        "Eve Cheque",
        "200.00",
        date(2026, 3, 4),
        email="eve@example.org",
        address="1 Cheque Lane\nSpringfield",
    )
    expense(rt, "25.00", date(2026, 3, 5))
    factories.settled_gift(
        rt,
        email="rita@example.org",
        name="Rita Monthly",
        amount="25.00",
        fee="1.03",
        frequency=Frequency.MONTHLY,
        at=at(3, 6),
    )
    stopped = factories.settled_gift(
        rt,
        email="sam@example.org",
        name="Sam Stopped",
        amount="10.00",
        fee="0.59",
        frequency=Frequency.MONTHLY,
        at=at(3, 7),
    )
    stop(rt, stopped)


def export(rt: Runtime, first_day: date = date(2026, 1, 1)) -> px.ProjectExport:
    rt.books.ready()
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        return px.project_export(
            session,
            rt.books.index,
            project,
            "Test Sponsor, Inc.",
            first_day=first_day,
            today=PREPARED_ON,
            tz=rt.settings.timezone,
            form_990=rt.books.current().form_990,
        )


def written(rt: Runtime, folder: Path, first_day: date = date(2026, 1, 1)) -> Path:
    """The export written into ``folder``, as the command writes it."""
    folder.mkdir()
    px.write_export(export(rt, first_day), SPONSOR, folder, prepared_on=PREPARED_ON)
    return folder


def fund_balance(entries: list[data.Directive], fund: str = "Twisted") -> Decimal:
    """Minus the sum of the fund's postings (SPEC section 6), read from loaded entries."""
    total = Decimal(0)
    for entry in entries:
        for posting in getattr(entry, "postings", None) or ():
            parts = posting.account.split(":")
            if (parts[0] in {"Income", "Expenses"} and parts[1] == fund) or (
                posting.account == f"Equity:Net-Assets:{fund}"
            ):
                total -= posting.units.number
    return total


def sponsors_fund_balance(rt: Runtime) -> Decimal:
    entries, errors, _options = loader.load_file(str(rt.ledger.main))
    assert not errors, errors
    return fund_balance(entries)


def load_alone(path: Path) -> list[data.Directive]:
    """The exported file loaded by Beancount with nothing else: no errors allowed."""
    entries, errors, options = loader.load_file(str(path))
    assert errors == [], errors
    assert options["include"] == [str(path)]  # it includes nothing
    assert options["operating_currency"] == ["USD"]
    return entries


def rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def transactions(entries: list[data.Directive]) -> list[data.Transaction]:
    return [e for e in entries if isinstance(e, data.Transaction)]


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# --- the command, end to end ----------------------------------------------------------


@requires_weasyprint
def test_export_writes_books_that_pass_bean_check_alone_with_the_sponsors_fund_balance(
    books: Runtime, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "handover" / "twisted"  # made, parents and all
    done = run_cli(settings, "project", "export", "twisted", "--out", str(out))
    assert done.returncode == 0, done.stderr
    last_day = max(clock.today(settings.timezone), date(2026, 3, 7))  # today, or the last entry
    assert done.stdout.splitlines() == [
        f"wrote twisted.beancount, donors.csv, recurring.csv, invoices.csv and summary.pdf "
        f"to {out}: Twisted, 2026-01-01 to {last_day}, 19 transactions, 6 donors named, "
        f"1 recurring gift, closing balance ${CLOSING}"
    ]
    assert sorted(p.name for p in out.iterdir()) == [
        "donors.csv",
        "invoices.csv",
        "recurring.csv",
        "summary.pdf",
        "twisted.beancount",
    ]  # and no temporary file left

    exported = out / "twisted.beancount"
    entries = load_alone(exported)
    checked = subprocess.run(
        [str(BEAN_CHECK), str(exported)], capture_output=True, text=True, check=False
    )
    assert (checked.returncode, checked.stdout, checked.stderr) == (0, "", "")
    assert fund_balance(entries) == sponsors_fund_balance(books) == Decimal(CLOSING)

    text = exported.read_text("utf-8")
    assert 'option "tolerance_multiplier" "0"' in text
    assert "include" not in text
    # What the sponsor holds for the project is the other side of everything, and the
    # project's accounts are exactly the fund's.
    accounts = {p.account for t in transactions(entries) for p in t.postings}
    assert accounts == {
        HOLDER,
        "Income:Twisted:Donations",
        "Income:Twisted:Sponsorships",
        "Expenses:Twisted:Payment-Processing",
        "Expenses:Twisted:Sponsorship-Fees",
        "Expenses:Twisted:Contractors",
        "Expenses:Twisted:Hosting",
        "Equity:Net-Assets:Twisted",
    }
    held = sum(
        (p.units.number for t in transactions(entries) for p in t.postings if p.account == HOLDER),
        Decimal(0),
    )
    assert held == Decimal(CLOSING)


def test_each_transaction_keeps_its_date_payee_narration_ref_and_receipt(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    entries = transactions(load_alone(out / "twisted.beancount"))
    found = [(str(t.date), t.payee, t.narration) for t in entries]
    assert found[:3] == [
        ("2026-01-10", "Ada Lovelace", "Gift to Twisted"),
        ("2026-01-10", None, "Sponsorship fee: Gift to Twisted"),
        ("2026-02-05", "Anonymous", "Gift to Twisted"),
    ]
    assert ("2026-02-20", "ACME Corp", "Sponsorship, invoice 7") in found  # a hand entry
    assert ("2026-03-02", 'Club "Quoted" \\ Backslash', "Gift collected at a meetup") in found
    assert ("2026-03-05", "Hosting Co.", "Web hosting, March") in found  # the expense
    by_ref = {t.meta.get("ref"): t for t in entries}
    assert "invoice-7" in by_ref
    assert "expense-1" in by_ref
    meetup = entries[
        found.index(("2026-03-02", 'Club "Quoted" \\ Backslash', "Gift collected at a meetup"))
    ]
    assert meetup.meta["receipt"] == "2026-000042"
    ada = entries[0]
    assert ada.meta["ref"].startswith("stripe-txn_")
    assert not {"entity", "stripe-id", "income-type"} & set(ada.meta)
    # The gift's own postings as the sponsor booked them, its other side in one posting.
    assert {p.account: p.units.number for p in ada.postings} == {
        "Expenses:Twisted:Payment-Processing": Decimal("3.20"),
        "Income:Twisted:Donations": Decimal("-100.00"),
        HOLDER: Decimal("96.80"),
    }


def test_from_a_later_day_the_books_open_with_the_funds_balance_before_it(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export", first_day=date(2026, 2, 1))
    entries = load_alone(out / "twisted.beancount")
    first = transactions(entries)[0]
    assert first.date == date(2026, 2, 1)
    assert {p.account: p.units.number for p in first.postings} == {
        HOLDER: Decimal("86.80"),  # Ada's gift in January, less its fees
        "Equity:Net-Assets:Twisted": Decimal("-86.80"),
    }
    assert all(e.date >= date(2026, 2, 1) for e in entries)
    assert fund_balance(entries) == sponsors_fund_balance(books) == Decimal(CLOSING)
    # Donors are those of the period: Ada gave in January.
    assert "Ada" not in (out / "twisted.beancount").read_text("utf-8")
    assert "Ada Lovelace" not in [r["donor"] for r in rows(out / "donors.csv")]


# --- donors, as far as each allowed -----------------------------------------------------


def test_donors_csv_names_donors_only_as_each_allowed_and_holds_no_contact_details(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    found = [
        (r["donor"], r["shown"], r["gifts"], r["total"], r["first_gift_on"])
        for r in rows(out / "donors.csv")
    ]
    assert found == [
        ("Eve Cheque", "public", "1", "200.00", "2026-03-04"),
        ("Ada Lovelace", "public", "1", "100.00", "2026-01-10"),
        ("Anonymous", "anonymous", "1", "50.00", "2026-02-05"),
        (TRICKY_PAYEE, "project", "1", "50.00", "2026-02-10"),  # 80.00 less 30.00 refunded
        ('Club "Quoted" \\ Backslash', "books", "1", "30.00", "2026-03-02"),
        ("Rita Monthly", "public", "1", "25.00", "2026-03-06"),
        ("Sam Stopped", "public", "1", "10.00", "2026-03-07"),
    ]
    assert sum(Decimal(row[3]) for row in found) == Decimal(DONATIONS)
    for name in ("donors.csv", "recurring.csv", "invoices.csv", "twisted.beancount"):
        text = (out / name).read_text("utf-8")
        assert "Grace" not in text
        assert "Hopper" not in text
        assert "@" not in text
        assert "example.org" not in text
        assert "Analytical Row" not in text
        assert "Cheque Lane" not in text
        assert "donor-" not in text  # nor the sponsor's donor ids


def test_a_donor_who_later_asked_not_to_be_named_is_anonymous_in_every_file(
    books: Runtime, tmp_path: Path
) -> None:
    with books.sessions() as session:
        ada = session.scalars(select(Gift).order_by(Gift.id)).first()
        assert ada is not None
        ada_id = ada.id
    ask_for_anonymity(books, ada_id)
    out = written(books, tmp_path / "export")
    entries = transactions(load_alone(out / "twisted.beancount"))
    assert entries[0].payee == "Anonymous"
    assert "Ada" not in (out / "twisted.beancount").read_text("utf-8")
    donors = {r["donor"]: (r["gifts"], r["total"]) for r in rows(out / "donors.csv")}
    assert "Ada Lovelace" not in donors
    assert donors["Anonymous"] == ("2", "150.00")


def test_donor_text_with_quotes_backslashes_and_a_line_break_cannot_break_the_books(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    path = out / "twisted.beancount"
    entries = load_alone(path)
    payees = [t.payee for t in transactions(entries)]
    assert payees.count(TRICKY_PAYEE) == 2  # the gift and its refund, each one whole string
    assert 'Club "Quoted" \\ Backslash' in payees
    # Nothing was added: an open per account, and each of the fund's transactions.
    assert len(transactions(entries)) == export(books).transactions == 19
    assert {type(e).__name__ for e in entries} == {"Open", "Transaction"}
    assert "\nJr." not in path.read_text("utf-8")


# --- recurring gifts, invoices, the summary ---------------------------------------------


def test_recurring_csv_lists_the_gifts_still_running_without_stripe_ids(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    assert rows(out / "recurring.csv") == [
        {
            "donor": "Rita Monthly",
            "shown": "public",
            "frequency": "monthly",
            "amount": "25.00",
            "currency": "USD",
            "since": "2026-03-06",
            "last_paid_on": "2026-03-06",
            "payments": "1",
        }
    ]  # Sam stopped his
    text = (out / "recurring.csv").read_text("utf-8")
    for stripe_prefix in ("sub_", "cus_", "ch_", "pi_", "in_"):
        assert stripe_prefix not in text


def test_invoices_csv_is_its_header_while_there_are_no_invoices(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    assert (out / "invoices.csv").read_text("utf-8").splitlines() == [
        "number,customer,issued_on,due_on,amount,currency,description"
    ]


def test_open_sponsorship_invoices_are_handed_over_and_the_books_still_balance(
    books: Runtime, tmp_path: Path
) -> None:
    level = gold_level(books)
    open_one = signed_up(books, level, company="Acme Widgets, Inc.")
    paid = signed_up(books, level, company="Initech LLC")
    with books.sessions() as session:
        found = find_invoice(session, paid)
        record_bank_payment(
            session,
            "tests",
            found,
            paid_by=PaidBy.CHEQUE,
            received_on=found.issued_on,
            reference="cheque 1001",
        )
        session.commit()
    books.post_ledger()

    out = written(books, tmp_path / "export")

    listed = rows(out / "invoices.csv")
    assert [(r["number"], r["customer"], r["amount"]) for r in listed] == [
        (open_one, "Acme Widgets, Inc.", "10000.00")
    ]
    entries = load_alone(out / "twisted.beancount")
    assert fund_balance(entries) == sponsors_fund_balance(books)


@requires_weasyprint
def test_summary_pdf_names_the_project_the_period_and_the_closing_balance(
    books: Runtime, tmp_path: Path
) -> None:
    out = written(books, tmp_path / "export")
    drawn = (out / "summary.pdf").read_bytes()
    assert tagged_pdf_a_problems(drawn) == []
    text = pdf_text(drawn)
    assert "Test Sponsor, Inc." in text
    assert "Twisted" in text
    assert "Project export for a new sponsor" in text
    assert f"Closing balance, {long_date(PREPARED_ON)} ${CLOSING}" in text
    assert "Opening balance, January 1, 2026 $0.00" in text
    assert "Transactions 19" in text
    assert "Recurring gifts still running 1" in text
    assert f"Donations, refunds taken off ${DONATIONS}" in text
    assert "There are no open sponsorship invoices" in text
    assert "No file holds a donor's e-mail or postal address" in text
    assert "Grace" not in text
    assert "Ivan" not in text


def test_another_projects_gifts_appear_in_no_file(books: Runtime, tmp_path: Path) -> None:
    out = written(books, tmp_path / "export")
    for path in out.iterdir():
        content = path.read_bytes()
        text = pdf_text(content) if path.suffix == ".pdf" else content.decode("utf-8")
        assert "Ivan" not in text, path.name
        assert "Inkscape" not in text, path.name
        assert "500.00" not in text, path.name


# --- bad input ---------------------------------------------------------------------------


@sqlite_only
def test_bad_input_is_one_line_and_writes_nothing(
    books: Runtime, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "donors.csv").write_text("last year's\n", "utf-8")
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder\n", "utf-8")
    today = clock.today(settings.timezone)

    def refused(*args: str) -> str:
        return one_line_failure(run_cli(settings, "project", "export", *args))

    assert refused("nope", "--out", str(folder)) == "error: there is no project 'nope'"
    assert refused("twisted", "--out", str(folder), "--from", "2026-02-30") == (
        "error: --from: '2026-02-30' is not a date (use YYYY-MM-DD)"
    )
    assert refused("twisted", "--out", str(a_file)) == f"error: --out: {a_file} is not a folder"
    assert refused("twisted", "--out", str(a_file / "inside")).startswith(
        f"error: --out: cannot make {a_file / 'inside'}: "
    )
    assert refused("twisted", "--out", str(folder), "--from", "2999-01-01") == (
        f"error: the period starts (2999-01-01) after it ends ({today})"
    )
    assert [p.name for p in folder.iterdir()] == ["donors.csv"]
    assert (folder / "donors.csv").read_text("utf-8") == "last year's\n"
    assert a_file.read_text("utf-8") == "not a folder\n"


def test_the_exported_opens_carry_each_accounts_form_990_line_and_function(
    books: Runtime, tmp_path: Path
) -> None:
    """The new sponsor's preparer finds the lines and columns the old sponsor used."""
    out = written(books, tmp_path / "export")
    opens = {
        e.account: {k: v for k, v in e.meta.items() if k not in {"filename", "lineno"}}
        for e in load_alone(out / "twisted.beancount")
        if isinstance(e, data.Open)
    }

    assert opens["Income:Twisted:Donations"] == {"form-990-line": "1f"}
    assert opens["Income:Twisted:Sponsorships"] == {"form-990-line": "1f"}
    assert opens["Expenses:Twisted:Payment-Processing"] == {"function": "fundraising"}
    assert opens["Expenses:Twisted:Sponsorship-Fees"] == {"function": "between-funds"}
    assert opens["Expenses:Twisted:Contractors"] == {"function": "program"}  # the staff's open
    assert opens["Expenses:Twisted:Hosting"] == {"function": "program"}  # the app's category
