"""Closing a year: ``conservancy ledger close --year YYYY`` (layout: ``ledger.years``).

After the close, the day-to-day books (``main.beancount``) start from one
opening-balances entry and hold only the open years, so that their loads stay
small however old the sponsor is; ``history.beancount`` still loads everything.

**What is written.** One closing entry per fund, dated 31 December, moving the
year's balance of each ``Income:<Fund>:*`` and ``Expenses:<Fund>:*`` account
into ``Equity:Net-Assets:<Fund>`` (``ref: "close-2026-Twisted"``, metadata
``closing: "2026"``): through the outbox, so that it is written exactly once,
into the year's own file. Then ``app/opening-2027.beancount``, written whole,
holding one entry (``ref: "opening-2027"``) with the balance of every asset,
liability and equity account, and the switch of files that takes the closed
year out of ``main.beancount``'s glob.

**What is carried** is worked out by file, not by date: the opening entry sums
every entry the day-to-day books stop loading (the closed year's file, the
previous opening, the staff's ``closed/`` files), and the closing entries the
income and expenses among those. An entry that stays (an open year's, even
one dated in a closed year: see ``ledger.years``) is neither summarised nor
closed, so main.beancount counts everything once, and every fund's balance,
minus the sum of its income, expenses and net assets, is what it was.

**The opening entry is dated 31 December** of the closed year, not 1 January:
Beancount asserts a ``balance`` at the start of its day, so a balance dated 1
January (``stripe reconcile --assert`` dates its assertions the day after a
period) must find the opening already there, as Beancount's own
``summarize`` dates opening entries the day before the period. Likewise a
statement from 1 January starts from the opening balance instead of listing it
as a transaction. The day-to-day books hold that one entry of the closed year.

**Refusals**, each one line: a year not yet over (the sponsor's time zone); a
year other than the earliest not closed; entries waiting in the outbox, or an
append cut short; books that do not load without errors; a staff file still
loaded by main.beancount holding a transaction, balance or pad dated in or
before the year (the staff say what happens to those: they move them into
``closed/`` and run the close again); a ``closed/`` file holding anything
later (main.beancount would lose it); main.beancount including ``closed/``;
an account carried into the next year that only a closed file opens; amounts
the close cannot carry (lots at cost, other commodities, fractions of a cent,
entries converted at a price).

**Crash safety.** ``.conservancy-close.json`` says what a close is doing; each
step can be repeated, and running the command again resumes where it stopped:

1. ``closing``: written under the books' lock once nothing waits to be posted;
   from then on the outbox sends entries dated in the year to the next year's
   file, so the closed year's file grows only by its closing entries. The
   books are loaded, the closing entries recorded in the database and posted.
   Killed here, the books hold zero or more closing entries, which change no
   fund's balance; the next run loads again, closes what remains, and a
   closing entry already written is never written twice (its ref is unique in
   the outbox; what remains after it is nothing).
2. Under one hold of the lock: the posting, a check that the year's file holds
   exactly what was loaded plus the closing entries, the opening file written
   to a temporary name and the leaving files linked into app/closed/.
3. ``switching``: the leaving files are removed from app/ and the opening file
   renamed into it. Only here may main.beancount be neither the old books nor
   the new, and the snapshot builder and ``ledger check`` say that a close
   was interrupted. Repeating the removals and the rename finishes it.
4. ``history``: history.beancount is written, and the journal removed.

The snapshots and indexes of both books are then built again (the day-to-day
ones from the open years; the history's serve reports and the treasurer's
chart of past months), and every fund's balance compared across the two and
with the full history's before the close.
"""

from __future__ import annotations

import fcntl
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from beancount.core import data
from beancount.parser import parser
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from conservancy.kernel.errors import DomainError
from conservancy.ledger import accounts, years
from conservancy.ledger import snapshot as snap
from conservancy.ledger.entries import Open, Posting, Transaction
from conservancy.ledger.files import APP_FILE_HEADER, HISTORY_FILE, LedgerFiles, fsync_dir
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import (
    pending_count,
    post_pending,
    post_pending_locked,
    record,
    record_if_absent,
    writer_lock,
)
from conservancy.ledger.tails import posting_weight, tail_hash
from conservancy.ledger.writer import render
from conservancy.money import Currency, Money, MoneyError

