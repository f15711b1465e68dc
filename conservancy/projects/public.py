"""What anyone may see of a project: the transparency Open Collective and Liberapay users
expect, and no more than each donor allowed.

The page (``/projects/<slug>``) and the summary API (``/api/v1/projects/<slug>/summary``)
draw on the same figures: what the project receives a week and from how many patrons
(projects.giving), its balance and its income and expenses month by month (the books'
snapshot, never the ledger), the latest gifts, and, if the project chose to show them,
the expenses it paid.

The latest gifts name a donor only if they gave with their name public; every other gift
is "Anonymous", and no gift shows its amount. A fully refunded gift is not listed.

The sponsor's own overview (``sponsor_overview``, on its staff's home page) draws the same
month chart over all the projects' funds, with every fund's balance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donation, Gift, Visibility
from conservancy.expenses.models import Expense
from conservancy.ledger.books import Closed
from conservancy.ledger.snapshot import Snapshot, month_of, months_back
from conservancy.money import Currency, Money
from conservancy.projects.fund import month_label, round_up
from conservancy.projects.giving import Receiving, receiving
from conservancy.projects.models import Project

MONTHS_SHOWN = 12
LATEST_SHOWN = 10
EXPENSES_SHOWN = 20


@dataclass(frozen=True, slots=True)
class Month:
    """One month of the fund, and where its two bars go on the chart."""

    month: str  # "2026-03"
    income: Money
    expenses: Money
    x: int
    income_height: int
    expenses_height: int

    @property
    def label(self) -> str:
        return month_label(self.month)


@dataclass(frozen=True, slots=True)
class MonthsChart:
    """Income and expenses per month as paired bars of an SVG drawn on the server."""

    months: tuple[Month, ...]
    top: Money
    width: int
    height: int
    bar_width: int

    @property
    def empty(self) -> bool:
        return not any(m.income or m.expenses for m in self.months)


@dataclass(frozen=True, slots=True)
class LatestGift:
    name: str  # "Anonymous" unless the donor gave with their name public
    on: date


@dataclass(frozen=True, slots=True)
class PaidExpense:
    on: date
    payee: str
    category: str
    amount: Money


@dataclass(frozen=True, slots=True)
class PublicFigures:
    receiving: Receiving
    balance: Money
    raised_this_year: Money
    chart: MonthsChart
    latest: tuple[LatestGift, ...]
    expenses: tuple[PaidExpense, ...] | None  # None: the project does not show them


def public_figures(
    session: Session,
    snapshot: Snapshot,
    project: Project,
    today: date,
    closed: Closed | None = None,
) -> PublicFigures:
    """``closed``: the closed years' snapshot, for months before the first open one."""
    currency = Currency(project.currency)
    return PublicFigures(
        receiving=receiving(session, project),
        balance=snapshot.fund_balance(project.fund, currency),
        raised_this_year=snapshot.fund_income_in_year(
            project.fund, today.year, "Donations", currency
        ),
        chart=months_chart(snapshot, project, today, closed),
        latest=latest_gifts(session, project),
        expenses=paid_expenses(session, project) if project.public_expenses else None,
    )


def months_chart(
    snapshot: Snapshot,
    project: Project,
    today: date,
    closed: Closed | None = None,
    *,
    width: int = 720,
    height: int = 180,
) -> MonthsChart:
    currency = Currency(project.currency)
    figures = _months(snapshot, closed, [project.fund], today, currency)
    return _chart(figures, currency, width=width, height=height)


def _months(
    snapshot: Snapshot, closed: Closed | None, funds: list[str], today: date, currency: Currency
) -> list[tuple[str, Money, Money]]:
    """(month, income, expenses) of ``funds`` together for the last MONTHS_SHOWN months,
    oldest first: closed months from the closed years' snapshot, the rest from the books'."""
    months = months_back(month_of(today), MONTHS_SHOWN)
    old = [m for m in months if closed is not None and m < closed.before]
    found = snapshot.income_and_expenses_by_month(
        funds, [m for m in months if m not in old], currency
    )
    if closed is not None and old:
        found |= closed.snapshot.income_and_expenses_by_month(funds, old, currency)
    return [(month, *found[month]) for month in months]


def _chart(
    figures: list[tuple[str, Money, Money]],
    currency: Currency,
    *,
    width: int = 720,
    height: int = 180,
) -> MonthsChart:
    highest = max((max(i.minor, e.minor) for _, i, e in figures), default=0)
    top = round_up(max(highest, 1))
    step = width // max(len(figures), 1)
    bar = max((step - 6) // 2, 1)
    months = tuple(
        Month(
            month=month,
            income=income,
            expenses=expenses,
            x=n * step,
            income_height=max(income.minor, 0) * height // top,
            expenses_height=max(expenses.minor, 0) * height // top,
        )
        for n, (month, income, expenses) in enumerate(figures)
    )
    return MonthsChart(months, Money.from_minor(top, currency), step * len(figures), height, bar)


def latest_gifts(session: Session, project: Project) -> tuple[LatestGift, ...]:
    rows = session.execute(
        select(Gift.donor_name, Gift.settled_on, Donation.visibility)
        .join(Donation, Gift.donation_id == Donation.id)
        .where(
            Donation.project_id == project.id,
            Gift.reversed_minor < Gift.project_minor + Gift.general_minor,
        )
        .order_by(Gift.settled_at.desc(), Gift.id.desc())
        .limit(LATEST_SHOWN)
    ).all()
    return tuple(
        LatestGift(name if visibility is Visibility.PUBLIC else "Anonymous", on)
        for name, on, visibility in rows
    )


def paid_expenses(session: Session, project: Project) -> tuple[PaidExpense, ...]:
    rows = session.scalars(
        select(Expense)
        .where(Expense.project_id == project.id)
        .order_by(Expense.paid_on.desc(), Expense.id.desc())
        .limit(EXPENSES_SHOWN)
    )
    return tuple(
        PaidExpense(
            e.paid_on, e.payee, e.category, Money.from_minor(e.amount_minor, Currency(e.currency))
        )
        for e in rows
    )


@dataclass(frozen=True, slots=True)
class FundLine:
    name: str  # the project's, or the sponsor's own fund
    fund: str
    balance: Money
    income_this_year: Money


@dataclass(frozen=True, slots=True)
class SponsorOverview:
    """For the sponsor's staff: every fund's balance, and income by month across projects."""

    funds: tuple[FundLine, ...]
    chart: MonthsChart


def sponsor_overview(
    snapshot: Snapshot,
    projects: list[Project],
    today: date,
    closed: Closed | None = None,
    *,
    general: str = "General",
) -> SponsorOverview:
    """Every project's fund and the sponsor's own (``general``), in US dollars, and the
    income and expenses of the projects' funds together, month by month (the general fund
    left out of the chart: its sponsorship fees are the projects' expenses, not new money)."""
    usd = Currency.USD
    named = [(p.name, p.fund) for p in projects] + [("The sponsor's general fund", general)]
    funds = tuple(
        FundLine(
            name,
            fund,
            snapshot.fund_balance(fund, usd),
            snapshot.fund_year(fund, today.year, usd).income_total,
        )
        for name, fund in named
    )
    figures = _months(snapshot, closed, [p.fund for p in projects], today, usd)
    return SponsorOverview(funds, _chart(figures, usd))
