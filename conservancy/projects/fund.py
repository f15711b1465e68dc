"""What a project's treasurer sees: figures from the books' snapshot, donors as they allowed.

Every figure of the fund comes from the snapshot (balances and monthly totals
in memory) and the transaction index (an SQLite file beside the books), both
kept current by reading only what was appended: nothing here loads the
ledger. Patrons and donors come from the database.

Donors are shown as each allowed: by name when they gave with their name
public or shown to the project; gifts made anonymously are counted together
under "Anonymous", so the list cannot tell one anonymous donor from another.
E-mail and postal addresses are the sponsor's, for its tax duties, and never
appear here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donor, DonorTotal
from conservancy.donations.service import campaign_raised
from conservancy.ledger.books import Closed
from conservancy.ledger.snapshot import FundFigures, Snapshot, month_of
from conservancy.money import Currency, Money
from conservancy.projects.models import Campaign, Project

CHART_MONTHS = 24
DONORS_PER_PAGE = 100


@dataclass(frozen=True, slots=True)
class Bar:
    month: str
    amount: Money
    x: int
    y: int
    height: int

    @property
    def label(self) -> str:
        return month_label(self.month)


def month_label(month: str) -> str:
    """ "2026-03" as people read it on a chart: "Mar 2026"."""
    year, number = month.split("-")
    return f"{MONTH_NAMES[int(number) - 1]} {year}"


MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


@dataclass(frozen=True, slots=True)
class Chart:
    """Gifts per month as bars of an SVG drawn on the server (no script needed)."""

    bars: tuple[Bar, ...]
    top: Money  # the value of the chart's top line
    width: int
    height: int
    bar_width: int

    @property
    def empty(self) -> bool:
        return not any(bar.amount for bar in self.bars)


def gifts_chart(
    series: list[tuple[str, Money]], currency: Currency, *, width: int = 720, height: int = 180
) -> Chart:
    """Bars scaled to a round top value; months with refunds beyond gifts show as zero."""
    highest = max((amount.minor for _, amount in series), default=0)
    top = round_up(max(highest, 1))
    step = width // max(len(series), 1)
    bars = []
    for n, (month, amount) in enumerate(series):
        size = max(amount.minor, 0) * height // top
        bars.append(Bar(month, amount, n * step, height - size, size))
    return Chart(
        bars=tuple(bars),
        top=Money.from_minor(top, currency),
        width=step * len(series),
        height=height,
        bar_width=max(step - 4, 1),
    )


def round_up(minor: int) -> int:
    """1, 2 or 5 times a power of ten, at least ``minor``: a top line people can read."""
    scale = 1
    while True:
        for factor in (1, 2, 5):
            if factor * scale >= minor:
                return factor * scale
        scale *= 10


@dataclass(frozen=True, slots=True)
class CampaignProgress:
    campaign: Campaign
    goal: Money
    raised: Money
    state: str  # "running", "upcoming", "ended"

    @property
    def percent(self) -> int:
        return min(100, self.raised.minor * 100 // self.goal.minor) if self.goal.minor > 0 else 0


def campaigns(session: Session, project: Project, today: date) -> list[CampaignProgress]:
    """The project's campaigns, the latest to start first, each with its progress."""
    rows = session.scalars(
        select(Campaign)
        .where(Campaign.project_id == project.id)
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
    )
    return [campaign_progress(session, campaign, today) for campaign in rows]


def campaign_progress(session: Session, campaign: Campaign, today: date) -> CampaignProgress:
    state = (
        "upcoming"
        if campaign.starts_on > today
        else "ended"
        if campaign.ends_on < today
        else "running"
    )
    return CampaignProgress(
        campaign=campaign,
        goal=Money.from_minor(campaign.goal_minor, Currency(campaign.currency)),
        raised=campaign_raised(session, campaign),
        state=state,
    )


@dataclass(frozen=True, slots=True)
class Overview:
    balance: Money
    month: FundFigures
    year: FundFigures
    chart: Chart


def overview(
    snapshot: Snapshot, project: Project, today: date, closed: Closed | None = None
) -> Overview:
    """``closed``: the closed years, for the chart's months before the first open one."""
    currency = Currency(project.currency)
    this_month = month_of(today)
    series = snapshot.donations_by_month(project.fund, this_month, CHART_MONTHS, currency)
    if closed is not None:
        old = dict(
            closed.snapshot.donations_by_month(project.fund, this_month, CHART_MONTHS, currency)
        )
        series = [(month, old[month] if month < closed.before else m) for month, m in series]
    return Overview(
        balance=snapshot.fund_balance(project.fund, currency),
        month=snapshot.fund_month(project.fund, this_month, currency),
        year=snapshot.fund_year(project.fund, today.year, currency),
        chart=gifts_chart(series, currency),
    )


@dataclass(frozen=True, slots=True)
class DonorLine:
    name: str  # "Anonymous" for every gift made anonymously, together
    gifts: int
    given: Money  # what stands of their gifts to the project (refunds taken off)
    first_on: date
    last_on: date
    shown_publicly: bool


def donors(session: Session, project: Project, page: int = 1) -> tuple[list[DonorLine], bool]:
    """The project's donors as far as each allowed, biggest first; and whether more follow.

    Read from donor_totals (``donations.models.DonorTotal``), a row per donor kept as the
    gifts change: a page is an index range, however many gifts the project holds. Every
    named donor has a line; all the gifts made anonymously make one more, "Anonymous",
    placed among them by its total (before named donors of the same total)."""
    currency = Currency(project.currency)
    named = (DonorTotal.project_id == project.id) & DonorTotal.anonymous.is_(False)
    anonymous = session.execute(
        select(
            func.sum(DonorTotal.gifts),
            func.sum(DonorTotal.given_minor),
            func.min(DonorTotal.first_on),
            func.max(DonorTotal.last_on),
        ).where(DonorTotal.project_id == project.id, DonorTotal.anonymous.is_(True))
    ).one()
    first = (page - 1) * DONORS_PER_PAGE  # the page's lines, with one more to tell if more
    end = first + DONORS_PER_PAGE + 1
    place = None  # the Anonymous line's place among all the lines
    if anonymous[0]:
        place = session.scalar(
            select(func.count()).where(named, DonorTotal.given_minor > anonymous[1])
        )
    before = 1 if place is not None and place < first else 0  # lines above, one not named
    rows = session.execute(
        select(
            Donor.name,
            DonorTotal.gifts,
            DonorTotal.given_minor,
            DonorTotal.first_on,
            DonorTotal.last_on,
            DonorTotal.public,
        )
        .join(Donor, Donor.id == DonorTotal.donor_id)
        .where(named)
        .order_by(DonorTotal.given_minor.desc(), DonorTotal.donor_id)
        .offset(first - before)
        .limit(end - first)
    ).all()
    lines = [
        DonorLine(
            name=name,
            gifts=count,
            given=Money.from_minor(given, currency),
            first_on=first_on,
            last_on=last_on,
            shown_publicly=public,
        )
        for name, count, given, first_on, last_on, public in rows
    ]
    if place is not None and first <= place < end:
        count, given, first_on, last_on = anonymous
        line = DonorLine(
            "Anonymous",
            int(count),
            Money.from_minor(int(given), currency),
            first_on,
            last_on,
            shown_publicly=False,
        )
        lines.insert(place - first, line)
    lines = lines[: end - first]
    return lines[:DONORS_PER_PAGE], len(lines) > DONORS_PER_PAGE
