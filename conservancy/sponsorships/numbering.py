"""Invoice numbers without gaps, per calendar year: ``INV-2026-0001``, ``INV-2026-0002``, ...
(the same scheme as receipts: conservancy.kernel.numbering)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from conservancy.kernel.numbering import next_sequence
from conservancy.sponsorships.models import InvoiceCounter


def format_number(year: int, sequence: int) -> str:
    return f"INV-{year:04d}-{sequence:04d}"


def next_number(session: Session, year: int) -> tuple[int, str]:
    """The next sequence of ``year`` and its printed number, e.g. ``(1, "INV-2026-0001")``."""
    sequence = next_sequence(session, InvoiceCounter, year)
    return sequence, format_number(year, sequence)
