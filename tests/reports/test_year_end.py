"""The sponsor's year-end package: Schedule B, contributions, roll-forwards, acknowledgements,
refunds and disputes, and their tie-out to the books.

The year's books hold donors on both sides of the Schedule B line (exactly 5,000.00;
4,999.99; 5,000.00 over two projects; 5,000.00 less a refund of one cent; a cheque
making up a card gift; an anonymous donor), gifts each side of 250.00, and a
bookkeeper's own entries. Figures the tests expect are worked out by hand from
those gifts, or read from the ledger with Beancount's own loader.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from beancount import loader

from conservancy.donations.models import Visibility
from conservancy.infra.config import Settings
from conservancy.receipts.document import Sponsor
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import run_cli
from tests.receipts.pdfs import pdf_text, requires_weasyprint, tagged_pdf_a_problems
from tests.reports.test_statement import include_staff_file
from tests.saved_books import saved_books

SPONSOR = Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street\nBrooklyn, NY 11201")
STAFF_ENTRIES = (
    "; The bookkeeper's own entries.\n\n"
    '2026-01-01 open Expenses:Twisted:Contractors\n  function: "program"\n\n'
    '2026-02-20 * "ACME Corp" "Sponsorship, invoice 7"\n'
    '  ref: "invoice-7"\n'
    "  Assets:Bank:Checking          700.00 USD\n"
    "  Income:Twisted:Sponsorships  -700.00 USD\n\n"
    '2026-02-25 * "Build farm hosting"\n'
    "  Expenses:Twisted:Contractors   40.00 USD\n"
    "  Assets:Bank:Checking          -40.00 USD\n\n"
    '2026-12-31 * "Move part of a gift to the sponsor\'s fund"\n'
    "  Equity:Net-Assets:Twisted     20.00 USD\n"
    "  Equity:Net-Assets:General    -20.00 USD\n\n"
)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


def gift(rt: Runtime, who: str, amount: str, *, slug: str = "twisted", **kw: object) -> int:
    return factories.settled_gift(
        rt,
        email=f"{who.split()[0].lower()}@example.org",
        name=who,
        amount=amount,
        fee="0.00",
        slug=slug,
        address=f"{who}'s house\nSpringfield",
        **kw,  # type: ignore[arg-type]
    )


@saved_books
def books(rt: Runtime) -> None:
    factories.with_project(rt)
    factories.with_project(rt, "inkscape", "Inkscape")
    gift(rt, "Ada Exact", "5000.00", at=at(2, 1))  # on the line: listed
    gift(rt, "Bob Under", "4999.99", at=at(2, 2))  # a cent under: not listed
    gift(rt, "Cy Split", "3000.00", at=at(3, 1))  # 5,000.00 over two projects: listed
    gift(rt, "Cy Split", "2000.00", slug="inkscape", at=at(9, 1))
    refunded = gift(rt, "Dee Refunded", "5000.00", at=at(4, 1))  # less a cent: not listed
    factories.refund(rt, refunded, "0.01", "re_dee")
    gift(rt, "Eve Cheque", "4800.00", at=at(5, 1))  # a card gift and a cheque: listed
    factories.cheque(rt, "Eve Cheque", "200.00", date(2026, 5, 20), email="eve@example.org")
    gift(rt, "Fay Hidden", "6000.00", at=at(6, 1), visibility=Visibility.ANONYMOUS)
    gift(rt, "Gus Small", "250.00", at=at(7, 1))  # acknowledged: exactly 250.00
    gift(rt, "Hal Smaller", "249.99", at=at(7, 2))  # not: a cent under
    gift(rt, "Ida Nextyear", "9000.00", at=at(1, 15, 2027))  # another year: not counted
    include_staff_file(rt, STAFF_ENTRIES)


def read_csv(text: str) -> list[dict[str, str]]:
    """A package's CSV as a program reads it: a draft's first line, the notice, is skipped.
    (These books are of 2026, a draft until the clock passes the year.)"""
    if text.startswith("# DRAFT"):
        text = text.split("\n", 1)[1]
    return list(csv.DictReader(io.StringIO(text)))


def without_draft_warning(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if not line.startswith("warning: 2026 has not")]


def package(rt: Runtime, year: int = 2026, *, post: bool = True) -> ye.YearEnd:
    if post:
        rt.post_ledger()
    with rt.sessions() as session:
        return ye.year_end(session, rt.books.index, rt.books.current(), year)


def ledger_fund_balance(rt: Runtime, fund: str, on_or_before: date) -> Decimal:
    """The fund's balance as Beancount itself reads the whole ledger, to the day."""
    entries, errors, _options = loader.load_file(str(rt.ledger.main))
    assert not errors, errors
    total = Decimal(0)
    for entry in entries:
        if getattr(entry, "postings", None) is None or entry.date > on_or_before:
            continue
        for posting in entry.postings:
            parts = posting.account.split(":")
            if (parts[0] in {"Income", "Expenses"} and parts[1] == fund) or (
                posting.account == f"Equity:Net-Assets:{fund}"
            ):
                total -= posting.units.number
    return total


