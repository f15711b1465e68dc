"""Money: exact amounts with a currency; floats, mixed currencies and stray decimals refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conservancy.money import (
    Currency,
    Money,
    MoneyError,
    percent_to_basis_points,
    round_minor,
)

USD = Currency.USD
cents = st.integers(min_value=-(10**15), max_value=10**15)


def usd(text: str) -> Money:
    return Money(Decimal(text), USD)


def test_constructor_refuses_a_float() -> None:
    with pytest.raises(TypeError, match="float"):
        Money(0.1, USD)  # type: ignore[arg-type]


def test_constructor_refuses_a_string_amount() -> None:
    with pytest.raises(TypeError):
        Money("1.00", USD)  # type: ignore[arg-type]


def test_from_minor_refuses_a_float() -> None:
    with pytest.raises(TypeError):
        Money.from_minor(1.5, USD)  # type: ignore[arg-type]


def test_times_refuses_a_float_rate() -> None:
    with pytest.raises(TypeError, match="float"):
        usd("10.00").times(0.1)  # type: ignore[arg-type]


def test_adding_different_currencies_is_refused() -> None:
    with pytest.raises(MoneyError, match="USD"):
        usd("1.00") + Money(Decimal("1.00"), Currency.EUR)


def test_subtracting_and_comparing_different_currencies_is_refused() -> None:
    euros = Money(Decimal("1.00"), Currency.EUR)
    with pytest.raises(MoneyError):
        usd("1.00") - euros
    with pytest.raises(MoneyError):
        usd("1.00") < euros  # noqa: B015 - the comparison itself must raise


def test_money_in_different_currencies_is_not_equal() -> None:
    assert usd("1.00") != Money(Decimal("1.00"), Currency.EUR)


@pytest.mark.parametrize("text", ["1.005", "0.001", "12.345"])
def test_more_than_two_decimals_is_refused(text: str) -> None:
    with pytest.raises(MoneyError, match="decimals"):
        usd(text)


def test_fewer_decimals_are_padded_and_equal() -> None:
    assert usd("5") == usd("5.00")
    assert str(usd("5.5")) == "5.50 USD"


def test_infinity_and_nan_are_refused() -> None:
    for text in ["Infinity", "NaN"]:
        with pytest.raises(MoneyError):
            usd(text)


def test_unknown_currency_is_refused() -> None:
    with pytest.raises(MoneyError, match="currency"):
        Money(Decimal("1.00"), "XYZ")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "minor"),
    [
        ("1,234.50", 123450),
        ("1234.50", 123450),
        ("12", 1200),
        (" 0.01 ", 1),
        ("1,000,000.00", 100000000),
    ],
)
def test_parse_reads_amounts_people_type(text: str, minor: int) -> None:
    assert Money.parse(text, "usd").minor == minor


@pytest.mark.parametrize(
    "text", ["", "abc", "1,23.45", "12,34", "1.2.3", "-5.00", "$5", "1e3", "5.", "1.999"]
)
def test_parse_refuses_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(MoneyError):
        Money.parse(text, USD)


def test_minor_is_exact_for_large_amounts() -> None:
    assert usd("99999999.99").minor == 9999999999
    assert Money.from_minor(9999999999, USD) == usd("99999999.99")


def test_round_minor_rounds_halves_away_from_zero() -> None:
    # Banker's rounding would give 2 for 0.025; bookkeepers expect 3.
    assert round_minor(Decimal("0.025"), USD) == 3
    assert round_minor(Decimal("0.015"), USD) == 2
    assert round_minor(Decimal("0.0249"), USD) == 2
    assert round_minor(Decimal("-0.025"), USD) == -3


def test_times_rounds_once_half_up() -> None:
    assert usd("10.05").times(Decimal("0.029")) == usd("0.29")  # 0.29145
    assert usd("0.50").times(Decimal("0.05")) == usd("0.03")  # 0.025
    assert usd("100.00").times(Decimal("0.1")) == usd("10.00")


def test_format_shows_dollars_with_separators() -> None:
    assert usd("1234.5").format() == "$1,234.50"
    assert usd("-5").format() == "-$5.00"
    assert Money(Decimal("7"), Currency.EUR).format() == "7.00 EUR"


@given(cents, cents)
def test_adding_from_minor_values_is_exact(a: int, b: int) -> None:
    total = Money.from_minor(a, USD) + Money.from_minor(b, USD)
    assert total.minor == a + b
    assert total.amount == (Decimal(a) + Decimal(b)) / 100
    assert (total - Money.from_minor(b, USD)).minor == a


@given(cents, st.integers(min_value=-1000, max_value=1000))
def test_times_an_integer_matches_integer_arithmetic(a: int, factor: int) -> None:
    assert Money.from_minor(a, USD).times(Decimal(factor)).minor == a * factor


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=10000))
def test_times_a_basis_point_rate_matches_integer_half_up(a: int, bp: int) -> None:
    rate = Decimal(bp).scaleb(-4)
    # Half up in integers: (a * bp + 5000) // 10000 for non-negative amounts.
    assert Money.from_minor(a, USD).times(rate).minor == (a * bp + 5000) // 10000


@pytest.mark.parametrize(
    ("text", "bp"), [("10", 1000), ("7.5", 750), ("0", 0), ("0.01", 1), ("100", 10000)]
)
def test_percent_to_basis_points(text: str, bp: int) -> None:
    assert percent_to_basis_points(text) == bp


@pytest.mark.parametrize("text", ["abc", "", "-1", "100.01", "7.555", "NaN", "Infinity"])
def test_percent_to_basis_points_refuses_bad_percentages(text: str) -> None:
    with pytest.raises(MoneyError):
        percent_to_basis_points(text)
