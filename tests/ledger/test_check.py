"""``conservancy ledger check``: Beancount's validation plus our invariants.

The command is run as a user runs it, with click's runner in the test's process
(tests/cli.py; tests/foundation runs the console script itself); ``check_books`` is also
tested directly for what needs a hand-made app file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest

from conservancy.infra.config import Settings
from conservancy.ledger.check import check_books
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.outbox import record
from conservancy.ledger.snapshot import build
from conservancy.runtime import Runtime
from tests import factories
from tests.cli import run_cli


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()


def run_check(settings: Settings) -> Run:
    done = run_cli(settings, "ledger", "check")
    for stream in (done.stdout, done.stderr):
        assert "Traceback" not in stream, stream
    return Run(done.returncode, done.stdout, done.stderr)


def post(runtime: Runtime, *entries: Transaction, projects: Sequence[tuple[str, str]] = ()) -> None:
    with runtime.sessions() as session:
        for slug, name in projects:
            factories.project(session, slug=slug, name=name)
        for entry in entries:
            record(session, entry)
        session.commit()
    runtime.post_ledger()


def add_staff_file(runtime: Runtime, text: str, name: str = "staff.beancount") -> Path:
    """A file of the staff's own, included from main.beancount."""
    path = runtime.ledger.root / name
    path.write_text(text, "utf-8")
    with runtime.ledger.main.open("a", encoding="utf-8") as fh:
        fh.write(f'include "{name}"\n')
    return path


def line_of(path: Path, needle: str) -> int:
    """The 1-based line number of the first line containing needle."""
    for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} is not in {path}")


def app_entry_line(runtime: Runtime, ref: str) -> int:
    """Where Beancount says an app entry is: the line of its date, just above its ref."""
    return line_of(runtime.ledger.year_file(2026), f'ref: "{ref}"') - 1


STAFF_HEADER = "; Corrections by the bookkeeper.\n\n"

UNBALANCED = (
    STAFF_HEADER + '2026-04-02 * "Hand-made cheque" "typed 90 for 100"\n'
    '  ref: "staff-cheque-1"\n'
    "  Assets:Bank:Checking        100.00 USD\n"
    "  Income:Twisted:Donations    -90.00 USD\n\n"
)


def copied_ref(ref: str) -> str:
    return (
        STAFF_HEADER + '2026-04-03 * "Cheque from Grace"\n'
        f'  ref: "{ref}"\n'
        "  Assets:Bank:Checking        25.00 USD\n"
        "  Income:Twisted:Donations   -25.00 USD\n\n"
    )


@pytest.fixture
def books_with_gifts(runtime: Runtime) -> Runtime:
    post(
        runtime,
        factories.gift("gift-1"),
        factories.gift("gift-2", amount="50.00", fee="1.75"),
        projects=[("twisted", "Twisted")],
    )
    return runtime


# --- the command -----------------------------------------------------------


def test_check_passes_clean_books(books_with_gifts: Runtime, settings: Settings) -> None:
    result = run_check(settings)
    assert result.returncode == 0, result
    assert result.lines == ["ok: 2 transactions, 18 refs, no problems"]


def test_check_reports_a_hand_made_imbalance_once_with_its_file_and_line(
    books_with_gifts: Runtime, settings: Settings
) -> None:
    staff = add_staff_file(books_with_gifts, UNBALANCED)
    result = run_check(settings)
    assert result.returncode == 1
    assert len(result.lines) == 1, result.stdout
    line = line_of(staff, "Hand-made cheque")
    assert result.lines[0].startswith(f"staff.beancount:{line}: ")
    assert "does not balance" in result.lines[0]


def test_check_reports_a_duplicated_ref_naming_both_places(
    books_with_gifts: Runtime, settings: Settings
) -> None:
    staff = add_staff_file(books_with_gifts, copied_ref("gift-1"))
    result = run_check(settings)
    assert result.returncode == 1
    assert len(result.lines) == 1, result.stdout
    (problem,) = result.lines
    assert '"gift-1"' in problem
    assert f"staff.beancount:{line_of(staff, 'Cheque from Grace')}" in problem
    assert f"app/2026.beancount:{app_entry_line(books_with_gifts, 'gift-1')}" in problem


