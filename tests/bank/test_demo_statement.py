"""The demo's bank statement (``GET /demo/bank-statement``): made from the books' own bank
account, it imports with every payout, cheque deposit and payment matched, and only the
bank's fee and interest left to decide."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from conservancy import create_app
from conservancy.bank import service
from conservancy.bank.models import BankLine, LineStatus
from conservancy.infra.config import Environment
from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff.audit import COMMAND_LINE
from tests import factories
from tests.ledger.test_index import payout, post


def test_the_demo_statement_matches_the_books_but_for_the_fee_and_interest(
    runtime: Runtime,
) -> None:
    rt = runtime
    today = clock.today(rt.settings.timezone)
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    factories.cheque(rt, "Grace Hopper", "150.00", today - timedelta(4))
    factories.cheque(rt, "Alan Kay", "75.50", today - timedelta(4))
    factories.expense(rt, amount="40.00", paid_on=today - timedelta(3))
    post(rt, payout("stripe-txn_demo", today - timedelta(1), "96.80"))
    rt.settings = replace(rt.settings, env=Environment.DEMO)
    app = create_app(runtime=rt)
    app.config.update(TESTING=True)

    got = app.test_client().get("/demo/bank-statement")
    assert got.status_code == 200
    assert got.headers["Content-Disposition"] == (f'attachment; filename="demo-bank-{today}.ofx"')
    assert got.data.startswith(b"OFXHEADER:100")

    with rt.sessions() as session:
        result = service.import_statement(
            session,
            rt.books.index,
            rt.settings.bank_accounts[0],
            got.data,
            file_name="demo.ofx",
            actor=COMMAND_LINE,
            today=today,
        )
        session.commit()
        # Payout, expense, and one deposit slip of both cheques; then fee and interest.
        assert (result.new_lines, result.matched, result.proposed) == (5, 3, 2)
        waiting = session.scalars(
            select(BankLine).where(BankLine.status == LineStatus.PROPOSED).order_by(BankLine.id)
        ).all()
        assert [(line.memo or line.payee, line.proposed_account) for line in waiting] == [
            ("MONTHLY SERVICE FEE", "Expenses:General:Bank-Fees"),
            ("INTEREST PAYMENT", "Income:General:Interest"),
        ]
    # The statement ends today: the balance is asserted once today has ended, not before.
    assert result.notes == [f"The balance on {today} is asserted once that day has ended."]
