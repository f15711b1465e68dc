"""Issue 18, items 3 to 6: a year-end package a Form 990 preparer can file from.

Five years of books, 2022 to 2026, built through the app's own services as staff and
donors build them, plus the bookkeeper's own entries in a file of theirs. 2022 and 2023
are closed before the package of 2026 is made, so Schedule A reads them from the full
history. Every figure below is worked out by hand; the tests assert them.

2026, the year of the return (all to Twisted unless said; card fees 0.00 except Ada's):

======================================  ========== =====================================
what                                    amount     Part VIII
======================================  ========== =====================================
Ada's card gift (card fee 180.00)         6,000.00 1f
Cy's card gift, a conference pass back    5,300.00 1f 4,900.00; 11a 400.00 (not a token)
  worth 400.00
Dee's card gift, a sticker worth 5.00       100.00 1f: a token by the low-cost article
                                                   test (100.00 >= 70.00, 5.00 <= 14.00)
Fay's card gift, a mug worth 15.00        1,000.00 1f: a token by the 2% test (15.00 <=
                                                   2% of 1,000.00 = 20.00 <= 140.00),
                                                   though it costs more than 14.00
Gus's card gift, a sticker worth 5.00        50.00 1f 45.00; 11a 5.00: neither test (50.00
                                                   < 70.00; 5.00 > 2% of 50.00 = 1.00)
Eve's 100 shares of ACME Corp, sold       8,000.00 1f, and 1g (noncash)
  for 8,000.00 (entered as stock)
the Big Foundation's cheque             300,000.00 1f
Acme's Gold sponsorship invoice, a       10,000.00 1f 9,500.00; 11a 500.00
  conference pass worth 500.00 back
bank interest (staff, General)               12.34 3
a training course sold (staff)              750.00 2a
10% sponsorship fees on Twisted's        33,045.00 between the sponsor's funds: 10% of
  income                                           6,000 + 5,300 + 100 + 1,000 + 50 +
                                                   8,000 + 300,000 + 10,000 = 330,450
======================================  ========== =====================================

Line 1f (and 1h) = 6,000 + 4,900 + 100 + 1,000 + 45 + 8,000 + 300,000 + 9,500
= 329,545.00; 1g 8,000.00; 2a 750.00; 3 12.34; 11a 400 + 5 + 500 = 905.00; line 12 =
329,545 + 750 + 12.34 + 905 = 331,212.34.

Schedule B, general rule (5,000.00 or more): the Big Foundation 300,000.00, Acme 9,500.00,
Eve 8,000.00, Ada 6,000.00 (Cy's 5,300.00 holds 4,900.00 of gift). Special rule: the
greater of 5,000.00 and 2% of 329,545.00 = 6,590.90: the Big Foundation, Acme, Eve.

Expenses, by Part IX line and column (the staff's entries; Ada's card fee by the app):

=============================================  ======== ========= ========== ===========
what                                           line     program   management fundraising
=============================================  ======== ========= ========== ===========
Twisted's train to a sprint (Travel: program)  17        1,200.00
Twisted's flight to meet the Big Foundation    17                                300.00
  (the entry says function "fundraising")
the sponsor's audit (General:Audit)            11c                  3,000.00
appeal letters (General:Donor-Mailings,        12                                800.00
  fundraising, form-990-line "12")
Ada's card fee (Twisted:Payment-Processing,    24a                               180.00
  fundraising by default)
line 25                                                  1,200.00   3,000.00   1,280.00
=============================================  ======== ========= ========== ===========

Line 25 (A) = 1,200 + 3,000 + 1,280 = 5,480.00; by project, General 3,800.00 (3,000
management, 800 fundraising), Twisted 1,680.00 (1,200 program, 480 fundraising). Twisted's
33,045.00 of sponsorship fees are between the sponsor's funds: line 25 plus them,
38,525.00, is every expense account of the books. In 2025: travel 500.00 (program) and
the audit 2,500.00 (management), line 25 3,000.00.

The four years before (line 1 of Schedule A Part II; card fees 0.00):

====  ======================================================================  =========
year  contributions, and other support                                        line 1
====  ======================================================================  =========
2022  the Big Foundation 60,000.00 (cheque); Ada 1,000.00 (card)              61,000.00
2023  the Big Foundation 60,000.00; Bob 2,000.00                              62,000.00
2024  Ada 1,000.00; the City of Springfield's grant 30,000.00 (staff entry,   31,000.00
      Income:Twisted:Government-Grants, line 1e); interest 100.00 (line 8)
2025  the Big Foundation 60,000.00; Cat 500.00; interest 100.00 (line 8)     60,500.00
====  ======================================================================  =========

Schedule A Part II:
line 1 (= 4 = 7), column (f): 61,000 + 62,000 + 31,000 + 60,500 + 329,545 = 544,045.00
line 8: 100 + 100 + 12.34 = 212.34; line 10 (2026's benefits' value, line 11a): 905.00
line 11: 544,045 + 212.34 + 905 = 545,162.34; 2% of it: 10,903.2468, so 10,903.25
five-year totals above it: the Big Foundation 60,000 x 3 + 300,000 = 480,000.00, of which
469,096.75 is above 2%. The City's 30,000.00 is a governmental unit's: not capped. Ada
1,000 + 1,000 + 6,000 = 8,000.00 and Acme 9,500.00 stay under.
line 5: 469,096.75; line 6: 544,045 - 469,096.75 = 74,948.25
line 14: 74,948.25 / 545,162.34 = 13.7479...% -> 13.75%: below 33 1/3%, above 10%, so
the 10%-facts-and-circumstances test may apply.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask

from conservancy.cli import cli
from conservancy.cli.reports import report
from conservancy.donations.models import OfflineMethod
from conservancy.infra.config import ScheduleBRule, Settings
from conservancy.kernel import clock
from conservancy.ledger.books import covering
from conservancy.ledger.close import close_year
from conservancy.projects.service import add_project
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.pages import signed_in
from tests.environment import settings_env
from tests.ledger.processes import run_cli
from tests.ledger.test_check import add_staff_file, line_of, run_check
from tests.receipts.pdfs import pdf_text, requires_weasyprint
from tests.reports.test_form990 import offline, sponsorship
from tests.saved_books import saved_books

cli.add_command(report)  # as the console script's main() does

OPEN_ON = date(2022, 1, 1)
TODAY = date(2027, 1, 15)  # 2026 has ended: the package is final, the years may close

STAFF_ENTRIES = (
    "; The bookkeeper's own entries.\n\n"
    "2022-01-01 open Income:General:Interest\n\n"
    "2022-01-01 open Income:Twisted:Government-Grants\n\n"
    "2022-01-01 open Income:Twisted:Training\n"
    '  form-990-line: "2a"\n\n'
    "2022-01-01 open Expenses:Twisted:Travel\n"
    '  function: "program"\n\n'
    "2022-01-01 open Expenses:General:Audit\n"
    '  function: "management"\n\n'
    "2022-01-01 open Expenses:General:Donor-Mailings\n"
    '  function: "fundraising"\n'
    '  form-990-line: "12"\n\n'
    '2025-04-10 * "Rail Co" "Train to the Twisted sprint"\n'
    "  Expenses:Twisted:Travel           500.00 USD\n"
    "  Assets:Bank:Checking             -500.00 USD\n\n"
    '2025-11-30 * "Audit LLP" "Audit of 2024"\n'
    "  Expenses:General:Audit           2500.00 USD\n"
    "  Assets:Bank:Checking            -2500.00 USD\n\n"
    '2026-04-10 * "Rail Co" "Train to the Twisted sprint"\n'
    "  Expenses:Twisted:Travel          1200.00 USD\n"
    "  Assets:Bank:Checking            -1200.00 USD\n\n"
    '2026-05-10 * "Air Co" "Flight to meet the Big Foundation"\n'
    '  function: "fundraising"\n'
    "  Expenses:Twisted:Travel           300.00 USD\n"
    "  Assets:Bank:Checking             -300.00 USD\n\n"
    '2026-10-01 * "Print Co" "Year-end appeal letters"\n'
    "  Expenses:General:Donor-Mailings   800.00 USD\n"
    "  Assets:Bank:Checking             -800.00 USD\n\n"
    '2026-11-30 * "Audit LLP" "Audit of 2025"\n'
    "  Expenses:General:Audit           3000.00 USD\n"
    "  Assets:Bank:Checking            -3000.00 USD\n\n"
    '2024-03-01 * "City of Springfield" "Grant for the Twisted school programme"\n'
    '  entity: "gov-springfield"\n'
    "  Assets:Bank:Checking                 30000.00 USD\n"
    "  Income:Twisted:Government-Grants    -30000.00 USD\n\n"
    '2024-06-30 * "First Bank" "Interest on the checking account"\n'
    "  Assets:Bank:Checking              100.00 USD\n"
    "  Income:General:Interest          -100.00 USD\n\n"
    '2025-06-30 * "First Bank" "Interest on the checking account"\n'
    "  Assets:Bank:Checking              100.00 USD\n"
    "  Income:General:Interest          -100.00 USD\n\n"
    '2026-06-30 * "First Bank" "Interest on the checking account"\n'
    "  Assets:Bank:Checking               12.34 USD\n"
    "  Income:General:Interest           -12.34 USD\n\n"
    '2026-08-15 * "Example University" "Twisted training course, two days"\n'
    "  Assets:Bank:Checking          750.00 USD\n"
    "  Income:Twisted:Training      -750.00 USD\n\n"
)


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


def card(rt: Runtime, who: str, amount: str, on: datetime, fee: str = "0.00", **kw: object) -> None:
    factories.settled_gift(
        rt,
        email=f"{who.split()[0].lower()}@example.org",
        name=who,
        amount=amount,
        fee=fee,
        address=f"{who}'s house\nSpringfield",
        at=on,
        **kw,  # type: ignore[arg-type]
    )


def on_the_return_day(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@saved_books(books_open_on=OPEN_ON, patch=on_the_return_day)
def five_years(rt: Runtime) -> None:
    with rt.sessions() as session:
        add_project(session, slug="twisted", name="Twisted", opened_on=OPEN_ON)
        session.commit()
    rt.post_ledger()
    cheque = OfflineMethod.CHEQUE
    # 2022 and 2023: the app's entries only, so that the years can be closed.
    offline(rt, cheque, "The Big Foundation", "60000.00", "2201", on=date(2022, 6, 1))
    card(rt, "Ada Lovelace", "1000.00", at(2022, 3, 1))
    offline(rt, cheque, "The Big Foundation", "60000.00", "2301", on=date(2023, 6, 1))
    card(rt, "Bob Babbage", "2000.00", at(2023, 3, 1))
    card(rt, "Ada Lovelace", "1000.00", at(2024, 3, 1))
    offline(rt, cheque, "The Big Foundation", "60000.00", "2501", on=date(2025, 6, 1))
    card(rt, "Cat Small", "500.00", at(2025, 3, 1))
    # 2026, the year of the return.
    card(rt, "Ada Lovelace", "6000.00", at(2026, 2, 1), fee="180.00")
    card(rt, "Cy Pass", "5300.00", at(2026, 3, 1), benefit=("Conference pass", "400.00"))
    card(rt, "Dee Sticker", "100.00", at(2026, 3, 2), benefit=("Project sticker", "5.00"))
    card(rt, "Fay Mug", "1000.00", at(2026, 3, 3), benefit=("Project mug", "15.00"))
    card(rt, "Gus Small", "50.00", at(2026, 3, 4), benefit=("Project sticker", "5.00"))
    offline(rt, OfflineMethod.STOCK, "Eve Shares", "8000.00", "100 ACME", on=date(2026, 5, 4))
    offline(rt, cheque, "The Big Foundation", "300000.00", "2601", on=date(2026, 5, 5))
    sponsorship(rt)  # Acme's Gold invoice, 2026-04-01
    add_staff_file(rt, STAFF_ENTRIES)


@saved_books(after=five_years)
def closed(rt: Runtime) -> None:
    """2022 and 2023 closed: the day-to-day books start in 2024."""
    for year in (2022, 2023):
        close_year(rt.sessions, rt.ledger, year, today=TODAY)


def package(rt: Runtime, rule: ScheduleBRule = ScheduleBRule.GENERAL) -> ye.YearEnd:
    """The package as the command makes it: from the full history when a year is closed."""
    books = covering(rt.books, date(2022, 1, 1))
    books.ready()
    with rt.sessions() as session:
        return ye.year_end(session, books.index, books.current(), 2026, rule=rule)


def money(found: object) -> str:
    return str(getattr(found, "amount", found))


# --- Part VIII and Schedule B ------------------------------------------------------------


def test_part_viii_has_each_line_worked_out_by_hand(closed: Runtime) -> None:
    found = package(closed)

    assert {v.line: money(v.amount) for v in found.part_viii.lines} == {
        "1f": "329545.00",  # 6,000 + 4,900 + 100 + 1,000 + 45 + 8,000 + 300,000 + 9,500
        "1g": "8000.00",  # Eve's shares
        "1h": "329545.00",
        "2a": "750.00",  # the training course
        "3": "12.34",  # interest
        "11a": "905.00",  # Cy's pass 400 + Gus's sticker 5 + Acme's pass 500
        "12": "331212.34",  # 329,545 + 750 + 12.34 + 905
    }
    assert money(found.part_viii.between_funds) == "33045.00"  # 10% of 330,450
    assert found.differences == []


def test_schedule_b_under_each_rule(closed: Runtime) -> None:
    general = package(closed, ScheduleBRule.GENERAL)
    special = package(closed, ScheduleBRule.SPECIAL)

    assert [(c.name, money(c.total)) for c in general.schedule_b] == [
        ("The Big Foundation", "300000.00"),
        ("Acme Widgets, Inc.", "9500.00"),
        ("Eve Shares", "8000.00"),
        ("Ada Lovelace", "6000.00"),
    ]
    assert money(special.schedule_b_threshold) == "6590.90"  # 2% of 329,545.00
    assert [c.name for c in special.schedule_b] == [
        "The Big Foundation",
        "Acme Widgets, Inc.",
        "Eve Shares",
    ]


# --- Schedule A Part II ------------------------------------------------------------------


def test_schedule_a_reads_five_years_closed_ones_included(closed: Runtime) -> None:
    support = package(closed).schedule_a
    rows = {line: (by_year, total) for line, _label, by_year, total in support.rows()}

    assert [y.year for y in support.years] == [2022, 2023, 2024, 2025, 2026]
    assert support.complete
    line_1, total_1 = rows["1"]
    assert line_1 is not None
    assert [money(m) for m in line_1] == [
        "61000.00",
        "62000.00",
        "31000.00",
        "60500.00",
        "329545.00",
    ]
    assert money(total_1) == "544045.00"
    assert money(rows["8"][1]) == "212.34"
    assert money(rows["10"][1]) == "905.00"
    assert money(rows["11"][1]) == "545162.34"
    assert money(rows["12"][1]) == "750.00"  # program service revenue: no support
    assert money(support.cap) == "10903.25"  # 2% of 545,162.34, to the cent
    assert [(c.name, money(c.total), money(c.excess)) for c in support.capped] == [
        ("The Big Foundation", "480000.00", "469096.75")
    ]  # the City's 30,000.00 is a governmental unit's: not capped
    assert money(support.line_5) == "469096.75"
    assert money(support.line_6) == "74948.25"
    assert support.percentage == Decimal("13.75")
    assert not support.meets_one_third
    assert support.ten_percent
    assert "10%-facts-and-circumstances" in support.verdict


def test_schedule_a_line_1_of_the_year_ties_to_part_viii(closed: Runtime) -> None:
    found = package(closed)

    (tie,) = [t for t in found.tie_out if t.what.startswith("Schedule A Part II line 1")]
    assert (tie.package, tie.books, tie.ok) == ("$329,545.00", "$329,545.00", True)


def test_day_to_day_books_say_which_closed_years_schedule_a_could_not_read(
    closed: Runtime,
) -> None:
    with closed.sessions() as session:
        found = ye.year_end(session, closed.books.index, closed.books.current(), 2026)

    assert found.schedule_a.unread == (2022, 2023)
    assert not found.schedule_a.complete
    assert found.schedule_a.verdict.startswith("incomplete: 2022, 2023 not read")
    # The years it holds are read all the same, and the year of the return still ties.
    assert money(found.schedule_a.years[-1].contributions_money) == "329545.00"
    assert found.differences == []


# --- Part IX -----------------------------------------------------------------------------


def columns(found: object) -> tuple[str, str, str, str]:
    return tuple(money(m) for m in found.money())  # type: ignore[attr-defined,return-value]


def test_part_ix_has_each_line_and_column_worked_out_by_hand(closed: Runtime) -> None:
    part = package(closed).part_ix

    assert {row.line: columns(row.columns) for row in part.lines} == {
        #        (A) total   (B) program (C) management (D) fundraising
        "11c": ("3000.00", "0.00", "3000.00", "0.00"),  # the audit
        "12": ("800.00", "0.00", "0.00", "800.00"),  # appeal letters
        "17": ("1500.00", "1200.00", "0.00", "300.00"),  # the sprint; the donor visit
        "24a": ("180.00", "0.00", "0.00", "180.00"),  # Ada's card fee
        "25": ("5480.00", "1200.00", "3000.00", "1280.00"),
    }
    assert money(part.between_funds) == "33045.00"  # Twisted's sponsorship fees
    assert part.unclassed == ()
    # Lines 24a to 24d are itemized: the form wants what each holds, not a letter.
    labels = {row.line: row.label for row in part.lines}
    assert labels["24a"] == "Other expenses: payment processing and dispute costs"


def test_part_ix_by_project_and_its_ties_to_the_books(closed: Runtime) -> None:
    found = package(closed)
    part = found.part_ix

    assert {fund: columns(part.of_fund(fund)) for fund in part.funds()} == {
        "General": ("3800.00", "0.00", "3000.00", "800.00"),
        "Twisted": ("1680.00", "1200.00", "0.00", "480.00"),
    }
    tie = found.part_ix_tie
    assert (tie.package, tie.books, tie.ok) == ("$38,525.00", "$38,525.00", True)
    assert found.differences == []


def test_an_expense_account_of_the_sponsors_own_without_a_function_is_named(
    runtime: Runtime, settings: Settings
) -> None:
    """A project's spending is program service unless said otherwise; the sponsor's own
    fund spends on management and fundraising both, so its accounts must say."""
    rt = factories.with_project(runtime)
    staff = add_staff_file(
        rt,
        "2026-01-01 open Expenses:Twisted:Swag\n"
        "2026-01-01 open Expenses:General:Swag\n\n"
        '2026-09-09 * "Stickers for a meetup"\n'
        "  Expenses:Twisted:Swag            80.00 USD\n"
        "  Assets:Bank:Checking            -80.00 USD\n\n"
        '2026-09-10 * "Stickers for the sponsor\'s stand"\n'
        "  Expenses:General:Swag            30.00 USD\n"
        "  Assets:Bank:Checking            -30.00 USD\n\n",
        name="swag.beancount",
    )
    rt.books.load()

    checked = run_check(settings)
    with rt.sessions() as session:
        found = ye.year_end(session, rt.books.index, rt.books.current(), 2026)

    assert checked.returncode == 1
    assert checked.lines == [
        f"swag.beancount:{line_of(staff, 'open Expenses:General:Swag')}: "
        "Expenses:General:Swag has no function on its open and no default applies: add its "
        "Form 990 Part IX column (program, management, fundraising)"
    ]
    assert found.part_ix.unclassed == ("Expenses:General:Swag",)
    assert found.part_ix_tie.difference == "-$30.00"
    # Twisted's stickers: program service, by default.
    assert columns(found.part_ix.of_fund("Twisted")) == ("80.00", "80.00", "0.00", "0.00")


def test_the_apps_own_expense_accounts_carry_their_function(runtime: Runtime) -> None:
    factories.with_project(runtime)
    opened = runtime.ledger.accounts.read_text("utf-8")

    for account, function in [
        ("Expenses:Twisted:Payment-Processing", "fundraising"),
        ("Expenses:Twisted:Dispute-Fees", "fundraising"),
        ("Expenses:Twisted:Sponsorship-Fees", "between-funds"),
        ("Expenses:General:Payment-Processing", "fundraising"),
    ]:
        assert f'open {account}\n  ref: "open:{account}"\n  function: "{function}"\n' in opened


def test_the_five_years_pass_the_ledger_check_day_to_day_and_in_full(
    closed: Runtime, settings: Settings
) -> None:
    for args in (("ledger", "check"), ("ledger", "check", "--history")):
        checked = run_cli(settings, *args)
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- the files: basis, the prior year, the roll-forward ------------------------------------


def read_csv(path: Path) -> list[dict[str, str]]:
    """A final package's CSV as a program reads it: the first line is the header."""
    return list(csv.DictReader(io.StringIO(path.read_text("utf-8"))))


