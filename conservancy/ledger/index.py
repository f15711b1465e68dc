"""The books' transaction index: every transaction that touches a fund, in SQLite.

Pages list a fund's transactions and statements add them up; neither may load
the ledger. So each full build (``snapshot.build``) also writes, in the same
pass over Beancount's entries, an SQLite file under ``.cache/`` holding each
transaction that posts to a fund (``Income:<Fund>:*``, ``Expenses:<Fund>:*``,
``Equity:Net-Assets:<Fund>``): its date, flag, payee, narration, ``ref``,
``stripe-id``, ``receipt``, ``entity`` and ``gift`` metadata (``gift``: the gift a
refund or dispute reverses), its file and line, and its
fund postings in integer minor units. Staff files are indexed like the app's.
It is derived data: deleting ``.cache/`` and building again gives the same
answers.

Every transaction that posts to ``Assets:Stripe`` also has a row per currency in
``stripe_entries`` (payouts and staff entries too, which may touch no fund):
its ``ref`` and ``stripe-id``, and what it moved into ``Assets:Stripe`` and
into ``Assets:Bank:Checking`` (a payout's deposit). ``stripe reconcile``
matches those rows against Stripe's balance transactions, and adds them up
for the books' side of Stripe's balance.

Every transaction that posts to a bank account (``Assets:Bank:*``) has a row per
account and currency in ``bank_entries``: what it moved into that account, with
its payee, narration and ``ref``. Bank reconciliation (``conservancy.bank``)
matches a statement's lines against them and adds them up for the books' side
of the bank's balance.

Files and their life:

* a build writes ``index-<token>.building`` (the token names the process), and
  ``snapshot.save`` publishes it with the snapshot built in the same pass:
  under ``.cache/index.lock`` it becomes ``index-<token>.sqlite``, the saved
  snapshot names it, the symlink ``index.sqlite`` is pointed at it, and older
  index files are removed. Every build has a file of its own, so SQLite's
  ``-wal`` and ``-shm`` files never outlive or mix with another build's.
* a reader follows the symlink before each query and reopens when a rebuild
  replaced the file.
* appended entries are indexed from the app files' tails, like the snapshot's
  catch-up, but the cursors that say how far the index has read are rows in
  the index itself, read and moved in one ``BEGIN IMMEDIATE`` transaction:
  when several processes catch up at once, the first indexes each new entry
  and the others find the cursors already past it.

Order: every transaction has a position, ``(day, file rank, line)`` packed in
one integer, which is the books' own order and the key pages use to page
(keyset, never OFFSET). Within a day, the app's year files come first (rank =
the year), then other files in path order. The position depends only on the
books, not on when an entry was indexed, so a rebuild orders as catch-up did.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import logging
import os
import re
import secrets
import sqlite3
import threading
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from beancount.core import data

from conservancy.ledger import accounts
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.tails import START, Cursor, continues, posting_weight, read_appended
from conservancy.ledger.years import is_closing
from conservancy.money import Currency, Money, round_minor

log = logging.getLogger(__name__)

LINK = "index.sqlite"
LOCK = "index.lock"
# Bumped with the snapshot's CACHE_VERSION: the two are one derived unit.
INDEX_VERSION = 5

# A position: days since 1900-01-01 (19 bits, to the year 3335), file rank
# (14 bits), line (30 bits): 63 bits, a signed SQLite integer.
_EPOCH = date(1900, 1, 1).toordinal()
_LINE_BITS = 30
_RANK_BITS = 14
_DAY_SHIFT = _LINE_BITS + _RANK_BITS
_MAX_DAYS = 1 << 19
_STAFF_RANKS = 10_000  # app year files rank by their year, below this
_SYNTHETIC_RANK = (1 << _RANK_BITS) - 1  # entries a plugin made, with no line of their own
# A year's file ranks as its year, open or closed (ledger.years): the history orders
# a closed year's day as the day-to-day books did.
_YEAR_FILE = re.compile(r"^app/(?:closed/)?(\d{4})\.beancount$")
_BATCH = 5_000
# Accounts whose postings ``stripe_entries`` keeps, whether or not a fund is touched.
_STRIPE_SIDES = frozenset({accounts.STRIPE, accounts.CHECKING})
# Accounts whose postings ``bank_entries`` keeps: every bank account.
_BANK_PREFIX = "Assets:Bank:"

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE files (rank INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE);
CREATE TABLE cursors (
    path TEXT PRIMARY KEY, size INTEGER NOT NULL, lines INTEGER NOT NULL,
    tail_hash TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE funds (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE accounts (
    id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, fund_id INTEGER NOT NULL
);
CREATE TABLE transactions (
    pos INTEGER PRIMARY KEY, flag TEXT NOT NULL, payee TEXT, narration TEXT NOT NULL,
    ref TEXT, stripe_id TEXT, receipt TEXT, entity TEXT, gift TEXT
);
-- Clustered by fund, then position: a fund's transactions are one range.
CREATE TABLE postings (
    fund_id INTEGER NOT NULL, pos INTEGER NOT NULL, n INTEGER NOT NULL,
    account_id INTEGER NOT NULL, currency TEXT NOT NULL, minor INTEGER NOT NULL,
    PRIMARY KEY (fund_id, pos, n)
) WITHOUT ROWID;
-- Each fund's postings summed by month (keyed by the month's first position),
-- so that a balance on a date reads months, then at most one month of postings.
CREATE TABLE fund_months (
    fund_id INTEGER NOT NULL, currency TEXT NOT NULL, month INTEGER NOT NULL,
    minor INTEGER NOT NULL,
    PRIMARY KEY (fund_id, currency, month)
) WITHOUT ROWID;
-- Transactions posting to Assets:Stripe, one row per currency: minor is what they
-- moved into Assets:Stripe, bank_minor what they moved into Assets:Bank:Checking.
CREATE TABLE stripe_entries (
    pos INTEGER NOT NULL, currency TEXT NOT NULL, minor INTEGER NOT NULL,
    bank_minor INTEGER NOT NULL, flag TEXT NOT NULL, narration TEXT NOT NULL,
    ref TEXT, stripe_id TEXT,
    PRIMARY KEY (pos, currency)
) WITHOUT ROWID;
-- Transactions posting to a bank account, one row per account and currency: minor is
-- what they moved into it (out of it: negative).
CREATE TABLE bank_entries (
    account TEXT NOT NULL, pos INTEGER NOT NULL, currency TEXT NOT NULL,
    minor INTEGER NOT NULL, flag TEXT NOT NULL, payee TEXT, narration TEXT NOT NULL,
    ref TEXT,
    PRIMARY KEY (account, pos, currency)
) WITHOUT ROWID;
-- Expense postings whose entry (or the posting itself) names its own Part IX column
-- (``function`` metadata), which wins over the account's: few rows, read by the
-- year-end package only.
CREATE TABLE functions (
    pos INTEGER NOT NULL, n INTEGER NOT NULL, account_id INTEGER NOT NULL,
    currency TEXT NOT NULL, function TEXT NOT NULL, minor INTEGER NOT NULL,
    PRIMARY KEY (pos, n)
) WITHOUT ROWID;
"""


