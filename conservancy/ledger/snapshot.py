"""Balances served from memory, kept current without reloading the books.

A :class:`Snapshot` holds the balance of every account and, for each file the
application owns, how far into it the snapshot has read (``Cursor``). Keeping
it current is cheap:

* the application's own appends are read back from each app file's tail and
  parsed with Beancount's parser (no booking: our entries spell out every
  amount), under the shared lock, and only when no interrupted append is
  waiting for recovery;
* a change to any other file (a staff edit: mtime or size differ) calls for a
  full rebuild, which :class:`conservancy.ledger.books.Books` runs in the
  background while the old snapshot keeps serving.

A full build loads the books with Beancount's loader. It first notes, under the
shared lock, each app file's size and line count (stopping where an interrupted
append's journal says the file ended); entries past those lines are left out of
the build and picked up by the next tail read, so an append that races the
build is counted exactly once, and a torn one not before recovery.
"""

from __future__ import annotations

import gc
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import convert, data
from beancount.parser import parser

from conservancy.ledger.accounts import fund_of
from conservancy.ledger.files import LedgerFiles
from conservancy.money import Currency, Money, round_minor

CACHE_VERSION = 1

# The loader's pickle cache would write *.picklecache files beside the books.
loader.initialize(use_cache=False)


@dataclass(frozen=True)
class Cursor:
    size: int
    lines: int
    tail_hash: str  # of the 64 bytes before `size`: notices a file replaced under us


@dataclass(frozen=True)
class Snapshot:
    balances: Mapping[str, Mapping[str, Decimal]]
    cursors: Mapping[str, Cursor]
    # Files other than the app's, with (mtime_ns, size) when loaded.
    watched: Mapping[str, tuple[int, int]]
    transactions: int = 0
    errors: int = 0

    def account_balance(self, account: str, currency: str = "USD") -> Decimal:
        return self.balances.get(account, {}).get(currency, Decimal(0))

    def fund_balance(self, fund: str, currency: Currency = Currency.USD) -> Money:
        """Minus the sum of the fund's income, expense and net-assets postings."""
        total = sum(
            (
                by_currency.get(currency.value, Decimal(0))
                for account, by_currency in self.balances.items()
                if fund_of(account) == fund
            ),
            Decimal(0),
        )
        return Money.from_minor(-round_minor(total, currency), currency)

    def accounts(self) -> list[str]:
        return sorted(self.balances)


def load_books(files: LedgerFiles) -> tuple[list[data.Directive], list[Any], dict[str, Any]]:
    """Beancount's full load of the books, with the garbage collector paused.

    A load allocates millions of objects and frees none: at 1M transactions the
    collector's full passes took a third of the time (35 s of 134 s) and found
    nothing to collect. It runs again as soon as the load is done.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        entries, errors, options = loader.load_file(str(files.main))
    finally:
        if enabled:
            gc.enable()
    return entries, errors, options


def posting_weight(posting: data.Posting) -> tuple[str, Decimal]:
    """What a posting weighs in its transaction: its units, or their cost or price."""
    weight = convert.get_weight(posting)  # type: ignore[no-untyped-call]
    return str(weight.currency), Decimal(weight.number)


def _tail_hash(path: Path, size: int) -> str:
    with path.open("rb") as fh:
        fh.seek(max(0, size - 64))
        return hashlib.sha256(fh.read(min(64, size))).hexdigest()[:16]


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def _count_lines(path: Path, size: int) -> int:
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


def _add(
    balances: dict[str, dict[str, Decimal]], account: str, currency: str, number: Decimal
) -> None:
    by_currency = balances.setdefault(account, {})
    by_currency[currency] = by_currency.get(currency, Decimal(0)) + number


def build(files: LedgerFiles) -> Snapshot:
    """A full build with Beancount's loader. Slow on big books: never on a request."""
    with files.lock(shared=True):
        # While an interrupted append's journal exists, what lies past the sizes
        # it names is torn: leave it out, the tail read takes it after recovery.
        journalled = (files.read_journal() or {}).get("sizes", {})
        cursors = {}
        for path in files.app_files():
            rel = files.relative(path)
            size = path.stat().st_size
            if rel in journalled:
                size = min(size, int(journalled[rel]))
            cursors[rel] = Cursor(size, _count_lines(path, size), _tail_hash(path, size))
    before = _staff_stamps(files)
    entries, errors, options = load_books(files)
    balances: dict[str, dict[str, Decimal]] = {}
    transactions = 0
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        filename = entry.meta.get("filename", "")
        if files.is_app_file(filename):
            cursor = cursors.get(files.relative(filename))
            if cursor is None or entry.meta.get("lineno", 0) > cursor.lines:
                continue  # appended after we looked: the tail read takes it
        transactions += 1
        for posting in entry.postings:
            _add(balances, posting.account, *posting_weight(posting))
    watched = {}
    for name in options.get("include", []):
        if not files.is_app_file(name) and Path(name).exists():
            rel = files.relative(name)
            watched[rel] = before.get(rel) or _stat(Path(name))
    snapshot = Snapshot(
        balances=balances,
        cursors=cursors,
        watched=watched,
        transactions=transactions,
        errors=len(errors),
    )
    return catch_up(files, snapshot)


