"""``conservancy ledger close --year``: closing 2026 in March 2027 (SPEC section 6).

The books are ``tests.ledger.closing``'s. Balances are read with Beancount's
own loader from main.beancount (the day-to-day books) and history.beancount
(the full history); the commands run as an operator runs them, in process
with the sponsor's clock set to 1 March 2027.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from beancount.core import data
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

from conservancy.cli import cli
from conservancy.cli import ledger as ledger_commands
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger import accounts, years
from conservancy.ledger import snapshot as snap
from conservancy.ledger.books import Books, covering
from conservancy.ledger.outbox import record
from conservancy.projects.models import Project
from conservancy.reports.statement import Statement, project_statement
from conservancy.reports.year_end import YearEnd, year_end
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests import factories
from tests.admin.pages import signed_in
from tests.environment import settings_env
from tests.ledger import closing
from tests.ledger.closing import (
    CLOSED_STAFF_FILE,
    STAFF_FILE,
    TODAY,
    account_balances,
    beancount_load,
    fund_balances,
    move_to_closed,
)
from tests.ledger.processes import run_cli
from tests.saved_books import saved_books
from tests.staff.people import person, sign_in

cli.add_command(ledger_commands.ledger)
END_2026 = date(2026, 12, 31)


@pytest.fixture(autouse=True)
def march_2027(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@saved_books
def books(rt: Runtime) -> None:
    closing.build_books(rt)


def close(settings: Settings, year: int = 2026) -> Result:
    return CliRunner(env=settings_env(settings)).invoke(
        cli, ["ledger", "close", "--year", str(year)], catch_exceptions=False
    )


def fund_totals(snapshot: snap.Snapshot) -> dict[str, Decimal]:
    """Every fund's balance as the application's snapshot has it."""
    funds = {
        account.split(":")[-1] if account.startswith("Equity:") else account.split(":")[1]
        for account in snapshot.balances
        if accounts.fund_of(account)
    }
    return {fund: snapshot.fund_balance(fund).amount for fund in funds}


def one_line_refusal(done: Result) -> str:
    assert done.exit_code == 1, done.output
    lines = done.output.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: ")
    return lines[0]


def statement(rt: Runtime, first: date, last: date) -> Statement:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        books = covering(rt.books, first)
        books.ready()
        return project_statement(books.index, project, first, last)


def package(rt: Runtime, year: int = 2026) -> YearEnd:
    books = covering(rt.books, date(year, 1, 1))
    books.ready()
    with rt.sessions() as session:
        return year_end(session, books.index, books.current(), year)


@pytest.fixture
def before(books: Runtime) -> dict[str, object]:
    """What a bookkeeper reads off the books before the close."""
    return {
        "funds": fund_balances(beancount_load(str(books.ledger.main))),
        "statement": statement(books, date(2026, 1, 1), END_2026),
        "across": statement(books, date(2026, 7, 1), date(2027, 2, 28)),
        "package": package(books),
    }


@pytest.fixture
def closed(books: Runtime, settings: Settings, before: dict[str, object]) -> Runtime:
    move_to_closed(books)
    done = close(settings)
    assert done.exit_code == 0, done.output
    return books


# --- what the close does ---------------------------------------------------------------


def test_close_is_refused_while_a_staff_file_holds_entries_of_the_year(
    books: Runtime, settings: Settings
) -> None:
    line = one_line_refusal(close(settings))

    assert line.startswith(f"error: {STAFF_FILE} holds entries dated 2026 or earlier")
    assert "move them into closed/" in line
    assert not years.close_journal(books.ledger).exists()
    assert books.ledger.year_file(2026).exists()


def test_close_prints_what_it_did(books: Runtime, settings: Settings) -> None:
    move_to_closed(books)

    done = close(settings)

    assert done.exit_code == 0, done.output
    assert done.output.splitlines() == [
        "closed 2026: 3 closing entries, 5 balances carried into 2027 (opening-2027.beancount)",
        "the day-to-day books start on 2027-01-01; the full history is history.beancount",
        "ok: the balances of 3 funds are unchanged",
    ]


def test_every_fund_balance_is_unchanged_in_the_day_to_day_books_and_the_history(
    closed: Runtime, before: dict[str, object]
) -> None:
    files = closed.ledger

    assert fund_balances(beancount_load(str(files.main))) == before["funds"]
    assert fund_balances(beancount_load(str(files.as_history().main))) == before["funds"]
    # 2026: 130.00 given, 4.95 card fees, 13.00 sponsorship, 30.00 travel, 40.00 contractor,
    # 20.00 moved to General; 2027: 60.00 given, 3.20 card fee, 6.00 sponsorship.
    assert closed.books.ready().fund_balance("Twisted") == factories.usd("72.85")


def test_the_day_to_day_books_hold_the_open_year_and_the_opening_balances_only(
    closed: Runtime,
) -> None:
    entries = beancount_load(str(closed.ledger.main))
    dated_2026 = [e for e in entries if isinstance(e, data.Transaction) and e.date <= END_2026]

    (opening,) = dated_2026
    assert opening.meta["ref"] == "opening-2027"
    assert opening.date == END_2026  # before any balance asserted on 1 January
    carried = {p.account: p.units.number for p in opening.postings}
    history = account_balances(beancount_load(str(closed.ledger.as_history().main)), END_2026)
    assert carried == {
        account: number
        for account, number in history.items()
        if number and account.split(":")[0] in {"Assets", "Liabilities", "Equity"}
    }
    assert not closed.ledger.year_file(2026).exists()
    assert years.closed_year_file(closed.ledger, 2026).exists()


def test_the_history_closes_each_income_and_expense_account_into_net_assets(
    closed: Runtime,
) -> None:
    history = beancount_load(str(closed.ledger.as_history().main))

    at_close = account_balances(history, END_2026)
    left = {a: n for a, n in at_close.items() if a.split(":")[0] in {"Income", "Expenses"} and n}
    assert left == {}
    closing_refs = sorted(
        e.meta["ref"] for e in history if isinstance(e, data.Transaction) and "closing" in e.meta
    )
    assert closing_refs == ["close-2026-General", "close-2026-Inkscape", "close-2026-Twisted"]
    # Twisted received 130.00 (100.00 + 50.00 - 20.00 refunded) and spent 4.95 on card
    # fees, 13.00 on sponsorship fees, 30.00 on travel and 40.00 on a contractor.
    assert at_close["Equity:Net-Assets:Twisted"] == Decimal("-42.05") + Decimal("20.00")


def test_ledger_check_passes_on_both_books_after_the_close(
    closed: Runtime, settings: Settings
) -> None:
    day_to_day = run_cli(settings, "ledger", "check")
    history = run_cli(settings, "ledger", "check", "--history")

    assert day_to_day.returncode == 0, day_to_day.stdout + day_to_day.stderr
    assert history.returncode == 0, history.stdout + history.stderr
    assert day_to_day.stdout.startswith("ok: ")
    assert history.stdout.startswith("ok: ")


def test_a_statement_and_the_year_end_package_of_2026_are_the_same_after_the_close(
    closed: Runtime, before: dict[str, object]
) -> None:
    assert statement(closed, date(2026, 1, 1), END_2026) == before["statement"]
    assert statement(closed, date(2026, 7, 1), date(2027, 2, 28)) == before["across"]
    after = package(closed)
    assert after == before["package"]
    assert after.ties_out, after.differences


def test_a_statement_from_the_first_open_day_opens_on_the_carried_balance(
    closed: Runtime, before: dict[str, object]
) -> None:
    year = before["across"]
    assert isinstance(year, Statement)

    opened = statement(closed, date(2027, 1, 1), date(2027, 2, 28))

    assert opened.opening == before["statement"].closing  # type: ignore[attr-defined]
    assert [row.ref for row in opened.rows] == [
        row.ref for row in year.rows if row.date >= date(2027, 1, 1)
    ]
    assert "opening-2027" not in {row.ref for row in opened.rows}
    assert opened.closing == year.closing


def test_a_second_close_of_the_year_is_refused_and_changes_nothing(
    closed: Runtime, settings: Settings
) -> None:
    files = sorted(p for p in closed.ledger.root.rglob("*.beancount"))
    contents = {p: p.read_bytes() for p in files}

    line = one_line_refusal(close(settings))

    assert line == "error: 2026 is already closed (the books are closed to 2026)"
    assert {p: p.read_bytes() for p in closed.ledger.root.rglob("*.beancount")} == contents


def test_a_worker_keeps_its_balances_while_it_rebuilds_from_the_open_year(
    books: Runtime, settings: Settings
) -> None:
    worker = Books(books.ledger)
    worker.start()
    served = worker.current().fund_balance("Twisted")
    move_to_closed(books)  # the staff's own move: main.beancount changes, and so the books
    assert close(settings).exit_code == 0

    assert worker.current().fund_balance("Twisted") == served  # the old one, or the new
    worker.wait()
    rebuilt = worker.current()
    assert rebuilt.fund_balance("Twisted") == served
    assert rebuilt.transactions == 4  # the opening entry, a gift, its fee entry, a bank fee
    page = worker.index.fund_transactions("Twisted")
    assert [t.ref for t in page.transactions][-1] == "opening-2027"


def test_an_entry_dated_in_the_closed_year_that_arrives_late_goes_to_the_open_year(
    closed: Runtime, settings: Settings, before: dict[str, object]
) -> None:
    factories.settled_gift(
        closed,
        email="late@example.org",
        name="Late Webhook",
        amount="10.00",
        fee="0.59",
        at=closing.at(12, 30),
    )

    assert "Late Webhook" in closed.ledger.year_file(2027).read_text("utf-8")
    assert not closed.ledger.year_file(2026).exists()
    funds = fund_balances(beancount_load(str(closed.ledger.main)))
    history = fund_balances(beancount_load(str(closed.ledger.as_history().main)))
    assert funds == history
    assert funds["Twisted"] == before["funds"]["Twisted"] + Decimal("10.00") - Decimal(  # type: ignore[index]
        "0.59"
    ) - Decimal("1.00")
    assert run_cli(settings, "ledger", "check").returncode == 0
    assert run_cli(settings, "ledger", "check", "--history").returncode == 0


# --- refusals ---------------------------------------------------------------------------


def test_a_year_not_yet_over_is_refused(books: Runtime, settings: Settings) -> None:
    line = one_line_refusal(close(settings, 2027))

    assert line == "error: 2027 is not over: today is 2027-03-01 in the sponsor's time zone"


def test_years_are_closed_in_order(
    books: Runtime, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: date(2028, 2, 1))
    move_to_closed(books)

    line = one_line_refusal(close(settings, 2027))

    assert line == "error: close 2026 first: years are closed in order"
    assert not years.close_journal(books.ledger).exists()


def test_entries_waiting_in_the_outbox_are_refused(books: Runtime, settings: Settings) -> None:
    move_to_closed(books)
    with books.sessions() as session:
        record(session, factories.gift("waiting-1", on=date(2026, 12, 30)))
        session.commit()

    line = one_line_refusal(close(settings))

    assert line == "error: 1 entry waits to be posted: run 'conservancy ledger sync' first"


def test_books_that_do_not_load_cleanly_are_refused(books: Runtime, settings: Settings) -> None:
    move_to_closed(books)
    with (books.ledger.root / STAFF_FILE).open("a", encoding="utf-8") as fh:
        fh.write(
            '2027-02-02 * "Typed 90 for 100"\n'
            "  Assets:Bank:Checking        100.00 USD\n"
            "  Income:Twisted:Donations    -90.00 USD\n\n"
        )

    line = one_line_refusal(close(settings))

    assert line.startswith("error: the books do not load cleanly (1 problems; the first: ")
    assert f"{STAFF_FILE}:" in line
    assert line.endswith("see 'conservancy ledger check --history'")
    assert books.ledger.year_file(2026).exists()


def test_a_closed_file_with_entries_of_an_open_year_is_refused(
    books: Runtime, settings: Settings
) -> None:
    move_to_closed(books)
    with (books.ledger.root / CLOSED_STAFF_FILE).open("a", encoding="utf-8") as fh:
        fh.write(
            '2027-01-31 * "First Bank" "Monthly account fee"\n'
            "  Expenses:General:Bank-Fees    15.00 USD\n"
            "  Assets:Bank:Checking         -15.00 USD\n\n"
        )

    line = one_line_refusal(close(settings))

    assert line.startswith(f"error: {CLOSED_STAFF_FILE} holds entries dated after 2026")


def test_main_including_a_closed_file_is_refused(books: Runtime, settings: Settings) -> None:
    move_to_closed(books)
    with books.ledger.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{CLOSED_STAFF_FILE}"\n')

    line = one_line_refusal(close(settings))

    assert line.startswith(f'error: main.beancount includes "{CLOSED_STAFF_FILE}"')


def test_closing_the_next_year_carries_on_from_the_last(
    closed: Runtime, settings: Settings, before: dict[str, object], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: date(2028, 1, 10))
    root = closed.ledger.root
    (root / "closed" / "staff-2027.beancount").write_text(closing.STAFF_2027, "utf-8")
    (root / STAFF_FILE).write_text(closing.STAFF_OPENS, "utf-8")
    factories.settled_gift(
        closed, email="new@example.org", name="New Year", amount="25.00", at=closing.at(1, 5, 2028)
    )

    done = close(settings, 2027)

    assert done.exit_code == 0, done.output
    files = closed.ledger
    assert sorted(p.name for p in (root / "app" / "closed").iterdir()) == [
        "2026.beancount",
        "2027.beancount",
        "opening-2027.beancount",
    ]
    assert not years.opening_file(files, 2027).exists()
    main = beancount_load(str(files.main))
    older = [e.meta["ref"] for e in main if isinstance(e, data.Transaction) and e.date.year < 2028]
    assert older == ["opening-2028"]
    history = beancount_load(str(files.as_history().main))
    assert fund_balances(main) == fund_balances(history)
    assert fund_balances(history)["Twisted"] == Decimal("72.85") + Decimal("25.00") - Decimal(
        "3.20"
    ) - Decimal("2.50")
    assert statement(closed, date(2026, 1, 1), END_2026) == before["statement"]
    for args in (("ledger", "check"), ("ledger", "check", "--history")):
        checked = run_cli(settings, *args)
        assert checked.returncode == 0, checked.stdout + checked.stderr


# --- pages, which never load the full history -------------------------------------------


def test_a_treasurers_statement_of_a_closed_period_is_sent_to_staff(
    app: Flask, closed: Runtime, before: dict[str, object]
) -> None:
    client = app.test_client()
    sign_in(client, person(closed, "tres@example.org", (Role.TREASURER, "twisted")))
    closed.books.load()  # what the worker serves once it has rebuilt after the close
    period = {"to": "2027-02-28", "format": "csv"}

    refused = client.get(
        "/treasurer/twisted/statement", query_string={"from": "2026-06-01", **period}
    )
    opened = client.get(
        "/treasurer/twisted/statement", query_string={"from": "2027-01-01", **period}
    )

    assert refused.status_code == 400
    assert "The books before 1 January 2027 are closed" in refused.text
    assert opened.status_code == 200
    first = next(csv.DictReader(io.StringIO(opened.text)))
    assert first["record"] == "opening"
    assert first["balance"] == str(before["statement"].closing.amount)  # type: ignore[attr-defined]


def test_the_year_end_page_of_a_closed_year_names_the_command(app: Flask, closed: Runtime) -> None:
    client = signed_in(app, closed, "bookkeeper")
    closed.books.load()  # what the worker serves once it has rebuilt after the close

    refused = client.get("/admin/reports/year-end", query_string={"year": "2026"})
    shown = client.get("/admin/reports/year-end", query_string={"year": "2027"})

    assert refused.status_code == 400
    assert "2026 is closed" in refused.text
    assert "conservancy report year-end --year 2026 --out DIR" in refused.text
    assert shown.status_code == 200
    assert "Every total ties to the books to the cent." in shown.text


def test_the_reconcile_page_sends_a_period_near_a_closed_year_to_the_command(
    app: Flask, closed: Runtime
) -> None:
    client = signed_in(app, closed, "bookkeeper")

    page = client.get("/admin/reconcile", query_string={"from": "2027-01-01", "to": "2027-01-31"})

    assert page.status_code == 409
    assert "The books before 2027-01-01 are closed" in page.text
    assert "conservancy stripe reconcile --from 2027-01-01 --to 2027-01-31" in page.text


def test_the_treasurers_chart_still_shows_the_gifts_of_the_closed_months(
    app: Flask, closed: Runtime
) -> None:
    client = app.test_client()
    sign_in(client, person(closed, "tres@example.org", (Role.TREASURER, "twisted")))
    closed.books.load()  # what the worker serves once it has rebuilt after the close

    page = client.get("/treasurer/twisted/")

    assert page.status_code == 200
    # Ada's 100.00 in March 2026 and Grace's 50.00 less 20.00 refunded in May 2026, read
    # from the full history's snapshot the close saved; January 2027 from the open year.
    assert '<td>Mar 2026</td><td class="num">$100.00</td>' in page.text
    assert '<td>May 2026</td><td class="num">$30.00</td>' in page.text
    assert '<td>Jan 2027</td><td class="num">$60.00</td>' in page.text
