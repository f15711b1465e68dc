"""Closed years: which files the day-to-day books and the full history load.

Closing a year (``conservancy ledger close``, see ``ledger.close``) turns

    app/opening-2026.beancount   the balances carried into 2026 (if 2025 was closed)
    app/2026.beancount           the year, its closing entries appended last

into

    app/opening-2027.beancount   the balances carried into 2027, written whole
    app/closed/2026.beancount    the same file, moved out of main.beancount's glob
    app/closed/opening-2026.beancount

so that ``main.beancount`` (``include "app/*.beancount"``) loads only the open
years. The first open day is the 1st of January after the latest
``app/opening-<YYYY>.beancount``.

**The full history** is ``history.beancount``, a root the application writes
from ``main.beancount``: its text as it is (options, plugins, the staff's own
includes and entries), with every include of app/ files left out, then the
accounts, each closed year, the open years (a glob: a new year's file is in it
from its first entry), and the staff's ``closed/`` files, by name. It never
includes an opening file: the years they summarise are there in full. It is
written again whenever what it would say changes (main.beancount edited, a
file added to closed/), by whatever is about to read it; it is derived, so the
staff edit main.beancount, never this file. Reports over closed years read it
through a snapshot and index of its own (``LedgerFiles.as_history()``,
``.cache/history/``).

**Closing entries** carry ``closing: "<year>"`` metadata. They move each fund's
income and expenses into its net assets, which changes no fund's balance; the
snapshot and the transaction index leave them out, so that figures and reports
over a closed year show the year as it happened, not its income moved away.

**An entry dated in a closed year** that arrives afterwards (a late webhook, a
cheque entered in January) keeps its date but is appended to the first open
year's file (:func:`first_open_year`, used by the outbox): a closed year's file
never changes, and the next close carries the entry's income and expenses. The
same holds while a close is under way (its journal exists), so that what the
close summarises cannot grow under it.

**An interrupted close** leaves ``.conservancy-close.json``. While it names the
step in which the files are being switched, the day-to-day books may be
neither the old nor the new ones, and the snapshot's builder refuses to load
them (:class:`CloseInterrupted`: web workers keep serving the snapshot they
have; commands print one line); the full history is refused at any step.
``ledger check`` reports the interruption at any step.
"""

from __future__ import annotations

import json
import os
import re
from datetime import date
from pathlib import Path
from typing import Any

from conservancy.kernel.errors import DomainError
from conservancy.ledger.files import APP_DIR, LedgerFiles, fsync_dir

CLOSING = "closing"  # the metadata key of closing entries
CLOSE_JOURNAL = ".conservancy-close.json"
CLOSED_APP_DIR = f"{APP_DIR}/closed"
STAFF_CLOSED_DIR = "closed"
# The step of a close during which the day-to-day files are being switched.
SWITCHING = "switching"

_OPENING = re.compile(r"^opening-(\d{4})\.beancount$")
_YEAR = re.compile(r"^(\d{4})\.beancount$")
_INCLUDE = re.compile(r'^include\s+"((?:[^"\\]|\\.)*)"')
OPEN_YEARS_GLOB = f"{APP_DIR}/[0-9][0-9][0-9][0-9].beancount"
HISTORY_HEADER = (
    "; The full history of the books, closed years included. Written by conservancy\n"
    "; from main.beancount whenever either changes: do not edit it, edit main.beancount.\n"
    "; The day-to-day books (main.beancount) start from the last opening balances.\n\n"
)


class CloseInterrupted(DomainError):
    """A close was interrupted where these books may not add up: run it again."""


def is_closing(meta: dict[str, Any] | None) -> bool:
    """A closing entry's metadata (Beancount's or ours)."""
    return meta is not None and CLOSING in meta


def opening_file(files: LedgerFiles, year: int) -> Path:
    """Where the balances carried into ``year`` are, while it is the first open year."""
    return files.root / APP_DIR / f"opening-{year:04d}.beancount"


def closed_year_file(files: LedgerFiles, year: int) -> Path:
    return files.root / CLOSED_APP_DIR / f"{year:04d}.beancount"


def closed_opening_file(files: LedgerFiles, year: int) -> Path:
    return files.root / CLOSED_APP_DIR / f"opening-{year:04d}.beancount"


def closed_years(files: LedgerFiles) -> list[int]:
    """The years whose files have been moved to app/closed/, oldest first."""
    folder = files.root / CLOSED_APP_DIR
    if not folder.is_dir():
        return []
    return sorted(int(m.group(1)) for p in folder.iterdir() if (m := _YEAR.match(p.name)))


def first_open_day(files: LedgerFiles) -> date | None:
    """The first day the day-to-day books hold in full; None while no year is closed."""
    years = [
        int(m.group(1))
        for p in (files.root / APP_DIR).glob("opening-*.beancount")
        if (m := _OPENING.match(p.name))
    ]
    return date(max(years), 1, 1) if years else None