def test_each_donor_lands_on_the_right_side_of_the_schedule_b_line(books: Runtime) -> None:
    found = {c.name: c.total.amount for c in package(books).schedule_b}

    assert found == {
        "Fay Hidden": Decimal("6000.00"),  # anonymous to the public, named to the IRS
        "Ada Exact": Decimal("5000.00"),
        "Cy Split": Decimal("5000.00"),
        "Eve Cheque": Decimal("5000.00"),
    }


def test_schedule_b_gives_address_and_counts_every_gift(books: Runtime) -> None:
    by_name = {c.name: c for c in package(books).schedule_b}

    assert by_name["Cy Split"].address == "Cy Split's house\nSpringfield"
    assert by_name["Cy Split"].gifts == 2
    assert by_name["Eve Cheque"].gifts == 2  # the card gift and the cheque
    assert list(by_name) == ["Fay Hidden", "Ada Exact", "Cy Split", "Eve Cheque"]


def test_a_year_counts_only_its_own_gifts_and_opens_on_the_last_ones_close(
    books: Runtime,
) -> None:
    this_year, next_year = package(books), package(books, 2027)

    assert [(c.name, c.total.amount) for c in next_year.schedule_b] == [
        ("Ida Nextyear", Decimal("9000.00"))
    ]
    assert "Ida Nextyear" not in {c.name for c in this_year.schedule_b}
    closed = {r.fund: r.closing for r in this_year.roll_forward}
    assert {r.fund: r.opening for r in next_year.roll_forward} == closed
    assert next_year.ties_out, next_year.differences


def test_contributions_by_project_and_income_type(books: Runtime) -> None:
    found = {(c.project, c.income_type): c.amount.amount for c in package(books).contributions}

    donations = 5000 + Decimal("4999.99") + 3000 + Decimal("4999.99") + 4800 + 200 + 6000
    assert found == {
        ("Twisted", "Donations"): donations + 250 + Decimal("249.99"),
        ("Twisted", "Sponsorships"): Decimal("700.00"),  # the bookkeeper's entry
        ("Inkscape", "Donations"): Decimal("2000.00"),
    }


def test_roll_forward_closes_on_the_ledgers_fund_balance(books: Runtime) -> None:
    rows = {r.fund: r for r in package(books).roll_forward}
    twisted, general = rows["Twisted"], rows["General"]

    assert twisted.opening.amount == Decimal("0.00")  # the books opened on 2026-01-01
    assert twisted.contributions.amount == Decimal("30199.97")  # with 700.00 of sponsorship
    # 10% of each gift, rounded per gift: 4,999.99 and 249.99 pay 500.00 and 25.00; Dee's
    # refund of a cent changes her fee by nothing; the bookkeeper's entry pays none.
    assert twisted.sponsorship_fees.amount == Decimal("-2950.00")
    assert twisted.other_expenses.amount == Decimal("-40.00")
    assert twisted.transfers.amount == Decimal("-20.00")
    assert general.transfers.amount == Decimal("20.00")
    assert general.sponsorship_fees.amount == Decimal("3150.00")  # Inkscape's 200.00 too
    for fund, row in rows.items():
        assert row.opening + row.movements == row.closing
        assert row.closing.amount == ledger_fund_balance(books, fund, date(2026, 12, 31))


def test_gifts_of_250_or_more_are_listed_with_their_receipts(books: Runtime) -> None:
    listed = package(books).acknowledgements

    names = [a.name for a in listed]
    assert "Gus Small" in names
    assert "Hal Smaller" not in names
    assert names.count("Cy Split") == 2
    assert len(listed) == 8  # every 2026 gift but Hal's and Eve's cheque of 200.00
    assert all(a.receipt and a.receipt.startswith("2026-") for a in listed)


