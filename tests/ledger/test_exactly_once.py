"""A writer killed anywhere between the database commit and the ledger append
loses nothing and doubles nothing: the next ``conservancy ledger sync`` posts
each entry exactly once (SPEC section 9).

The writer is a real process (``tests/ledger/crashing_writer.py``) that SIGKILLs
itself at a named step of the outbox protocol; sync and check are the real
console script.
"""

from __future__ import annotations

import signal
from dataclasses import dataclass
from datetime import date

import pytest

from conservancy.infra.config import Settings
from conservancy.ledger.check import check_books
from conservancy.ledger.outbox import PostResult, pending_count, record
from conservancy.ledger.writer import render
from conservancy.projects.service import open_accounts
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import app_file_bytes, ref_counts, run_cli, run_helper

pytestmark = pytest.mark.slow

# Three gifts recorded in one transaction; the last falls in another year, so the
# batch spans two files and creates one of them.
GIFTS = {"crash-1": "2026-03-01", "crash-2": "2026-03-02", "crash-3": "2027-01-15"}
GIFT_ARGS = [f"{ref}={on}" for ref, on in GIFTS.items()]
# 3 x (100.00 - 3.20)
THREE_GIFTS_NET = "290.40 USD"


@dataclass(frozen=True)
class LeftBehind:
    """What the killed writer leaves: which refs are in the files, a journal, rows pending."""

    on_disk: tuple[str, ...]
    journal: bool
    pending: int


LEFT_BEHIND = {
    "after-commit": LeftBehind(on_disk=(), journal=False, pending=3),
    "locked": LeftBehind(on_disk=(), journal=False, pending=3),
    "journalled": LeftBehind(on_disk=(), journal=True, pending=3),
    # killed after the first entry of the batch was written: half the batch on disk
    "wrote-entry": LeftBehind(on_disk=("crash-1",), journal=True, pending=3),
    "appended": LeftBehind(on_disk=tuple(GIFTS), journal=True, pending=3),
    "marked": LeftBehind(on_disk=tuple(GIFTS), journal=True, pending=0),
}


@pytest.fixture
def twisted(runtime: Runtime) -> Runtime:
    return factories.with_project(runtime)


def kill_writer_at(settings: Settings, step: str, *gifts: str) -> None:
    died = run_helper(settings, "crashing_writer", step, *gifts)
    assert died.returncode == -signal.SIGKILL, f"exit {died.returncode}: {died.stderr}"


def assert_left_behind(rt: Runtime, expected: LeftBehind) -> None:
    counts = ref_counts(rt.ledger, GIFTS)
    assert {ref for ref, n in counts.items() if n} == set(expected.on_disk)
    assert rt.ledger.journal.exists() == expected.journal
    with rt.sessions() as session:
        assert pending_count(session) == expected.pending


def assert_each_gift_once_and_books_clean(rt: Runtime, settings: Settings) -> None:
    assert ref_counts(rt.ledger, GIFTS) == dict.fromkeys(GIFTS, 1)
    checked = run_cli(settings, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    with rt.sessions() as session:
        assert pending_count(session) == 0
    assert not rt.ledger.journal.exists()
    assert str(rt.books.load().fund_balance("Twisted")) == THREE_GIFTS_NET


@pytest.mark.parametrize("step", list(LEFT_BEHIND))
def test_writer_killed_at_any_step_then_sync_posts_each_entry_exactly_once(
    twisted: Runtime, settings: Settings, step: str
) -> None:
    kill_writer_at(settings, step, *GIFT_ARGS)
    assert_left_behind(twisted, LEFT_BEHIND[step])

    synced = run_cli(settings, "ledger", "sync")

    assert synced.returncode == 0, synced.stderr
    assert "posted 3 entries" in synced.stdout
    assert_each_gift_once_and_books_clean(twisted, settings)
    # Running it again finds nothing to do and leaves the files as they are.
    before = app_file_bytes(twisted.ledger)
    assert twisted.post_ledger() == PostResult(posted=0, recovered=0)
    assert app_file_bytes(twisted.ledger) == before


def test_sync_killed_while_repairing_is_repaired_by_the_next_sync(
    twisted: Runtime, settings: Settings
) -> None:
    kill_writer_at(settings, "marked", *GIFT_ARGS)
    # The first repair is killed in turn, half-way through re-appending the batch.
    kill_writer_at(settings, "wrote-entry")
    assert_left_behind(twisted, LeftBehind(on_disk=("crash-1",), journal=True, pending=3))

    synced = run_cli(settings, "ledger", "sync")

    assert synced.returncode == 0, synced.stderr
    assert "posted 3 entries" in synced.stdout
    assert_each_gift_once_and_books_clean(twisted, settings)


def test_sync_cuts_off_a_torn_append_and_writes_the_entries_whole(
    twisted: Runtime, settings: Settings
) -> None:
    # A gift already in the books, which the repair must keep.
    with twisted.sessions() as session:
        record(session, factories.gift("crash-1"))
        session.commit()
    twisted.post_ledger()
    torn = factories.gift("crash-2", payee="Zoë Brontë")
    with twisted.sessions() as session:
        record(session, torn)
        record(session, factories.gift("crash-3", on=date(2027, 1, 15)))
        session.commit()
    year = twisted.ledger.year_file(2026)
    whole = year.read_bytes()
    # What a writer killed mid-write leaves: its journal, and an entry cut off
    # in the middle of a character (the second byte of "ë" never reached the disk).
    twisted.ledger.write_journal(
        {
            "sizes": {"app/2026.beancount": len(whole), "app/2027.beancount": 0},
            "refs": ["crash-2", "crash-3"],
        }
    )
    text = render(torn).encode("utf-8")
    with year.open("ab") as fh:
        fh.write(text[: text.index("ë".encode()) + 1])
    assert check_books(twisted.ledger).problems, "the torn entry should break the books"

    synced = run_cli(settings, "ledger", "sync")

    assert synced.returncode == 0, synced.stderr
    assert "posted 2 entries" in synced.stdout
    assert year.read_bytes().startswith(whole)
    assert_each_gift_once_and_books_clean(twisted, settings)


def test_accounts_opened_twice_in_one_go_or_again_are_written_once_in_the_order_asked(
    runtime: Runtime,
) -> None:
    names = ["Income:Acme:Donations", "Expenses:Acme:Travel", "Income:Acme:Donations"]
    with runtime.sessions() as session:
        assert open_accounts(session, names, date(2026, 1, 2)) == 2
        assert open_accounts(session, [*names, "Expenses:Acme:Printing"], date(2026, 1, 3)) == 1
        session.commit()
    runtime.post_ledger()

    accounts = runtime.ledger.accounts.read_text()
    opens = [
        line.split()[-1]
        for line in accounts.splitlines()
        if " open Expenses:Acme" in line or " open Income:Acme" in line
    ]
    assert opens == ["Income:Acme:Donations", "Expenses:Acme:Travel", "Expenses:Acme:Printing"]
    assert "2026-01-03 open Expenses:Acme:Printing" in accounts