BALANCE_SHEET = ("Assets", "Liabilities", "Equity")
CLOSING, SWITCHING, HISTORY = "closing", years.SWITCHING, "history"
_DATED = (data.Transaction, data.Balance, data.Pad)


class CloseRefused(DomainError):
    """A close the books are not ready for (nothing is written), or one to run again."""


def _checkpoint(step: str) -> None:
    """A named point of the close; crash tests stop the process here."""


@dataclass(frozen=True)
class CloseResult:
    year: int
    resumed: str | None  # the step an interrupted close was picked up at
    closing_entries: int  # written by this run
    carried: int  # balances in the opening entry
    funds: Mapping[tuple[str, str], Decimal]  # (fund, currency) -> balance, checked unchanged


def closing_ref(year: int, fund: str, n: int = 1) -> str:
    return f"close-{year}-{fund}" + (f".{n}" if n > 1 else "")


def opening_ref(year: int) -> str:
    return f"opening-{year}"


# --- the close, step by step ---------------------------------------------------------


def close_year(
    sessions: sessionmaker[Session], files: LedgerFiles, year: int, *, today: date
) -> CloseResult:
    """Close ``year``, or finish its close if one was interrupted. Raises CloseRefused."""
    with _one_close_at_a_time(files):
        journal = years.read_close_journal(files)
        if journal is not None and int(journal["year"]) != year:
            raise CloseRefused(years.interruption(files) or "a close was interrupted")
        resumed = None if journal is None else str(journal["step"])
        plan: _Plan | None = None
        written = 0
        if journal is None:
            _refuse_early(files, year, today)
            _start(sessions, files, year)
        else:
            post_pending(sessions, files)  # entries a killed run recorded, a torn append
        if resumed in (None, CLOSING):
            _undo_preparations(files, year)
            plan = _load_plan(files, year, first=resumed is None)
            written = _close_and_switch(sessions, files, plan)
        else:
            with writer_lock(sessions, files):
                if resumed == SWITCHING:
                    _switch(files, year)
                _finish(files, year)
    funds = _verify(files, plan)
    return CloseResult(year, resumed, written, _carried(files, year), funds)


