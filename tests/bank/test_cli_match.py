"""``conservancy bank unmatch`` and ``bank match``: a wrong match undone and made by hand
from the command line, ``bank lines`` naming the entries a waiting line may be."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from conservancy.bank.models import BankLine
from conservancy.bank.statement import StatementLine
from conservancy.kernel import clock
from conservancy.money import Money
from conservancy.runtime import Runtime
from tests.bank import statements
from tests.cli import run_cli
from tests.ledger.test_index import payout, post


def test_a_wrong_match_is_undone_and_made_by_hand(runtime: Runtime, tmp_path: Path) -> None:
    today = clock.today(runtime.settings.timezone)
    post(
        runtime,
        payout("stripe-txn_a", today - timedelta(5), "96.80"),
        payout("stripe-txn_b", today - timedelta(2), "96.80"),
    )
    usd = Money.parse
    path = tmp_path / "statement.ofx"
    path.write_bytes(
        statements.to_ofx(
            statements.days_back(
                today,
                10,
                1,
                "0.00",
                "193.60",
                StatementLine("P-1", today - timedelta(3), usd("96.80", "USD"), "", "po_a"),
                StatementLine("P-2", today - timedelta(1), usd("96.80", "USD"), "", "po_b"),
            )
        )
    )
    assert run_cli(runtime.settings, "bank", "import", str(path)).returncode == 0
    with runtime.sessions() as session:
        first = session.scalars(select(BankLine).where(BankLine.bank_id == "P-1")).one()
        assert [m.entry_key for m in first.matches] == ["stripe-txn_b"]  # the nearer
        line_id = first.id

    undone = run_cli(runtime.settings, "bank", "unmatch", str(line_id))
    assert undone.returncode == 0, undone.stderr
    assert undone.stdout == (
        f"unmatched: line {line_id}, {today - timedelta(3)} $96.80; it waits\n"
    )
    listed = run_cli(runtime.settings, "bank", "lines").stdout
    assert f"    or match it to stripe-txn_b: {today - timedelta(2)} Stripe payout" in listed

    taken = run_cli(runtime.settings, "bank", "match", str(line_id), "stripe-txn_a")
    assert taken.returncode == 1
    assert taken.stderr.startswith("error: Choose one of the entries listed")
    done = run_cli(runtime.settings, "bank", "match", str(line_id), "stripe-txn_b")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"matched: line {line_id}, {today - timedelta(3)} $96.80")
    with runtime.sessions() as session:
        again = session.get(BankLine, line_id)
        assert again is not None
        assert [m.entry_key for m in again.matches] == ["stripe-txn_b"]
