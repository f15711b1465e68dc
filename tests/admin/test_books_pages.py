"""Expenses and the ledger's health as staff see them; invoices as treasurers get them."""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.expenses.models import Expense
from conservancy.infra.config import Settings
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests.admin.books import assert_books_clean, fund_balance
from tests.admin.files import HTML_NAMED_PNG, pdf
from tests.admin.pages import error_by, send, signed_in
from tests.cli import run_cli
from tests.factories import settled_gift, usd
from tests.portal.donor import csrf_token

EXPENSES = "/admin/expenses"


def paying(invoice: bytes = b"", name: str = "invoice.pdf", **kw: str) -> dict[str, object]:
    return {
        "project": "twisted",
        "amount": "25.00",
        "payee": "Hosting Co.",
        "category": "Hosting",
        "paid_on": "2026-03-05",
        "description": "Web hosting, March",
        "invoice": (io.BytesIO(invoice or pdf()), name),
        **kw,
    }


@pytest.fixture
def funded(rt: Runtime) -> Runtime:
    settled_gift(rt, fee="0.00")  # Twisted holds 90.00
    return rt


@pytest.fixture
def bookkeeper(app: Flask, rt: Runtime) -> FlaskClient:
    return signed_in(app, rt, "bookkeeper")


def expenses(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Expense)) or 0)


def test_a_bookkeeper_pays_from_a_fund_and_the_invoice_is_on_its_page(
    funded: Runtime, bookkeeper: FlaskClient
) -> None:
    data = pdf()
    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(data))
    assert answer.status_code == 303, answer.text
    page = bookkeeper.get(answer.headers["Location"])
    assert "Paid $25.00 to Hosting Co. from the Twisted fund." in page.text
    assert "Expenses:Twisted:Hosting" in page.text
    download = bookkeeper.get(f"{answer.headers['Location']}/invoice")
    assert download.status_code == 200
    assert download.data == data
    assert download.mimetype == "application/pdf"
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert fund_balance(funded, "Twisted") == Decimal("65.00")
    assert_books_clean(funded)


def test_an_invoice_is_checked_by_its_bytes_not_its_name(
    funded: Runtime, bookkeeper: FlaskClient
) -> None:
    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(HTML_NAMED_PNG, "invoice.png"))
    assert answer.status_code == 400
    assert "not a PDF, PNG or JPEG, whatever its name says" in error_by(answer, "invoice")
    assert expenses(funded) == 0


def test_an_invoice_of_nine_megabytes_is_taken(funded: Runtime, bookkeeper: FlaskClient) -> None:
    """Larger than the app takes of any other form, within the invoice's 10 MB."""
    big = b"%PDF-1.4\n%" + b"x" * (9 * 1024 * 1024) + b"\n%%EOF\n"
    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(big))
    assert answer.status_code == 303, answer.status_code
    assert expenses(funded) == 1


def test_a_fund_cannot_pay_more_than_it_holds_and_the_page_says_so_by_the_amount(
    funded: Runtime, bookkeeper: FlaskClient
) -> None:
    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(amount="90.01"))
    assert answer.status_code == 400
    assert error_by(answer, "amount") == "The Twisted fund holds $90.00; it cannot pay $90.01."
    assert expenses(funded) == 0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("category", "web hosting", "one word of the books' accounts"),
        ("payee", "", "who was paid"),
        ("paid_on", "yesterday", "year-month-day"),
        ("amount", "0", "more than zero"),
    ],
)
def test_a_bad_expense_comes_back_with_the_message_by_its_field(
    funded: Runtime, bookkeeper: FlaskClient, field: str, value: str, message: str
) -> None:
    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(**{field: value}))
    assert answer.status_code == 400
    assert message in error_by(answer, field)
    assert expenses(funded) == 0


def test_the_expense_form_sent_twice_pays_once(funded: Runtime, bookkeeper: FlaskClient) -> None:
    page = bookkeeper.get(EXPENSES)
    first = send(bookkeeper, EXPENSES, EXPENSES, paying(), keep=page)
    second = send(bookkeeper, EXPENSES, EXPENSES, paying(), keep=page)
    assert first.status_code == second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert expenses(funded) == 1


