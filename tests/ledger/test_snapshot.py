"""The reader: balances per fund and per account served from a snapshot in memory.

The writer's own appends update the snapshot incrementally; a staff-edited file
is reloaded in the background while the old snapshot keeps serving; a new
process starts from the persisted snapshot. Full builds are counted (or made
to wait on an event) by wrapping ``snapshot.build``: no test measures time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from beancount import loader

from conservancy.ledger import outbox
from conservancy.ledger import snapshot as snap
from conservancy.ledger.books import Books, BooksLoading
from conservancy.ledger.entries import Transaction
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests import factories

# Long enough never to be reached when things work; short enough that a test
# that would otherwise hang fails instead.
PATIENCE = 10.0


def post(runtime: Runtime, *entries: Transaction, project: str | None = None) -> None:
    """Record entries as a service would and append them to the books."""
    with runtime.sessions() as session:
        if project is not None:
            factories.project(session, slug=project.lower(), name=project)
        for entry in entries:
            record(session, entry)
        session.commit()
    runtime.post_ledger()


def fund(snapshot: snap.Snapshot, name: str) -> str:
    return str(snapshot.fund_balance(name))


def account(snapshot: snap.Snapshot, name: str) -> Decimal:
    return snapshot.account_balance(name)


STAFF_FILE = "corrections.beancount"
STAFF_HEADER = "; The bookkeeper's own corrections.\n\n"
RECLASSIFY = (
    '2026-04-01 * "Reclassify: part of a Twisted gift was meant for the sponsor"\n'
    "  Equity:Net-Assets:Twisted   20.00 USD\n"
    "  Equity:Net-Assets:General  -20.00 USD\n\n"
)


def include_staff_file(files: LedgerFiles, text: str = STAFF_HEADER) -> Path:
    path = files.root / STAFF_FILE
    path.write_text(text, "utf-8")
    with files.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{STAFF_FILE}"\n')
    return path


def edit_by_hand(path: Path, addition: str) -> None:
    with path.open("a", encoding="utf-8") as fh:
        fh.write(addition)


@dataclass
class Builds:
    """Stands in for ``snapshot.build``: counts calls, and can hold them until released."""

    real: Callable[[LedgerFiles], snap.Snapshot]
    calls: int = 0
    started: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    forbidden: bool = False

    def __call__(self, files: LedgerFiles) -> snap.Snapshot:
        self.calls += 1
        if self.forbidden:
            raise AssertionError("a full build ran")
        self.started.set()
        assert self.release.wait(PATIENCE), "the test never released the build"
        return self.real(files)


@pytest.fixture
def builds(monkeypatch: pytest.MonkeyPatch) -> Iterator[Builds]:
    counter = Builds(real=snap.build)
    counter.release.set()  # builds run freely unless a test clears this
    monkeypatch.setattr(snap, "build", counter)
    yield counter
    counter.release.set()  # never leave a rebuild thread waiting


@pytest.fixture
def twisted(runtime: Runtime) -> Runtime:
    """Books with the Twisted project and one settled 100.00 gift (96.80 after the fee)."""
    post(runtime, factories.gift("gift-1"), project="Twisted")
    return runtime


# --- the writer's own appends ----------------------------------------------


def test_new_gifts_show_in_current_balances_without_a_full_rebuild(
    twisted: Runtime, builds: Builds
) -> None:
    books = twisted.books
    first = books.load()
    assert fund(first, "Twisted") == "96.80 USD"
    builds.calls = 0
    builds.forbidden = True

    post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))
    post(
        twisted,
        factories.gift("gift-3", fund="SugarLabs", amount="20.00", fee="0.88"),
        project="SugarLabs",
    )
    now = books.current()
    books.wait()

    assert builds.calls == 0
    assert books.last_error is None
    assert fund(now, "Twisted") == "145.05 USD"
    assert fund(now, "SugarLabs") == "19.12 USD"
    assert account(now, "Income:Twisted:Donations") == Decimal("-150.00")
    assert account(now, "Expenses:Twisted:Payment-Processing") == Decimal("4.95")
    assert account(now, "Assets:Stripe") == Decimal("164.17")
    assert now.transactions == 3
    # Asking again reads nothing twice.
    assert books.current().balances == now.balances


def test_gifts_are_counted_once_across_many_small_appends(twisted: Runtime, builds: Builds) -> None:
    books = twisted.books
    books.load()
    builds.calls = 0
    builds.forbidden = True
    for n in range(2, 12):
        post(twisted, factories.gift(f"gift-{n}", amount="10.00", fee="0.59"))
        assert books.current().transactions == n
    assert fund(books.current(), "Twisted") == "190.90 USD"  # 96.80 + 10 x 9.41
    assert builds.calls == 0


# --- staff edits -----------------------------------------------------------


def test_staff_edit_is_reloaded_in_one_background_rebuild_while_the_old_snapshot_serves(
    twisted: Runtime, builds: Builds
) -> None:
    books = twisted.books
    staff = include_staff_file(twisted.ledger)
    books.load()
    builds.calls = 0
    builds.release.clear()  # the next build waits until the test lets it go

    edit_by_hand(staff, RECLASSIFY)
    during = books.current()  # notices the edit and starts the rebuild
    assert builds.started.wait(PATIENCE)
    # The rebuild is now held inside build(); these calls can only return
    # because current() does not wait for it.
    assert fund(during, "Twisted") == "96.80 USD"
    assert fund(books.current(), "Twisted") == "96.80 USD"
    assert books.rebuilding
    # A gift posted meanwhile shows at once, even before the rebuild is done.
    post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))
    assert fund(books.current(), "Twisted") == "145.05 USD"
    assert builds.calls == 1

    builds.release.set()
    books.wait()
    after = books.current()
    assert fund(after, "Twisted") == "125.05 USD"  # 96.80 + 48.25 - 20.00
    assert fund(after, "General") == "20.00 USD"
    assert account(after, "Equity:Net-Assets:Twisted") == Decimal("20.00")
    assert account(after, "Income:Twisted:Donations") == Decimal("-150.00")  # gift-2 once
    # The rebuilt snapshot describes the edited file: no further rebuild.
    books.current()
    books.wait()
    assert builds.calls == 1
    assert not books.rebuilding


def test_staff_edit_landing_while_the_loader_runs_is_not_missed(
    twisted: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The edit is saved just after the loader read the file: the next look must reload."""
    files = twisted.ledger
    staff = include_staff_file(files)
    real_load = loader.load_file
    edits: list[str] = []

    def load_then_edit(*args: Any, **kwargs: Any) -> Any:
        loaded = real_load(*args, **kwargs)
        if not edits:
            edits.append(RECLASSIFY)
            edit_by_hand(staff, RECLASSIFY)
        return loaded

    monkeypatch.setattr(loader, "load_file", load_then_edit)
    books = twisted.books
    assert fund(books.load(), "Twisted") == "96.80 USD"  # read before the edit
    books.current()
    books.wait()
    assert fund(books.current(), "Twisted") == "76.80 USD"
    assert fund(books.current(), "General") == "20.00 USD"