@contextmanager
def _one_close_at_a_time(files: LedgerFiles) -> Iterator[None]:
    fd = os.open(files.root / ".conservancy-close.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CloseRefused("another close is running") from None
        yield
    finally:
        os.close(fd)


def _refuse_early(files: LedgerFiles, year: int, today: date) -> None:
    """What can be refused before loading the books."""
    if year >= today.year:
        raise CloseRefused(f"{year} is not over: today is {today} in the sponsor's time zone")
    closed = years.closed_years(files)
    if closed and year <= closed[-1]:
        raise CloseRefused(f"{year} is already closed (the books are closed to {closed[-1]})")
    if closed and year != closed[-1] + 1:
        raise CloseRefused(f"close {closed[-1] + 1} first: years are closed in order")
    included = years.includes_closed(files)
    if included:
        raise CloseRefused(
            f'main.beancount includes "{included[0]}": the day-to-day books must not '
            "include closed files (the full history does); remove that include"
        )


def _start(sessions: sessionmaker[Session], files: LedgerFiles, year: int) -> None:
    """Under the lock, once nothing waits to be posted: the journal that freezes the year."""
    with writer_lock(sessions, files):
        if files.journal.exists():
            raise CloseRefused(
                "an append to the books was cut short: run 'conservancy ledger sync'"
            )
        with sessions() as session:
            pending = pending_count(session)
        if pending:
            waits = "1 entry waits" if pending == 1 else f"{pending} entries wait"
            raise CloseRefused(f"{waits} to be posted: run 'conservancy ledger sync' first")
        years.write_close_journal(files, {"year": year, "step": CLOSING})
    _checkpoint("started")


def _close_and_switch(sessions: sessionmaker[Session], files: LedgerFiles, plan: _Plan) -> int:
    year = plan.year
    with sessions() as session:
        closing = plan.closing_entries(_refs_taken(session, year))
        for opening in plan.opens():
            record_if_absent(session, opening)
        for entry in closing:
            record(session, entry)
        session.commit()
    _checkpoint("recorded")
    with writer_lock(sessions, files):
        post_pending_locked(sessions, files)
        _checkpoint("posted")
        plan.check_year_file(files, closing)
        _prepare(files, year, plan.opening_text(closing))
        _checkpoint("prepared")
        years.write_close_journal(files, {"year": year, "step": SWITCHING})
        _checkpoint(SWITCHING)
        _switch(files, year)
        _finish(files, year)
    return len(closing)


def _refs_taken(session: Session, year: int) -> set[str]:
    prefix = f"close-{year}-"
    return set(session.scalars(select(LedgerOutbox.ref).where(LedgerOutbox.ref.startswith(prefix))))


def _tmp_opening(files: LedgerFiles, year: int) -> Path:
    return files.root / years.CLOSED_APP_DIR / f".opening-{year + 1:04d}.tmp"


def _prepare(files: LedgerFiles, year: int, opening_text: str) -> None:
    """Copies in app/closed/ of what leaves the day-to-day books, and the new opening."""
    folder = files.root / years.CLOSED_APP_DIR
    folder.mkdir(parents=True, exist_ok=True)
    tmp = _tmp_opening(files, year)
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(opening_text)
        fh.flush()
        os.fsync(fh.fileno())
    year_file, closed = files.year_file(year), years.closed_year_file(files, year)
    if year_file.exists():
        os.link(year_file, closed)
    elif not closed.exists():  # a year without app entries: its place says it is closed
        _write_new(closed, APP_FILE_HEADER + f"; Nothing was booked here in {year}.\n")
    old_opening = years.opening_file(files, year)
    if old_opening.exists():
        os.link(old_opening, years.closed_opening_file(files, year))
    fsync_dir(folder)


def _undo_preparations(files: LedgerFiles, year: int) -> None:
    """Before the switch, app/ is the truth: drop what a killed run prepared."""
    _tmp_opening(files, year).unlink(missing_ok=True)
    pairs = [
        (files.year_file(year), years.closed_year_file(files, year)),
        (years.opening_file(files, year), years.closed_opening_file(files, year)),
    ]
    for live, copy in pairs:
        if live.exists() and copy.exists():
            copy.unlink()
    if (files.root / years.CLOSED_APP_DIR).is_dir():
        fsync_dir(files.root / years.CLOSED_APP_DIR)


def _switch(files: LedgerFiles, year: int) -> None:
    """Take the closed year out of main.beancount's glob, put the opening in. Repeatable."""
    old_opening = years.opening_file(files, year)
    if old_opening.exists() and years.closed_opening_file(files, year).exists():
        old_opening.unlink()
    _checkpoint("unlinked-opening")
    year_file = files.year_file(year)
    if year_file.exists() and years.closed_year_file(files, year).exists():
        year_file.unlink()
    _checkpoint("unlinked-year")
    tmp, opening = _tmp_opening(files, year), years.opening_file(files, year + 1)
    if tmp.exists():
        tmp.replace(opening)
    elif not opening.exists():
        raise CloseRefused(
            f"the opening balances of {year + 1} are missing from an interrupted close; "
            "restore the books from a backup"
        )
    fsync_dir(opening.parent)
    fsync_dir(files.root / years.CLOSED_APP_DIR)
    _checkpoint("renamed")


def _finish(files: LedgerFiles, year: int) -> None:
    years.write_close_journal(files, {"year": year, "step": HISTORY})
    _checkpoint(HISTORY)
    years.write_history_root(files, closing=True)
    _checkpoint("history-written")
    years.clear_close_journal(files)


def _write_new(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_mtime_ns, st.st_size)


def _carried(files: LedgerFiles, year: int) -> int:
    entries, _errors, _options = parser.parse_file(str(years.opening_file(files, year + 1)))
    return sum(len(e.postings) for e in entries if isinstance(e, data.Transaction))


def _verify(files: LedgerFiles, plan: _Plan | None) -> dict[tuple[str, str], Decimal]:
    """Build and save the snapshots and indexes of the day-to-day books (now the open
    years) and of the full history (which pages take the closed years' figures from);
    every fund's balance must be the same in both, and what the history gave before."""
    after = snap.build(files)
    snap.save(files, after)
    history = years.write_history_root(files)
    built = snap.build(history)
    snap.save(history, built)
    found, whole = _fund_totals(after.balances), _fund_totals(built.balances)
    before = plan.funds if plan is not None else whole
    for key in sorted(set(before) | set(found) | set(whole)):
        fund, currency = key
        numbers = [d.get(key, Decimal(0)) for d in (before, found, whole)]
        if len(set(numbers)) > 1:
            raise DomainError(
                f"after the close {fund} holds {numbers[1]} {currency} in the day-to-day books "
                f"and {numbers[2]} {currency} in the full history, against {numbers[0]} before"
            )
    return {key: number for key, number in before.items() if number}


def _fund_totals(
    balances: Mapping[str, Mapping[str, Decimal]],
) -> dict[tuple[str, str], Decimal]:
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for account, by_currency in balances.items():
        fund = accounts.fund_of(account)
        if fund is not None:
            for currency, number in by_currency.items():
                totals[(fund, currency)] -= number
    return {key: total for key, total in totals.items() if total}


# --- the plan: one load of the full history --------------------------------------------


@dataclass
class _Plan:
    """What the full history says the close must write, from one load of it."""

    year: int
    leaving: dict[tuple[str, str], Decimal]  # (account, currency) -> what leaves main
    funds: dict[tuple[str, str], Decimal]  # (fund, currency) -> balance, whole history
    opened: set[str]  # every account any file opens
    year_size: int  # of app/<year>.beancount when loaded
    year_hash: str
    stamps: dict[str, tuple[int, int]] = field(default_factory=dict)  # other leaving files

    def residuals(self) -> dict[str, dict[tuple[str, str], Decimal]]:
        """By fund: each income and expense account's balance left to close."""
        by_fund: dict[str, dict[tuple[str, str], Decimal]] = defaultdict(dict)
        for (account, currency), number in sorted(self.leaving.items()):
            if number and account.split(":")[0] in ("Income", "Expenses"):
                fund = accounts.fund_of(account)
                assert fund is not None  # refused when loading
                by_fund[fund][(account, currency)] = number
        return by_fund

    def closing_entries(self, taken: set[str]) -> list[Transaction]:
        entries = []
        for fund, balances in sorted(self.residuals().items()):
            n = 1
            while closing_ref(self.year, fund, n) in taken:
                n += 1
            net: dict[str, Decimal] = defaultdict(Decimal)
            postings = []
            for (account, currency), number in balances.items():
                postings.append(Posting(account, _money(account, -number, currency)))
                net[currency] += number
            postings += [
                Posting(accounts.net_assets(fund), _money(fund, number, currency))
                for currency, number in sorted(net.items())
                if number
            ]
            entries.append(
                Transaction(
                    ref=closing_ref(self.year, fund, n),
                    date=date(self.year, 12, 31),
                    narration=f"Closing {self.year}: {fund}'s income and expenses "
                    "into its net assets",
                    meta={years.CLOSING: str(self.year)},
                    postings=tuple(postings),
                )
            )
        return entries

    def opens(self) -> list[Open]:
        """Net-assets accounts a closing entry needs that no file opens yet."""
        return [
            Open(ref=f"open:{name}", date=date(self.year, 12, 31), account=name)
            for name in sorted({accounts.net_assets(fund) for fund in self.residuals()})
            if name not in self.opened
        ]

    def opening_text(self, closing: list[Transaction]) -> str:
        """The opening file: every balance-sheet balance once the closing entries are in."""
        carried: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for (account, currency), number in self.leaving.items():
            if account.split(":")[0] in BALANCE_SHEET:
                carried[(account, currency)] += number
        for entry in closing:
            for posting in entry.postings:
                if posting.account.startswith("Equity:"):
                    carried[(posting.account, posting.amount.currency.value)] += (
                        posting.amount.amount
                    )
        postings = tuple(
            Posting(account, _money(account, number, currency))
            for (account, currency), number in sorted(carried.items())
            if number
        )
        header = (
            f"; Written by conservancy when {self.year} was closed: the balances carried into "
            f"{self.year + 1}.\n; Do not edit. The closed years are in history.beancount.\n\n"
        )
        if not postings:
            return header + "; Nothing to carry: every balance was zero.\n"
        if len(postings) < 2:
            raise CloseRefused(f"the balances carried into {self.year + 1} do not add up")
        entry = Transaction(
            ref=opening_ref(self.year + 1),
            date=date(self.year, 12, 31),
            narration=f"Opening balances of {self.year + 1}, as {self.year} closed",
            postings=postings,
        )
        return header + render(entry)

    def check_year_file(self, files: LedgerFiles, closing: list[Transaction]) -> None:
        """Under the lock: the files leaving are as loaded, and the year's file grew by
        exactly the closing entries of this run."""
        path = files.year_file(self.year)
        size = path.stat().st_size if path.exists() else 0
        changed = size < self.year_size or (
            self.year_size and tail_hash(path, self.year_size) != self.year_hash
        )
        appended: list[str] = []
        if not changed and size > self.year_size:
            with path.open("rb") as fh:
                fh.seek(self.year_size)
                tail = fh.read().decode("utf-8")
            found, errors, _options = parser.parse_string(tail)
            appended = [str(e.meta.get("ref")) for e in found if isinstance(e, data.Transaction)]
            changed = bool(errors) or any(not isinstance(e, data.Transaction) for e in found)
        for rel, stamp in self.stamps.items():
            target = files.root / rel
            if not target.exists() or _stamp(target) != stamp:
                changed = True
        if changed or sorted(appended) != sorted(e.ref for e in closing):
            raise CloseRefused(
                f"the files of {self.year} changed while the close ran: run it again"
            )


def _money(where: str, number: Decimal, currency: str) -> Money:
    try:
        return Money(number, Currency(currency))
    except (ValueError, MoneyError):
        raise CloseRefused(
            f"{where} holds {number} {currency}: the close carries whole cents of "
            f"{', '.join(c.value for c in Currency)} only"
        ) from None


def _load_plan(files: LedgerFiles, year: int, *, first: bool) -> _Plan:
    """Load the full history once; refuse what the close cannot carry (clearing the
    journal when nothing has been written yet)."""
    try:
        return _plan(files, year)
    except CloseRefused:
        if first:
            years.clear_close_journal(files)
        raise


def _plan(files: LedgerFiles, year: int) -> _Plan:
    history = years.write_history_root(files, closing=True)
    year_file = files.year_file(year)
    with files.lock(shared=True):
        size = year_file.stat().st_size if year_file.exists() else 0
        digest = tail_hash(year_file, size) if size else ""
    entries, errors, _options = snap.load_books(history)
    if errors:
        first = errors[0]
        where = _where(files, first.source)
        raise CloseRefused(
            f"the books do not load cleanly ({len(errors)} problems; the first: {where}"
            f"{' '.join(str(first.message).split())}): see 'conservancy ledger check --history'"
        )
    sorter = _Sorter(files, year)
    leaving: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    funds: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    opened: dict[str, list[str]] = defaultdict(list)
    late: dict[str, tuple[str, int]] = {}
    early: dict[str, tuple[str, int]] = {}
    first_day: date | None = None
    end = date(year, 12, 31)
    for entry in entries:
        place = sorter.place(entry.meta)
        if isinstance(entry, data.Open):
            opened[entry.account].append(place)
        if not isinstance(entry, _DATED) or place == "plugin":
            continue
        rel, line = files.relative(entry.meta["filename"]), int(entry.meta.get("lineno", 0))
        if place == "staff" and entry.date <= end:
            early.setdefault(_shown(rel), (str(entry.date), line))
        if place == "leaving" and entry.date > end:
            late.setdefault(rel, (str(entry.date), line))
        if not isinstance(entry, data.Transaction):
            continue
        if not years.is_closing(entry.meta):
            first_day = entry.date if first_day is None else min(first_day, entry.date)
        for posting in entry.postings:
            _count(posting, place, leaving, funds, rel, line)
    _refuse_loaded(files, year, early, late, first_day, leaving, opened)
    stamps = {
        files.relative(path): _stamp(path)
        for path in sorter.leaving_files
        if path != year_file.resolve()
    }
    return _Plan(year, dict(leaving), dict(funds), set(opened), size, digest, stamps)


def _count(
    posting: data.Posting,
    place: str,
    leaving: dict[tuple[str, str], Decimal],
    funds: dict[tuple[str, str], Decimal],
    rel: str,
    line: int,
) -> None:
    account = posting.account
    fund = accounts.fund_of(account)
    if fund is not None:
        currency, number = posting_weight(posting)
        funds[(fund, currency)] -= number
    if place != "leaving":
        return
    units = posting.units
    if posting.cost is not None or units is None or not isinstance(units.number, Decimal):
        raise CloseRefused(
            f"{rel}:{line}: {account} is held at cost: the close carries plain amounts only"
        )
    if account.split(":")[0] not in BALANCE_SHEET and fund is None:
        raise CloseRefused(
            f"{rel}:{line}: {account} belongs to no fund: its balance cannot be closed "
            "into a fund's net assets"
        )
    leaving[(account, str(units.currency))] += units.number


def _refuse_loaded(
    files: LedgerFiles,
    year: int,
    early: dict[str, tuple[str, int]],
    late: dict[str, tuple[str, int]],
    first_day: date | None,
    leaving: dict[tuple[str, str], Decimal],
    opened: dict[str, list[str]],
) -> None:
    if not years.closed_years(files):
        if first_day is None:
            raise CloseRefused("the books hold no transactions: there is nothing to close")
        if year < first_day.year:
            raise CloseRefused(f"the books begin in {first_day.year}: nothing to close in {year}")
        if year > first_day.year:
            raise CloseRefused(f"close {first_day.year} first: years are closed in order")
    if early:
        name, (day, line) = sorted(early.items())[0]
        others = f" (and {len(early) - 1} more files)" if len(early) > 1 else ""
        raise CloseRefused(
            f"{name}{others} holds entries dated {year} or earlier (the first: {day}, line "
            f"{line}): move them into {years.STAFF_CLOSED_DIR}/ (the full history includes it) "
            "and run the close again"
        )
    if late:
        name, (day, line) = sorted(late.items())[0]
        raise CloseRefused(
            f"{name} holds entries dated after {year} (the first: {day}, line {line}): "
            "the day-to-day books would lose them; move them to a file main.beancount includes"
        )
    per_currency: dict[str, Decimal] = defaultdict(Decimal)
    for (account, currency), number in sorted(leaving.items()):
        per_currency[currency] += number
        if number and account.split(":")[0] in BALANCE_SHEET:
            _money(account, number, currency)
            if not {"kept", "staff"} & set(opened.get(account, [])):
                raise CloseRefused(
                    f"{account} carries a balance into {year + 1} but no file main.beancount "
                    "loads opens it: open it in one of those (app/accounts.beancount or yours)"
                )
    unbalanced = sorted(c for c, total in per_currency.items() if total)
    if unbalanced:
        raise CloseRefused(
            f"what {year} leaves behind does not add up to zero in {', '.join(unbalanced)} "
            "(entries converted at a price): the close carries amounts in their own currency"
        )


class _Sorter:
    """Which books an entry's file belongs to once the year is closed: ``leaving`` (the
    closed years, summarised by the opening entry), ``kept`` (the app's files that stay),
    ``staff`` (the staff's files that stay), ``plugin`` (no file)."""

    def __init__(self, files: LedgerFiles, year: int) -> None:
        self.files, self.year = files, year
        self.places: dict[str, str] = {}
        self.leaving_files: set[Path] = set()

    def place(self, meta: dict[str, Any] | None) -> str:
        filename = str((meta or {}).get("filename", "<plugin>"))
        found = self.places.get(filename)
        if found is None:
            found = self.places[filename] = self._place(filename)
            if found == "leaving":
                self.leaving_files.add(Path(filename).resolve())
        return found

    def _place(self, filename: str) -> str:
        if filename.startswith("<"):
            return "plugin"
        rel = self.files.relative(filename)
        if rel == HISTORY_FILE or not self.files.is_owned(filename):
            closed = rel.startswith(f"{years.STAFF_CLOSED_DIR}/")
            return "leaving" if closed else "staff"
        if rel.startswith(f"{years.CLOSED_APP_DIR}/"):
            return "leaving"
        name = Path(rel).name
        if self.files.is_app_file(filename) and name[:4].isdigit():
            return "kept" if int(name[:4]) > self.year else "leaving"
        return "kept"


def _shown(rel: str) -> str:
    """A file as the staff know it: history.beancount copies main.beancount's own text."""
    return "main.beancount" if rel == HISTORY_FILE else rel


def _where(files: LedgerFiles, meta: dict[str, Any] | None) -> str:
    if not meta or str(meta.get("filename", "<")).startswith("<"):
        return ""
    return f"{_shown(files.relative(meta['filename']))}:{meta.get('lineno', 0)}: "
