"""A project's statement for a period: its figures, its CSV and its PDF.

The books hold gifts settled as webhooks settle them (card fee, sponsorship
fee, an anonymous donor, a refund), and a bookkeeper's own file: a sponsor's
cheque, a contractor paid, money moved to the sponsor's fund.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from pypdf import PdfReader

from conservancy.donations.models import Visibility
from conservancy.ledger.outbox import record
from conservancy.projects.models import Project
from conservancy.receipts.document import Sponsor
from conservancy.reports import statement as st
from conservancy.runtime import Runtime
from tests import factories
from tests.receipts.pdfs import pdf_text, requires_weasyprint, tagged_pdf_a_problems

STAFF_FILE = "bookkeeper.beancount"
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
)
SPONSOR = Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street\nBrooklyn, NY 11201")
FEBRUARY_TO_MARCH = (date(2026, 2, 1), date(2026, 3, 31))


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


def twisted(runtime: Runtime) -> Project:
    with runtime.sessions() as session:
        project = session.query(Project).filter_by(slug="twisted").one()
        session.expunge(project)
        return project


def include_staff_file(runtime: Runtime, text: str = STAFF_ENTRIES) -> None:
    files = runtime.ledger
    (files.root / STAFF_FILE).write_text(text, "utf-8")
    with files.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{STAFF_FILE}"\n')


@pytest.fixture
def books(runtime: Runtime) -> Runtime:
    factories.with_project(runtime)
    factories.settled_gift(runtime, at=at(1, 10))  # 100.00: 3.20 card fee, 10.00 sponsorship
    anonymous = factories.settled_gift(
        runtime,
        email="grace@example.org",
        name="Grace Hopper",
        amount="50.00",
        fee="1.75",
        visibility=Visibility.ANONYMOUS,
        at=at(2, 5),
    )
    factories.refund(runtime, anonymous, "20.00", "re_grace")  # booked the same day
    include_staff_file(runtime)
    runtime.books.load()  # the staff file is new: the books are built again
    return runtime


def test_statement_figures_for_a_period(books: Runtime) -> None:
    result = st.project_statement(books.books.index, twisted(books), *FEBRUARY_TO_MARCH)
    assert (result.project_name, result.fund) == ("Twisted", "Twisted")
    assert str(result.opening) == "86.80 USD"  # January: 100.00 - 3.20 - 10.00
    assert [(line.kind, str(line.amount)) for line in result.income] == [
        ("Donations", "30.00 USD"),  # 50.00 less the 20.00 refund
        ("Sponsorships", "250.00 USD"),
    ]
    assert [(line.kind, str(line.amount)) for line in result.expenses] == [
        ("Contractors", "40.00 USD"),
        ("Payment-Processing", "1.75 USD"),  # Stripe keeps its fee on a refund
    ]
    assert str(result.sponsorship_fees) == "3.00 USD"  # 5.00, less 2.00 back with the refund
    assert str(result.net_assets) == "-20.00 USD"
    assert str(result.closing) == "302.05 USD"  # 86.80 + 280.00 - 41.75 - 3.00 - 20.00

    rows = [
        (str(r.date), r.payee, r.kind, str(r.amount.amount), str(r.balance.amount))
        for r in result.rows
    ]
    assert rows == [
        ("2026-02-05", "Anonymous", "Donations, Payment-Processing", "48.25", "135.05"),
        ("2026-02-05", "", "Sponsorship-Fees", "-5.00", "130.05"),
        ("2026-02-05", "Anonymous", "Donations", "-20.00", "110.05"),  # the refund
        ("2026-02-05", "", "Sponsorship-Fees", "2.00", "112.05"),
        ("2026-02-20", "ACME Corp", "Sponsorships", "250.00", "362.05"),
        ("2026-02-25", "", "Contractors", "-40.00", "322.05"),
        ("2026-03-01", "", "Net-Assets", "-20.00", "302.05"),
    ]
    assert [r.description for r in result.rows] == [
        "Gift to Twisted",
        "Sponsorship fee: Gift to Twisted",
        "Refund",
        "Sponsorship fee: Gift to Twisted",
        "Sponsorship, invoice 7",
        "Build farm hosting",
        "Reclassify: part of a gift was meant for the sponsor",
    ]
    assert "Grace" not in repr(result)  # the books say Anonymous, and so does the statement
    assert result.rows[4].reference == "invoice-7"
    assert [(p.kind, str(p.amount)) for p in result.rows[0].parts] == [
        ("Donations", "50.00 USD"),
        ("Payment-Processing", "-1.75 USD"),
    ]


def test_closing_balance_is_the_books_fund_balance_staff_entries_included(
    books: Runtime,
) -> None:
    project = twisted(books)
    through_today = st.project_statement(
        books.books.index, project, date(2026, 1, 1), date(2026, 12, 31)
    )
    snapshot = books.books.current()
    assert through_today.closing == snapshot.fund_balance("Twisted")
    assert str(through_today.closing) == "302.05 USD"

    # A staff edit later: rebuilt, and still the same figure, to the cent.
    with (books.ledger.root / STAFF_FILE).open("a", encoding="utf-8") as fh:
        fh.write(
            '2026-03-15 * "Conference travel grant, refunded in part"\n'
            "  Expenses:Twisted:Contractors   12.34 USD\n"
            "  Assets:Bank:Checking          -12.34 USD\n\n"
        )
    books.books.current()
    books.books.wait(10)
    snapshot = books.books.current()
    again = st.project_statement(books.books.index, project, date(2026, 1, 1), date(2026, 12, 31))
    assert again.closing == snapshot.fund_balance("Twisted")
    assert str(again.closing) == "289.71 USD"
    # A gift posted after the rebuild is in both at once.
    factories.settled_gift(books, email="ada2@example.org", amount="10.00", fee="0.59", at=at(4, 2))
    latest = st.project_statement(books.books.index, project, date(2026, 1, 1), date(2026, 12, 31))
    assert latest.closing == books.books.current().fund_balance("Twisted")
    assert str(latest.closing) == "298.12 USD"  # + 9.41 - 1.00 sponsorship fee


def test_a_period_before_any_entry_and_a_period_that_ends_before_it_starts(books: Runtime) -> None:
    empty = st.project_statement(
        books.books.index, twisted(books), date(2025, 6, 1), date(2025, 6, 30)
    )
    assert (str(empty.opening), str(empty.closing), empty.rows) == ("0.00 USD", "0.00 USD", ())
    with pytest.raises(st.BadPeriod, match="starts"):
        st.project_statement(books.books.index, twisted(books), date(2026, 3, 1), date(2026, 2, 1))


# --- CSV ---------------------------------------------------------------------------


def test_csv_has_a_row_per_transaction_then_the_summary_in_plain_decimals(books: Runtime) -> None:
    result = st.project_statement(books.books.index, twisted(books), *FEBRUARY_TO_MARCH)
    out = io.StringIO()
    st.write_csv(result, out)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [r["record"] for r in rows] == [
        "opening",
        *["transaction"] * 7,
        "income",
        "income",
        "income",
        "expenses",
        "expenses",
        "expenses",
        "sponsorship-fees",
        "net-assets",
        "closing",
    ]
    assert (rows[0]["date"], rows[0]["balance"]) == ("2026-02-01", "86.80")
    gift = rows[1]
    assert {k: gift[k] for k in ("date", "payee", "kind", "amount", "balance", "currency")} == {
        "date": "2026-02-05",
        "payee": "Anonymous",
        "kind": "Donations, Payment-Processing",
        "amount": "48.25",
        "balance": "135.05",
        "currency": "USD",
    }
    assert gift["ref"].startswith("stripe-")
    assert gift["detail"] == "Donations 50.00; Payment-Processing -1.75"
    assert [(r["kind"], r["amount"]) for r in rows[8:16]] == [
        ("Donations", "30.00"),
        ("Sponsorships", "250.00"),
        ("", "280.00"),
        ("Contractors", "40.00"),
        ("Payment-Processing", "1.75"),
        ("", "41.75"),
        ("Sponsorship-Fees", "3.00"),
        ("Net-Assets", "-20.00"),
    ]
    assert (rows[-1]["date"], rows[-1]["balance"]) == ("2026-03-31", "302.05")
    # The amounts add up: opening + every transaction = closing.
    total = sum(Decimal(r["amount"]) for r in rows if r["record"] == "transaction")
    assert Decimal(rows[0]["balance"]) + total == Decimal(rows[-1]["balance"])


def test_csv_keeps_text_from_the_books_from_running_as_a_spreadsheet_formula(
    runtime: Runtime,
) -> None:
    factories.with_project(runtime)
    factories.settled_gift(runtime, name='=HYPERLINK("http://evil.example","click")', at=at(3, 1))
    runtime.books.load()
    result = st.project_statement(
        runtime.books.index, twisted(runtime), date(2026, 3, 1), date(2026, 3, 31)
    )
    out = io.StringIO()
    st.write_csv(result, out)
    gift = list(csv.DictReader(io.StringIO(out.getvalue())))[1]
    assert gift["payee"] == '\'=HYPERLINK("http://evil.example","click")'
    assert gift["amount"] == "96.80"  # a negative amount is still a number: only text is quoted


# --- PDF ---------------------------------------------------------------------------


def pdf_of(result: st.Statement, *, jobs: int = 1) -> tuple[bytes, int]:
    out = io.BytesIO()
    pages = st.write_pdf(result, SPONSOR, out, prepared_on=date(2026, 4, 2), jobs=jobs)
    return out.getvalue(), pages


def page_texts(pdf: bytes) -> list[str]:
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(pdf)).pages]


@requires_weasyprint
def test_pdf_shows_the_summary_and_every_transaction(books: Runtime) -> None:
    result = st.project_statement(books.books.index, twisted(books), *FEBRUARY_TO_MARCH)
    pdf, pages = pdf_of(result)
    assert pages == 2
    summary, register = page_texts(pdf)
    for text in (
        "Test Sponsor, Inc.",
        "EIN 12-3456789",
        "Project statement",
        "Twisted",
        "Opening balance, February 1, 2026 $86.80",
        "Donations $30.00",
        "Sponsorships $250.00",
        "Total income $280.00",
        "Contractors $40.00",
        "Payment-Processing $1.75",
        "Total expenses $41.75",
        "Sponsorship fees $3.00",
        "Net assets moved out of the fund -$20.00",
        "Closing balance, March 31, 2026 $302.05",
        "7 transactions in the period",
        "page 1 of 2",
    ):
        assert text in summary, text
    assert "page 2 of 2" in register
    assert "2026-02-01 Opening balance 86.80" in register
    assert (
        "2026-02-05 Anonymous Gift to Twisted Donations, Payment-Processing 48.25 135.05"
        in register
    )
    assert (
        "2026-02-20 ACME Corp Sponsorship, invoice 7 Sponsorships 250.00 362.05 invoice-7"
        in register
    )
    assert "2026-03-31 Closing balance 302.05" in register
    assert "Grace" not in pdf_text(pdf)
    assert tagged_pdf_a_problems(pdf) == []  # a screen reader reads it, and it stays PDF/A


def many_gifts(runtime: Runtime, count: int) -> st.Statement:
    factories.with_project(runtime)
    with runtime.sessions() as session:
        for n in range(count):
            record(
                session,
                factories.gift(f"gift-{n}", payee=f"Donor {n:03d}", on=date(2026, 3, 1 + n % 28)),
            )
        session.commit()
    runtime.post_ledger()
    return st.project_statement(
        runtime.books.index, twisted(runtime), date(2026, 3, 1), date(2026, 3, 31)
    )


@requires_weasyprint
def test_a_long_statement_is_drawn_in_parts_with_page_numbers_running_on(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parts of one page each, drawn by two worker processes, joined in order."""
    monkeypatch.setattr(st, "PAGES_PER_PART", 1)
    monkeypatch.setattr(st, "WORKERS_FROM", 1)
    result = many_gifts(runtime, 150)  # + opening and closing lines: 152 lines, 3 pages of them
    pdf, pages = pdf_of(result, jobs=2)
    assert pages == st.expected_pages(result) == 1 + math.ceil(152 / st.ROWS_PER_PAGE) == 4
    texts = page_texts(pdf)
    assert [f"page {n} of 4" in text for n, text in enumerate(texts, start=1)] == [True] * 4
    register = " ".join(texts[1:])
    # Every gift once, in the books' order: by day, then as written.
    donors = [word for word in register.split() if word.isdigit() and len(word) == 3]
    assert donors == [f"{n:03d}" for n in sorted(range(150), key=lambda n: (n % 28, n))]
    assert texts[-1].rstrip().endswith("Closing balance 14,520.00")  # 150 x 96.80
    # The parts' structure trees are joined into one: every page's text is tagged in it.
    assert tagged_pdf_a_problems(pdf) == []


@requires_weasyprint
def test_pages_that_do_not_come_out_as_expected_are_numbered_by_what_they_took(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were the register's lines ever taller than planned, a page's rows would run over."""
    result = many_gifts(runtime, 150)
    monkeypatch.setattr(st, "ROWS_PER_PAGE", 120)  # more than a page holds
    pdf, pages = pdf_of(result)
    texts = page_texts(pdf)
    assert pages == len(texts) > st.expected_pages(result)
    assert [f"page {n} of {pages}" in text for n, text in enumerate(texts, start=1)] == [
        True
    ] * pages
    assert texts[-1].count("Closing balance 14,520.00") == 1