def test_an_editors_lock_link_beside_a_staff_file_does_not_break_the_build(
    twisted: Runtime,
) -> None:
    """Emacs marks a file being edited with a dangling ``.#name`` symlink."""
    files = twisted.ledger
    staff = include_staff_file(files)
    (files.root / f".#{STAFF_FILE}").symlink_to("bookkeeper@office.4242:1767225600")
    edit_by_hand(staff, RECLASSIFY)
    built = twisted.books.load()
    assert fund(built, "Twisted") == "76.80 USD"
    assert not snap.stale(files, built)


# --- a full build racing an append -------------------------------------------


def test_append_racing_a_full_build_is_counted_once(
    twisted: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gift-2 lands after build() noted the files' lengths and before the loader reads them."""
    real_load = loader.load_file
    raced: list[str] = []

    def append_then_load(*args: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append("gift-2")
            post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))
        return real_load(*args, **kwargs)

    monkeypatch.setattr(loader, "load_file", append_then_load)
    built = snap.build(twisted.ledger)
    assert raced == ["gift-2"]
    assert built.transactions == 2
    assert fund(built, "Twisted") == "145.05 USD"
    assert account(built, "Income:Twisted:Donations") == Decimal("-150.00")
    assert snap.catch_up(twisted.ledger, built) == built

    post(twisted, factories.gift("gift-3", amount="10.00", fee="0.59"))
    later = snap.catch_up(twisted.ledger, built)
    assert later.transactions == 3
    assert fund(later, "Twisted") == "154.46 USD"