def test_refunds_and_disputes_of_the_year_are_listed(books: Runtime) -> None:
    (refund,) = package(books).reversals

    assert (refund.kind, refund.name, refund.amount.amount) == (
        "refund",
        "Dee Refunded",
        Decimal("0.01"),
    )
    assert refund.day == date(2026, 4, 1)


def test_every_total_ties_to_the_books(books: Runtime) -> None:
    result = package(books)

    assert result.ties_out, result.differences
    assert {t.what for t in result.tie_out} >= {
        "Contributions to Twisted",
        "Contributions to Inkscape",
        "Closing balance of Twisted: opening plus the year's movements",
    }


def test_a_gift_recorded_but_never_posted_does_not_tie(books: Runtime) -> None:
    factories.settled_gift(
        books, email="zed@example.org", name="Zed Unposted", at=at(8, 1), post=False
    )

    result = package(books, post=False)

    (line,) = result.differences
    assert line.what.startswith("Gifts settled in the year (database)")
    assert (line.package, line.books, line.difference) == ("11", "10", "1")


def year_end_cli(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(settings, "report", "year-end", *args)


@requires_weasyprint
def test_the_command_writes_the_package_and_says_it_ties(
    books: Runtime, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "year-end" / "2026"

    done = year_end_cli(settings, "--year", "2026", "--out", str(out))

    assert done.returncode == 0, done
    assert done.stdout.splitlines()[-1] == "every total ties to the books to the cent"
    said = re.search(r"(\d+) (gifts?) of 250\.00 or more", done.stdout)
    assert said is not None, done.stdout
    assert (said[2] == "gift") == (said[1] == "1")  # "1 gift", "5 gifts"
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["README.txt", *ye.CSV_FILES, "year-end-2026.pdf"]
    )
    rows = read_csv((out / "schedule-b.csv").read_text("utf-8"))
    assert [(r["name"], r["total"]) for r in rows] == [
        ("Fay Hidden", "6000.00"),
        ("Ada Exact", "5000.00"),
        ("Cy Split", "5000.00"),
        ("Eve Cheque", "5000.00"),
    ]
    ties = read_csv((out / "tie-out.csv").read_text("utf-8"))
    assert ties
    assert all(t["ties"] == "yes" and t["difference"] in {"$0.00", "0"} for t in ties)
    drawn = (out / "year-end-2026.pdf").read_bytes()
    text = pdf_text(drawn)
    assert "Schedule B" in text
    assert "Cy Split Cy Split's house, Springfield 2" in text  # the address on one line
    assert "Every total ties to the books to the cent." in text
    assert tagged_pdf_a_problems(drawn) == []


def test_the_command_exits_1_naming_what_does_not_tie(
    books: Runtime, settings: Settings, tmp_path: Path
) -> None:
    factories.settled_gift(
        books, email="zed@example.org", name="Zed Unposted", at=at(8, 1), post=False
    )

    done = year_end_cli(settings, "--year", "2026", "--out", str(tmp_path / "pkg"))

    assert done.returncode == 1, done
    assert "Traceback" not in done.stdout + done.stderr
    assert without_draft_warning(done.stderr) == [
        "does not tie: Gifts settled in the year (database) against gift entries in the books: "
        "package 11, books 10, difference 1"
    ]
    assert (tmp_path / "pkg" / "tie-out.csv").exists()  # written, to be looked at


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--year", "nineteen"], "'nineteen' is not a valid integer"),
        (["--year", "20260"], "20260 is not a year the books can hold"),
    ],
)
def test_the_command_refuses_bad_input_in_one_line(
    runtime: Runtime, settings: Settings, tmp_path: Path, args: list[str], message: str
) -> None:
    done = year_end_cli(settings, *args, "--out", str(tmp_path / "pkg"))

    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = (done.stdout + done.stderr).splitlines()
    assert message in line
    assert not (tmp_path / "pkg").exists()


def test_the_command_refuses_an_out_that_is_a_file(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    target = tmp_path / "taken"
    target.write_text("not a folder")

    done = year_end_cli(settings, "--year", "2026", "--out", str(target))

    assert done.returncode == 1
    assert (done.stdout + done.stderr).splitlines() == [f"error: --out: {target} is not a folder"]