def test_check_prints_one_line_per_problem(books_with_gifts: Runtime, settings: Settings) -> None:
    add_staff_file(books_with_gifts, UNBALANCED)
    add_staff_file(books_with_gifts, copied_ref("gift-2"), name="more.beancount")
    result = run_check(settings)
    assert result.returncode == 1
    assert len(result.lines) == 2, result.stdout
    assert sum("does not balance" in line for line in result.lines) == 1
    assert sum('"gift-2"' in line for line in result.lines) == 1
    assert "2 problems" in result.stderr


def test_check_flags_an_account_outside_any_fund(
    books_with_gifts: Runtime, settings: Settings
) -> None:
    staff = add_staff_file(
        books_with_gifts,
        STAFF_HEADER + "2026-01-01 open Income:Misc\n\n"
        '2026-04-04 * "Interest"\n'
        "  Assets:Bank:Checking   1.25 USD\n"
        "  Income:Misc           -1.25 USD\n\n",
    )
    result = run_check(settings)
    assert result.returncode == 1
    assert result.lines == [
        f"staff.beancount:{line_of(staff, 'Interest')}: Income:Misc belongs to no fund"
    ]


def test_check_flags_books_without_the_zero_tolerance_option(
    books_with_gifts: Runtime, settings: Settings
) -> None:
    main = books_with_gifts.ledger.main
    text = main.read_text("utf-8")
    assert 'option "tolerance_multiplier" "0"\n' in text
    main.write_text(text.replace('option "tolerance_multiplier" "0"\n', ""), "utf-8")
    result = run_check(settings)
    assert result.returncode == 1
    assert len(result.lines) == 1, result.stdout
    assert result.lines[0].startswith("main.beancount: ")
    assert "tolerance_multiplier" in result.lines[0]


def test_check_flags_an_entry_posted_in_the_database_but_deleted_from_the_books(
    books_with_gifts: Runtime, settings: Settings
) -> None:
    year = books_with_gifts.ledger.year_file(2026)
    blocks = year.read_text("utf-8").split("\n\n")
    kept = [block for block in blocks if 'ref: "gift-2"' not in block]
    assert len(kept) == len(blocks) - 1
    year.write_text("\n\n".join(kept), "utf-8")
    result = run_check(settings)
    assert result.returncode == 1
    assert len(result.lines) == 1, result.stdout
    assert '"gift-2"' in result.lines[0]
    assert "not in the books" in result.lines[0]


# --- check_books -----------------------------------------------------------


def test_app_entry_with_three_decimals_is_flagged(books_with_gifts: Runtime) -> None:
    files = books_with_gifts.ledger
    year = files.year_file(2026)
    with year.open("a", encoding="utf-8") as fh:
        fh.write(
            '2026-04-05 * "Ada Lovelace" "Gift to Twisted"\n'
            '  ref: "gift-odd"\n'
            "  Assets:Stripe                        96.805 USD\n"
            "  Expenses:Twisted:Payment-Processing   3.195 USD\n"
            "  Income:Twisted:Donations           -100.00 USD\n\n"
        )
    result = check_books(files)
    assert [str(p) for p in result.problems] == [
        f"app/2026.beancount:{line_of(year, 'gift-odd') - 1}: "
        'ref "gift-odd": 96.805 USD has more than two decimals',
        f"app/2026.beancount:{line_of(year, 'gift-odd') - 1}: "
        'ref "gift-odd": 3.195 USD has more than two decimals',
    ]


def test_app_entry_edited_out_of_balance_is_reported_once(books_with_gifts: Runtime) -> None:
    files = books_with_gifts.ledger
    year = files.year_file(2026)
    year.write_text(year.read_text("utf-8").replace("-100.00 USD", "-90.00 USD"), "utf-8")
    problems = [str(p) for p in check_books(files).problems]
    assert problems == [
        f"app/2026.beancount:{app_entry_line(books_with_gifts, 'gift-1')}: "
        "Transaction does not balance: (10.00 USD)"
    ]


def test_app_entry_without_a_ref_is_flagged(books_with_gifts: Runtime) -> None:
    files = books_with_gifts.ledger
    with files.year_file(2026).open("a", encoding="utf-8") as fh:
        fh.write(
            '2026-04-05 * "Typed into the app file"\n'
            "  Assets:Bank:Checking        10.00 USD\n"
            "  Income:Twisted:Donations   -10.00 USD\n\n"
        )
    problems = [str(p) for p in check_books(files).problems]
    assert len(problems) == 1
    assert "has no ref" in problems[0]


