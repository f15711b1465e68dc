"""Books of two years, 2026 to be closed in March 2027, for the year-close tests.

2026: card gifts to Twisted and Inkscape, a partial refund, an expense the
application booked, and the bookkeeper's hand entries (a contractor, a transfer
between funds, a bank fee). 2027: a gift and a hand entry. The bookkeeper's
file starts as one file included from main.beancount; :func:`move_to_closed`
does what the refused close tells the staff to do with its 2026 entries.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from beancount import loader
from beancount.core import data

from conservancy.ledger import accounts
from conservancy.ledger.entries import Open, Posting, Transaction
from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests import factories

TODAY = date(2027, 3, 1)  # the sponsor's today while the tests close 2026
STAFF_FILE = "staff.beancount"
CLOSED_STAFF_FILE = "closed/staff-2026.beancount"
STAFF_OPENS = (
    "; The bookkeeper's own entries.\n\n"
    '2026-01-01 open Expenses:Twisted:Contractors\n  function: "program"\n'
    '2026-01-01 open Expenses:General:Bank-Fees\n  function: "management"\n\n'
)
STAFF_2026 = (
    '2026-02-25 * "Build farm" "Contractor for the build farm"\n'
    '  ref: "staff-contractor-1"\n'
    "  Expenses:Twisted:Contractors   40.00 USD\n"
    "  Assets:Bank:Checking          -40.00 USD\n\n"
    '2026-12-31 * "Move part of a gift to the sponsor\'s fund"\n'
    '  ref: "staff-transfer-1"\n'
    "  Equity:Net-Assets:Twisted     20.00 USD\n"
    "  Equity:Net-Assets:General    -20.00 USD\n\n"
)
STAFF_2027 = (
    '2027-02-28 * "First Bank" "Monthly account fee"\n'
    '  ref: "staff-bank-fee-2027-02"\n'
    "  Expenses:General:Bank-Fees    15.00 USD\n"
    "  Assets:Bank:Checking         -15.00 USD\n\n"
)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


def build_books(rt: Runtime) -> Runtime:
    factories.with_project(rt)
    factories.with_project(rt, "inkscape", "Inkscape")
    factories.settled_gift(rt, at=at(3, 1))  # 100.00, 3.20 card fee, 10.00 sponsorship
    grace = factories.settled_gift(
        rt, email="grace@example.org", name="Grace Hopper", amount="50.00", fee="1.75", at=at(5, 2)
    )
    factories.refund(rt, grace, "20.00", "re_grace")
    factories.settled_gift(
        rt, email="ink@example.org", name="Ink Fan", amount="80.00", slug="inkscape", at=at(9, 9)
    )
    travel = "Expenses:Twisted:Travel"
    with rt.sessions() as session:
        record(
            session,
            Open(
                ref=f"open:{travel}",
                date=date(2026, 1, 1),
                account=travel,
                meta=(("function", "program"),),
            ),
        )
        record(
            session,
            Transaction(
                ref="expense-1",
                date=date(2026, 6, 10),
                payee="Rail Co",
                narration="Train to the sprint",
                postings=(
                    Posting(travel, factories.usd("30.00")),
                    Posting(accounts.CHECKING, factories.usd("-30.00")),
                ),
            ),
        )
        session.commit()
    rt.post_ledger()
    factories.settled_gift(
        rt, email="ada@example.org", name="Ada Lovelace", amount="60.00", at=at(1, 15, 2027)
    )
    root = rt.ledger.root
    (root / STAFF_FILE).write_text(STAFF_OPENS + STAFF_2026 + STAFF_2027, "utf-8")
    with rt.ledger.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{STAFF_FILE}"\n')
    rt.books.load()
    return rt


def move_to_closed(rt: Runtime) -> None:
    """What the refusal asks of the staff: the 2026 entries into closed/, the rest stays."""
    root = rt.ledger.root
    (root / "closed").mkdir(exist_ok=True)
    (root / CLOSED_STAFF_FILE).write_text("; 2026, by hand.\n\n" + STAFF_2026, "utf-8")
    (root / STAFF_FILE).write_text(STAFF_OPENS + STAFF_2027, "utf-8")


def beancount_load(path: str) -> list[data.Directive]:
    entries, errors, _options = loader.load_file(path)
    assert not errors, [e.message for e in errors]
    return entries


def fund_balances(entries: list[data.Directive]) -> dict[str, Decimal]:
    """Every fund's balance as SPEC section 6 defines it, from Beancount's own entries."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        for posting in getattr(entry, "postings", None) or []:
            fund = accounts.fund_of(posting.account)
            if fund is not None:
                totals[fund] -= posting.units.number
    return dict(totals)


def account_balances(entries: list[data.Directive], until: date) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if isinstance(entry, data.Transaction) and entry.date <= until:
            for posting in entry.postings:
                totals[posting.account] += posting.units.number
    return dict(totals)
