"""Card fees and the "cover the fees" gross-up.

A card schedule is a percentage plus a fixed amount per charge (Stripe's US
default: 2.9% + 0.30). To let the fund net ``net`` after the fee, the donor
gives ``gross = ceil((net + fixed) / (1 - rate))`` in cents. Rounding up
(never half-up) is deliberate: the fund must not come out a cent short.

A gift in EUR, GBP or CAD is converted into the sponsor's US dollars, and
Stripe charges 1% more for that, its 30 cents still in dollars. Its schedule
(:func:`schedule_for`) is 3.9% plus a fixed part in the gift's own currency
of at least 30 US cents at any rate of recent years (0.30 EUR or GBP, 0.45
CAD), so covering the fees never leaves the fund short. A card issued outside
the US costs 1.5% more; no schedule here includes that, for dollars neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from conservancy.money import Currency, Money, round_minor

THIRTY_CENTS = Money(Decimal("0.30"), Currency.USD)


@dataclass(frozen=True)
class CardSchedule:
    rate: Decimal = Decimal("0.029")
    fixed: Money = THIRTY_CENTS

    def fee(self, gross: Money) -> Money:
        """The fee this schedule takes from a charge of ``gross``."""
        return gross.times(self.rate) + self.fixed

    def gross_up(self, net: Money) -> Money:
        """The smallest charge that leaves at least ``net`` after this schedule's fee."""
        exact = (net.amount + self.fixed.amount) / (Decimal(1) - self.rate)
        return Money.from_minor(round_minor(exact, net.currency, up=True), net.currency)


DEFAULT_SCHEDULE = CardSchedule()
CONVERTED_RATE = Decimal("0.039")
SCHEDULES: dict[Currency, CardSchedule] = {
    Currency.USD: DEFAULT_SCHEDULE,
    Currency.EUR: CardSchedule(CONVERTED_RATE, Money(Decimal("0.30"), Currency.EUR)),
    Currency.GBP: CardSchedule(CONVERTED_RATE, Money(Decimal("0.30"), Currency.GBP)),
    Currency.CAD: CardSchedule(CONVERTED_RATE, Money(Decimal("0.45"), Currency.CAD)),
}


def schedule_for(currency: Currency) -> CardSchedule:
    """The card schedule to gross a gift in ``currency`` up by (see the module's note)."""
    return SCHEDULES[currency]
