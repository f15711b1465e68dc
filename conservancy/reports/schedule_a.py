"""Schedule A, Part II: the public support test of a section 509(a)(1) and 170(b)(1)(A)(vi)
organization, from the books' five years ending with the year of the return.

Columns (a) to (e) are the year and the four before it, oldest first; (f) is their total.
Each year's figures come from its Part VIII (``reports.form990``), read from the full
history when any of the five years is closed:

* line 1, gifts, grants and contributions: the contribution part of every payment
  (Part VIII line 1h), added up contributor by contributor, so the year of the return
  ties to line 1h, which adds the same money up by account;
* lines 2 and 3, tax revenues levied for the organization and services or facilities a
  governmental unit furnished without charge: the books record neither, so 0;
* line 8, gross investment income: Part VIII lines 3 (interest, dividends), 4, 5
  (royalties) and 6a (rents);
* line 9, net income from unrelated business activities: the books do not class income as
  unrelated, so 0 (the preparer adds it where there is any);
* line 10, other income: Part VIII lines 8a, 9a, 10a and 11a to 11d at their gross
  amounts (among them the value of what donors and sponsors got back for their payments);
  sales of assets (line 7a) are left out, as the instructions ask of capital gains;
* line 11, total support: lines 7 (= line 4) to 10;
* line 12, gross receipts from related activities (program service revenue, Part VIII
  line 2), which is no support and is shown for the preparer only.

Line 5 is the part of each contributor's five-year total of line 1 above 2% of line 11,
column (f). A contributor is known by the ``entity`` its entries carry (as on Schedule
B); what it gave through a line 1e account (government grants) is a governmental unit's
support and is not capped. The books cannot tell a publicly supported organization from
any other contributor, so every other contributor is capped, which can only understate
public support: the preparer takes such organizations out of line 5 by hand.
Contributions that name no contributor (a bookkeeper's entry without ``entity``) cannot be
capped and are listed apart, for the preparer.

Line 14, the public support percentage, is line 6 over line 11, column (f). It meets the
33⅓% test when line 6 is at least a third of line 11; between 10% and 33⅓% the
organization may still qualify under the 10%-facts-and-circumstances test (line 17a),
which the preparer must explain in Part VI; below 10% it does not qualify this way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from conservancy.money import Currency, Money, round_minor
from conservancy.reports.form990 import PartVIII

USD = Currency.USD
YEARS = 5
CAP_SHARE = Decimal("0.02")  # 2% of total support, line 11 column (f)
INVESTMENT_LINES = ("3", "4", "5", "6a")
OTHER_INCOME_LINES = ("8a", "9a", "10a", "11a", "11b", "11c", "11d")
PROGRAM_LINES = ("2a", "2b", "2c", "2d", "2e", "2f")
LABELS = {
    "1": "Gifts, grants, contributions and membership fees received",
    "2": "Tax revenues levied for the organization's benefit",
    "3": "Services or facilities furnished by a governmental unit without charge",
    "4": "Total (lines 1 through 3)",
    "5": "Contributions by each person above 2% of line 11, column (f)",
    "6": "Public support (line 4 less line 5)",
    "7": "Amounts from line 4",
    "8": "Gross income from interest, dividends, rents, royalties and similar sources",
    "9": "Net income from unrelated business activities",
    "10": "Other income (not gains on the sale of capital assets)",
    "11": "Total support (lines 7 through 10)",
    "12": "Gross receipts from related activities (not support)",
}


def _usd(minor: int) -> Money:
    return Money.from_minor(minor, USD)


@dataclass(frozen=True, slots=True)
class SupportYear:
    """One column of Part II, in cents."""

    year: int
    contributions: int  # line 1
    investment: int  # line 8
    other: int  # line 10
    related: int  # line 12
    read: bool = True  # False: a closed year the books given do not hold

    @classmethod
    def of(cls, year: int, *, contributions: int, part_viii: PartVIII) -> SupportYear:
        def lines(names: tuple[str, ...]) -> int:
            return sum(part_viii.amount(line).minor for line in names)

        return cls(
            year,
            contributions,
            lines(INVESTMENT_LINES),
            lines(OTHER_INCOME_LINES),
            lines(PROGRAM_LINES),
        )

    @classmethod
    def unread(cls, year: int) -> SupportYear:
        return cls(year, 0, 0, 0, 0, read=False)

    @property
    def contributions_money(self) -> Money:
        return _usd(self.contributions)

    @property
    def support(self) -> int:
        """Line 11: lines 1 to 3 (2 and 3 are 0), 8, 9 (0) and 10."""
        return self.contributions + self.investment + self.other


@dataclass(frozen=True, slots=True)
class Capped:
    """A contributor whose five-year total is above 2% of total support."""

    entity: str
    name: str
    total: Money  # line 1 over the five years, government grants left out
    excess: Money  # what of it goes on line 5


@dataclass(frozen=True)
class ScheduleA:
    years: tuple[SupportYear, ...]  # (a) to (e), oldest first
    cap: Money  # 2% of line 11, column (f)
    capped: tuple[Capped, ...]  # by excess, largest first
    unnamed: Money  # line 1 of the five years that names no contributor: not capped

    @property
    def year(self) -> int:
        return self.years[-1].year

    @property
    def unread(self) -> tuple[int, ...]:
        """Years the books read did not hold (closed years, on a page): the test is then
        incomplete, and the command, which reads the full history, gives it whole."""
        return tuple(y.year for y in self.years if not y.read)

    @property
    def complete(self) -> bool:
        return not self.unread

    def _total(self, pick: Callable[[SupportYear], int]) -> Money:
        return _usd(sum(pick(y) for y in self.years))

    @property
    def line_4(self) -> Money:
        return self._total(lambda y: y.contributions)

    @property
    def line_5(self) -> Money:
        return _usd(sum(c.excess.minor for c in self.capped))

    @property
    def line_6(self) -> Money:
        return self.line_4 - self.line_5

    @property
    def line_11(self) -> Money:
        return self._total(lambda y: y.support)

    @property
    def percentage(self) -> Decimal:
        """Line 14: line 6 over line 11, column (f), in percent to two places."""
        if not self.line_11.minor:
            return Decimal("0.00")
        share = Decimal(self.line_6.minor) * 100 / Decimal(self.line_11.minor)
        return share.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)

    @property
    def measured(self) -> bool:
        """Whether there is a percentage to give: every year read, and some support."""
        return self.complete and self.line_11.minor > 0

    @property
    def meets_one_third(self) -> bool:
        """Line 16a: public support is at least a third of total support (exactly, not by
        the rounded percentage)."""
        return self.line_11.minor > 0 and 3 * self.line_6.minor >= self.line_11.minor

    @property
    def ten_percent(self) -> bool:
        """At least 10%: below 33⅓%, the facts-and-circumstances test (line 17a) may apply."""
        return self.line_11.minor > 0 and 10 * self.line_6.minor >= self.line_11.minor

    @property
    def verdict(self) -> str:
        if not self.complete:
            return (
                f"incomplete: {', '.join(map(str, self.unread))} not read (closed years "
                "these books do not hold), so no verdict; the command reads them"
            )
        if not self.line_11.minor:
            return (
                f"no support in {self.years[0].year} to {self.year}, so no percentage: in its "
                "first five years as a 501(c)(3) the organization checks line 13 and stops there"
            )
        if self.meets_one_third:
            return "meets the 33⅓% support test (line 16a)"
        if self.ten_percent:
            return (
                "below 33⅓% but at least 10%: the organization may qualify under the "
                "10%-facts-and-circumstances test (line 17a), explained in Part VI"
            )
        return "below 10%: does not qualify as publicly supported under section 170(b)(1)(A)(vi)"

    def rows(self) -> list[tuple[str, str, tuple[Money, ...] | None, Money]]:
        """Each line: number, description, the five columns (None for the lines that have
        column (f) only) and column (f)."""

        def by_year(pick: Callable[[SupportYear], int]) -> tuple[Money, ...]:
            return tuple(_usd(pick(y)) for y in self.years)

        zero = by_year(lambda y: 0)
        line_1 = by_year(lambda y: y.contributions)
        line_8 = by_year(lambda y: y.investment)
        line_10 = by_year(lambda y: y.other)
        return [
            ("1", LABELS["1"], line_1, self.line_4),
            ("2", LABELS["2"], zero, _usd(0)),
            ("3", LABELS["3"], zero, _usd(0)),
            ("4", LABELS["4"], line_1, self.line_4),
            ("5", LABELS["5"], None, self.line_5),
            ("6", LABELS["6"], None, self.line_6),
            ("7", LABELS["7"], line_1, self.line_4),
            ("8", LABELS["8"], line_8, self._total(lambda y: y.investment)),
            ("9", LABELS["9"], zero, _usd(0)),
            ("10", LABELS["10"], line_10, self._total(lambda y: y.other)),
            ("11", LABELS["11"], by_year(lambda y: y.support), self.line_11),
            ("12", LABELS["12"], by_year(lambda y: y.related), self._total(lambda y: y.related)),
        ]

    def named(self, name_of: Callable[[str], str]) -> ScheduleA:
        return replace(self, capped=tuple(replace(c, name=name_of(c.entity)) for c in self.capped))


def schedule_a(
    years: tuple[SupportYear, ...], by_entity: Mapping[str, int], unnamed: int
) -> ScheduleA:
    """Part II from its five columns and each contributor's five-year total of line 1 (in
    cents, government grants left out)."""
    total_support = sum(y.support for y in years)
    cap = round_minor(Decimal(total_support) * CAP_SHARE / 100, USD)  # cents -> cents
    capped = sorted(
        (
            Capped(entity, entity, _usd(minor), _usd(minor - cap))
            for entity, minor in by_entity.items()
            if minor > cap
        ),
        key=lambda c: (-c.excess.minor, c.entity),
    )
    return ScheduleA(years, _usd(cap), tuple(capped), _usd(unnamed))
