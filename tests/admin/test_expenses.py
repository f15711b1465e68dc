"""Paying from a project's fund: booked once against the bank, never more than the fund holds,
with its invoice checked by its bytes and kept once."""

from __future__ import annotations

import hashlib
import re
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from conservancy.expenses.models import Expense
from conservancy.expenses.service import ExpenseRefused, ExpenseRequest, record_expense
from conservancy.kernel import clock
from conservancy.kernel.submissions import AlreadySubmitted, new_key
from conservancy.ledger.models import LedgerOutbox
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.books import assert_books_clean, entry_count, fund_balance, postings
from tests.admin.files import SVG, image, pdf
from tests.factories import settled_gift, usd

STAFF = "bookkeeper@example.org"


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: date(2026, 3, 10))


@pytest.fixture
def funded(rt: Runtime) -> Runtime:
    """Twisted holds 90.00: a gift of 100.00 less its 10% sponsorship fee (card fee 0)."""
    settled_gift(rt, fee="0.00")
    return rt


def request(**kw: object) -> ExpenseRequest:
    fields: dict[str, object] = {
        "amount": usd("25.00"),
        "payee": "Hosting Co.",
        "category": "Hosting",
        "paid_on": date(2026, 3, 5),
        "description": "Web hosting, March",
        "invoice": pdf(),
    }
    fields.update(kw)
    return ExpenseRequest(**fields)  # type: ignore[arg-type]


def pay(rt: Runtime, wanted: ExpenseRequest | None = None, key: str | None = None) -> int:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        expense = record_expense(
            session,
            STAFF,
            project,
            wanted or request(),
            key=key or new_key(),
            books=rt.books,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
        expense_id = expense.id
    rt.post_ledger()
    return expense_id


def expenses(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Expense)) or 0)


def test_an_expense_is_booked_from_the_fund_against_the_bank_in_a_new_account(
    funded: Runtime,
) -> None:
    expense_id = pay(funded)
    assert postings(funded, f"expense-{expense_id}") == {
        "Expenses:Twisted:Hosting": Decimal("25.00"),
        "Assets:Bank:Checking": Decimal("-25.00"),
    }
    assert entry_count(funded, "open:Expenses:Twisted:Hosting") == 1
    assert fund_balance(funded, "Twisted") == Decimal("65.00")
    assert_books_clean(funded)


def test_a_second_expense_of_a_category_opens_no_second_account(funded: Runtime) -> None:
    pay(funded)
    pay(funded, request(amount=usd("5.00"), invoice=image("PNG")))
    assert entry_count(funded, "open:Expenses:Twisted:Hosting") == 1
    assert_books_clean(funded)


def test_the_invoice_is_kept_once_under_the_receipts_directory_with_its_checksum(
    funded: Runtime,
) -> None:
    data = pdf()
    first = pay(funded, request(invoice=data))
    second = pay(funded, request(amount=usd("1.00"), invoice=data))
    with funded.sessions() as session:
        a, b = session.get(Expense, first), session.get(Expense, second)
        assert a is not None
        assert b is not None
        digest = hashlib.sha256(data).hexdigest()
        assert a.invoice_path == b.invoice_path == f"invoices/2026/{digest}.pdf"
        assert (a.invoice_sha256, a.invoice_type) == (digest, "application/pdf")
    stored = list((funded.settings.receipts_dir / "invoices").rglob("*.pdf"))
    assert [p.read_bytes() for p in stored] == [data]


def test_a_fund_cannot_spend_what_it_does_not_have(funded: Runtime) -> None:
    with pytest.raises(ExpenseRefused) as refused:
        pay(funded, request(amount=usd("90.01")))
    assert refused.value.field == "amount"
    assert "The Twisted fund holds $90.00; it cannot pay $90.01." in str(refused.value)
    assert expenses(funded) == 0
    assert not (funded.settings.receipts_dir / "invoices").exists()
    pay(funded, request(amount=usd("90.00")))
    assert fund_balance(funded, "Twisted") == Decimal("0.00")


def test_what_waits_in_the_outbox_counts_against_the_fund(funded: Runtime) -> None:
    """An expense committed but not yet appended to the books is spent all the same."""
    with funded.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        record_expense(
            session,
            STAFF,
            project,
            request(amount=usd("60.00")),
            key=new_key(),
            books=funded.books,
            receipts_dir=funded.settings.receipts_dir,
            tz=funded.settings.timezone,
        )
        session.commit()
    with funded.sessions() as session:
        assert session.scalar(
            select(func.count()).select_from(LedgerOutbox).where(LedgerOutbox.posted_at.is_(None))
        )
    with pytest.raises(ExpenseRefused, match=r"holds \$30.00"):
        pay(funded, request(amount=usd("30.01")))


def test_the_same_form_sent_twice_pays_once(funded: Runtime) -> None:
    key = new_key()
    expense_id = pay(funded, key=key)
    with pytest.raises(AlreadySubmitted) as refused:
        pay(funded, key=key)
    assert refused.value.result == f"expense:{expense_id}"
    assert expenses(funded) == 1
    assert entry_count(funded, "expense-") == 1


