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

Besides each account's balance, a snapshot holds each account's total per
month (``YYYY-MM``, per currency): accounts times months, small enough for
memory, and what a fund's income and expenses for a month, a year or a range
of months are read from. The same pass over the loader's entries writes the
transaction index (``ledger.index``) with the same cursors; :func:`save`
publishes the two together.
"""

from __future__ import annotations

import gc
import json
import os
import re
import threading
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount import loader
from beancount.core import data

from conservancy.ledger import index
from conservancy.ledger.accounts import FORM_990_EXCHANGE_LINE, FORM_990_LINE, FUNCTION, fund_of
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.tails import (
    START,
    Cursor,
    continues,
    count_lines,
    read_appended_entries,
    tail_hash,
)
from conservancy.ledger.tails import posting_weight as posting_weight
from conservancy.ledger.years import is_closing, refuse_interrupted
from conservancy.money import Currency, Money, round_minor

# 2: monthly totals, and the transaction index built with the snapshot.
# 3: the index keeps the gift a refund or dispute reverses (the year-end package).
# 4: the index keeps what posts to Assets:Stripe (stripe reconcile).
# 5: each account's Form 990 metadata from its open (the year-end package).
# 6: an expense account's function, and the index keeps entries' own (Part IX).
CACHE_VERSION = 7
assert index.INDEX_VERSION == 5, "bump CACHE_VERSION with the index's version"

# The loader's pickle cache would write *.picklecache files beside the books.
loader.initialize(use_cache=False)

Monthly = Mapping[str, Mapping[str, Mapping[str, Decimal]]]  # account -> month -> currency
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def month_of(day: date) -> str:
    """The month a date falls in, as the snapshot keys it: ``2026-03``."""
    return f"{day.year:04d}-{day.month:02d}"


def check_month(month: str) -> str:
    if not _MONTH.match(month):
        raise ValueError(f"{month!r} is not a month: use YYYY-MM")
    return month


def months_back(last: str, count: int) -> list[str]:
    """``count`` months ending with ``last``, oldest first."""
    match = _MONTH.match(last)
    if match is None:
        raise ValueError(f"{last!r} is not a month: use YYYY-MM")
    serial = int(match.group(1)) * 12 + int(match.group(2)) - 1 - count
    months = []
    for _ in range(count):
        serial += 1
        months.append(f"{serial // 12:04d}-{serial % 12 + 1:02d}")
    return months


@dataclass(frozen=True)
class FundFigures:
    """A fund's income and expenses over whole months, by account, as positive amounts.

    ``net_assets`` is what moved into the fund through ``Equity:Net-Assets:<Fund>``
    (opening balances, transfers between funds); ``change`` is what the fund's
    balance did over the months.
    """

    fund: str
    first: str
    last: str
    currency: Currency
    income: Mapping[str, Money]  # account -> received (refunds already taken off)
    expenses: Mapping[str, Money]  # account -> spent
    net_assets: Money

    @property
    def income_total(self) -> Money:
        return Money.from_minor(sum(m.minor for m in self.income.values()), self.currency)

    @property
    def expenses_total(self) -> Money:
        return Money.from_minor(sum(m.minor for m in self.expenses.values()), self.currency)

    @property
    def change(self) -> Money:
        return self.income_total - self.expenses_total + self.net_assets


@dataclass(frozen=True)
class Snapshot:
    balances: Mapping[str, Mapping[str, Decimal]]
    cursors: Mapping[str, Cursor]
    # Files other than the app's, with (mtime_ns, size) when loaded.
    watched: Mapping[str, tuple[int, int]]
    transactions: int = 0
    errors: int = 0
    monthly: Monthly = field(default_factory=dict)
    index: str | None = None  # the token of the transaction index built with it
    # Each account's Form 990 metadata, as its ``open`` gives it (``form-990-line`` and
    # ``form-990-exchange-line`` of an income account, ``function`` and ``form-990-line``
    # of an expense account; accounts.FORM_990_LINE, accounts.FUNCTION). Read by a full
    # build, and from the opens the app appends by the catch-up.
    form_990: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

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

    def fund_figures(
        self, fund: str, first: str, last: str, currency: Currency = Currency.USD
    ) -> FundFigures:
        """The fund's income and expenses by account, months ``first`` to ``last`` inclusive."""
        check_month(first)
        check_month(last)
        income: dict[str, Money] = {}
        expenses: dict[str, Money] = {}
        net_assets = Decimal(0)
        for account, by_month in self.monthly.items():
            if fund_of(account) != fund:
                continue
            total = sum(
                (
                    by_currency.get(currency.value, Decimal(0))
                    for month, by_currency in by_month.items()
                    if first <= month <= last
                ),
                Decimal(0),
            )
            if account.startswith("Income:"):
                income[account] = Money.from_minor(-round_minor(total, currency), currency)
            elif account.startswith("Expenses:"):
                expenses[account] = Money.from_minor(round_minor(total, currency), currency)
            else:
                net_assets -= total
        return FundFigures(
            fund=fund,
            first=first,
            last=last,
            currency=currency,
            income=dict(sorted((a, m) for a, m in income.items() if m)),
            expenses=dict(sorted((a, m) for a, m in expenses.items() if m)),
            net_assets=Money.from_minor(round_minor(net_assets, currency), currency),
        )

    def income_and_expenses_by_month(
        self, funds: Collection[str], months: Collection[str], currency: Currency = Currency.USD
    ) -> dict[str, tuple[Money, Money]]:
        """The funds' income and expenses together in each of ``months``, in one pass over
        the accounts: what ``fund_month`` gives, summed over ``funds``, for many months at
        once. Each account's month is rounded before it is added, as ``fund_figures`` does."""
        income = dict.fromkeys(months, 0)
        expenses = dict.fromkeys(months, 0)
        for account, by_month in self.monthly.items():
            if account.startswith("Income:"):
                totals, sign = income, -1  # income is booked negative
            elif account.startswith("Expenses:"):
                totals, sign = expenses, 1
            else:
                continue
            if fund_of(account) not in funds:
                continue
            for month, by_currency in by_month.items():
                if month in totals:
                    amount = by_currency.get(currency.value, Decimal(0))
                    totals[month] += sign * round_minor(amount, currency)
        return {
            month: (
                Money.from_minor(income[month], currency),
                Money.from_minor(expenses[month], currency),
            )
            for month in months
        }

    def fund_month(self, fund: str, month: str, currency: Currency = Currency.USD) -> FundFigures:
        return self.fund_figures(fund, month, month, currency)

    def fund_year(self, fund: str, year: int, currency: Currency = Currency.USD) -> FundFigures:
        return self.fund_figures(fund, f"{year:04d}-01", f"{year:04d}-12", currency)

    def fund_income_in_year(
        self, fund: str, year: int, kind: str = "Donations", currency: Currency = Currency.USD
    ) -> Money:
        """What ``Income:<fund>:<kind>`` received in ``year``, refunds taken off."""
        prefix = f"{year:04d}-"
        total = sum(
            (
                by_currency.get(currency.value, Decimal(0))
                for month, by_currency in self.monthly.get(f"Income:{fund}:{kind}", {}).items()
                if month.startswith(prefix)
            ),
            Decimal(0),
        )
        return Money.from_minor(-round_minor(total, currency), currency)

    def donations_by_month(
        self, fund: str, last: str, count: int, currency: Currency = Currency.USD
    ) -> list[tuple[str, Money]]:
        """The fund's donations (net of refunds) in each of ``count`` months to ``last``.

        Oldest first; a month without gifts is there with zero.
        """
        by_month = self.monthly.get(f"Income:{fund}:Donations", {})
        return [
            (
                month,
                Money.from_minor(
                    -round_minor(by_month.get(month, {}).get(currency.value, Decimal(0)), currency),
                    currency,
                ),
            )
            for month in months_back(last, count)
        ]


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


