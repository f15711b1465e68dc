"""Money: a Decimal amount with a currency. Pure, standard library only.

Amounts are exact. Anything that divides or multiplies goes through
:func:`round_minor`, the one place where rounding happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from typing import Self


class Currency(StrEnum):
    USD = "USD"
    EUR = "EUR"
    GBP = "GBP"
    CAD = "CAD"

    @property
    def minor_units(self) -> int:
        return MINOR_UNITS[self]

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.minor_units)


MINOR_UNITS: dict[Currency, int] = dict.fromkeys(Currency, 2)


class MoneyError(ValueError):
    """An amount that cannot be money: bad text, too many decimals, mixed currencies."""


def round_minor(value: Decimal, currency: Currency, *, up: bool = False) -> int:
    """Round a Decimal to whole minor units (cents): half away from zero, or up.

    Half-up is what card processors and bookkeepers expect of a fee of
    2.9% on 10.05 (0.29145 -> 0.29). ``up=True`` rounds towards +infinity,
    for amounts that must not fall a cent short (the fee gross-up). Every
    computed amount in conservancy is rounded here and nowhere else.
    """
    scaled = value.scaleb(currency.minor_units)
    return int(scaled.quantize(Decimal(1), rounding=ROUND_CEILING if up else ROUND_HALF_UP))


_AMOUNT_TEXT = re.compile(r"^\s*(\d{1,3}(,\d{3})+|\d+)(\.\d+)?\s*$")


@dataclass(frozen=True, slots=True)
class Money:
    amount: Decimal
    currency: Currency

    def __post_init__(self) -> None:
        given: object = self.amount
        if isinstance(given, float) or not isinstance(given, Decimal | int):
            raise TypeError(f"money needs a Decimal amount, not {type(given).__name__}")
        object.__setattr__(self, "currency", parse_currency(self.currency))
        amount = Decimal(self.amount)
        if not amount.is_finite():
            raise MoneyError(f"{amount} is not an amount")
        exponent = amount.as_tuple().exponent
        assert isinstance(exponent, int)
        if -exponent > self.currency.minor_units:
            raise MoneyError(
                f"{amount} {self.currency} has more than {self.currency.minor_units} decimals"
            )
        object.__setattr__(self, "amount", amount.quantize(self.currency.quantum))

    @classmethod
    def from_minor(cls, minor: int, currency: Currency | str) -> Self:
        if not isinstance(minor, int) or isinstance(minor, bool):
            raise TypeError(f"minor units must be an int, not {type(minor).__name__}")
        cur = parse_currency(currency)
        return cls(Decimal(minor).scaleb(-cur.minor_units), cur)

    @classmethod
    def zero(cls, currency: Currency | str = Currency.USD) -> Self:
        return cls.from_minor(0, currency)

    @classmethod
    def parse(cls, text: str, currency: Currency | str) -> Self:
        """Read an amount a person typed: ``1,234.50``. Raises MoneyError."""
        if not _AMOUNT_TEXT.match(text or ""):
            raise MoneyError(f"{text!r} is not an amount")
        try:
            value = Decimal(text.strip().replace(",", ""))
        except InvalidOperation as exc:  # pragma: no cover - the regex already refused it
            raise MoneyError(f"{text!r} is not an amount") from exc
        return cls(value, parse_currency(currency))

    @property
    def minor(self) -> int:
        """The amount in minor units (cents), exactly."""
        return int(self.amount.scaleb(self.currency.minor_units))

    def _same(self, other: object) -> Money:
        if not isinstance(other, Money):
            raise TypeError(f"cannot combine money with {type(other).__name__}")
        if other.currency != self.currency:
            raise MoneyError(f"cannot combine {self.currency} with {other.currency}")
        return other

    def __add__(self, other: Money) -> Money:
        return Money.from_minor(self.minor + self._same(other).minor, self.currency)

    def __sub__(self, other: Money) -> Money:
        return Money.from_minor(self.minor - self._same(other).minor, self.currency)

    def __neg__(self) -> Money:
        return Money.from_minor(-self.minor, self.currency)

    def __abs__(self) -> Money:
        return Money.from_minor(abs(self.minor), self.currency)

    def __lt__(self, other: Money) -> bool:
        return self.minor < self._same(other).minor

    def __le__(self, other: Money) -> bool:
        return self.minor <= self._same(other).minor

    def __gt__(self, other: Money) -> bool:
        return self.minor > self._same(other).minor

    def __ge__(self, other: Money) -> bool:
        return self.minor >= self._same(other).minor

    def __bool__(self) -> bool:
        return self.minor != 0

    def times(self, rate: Decimal) -> Money:
        """This amount times an exact rate (a fee rate, a share), rounded once."""
        given: object = rate
        if isinstance(given, float) or not isinstance(given, Decimal | int):
            raise TypeError(f"rates must be Decimal, not {type(rate).__name__}")
        return Money.from_minor(
            round_minor(self.amount * Decimal(rate), self.currency), self.currency
        )

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}"

    def format(self) -> str:
        """For people: ``$1,234.50`` for USD, ``1,234.50 EUR`` otherwise."""
        text = f"{self.amount:,.{self.currency.minor_units}f}"
        if self.currency is Currency.USD:
            return f"-${text[1:]}" if text.startswith("-") else f"${text}"
        return f"{text} {self.currency}"


def parse_currency(value: Currency | str) -> Currency:
    try:
        return Currency(str(value).upper())
    except ValueError:
        raise MoneyError(f"unknown currency {value!r}") from None


def percent_to_basis_points(text: str) -> int:
    """``"10"`` -> 1000, ``"7.5"`` -> 750. Raises MoneyError."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise MoneyError(f"{text!r} is not a percentage") from None
    if not value.is_finite() or value < 0 or value > 100:
        raise MoneyError(f"{text!r} is not a percentage from 0 to 100")
    bp = value * 100
    if bp != bp.to_integral_value():
        raise MoneyError(f"{text!r} has more than two decimals")
    return int(bp)