@pytest.mark.parametrize(
    ("invoice", "message"),
    [
        (SVG, "not a PDF, PNG or JPEG"),
        (image("WEBP"), "not a PDF, PNG or JPEG"),
        (b"GIF89a" + b"\0" * 40, "not a PDF, PNG or JPEG"),
        (pdf()[:200], "cut off"),
        (b"", "Attach the invoice"),
        (b"%PDF-1.4\n" + b"0" * (10 * 1024 * 1024) + b"%%EOF", "at most 10 MB"),
    ],
    ids=["svg", "webp", "gif", "truncated-pdf", "empty", "too-large"],
)
def test_an_invoice_is_checked_by_its_bytes(funded: Runtime, invoice: bytes, message: str) -> None:
    with pytest.raises(ExpenseRefused) as refused:
        pay(funded, request(invoice=invoice))
    assert refused.value.field == "invoice"
    assert message in str(refused.value)
    assert expenses(funded) == 0


def test_png_and_jpeg_invoices_are_kept_as_what_they_are(funded: Runtime) -> None:
    for kind, extension in (("PNG", "png"), ("JPEG", "jpg")):
        expense_id = pay(funded, request(amount=usd("1.00"), invoice=image(kind)))
        with funded.sessions() as session:
            expense = session.get(Expense, expense_id)
            assert expense is not None
            assert expense.invoice_path.endswith(f".{extension}")
            assert expense.invoice_type == f"image/{kind.lower()}"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"category": "travel"}, "category"),
        ({"category": "Travel:Air"}, "category"),
        ({"category": "Sponsorship-Fees"}, "category"),
        ({"category": 'Travel" 2026-01-01 open Assets:X'}, "category"),
        ({"payee": " "}, "payee"),
        ({"amount": usd("0.00")}, "amount"),
        ({"paid_on": date(2026, 3, 11)}, "paid_on"),
        ({"paid_on": date(2025, 12, 31)}, "paid_on"),
    ],
)
def test_a_refused_expense_says_why_by_its_field_and_writes_nothing(
    funded: Runtime, change: dict[str, object], field: str
) -> None:
    with pytest.raises(ExpenseRefused) as refused:
        pay(funded, request(**change))
    assert refused.value.field == field
    assert expenses(funded) == 0
    assert entry_count(funded, "open:Expenses:Twisted:") == 3  # the fund's own three


def test_an_expense_is_in_the_audit_log(funded: Runtime) -> None:
    expense_id = pay(funded)
    with funded.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "expense.recorded")
        ).one()
        assert entry.target_id == str(expense_id)
        assert entry.after is not None
        assert entry.after["account"] == "Expenses:Twisted:Hosting"
        assert entry.after["amount"] == "25.00 USD"


def test_a_payee_and_description_cannot_add_lines_to_the_books(funded: Runtime) -> None:
    pay(
        funded,
        request(
            payee='Evil "Co"\n2026-01-01 open Assets:Evil',
            description="line one\n2026-01-02 close Assets:Bank:Checking",
        ),
    )
    text = "".join(p.read_text() for p in funded.ledger.root.rglob("*.beancount"))
    assert not re.search(r"^\d{4}-\d{2}-\d{2} (open Assets:Evil|close)", text, re.MULTILINE)
    assert_books_clean(funded)


# --- Form 990 Part IX: the column of a category, and of one payment (issue 18) -----------


def _opened(rt: Runtime, account: str) -> str:
    return rt.ledger.accounts.read_text("utf-8").split(f"open {account}\n", 1)[1].split("\n\n")[0]


def test_a_new_category_is_opened_as_program_service_unless_staff_choose(
    funded: Runtime,
) -> None:
    pay(funded)  # Hosting: nothing chosen
    pay(funded, request(category="Donor-Events", function="fundraising", amount=usd("5.00")))

    assert 'function: "program"' in _opened(funded, "Expenses:Twisted:Hosting")
    assert 'function: "fundraising"' in _opened(funded, "Expenses:Twisted:Donor-Events")
    assert_books_clean(funded)


def test_a_column_chosen_for_an_open_category_marks_that_payment_alone(
    funded: Runtime,
) -> None:
    pay(funded)
    second = pay(funded, request(amount=usd("5.00"), function="management"))

    assert 'function: "program"' in _opened(funded, "Expenses:Twisted:Hosting")
    with funded.sessions() as session:
        body = session.scalars(
            select(LedgerOutbox.body).where(LedgerOutbox.ref == f"expense-{second}")
        ).one()
    assert '"function": "management"' in body
    assert_books_clean(funded)


def test_a_column_that_is_none_of_the_three_is_refused(funded: Runtime) -> None:
    with pytest.raises(ExpenseRefused, match="program, management, fundraising"):
        pay(funded, request(function="travel"))
    assert expenses(funded) == 0


def test_part_ix_takes_a_new_categorys_column_and_a_payments_own_without_a_rebuild(
    funded: Runtime,
) -> None:
    """The snapshot's catch-up reads the open the app appends, the index the entry's own
    column: the package needs no full load of the books to class them."""
    from conservancy.reports import year_end as ye

    pay(funded, request(category="Donor-Events", function="fundraising", amount=usd("5.00")))
    pay(funded, request(category="Donor-Events", function="management", amount=usd("2.00")))

    with funded.sessions() as session:
        part = ye.year_end(session, funded.books.index, funded.books.current(), 2026).part_ix
    (row,) = [r for r in part.accounts if r.account == "Expenses:Twisted:Donor-Events"]
    assert (row.columns.fundraising, row.columns.management, row.columns.program) == (500, 200, 0)
    assert part.unclassed == ()