def _stat(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def _add(
    balances: dict[str, dict[str, Decimal]], account: str, currency: str, number: Decimal
) -> None:
    by_currency = balances.setdefault(account, {})
    by_currency[currency] = by_currency.get(currency, Decimal(0)) + number


class _Months:
    """Monthly totals being added to, copying only what changes: old snapshots stay whole."""

    def __init__(self, monthly: Monthly, *, fresh: bool = False) -> None:
        self.monthly: dict[str, Any] = dict(monthly)
        self.owned: set[tuple[str, str]] = set()
        self.fresh = fresh

    def add(self, account: str, month: str, currency: str, number: Decimal) -> None:
        if self.fresh:
            by_currency = self.monthly.setdefault(account, {}).setdefault(month, {})
        elif (account, month) in self.owned:
            by_currency = self.monthly[account][month]
        else:
            by_month = dict(self.monthly.get(account, {}))
            by_currency = by_month[month] = dict(by_month.get(month, {}))
            self.monthly[account] = by_month
            self.owned.add((account, month))
        by_currency[currency] = by_currency.get(currency, Decimal(0)) + number


def build(files: LedgerFiles) -> Snapshot:
    """A full build with Beancount's loader. Slow on big books: never on a request."""
    refuse_interrupted(files)  # a close cut short mid-switch: these books may not add up
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
            cursors[rel] = Cursor(size, count_lines(path, size), tail_hash(path, size))
    before = _staff_stamps(files)
    entries, errors, options = load_books(files)
    balances: dict[str, dict[str, Decimal]] = {}
    months = _Months({}, fresh=True)
    month_keys: dict[tuple[int, int], str] = {}
    transactions = 0
    builder = index.IndexBuilder(files, options.get("include", []))
    form_990: dict[str, dict[str, str]] = {}
    try:
        for entry in entries:
            if isinstance(entry, data.Open):
                found = _form_990_of(entry)
                if found:
                    form_990[entry.account] = found
            if not isinstance(entry, data.Transaction) or is_closing(entry.meta):
                continue  # closing entries change no fund: figures show the year as it was
            filename = entry.meta.get("filename", "")
            if files.is_app_file(filename):
                cursor = cursors.get(files.relative(filename))
                if cursor is None or entry.meta.get("lineno", 0) > cursor.lines:
                    continue  # appended after we looked: the tail read takes it
            transactions += 1
            day = entry.date
            month = month_keys.get((day.year, day.month))
            if month is None:
                month = month_keys[(day.year, day.month)] = month_of(day)
            weights = [(p.account, *posting_weight(p)) for p in entry.postings]
            for account, currency, number in weights:
                _add(balances, account, currency, number)
                months.add(account, month, currency, number)
            builder.add(entry, weights)
        token = builder.finish(cursors)
    except BaseException:
        builder.abort()
        raise
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
        monthly=months.monthly,
        index=token,
        form_990=form_990,
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
        if tail_hash(path, cursor.size) != cursor.tail_hash:
            return True
    return False


def _form_990_of(entry: data.Open) -> dict[str, str]:
    """The Form 990 metadata an account's open gives: its Part VIII line (and exchange
    line), or its Part IX function and line."""
    return {
        key: str(entry.meta[key])
        for key in (FORM_990_LINE, FORM_990_EXCHANGE_LINE, FUNCTION)
        if entry.meta and key in entry.meta
    }


def catch_up(files: LedgerFiles, snapshot: Snapshot) -> Snapshot:
    """Read what was appended to the app files since the snapshot last looked."""
    changes: list[tuple[str, Path, Cursor]] = []
    for path in files.app_files():
        rel = files.relative(path)
        cursor = snapshot.cursors.get(rel, START)
        # A file rewritten under us is the rebuild's to read, not ours.
        if continues(path, cursor):
            changes.append((rel, path, cursor))
    if not changes:
        return snapshot
    balances = {account: dict(by_currency) for account, by_currency in snapshot.balances.items()}
    months = _Months(snapshot.monthly)
    cursors = dict(snapshot.cursors)
    transactions = snapshot.transactions
    form_990 = dict(snapshot.form_990)
    with files.lock(shared=True):
        if files.journal.exists():
            return snapshot  # an interrupted append awaits recovery: read nothing yet
        for rel, path, cursor in changes:
            appended = read_appended_entries(path, cursor)
            if appended is None:
                continue
            entries, cursors[rel] = appended
            for entry in entries:
                if isinstance(entry, data.Open):
                    found = _form_990_of(entry)
                    if found:
                        form_990[entry.account] = found
                    continue
                if is_closing(entry.meta):
                    continue
                transactions += 1
                month = month_of(entry.date)
                for posting in entry.postings:
                    currency, number = posting_weight(posting)
                    _add(balances, posting.account, currency, number)
                    months.add(posting.account, month, currency, number)
    return replace(
        snapshot,
        balances=balances,
        cursors=cursors,
        transactions=transactions,
        monthly=months.monthly,
        form_990=form_990,
    )


# Persisting a snapshot lets a new worker start serving at once from the last
# build, instead of reloading the books.


def save(files: LedgerFiles, snapshot: Snapshot) -> None:
    """Persist the snapshot and publish the transaction index built with it."""
    files.cache_dir.mkdir(exist_ok=True)
    payload: dict[str, Any] = {
        "version": CACHE_VERSION,
        "balances": {
            account: {cur: str(number) for cur, number in by_currency.items()}
            for account, by_currency in snapshot.balances.items()
        },
        "monthly": {
            account: {
                month: {cur: str(number) for cur, number in by_currency.items()}
                for month, by_currency in by_month.items()
            }
            for account, by_month in snapshot.monthly.items()
        },
        "cursors": {rel: [c.size, c.lines, c.tail_hash] for rel, c in snapshot.cursors.items()},
        "watched": {rel: list(stamp) for rel, stamp in snapshot.watched.items()},
        "transactions": snapshot.transactions,
        "errors": snapshot.errors,
        "index": snapshot.index,
        "form_990": {account: dict(meta) for account, meta in snapshot.form_990.items()},
    }
    target = files.cache_dir / "snapshot.json"
    tmp = target.with_suffix(f".{os.getpid()}-{threading.get_ident()}.tmp")
    tmp.write_text(json.dumps(payload), "utf-8")
    # The snapshot is saved before the index is linked, and a saved snapshot is
    # only taken while its index exists: a reader never pairs a snapshot with
    # an index from another build.
    with index.publishing(files):
        published = snapshot.index is not None and index.promote(files, snapshot.index)
        tmp.replace(target)
        if published and snapshot.index is not None:
            index.link(files, snapshot.index)


def load_saved(files: LedgerFiles, *, fitting: bool = True) -> Snapshot | None:
    """The persisted snapshot if it still describes these books and has its index, else None.

    ``fitting=False``: even if the books changed since (the closed years' figures of the
    full history's snapshot, which changes only in its open years: ``books.ClosedYears``).
    """
    if not (files.cache_dir / "snapshot.json").exists():
        return None
    try:
        with index.publishing(files, shared=True):
            payload = json.loads((files.cache_dir / "snapshot.json").read_text("utf-8"))
            token = payload.get("index") if isinstance(payload, dict) else None
            if not isinstance(token, str) or not index.is_published(files, token):
                return None  # its index is gone or not the one pages read: build both again
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
            monthly={
                account: {
                    month: {cur: Decimal(number) for cur, number in by_currency.items()}
                    for month, by_currency in by_month.items()
                }
                for account, by_month in payload["monthly"].items()
            },
            index=token,
            form_990={
                str(account): {str(k): str(v) for k, v in meta.items()}
                for account, meta in payload["form_990"].items()
            },
        )
    except (KeyError, TypeError, ValueError, AttributeError, ArithmeticError):
        return None  # a cache we did not write, or an older shape: rebuild instead
    return None if fitting and stale(files, snapshot) else snapshot
