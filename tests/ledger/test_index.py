"""The transaction index: a fund's transactions without loading the ledger.

Built with each full build, kept current from the app files' tails (by as many
processes as catch up at once), rebuilt after a staff edit, and derived data
throughout: deleting ``.cache/`` and building again gives the same answers.
"""

from __future__ import annotations

import shutil
from datetime import date
from decimal import Decimal

import pytest

from conservancy.infra.config import Settings
from conservancy.ledger import outbox
from conservancy.ledger import snapshot as snap
from conservancy.ledger.books import Books, BooksLoading
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.index import IndexedTransaction, TransactionIndex
from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import finish, ref_counts, release_barrier, start_helper

PATIENCE = 10.0


def post(runtime: Runtime, *entries: Transaction, projects: tuple[str, ...] = ()) -> None:
    with runtime.sessions() as session:
        for name in projects:
            factories.project(session, slug=name.lower(), name=name)
        for entry in entries:
            record(session, entry)
        session.commit()
    runtime.post_ledger()


def gift(
    ref: str, on: date, amount: str = "100.00", fee: str = "3.20", fund: str = "Twisted"
) -> Transaction:
    """A settled card gift with the metadata the app writes."""
    gross, card_fee = factories.usd(amount), factories.usd(fee)
    return Transaction(
        ref=ref,
        date=on,
        payee="Ada Lovelace",
        narration=f"Gift to {fund}",
        meta={"stripe-id": f"txn_{ref}", "entity": "donor-ada", "income-type": "Donations"},
        postings=(
            Posting("Assets:Stripe", gross - card_fee),
            Posting(f"Expenses:{fund}:Payment-Processing", card_fee),
            Posting(f"Income:{fund}:Donations", -gross),
        ),
    )


def payout(ref: str, on: date, amount: str) -> Transaction:
    return Transaction(
        ref=ref,
        date=on,
        narration="Stripe payout",
        postings=(
            Posting("Assets:Bank:Checking", factories.usd(amount)),
            Posting("Assets:Stripe", -factories.usd(amount)),
        ),
    )


def refs(transactions: list[IndexedTransaction]) -> list[str | None]:
    return [t.ref for t in transactions]


def everything(index: TransactionIndex, fund: str) -> list[IndexedTransaction]:
    with index.read() as view:
        return view.transactions_between(fund, date(2026, 1, 1), date(2026, 12, 31))


STAFF_FILE = "corrections.beancount"


def include_staff_file(files: LedgerFiles, text: str) -> None:
    (files.root / STAFF_FILE).write_text("; The bookkeeper's own entries.\n\n" + text, "utf-8")
    with files.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{STAFF_FILE}"\n')


CHEQUE = (
    '2026-03-01 * "Grace Hopper" "Cheque 1042"\n'
    '  ref: "cheque-1042"\n'
    "  Assets:Bank:Checking       250.00 USD\n"
    "  Income:Twisted:Donations  -250.00 USD\n\n"
)
CONTRACTOR = (
    '2026-01-01 open Expenses:Twisted:Contractors\n  function: "program"\n\n'
    '2026-03-10 * "Build farm hosting"\n'
    "  Expenses:Twisted:Contractors   40.00 USD\n"
    "  Assets:Bank:Checking          -40.00 USD\n\n"
)


@pytest.fixture
def books(runtime: Runtime) -> Runtime:
    """Twisted and SugarLabs, four gifts over three months, and a payout."""
    post(
        runtime,
        gift("gift-1", date(2026, 1, 15)),
        gift("gift-2", date(2026, 2, 3), amount="50.00", fee="1.75"),
        gift("gift-3", date(2026, 2, 3), amount="20.00", fee="0.88"),
        gift("gift-s1", date(2026, 2, 10), amount="30.00", fee="1.17", fund="SugarLabs"),
        payout("payout-1", date(2026, 2, 20), "160.00"),
        gift("gift-4", date(2026, 3, 5), amount="10.00", fee="0.59"),
        projects=("Twisted", "SugarLabs"),
    )
    runtime.books.load()
    return runtime


