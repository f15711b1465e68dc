"""Card fees and the "cover the fees" gross-up.

A card schedule is a percentage plus a fixed amount per charge (Stripe's US
default: 2.9% + 0.30). To let the fund net ``net`` after the fee, the donor
gives ``gross = ceil((net + fixed) / (1 - rate))`` in cents. Rounding up
(never half-up) is deliberate: the fund must not come out a cent short.
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