# --- the persisted snapshot --------------------------------------------------


def test_saved_snapshot_lets_a_new_process_serve_without_a_build(
    twisted: Runtime, builds: Builds
) -> None:
    twisted.books.load()
    assert (twisted.ledger.cache_dir / "snapshot.json").exists()
    post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))  # after it was saved
    builds.calls = 0
    builds.forbidden = True

    fresh = Books(twisted.ledger)
    fresh.start()
    now = fresh.current()  # no BooksLoading: it serves at once
    fresh.wait()
    assert builds.calls == 0
    assert fund(now, "Twisted") == "145.05 USD"
    assert now.transactions == 2


def test_saved_snapshot_is_refused_after_a_staff_edit(twisted: Runtime, builds: Builds) -> None:
    staff = include_staff_file(twisted.ledger)
    twisted.books.load()
    assert snap.load_saved(twisted.ledger) is not None
    edit_by_hand(staff, RECLASSIFY)
    assert snap.load_saved(twisted.ledger) is None

    builds.calls = 0
    fresh = Books(twisted.ledger)
    fresh.start()
    fresh.wait()
    assert builds.calls == 1
    assert fund(fresh.current(), "Twisted") == "76.80 USD"
    assert fund(fresh.current(), "General") == "20.00 USD"


def test_saved_snapshot_is_refused_when_an_app_file_was_replaced(
    twisted: Runtime, builds: Builds
) -> None:
    post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))
    twisted.books.load()
    # Someone restores another copy of the year's file: same entries up to a
    # point, then a different last gift, and longer than the original.
    year = twisted.ledger.year_file(2026)
    year.write_text(
        year.read_text("utf-8")
        .replace("50.00 USD", "500.00 USD")
        .replace("48.25 USD", "498.25 USD"),
        "utf-8",
    )
    assert snap.load_saved(twisted.ledger) is None

    builds.calls = 0
    fresh = Books(twisted.ledger)
    fresh.start()
    fresh.wait()
    assert builds.calls == 1
    assert fund(fresh.current(), "Twisted") == "595.05 USD"  # 96.80 + 498.25


# --- an interrupted append ---------------------------------------------------