class BooksLoading(Exception):
    """No snapshot or index yet: the first build is still running.

    Defined here, below ``ledger.books`` (which re-exports it), so that pages
    catch one exception whether the snapshot or the index is not there yet.
    """


class IndexMissing(BooksLoading):
    """No index has been published (yet): a build is running or must run."""


# --- positions -----------------------------------------------------------------


def day_start(day: date) -> int:
    """The position of the first transaction a day can hold."""
    days = day.toordinal() - _EPOCH
    if not 0 <= days < _MAX_DAYS:
        raise ValueError(f"{day} is outside the dates the index can hold")
    return days << _DAY_SHIFT


def position(day: date, rank: int, line: int) -> int:
    return _place(day_start(day), rank, line)


def _place(start: int, rank: int, line: int) -> int:
    if not 0 <= line < 1 << _LINE_BITS:
        raise ValueError(f"line {line} is beyond what the index can hold")
    return start | rank << _LINE_BITS | line


def day_of(pos: int) -> date:
    return date.fromordinal((pos >> _DAY_SHIFT) + _EPOCH)


def _month_start(day: date) -> int:
    return day_start(day.replace(day=1))


def _currency(currency: str) -> Currency:
    """How a commodity's amounts are turned into integer minor units.

    ``ledger check`` reports any fund posting not in whole cents; a commodity
    that is not one of our currencies is counted in hundredths too.
    """
    try:
        return Currency(currency)
    except ValueError:
        return Currency.USD


_UNSEEN = (-1, -1)


def _text(value: object) -> str | None:
    return None if value is None else str(value)


# --- what queries return -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FundPosting:
    account: str
    fund: str
    minor: int  # as booked: income is negative, expenses positive
    currency: str

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.minor, self.currency)

    @property
    def kind(self) -> str:
        return accounts.kind_of(self.account)


@dataclass(frozen=True, slots=True)
class IndexedTransaction:
    key: int  # the position in the books; pages pass it back as ``before``
    date: date
    flag: str
    payee: str | None
    narration: str
    ref: str | None
    stripe_id: str | None
    receipt: str | None
    entity: str | None
    file: str
    line: int
    postings: tuple[FundPosting, ...]  # those of the fund asked about

    def change(self, currency: Currency = Currency.USD) -> Money:
        """What the transaction did to the fund's balance: minus its postings."""
        total = sum(p.minor for p in self.postings if p.currency == currency.value)
        return Money.from_minor(-total, currency)


@dataclass(frozen=True)
class TransactionPage:
    transactions: list[IndexedTransaction]
    next_before: int | None  # the ``before`` of the next (older) page; None on the last


# --- writing -------------------------------------------------------------------