def first_open_year(files: LedgerFiles) -> int | None:
    """The first year the outbox may append to: after every closed year, and after the
    year a close is under way for. None while nothing is closed or closing."""
    opened = first_open_day(files)
    years = [opened.year] if opened else []
    journal = read_close_journal(files)
    if journal is not None:
        years.append(int(journal["year"]) + 1)
    return max(years) if years else None


# --- the close's journal -----------------------------------------------------------


def close_journal(files: LedgerFiles) -> Path:
    return files.root / CLOSE_JOURNAL


def read_close_journal(files: LedgerFiles) -> dict[str, Any] | None:
    try:
        data: dict[str, Any] = json.loads(close_journal(files).read_text("utf-8"))
    except FileNotFoundError:
        return None
    return data


def write_close_journal(files: LedgerFiles, data: dict[str, Any]) -> None:
    write_whole(close_journal(files), json.dumps(data, sort_keys=True))


def clear_close_journal(files: LedgerFiles) -> None:
    close_journal(files).unlink(missing_ok=True)
    fsync_dir(files.root)


def interruption(files: LedgerFiles) -> str | None:
    """What an interrupted close left, as one line to show; None if nothing."""
    journal = read_close_journal(files)
    if journal is None:
        return None
    year = int(journal["year"])
    return (
        f"a close of {year} was interrupted ({journal['step']}): "
        f"run 'conservancy ledger close --year {year}' again"
    )


def refuse_interrupted(files: LedgerFiles) -> None:
    """For loaders: raise CloseInterrupted where an interrupted close leaves these
    books not adding up (the day-to-day ones mid-switch; the history at any step)."""
    journal = read_close_journal(files)
    if journal is None or (not files.history and journal["step"] != SWITCHING):
        return
    message = interruption(files)
    assert message is not None
    raise CloseInterrupted(message)


# --- the full history's root ---------------------------------------------------------


def _include_target(files: LedgerFiles, pattern: str) -> str:
    """An include's pattern relative to the ledger folder, as a POSIX path."""
    path = Path(pattern)
    if path.is_absolute():
        try:
            return path.relative_to(files.root.resolve()).as_posix()
        except ValueError:
            return path.as_posix()
    return Path(os.path.normpath(pattern)).as_posix()


def main_includes(files: LedgerFiles) -> list[str]:
    """The patterns main.beancount includes (itself only, not what those files include)."""
    text = files.as_day_to_day().main.read_text("utf-8")
    return [m.group(1) for line in text.splitlines() if (m := _INCLUDE.match(line))]


def includes_closed(files: LedgerFiles) -> list[str]:
    """What main.beancount includes from the closed folders, which it must not."""
    closed = (f"{STAFF_CLOSED_DIR}/", f"{CLOSED_APP_DIR}/")
    return [
        pattern
        for pattern in main_includes(files)
        if _include_target(files, pattern).startswith(closed)
    ]


def staff_closed_files(files: LedgerFiles) -> list[str]:
    folder = files.root / STAFF_CLOSED_DIR
    if not folder.is_dir():
        return []
    return sorted(p.relative_to(files.root).as_posix() for p in folder.rglob("*.beancount"))


def history_text(files: LedgerFiles) -> str:
    """What history.beancount says for the files as they are now."""
    lines = []
    for line in files.as_day_to_day().main.read_text("utf-8").splitlines():
        match = _INCLUDE.match(line)
        if match and _include_target(files, match.group(1)).startswith(f"{APP_DIR}/"):
            lines.append(f"; (the day-to-day books only) {line}")
        else:
            lines.append(line)
    ours = [f"{APP_DIR}/accounts.beancount"]
    ours += [
        closed_year_file(files, y).relative_to(files.root).as_posix() for y in closed_years(files)
    ]
    if any((files.root / APP_DIR).glob("[0-9][0-9][0-9][0-9].beancount")):
        ours.append(OPEN_YEARS_GLOB)
    ours += staff_closed_files(files)
    return (
        HISTORY_HEADER
        + "\n".join(lines)
        + "\n\n; --- the full history: the accounts, closed years, open years, closed/ ---\n"
        + "".join(f'include "{pattern}"\n' for pattern in ours)
    )


def write_history_root(files: LedgerFiles, *, closing: bool = False) -> LedgerFiles:
    """Write history.beancount if what it says has changed; the history's LedgerFiles.

    Refused while a close is interrupted (its files may be half moved), except
    by the close itself (``closing``), which writes it last.
    """
    if not closing:
        message = interruption(files)
        if message is not None:
            raise CloseInterrupted(message)
    history = files.as_history()
    text = history_text(files)
    try:
        if history.main.read_text("utf-8") == text:
            return history
    except FileNotFoundError:
        pass
    write_whole(history.main, text)
    return history


def write_whole(path: Path, text: str) -> None:
    """Replace a file with ``text`` in one rename: readers see the old or the new, whole."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)
    fsync_dir(path.parent)
