"""``/admin/bank``: a bookkeeper uploads the bank's statement, sees what matched and what
waits, books a proposal (refused by the field when the account is wrong), and the closing
balance is asserted; an auditor reads the page and changes nothing."""

from __future__ import annotations

import io
import re
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.bank.models import BankLine, BankStatement, LineStatus
from conservancy.bank.statement import StatementLine
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.money import Money
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.pages import error_by, hidden, signed_in
from tests.bank import statements
from tests.ledger.test_index import payout, post


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def upload(client: FlaskClient, content: bytes, name: str = "november.ofx") -> object:
    page = client.get("/admin/bank")
    assert page.status_code == 200
    return client.post(
        "/admin/bank/import",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "account": "Assets:Bank:Checking",
            "statement": (io.BytesIO(content), name),
        },
        content_type="multipart/form-data",
    )


def test_a_bookkeeper_imports_books_a_fee_and_the_balance_is_asserted(
    runtime: Runtime, app: Flask
) -> None:
    today = clock.today(runtime.settings.timezone)
    with runtime.sessions() as session:
        factories.project(session)
        session.commit()
    factories.cheque(runtime, "Grace Hopper", "150.00", today - timedelta(5))
    statement = statements.days_back(
        today,
        10,
        1,
        "0.00",
        "138.00",
        StatementLine("N-1", today - timedelta(3), usd("150.00"), "", "DEPOSIT"),
        StatementLine("N-2", today - timedelta(2), -usd("12.00"), "", "MONTHLY SERVICE FEE"),
    )
    admin = signed_in(app, runtime, "admin")

    junk = upload(admin, b"\x00\x01 not a statement", "junk.ofx")
    assert junk.status_code == 400
    assert "not an OFX, camt.053 or CSV statement" in error_by(junk, "statement")

    done = upload(admin, statements.to_ofx(statement))
    assert done.status_code == 303
    page = admin.get("/admin/bank")
    text = re.sub(r"\s+", " ", page.text)
    assert (
        f"Imported {statement.start} to {statement.end} for Assets:Bank:Checking: 2 lines, 2 new, "
        "1 matched to the books, 1 waiting for a decision." in text
    )
    assert "1 line waiting for a decision" in text
    assert "MONTHLY SERVICE FEE" in text
    with runtime.sessions() as session:
        fee = session.scalars(select(BankLine).where(BankLine.bank_id == "N-2")).one()
        assert fee.status is LineStatus.PROPOSED
        fee_id = fee.id
    assert (
        f'id="account-{fee_id}" name="account" type="text" value="Expenses:General:Bank-Fees"'
        in (page.text)
    )

    # The matcher's choice undone, then made again by "Match again".
    with runtime.sessions() as session:
        deposit_id = session.scalars(select(BankLine.id).where(BankLine.bank_id == "N-1")).one()
    undone = admin.post(
        f"/admin/bank/lines/{deposit_id}/unmatch", data={"csrf_token": hidden(page, "csrf_token")}
    )
    assert undone.status_code == 303
    text = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert f"The match of the {today - timedelta(3)} line of $150.00 is undone" in text
    assert "2 lines waiting for a decision" in text
    again = admin.post("/admin/bank/rematch", data={"csrf_token": hidden(page, "csrf_token")})
    assert again.status_code == 303
    text = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert "Assets:Bank:Checking: 1 matched, 0 balances asserted." in text
    assert "1 line waiting for a decision" in text

    wrong = admin.post(
        f"/admin/bank/lines/{fee_id}",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "account": "Expenses:General:Nowhere",
            "narration": "Fee",
        },
    )
    assert wrong.status_code == 400
    assert error_by(wrong, f"account-{fee_id}") == (
        "Expenses:General:Nowhere is not open in the books: open it first."
    )
    with runtime.sessions() as session:
        assert (
            session.scalar(select(LedgerOutbox).where(LedgerOutbox.ref == f"bank-line-{fee_id}"))
            is None
        )

    booked = admin.post(
        f"/admin/bank/lines/{fee_id}",
        data={
            "csrf_token": hidden(page, "csrf_token"),
            "account": "Expenses:General:Bank-Fees",
            "narration": "Service fee, November",
        },
    )
    assert booked.status_code == 303
    after = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert f"Booked {today - timedelta(2)} -$12.00 to Expenses:General:Bank-Fees." in after
    assert f"Asserted the balance at the end of {statement.end}." in after
    assert f"Reconciled through <strong>{statement.end}</strong>" in after
    assert "Nothing is waiting" in after
    runtime.post_ledger()
    books = runtime.ledger.main.parent
    text_of_books = "".join(p.read_text() for p in sorted(books.rglob("*.beancount")))
    assert f"{statement.end + timedelta(1)} balance Assets:Bank:Checking" in text_of_books
    assert "Service fee, November" in text_of_books
    with runtime.sessions() as session:
        assert session.scalars(select(BankStatement)).one().asserted

    health = re.sub(r"\s+", " ", admin.get("/admin/ledger").text)
    assert f"<dt>Assets:Bank:Checking</dt><dd>reconciled through {statement.end} " in health

    auditor = signed_in(app, runtime, "auditor")
    read = auditor.get("/admin/bank")
    assert read.status_code == 200
    assert "Import</button>" not in read.text
    assert "reads the books and changes nothing" in read.text
    token = hidden(read, "csrf_token")
    assert auditor.post("/admin/bank/rematch", data={"csrf_token": token}).status_code == 403