def test_funds_add_up_to_net_assets_on_clean_books_with_several_funds(runtime: Runtime) -> None:
    post(
        runtime,
        factories.gift("gift-t1"),
        factories.gift("gift-s1", fund="SugarLabs", amount="250.00", fee="7.55"),
        factories.gift("gift-s2", fund="SugarLabs", amount="20.00", fee="0.88"),
        Transaction(
            ref="fee-t1",
            date=factories.gift("x").date,
            narration="Sponsorship fee",
            postings=(
                Posting("Expenses:Twisted:Sponsorship-Fees", factories.usd("10.00")),
                Posting("Income:General:Sponsorship-Fees", factories.usd("-10.00")),
            ),
        ),
        projects=[("twisted", "Twisted"), ("sugar-labs", "Sugar Labs")],
    )
    add_staff_file(
        runtime,
        STAFF_HEADER + '2026-05-01 * "Reclassify a restricted gift"\n'
        "  Equity:Net-Assets:SugarLabs    30.00 USD\n"
        "  Equity:Net-Assets:Twisted     -30.00 USD\n\n"
        '2026-05-02 * "Pay a contractor"\n'
        "  Expenses:Twisted:Contractors   40.00 USD\n"
        "  Assets:Bank:Checking          -40.00 USD\n\n"
        '2026-01-01 open Expenses:Twisted:Contractors\n  function: "program"\n',
    )
    result = check_books(runtime.ledger, posted_refs=["gift-t1", "gift-s1", "fee-t1"])
    assert result.problems == []
    assert result.transactions == 6

    # The same identity, seen through the balances pages show.
    snapshot = build(runtime.ledger)
    funds = {f: snapshot.fund_balance(f) for f in ("General", "Twisted", "SugarLabs")}
    assert {f: str(m) for f, m in funds.items()} == {
        "General": "10.00 USD",
        "Twisted": "76.80 USD",  # 96.80 - 10.00 fee + 30.00 from SugarLabs - 40.00 paid out
        "SugarLabs": "231.57 USD",  # 242.45 + 19.12 - 30.00 to Twisted
    }
    net_assets = snapshot.account_balance("Assets:Stripe") + snapshot.account_balance(
        "Assets:Bank:Checking"
    )
    assert sum((m.amount for m in funds.values()), Decimal(0)) == net_assets


def test_funds_not_adding_up_to_net_assets_is_reported(runtime: Runtime) -> None:
    """A residual Beancount tolerates (here without the zero-tolerance option) still shows."""
    post(runtime, factories.gift("gift-1"), projects=[("twisted", "Twisted")])
    main = runtime.ledger.main
    main.write_text(
        main.read_text("utf-8").replace('option "tolerance_multiplier" "0"\n', ""), "utf-8"
    )
    add_staff_file(
        runtime,
        STAFF_HEADER + '2026-04-06 * "Cheque, typed with a stray digit"\n'
        "  Assets:Bank:Checking       10.004 USD\n"
        "  Income:Twisted:Donations  -10.00 USD\n\n",
    )
    messages = [p.message for p in check_books(runtime.ledger).problems]
    assert len(messages) == 2, messages
    assert "tolerance_multiplier" in messages[0]
    assert messages[1] == "the funds add up to 106.80 USD but net assets are 106.804 USD"


def test_a_staff_posting_to_a_fund_in_fractions_of_a_cent_is_flagged(
    books_with_gifts: Runtime,
) -> None:
    """Fund figures are kept in cents; a staff entry of 10.005 would make their sums drift."""
    staff = add_staff_file(
        books_with_gifts,
        STAFF_HEADER + "2026-01-01 open Assets:Bank:Savings\n\n"
        '2026-04-07 * "Interest, split by hand"\n'
        "  Assets:Bank:Savings            20.01 USD\n"
        "  Income:Twisted:Donations      -10.005 USD\n"
        "  Income:General:Donations      -10.005 USD\n\n"
        '2026-04-08 * "Bank fee, to the tenth of a cent"\n'
        "  Assets:Bank:Savings           -0.125 USD\n"
        "  Assets:Bank:Checking           0.125 USD\n\n",
    )
    where = f"staff.beancount:{line_of(staff, 'Interest, split by hand')}"
    assert [str(p) for p in check_books(books_with_gifts.ledger).problems] == [
        f"{where}: Income:Twisted:Donations -10.005 USD is not in whole cents "
        "(fund figures are kept in cents)",
        f"{where}: Income:General:Donations -10.005 USD is not in whole cents "
        "(fund figures are kept in cents)",
    ]
