"""Paying from a project's fund: the expense, its entry in the books, its invoice.

An expense is booked ``Expenses:<Fund>:<Category>`` / ``Assets:Bank:Checking``
with ref ``expense-<id>``; a category the fund has not used before gets its
account opened (on the day the fund's accounts were), with its Form 990 Part IX
column (``function`` on the open, SPEC section 11): the one staff choose, else
program service, since a project's spending is the sponsor's program. Choosing a
column for an expense of a category already open puts it on that entry alone
(``function`` metadata), which Part IX takes over the account's. A fund cannot spend what
it does not have: the amount is checked against the fund's balance in the books'
snapshot plus whatever the outbox holds for the fund and has not yet posted,
with the project's row locked so that two expenses of one fund take turns.

The invoice is checked by its bytes (PDF, PNG or JPEG, at most 10 MB) and
stored once under the receipts directory as ``invoices/<year>/<sha256>.<ext>``:
named by its content, a file is never replaced by another, and one written by
a transaction that then rolled back is the same file the retry writes.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.expenses.models import Expense
from conservancy.kernel import clock, uploads
from conservancy.kernel.errors import DomainError
from conservancy.kernel.submissions import claim
from conservancy.ledger import accounts
from conservancy.ledger.books import Books, BooksLoading
from conservancy.ledger.entries import Posting, Transaction, loads
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import record
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import open_accounts, opened_on
from conservancy.receipts.issue import store
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

INVOICE_LIMIT = 10 * 1024 * 1024
INVOICE_KINDS = (uploads.PDF, uploads.PNG, uploads.JPEG)
PAYEE_LIMIT = 200
DESCRIPTION_LIMIT = 1000
# A Beancount account component, as fund names are.
_CATEGORY = re.compile(r"^[A-Z][A-Za-z0-9-]{0,62}$")
# Accounts the application books by itself; an expense typed by hand does not go there.
RESERVED = frozenset({"Payment-Processing", "Sponsorship-Fees", "Dispute-Fees"})


class ExpenseRefused(DomainError):
    """An expense the rules do not allow; ``field`` is the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ExpenseRequest:
    amount: Money
    payee: str
    category: str
    paid_on: date
    description: str
    invoice: bytes
    function: str | None = None  # program, management or fundraising; None: the category's


def check_category(text: str) -> str:
    category = text.strip()
    if not _CATEGORY.match(category):
        raise ExpenseRefused(
            "A category is one word of the books' accounts: a capital letter, then letters, "
            "digits or dashes, such as Travel or Web-Hosting.",
            "category",
        )
    if category in RESERVED:
        raise ExpenseRefused(
            f"{category} is booked by the application itself; choose another category.",
            "category",
        )
    return category


def check_invoice(data: bytes, field: str = "invoice") -> uploads.Kind:
    """The invoice's kind, by its bytes; ExpenseRefused if it is not one we keep. A
    spending request's receipt (``field="receipt"``) is held to the same rules."""
    if not data:
        raise ExpenseRefused(f"Attach the {field}: a PDF, PNG or JPEG file.", field)
    if len(data) > INVOICE_LIMIT:
        raise ExpenseRefused(
            f"A{'n' if field == 'invoice' else ''} {field} is at most 10 MB.", field
        )
    kind = uploads.sniff(data)
    if kind not in INVOICE_KINDS:
        raise ExpenseRefused("This file is not a PDF, PNG or JPEG, whatever its name says.", field)
    if kind is uploads.PDF and not uploads.pdf_complete(data):
        raise ExpenseRefused("This PDF is cut off: upload the whole file.", field)
    if kind is not uploads.PDF and uploads.image_size(data, kind) is None:
        raise ExpenseRefused(f"This {kind.name} image cannot be read.", field)
    return kind


