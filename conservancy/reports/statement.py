"""A project's statement for a period (SPEC section 8), as CSV and as PDF.

Read from the transaction index (``ledger.index``) in one read transaction,
never from a load of the ledger: the fund's balance before the first day, then
every transaction dated in the period, staff entries included, with what each
did to the fund. Amounts are from the fund's side: income adds, expenses take
away. Income and expenses are grouped by kind (the account's name after the
fund: ``Donations``, ``Payment-Processing``); the sponsorship fee is shown on
its own line; what moved through ``Equity:Net-Assets:<Fund>`` (opening
balances, transfers between funds) is shown as such. The closing balance is
the opening balance plus every transaction, so it equals the books' fund
balance to the cent on any day (``ledger check`` keeps fund postings in whole
cents).

Payees are as the books have them: the books already say ``Anonymous`` for a
donor who asked not to be named.
"""

from __future__ import annotations

import csv
import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from functools import partial
from typing import BinaryIO, TextIO

from conservancy.kernel.errors import DomainError
from conservancy.ledger.index import TransactionIndex
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.receipts.document import Sponsor, long_date

SPONSORSHIP_FEES = "Sponsorship-Fees"


class BadPeriod(DomainError):
    pass


@dataclass(frozen=True, slots=True)
class StatementLine:
    kind: str
    amount: Money


@dataclass(frozen=True, slots=True)
class StatementRow:
    date: date
    payee: str
    description: str
    amount: Money  # what the transaction did to the fund
    balance: Money  # the fund's balance after it
    receipt: str | None
    ref: str | None
    parts: tuple[StatementLine, ...]  # the amount by kind, largest first

    @property
    def kind(self) -> str:
        return ", ".join(part.kind for part in self.parts)

    @property
    def reference(self) -> str:
        return self.receipt or self.ref or ""


@dataclass(frozen=True)
class Statement:
    project_name: str
    slug: str
    fund: str
    currency: Currency
    first_day: date
    last_day: date
    opening: Money
    income: tuple[StatementLine, ...]  # received, by kind
    expenses: tuple[StatementLine, ...]  # spent, by kind, sponsorship fees apart
    sponsorship_fees: Money
    net_assets: Money  # moved into the fund (opening balances, transfers); negative: out
    closing: Money
    rows: tuple[StatementRow, ...]

    @property
    def income_total(self) -> Money:
        return _total(self.income, self.currency)

    @property
    def expenses_total(self) -> Money:
        return _total(self.expenses, self.currency)


def _total(lines: Iterable[StatementLine], currency: Currency) -> Money:
    return Money.from_minor(sum(line.amount.minor for line in lines), currency)


def check_period(first_day: date, last_day: date) -> None:
    if first_day > last_day:
        raise BadPeriod(f"the period starts ({first_day}) after it ends ({last_day})")


def project_statement(
    index: TransactionIndex, project: Project, first_day: date, last_day: date
) -> Statement:
    """The project's statement for ``first_day`` to ``last_day`` inclusive."""
    check_period(first_day, last_day)
    currency = Currency(project.currency)
    with index.read() as view:
        opening = view.balance_before(project.fund, first_day, currency)
        transactions = view.transactions_between(project.fund, first_day, last_day)
    income: dict[str, int] = defaultdict(int)
    expenses: dict[str, int] = defaultdict(int)
    fees = net_assets = 0
    balance = opening.minor
    rows = []
    for txn in transactions:
        by_kind: dict[str, int] = defaultdict(int)
        for posting in txn.postings:
            if posting.currency != currency.value:
                continue
            kind = posting.kind
            by_kind[kind] -= posting.minor
            if posting.account.startswith("Income:"):
                income[kind] -= posting.minor
            elif posting.account.startswith("Expenses:"):
                if kind == SPONSORSHIP_FEES:
                    fees += posting.minor
                else:
                    expenses[kind] += posting.minor
            else:
                net_assets -= posting.minor
        if not by_kind:
            continue  # touches the fund in another currency only
        change = sum(by_kind.values())
        balance += change
        rows.append(
            StatementRow(
                date=txn.date,
                payee=txn.payee or "",
                description=txn.narration,
                amount=Money.from_minor(change, currency),
                balance=Money.from_minor(balance, currency),
                receipt=txn.receipt,
                ref=txn.ref,
                parts=tuple(
                    StatementLine(kind, Money.from_minor(minor, currency))
                    for kind, minor in sorted(by_kind.items(), key=lambda kv: (-abs(kv[1]), kv[0]))
                ),
            )
        )
    statement = Statement(
        project_name=project.name,
        slug=project.slug,
        fund=project.fund,
        currency=currency,
        first_day=first_day,
        last_day=last_day,
        opening=opening,
        income=_lines(income, currency),
        expenses=_lines(expenses, currency),
        sponsorship_fees=Money.from_minor(fees, currency),
        net_assets=Money.from_minor(net_assets, currency),
        closing=Money.from_minor(balance, currency),
        rows=tuple(rows),
    )
    # The summary and the transactions are the same postings, added up two ways.
    assert statement.closing == (
        opening
        + statement.income_total
        - statement.expenses_total
        - statement.sponsorship_fees
        + statement.net_assets
    )
    return statement


