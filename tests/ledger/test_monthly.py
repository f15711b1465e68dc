"""A fund's income and expenses by month, served from the snapshot in memory.

What a treasurer's dashboard shows: this month's and this year's income and
expenses by account, and donations month by month. Kept current by catch-up
(a gift shows in its month at once), saved and loaded with the snapshot.
"""

from __future__ import annotations

from datetime import date

import pytest

from conservancy.ledger import snapshot as snap
from conservancy.ledger.books import Books
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests import factories


def post(runtime: Runtime, *entries: Transaction, projects: tuple[str, ...] = ()) -> None:
    with runtime.sessions() as session:
        for name in projects:
            factories.project(session, slug=name.lower(), name=name)
        for entry in entries:
            record(session, entry)
        session.commit()
    runtime.post_ledger()


def fee(ref: str, on: date, amount: str, fund: str = "Twisted") -> Transaction:
    return Transaction(
        ref=ref,
        date=on,
        narration="Sponsorship fee",
        postings=(
            Posting(f"Expenses:{fund}:Sponsorship-Fees", factories.usd(amount)),
            Posting("Income:General:Sponsorship-Fees", -factories.usd(amount)),
        ),
    )


def refund(ref: str, on: date, amount: str) -> Transaction:
    return Transaction(
        ref=ref,
        date=on,
        payee="Ada Lovelace",
        narration="Refund",
        postings=(
            Posting("Income:Twisted:Donations", factories.usd(amount)),
            Posting("Assets:Stripe", -factories.usd(amount)),
        ),
    )


def shown(figures: snap.FundFigures) -> dict[str, object]:
    return {
        "income": {a: str(m) for a, m in figures.income.items()},
        "expenses": {a: str(m) for a, m in figures.expenses.items()},
        "net_assets": str(figures.net_assets),
        "change": str(figures.change),
    }


@pytest.fixture
def books(runtime: Runtime) -> Runtime:
    """Twisted: gifts in January and March 2026, a sponsorship fee, a refund."""
    post(
        runtime,
        factories.gift("gift-1", on=date(2026, 1, 15)),
        fee("fee-1", date(2026, 1, 15), "10.00"),
        factories.gift("gift-2", amount="50.00", fee="1.75", on=date(2026, 3, 2)),
        refund("refund-1", date(2026, 3, 20), "20.00"),
        projects=("Twisted",),
    )
    runtime.books.load()
    return runtime


def test_a_funds_month_and_year_by_account(books: Runtime) -> None:
    snapshot = books.books.current()
    assert shown(snapshot.fund_month("Twisted", "2026-03")) == {
        "income": {"Income:Twisted:Donations": "30.00 USD"},  # 50.00 less the 20.00 refund
        "expenses": {"Expenses:Twisted:Payment-Processing": "1.75 USD"},
        "net_assets": "0.00 USD",
        "change": "28.25 USD",
    }
    assert shown(snapshot.fund_month("Twisted", "2026-02")) == {
        "income": {},
        "expenses": {},
        "net_assets": "0.00 USD",
        "change": "0.00 USD",
    }
    year = snapshot.fund_year("Twisted", 2026)
    assert shown(year) == {
        "income": {"Income:Twisted:Donations": "130.00 USD"},
        "expenses": {
            "Expenses:Twisted:Payment-Processing": "4.95 USD",
            "Expenses:Twisted:Sponsorship-Fees": "10.00 USD",
        },
        "net_assets": "0.00 USD",
        "change": "115.05 USD",
    }
    assert (str(year.income_total), str(year.expenses_total)) == ("130.00 USD", "14.95 USD")
    assert str(snapshot.fund_figures("Twisted", "2026-01", "2026-02").income_total) == "100.00 USD"
    # The other side of the sponsorship fee is the sponsor's own income.
    assert str(snapshot.fund_year("General", 2026).income_total) == "10.00 USD"
    assert str(snapshot.fund_income_in_year("Twisted", 2026)) == "130.00 USD"


def test_donations_month_by_month_with_empty_months(books: Runtime) -> None:
    months = books.books.current().donations_by_month("Twisted", "2026-04", 6)
    assert [(m, str(v)) for m, v in months] == [
        ("2025-11", "0.00 USD"),
        ("2025-12", "0.00 USD"),
        ("2026-01", "100.00 USD"),
        ("2026-02", "0.00 USD"),
        ("2026-03", "30.00 USD"),
        ("2026-04", "0.00 USD"),
    ]


def test_a_new_gift_shows_in_its_month_at_once_and_earlier_snapshots_stay_as_they_were(
    books: Runtime,
) -> None:
    before = books.books.current()
    post(books, factories.gift("gift-3", amount="25.00", fee="1.03", on=date(2026, 3, 28)))
    after = books.books.current()
    assert str(after.fund_month("Twisted", "2026-03").income_total) == "55.00 USD"
    # A page still holding the snapshot it started with sees one state of the books.
    assert str(before.fund_month("Twisted", "2026-03").income_total) == "30.00 USD"
    assert after.donations_by_month("Twisted", "2026-03", 1)[0][1] == factories.usd("55.00")


def test_monthly_figures_are_saved_and_loaded_with_the_snapshot(
    books: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = books.books.current().monthly

    def no_build(files: LedgerFiles) -> snap.Snapshot:
        raise AssertionError("a full build ran")

    monkeypatch.setattr(snap, "build", no_build)
    fresh = Books(books.ledger)
    fresh.start()
    assert fresh.current().monthly == expected
    assert str(fresh.current().fund_year("Twisted", 2026).change) == "115.05 USD"


def test_months_must_be_months(books: Runtime) -> None:
    snapshot = books.books.current()
    with pytest.raises(ValueError, match="YYYY-MM"):
        snapshot.fund_month("Twisted", "2026-13")
    with pytest.raises(ValueError, match="YYYY-MM"):
        snapshot.donations_by_month("Twisted", "March", 3)