# --- queries -----------------------------------------------------------------------


def test_a_funds_transactions_page_newest_first_and_every_one_once(books: Runtime) -> None:
    index = books.books.index
    seen: list[IndexedTransaction] = []
    before = None
    pages = 0
    while True:
        page = index.fund_transactions("Twisted", before=before, limit=2)
        seen += page.transactions
        pages += 1
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == 2
    # Same day: in the books' order (gift-2 was written before gift-3), newest first.
    assert refs(seen) == ["gift-4", "gift-3", "gift-2", "gift-1"]
    assert [t.date for t in seen] == [
        date(2026, 3, 5),
        date(2026, 2, 3),
        date(2026, 2, 3),
        date(2026, 1, 15),
    ]
    newest = seen[0]
    assert (newest.payee, newest.narration, newest.flag) == ("Ada Lovelace", "Gift to Twisted", "*")
    assert (newest.stripe_id, newest.entity, newest.receipt) == ("txn_gift-4", "donor-ada", None)
    # Only the fund's own postings: not Assets:Stripe, not another fund's.
    assert [(p.account, p.fund, p.minor, p.currency) for p in newest.postings] == [
        ("Expenses:Twisted:Payment-Processing", "Twisted", 59, "USD"),
        ("Income:Twisted:Donations", "Twisted", -1000, "USD"),
    ]
    assert str(newest.change()) == "9.41 USD"
    # Where the entry is: the line of its date, as Beancount reports it.
    year = books.ledger.year_file(2026)
    lines = year.read_text("utf-8").splitlines()
    assert newest.file == "app/2026.beancount"
    assert lines[newest.line - 1].startswith('2026-03-05 * "Ada Lovelace"')
    assert lines[newest.line] == '  ref: "gift-4"'


def test_a_page_size_that_divides_the_funds_transactions_ends_without_an_empty_page(
    books: Runtime,
) -> None:
    first = books.books.index.fund_transactions("SugarLabs", limit=1)
    assert refs(first.transactions) == ["gift-s1"]
    assert first.next_before is None
    unknown = books.books.index.fund_transactions("Nobody")
    assert (unknown.transactions, unknown.next_before) == ([], None)


def test_transactions_in_a_date_range_and_the_balance_before_it(books: Runtime) -> None:
    with books.books.index.read() as view:
        february = view.transactions_between("Twisted", date(2026, 2, 1), date(2026, 2, 28))
        opening = view.balance_before("Twisted", date(2026, 2, 3))
        after = view.balance_before("Twisted", date(2026, 2, 4))
        at_start = view.balance_before("Twisted", date(2026, 1, 1))
    assert refs(february) == ["gift-2", "gift-3"]  # the payout touches no fund
    assert str(at_start) == "0.00 USD"
    assert str(opening) == "96.80 USD"  # gift-1 only: the 3rd itself is not before the 3rd
    assert str(after) == "164.17 USD"  # + 48.25 + 19.12
    # The last day is included; a range that ends before it starts is empty.
    assert refs(
        books.books.index.transactions_between("Twisted", date(2026, 3, 5), date(2026, 3, 5))
    ) == ["gift-4"]
    assert (
        books.books.index.transactions_between("Twisted", date(2026, 3, 6), date(2026, 3, 1)) == []
    )


# --- kept current ------------------------------------------------------------------