def _lines(totals: dict[str, int], currency: Currency) -> tuple[StatementLine, ...]:
    return tuple(
        StatementLine(kind, Money.from_minor(minor, currency))
        for kind, minor in sorted(totals.items())
        if minor
    )


# --- CSV -------------------------------------------------------------------------

CSV_COLUMNS = (
    "record",
    "date",
    "payee",
    "description",
    "kind",
    "amount",
    "balance",
    "currency",
    "receipt",
    "ref",
    "detail",
)


def spreadsheet_text(text: str) -> str:
    """Text from the books as a spreadsheet will not run it as a formula (a donor names
    themselves ``=HYPERLINK(...)``): a leading ``'`` keeps it text."""
    return f"'{text}" if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


def write_csv(statement: Statement, out: TextIO) -> None:
    """One row per transaction, then the summary lines; amounts as plain decimals.

    The ``record`` column says what a row is: ``opening``, ``transaction``,
    ``income``, ``expenses``, ``sponsorship-fees``, ``net-assets``, ``closing``.
    """
    writer = csv.DictWriter(out, CSV_COLUMNS, restval="")
    writer.writeheader()
    currency = statement.currency.value

    def balance(record: str, day: date, description: str, amount: Money) -> None:
        writer.writerow(
            {
                "record": record,
                "date": day.isoformat(),
                "description": description,
                "balance": str(amount.amount),
                "currency": currency,
            }
        )

    def summary(record: str, description: str, kind: str, amount: Money) -> None:
        writer.writerow(
            {
                "record": record,
                "description": description,
                "kind": spreadsheet_text(kind),
                "amount": str(amount.amount),
                "currency": currency,
            }
        )

    balance("opening", statement.first_day, "Opening balance", statement.opening)
    for row in statement.rows:
        writer.writerow(
            {
                "record": "transaction",
                "date": row.date.isoformat(),
                "payee": spreadsheet_text(row.payee),
                "description": spreadsheet_text(row.description),
                "kind": spreadsheet_text(row.kind),
                "amount": str(row.amount.amount),
                "balance": str(row.balance.amount),
                "currency": currency,
                "receipt": spreadsheet_text(row.receipt or ""),
                "ref": spreadsheet_text(row.ref or ""),
                "detail": spreadsheet_text(
                    "; ".join(f"{p.kind} {p.amount.amount}" for p in row.parts)
                ),
            }
        )
    for line in statement.income:
        summary("income", "Income", line.kind, line.amount)
    summary("income", "Total income", "", statement.income_total)
    for line in statement.expenses:
        summary("expenses", "Expenses", line.kind, line.amount)
    summary("expenses", "Total expenses", "", statement.expenses_total)
    summary("sponsorship-fees", "Sponsorship fees", SPONSORSHIP_FEES, statement.sponsorship_fees)
    summary("net-assets", "Net assets moved into the fund", "Net-Assets", statement.net_assets)
    balance("closing", statement.last_day, "Closing balance", statement.closing)


# --- PDF -------------------------------------------------------------------------
#
# The summary is a page in the house style; the transactions follow as a
# register in a fixed-pitch font, one line each. That is what keeps a long
# statement fast: WeasyPrint spends about a millisecond on each box it lays
# out, so a 5,000-row table of seven cells takes half a minute however it is
# split, while a line of text per row takes a few seconds. Every line has the
# same height, so each page holds exactly ROWS_PER_PAGE of them and each part
# knows its page numbers before it is drawn.

SUMMARY_TEMPLATE = "documents/reports/statement.html"
REGISTER_TEMPLATE = "documents/reports/statement_register.html"
ROWS_PER_PAGE = 51
# A part of the register is one WeasyPrint document: at most this many pages
# (a 99-page register drawn whole peaked at 137 MiB; it is the memory of much
# longer statements that parts bound), and the parts are shared evenly between
# the workers. Below WORKERS_FROM pages, starting workers (a second or two:
# they load WeasyPrint) costs more than they save.
PAGES_PER_PART = 40
WORKERS_FROM = 40

# (heading, width, right-aligned), in characters of DejaVu Sans Mono at 7 pt:
# 166 of the 170 that fit across a landscape letter page within its margins.
COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("Date", 10, False),
    ("Payee", 24, False),
    ("Description", 33, False),
    ("Kind", 29, False),
    ("Amount", 14, True),
    ("Balance", 15, True),
    ("Receipt / ref", 29, False),
)


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in {"W", "F"} else 1


