"""Form 990 Part IX, the statement of functional expenses, of the year-end package.

Every expense of the year goes in one of three columns: (B) program service, (C)
management and general, (D) fundraising; (A) is their total. The column is the
``function`` on the account's ``open`` (or its default by name,
``accounts.default_function``), unless the entry, or the posting, names its own
``function`` (the transaction index keeps those: ``IndexView.function_totals``). The row
is the Part IX line the account's open names (``form-990-line``), else its default by
name, else line 24e, all other expenses.

A project's sponsorship fee is the other side of the sponsor's own income
(``Income:General:Sponsorship-Fees``): money between the sponsor's funds, no expense of the
organization, shown beside the lines as Part VIII shows the income. An expense account
with no function (``ledger check`` names it) is left out and named, and the tie-out fails.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from conservancy.ledger import accounts
from conservancy.money import Currency, Money

USD = Currency.USD
TOTAL = "25"
TOTAL_LABEL = "Total functional expenses"


def _usd(minor: int) -> Money:
    return Money.from_minor(minor, USD)


def function_of(account: str, form_990: Mapping[str, Mapping[str, str]]) -> str | None:
    """The account's column (or ``between-funds``); None when neither its open nor its
    name says."""
    given = form_990.get(account, {}).get(accounts.FUNCTION)
    if given in accounts.EXPENSE_FUNCTIONS:
        return given
    return accounts.default_function(account)


def line_of(account: str, form_990: Mapping[str, Mapping[str, str]]) -> str:
    given = form_990.get(account, {}).get(accounts.FORM_990_LINE)
    if given in accounts.PART_IX_LINES:
        return given
    return accounts.default_part_ix_line(account)


@dataclass(frozen=True, slots=True)
class Columns:
    """Program service, management and general, fundraising: in cents."""

    program: int = 0
    management: int = 0
    fundraising: int = 0

    @property
    def total(self) -> int:
        return self.program + self.management + self.fundraising

    def plus(self, other: Columns) -> Columns:
        return Columns(
            self.program + other.program,
            self.management + other.management,
            self.fundraising + other.fundraising,
        )

    def money(self) -> tuple[Money, Money, Money, Money]:
        """(A) total, (B) program, (C) management, (D) fundraising."""
        return (
            _usd(self.total),
            _usd(self.program),
            _usd(self.management),
            _usd(self.fundraising),
        )


def _one(function: str, minor: int) -> Columns:
    return Columns(**{function: minor})


@dataclass(frozen=True, slots=True)
class AccountRow:
    """One expense account's year, split by column."""

    fund: str
    account: str
    line: str
    columns: Columns


@dataclass(frozen=True, slots=True)
class LineRow:
    line: str
    label: str
    columns: Columns
    accounts: tuple[str, ...]

    @property
    def is_total(self) -> bool:
        return self.line == TOTAL


@dataclass(frozen=True)
class PartIX:
    accounts: tuple[AccountRow, ...]  # by fund, then account
    lines: tuple[LineRow, ...]  # the lines with expenses, in the form's order, then 25
    between_funds: Money  # sponsorship fees projects pay the sponsor: no expense
    unclassed: tuple[str, ...]  # expense accounts with no function: left out
    unclassed_amount: Money

    @property
    def total(self) -> Columns:
        return self.lines[-1].columns

    def line(self, number: str) -> Columns:
        for found in self.lines:
            if found.line == number:
                return found.columns
        return Columns()

    def funds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(row.fund for row in self.accounts))

    def of_fund(self, fund: str) -> Columns:
        total = Columns()
        for row in self.accounts:
            if row.fund == fund:
                total = total.plus(row.columns)
        return total


def part_ix(
    expenses: Mapping[str, int],
    overrides: Mapping[tuple[str, str], int],
    form_990: Mapping[str, Mapping[str, str]],
) -> PartIX:
    """Part IX from the year's expenses by account (minor units, as booked: an expense is
    positive) and what entries that name their own function moved, by (account, function)."""
    rows = []
    between = unclassed_amount = 0
    unclassed = []
    for account, minor in sorted(expenses.items()):
        fund = accounts.fund_of(account)
        if not account.startswith("Expenses:") or fund is None or not minor:
            continue
        function = function_of(account, form_990)
        if function == accounts.BETWEEN_FUNDS:
            between += minor
            continue
        columns = Columns()
        rest = minor
        for (overridden, given), moved in overrides.items():
            if overridden == account and given in accounts.FUNCTIONS:
                columns = columns.plus(_one(given, moved))
                rest -= moved
        if function is None:
            if rest:
                unclassed.append(account)
                unclassed_amount += rest
        elif rest:
            columns = columns.plus(_one(function, rest))
        rows.append(AccountRow(fund, account, line_of(account, form_990), columns))
    rows.sort(key=lambda r: (r.fund != accounts.GENERAL, r.fund, r.account))
    by_line: dict[str, Columns] = defaultdict(Columns)
    sources: dict[str, list[str]] = defaultdict(list)
    for row in rows:
        by_line[row.line] = by_line[row.line].plus(row.columns)
        sources[row.line].append(row.account)
    total = Columns()
    lines = []
    for number, label in accounts.PART_IX_LINES.items():
        if number in by_line:
            lines.append(LineRow(number, label, by_line[number], tuple(sources[number])))
            total = total.plus(by_line[number])
    lines.append(LineRow(TOTAL, TOTAL_LABEL, total, ()))
    return PartIX(
        tuple(rows), tuple(lines), _usd(between), tuple(unclassed), _usd(unclassed_amount)
    )