def test_appended_entries_are_indexed_from_the_tail_without_a_build(
    books: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(files: LedgerFiles) -> snap.Snapshot:
        raise AssertionError("a full build ran")

    monkeypatch.setattr(snap, "build", no_build)
    index = books.books.index
    assert refs(index.fund_transactions("Twisted").transactions)[0] == "gift-4"
    post(books, gift("gift-5", date(2026, 2, 3), amount="5.00", fee="0.45"))
    post(books, gift("gift-6", date(2026, 4, 1), amount="25.00", fee="1.03"))

    assert refs(index.fund_transactions("Twisted", limit=3).transactions) == [
        "gift-6",
        "gift-4",
        "gift-5",  # dated the 3rd of February, after what was already there that day
    ]
    snapshot = books.books.current()
    assert index.balance_before("Twisted", date(2027, 1, 1)) == snapshot.fund_balance("Twisted")


def test_an_interrupted_append_is_indexed_only_after_recovery_and_then_once(
    books: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = books.books.index
    real_write_all = outbox._write_all
    writes: list[bytes] = []

    def die_in_second_entry(fd: int, data: bytes) -> None:
        writes.append(data)
        if len(writes) == 1:
            real_write_all(fd, data)
            return
        real_write_all(fd, data[: data.index(b"\n") + 1])
        raise OSError("killed mid-append")

    monkeypatch.setattr(outbox, "_write_all", die_in_second_entry)
    with pytest.raises(OSError, match="killed"):
        post(
            books,
            gift("gift-5", date(2026, 4, 1), amount="5.00", fee="0.45"),
            gift("gift-6", date(2026, 4, 2), amount="25.00", fee="1.03"),
        )
    monkeypatch.setattr(outbox, "_write_all", real_write_all)
    assert books.ledger.journal.exists()
    assert index.catch_up() == 0
    assert refs(index.fund_transactions("Twisted", limit=1).transactions) == ["gift-4"]

    books.post_ledger()  # recovers, and appends both again
    assert refs(index.fund_transactions("Twisted", limit=3).transactions) == [
        "gift-6",
        "gift-5",
        "gift-4",
    ]
    assert ref_counts(books.ledger, ["gift-5", "gift-6"]) == {"gift-5": 1, "gift-6": 1}
    assert len(everything(index, "Twisted")) == 6


@pytest.mark.slow
def test_two_processes_catching_up_at_once_index_each_entry_once(
    books: Runtime, settings: Settings
) -> None:
    """Two readers catch up in a loop while gifts are appended, then the index is counted."""
    barrier = books.ledger.root.parent / "barrier"
    barrier.mkdir()
    readers = [
        start_helper(settings, "index_reader", str(barrier), name, "12") for name in ("a", "b")
    ]
    release_barrier(barrier, ["a", "b"], readers)
    for n in range(12):
        post(books, gift(f"race-{n}", date(2026, 4, 1 + n), amount="10.00", fee="0.59"))
    (barrier / "done").touch()
    for reader in readers:
        code, _out, err = finish(reader)
        assert code == 0, err
        assert "Traceback" not in err
    indexed = everything(books.books.index, "Twisted")
    race = [t.ref for t in indexed if t.ref and t.ref.startswith("race-")]
    assert sorted(race) == sorted(f"race-{n}" for n in range(12))  # each once
    assert books.books.index.balance_before("Twisted", date(2027, 1, 1)) == (
        books.books.current().fund_balance("Twisted")
    )


# --- staff files, rebuilds, derived data --------------------------------------------


def test_staff_entries_are_indexed_and_a_staff_edit_is_picked_up_by_the_rebuild(
    books: Runtime,
) -> None:
    files = books.ledger
    include_staff_file(files, CHEQUE)
    books.books.load()
    index = books.books.index
    cheque = [t for t in everything(index, "Twisted") if t.ref == "cheque-1042"]
    assert len(cheque) == 1
    assert (cheque[0].file, cheque[0].payee, str(cheque[0].change())) == (
        STAFF_FILE,
        "Grace Hopper",
        "250.00 USD",
    )
    # Staff entries come after the app's on the same day.
    assert [t.ref for t in everything(index, "Twisted") if t.date == date(2026, 3, 1)] == [
        "cheque-1042"
    ]
    old_files = set(files.cache_dir.glob("index-*.sqlite"))

    with (files.root / STAFF_FILE).open("a", encoding="utf-8") as fh:
        fh.write(CONTRACTOR)
    books.books.current()  # notices the edit, rebuilds in the background
    books.books.wait(PATIENCE)
    books.books.current()
    # The same reader follows the index to its new file.
    hosting = [t for t in everything(index, "Twisted") if t.narration == "Build farm hosting"]
    assert [str(t.change()) for t in hosting] == ["-40.00 USD"]
    assert index.balance_before("Twisted", date(2027, 1, 1)) == books.books.current().fund_balance(
        "Twisted"
    )
    assert not old_files & set(files.cache_dir.glob("index-*"))  # the old index is gone


def test_deleting_the_cache_and_building_again_gives_the_same_answers(books: Runtime) -> None:
    files = books.ledger
    include_staff_file(files, CHEQUE + CONTRACTOR)
    books.books.load()
    # These three come from the tails, after the build.
    post(
        books,
        gift("gift-5", date(2026, 2, 3), amount="5.00", fee="0.45"),
        gift("gift-6", date(2026, 3, 1), amount="25.00", fee="1.03"),
        gift("gift-s2", date(2026, 3, 1), amount="12.00", fee="0.65", fund="SugarLabs"),
    )

    def answers(index: TransactionIndex) -> object:
        with index.read() as view:
            return {
                fund: (
                    view.transactions_between(fund, date(2026, 1, 1), date(2026, 12, 31)),
                    view.fund_transactions(fund, limit=3),
                    view.balance_before(fund, date(2026, 3, 1)),
                )
                for fund in ("Twisted", "SugarLabs")
            }

    incremental = answers(books.books.index)
    books.books.index.close()
    shutil.rmtree(files.cache_dir)

    fresh = Books(files)
    fresh.load()
    assert answers(fresh.index) == incremental


def test_a_missing_index_is_rebuilt_while_the_snapshot_keeps_serving(books: Runtime) -> None:
    files = books.ledger
    (files.cache_dir / "index.sqlite").unlink()
    reader = TransactionIndex(files)
    with pytest.raises(BooksLoading):  # what pages catch to say "being loaded"
        reader.fund_transactions("Twisted")
    assert str(books.books.current().fund_balance("Twisted")) == "173.58 USD"  # still served
    books.books.wait(PATIENCE)
    books.books.current()
    assert refs(reader.fund_transactions("Twisted", limit=1).transactions) == ["gift-4"]


def test_fund_postings_keep_their_cents_exactly(runtime: Runtime) -> None:
    """Amounts go in as integer cents: no float ever sees them."""
    post(
        runtime,
        gift("big", date(2026, 5, 1), amount="98765432.10", fee="0.01"),
        projects=("Twisted",),
    )
    runtime.books.load()
    (big,) = everything(runtime.books.index, "Twisted")
    assert [p.amount.amount for p in big.postings] == [Decimal("0.01"), Decimal("-98765432.10")]


def test_a_web_worker_whose_index_went_missing_rebuilds_it_in_a_child(books: Runtime) -> None:
    files = books.ledger
    worker = Books(files)
    worker.start(isolated=True)  # as web workers run: rebuilds in a child process
    worker.current()
    (files.cache_dir / "index.sqlite").unlink()
    assert str(worker.current().fund_balance("Twisted")) == "173.58 USD"  # served meanwhile
    worker.wait(PATIENCE)
    worker.current()
    assert worker.last_error is None
    assert refs(worker.index.fund_transactions("Twisted", limit=1).transactions) == ["gift-4"]
    assert snap.load_saved(files) is not None


def test_queries_inside_one_read_all_see_the_same_state(books: Runtime) -> None:
    """A page reading several things at once sees one state, even if a gift lands meanwhile."""
    index = books.books.index
    with index.read() as view:
        first = view.fund_transactions("Twisted", limit=10)
        post(books, gift("gift-5", date(2026, 4, 1), amount="5.00", fee="0.45"))
        # A helper that asks the index itself, in the middle of the page:
        assert index.fund_transactions("Twisted", limit=10) == first
        assert view.balance_before("Twisted", date(2027, 1, 1)) == factories.usd("173.58")
    assert refs(index.fund_transactions("Twisted", limit=1).transactions) == ["gift-5"]
