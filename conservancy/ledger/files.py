"""Where the books live on disk, and the lock that makes one writer at a time.

ledgers/
  main.beancount            the root; written once by ``conservancy init``, then the
                            staff's: options, and an include of each file below
  app/accounts.beancount    Open directives      } written by conservancy only,
  app/<YYYY>.beancount      transactions by year } and only ever appended to
  .conservancy.lock         flock(2) target: exclusive for writers, shared for readers
  .conservancy-journal.json what an interrupted append was doing (see ledger.outbox)
  .cache/snapshot.json      the reader's persisted snapshot (see ledger.snapshot)

and once a year has been closed (``conservancy ledger close``, see ledger.years):

  app/opening-<YYYY>.beancount  the balances carried into the first open year:
                                written whole once, read by main.beancount's glob
  app/closed/<YYYY>.beancount   each closed year's file, moved out of that glob
  app/closed/opening-<YYYY>.beancount  the openings of years closed since
  closed/                       the staff's files of closed years
  history.beancount             the full history's root, written by conservancy
  .conservancy-close.json       what an interrupted close was doing
  .conservancy-close.lock       flock(2) target: one close at a time
  .cache/history/               the full history's snapshot and index

``app_files`` are the files the application appends to, which readers follow by
their tails; the opening file is written whole and watched like a staff file.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

APP_DIR = "app"
ACCOUNTS_FILE = f"{APP_DIR}/accounts.beancount"
HISTORY_FILE = "history.beancount"
# The files under app/ that the outbox appends to: the accounts and one per year.
_APPENDED = re.compile(r"^(accounts|\d{4})\.beancount$")
APP_FILE_HEADER = (
    "; Written by conservancy. Do not edit: the application only ever appends here.\n"
    "; Corrections go in a file of your own, included from main.beancount.\n\n"
)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def main_file_text(title: str) -> str:
    title = " ".join(title.split())
    return (
        f"; The books of {title}.\n"
        "; Files under app/ belong to conservancy, which only appends to them.\n"
        "; Add files of your own beside this one and include them below.\n\n"
        f'option "title" {_quote(title)}\n'
        'option "operating_currency" "USD"\n'
        "; No transaction may be off by any amount.\n"
        'option "tolerance_multiplier" "0"\n\n'
        'include "app/*.beancount"\n'
    )


@dataclass(frozen=True)
class LedgerFiles:
    """The books in ``root``, as the day-to-day root loads them, or with
    ``history=True`` as the full history's root does (see ledger.years): the same
    files and lock, another root file and another cache for the derived data."""

    root: Path
    history: bool = False

    @property
    def main(self) -> Path:
        return self.root / (HISTORY_FILE if self.history else "main.beancount")

    @property
    def accounts(self) -> Path:
        return self.root / ACCOUNTS_FILE

    @property
    def journal(self) -> Path:
        return self.root / ".conservancy-journal.json"

    @property
    def cache_dir(self) -> Path:
        return self.root / ".cache" / "history" if self.history else self.root / ".cache"

    def year_file(self, year: int) -> Path:
        return self.root / APP_DIR / f"{year:04d}.beancount"

    def app_files(self) -> list[Path]:
        """Every file the application appends to (accounts and years), in a stable order."""
        return sorted(
            p for p in (self.root / APP_DIR).glob("*.beancount") if _APPENDED.match(p.name)
        )

    # Both are asked once per entry when the whole ledger is read (a million
    # times for big books), and resolve() is a system call: remember answers.
    @functools.lru_cache(maxsize=1024)  # noqa: B019 - LedgerFiles is a frozen value
    def is_app_file(self, path: Path | str) -> bool:
        """One of :meth:`app_files`: a file read by its appended tail."""
        path = Path(path).resolve()
        return path.parent == (self.root / APP_DIR).resolve() and bool(_APPENDED.match(path.name))

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - LedgerFiles is a frozen value
    def is_owned(self, path: Path | str) -> bool:
        """Written by conservancy: anything under app/ (closed years and openings too)."""
        return (self.root / APP_DIR).resolve() in Path(path).resolve().parents

    def as_history(self) -> LedgerFiles:
        return LedgerFiles(self.root, history=True)

    def as_day_to_day(self) -> LedgerFiles:
        return LedgerFiles(self.root)

    @functools.lru_cache(maxsize=1024)  # noqa: B019 - LedgerFiles is a frozen value
    def relative(self, path: Path | str) -> str:
        try:
            return Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def exists(self) -> bool:
        return self.main.exists() and self.accounts.exists()

    def create_skeleton(self, title: str) -> bool:
        """Create main.beancount and the app files if absent. True if anything was created."""
        created = False
        (self.root / APP_DIR).mkdir(parents=True, exist_ok=True)
        if not self.main.exists():
            _write_new(self.main, main_file_text(title))
            created = True
        if not self.accounts.exists():
            _write_new(self.accounts, APP_FILE_HEADER)
            created = True
        return created

    @contextmanager
    def lock(self, *, shared: bool = False) -> Iterator[None]:
        """flock(2) on the lock file: writers exclusive, tail readers shared.

        The kernel drops the lock when the process dies, so a killed writer
        never leaves the books locked.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".conservancy.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing releases the lock

    def read_journal(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads(self.journal.read_text("utf-8"))
        except FileNotFoundError:
            return None
        return data

    def write_journal(self, data: dict[str, Any]) -> None:
        tmp = self.journal.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(self.journal)
        fsync_dir(self.root)

    def clear_journal(self) -> None:
        self.journal.unlink(missing_ok=True)
        fsync_dir(self.root)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_new(path: Path, text: str) -> None:
    with path.open("x", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    fsync_dir(path.parent)