@dataclass
class _Writer:
    """Adds transactions to an index inside the caller's transaction, in batches."""

    conn: sqlite3.Connection
    files: LedgerFiles
    ranks: dict[str, int] = field(default_factory=dict)  # relative path -> rank
    funds: dict[str, int] = field(default_factory=dict)
    account_ids: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    txns: list[tuple[object, ...]] = field(default_factory=list)
    postings: list[tuple[object, ...]] = field(default_factory=list)
    stripe_rows: list[tuple[object, ...]] = field(default_factory=list)
    bank_rows: list[tuple[object, ...]] = field(default_factory=list)
    function_rows: list[tuple[object, ...]] = field(default_factory=list)
    months: dict[tuple[int, str, int], int] = field(default_factory=lambda: defaultdict(int))
    days: dict[date, tuple[int, int]] = field(default_factory=dict)  # day, month start
    currencies: dict[str, Currency] = field(default_factory=dict)
    synthetic: int = 0
    added: int = 0

    @classmethod
    def resume(cls, conn: sqlite3.Connection, files: LedgerFiles) -> _Writer:
        writer = cls(conn, files)
        writer.ranks = {path: rank for rank, path in conn.execute("SELECT rank, path FROM files")}
        writer.funds = {name: id_ for id_, name in conn.execute("SELECT id, name FROM funds")}
        writer.account_ids = {
            name: (id_, fund_id)
            for id_, name, fund_id in conn.execute("SELECT id, name, fund_id FROM accounts")
        }
        return writer

    def rank(self, rel: str) -> int:
        rank = self.ranks.get(rel)
        if rank is not None:
            return rank
        year = _YEAR_FILE.match(rel)
        if year and int(year.group(1)) not in self.ranks.values():
            rank = int(year.group(1))
        else:
            taken = [r for r in self.ranks.values() if _STAFF_RANKS <= r < _SYNTHETIC_RANK]
            rank = max(taken, default=_STAFF_RANKS - 1) + 1
            if rank >= _SYNTHETIC_RANK:
                raise ValueError("the books have more files than the index can hold")
        self.ranks[rel] = rank
        self.conn.execute("INSERT INTO files (rank, path) VALUES (?, ?)", (rank, rel))
        return rank

    def _account(self, account: str) -> tuple[int, int] | None:
        if account in self.account_ids:
            return self.account_ids[account]
        fund = accounts.fund_of(account)
        ids: tuple[int, int] | None = None
        if fund is not None:
            fund_id = self.funds.get(fund)
            if fund_id is None:
                fund_id = self.conn.execute(
                    "INSERT INTO funds (name) VALUES (?)", (fund,)
                ).lastrowid
                assert fund_id is not None
                self.funds[fund] = fund_id
            account_id = self.conn.execute(
                "INSERT INTO accounts (name, fund_id) VALUES (?, ?)", (account, fund_id)
            ).lastrowid
            assert account_id is not None
            ids = (account_id, fund_id)
        self.account_ids[account] = ids
        return ids

    def add(
        self,
        entry: data.Transaction,
        rel: str | None,
        line: int,
        weights: Sequence[tuple[str, str, Decimal]] | None = None,
    ) -> None:
        """Index one transaction's fund postings, and its Stripe side if it posts to
        ``Assets:Stripe``. ``rel`` None: a plugin made it."""
        if is_closing(entry.meta):
            return  # moves a year's income into net assets: no fund changes (ledger.years)
        if weights is None:
            weights = [(p.account, *posting_weight(p)) for p in entry.postings]
        # Called once per transaction of the books (a million times for big
        # ones): what repeats (days, accounts, currencies) is looked up once.
        day = entry.date
        starts = self.days.get(day)
        if starts is None:
            starts = self.days[day] = (day_start(day), _month_start(day))
        pos = -1
        sides: list[tuple[str, str, Decimal]] | None = None  # Stripe and bank postings
        banks: list[tuple[str, str, Decimal]] | None = None  # every bank account's
        for n, (account, currency, number) in enumerate(weights):
            ids = self.account_ids.get(account, _UNSEEN)
            if ids is _UNSEEN:
                ids = self._account(account)
            if ids is None:
                if account in _STRIPE_SIDES:
                    sides = sides or []
                    sides.append((account, currency, number))
                if account.startswith(_BANK_PREFIX):
                    banks = banks or []
                    banks.append((account, currency, number))
                continue
            if pos < 0:
                pos = self._position(starts[0], rel, line)
            known = self.currencies.get(currency)
            if known is None:
                known = self.currencies[currency] = _currency(currency)
            minor = round_minor(number, known)
            self.postings.append((ids[1], pos, n, ids[0], currency, minor))
            self.months[(ids[1], currency, starts[1])] += minor
            if account.startswith("Expenses:"):
                function = _function(entry, n)
                if function is not None:
                    self.function_rows.append((pos, n, ids[0], currency, function, minor))
        at_stripe = sides is not None and any(a == accounts.STRIPE for a, _c, _n in sides)
        if at_stripe or banks is not None:
            # One position for every table (a plugin's entry takes a new one each call).
            at = pos if pos >= 0 else self._position(starts[0], rel, line)
            if at_stripe:
                assert sides is not None
                self._add_stripe(entry, at, sides)
            if banks is not None:
                self._add_bank(entry, at, banks)
        if pos < 0:
            return  # touches no fund: no ``transactions`` row
        meta = entry.meta or {}
        self.txns.append(
            (
                pos,
                entry.flag or "*",
                entry.payee or None,
                entry.narration or "",
                _text(meta.get("ref")),
                _text(meta.get("stripe-id")),
                _text(meta.get("receipt")),
                _text(meta.get("entity")),
                _text(meta.get("gift")),
            )
        )
        self.added += 1
        if len(self.txns) >= _BATCH:
            self.flush()

    def _position(self, start: int, rel: str | None, line: int) -> int:
        if rel is None:
            self.synthetic += 1
            return _place(start, _SYNTHETIC_RANK, self.synthetic)
        return _place(start, self.rank(rel), line)

    def _add_stripe(
        self, entry: data.Transaction, pos: int, sides: Sequence[tuple[str, str, Decimal]]
    ) -> None:
        """A ``stripe_entries`` row per currency the transaction moved at Stripe in."""
        moved: dict[str, list[int]] = {}  # currency -> [Stripe, bank]
        for account, currency, number in sides:
            known = self.currencies.get(currency)
            if known is None:
                known = self.currencies[currency] = _currency(currency)
            pair = moved.setdefault(currency, [0, 0])
            pair[0 if account == accounts.STRIPE else 1] += round_minor(number, known)
        stripe_currencies = {c for a, c, _n in sides if a == accounts.STRIPE}
        meta = entry.meta or {}
        for currency, (minor, bank) in moved.items():
            if currency in stripe_currencies:
                self.stripe_rows.append(
                    (
                        pos,
                        currency,
                        minor,
                        bank,
                        entry.flag or "*",
                        entry.narration or "",
                        _text(meta.get("ref")),
                        _text(meta.get("stripe-id")),
                    )
                )
        if len(self.stripe_rows) >= _BATCH:
            self.flush()

    def _add_bank(
        self, entry: data.Transaction, pos: int, banks: Sequence[tuple[str, str, Decimal]]
    ) -> None:
        """A ``bank_entries`` row per bank account and currency the transaction moved."""
        moved: dict[tuple[str, str], int] = defaultdict(int)
        for account, currency, number in banks:
            known = self.currencies.get(currency)
            if known is None:
                known = self.currencies[currency] = _currency(currency)
            moved[(account, currency)] += round_minor(number, known)
        meta = entry.meta or {}
        for (account, currency), minor in moved.items():
            self.bank_rows.append(
                (
                    account,
                    pos,
                    currency,
                    minor,
                    entry.flag or "*",
                    entry.payee or None,
                    entry.narration or "",
                    _text(meta.get("ref")),
                )
            )
        if len(self.bank_rows) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        self.conn.executemany(
            "INSERT INTO transactions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", self.txns
        )
        self.conn.executemany("INSERT INTO postings VALUES (?, ?, ?, ?, ?, ?)", self.postings)
        self.conn.executemany(
            "INSERT INTO stripe_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.stripe_rows
        )
        self.conn.executemany("INSERT INTO functions VALUES (?, ?, ?, ?, ?, ?)", self.function_rows)
        self.conn.executemany(
            "INSERT INTO bank_entries VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.bank_rows
        )
        self.bank_rows.clear()
        self.txns.clear()
        self.postings.clear()
        self.stripe_rows.clear()
        self.function_rows.clear()

    def finish(self) -> None:
        self.flush()
        self.conn.executemany(
            "INSERT INTO fund_months (fund_id, currency, month, minor) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (fund_id, currency, month) DO UPDATE SET minor = minor + excluded.minor",
            [(f, c, m, minor) for (f, c, m), minor in self.months.items()],
        )
        self.months.clear()

    def save_cursors(self, cursors: Mapping[str, Cursor]) -> None:
        self.conn.executemany(
            "INSERT INTO cursors (path, size, lines, tail_hash) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (path) DO UPDATE SET size = excluded.size, lines = excluded.lines, "
            "tail_hash = excluded.tail_hash",
            [(rel, c.size, c.lines, c.tail_hash) for rel, c in cursors.items()],
        )


