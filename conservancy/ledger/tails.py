"""Reading what was appended to the app's files since a reader last looked.

Both readers of the books, the snapshot (balances in memory) and the
transaction index (an SQLite file), keep a :class:`Cursor` per app file: how
many bytes and lines of it they have read, and a hash of the bytes just
before that point, which notices a file rewritten under them. Every block the
writer appends ends with a blank line, so only whole entries are read; a
torn append (its journal still present) is the caller's to leave alone.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from beancount.core import convert, data
from beancount.parser import parser


@dataclass(frozen=True)
class Cursor:
    size: int
    lines: int
    tail_hash: str  # of the 64 bytes before `size`: notices a file replaced under us


EMPTY_HASH = hashlib.sha256(b"").hexdigest()[:16]
START = Cursor(0, 0, EMPTY_HASH)


def tail_hash(path: Path, size: int) -> str:
    with path.open("rb") as fh:
        fh.seek(max(0, size - 64))
        return hashlib.sha256(fh.read(min(64, size))).hexdigest()[:16]


def count_lines(path: Path, size: int) -> int:
    count = 0
    with path.open("rb") as fh:
        remaining = size
        while remaining:
            chunk = fh.read(min(1 << 20, remaining))
            if not chunk:
                break
            count += chunk.count(b"\n")
            remaining -= len(chunk)
    return count


def cursor_at(path: Path, size: int) -> Cursor:
    return Cursor(size, count_lines(path, size), tail_hash(path, size))


def continues(path: Path, cursor: Cursor) -> bool:
    """True when the file has grown past the cursor and still holds what the cursor read."""
    return path.stat().st_size > cursor.size and tail_hash(path, cursor.size) == cursor.tail_hash


def read_appended(path: Path, cursor: Cursor) -> tuple[list[data.Transaction], Cursor] | None:
    """The whole transactions past the cursor, and the cursor after them; None if none yet.

    Their ``lineno`` is relative to the cursor: the line in the file is
    ``cursor.lines + lineno``.
    """
    found = read_appended_entries(path, cursor)
    if found is None:
        return None
    entries, after = found
    return [e for e in entries if isinstance(e, data.Transaction)], after


def read_appended_entries(
    path: Path, cursor: Cursor
) -> tuple[list[data.Transaction | data.Open], Cursor] | None:
    """As :func:`read_appended`, with the ``open`` directives among them (their metadata:
    an account's Form 990 line or function)."""
    with path.open("rb") as fh:
        fh.seek(cursor.size)
        tail = fh.read()
    # Only whole entries: every block we write ends with a blank line.
    end = tail.rfind(b"\n\n")
    if end < 0:
        return None
    chunk = tail[: end + 2]
    entries, _errors, _options = parser.parse_string(chunk.decode("utf-8"))
    size = cursor.size + len(chunk)
    after = Cursor(size, cursor.lines + chunk.count(b"\n"), tail_hash(path, size))
    return [e for e in entries if isinstance(e, data.Transaction | data.Open)], after


def posting_weight(posting: data.Posting) -> tuple[str, Decimal]:
    """What a posting weighs in its transaction: its units, or their cost or price."""
    if posting.cost is None and posting.price is None and posting.units is not None:
        units = posting.units
        if isinstance(units.number, Decimal):
            return str(units.currency), units.number
    weight = convert.get_weight(posting)  # type: ignore[no-untyped-call]
    return str(weight.currency), Decimal(weight.number)
