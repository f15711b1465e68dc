"""Currency conversion at the stand-in: gifts in EUR, GBP or CAD settle into US dollars.

The stand-in is a US Stripe account: it keeps one balance, in US dollars. A
charge in another currency is converted when it settles, and each balance
transaction says how: ``amount``, ``fee`` and ``net`` in USD, ``currency:
"usd"`` and Stripe's ``exchange_rate`` (the charge's amount times the rate is
the balance transaction's amount, rounded half-up to the cent). A refund or
dispute of such a charge is converted again, at the rate of the day it
happens, so the dollars that go back need not be the dollars that came in.

The rates are fixed demo figures kept here, one place, and are the store's to
change: tests (and the demo, through ``POST /_standin/exchange_rates``) set
another rate to see a refund go back at a rate of its own.

Stripe's US fee schedule adds 1% to a card charge that needs converting, and
1.5% for a card issued outside the US; both are percentages of the settled
dollars, with the usual 30 cents (see :mod:`conservancy.standin.payments`).
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from conservancy.money import Currency, round_minor
from conservancy.standin.errors import ParameterError

SETTLEMENT_CURRENCY = "usd"

# US dollars per unit of each currency, as Stripe's ``exchange_rate`` states them.
DEMO_RATES: dict[str, Decimal] = {
    "eur": Decimal("1.0834"),
    "gbp": Decimal("1.2671"),
    "cad": Decimal("0.7312"),
}


def converted(amount: int, rate: Decimal) -> int:
    """``amount`` minor units of a currency, in US cents at ``rate`` (half-up, away from 0)."""
    return round_minor(Decimal(amount).scaleb(-2) * rate, Currency.USD)


def settlement(rates: dict[str, Decimal], amount: int, currency: str) -> tuple[int, Decimal | None]:
    """What a movement of ``amount`` in ``currency`` is in the USD balance, and the rate used
    (None when nothing was converted)."""
    if currency == SETTLEMENT_CURRENCY:
        return amount, None
    rate = rates.get(currency)
    if rate is None:
        raise ParameterError(
            f"The stand-in cannot convert {currency.upper()} into USD; it knows "
            f"{', '.join(sorted(c.upper() for c in rates))}.",
            param="currency",
        )
    return converted(amount, rate), rate


def parse_rates(form: dict[str, str], known: dict[str, Decimal]) -> dict[str, Decimal]:
    """New rates from a form (``eur=1.10``): each a positive number, for a known currency."""
    rates: dict[str, Decimal] = {}
    for name, text in form.items():
        currency = name.lower()
        if currency not in known:
            raise ParameterError(f"No exchange rate is kept for {name!r}.", param=name)
        try:
            rate = Decimal(text.strip())
        except InvalidOperation:
            raise ParameterError(f"{text!r} is not a rate.", param=name) from None
        if not rate.is_finite() or rate <= 0:
            raise ParameterError(f"A rate must be more than zero; {text!r} given.", param=name)
        rates[currency] = rate
    return rates
