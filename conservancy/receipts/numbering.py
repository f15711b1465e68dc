"""Receipt numbers, without gaps, per calendar year: ``2026-000001``, ``2026-000002``, ...
(the scheme, and why it has no gaps: conservancy.kernel.numbering)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from conservancy.kernel.numbering import next_sequence
from conservancy.receipts.models import ReceiptCounter


def format_number(year: int, sequence: int) -> str:
    return f"{year:04d}-{sequence:06d}"


def next_number(session: Session, year: int) -> tuple[int, str]:
    """The next sequence of ``year`` and its printed number, e.g. ``(123, "2026-000123")``.

    The counter stays locked until the caller's transaction ends; a rollback
    gives the number back.
    """
    sequence = next_sequence(session, ReceiptCounter, year)
    return sequence, format_number(year, sequence)