def readme_files(readme: str) -> list[str]:
    """The files README.txt lists, one a line below "Files:", each name first."""
    lines = readme.splitlines()
    return [line.split()[0] for line in lines[lines.index("Files:") + 1 :] if line.strip()]


@pytest.fixture
def written(closed: Runtime, settings: Settings, tmp_path: Path) -> Path:
    """The command's package of 2026, read from the full history (2022 and 2023 closed)."""
    out = tmp_path / "pkg"
    done = CliRunner(env=settings_env(settings)).invoke(
        cli, ["report", "year-end", "--year", "2026", "--out", str(out)], catch_exceptions=False
    )
    assert done.exit_code == 0, done.output
    assert done.output.splitlines()[-1] == "every total ties to the books to the cent"
    return out


@requires_weasyprint
def test_each_csv_begins_with_its_header_and_the_readme_states_the_basis(
    closed: Runtime, written: Path
) -> None:
    """A final package, as a program written for final packages reads it: every CSV's
    first line is its header, nothing above it; the basis is stated in README.txt, which
    names every file the package holds, and only those."""
    written_files = sorted(path.name for path in written.iterdir())
    assert written_files == sorted(["README.txt", *ye.CSV_FILES, "year-end-2026.pdf"])
    headers = {name: header for name, header, _ in ye.csv_rows(package(closed))}
    for name in ye.CSV_FILES:
        first = (written / name).read_bytes().decode("utf-8").split("\r\n", 1)[0]
        assert not first.startswith("#"), name
        assert next(csv.reader([first])) == headers[name], name  # the header itself

    readme = (written / "README.txt").read_text("utf-8")
    lines = readme.splitlines()
    assert lines[0] == "Year-end package, 2026"
    assert "Sponsor: Test Sponsor, Inc. (EIN 12-3456789)" in lines
    assert "Year: 2026 (2026-01-01 to 2026-12-31), amounts in USD" in lines
    assert (
        "Basis: accrual (sponsorship invoices count when issued and gifts when they settle; "
        "as the books are kept)"
    ) in lines
    assert "Status: final (2026 has ended)" in lines
    assert "Prepared: 2027-01-15" in lines
    assert "DRAFT" not in readme
    assert sorted(readme_files(readme)) == written_files


