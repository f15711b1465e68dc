"""Form 990 figures of the year-end package: Part VIII (revenue by line) and Schedule B's rule.

**Part VIII.** Each income account's revenue goes on the line its ``open`` names
(``form-990-line``), or on its default by name (``accounts.default_form_990_line``). A
payment booked as a contribution (lines 1a to 1f) that bought the payer something more
than token items is split, as Form 990's instructions for line 1 ask: the part above the
fair market value of what they got stays a contribution, and the value goes on the
account's exchange line (``form-990-exchange-line`` on its open; unset, line 8a for a
fundraising event's gifts (1c), else line 11a, other revenue, since a thank-you item or
a sponsor's conference pass is no program service of the sponsor). The value is the one
the app already records and the receipt or acknowledgement states: a donation's thank-you
gift (``Donation.benefit_value``), a sponsorship invoice's benefits; the IRS safe harbours
for insubstantial benefits of the payment's tax year (the 2% test and the low-cost article
test, ``receipts.document.TOKEN_ITEM_LIMITS``) apply as on the receipt. So a qualified sponsorship
payment (IRC 513(i)), thanked with acknowledgement only, is all contribution.

Line 1g (noncash, of line 1) is a memo: gifts of stock, at the amount their sale
realised (``donations.offline``; the sponsor sells donated shares on arrival). Line 1h
adds 1a to 1f; line 12, total revenue, adds 1h and lines 2 to 11. The sponsorship fee a
project pays the sponsor moves money between the sponsor's own funds and is nobody's
revenue (``between-funds``): the package shows it beside the lines, so that the lines
and it add up to every income account of the books.

**Schedule B.** The general rule lists each contributor of 5,000.00 or more in the year;
the special rule, for an organisation described in sections 509(a)(1) and
170(b)(1)(A)(vi) that meets the one-third support test, each of the greater of 5,000.00
and 2% of line 1h (CONSERVANCY_SCHEDULE_B_RULE). Only the contribution part counts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from conservancy.infra.config import ScheduleBRule
from conservancy.ledger import accounts
from conservancy.money import Currency, Money

USD = Currency.USD
GENERAL_RULE_LINE = 500_000  # 5,000.00 in cents
SPECIAL_RULE_SHARE_BP = 200  # 2% of line 1h, in basis points
NONCASH = "1g"
CONTRIBUTIONS_TOTAL = "1h"
TOTAL_REVENUE = "12"
LINE_ORDER = (
    "1a",
    "1b",
    "1c",
    "1d",
    "1e",
    "1f",
    NONCASH,
    CONTRIBUTIONS_TOTAL,
    *(line for line in accounts.PART_VIII_LINES if line not in accounts.CONTRIBUTION_LINES),
    TOTAL_REVENUE,
)
LABELS = {
    **accounts.PART_VIII_LINES,
    NONCASH: "Noncash contributions included in lines 1a-1f",
    CONTRIBUTIONS_TOTAL: "Total contributions (lines 1a-1f)",
    TOTAL_REVENUE: "Total revenue",
}


def _usd(minor: int) -> Money:
    return Money.from_minor(minor, USD)


def line_of(account: str, form_990: Mapping[str, Mapping[str, str]]) -> str | None:
    """The Part VIII line (or ``between-funds``) of an income account; None when neither
    its open nor its name says (``ledger check`` names such an account)."""
    given = form_990.get(account, {}).get(accounts.FORM_990_LINE)
    if given in accounts.ACCOUNT_LINES:
        return given
    return accounts.default_form_990_line(account)


def is_contribution(account: str, form_990: Mapping[str, Mapping[str, str]]) -> bool:
    """Revenue on line 1: what Schedule B and the contributions of the package count."""
    return account.startswith("Income:") and line_of(account, form_990) in (
        accounts.CONTRIBUTION_LINES
    )


@dataclass(frozen=True, slots=True)
class PartVIIILine:
    line: str
    label: str
    amount: Money
    accounts: tuple[str, ...]  # the accounts (and splits) that make it up
    memo: bool = False  # 1g and the totals: not added again into line 12

    @property
    def total(self) -> bool:
        return self.line in {CONTRIBUTIONS_TOTAL, TOTAL_REVENUE}


@dataclass(frozen=True)
class PartVIII:
    lines: tuple[PartVIIILine, ...]
    between_funds: Money  # income the books hold that is no revenue of the sponsor
    unclassed: tuple[str, ...]  # income accounts with no line: their revenue is left out

    def amount(self, line: str) -> Money:
        for found in self.lines:
            if found.line == line:
                return found.amount
        return _usd(0)

    @property
    def contributions(self) -> Money:
        return self.amount(CONTRIBUTIONS_TOTAL)

    @property
    def total_revenue(self) -> Money:
        return self.amount(TOTAL_REVENUE)


def part_viii(
    income: Mapping[str, int],
    exchange: Mapping[str, int],
    noncash: int,
    form_990: Mapping[str, Mapping[str, str]],
) -> PartVIII:
    """Part VIII from the year's income by account (minor units, income positive), the
    value of benefits given back for payments to each account, and the noncash gifts."""
    by_line: dict[str, int] = defaultdict(int)
    sources: dict[str, list[str]] = defaultdict(list)
    between = 0
    unclassed = []
    for account, minor in sorted(income.items()):
        line = line_of(account, form_990)
        given_back = exchange.get(account, 0)
        if line is None:
            unclassed.append(account)
            continue
        if line == accounts.BETWEEN_FUNDS:
            between += minor
            continue
        if line in accounts.CONTRIBUTION_LINES and given_back:
            other = accounts.exchange_line(
                line, form_990.get(account, {}).get(accounts.FORM_990_EXCHANGE_LINE)
            )
            by_line[other] += given_back
            sources[other].append(f"{account} (benefits given back)")
            minor -= given_back
        by_line[line] += minor
        sources[line].append(account)
    contributions = sum(by_line[line] for line in accounts.CONTRIBUTION_LINES)
    total = sum(by_line.values())
    by_line[NONCASH] = noncash
    by_line[CONTRIBUTIONS_TOTAL] = contributions
    by_line[TOTAL_REVENUE] = total
    lines = tuple(
        PartVIIILine(
            line,
            LABELS[line],
            _usd(by_line[line]),
            tuple(sources.get(line, ())),
            memo=line in {NONCASH, CONTRIBUTIONS_TOTAL, TOTAL_REVENUE},
        )
        for line in LINE_ORDER
        if by_line.get(line) or line in {"1f", NONCASH, CONTRIBUTIONS_TOTAL, TOTAL_REVENUE}
    )
    return PartVIII(lines, _usd(between), tuple(unclassed))


def schedule_b_threshold(rule: ScheduleBRule, line_1h: Money) -> Money:
    """The least a contributor's total must reach to be listed on Schedule B."""
    if rule is ScheduleBRule.GENERAL:
        return _usd(GENERAL_RULE_LINE)
    # 2% of line 1h, rounded up to the cent: "the greater of $5,000 or 2%".
    share = -((-line_1h.minor * SPECIAL_RULE_SHARE_BP) // 10_000)
    return _usd(max(GENERAL_RULE_LINE, share))


def rule_wording(rule: ScheduleBRule, threshold: Money) -> str:
    if rule is ScheduleBRule.GENERAL:
        return f"general rule: contributors of {threshold.format()} or more"
    return (
        "special rule (section 509(a)(1) and 170(b)(1)(A)(vi) organization): contributors "
        f"of {threshold.format()} or more, the greater of $5,000.00 and 2% of line 1h"
    )
