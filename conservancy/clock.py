"""The only source of "now" and "today".

``now()`` is aware UTC, for the database. ``today(tz)`` is an accounting
date in the sponsor's time zone: a gift made at 23:30 in New York on
31 December belongs to that year's books, whatever UTC says.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def now() -> datetime:
    return datetime.now(UTC)


def today(tz: ZoneInfo) -> date:
    return now().astimezone(tz).date()


def accounting_date(moment: datetime, tz: ZoneInfo) -> date:
    if moment.tzinfo is None:
        raise ValueError("accounting_date needs an aware datetime")
    return moment.astimezone(tz).date()


def as_utc(moment: datetime) -> datetime:
    """A stored moment as an aware UTC datetime (SQLite hands them back naive, in UTC)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
