"""What a project receives, as Gittip showed it: recurring income per week, and its patrons.

A patron is a donor with an active recurring gift to the project: one that
Stripe is still billing (the donation is paid, or paid and refunded in part;
a cancelled, failed or fully refunded one no longer counts). Their gifts are
put on one footing, per week: a monthly gift counts 12/52 of itself a week, a
yearly one 1/52. The sum is rounded once, at the end.

Names are for the public only as donors allowed: :attr:`Receiving.named`
lists the patrons whose recurring gift was made with its name public.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, distinct, func, select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donation, DonationStatus, Donor, Frequency, Visibility
from conservancy.money import Currency, Money, round_minor
from conservancy.projects.models import Project

# What one gift of each schedule is worth a week.
PER_WEEK = {
    Frequency.WEEKLY: Decimal(1),
    Frequency.MONTHLY: Decimal(12) / Decimal(52),
    Frequency.YEARLY: Decimal(1) / Decimal(52),
}
# Stripe still bills these.
ACTIVE = (DonationStatus.PAID, DonationStatus.PARTIALLY_REFUNDED)
# A public list of names is a courtesy, not a census.
NAMED_LIMIT = 100


@dataclass(frozen=True, slots=True)
class Receiving:
    per_week: Money
    patrons: int
    # Patrons who gave with their name public, A to Z (at most NAMED_LIMIT).
    named: tuple[str, ...]


def _active_recurring(project: Project) -> list[object]:
    return [
        Donation.project_id == project.id,
        # The schedules by name, not `!= once`, so that ix_donations_giving serves the query.
        Donation.frequency.in_(tuple(PER_WEEK)),
        Donation.status.in_(ACTIVE),
        Donation.currency == project.currency,
    ]


def receiving(session: Session, project: Project, *, names: bool = True) -> Receiving:
    """The project's recurring income per week and its patrons; two queries, or one
    with ``names=False`` (``named`` is then empty: pages that show no names skip them)."""
    currency = Currency(project.currency)
    where = _active_recurring(project)
    # One pass over the donations: the sum of each schedule, and the patrons.
    schedules = list(PER_WEEK)
    *sums, patrons = session.execute(
        select(
            *(
                func.sum(case((Donation.frequency == frequency, Donation.amount_minor), else_=0))
                for frequency in schedules
            ),
            func.count(distinct(Donation.donor_id)),
        ).where(*where)  # type: ignore[arg-type]
    ).one()
    weekly = Decimal(0)
    for frequency, minor in zip(schedules, sums, strict=True):
        weekly += Decimal(int(minor or 0)) * PER_WEEK[frequency]
    named: Sequence[str] = ()
    if names:
        named = session.scalars(
            select(Donor.name)
            .join(Donation, Donation.donor_id == Donor.id)
            .where(*where, Donation.visibility == Visibility.PUBLIC)  # type: ignore[arg-type]
            .group_by(Donor.id, Donor.name)
            .order_by(Donor.name)
            .limit(NAMED_LIMIT)
        ).all()
    # `weekly` is in minor units: scale down to the unit, round once, back to minor.
    per_week = round_minor(weekly.scaleb(-currency.minor_units), currency)
    return Receiving(
        per_week=Money.from_minor(per_week, currency),
        patrons=int(patrons or 0),
        named=tuple(named),
    )