def test_interrupted_append_is_ignored_until_recovery_then_counted_once(
    twisted: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The writer dies after writing gift-2 whole and part of gift-3, leaving its journal."""
    books = twisted.books
    books.load()
    real_write_all = outbox._write_all
    writes: list[bytes] = []

    def die_in_second_entry(fd: int, data: bytes) -> None:
        writes.append(data)
        if len(writes) == 1:
            real_write_all(fd, data)
            return
        cut = data.index(b"Assets:Stripe")  # up to and including the first posting
        real_write_all(fd, data[: data.index(b"\n", cut) + 1])
        raise OSError("killed mid-append")

    monkeypatch.setattr(outbox, "_write_all", die_in_second_entry)
    with pytest.raises(OSError, match="killed"):
        post(
            twisted,
            factories.gift("gift-2", amount="50.00", fee="1.75"),
            factories.gift("gift-3", amount="10.00", fee="0.59"),
        )
    monkeypatch.setattr(outbox, "_write_all", real_write_all)
    files = twisted.ledger
    assert files.journal.exists()
    written = files.year_file(2026).read_text("utf-8")
    assert 'ref: "gift-2"' in written
    assert 'ref: "gift-3"' in written

    # Neither the running reader nor a new one built now reads past the journal.
    assert account(books.current(), "Assets:Stripe") == Decimal("96.80")
    other = Books(files)
    assert account(other.load(), "Assets:Stripe") == Decimal("96.80")
    assert account(other.current(), "Assets:Stripe") == Decimal("96.80")

    result = twisted.post_ledger()  # the next writer recovers and appends again
    assert (result.recovered, result.posted) == (2, 2)
    assert not files.journal.exists()
    for reader in (books, other):
        reader.current()
        reader.wait()
        now = reader.current()
        assert now.transactions == 3
        assert account(now, "Assets:Stripe") == Decimal("154.46")
        assert fund(now, "Twisted") == "154.46 USD"


# --- before the first snapshot -----------------------------------------------


def test_current_raises_books_loading_until_the_first_build_is_done(
    twisted: Runtime, builds: Builds
) -> None:
    (twisted.ledger.cache_dir / "snapshot.json").unlink()  # a site's very first start
    builds.release.clear()
    books = Books(twisted.ledger)
    books.start()
    assert builds.started.wait(PATIENCE)
    with pytest.raises(BooksLoading):
        books.current()
    with pytest.raises(BooksLoading):
        books.current()
    builds.release.set()
    books.wait()
    assert fund(books.current(), "Twisted") == "96.80 USD"
    assert builds.calls == 1


def test_current_on_a_reader_never_started_starts_the_build(twisted: Runtime) -> None:
    books = Books(twisted.ledger)
    with pytest.raises(BooksLoading):
        books.current()
    books.wait()
    assert fund(books.current(), "Twisted") == "96.80 USD"


# --- rebuilds in a child process (web workers) -----------------------------


def test_worker_rebuilds_in_a_child_process_and_serves_the_snapshot_it_saved(
    twisted: Runtime, builds: Builds
) -> None:
    staff = include_staff_file(twisted.ledger)  # the saved snapshot no longer fits
    builds.forbidden = True  # no full build may run in this process: only the child's
    worker = Books(twisted.ledger)

    worker.start(isolated=True)
    worker.wait(PATIENCE)
    assert fund(worker.current(), "Twisted") == "96.80 USD"

    edit_by_hand(staff, RECLASSIFY)
    assert fund(worker.current(), "Twisted") == "96.80 USD"  # served at once, child started
    post(twisted, factories.gift("gift-2", amount="50.00", fee="1.75"))
    worker.wait(PATIENCE)

    after = worker.current()
    assert fund(after, "Twisted") == "125.05 USD"  # 96.80 + 48.25 - 20.00, gift-2 once
    assert fund(after, "General") == "20.00 USD"
    assert worker.last_error is None
    assert builds.calls == 0


def test_second_workers_child_finds_the_snapshot_built_and_does_not_load_again(
    twisted: Runtime,
) -> None:
    from conservancy.ledger.rebuild import rebuild

    include_staff_file(twisted.ledger, STAFF_HEADER + RECLASSIFY)

    assert rebuild(twisted.ledger) is True
    assert rebuild(twisted.ledger) is False  # the first one's snapshot fits the files
    saved = snap.load_saved(twisted.ledger)
    assert saved is not None
    assert fund(saved, "General") == "20.00 USD"


def test_many_funds_months_in_one_pass_are_the_sum_of_each_funds_month() -> None:
    """The public page and the sponsor's home read months in one pass; it must give what
    fund_month gives, summed over the funds, with each account's month rounded alike."""
    usd = {"USD": Decimal("0")}
    monthly: Any = {
        "Income:Twisted:Donations": {"2026-03": {"USD": Decimal("-100.005")}, "2026-04": {}},
        "Expenses:Twisted:Payment-Processing": {"2026-03": {"USD": Decimal("3.204")}},
        "Income:Inkscape:Donations": {"2026-04": {"USD": Decimal("-50.00")}},
        "Expenses:Inkscape:Hosting": {"2026-04": {"USD": Decimal("25.00")}, "2026-05": usd},
        "Income:General:Sponsorship-Fees": {"2026-03": {"USD": Decimal("-10.00")}},
        "Assets:Stripe": {"2026-03": {"USD": Decimal("96.80")}},
    }
    books = snap.Snapshot(balances={}, cursors={}, watched={}, monthly=monthly)
    months = ["2026-03", "2026-04", "2026-05"]

    found = books.income_and_expenses_by_month(["Twisted", "Inkscape"], months)

    for month in months:
        each = [books.fund_month(fund, month) for fund in ("Twisted", "Inkscape")]
        income = sum(f.income_total.minor for f in each)
        expenses = sum(f.expenses_total.minor for f in each)
        assert (found[month][0].minor, found[month][1].minor) == (income, expenses), month
    assert found["2026-03"][0].minor == 10001  # General's fee is not a project's income
    assert found["2026-04"][1].minor == 2500