def test_a_match_the_matcher_got_wrong_is_undone_and_made_by_hand(
    runtime: Runtime, app: Flask
) -> None:
    """Two payouts of one amount: the matcher pairs each bank line with the nearest entry,
    which here is the wrong way round; the bookkeeper undoes both and matches them by hand."""
    today = clock.today(runtime.settings.timezone)
    post(
        runtime,
        payout("stripe-txn_a", today - timedelta(5), "96.80"),
        payout("stripe-txn_b", today - timedelta(2), "96.80"),
    )
    statement = statements.days_back(
        today,
        10,
        1,
        "0.00",
        "193.60",
        StatementLine("P-1", today - timedelta(3), usd("96.80"), "", "STRIPE po_a"),
        StatementLine("P-2", today - timedelta(1), usd("96.80"), "", "STRIPE po_b"),
    )
    admin = signed_in(app, runtime, "admin")
    assert upload(admin, statements.to_ofx(statement)).status_code == 303

    def matched() -> dict[str, list[str]]:
        with runtime.sessions() as session:
            return {
                line.bank_id: [m.entry_key for m in line.matches]
                for line in session.scalars(select(BankLine).order_by(BankLine.bank_id))
            }

    assert matched() == {"P-1": ["stripe-txn_b"], "P-2": ["stripe-txn_a"]}  # nearest first
    page = admin.get("/admin/bank")
    token = hidden(page, "csrf_token")
    with runtime.sessions() as session:
        ids = {
            row.bank_id: row.id for row in session.execute(select(BankLine.bank_id, BankLine.id))
        }
    for bank_id in ("P-1", "P-2"):
        undone = admin.post(f"/admin/bank/lines/{ids[bank_id]}/unmatch", data={"csrf_token": token})
        assert undone.status_code == 303
    page = admin.get("/admin/bank")
    assert page.text.count('value="stripe-txn_a"') == 2  # offered for both lines

    right = admin.post(
        f"/admin/bank/lines/{ids['P-1']}/match", data={"csrf_token": token, "entry": "stripe-txn_a"}
    )
    assert right.status_code == 303
    taken = admin.post(
        f"/admin/bank/lines/{ids['P-2']}/match", data={"csrf_token": token, "entry": "stripe-txn_a"}
    )
    assert taken.status_code == 400
    assert error_by(taken, f"entry-{ids['P-2']}").startswith("Choose one of the entries listed")
    last = admin.post(
        f"/admin/bank/lines/{ids['P-2']}/match", data={"csrf_token": token, "entry": "stripe-txn_b"}
    )
    assert last.status_code == 303
    assert matched() == {"P-1": ["stripe-txn_a"], "P-2": ["stripe-txn_b"]}
    text = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert f"Matched the {today - timedelta(1)} line of $96.80 to stripe-txn_b." in text
    # Asserted at the import, when both matched; undoing a match does not take it back.
    assert f"Reconciled through <strong>{statement.end}</strong>" in text


def test_a_cheque_not_cashed_yet_is_listed_as_outstanding_until_the_next_statement(
    runtime: Runtime, app: Flask
) -> None:
    """The books paid 40.00 by cheque before the first statement ended; the bank cashed it
    in the next. The first balance differs by exactly that cheque: the page lists it, and
    nothing is asserted; the next statement's balance agrees, and is asserted."""
    today = clock.today(runtime.settings.timezone)
    with runtime.sessions() as session:
        factories.project(session)
        session.commit()
    factories.cheque(runtime, "Grace Hopper", "150.00", today - timedelta(8))
    factories.expense(runtime, amount="40.00", payee="Hosting Co.", paid_on=today - timedelta(5))

    def month(first: int, last: int, opening: str, closing: str, *lines: StatementLine) -> bytes:
        return statements.to_ofx(statements.days_back(today, first, last, opening, closing, *lines))

    admin = signed_in(app, runtime, "admin")
    deposit = StatementLine("O-1", today - timedelta(7), usd("150.00"), "", "DEPOSIT")
    assert upload(admin, month(10, 4, "0.00", "150.00", deposit), "one.ofx").status_code == 303
    text = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert (
        f"On {today - timedelta(4)} the bank says $150.00 and the books $110.00: 1 entry in "
        f"the books the bank has not shown yet ({today - timedelta(5)} Hosting from Hosting Co. "
        "-$40.00); not asserted until they agree." in text
    )
    assert f"reconciliation at {today - timedelta(4)}" in text
    assert "in the books, not yet at the bank" in text
    assert "Not explained by any entry" not in text
    assert "Reconciled through <strong>not yet</strong>" in text

    cashed = StatementLine("O-2", today - timedelta(2), -usd("40.00"), "", "CHECK 2201", "2201")
    assert upload(admin, month(3, 1, "150.00", "110.00", cashed), "two.ofx").status_code == 303
    text = re.sub(r"\s+", " ", admin.get("/admin/bank").text)
    assert f"Asserted $110.00 at the end of {today - timedelta(1)}." in text
    assert f"Reconciled through <strong>{today - timedelta(1)}</strong>" in text
    assert "no: a later balance is" in text  # the first statement, passed over
    with runtime.sessions() as session:
        assert [
            s.asserted for s in session.scalars(select(BankStatement).order_by(BankStatement.id))
        ] == [False, True]
