"""Bank reconciliation, end to end: the bank's statement of a month in which Stripe paid
out card gifts, two cheques were deposited on one slip, an expense was paid by cheque, a
company's sponsorship cheque came in, and the bank charged a fee and paid interest that
the books do not hold yet.

The statement is written in each format (OFX, CSV, camt.053) from what the books and
the stand-in hold, imported with ``conservancy bank import``: four lines match, two
are proposed; once they are confirmed the closing balance is asserted, ``bean-check``
and ``ledger check`` pass, and importing again books nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from beancount import loader
from beancount.core import data
from sqlalchemy import func, select

from conservancy.bank.formats import CsvMap
from conservancy.bank.models import BankLine, BankStatement, LineStatus
from conservancy.bank.statement import Statement, StatementLine
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.money import Currency, Money
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import PaidBy, SponsorshipInvoice
from conservancy.sponsorships.service import record_bank_payment
from conservancy.standin import StandIn
from tests import factories
from tests.bank import statements
from tests.giving.conftest import LiveServer
from tests.giving.flows import control, give, run_cli, settle_webhooks, stripe_env, usd
from tests.sponsorships.sponsors import gold_level, signed_up

ACCOUNT_NUMBER = "000123456789"
WRITERS: dict[str, Callable[[Statement], bytes]] = {
    "ofx": lambda st: statements.to_ofx(st),
    "csv": lambda st: statements.to_csv(
        st, CsvMap(id="Reference", balance="Balance", check_number="Check")
    ),
    "camt.053": lambda st: statements.to_camt053(st),
}
CSV_MAP = '{"id": "Reference", "balance": "Balance", "check_number": "Check"}'


def line(
    bank_id: str, on: date, amount: str, payee: str = "", memo: str = "", check: str | None = None
) -> StatementLine:
    return StatementLine(bank_id, on, usd(amount), payee, memo, check)


def month_of_banking(rt: Runtime, standin: StandIn, today: date) -> tuple[StatementLine, ...]:
    """What happened, in the books and at the stand-in; the bank's lines for it."""
    with rt.sessions() as session:
        factories.project(session, fee_rate_bp=1000)
        session.commit()
    rt.post_ledger()
    factories.cheque(rt, "Grace Hopper", "150.00", today - timedelta(8))
    factories.cheque(rt, "Alan Kay", "75.50", today - timedelta(7))
    factories.expense(rt, amount="40.00", payee="Hosting Co.", paid_on=today - timedelta(5))
    give(rt, standin, "100.00")
    give(rt, standin, "250.00")
    settle_webhooks(rt, standin)
    payout = control(standin, "payouts")
    assert payout["status"] == "paid"
    settle_webhooks(rt, standin)
    deposit = Money.from_minor(payout["amount"], "USD")
    number = signed_up(rt, gold_level(rt))
    with rt.sessions() as session:
        invoice = session.scalars(
            select(SponsorshipInvoice).where(SponsorshipInvoice.number == number)
        ).one()
        record_bank_payment(
            session, "tests", invoice, paid_by=PaidBy.CHEQUE, received_on=today, reference="5521"
        )
        sponsorship = invoice.amount
        session.commit()
    rt.post_ledger()
    return (
        line("B-1", today - timedelta(6), "225.50", memo="DEPOSIT 2 ITEMS"),
        line("B-2", today - timedelta(2), "-40.00", memo="CHECK PAID", check="2201"),
        line("B-3", today - timedelta(1), "-12.00", memo="MONTHLY SERVICE FEE"),
        line("B-4", today - timedelta(1), "0.87", memo="INTEREST PAYMENT"),
        StatementLine("B-5", today, deposit, "STRIPE", "STRIPE TRANSFER ST-PAYOUT"),
        StatementLine("B-6", today, sponsorship, "", "COUNTER DEPOSIT"),
    )


def bank_statement(lines: tuple[StatementLine, ...], first: date, last: date) -> Statement:
    closing = sum((item.amount for item in lines), Money.zero(Currency.USD))
    return Statement(
        format="",
        account_number=ACCOUNT_NUMBER,
        currency=Currency.USD,
        start=first,
        end=last,
        opening=Money.zero(Currency.USD),
        closing=closing,
        lines=lines,
    )


def balances(rt: Runtime) -> list[data.Balance]:
    entries, errors, _ = loader.load_file(str(rt.ledger.main))
    assert errors == [], errors  # bean-check's own verdict, balance assertions included
    return [e for e in entries if isinstance(e, data.Balance)]