def _printable(char: str) -> str:
    """Line breaks, tabs and odd spaces become a space; invisible format marks
    (bidi overrides among them) are dropped."""
    category = unicodedata.category(char)
    if category == "Cc" or category[0] == "Z":
        return " "
    return "" if category in {"Cf", "Cs", "Co", "Cn"} else char


def fit(text: str, width: int, *, right: bool = False) -> str:
    """``text`` in exactly ``width`` columns: cut with an ellipsis, or padded."""
    if text.isascii() and text.isprintable():  # most of the books: no width to work out
        if len(text) > width:
            text = text[: width - 1] + "…"
        return text.rjust(width) if right else text.ljust(width)
    text = unicodedata.normalize("NFC", "".join(_printable(c) for c in text))
    used = sum(_width(c) for c in text)
    if used > width:
        kept, used = [], 0
        for char in text:
            if used + _width(char) > width - 1:
                break
            kept.append(char)
            used += _width(char)
        text = "".join(kept) + "…"
        used += 1
    pad = " " * (width - used)
    return pad + text if right else text + pad


def _number(money: Money) -> str:
    return f"{money.amount:,.{money.currency.minor_units}f}"


def _register_line(*cells: str) -> str:
    return "  ".join(
        fit(cell, width, right=right)
        for cell, (_head, width, right) in zip(cells, COLUMNS, strict=True)
    ).rstrip()


def register_lines(statement: Statement) -> list[str]:
    """The transactions as the register prints them, opening and closing lines included."""
    lines = [
        _register_line(
            statement.first_day.isoformat(),
            "",
            "Opening balance",
            "",
            "",
            _number(statement.opening),
            "",
        )
    ]
    lines.extend(
        _register_line(
            row.date.isoformat(),
            row.payee,
            row.description,
            row.kind,
            _number(row.amount),
            _number(row.balance),
            row.reference,
        )
        for row in statement.rows
    )
    lines.append(
        _register_line(
            statement.last_day.isoformat(),
            "",
            "Closing balance",
            "",
            "",
            _number(statement.closing),
            "",
        )
    )
    return lines


def register_heading() -> str:
    return "  ".join(fit(head, width, right=right) for head, width, right in COLUMNS).rstrip()


@dataclass(frozen=True)
class _Document:
    statement: Statement
    sponsor: Sponsor
    prepared_on: date

    @property
    def period(self) -> str:
        return f"{long_date(self.statement.first_day)} to {long_date(self.statement.last_day)}"

    @property
    def title(self) -> str:
        return f"{self.statement.project_name}: statement, {self.period}"


def _summary_html(doc: _Document, first_page: int, total_pages: int, _as_expected: bool) -> str:
    from conservancy.receipts.render import render_template

    return render_template(
        SUMMARY_TEMPLATE, doc=doc, s=doc.statement, first_page=first_page, total_pages=total_pages
    )


def _register_html(
    doc: _Document, pages: Sequence[str], first_page: int, total_pages: int, as_expected: bool
) -> str:
    from conservancy.receipts.render import render_template

    return render_template(
        REGISTER_TEMPLATE,
        doc=doc,
        s=doc.statement,
        pages=pages,
        heading=register_heading(),
        first_page=first_page,
        total_pages=total_pages,
        counted=not as_expected,
    )


def write_pdf(
    statement: Statement, sponsor: Sponsor, out: BinaryIO, *, prepared_on: date, jobs: int = 1
) -> int:
    """The statement as PDF, drawn in parts of at most PAGES_PER_PART pages; its page count.

    ``jobs`` > 1 draws the parts of a long statement in that many worker
    processes. Starting them costs about three CPU seconds (each loads
    WeasyPrint), so they only win where cores are idle: on a 2-core machine
    busy with other work, 5,000 rows took 9.5 s in one process and 12.9 s with
    two workers (bench/project_statement.py). A web worker, which must not
    fork, keeps the default.
    """
    from conservancy.receipts.render import Part, render_pdf_in_parts

    doc = _Document(statement, sponsor, prepared_on)
    lines = register_lines(statement)
    pages = ["\n".join(lines[i : i + ROWS_PER_PAGE]) for i in range(0, len(lines), ROWS_PER_PAGE)]
    workers = jobs if len(pages) >= WORKERS_FROM else 1
    count = math.ceil(len(pages) / PAGES_PER_PART)
    count = min(len(pages), math.ceil(count / workers) * workers)
    parts: list[Part] = [(1, partial(_summary_html, doc))]
    for k in range(count):
        chunk = pages[k * len(pages) // count : (k + 1) * len(pages) // count]
        parts.append((len(chunk), partial(_register_html, doc, chunk)))
    return render_pdf_in_parts(parts, out, jobs=workers)


def expected_pages(statement: Statement) -> int:
    """The pages the PDF takes: the summary, then the register."""
    return 1 + math.ceil((len(statement.rows) + 2) / ROWS_PER_PAGE)