def test_the_projects_treasurer_downloads_its_invoices_and_no_one_elses(
    funded: Runtime, app: Flask, bookkeeper: FlaskClient
) -> None:
    data = pdf()
    where = send(bookkeeper, EXPENSES, EXPENSES, paying(data)).headers["Location"]
    expense_id = int(where.rsplit("/", 1)[1])
    mine = signed_in(app, funded, "treasurer")
    answer = mine.get(f"/treasurer/twisted/expenses/{expense_id}/invoice")
    assert answer.status_code == 200
    assert answer.data == data
    # The expense is in the fund's transactions, with its invoice a click away.
    listed = mine.get("/treasurer/twisted/transactions")
    assert f'href="/treasurer/twisted/expenses/{expense_id}/invoice"' in listed.text
    assert mine.get(f"/treasurer/sugar/expenses/{expense_id}/invoice").status_code == 404
    assert mine.get(f"/admin/expenses/{expense_id}/invoice").status_code == 404
    other = signed_in(app, funded, "sugar-treasurer")
    assert other.get(f"/treasurer/twisted/expenses/{expense_id}/invoice").status_code == 404
    assert other.get(f"/treasurer/sugar/expenses/{expense_id}/invoice").status_code == 404


def test_an_auditor_reads_expenses_without_the_form_and_cannot_post(
    funded: Runtime, app: Flask
) -> None:
    auditor = signed_in(app, funded, "auditor")
    page = auditor.get(EXPENSES)
    assert page.status_code == 200
    assert "Record the payment" not in page.text
    token = csrf_token(auditor.get("/password-reset"))
    refused = auditor.post(
        EXPENSES, data={**paying(), "csrf_token": token}, content_type="multipart/form-data"
    )
    assert refused.status_code == 403
    assert expenses(funded) == 0


# -- the ledger's health -----------------------------------------------------------------------


def run_check(settings: Settings) -> int:
    done = run_cli(settings, "ledger", "check")
    assert "Traceback" not in done.stderr, done.stderr
    return done.returncode


def test_the_health_page_shows_what_waits_and_the_last_check(
    rt: Runtime, settings: Settings, bookkeeper: FlaskClient
) -> None:
    page = bookkeeper.get("/admin/ledger")
    assert page.status_code == 200
    assert "It has not run yet" in page.text
    assert run_check(settings) == 0
    page = bookkeeper.get("/admin/ledger")
    assert "no problems" in page.text
    assert "All is well" in page.text

    with rt.sessions() as session:
        record(
            session,
            Transaction(
                ref="hand-1",
                date=date(2026, 3, 1),
                narration="Waiting",
                postings=(
                    Posting("Assets:Bank:Checking", usd("1.00")),
                    Posting("Income:Twisted:Donations", usd("-1.00")),
                ),
            ),
        )
        session.commit()
    page = bookkeeper.get("/admin/ledger")
    assert "1 entry waits in the ledger outbox" in page.text
    assert "hand-1" in page.text

    rt.post_ledger()
    staff_file = rt.ledger.root / "staff.beancount"
    staff_file.write_text(
        '2026-04-02 * "Typed 90 for 100"\n'
        "  Assets:Bank:Checking        100.00 USD\n"
        "  Income:Twisted:Donations    -90.00 USD\n"
    )
    with rt.ledger.main.open("a") as main:
        main.write('include "staff.beancount"\n')
    assert run_check(settings) == 1
    page = bookkeeper.get("/admin/ledger")
    assert "1 problem" in page.text
    assert "staff.beancount:1" in page.text
    assert "Something needs a look" in page.text


def test_an_auditor_reads_the_health_page_and_a_treasurer_finds_none(
    rt: Runtime, app: Flask
) -> None:
    assert signed_in(app, rt, "auditor").get("/admin/ledger").status_code == 200
    assert signed_in(app, rt, "treasurer").get("/admin/ledger").status_code == 404


def test_staff_choose_a_new_categorys_part_ix_column_on_the_form(
    funded: Runtime, bookkeeper: FlaskClient
) -> None:
    form = bookkeeper.get(EXPENSES)
    assert '<option value="fundraising">Fundraising</option>' in form.text

    answer = send(bookkeeper, EXPENSES, EXPENSES, paying(category="Gala", function="fundraising"))

    assert answer.status_code == 303, answer.text
    opened = funded.ledger.accounts.read_text("utf-8")
    assert 'open Expenses:Twisted:Gala\n  ref: "open:Expenses:Twisted:Gala"\n' in opened
    assert 'function: "fundraising"' in opened.split("open Expenses:Twisted:Gala", 1)[1]
    assert_books_clean(funded)
