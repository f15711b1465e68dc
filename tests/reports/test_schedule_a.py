"""Schedule A Part II's arithmetic on five columns given by hand (the figures a year's
Part VIII gives it are tested with real books in test_form990_package)."""

from __future__ import annotations

from decimal import Decimal

from conservancy.reports.schedule_a import SupportYear, schedule_a


def year(y: int, contributions: int, investment: int = 0) -> SupportYear:
    return SupportYear(y, contributions * 100, investment * 100, 0, 0)


def five(*contributions: int) -> tuple[SupportYear, ...]:
    return tuple(year(2022 + n, c) for n, c in enumerate(contributions))


def test_many_small_donors_meet_the_one_third_test() -> None:
    # 10,000.00 a year from 100 donors of 100.00 each, and 1,000.00 of interest in 2026:
    # total support 51,000.00; 2% of it is 1,020.00; each donor gave 500.00: none capped.
    years = (*five(10_000, 10_000, 10_000, 10_000)[:4], year(2026, 10_000, 1_000))
    found = schedule_a(years, {f"donor-{n}": 50_000 for n in range(100)}, 0)

    assert str(found.cap.amount) == "1020.00"
    assert found.capped == ()
    assert str(found.line_6.amount) == "50000.00"
    assert found.percentage == Decimal("98.04")  # 50,000 / 51,000
    assert found.meets_one_third
    assert found.verdict.startswith("meets the 33⅓% support test")


def test_one_great_donor_falls_below_ten_percent() -> None:
    # One donor's 100,000.00 a year and 1,000.00 a year from others: total 505,000.00,
    # cap 10,100.00; line 5 = 500,000 - 10,100 = 489,900.00; line 6 = 15,100.00, 2.99%.
    found = schedule_a(
        five(101_000, 101_000, 101_000, 101_000, 101_000),
        {"great": 50_000_000, "others": 500_000},
        0,
    )

    assert str(found.line_5.amount) == "489900.00"
    assert found.percentage == Decimal("2.99")
    assert not found.meets_one_third
    assert not found.ten_percent
    assert found.verdict.startswith("below 10%")


def test_exactly_one_third_meets_the_test_though_the_percentage_rounds_down() -> None:
    # 33.33% printed, but line 6 is exactly a third of line 11: 300.00 of 900.00 (the
    # 300.00 from thirty donors of 10.00, under the 2% cap of 18.00).
    found = schedule_a(
        (*five(0, 0, 0, 0), SupportYear(2026, 30_000, 60_000, 0, 0)),
        {f"donor-{n}": 1_000 for n in range(30)},
        0,
    )

    assert found.percentage == Decimal("33.33")
    assert found.meets_one_third


def test_five_years_without_support_give_no_percentage_and_no_failing_verdict() -> None:
    # A sponsor whose books are new: 0 of 0 is no finding that it "does not qualify".
    found = schedule_a(five(0, 0, 0, 0, 0), {}, 0)

    assert not found.measured
    assert not found.meets_one_third
    assert found.verdict.startswith("no support in 2022 to 2026, so no percentage")
    assert "does not qualify" not in found.verdict