def _staff_stamps(files: LedgerFiles) -> dict[str, tuple[int, int]]:
    """The staff's files as they are before the loader reads them.

    A build records these, not the stamps after loading, so that an edit saved
    while the loader runs leaves the snapshot stale and the next look reloads.
    """
    stamps = {}
    for path in files.root.rglob("*.beancount"):
        if files.is_app_file(path):
            continue
        try:
            stamps[files.relative(path)] = _stat(path)
        except OSError:
            continue  # gone meanwhile, or an editor's dangling lock link
    return stamps


def stale(files: LedgerFiles, snapshot: Snapshot) -> bool:
    """True when a file that is not the app's changed, or an app file was rewritten."""
    for rel, stamp in snapshot.watched.items():
        path = files.root / rel
        if not path.exists() or _stat(path) != stamp:
            return True
    for rel, cursor in snapshot.cursors.items():
        path = files.root / rel
        if not path.exists() or path.stat().st_size < cursor.size:
            return True
        if _tail_hash(path, cursor.size) != cursor.tail_hash:
            return True
    return False


def catch_up(files: LedgerFiles, snapshot: Snapshot) -> Snapshot:
    """Read what was appended to the app files since the snapshot last looked."""
    changes: list[tuple[str, Path, Cursor]] = []
    for path in files.app_files():
        rel = files.relative(path)
        cursor = snapshot.cursors.get(rel, Cursor(0, 0, _EMPTY_HASH))
        # A file rewritten under us is the rebuild's to read, not ours.
        if path.stat().st_size > cursor.size and _tail_hash(path, cursor.size) == cursor.tail_hash:
            changes.append((rel, path, cursor))
    if not changes:
        return snapshot
    balances = {account: dict(by_currency) for account, by_currency in snapshot.balances.items()}
    cursors = dict(snapshot.cursors)
    transactions = snapshot.transactions
    with files.lock(shared=True):
        if files.journal.exists():
            return snapshot  # an interrupted append awaits recovery: read nothing yet
        for rel, path, cursor in changes:
            with path.open("rb") as fh:
                fh.seek(cursor.size)
                tail = fh.read()
            # Only whole entries: every block we write ends with a blank line.
            end = tail.rfind(b"\n\n")
            if end < 0:
                continue
            chunk = tail[: end + 2]
            for entry in _parse_tail(chunk.decode("utf-8")):
                transactions += 1
                for posting in entry.postings:
                    _add(balances, posting.account, *posting_weight(posting))
            size = cursor.size + len(chunk)
            cursors[rel] = Cursor(size, cursor.lines + chunk.count(b"\n"), _tail_hash(path, size))
    return replace(snapshot, balances=balances, cursors=cursors, transactions=transactions)


_EMPTY_HASH = hashlib.sha256(b"").hexdigest()[:16]


def _parse_tail(text: str) -> Iterable[data.Transaction]:
    entries, _errors, _options = parser.parse_string(text)
    return [e for e in entries if isinstance(e, data.Transaction)]


# Persisting a snapshot lets a new worker start serving at once from the last
# build, instead of reloading the books.


def save(files: LedgerFiles, snapshot: Snapshot) -> None:
    files.cache_dir.mkdir(exist_ok=True)
    payload: dict[str, Any] = {
        "version": CACHE_VERSION,
        "balances": {
            account: {cur: str(number) for cur, number in by_currency.items()}
            for account, by_currency in snapshot.balances.items()
        },
        "cursors": {rel: [c.size, c.lines, c.tail_hash] for rel, c in snapshot.cursors.items()},
        "watched": {rel: list(stamp) for rel, stamp in snapshot.watched.items()},
        "transactions": snapshot.transactions,
        "errors": snapshot.errors,
    }
    target = files.cache_dir / "snapshot.json"
    tmp = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(payload), "utf-8")
    tmp.replace(target)


def load_saved(files: LedgerFiles) -> Snapshot | None:
    """The persisted snapshot if it still describes these books, else None."""
    try:
        payload = json.loads((files.cache_dir / "snapshot.json").read_text("utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    try:
        if payload["version"] != CACHE_VERSION:
            return None
        snapshot = Snapshot(
            balances={
                account: {cur: Decimal(number) for cur, number in by_currency.items()}
                for account, by_currency in payload["balances"].items()
            },
            cursors={rel: Cursor(*c) for rel, c in payload["cursors"].items()},
            watched={rel: (stamp[0], stamp[1]) for rel, stamp in payload["watched"].items()},
            transactions=int(payload["transactions"]),
            errors=int(payload["errors"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
        return None  # a cache we did not write, or an older shape: rebuild instead
    return None if stale(files, snapshot) else snapshot