def record_expense(
    session: Session,
    actor: Staff | str,
    project: Project,
    request: ExpenseRequest,
    *,
    key: str | None,
    books: Books,
    receipts_dir: Path,
    tz: ZoneInfo,
) -> Expense:
    """Record and book a payment from the project's fund, with its invoice; once per ``key``.

    Raises ExpenseRefused (nothing written to the database) or
    submissions.AlreadySubmitted. Flushes.
    """
    submission = claim(session, key, "expense")
    # One expense of a fund at a time: the next one's balance counts this one.
    session.refresh(project, with_for_update=True)
    currency = Currency(project.currency)
    payee = " ".join(request.payee.split())
    if not payee:
        raise ExpenseRefused("Give the payee: who was paid.", "payee")
    if len(payee) > PAYEE_LIMIT:
        raise ExpenseRefused(f"A payee is at most {PAYEE_LIMIT} characters.", "payee")
    category = check_category(request.category)
    amount = request.amount
    if amount.currency is not currency:
        raise ExpenseRefused(f"{project.name}'s fund is kept in {currency}.", "amount")
    if amount.minor <= 0:
        raise ExpenseRefused("An expense must be more than zero.", "amount")
    description = request.description.strip()
    if len(description) > DESCRIPTION_LIMIT:
        raise ExpenseRefused(
            f"A description is at most {DESCRIPTION_LIMIT} characters.", "description"
        )
    fund_opened = opened_on(session, accounts.donations(project.fund))
    bank_opened = opened_on(session, accounts.CHECKING)
    if fund_opened is None or bank_opened is None:
        raise ExpenseRefused(f"The books have no accounts for {project.name} yet.")
    earliest = max(fund_opened, bank_opened)
    if request.paid_on > clock.today(tz):
        raise ExpenseRefused("Record an expense once it is paid: not after today.", "paid_on")
    if request.paid_on < earliest:
        raise ExpenseRefused(
            f"The fund's books open on {earliest.isoformat()}; "
            "an expense cannot be dated before that.",
            "paid_on",
        )
    if request.function is not None and request.function not in accounts.FUNCTIONS:
        raise ExpenseRefused(
            f"Choose one of {', '.join(accounts.FUNCTIONS)} (Form 990 Part IX).", "function"
        )
    kind = check_invoice(request.invoice)
    left = available(session, books, project.fund, currency)
    if amount > left:
        raise ExpenseRefused(
            f"The {project.name} fund holds {left.format()}; it cannot pay {amount.format()}.",
            "amount",
        )
    digest = hashlib.sha256(request.invoice).hexdigest()
    relative = f"invoices/{request.paid_on.year}/{digest}.{kind.extension}"
    expense = Expense(
        project=project,
        fund=project.fund,
        category=category,
        payee=payee,
        amount_minor=amount.minor,
        currency=currency.value,
        paid_on=request.paid_on,
        description=description,
        invoice_path=relative,
        invoice_sha256=digest,
        invoice_type=kind.content_type,
        invoice_size=len(request.invoice),
        entered_by=actor.email if isinstance(actor, Staff) else actor,
    )
    session.add(expense)
    session.flush()
    opened = open_accounts(
        session, [expense.account], fund_opened, function=request.function or accounts.PROGRAM
    )
    meta = {"invoice": relative}
    if request.function is not None and not opened:
        meta[accounts.FUNCTION] = request.function  # this expense's own column
    record(
        session,
        Transaction(
            ref=expense.ref,
            date=expense.paid_on,
            payee=payee,
            narration=description or category,
            postings=(Posting(expense.account, amount), Posting(accounts.CHECKING, -amount)),
            meta=meta,
        ),
    )
    audit.record(
        session,
        actor,
        "expense.recorded",
        ("expense", expense.id),
        after={
            "ref": expense.ref,
            "project": project.slug,
            "account": expense.account,
            "payee": payee,
            "amount": str(amount),
            "paid_on": expense.paid_on.isoformat(),
            "invoice": relative,
            "function": request.function or "",
        },
    )
    # The file last: whatever refused the expense has refused it by now.
    store(receipts_dir, relative, request.invoice)
    submission.result = f"expense:{expense.id}"
    session.flush()
    return expense


def available(session: Session, books: Books, fund: str, currency: Currency) -> Money:
    """The fund's balance: the books' snapshot, plus entries recorded and not yet posted.

    The outbox is read first: an entry posted in between is then counted twice
    (the safe way round), never missed.
    """
    pending = 0
    bodies = session.scalars(select(LedgerOutbox.body).where(LedgerOutbox.posted_at.is_(None)))
    for body in bodies:
        entry = loads(body)
        if isinstance(entry, Transaction):
            pending -= sum(
                p.amount.minor
                for p in entry.postings
                if accounts.fund_of(p.account) == fund and p.amount.currency is currency
            )
    try:
        balance = books.current().fund_balance(fund, currency)
    except BooksLoading:
        raise ExpenseRefused(
            "The books are still loading, so the fund's balance is not known yet. "
            "Try again in a minute."
        ) from None
    return balance + Money.from_minor(pending, currency)


def invoice_file(receipts_dir: Path, expense: Expense) -> Path:
    return receipts_dir / expense.invoice_path


def expenses_of(
    session: Session, project: Project | None = None, limit: int = 200
) -> list[Expense]:
    query = select(Expense).order_by(Expense.paid_on.desc(), Expense.id.desc()).limit(limit)
    if project is not None:
        query = query.where(Expense.project_id == project.id)
    return list(session.scalars(query))