@requires_weasyprint
def test_part_viii_and_part_ix_compare_each_line_with_the_year_before(written: Path) -> None:
    viii = {r["line"]: (r["amount"], r["prior_year"]) for r in read_csv(written / "part-viii.csv")}
    ix = {
        r["line"]: (
            r["total"],
            r["program"],
            r["management"],
            r["fundraising"],
            r["prior_year_total"],
        )
        for r in read_csv(written / "part-ix.csv")
    }

    # 2025: the Big Foundation 60,000 + Cat 500 = 60,500.00; interest 100.00; the fees
    # between funds 10% of 60,500 = 6,050.00.
    assert viii == {
        "1f": ("329545.00", "60500.00"),
        "1g": ("8000.00", "0.00"),
        "1h": ("329545.00", "60500.00"),
        "2a": ("750.00", "0.00"),
        "3": ("12.34", "100.00"),
        "11a": ("905.00", "0.00"),
        "12": ("331212.34", "60600.00"),
        "": ("33045.00", "6050.00"),
    }
    # 2025: the audit 2,500.00, travel 500.00.
    assert ix == {
        "11c": ("3000.00", "0.00", "3000.00", "0.00", "2500.00"),
        "12": ("800.00", "0.00", "0.00", "800.00", "0.00"),
        "17": ("1500.00", "1200.00", "0.00", "300.00", "500.00"),
        "24a": ("180.00", "0.00", "0.00", "180.00", "0.00"),
        "25": ("5480.00", "1200.00", "3000.00", "1280.00", "3000.00"),
        "": ("33045.00", "", "", "", "6050.00"),
    }
    by_project = {
        (r["fund"], r["account"]): r["total"] for r in read_csv(written / "part-ix-by-project.csv")
    }
    assert by_project[("Twisted", "Total")] == "1680.00"
    assert by_project[("General", "Total")] == "3800.00"