def _function(entry: data.Transaction, n: int) -> str | None:
    """The Part IX column the ``n``-th posting's own metadata, or its entry's, names."""
    meta = entry.meta or {}
    if n < len(entry.postings):
        own = (entry.postings[n].meta or {}).get(accounts.FUNCTION)
        if own is not None:
            return str(own)
    given = meta.get(accounts.FUNCTION)
    return None if given is None else str(given)


class IndexBuilder:
    """Writes a new index during a full build; ``snapshot.save`` publishes it.

    ``included`` is every file the loader read (its ``include`` option): files
    that are not the app's year files rank in path order, so that a rebuild
    orders the same day's entries as the last one did.
    """

    def __init__(self, files: LedgerFiles, included: Iterable[str]) -> None:
        files.cache_dir.mkdir(parents=True, exist_ok=True)
        self.files = files
        self.token = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.path = building_path(files, self.token)
        self.conn = sqlite3.connect(self.path, isolation_level=None)
        # Nobody reads it until it is published whole: no journal, no syncs.
        self.conn.execute("PRAGMA journal_mode = OFF")
        self.conn.execute("PRAGMA synchronous = OFF")
        self.conn.executescript(SCHEMA)
        self.conn.execute("BEGIN")
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES ('version', ?)", (str(INDEX_VERSION),)
        )
        self.writer = _Writer(self.conn, files)
        rels = sorted({files.relative(name) for name in included})
        for rel in rels:
            if _YEAR_FILE.match(rel):
                self.writer.rank(rel)
        for rel in rels:
            if not _YEAR_FILE.match(rel):
                self.writer.rank(rel)
        self._rel: dict[str, str | None] = {}

    def add(self, entry: data.Transaction, weights: Sequence[tuple[str, str, Decimal]]) -> None:
        filename = str(entry.meta.get("filename", "<unknown>"))
        if filename not in self._rel:
            self._rel[filename] = (
                None if filename.startswith("<") else self.files.relative(filename)
            )
        self.writer.add(entry, self._rel[filename], int(entry.meta.get("lineno", 0)), weights)

    def finish(self, cursors: Mapping[str, Cursor]) -> str:
        """Write the cursors the build read up to, and close. Returns the index's token."""
        try:
            self.writer.finish()
            self.writer.save_cursors(cursors)
            self.conn.execute("COMMIT")
            self.conn.execute("PRAGMA journal_mode = WAL")  # readers never wait for writers
        finally:
            self.conn.close()
        return self.token

    def abort(self) -> None:
        self.conn.close()
        self.path.unlink(missing_ok=True)