@pytest.mark.parametrize("kind", sorted(WRITERS))
def test_a_months_statement_matches_proposes_asserts_and_imports_once(
    kind: str,
    giving_runtime: Runtime,
    standin: StandIn,
    live: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = giving_runtime
    today = clock.today(rt.settings.timezone)
    lines = month_of_banking(rt, standin, today)
    statement = bank_statement(lines, today - timedelta(9), today)
    path = rt.settings.instance_dir / f"statement.{kind.split('.')[0]}"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(WRITERS[kind](statement))
    env = {
        **stripe_env(rt.settings, standin),
        "CONSERVANCY_BANK_ACCOUNTS": (
            f'{{"Assets:Bank:Checking": {{"number": "{ACCOUNT_NUMBER}", "csv": {CSV_MAP}}}}}'
        ),
    }
    # The statement ends today: its balance is asserted once today has ended.
    monkeypatch.setattr(clock, "today", lambda tz: today + timedelta(1))

    done = run_cli(env, "bank", "import", str(path), "--account", "Assets:Bank:Checking")
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    # A CSV file names no period: it runs from its first line's day.
    first = lines[0].date if kind == "csv" else statement.start
    assert f"for Assets:Bank:Checking, {first} to {today} ({kind}): 6 lines, 6 new" in out
    assert "matched: 4 lines to entries in the books" in out
    assert "waiting: 2 lines for a decision" in out
    assert "not asserted: 2 line(s) up to" in out
    assert "reconciled through: not yet" in out
    with rt.sessions() as session:
        by_bank_id = {row.bank_id: row for row in session.scalars(select(BankLine))}
        # The deposit slip carried both cheques; the cheque paid out is the expense.
        assert [m.narration for m in by_bank_id["B-1"].matches] == [
            "Grace Hopper Gift to Twisted: cheque no. 1234",
            "Alan Kay Gift to Twisted: cheque no. 1234",
        ]
        assert [m.entry_key for m in by_bank_id["B-2"].matches] == ["expense-1"]
        assert by_bank_id["B-5"].matches[0].entry_key.startswith("stripe-txn_")
        (sponsor_cheque,) = by_bank_id["B-6"].matches
        assert sponsor_cheque.entry_key.startswith("sponsorship-INV-")
        assert sponsor_cheque.entry_key.endswith("/payment")
        assert {b: by_bank_id[b].status for b in ("B-3", "B-4")} == {
            "B-3": LineStatus.PROPOSED,
            "B-4": LineStatus.PROPOSED,
        }
        assert by_bank_id["B-3"].proposed_account == "Expenses:General:Bank-Fees"
        assert by_bank_id["B-4"].proposed_account == "Income:General:Interest"
        fee_id, interest_id = by_bank_id["B-3"].id, by_bank_id["B-4"].id
    assert balances(rt) == []  # nothing asserted, nothing booked for the proposals yet

    booked = run_cli(env, "bank", "confirm", str(fee_id))
    assert booked.returncode == 0, booked.stdout + booked.stderr
    assert booked.stdout.startswith(
        f"booked: bank-line-{fee_id} {today - timedelta(1)} -$12.00 to Expenses:General:Bank-Fees"
    )
    assert "not asserted: 1 line(s) up to" in booked.stdout
    last = run_cli(env, "bank", "confirm", str(interest_id), "--narration", "Interest, November")
    assert last.returncode == 0, last.stdout + last.stderr
    closing = statement.closing
    assert closing is not None
    assert f"asserted: Assets:Bank:Checking {closing.format()} at the end of {today}" in last.stdout

    # A booked line has its own entry in the books: it is not "unmatched".
    kept = run_cli(env, "bank", "unmatch", str(fee_id))
    assert kept.returncode == 1
    assert kept.stderr.splitlines() == [
        "error: That line is booked, not matched: only a match can be undone."
    ]

    asserted = balances(rt)
    assert [(b.date, b.account, b.amount.number) for b in asserted] == [
        (today + timedelta(1), "Assets:Bank:Checking", closing.amount)
    ]
    checked = run_cli(env, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    if kind == "ofx":  # where reconciliation meets the year-end package (once is enough)
        out = rt.settings.instance_dir / "year-end"
        package = run_cli(env, "report", "year-end", "--year", str(today.year), "--out", str(out))
        assert package.returncode == 0, package.stdout + package.stderr
        assert "every total ties to the books to the cent" in package.stdout
        viii = (out / "part-viii.csv").read_text()
        assert '\n3,"Investment income (interest, dividends and similar amounts)",0.87,' in viii
        ix = [row for row in (out / "part-ix.csv").read_text().splitlines() if "Bank-Fees" in row]
        # Line 24e, all other expenses: 12.00 in all, none program, 12.00 management.
        assert ix == [
            "24e,All other expenses,12.00,0.00,12.00,0.00,0.00,USD,Expenses:General:Bank-Fees"
        ]
    listed = run_cli(env, "bank", "lines")
    assert listed.stdout.splitlines()[-1] == f"0 lines waiting; reconciled through: {today}"

    # The same file again, and the same month in another format: nothing is booked twice.
    with rt.sessions() as session:
        refs_before = session.scalar(select(func.count()).select_from(LedgerOutbox))
    again = run_cli(env, "bank", "import", str(path))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "was imported for Assets:Bank:Checking before" in again.stdout
    assert "nothing written" in again.stdout
    other = next(k for k in sorted(WRITERS) if k != kind)
    overlap = rt.settings.instance_dir / f"again.{other.split('.')[0]}"
    overlap.write_bytes(WRITERS[other](statement))
    twice = run_cli(env, "bank", "import", str(overlap))
    assert twice.returncode == 0, twice.stdout + twice.stderr
    assert "6 lines, 0 new, 6 imported before" in twice.stdout
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(LedgerOutbox)) == refs_before
        assert session.scalar(select(func.count()).select_from(BankLine)) == 6
        assert session.scalar(select(func.count()).select_from(BankStatement)) == 2
    assert len(balances(rt)) == 1