@requires_weasyprint
def test_schedule_a_files_give_the_lines_and_the_contributors_above_two_percent(
    written: Path,
) -> None:
    lines = {r["line"]: r for r in read_csv(written / "schedule-a-part-ii.csv")}
    capped = read_csv(written / "schedule-a-contributors.csv")

    assert [lines["1"][str(y)] for y in range(2022, 2027)] == [
        "61000.00",
        "62000.00",
        "31000.00",
        "60500.00",
        "329545.00",
    ]
    assert (lines["5"]["total"], lines["6"]["total"], lines["11"]["total"]) == (
        "469096.75",
        "74948.25",
        "545162.34",
    )
    assert lines["14"]["total"] == "13.75%"
    assert (lines["16a"]["total"], lines["17a"]["total"]) == ("no", "yes")
    assert [(c["name"], c["five_year_total"], c["limit"], c["excess"]) for c in capped] == [
        ("The Big Foundation", "480000.00", "10903.25", "469096.75")
    ]


@requires_weasyprint
def test_the_roll_forward_parts_contributions_from_other_income(written: Path) -> None:
    rows = {r["fund"]: r for r in read_csv(written / "roll-forward.csv")}

    # Twisted: 330,450.00 on line 1 accounts (benefits' value included, as
    # contributions.csv has it), 750.00 for the course; General: interest 12.34.
    assert (rows["Twisted"]["contributions"], rows["Twisted"]["other_income"]) == (
        "330450.00",
        "750.00",
    )
    assert (rows["General"]["contributions"], rows["General"]["other_income"]) == (
        "0.00",
        "12.34",
    )
    contributions = read_csv(written / "contributions.csv")
    assert [r["amount"] for r in contributions if r["project"] == "Total"] == ["330450.00"]


