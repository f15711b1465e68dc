"""The only source of "now" and "today".

``now()`` is aware UTC, for the database. ``today(tz)`` is an accounting
date in the sponsor's time zone: a gift made at 23:30 in New York on
31 December belongs to that year's books, whatever UTC says.

Tests that run the app as its own processes (the server, the Stripe
stand-in, each command) cannot patch this module, yet must book a year that
has ended: with ``CONSERVANCY_ENV=test``, ``CONSERVANCY_TEST_CLOCK_SHIFT_DAYS=-400``
moves every process's clock 400 days back, so that all of them agree and time
still passes. Outside tests the variable is ignored here and refused by the
settings (conservancy.infra.config), so no deployment can run on a moved clock.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo

SHIFT_VARIABLE = "CONSERVANCY_TEST_CLOCK_SHIFT_DAYS"
SHIFT_LIMIT = 36_500  # days: a century either way is plenty for a test


def now() -> datetime:
    return datetime.now(UTC) + _shift()


def today(tz: ZoneInfo) -> date:
    return now().astimezone(tz).date()


def accounting_date(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("accounting_date needs an aware datetime")
    return moment.astimezone(tz).date()


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite hands them back naive, in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def shown(moment: datetime, tz: ZoneInfo) -> str:
    """A moment as staff read it: in the sponsor's time zone, which it names
    ("2026-03-01 10:00 EST"), so that no time on a page leaves one guessing."""
    return as_utc(moment).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z")


def shift_days(environ: Mapping[str, str]) -> int:
    """The test clock's shift in whole days (0 when unset); ValueError names what is wrong."""
    text = environ.get(SHIFT_VARIABLE, "").strip()
    if not text:
        return 0
    digits = text.removeprefix("-").removeprefix("+")
    if not (digits.isascii() and digits.isdigit()) or int(digits) > SHIFT_LIMIT:
        raise ValueError(
            f"{SHIFT_VARIABLE} must be a whole number of days from -{SHIFT_LIMIT} to "
            f"{SHIFT_LIMIT}, not {text!r}"
        )
    return int(text)


@cache
def _shift() -> timedelta:
    if os.environ.get("CONSERVANCY_ENV", "").strip().lower() != "test":
        return timedelta(0)
    return timedelta(days=shift_days(os.environ))