# --- publishing ------------------------------------------------------------------


def building_path(files: LedgerFiles, token: str) -> Path:
    return files.cache_dir / f"index-{token}.building"


def index_path(files: LedgerFiles, token: str) -> Path:
    return files.cache_dir / f"index-{token}.sqlite"


@contextlib.contextmanager
def publishing(files: LedgerFiles, *, shared: bool = False) -> Iterator[None]:
    """The lock under which indexes are published and saved snapshots read."""
    files.cache_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(files.cache_dir / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def promote(files: LedgerFiles, token: str) -> bool:
    """Under :func:`publishing`: make a finished build's index a published one. False if gone."""
    target = index_path(files, token)
    if target.exists():
        return True
    try:
        building_path(files, token).rename(target)
    except FileNotFoundError:
        return False
    return True


def link(files: LedgerFiles, token: str) -> None:
    """Under :func:`publishing`: point ``index.sqlite`` at the token's file, drop the others."""
    tmp = files.cache_dir / f"{LINK}.{os.getpid()}-{threading.get_ident()}.tmp"
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(index_path(files, token).name)
    tmp.replace(files.cache_dir / LINK)
    keep = f"index-{token}."
    for path in files.cache_dir.glob("index-*"):
        if path.name.startswith(keep):
            continue
        if path.suffix == ".building" and _alive(path.name[len("index-") :].split("-")[0]):
            continue  # another build, still running
        path.unlink(missing_ok=True)


def is_published(files: LedgerFiles, token: str) -> bool:
    """True when the token's index exists and is the one ``index.sqlite`` points at."""
    try:
        target = (files.cache_dir / LINK).readlink()
    except OSError:
        return False
    return target.name == index_path(files, token).name and index_path(files, token).exists()


def _alive(pid_text: str) -> bool:
    try:
        os.kill(int(pid_text), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


# --- reading -----------------------------------------------------------------------


@dataclass
class _Connection:
    target: str
    conn: sqlite3.Connection
    pid: int  # a connection is never used across a fork (gunicorn forks its workers)
    seen: dict[str, tuple[int, int]] = field(default_factory=dict)  # app files caught up to
    account_names: dict[int, str] = field(default_factory=dict)
    fund_names: dict[int, str] = field(default_factory=dict)
    fund_ids: dict[str, int] = field(default_factory=dict)

    def refresh_names(self) -> None:
        self.fund_names = dict(self.conn.execute("SELECT id, name FROM funds"))
        self.fund_ids = {name: id_ for id_, name in self.fund_names.items()}
        self.account_names = dict(self.conn.execute("SELECT id, name FROM accounts"))


class TransactionIndex:
    """A process's reader of the published index. Safe to share between threads.

    Each query first catches up on what was appended to the app's files; all
    of one :meth:`read` block sees the same state of the index.
    """

    def __init__(self, files: LedgerFiles) -> None:
        self.files = files
        self._local = threading.local()

    @property
    def link(self) -> Path:
        return self.files.cache_dir / LINK

    def published(self) -> bool:
        return self.link.is_symlink() and self.link.exists()

    def _open(self) -> _Connection:
        for _attempt in range(3):
            try:
                target = str(self.link.readlink())
            except OSError:
                raise IndexMissing("the books' index is being built") from None
            current: _Connection | None = getattr(self._local, "state", None)
            if current is not None and current.pid != os.getpid():
                current = self._local.state = None  # the parent's: leave it alone
            if current is not None and current.target == target:
                return current
            if current is not None:
                current.conn.close()
                self._local.state = None
            path = (self.files.cache_dir / target).resolve()
            try:
                # mode=rw: a file removed meanwhile must not be created empty.
                conn = sqlite3.connect(
                    f"{path.as_uri()}?mode=rw", uri=True, isolation_level=None, timeout=60
                )
                conn.execute("PRAGMA synchronous = NORMAL")
                version = conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            except sqlite3.OperationalError:
                continue  # replaced between the readlink and the open: look again
            if version is None or version[0] != str(INDEX_VERSION):
                conn.close()
                raise IndexMissing("the books' index is from another version: rebuild")
            state = _Connection(target, conn, os.getpid())
            state.refresh_names()
            self._local.state = state
            return state
        raise IndexMissing("the books' index keeps being replaced")

    def close(self) -> None:
        state: _Connection | None = getattr(self._local, "state", None)
        if state is not None:
            state.conn.close()
            self._local.state = None

    # -- catching up ----------------------------------------------------------------

    def catch_up(self) -> int:
        """Index what was appended to the app's files. Returns how many transactions.

        Cheap when nothing changed (a stat per app file). Otherwise, under the
        books' shared lock and one ``BEGIN IMMEDIATE``, the cursors stored in the
        index decide what is new, so that processes catching up at the same
        time index each entry once.
        """
        return self._catch_up(self._open())

    def _catch_up(self, state: _Connection) -> int:
        if state.conn.in_transaction:
            return 0  # inside a read(): it sees one state of the index, caught up at its start
        files = self.files
        stamps = {}
        for path in files.app_files():
            st = path.stat()
            stamps[files.relative(path)] = (st.st_mtime_ns, st.st_size)
        if stamps == state.seen:
            return 0
        with files.lock(shared=True):
            if files.journal.exists():
                return 0  # an interrupted append awaits recovery: read nothing yet
            conn = state.conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                added = self._catch_up_locked(conn)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        state.seen = stamps
        if added:
            state.refresh_names()
        return added

    def _catch_up_locked(self, conn: sqlite3.Connection) -> int:
        cursors = {
            path: Cursor(size, lines, tail)
            for path, size, lines, tail in conn.execute(
                "SELECT path, size, lines, tail_hash FROM cursors"
            )
        }
        writer = _Writer.resume(conn, self.files)
        moved = {}
        for path in self.files.app_files():
            rel = self.files.relative(path)
            cursor = cursors.get(rel, START)
            # A file rewritten under us is the rebuild's to read, not ours.
            if not continues(path, cursor):
                continue
            appended = read_appended(path, cursor)
            if appended is None:
                continue
            entries, after = appended
            for entry in entries:
                writer.add(entry, rel, cursor.lines + int(entry.meta.get("lineno", 0)))
            moved[rel] = after
        writer.finish()
        writer.save_cursors(moved)
        return writer.added

    # -- queries --------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[IndexView]:
        """Queries that all see one state of the index (one SQLite read transaction)."""
        state = self._open()
        if state.conn.in_transaction:  # nested in another read(): already one state
            yield IndexView(state)
            return
        self._catch_up(state)
        state.conn.execute("BEGIN")
        try:
            yield IndexView(state)
        finally:
            state.conn.execute("COMMIT")

    def fund_transactions(
        self, fund: str, *, before: int | None = None, limit: int = 50
    ) -> TransactionPage:
        with self.read() as view:
            return view.fund_transactions(fund, before=before, limit=limit)

    def transactions_between(self, fund: str, first: date, last: date) -> list[IndexedTransaction]:
        with self.read() as view:
            return view.transactions_between(fund, first, last)

    def balance_before(self, fund: str, day: date, currency: Currency = Currency.USD) -> Money:
        with self.read() as view:
            return view.balance_before(fund, day, currency)


@dataclass(frozen=True, slots=True)
class StripeEntry:
    """A transaction's postings to ``Assets:Stripe`` in one currency (``stripe reconcile``)."""

    key: int  # the position in the books
    date: date
    flag: str
    narration: str
    ref: str | None
    stripe_id: str | None
    file: str
    line: int
    currency: str
    minor: int  # what it moved into Assets:Stripe (out of it: negative)
    bank_minor: int  # what it moved into Assets:Bank:Checking: a payout's deposit

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.minor, _currency(self.currency))

    @property
    def bank(self) -> Money:
        return Money.from_minor(self.bank_minor, _currency(self.currency))

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class BankEntry:
    """A transaction's postings to one bank account in one currency (``bank_entries``)."""

    key: int  # the position in the books
    date: date
    account: str
    flag: str
    payee: str | None
    narration: str
    ref: str | None
    file: str
    line: int
    amount: Money  # what it moved into the account (out of it: negative)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


class IndexView:
    """The index as one read transaction sees it. Made by :meth:`TransactionIndex.read`."""

    def __init__(self, state: _Connection) -> None:
        self._state = state
        self._conn = state.conn

    def funds(self) -> list[str]:
        return sorted(self._state.fund_ids)

    def _fund_id(self, fund: str) -> int | None:
        if fund not in self._state.fund_ids:
            self._state.refresh_names()  # another process may have indexed a new fund
        return self._state.fund_ids.get(fund)

    def fund_transactions(
        self, fund: str, *, before: int | None = None, limit: int = 50
    ) -> TransactionPage:
        """A fund's transactions, newest first, ``limit`` at a time.

        ``before`` is the ``next_before`` of the previous page (None: the newest).
        """
        if limit < 1:
            raise ValueError("a page holds at least one transaction")
        fund_id = self._fund_id(fund)
        if fund_id is None:
            return TransactionPage([], None)
        keys = [
            pos
            for (pos,) in self._conn.execute(
                "SELECT DISTINCT pos FROM postings WHERE fund_id = ? AND pos < ? "
                "ORDER BY pos DESC LIMIT ?",
                (fund_id, (1 << 63) - 1 if before is None else before, limit + 1),
            )
        ]
        more = len(keys) > limit
        keys = keys[:limit]
        if not keys:
            return TransactionPage([], None)
        # The page's keys are the fund's only positions between its oldest and newest.
        found = self._load(fund_id, keys[-1], keys[0] + 1)
        return TransactionPage(found[::-1], keys[-1] if more else None)

    def transactions_between(self, fund: str, first: date, last: date) -> list[IndexedTransaction]:
        """A fund's transactions dated ``first`` to ``last`` (inclusive), in the books' order."""
        fund_id = self._fund_id(fund)
        if fund_id is None or last < first:
            return []
        return self._load(fund_id, day_start(first), day_start(last + timedelta(days=1)))

    def balance_before(self, fund: str, day: date, currency: Currency = Currency.USD) -> Money:
        """The fund's balance at the start of ``day``: minus the sum of its earlier postings."""
        fund_id = self._fund_id(fund)
        if fund_id is None:
            return Money.zero(currency)
        month, start = _month_start(day), day_start(day)
        (months,) = self._conn.execute(
            "SELECT COALESCE(SUM(minor), 0) FROM fund_months "
            "WHERE fund_id = ? AND currency = ? AND month < ?",
            (fund_id, currency.value, month),
        ).fetchone()
        (days,) = self._conn.execute(
            "SELECT COALESCE(SUM(minor), 0) FROM postings "
            "WHERE fund_id = ? AND pos >= ? AND pos < ? AND currency = ?",
            (fund_id, month, start, currency.value),
        ).fetchone()
        return Money.from_minor(-(int(months) + int(days)), currency)

    def _load(self, fund_id: int, low: int, high: int) -> list[IndexedTransaction]:
        """The fund's transactions with positions in [low, high), in order."""
        state = self._state
        rows = self._conn.execute(
            "SELECT p.pos, p.account_id, p.currency, p.minor, t.flag, t.payee, t.narration, "
            "t.ref, t.stripe_id, t.receipt, t.entity "
            "FROM postings p JOIN transactions t ON t.pos = p.pos "
            "WHERE p.fund_id = ? AND p.pos >= ? AND p.pos < ? ORDER BY p.pos, p.n",
            (fund_id, low, high),
        )
        fund = state.fund_names[fund_id]
        file_names: dict[int, str] = dict(self._conn.execute("SELECT rank, path FROM files"))
        out: list[IndexedTransaction] = []
        for pos, group in itertools.groupby(rows, key=lambda row: int(row[0])):
            postings = []
            for _pos, account_id, currency, minor, *text in group:  # noqa: B007 - text: any row's
                name = state.account_names.get(account_id)
                if name is None:
                    state.refresh_names()  # another process indexed a new account
                    name = state.account_names[account_id]
                postings.append(FundPosting(name, fund, minor, currency))
            flag, payee, narration, ref, stripe_id, receipt, entity = text
            out.append(
                IndexedTransaction(
                    key=pos,
                    date=day_of(pos),
                    flag=str(flag),
                    payee=payee,
                    narration=str(narration),
                    ref=ref,
                    stripe_id=stripe_id,
                    receipt=receipt,
                    entity=entity,
                    file=file_names.get(pos >> _LINE_BITS & ((1 << _RANK_BITS) - 1), "<plugin>"),
                    line=pos & ((1 << _LINE_BITS) - 1),
                    postings=tuple(postings),
                )
            )
        return out

    # --- Assets:Stripe (reconciliation with Stripe) -----------------------------------

    def stripe_entries(self, first: date, last: date) -> list[StripeEntry]:
        """Transactions dated ``first`` to ``last`` that post to ``Assets:Stripe``, in order."""
        if last < first:
            return []
        file_names: dict[int, str] = dict(self._conn.execute("SELECT rank, path FROM files"))
        rows = self._conn.execute(
            "SELECT pos, currency, minor, bank_minor, flag, narration, ref, stripe_id "
            "FROM stripe_entries WHERE pos >= ? AND pos < ? ORDER BY pos, currency",
            (day_start(first), day_start(last + timedelta(days=1))),
        )
        return [
            StripeEntry(
                key=pos,
                date=day_of(pos),
                flag=str(flag),
                narration=str(narration),
                ref=ref,
                stripe_id=stripe_id,
                file=file_names.get(pos >> _LINE_BITS & ((1 << _RANK_BITS) - 1), "<plugin>"),
                line=pos & ((1 << _LINE_BITS) - 1),
                currency=str(currency),
                minor=int(minor),
                bank_minor=int(bank),
            )
            for pos, currency, minor, bank, flag, narration, ref, stripe_id in rows
        ]

    def stripe_balance_before(self, day: date) -> dict[str, int]:
        """``Assets:Stripe`` at the start of ``day``, by currency, in minor units."""
        return {
            str(currency): int(minor)
            for currency, minor in self._conn.execute(
                "SELECT currency, SUM(minor) FROM stripe_entries WHERE pos < ? GROUP BY currency",
                (day_start(day),),
            )
        }

    # --- bank accounts (bank reconciliation) ------------------------------------------

    def bank_entries(self, account: str, first: date, last: date) -> list[BankEntry]:
        """Transactions dated ``first`` to ``last`` that post to the bank account
        ``account``, in the books' order: one per currency they moved it in."""
        if last < first:
            return []
        file_names: dict[int, str] = dict(self._conn.execute("SELECT rank, path FROM files"))
        rows = self._conn.execute(
            "SELECT pos, currency, minor, flag, payee, narration, ref FROM bank_entries "
            "WHERE account = ? AND pos >= ? AND pos < ? ORDER BY pos, currency",
            (account, day_start(first), day_start(last + timedelta(days=1))),
        )
        return [
            BankEntry(
                key=pos,
                date=day_of(pos),
                account=account,
                flag=str(flag),
                payee=payee,
                narration=str(narration),
                ref=ref,
                file=file_names.get(pos >> _LINE_BITS & ((1 << _RANK_BITS) - 1), "<plugin>"),
                line=pos & ((1 << _LINE_BITS) - 1),
                amount=Money.from_minor(int(minor), _currency(str(currency))),
            )
            for pos, currency, minor, flag, payee, narration, ref in rows
        ]

    def bank_balance_before(
        self, account: str, day: date, currency: Currency = Currency.USD
    ) -> Money:
        """What the books say ``account`` held at the start of ``day``."""
        (minor,) = self._conn.execute(
            "SELECT COALESCE(SUM(minor), 0) FROM bank_entries "
            "WHERE account = ? AND currency = ? AND pos < ?",
            (account, currency.value, day_start(day)),
        ).fetchone()
        return Money.from_minor(int(minor), currency)

    # --- a period across every fund (the year-end package) ---------------------------

    def account_totals(self, first: date, last: date) -> dict[tuple[str, str], int]:
        """Each fund account's postings dated ``first`` to ``last`` summed, by account and
        currency, in minor units as booked (income negative). One range read per fund."""
        self._state.refresh_names()
        low, high = day_start(first), day_start(last + timedelta(days=1))
        totals: dict[tuple[str, str], int] = {}
        for fund_id in self._state.fund_names:
            for account_id, currency, minor in self._conn.execute(
                "SELECT account_id, currency, SUM(minor) FROM postings "
                "WHERE fund_id = ? AND pos >= ? AND pos < ? GROUP BY account_id, currency",
                (fund_id, low, high),
            ):
                totals[(self._state.account_names[account_id], str(currency))] = int(minor)
        return totals

    def function_totals(self, first: date, last: date) -> dict[tuple[str, str, str], int]:
        """What expense postings dated ``first`` to ``last`` whose entry or posting names
        its own ``function`` moved, by (account, currency, function), in minor units."""
        self._state.refresh_names()
        totals: dict[tuple[str, str, str], int] = {}
        for account_id, currency, function, minor in self._conn.execute(
            "SELECT account_id, currency, function, SUM(minor) FROM functions "
            "WHERE pos >= ? AND pos < ? GROUP BY account_id, currency, function",
            (day_start(first), day_start(last + timedelta(days=1))),
        ):
            key = (self._state.account_names[account_id], str(currency), str(function))
            totals[key] = int(minor)
        return totals

    def entries_posting_to(
        self, wanted: Callable[[str], bool], first: date, last: date
    ) -> Iterator[PeriodEntry]:
        """Every transaction dated ``first`` to ``last`` that posts to a fund account
        ``wanted`` says yes to, in the books' order, with what it posted to those
        accounts by fund and currency.

        Streamed: a year of big books is a million rows, never all in memory.
        """
        self._state.refresh_names()
        ids = [i for i, name in self._state.account_names.items() if wanted(name)]
        if not ids:
            return
        rows = self._conn.execute(
            "SELECT p.pos, p.fund_id, p.currency, SUM(p.minor), t.payee, t.narration, t.ref, "
            "t.stripe_id, t.receipt, t.entity, t.gift "
            "FROM postings p JOIN transactions t ON t.pos = p.pos "
            "WHERE p.pos >= ? AND p.pos < ? AND p.account_id IN (SELECT value FROM json_each(?)) "
            "GROUP BY p.pos, p.fund_id, p.currency ORDER BY p.pos",
            (day_start(first), day_start(last + timedelta(days=1)), json.dumps(ids)),
        )
        names = self._state.fund_names
        for pos, group in itertools.groupby(rows, key=lambda row: int(row[0])):
            amounts: dict[tuple[str, str], int] = {}
            for _pos, fund_id, currency, minor, *text in group:  # noqa: B007 - text: any row's
                amounts[(names[fund_id], str(currency))] = int(minor)
            payee, narration, ref, stripe_id, receipt, entity, gift = text
            yield PeriodEntry(
                date=day_of(pos),
                payee=payee,
                narration=str(narration),
                ref=ref,
                stripe_id=stripe_id,
                receipt=receipt,
                entity=entity,
                gift=gift,
                amounts=amounts,
            )


@dataclass(frozen=True, slots=True)
class PeriodEntry:
    """A transaction of :meth:`IndexView.entries_posting_to`: only the postings asked about."""

    date: date
    payee: str | None
    narration: str
    ref: str | None
    stripe_id: str | None
    receipt: str | None
    entity: str | None
    gift: str | None  # the gift a refund or dispute reverses
    amounts: Mapping[tuple[str, str], int]  # (fund, currency) -> minor units as booked