@requires_weasyprint
def test_the_pdf_has_schedule_a_and_part_ix_pages_with_the_prior_year(written: Path) -> None:
    text = " ".join(pdf_text((written / "year-end-2026.pdf").read_bytes()).split())

    assert "Schedule A, Part II: public support, 2022 to 2026" in text
    assert "13.75%: below 33⅓% but at least 10%" in text
    assert "Form 990, Part IX: statement of functional expenses, 2026" in text
    assert "$5,480.00 $1,200.00 $3,000.00 $1,280.00 $3,000.00" in text  # line 25, and 2025
    assert "Basis accrual" in text
    assert "DRAFT" not in text


def test_the_staff_page_shows_schedule_a_and_part_ix(closed: Runtime, app: Flask) -> None:
    page = signed_in(app, closed, "auditor").get("/admin/reports/year-end?year=2026")

    assert page.status_code == 200
    text = " ".join(page.text.split())
    assert "$5,480.00: program $1,200.00, management $3,000.00, fundraising $1,280.00" in text
    # Pages never load the full history: the closed years are named, not read.
    assert "13.75%" not in text
    assert "<strong>Incomplete:</strong> 2022, 2023 are closed and not read here" in text


def test_a_postings_own_function_wins_and_one_that_is_no_column_is_named(
    runtime: Runtime, settings: Settings
) -> None:
    rt = factories.with_project(runtime)
    staff = add_staff_file(
        rt,
        "2026-01-01 open Expenses:Twisted:Travel\n"
        '  function: "program"\n\n'
        '2026-03-03 * "Rail Co" "Train to the board meeting"\n'
        "  Expenses:Twisted:Travel          100.00 USD\n"
        '    function: "management"\n'
        "  Assets:Bank:Checking            -100.00 USD\n\n"
        '2026-03-04 * "Rail Co" "Train to a sprint"\n'
        '  function: "travel"\n'
        "  Expenses:Twisted:Travel           50.00 USD\n"
        "  Assets:Bank:Checking             -50.00 USD\n\n",
        name="travel.beancount",
    )
    rt.books.load()

    checked = run_check(settings)
    with rt.sessions() as session:
        found = ye.year_end(session, rt.books.index, rt.books.current(), 2026)

    assert checked.lines == [
        f"travel.beancount:{line_of(staff, 'Train to a sprint')}: "
        'function "travel" is not one of program, management, fundraising'
    ]
    # 100.00 by its posting's own column; the 50.00 whose entry names no column stays
    # with the account's, program service.
    assert columns(found.part_ix.line("17")) == ("150.00", "50.00", "100.00", "0.00")
