"""A project's exit (issue 8): what a new sponsor needs to take the project over.

``conservancy project export SLUG --out DIR`` writes five files:

* ``<slug>.beancount``: the project's own transactions as books of their own
  (``ledger.fund_books``): its fund's postings as booked, the other side of each
  collapsed into ``Assets:Held-By-Sponsor:<Sponsor>``, opened by the fund's
  balance before the first day. Before anything is written the file is loaded
  alone with Beancount and its fund balance checked against the sponsor's.
* ``donors.csv``: who gave, as far as each allowed. A gift the donor made
  anonymously, or has since asked to be anonymous (the portal lets them), is
  counted in one "Anonymous" line, and its entries in the books file say
  ``Anonymous`` too; a name is given only where both the books and the donor's
  current choice give it. ``shown`` says how far: ``public`` (the donor let the
  name be shown publicly), ``project`` (to the project only: the new sponsor may
  not publish it), ``anonymous``, or ``books`` (a gift staff entered by hand,
  named as the books name it, which the sponsor has no donor record for).
  Totals are the ``Income:<Fund>:Donations`` postings in the period, refunds
  and disputes taken off, so they add up to the donations in the summary.
* ``recurring.csv``: the recurring gifts Stripe still bills for the project
  (``projects.giving``'s active ones), which the donors must move themselves;
  no Stripe ids.
* ``invoices.csv``: the project's corporate sponsorship invoices still open
  (``sponsorships``): the new sponsor collects them. The company is named: a
  company that asked to sponsor the project is no private donor.
* ``summary.pdf``: the sponsor's letterhead, the period, the fund's opening and
  closing balance, income and expenses by kind, the counts, and what each file holds.

Contact details: nothing the sponsor records says a donor agreed to have their
e-mail or postal address handed to the project or to another sponsor
(``Donation.visibility`` is about the name alone), so no file holds one; the
summary says so, and that the sponsor itself must write to the recurring
donors. The sponsor's donor ids (``entity``) stay behind too.

The period: from ``--from``, by default the day the books open the project's
fund (nothing can post to it earlier, so the whole history, with no opening
balance); to today, or to the fund's last entry if one is dated later, so that
nothing in the books is left out and the closing balance is the fund's balance
in the sponsor's books, entries staff wrote by hand included. Figures are read
from the transaction index in one read transaction, like statements.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.donations.models import Donation, Donor, Gift, Visibility
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.ledger.fund_books import FundBooks, check_fund_books, fund_books_text
from conservancy.ledger.index import IndexedTransaction, TransactionIndex
from conservancy.money import Currency, Money
from conservancy.projects.giving import ACTIVE, PER_WEEK
from conservancy.projects.models import Project
from conservancy.projects.service import opened_on
from conservancy.receipts.document import Sponsor
from conservancy.reports.output import write_whole
from conservancy.reports.statement import Statement, project_statement, spreadsheet_text
from conservancy.sponsorships.models import InvoiceStatus, SponsorshipInvoice

ANONYMOUS = "Anonymous"
_CURRENCIES = frozenset(c.value for c in Currency)
UNNAMED = "Not named in the books"
DONORS_FILE = "donors.csv"
RECURRING_FILE = "recurring.csv"
INVOICES_FILE = "invoices.csv"
SUMMARY_FILE = "summary.pdf"
SUMMARY_TEMPLATE = "documents/reports/project_export.html"

DONOR_COLUMNS = ("donor", "shown", "gifts", "total", "currency", "first_gift_on", "last_gift_on")
RECURRING_COLUMNS = (
    "donor",
    "shown",
    "frequency",
    "amount",
    "currency",
    "since",
    "last_paid_on",
    "payments",
)
INVOICE_COLUMNS = ("number", "customer", "issued_on", "due_on", "amount", "currency", "description")


@dataclass(frozen=True, slots=True)
class DonorTotal:
    name: str  # "Anonymous" for every anonymous gift, together
    shown: str  # public, project, anonymous, books
    gifts: int
    total: Money  # given in the period, refunds and disputes taken off
    first_on: date | None
    last_on: date | None


@dataclass(frozen=True, slots=True)
class RecurringGift:
    donor: str
    shown: str
    frequency: str
    amount: Money  # what the project receives each period
    since: date
    last_paid_on: date | None
    payments: int


@dataclass(frozen=True, slots=True)
class OpenInvoice:
    number: str
    customer: str
    issued_on: date
    due_on: date
    amount: Money
    description: str


@dataclass(frozen=True)
class ProjectExport:
    statement: Statement  # the period's figures in the project's currency
    books: FundBooks
    books_text: str
    donors: tuple[DonorTotal, ...]
    recurring: tuple[RecurringGift, ...]
    invoices: tuple[OpenInvoice, ...]
    closing: dict[str, Money] = field(default_factory=dict)  # every currency the fund holds

    @property
    def slug(self) -> str:
        return self.statement.slug

    @property
    def books_file(self) -> str:
        return f"{self.slug}.beancount"

    @property
    def transactions(self) -> int:
        return len(self.books.transactions)

    @property
    def named_donors(self) -> int:
        return sum(1 for d in self.donors if d.shown != "anonymous")

    @property
    def anonymous_gifts(self) -> int:
        return sum(d.gifts for d in self.donors if d.shown == "anonymous")

    @property
    def donations_total(self) -> Money:
        return Money.from_minor(sum(d.total.minor for d in self.donors), self.statement.currency)

    @property
    def other_currencies(self) -> list[Money]:
        """What the fund holds in currencies other than the project's (normally nothing)."""
        own = self.statement.currency.value
        return [money for currency, money in sorted(self.closing.items()) if currency != own]


def first_day_of(session: Session, project: Project) -> date | None:
    """The day the books open the project's fund (or, failing that, the books themselves)."""
    for account in (accounts.net_assets(project.fund), accounts.CHECKING):
        day = opened_on(session, account)
        if day is not None:
            return day
    return None


def project_export(
    session: Session,
    index: TransactionIndex,
    project: Project,
    sponsor_name: str,
    *,
    first_day: date,
    today: date,
    tz: ZoneInfo,
    form_990: Mapping[str, Mapping[str, str]] | None = None,
) -> ProjectExport:
    """Everything the export writes, read in one state of the books; the books file checked.
    ``form_990``: each account's Form 990 metadata (``Snapshot.form_990``), which the
    file's ``open`` directives carry."""
    fund = project.fund
    donations_account = accounts.donations(fund)
    with index.read() as view:
        newest = view.fund_transactions(fund, limit=1).transactions
        last_day = max([today, *(txn.date for txn in newest)])
        statement = project_statement(index, project, first_day, last_day)  # the same read
        transactions = view.transactions_between(fund, first_day, last_day)
        gift_of = {
            entry.ref: entry.gift or entry.ref
            for entry in view.entries_posting_to(
                lambda account: account == donations_account, first_day, last_day
            )
            if entry.ref and entry.entity
        }
        # A commodity not one of ours cannot be summed before the period by the index.
        used = {project.currency} | {p.currency for t in transactions for p in t.postings}
        opening = {
            code: view.balance_before(fund, first_day, Currency(code)).minor
            for code in sorted(used & _CURRENCIES)
        }
    choices = _visibility_by_gift(session, project)
    transactions = [_as_allowed(txn, gift_of, choices) for txn in transactions]
    books = FundBooks(
        title=f"{project.name}: its own books, from those of {sponsor_name}",
        sponsor_name=sponsor_name,
        fund=fund,
        first_day=first_day,
        opening=opening,
        transactions=transactions,
        form_990=form_990 or {},
    )
    text = fund_books_text(books)
    check_fund_books(text, books)
    closing = {
        code: Money.from_minor(minor, code)
        for code, minor in books.closing().items()
        if minor and code in _CURRENCIES
    }
    export = ProjectExport(
        statement=statement,
        books=books,
        books_text=text,
        donors=_donors(transactions, donations_account, gift_of, choices, statement.currency),
        recurring=recurring_gifts(session, project, tz),
        invoices=open_invoices(session, project),
        closing=closing,
    )
    # The file and the statement are the same postings, read in the same state.
    assert export.closing.get(project.currency, Money.zero(project.currency)) == statement.closing
    return export


def _visibility_by_gift(session: Session, project: Project) -> dict[str, Visibility]:
    """How each of the project's gifts may be named now: the donor may have changed it."""
    rows = session.execute(
        select(Gift.ref, Donation.visibility)
        .join(Donation, Gift.donation_id == Donation.id)
        .where(Donation.project_id == project.id)
    ).all()
    return {ref: visibility for ref, visibility in rows}  # noqa: C416 - Rows, not pairs


def _as_allowed(
    txn: IndexedTransaction, gift_of: dict[str, str], choices: dict[str, Visibility]
) -> IndexedTransaction:
    """The entry with ``Anonymous`` for its payee if the gift's donor now asks for that."""
    gift = gift_of.get(txn.ref or "")
    if gift is not None and choices.get(gift) is Visibility.ANONYMOUS and txn.payee != ANONYMOUS:
        return replace(txn, payee=ANONYMOUS)
    return txn


def _donors(
    transactions: Sequence[IndexedTransaction],
    donations_account: str,
    gift_of: dict[str, str],
    choices: dict[str, Visibility],
    currency: Currency,
) -> tuple[DonorTotal, ...]:
    """Each donor's gifts in the period, as the (exported) books name them."""
    totals: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # key -> [gifts, minor]
    names: dict[str, str] = {}
    shown: dict[str, set[Visibility]] = defaultdict(set)
    days: dict[str, list[date]] = defaultdict(list)
    for txn in transactions:
        given = -sum(
            p.minor
            for p in txn.postings
            if p.account == donations_account and p.currency == currency.value
        )
        if not given:
            continue
        payee = txn.payee or ""
        if payee == ANONYMOUS:
            key = ANONYMOUS
        else:
            key = f"entity:{txn.entity}" if txn.entity else f"payee:{payee}"
            names[key] = payee or UNNAMED
            choice = choices.get(gift_of.get(txn.ref or "", ""))
            if choice is not None:
                shown[key].add(choice)
        totals[key][1] += given
        if given > 0:
            totals[key][0] += 1
            days[key].append(txn.date)
    lines = []
    for key, (gifts, minor) in totals.items():
        if key == ANONYMOUS:
            name, how = ANONYMOUS, "anonymous"
        else:
            name, how = names[key], _shown(shown[key])
        lines.append(
            DonorTotal(
                name=name,
                shown=how,
                gifts=gifts,
                total=Money.from_minor(minor, currency),
                first_on=min(days[key], default=None),
                last_on=max(days[key], default=None),
            )
        )
    lines.sort(key=lambda d: (-d.total.minor, d.name))
    return tuple(lines)


def _shown(choices: set[Visibility]) -> str:
    """How far a named donor's name may go: the narrowest of their gifts' choices."""
    if Visibility.PROJECT in choices:
        return "project"
    return "public" if choices else "books"  # books: entered by hand, no donor record


def recurring_gifts(session: Session, project: Project, tz: ZoneInfo) -> tuple[RecurringGift, ...]:
    """The project's recurring gifts that Stripe still bills, oldest first."""
    paid = (
        select(
            Gift.donation_id,
            func.count(Gift.id).label("payments"),
            func.min(Gift.settled_on).label("first_on"),
            func.max(Gift.settled_on).label("last_on"),
        )
        .group_by(Gift.donation_id)
        .subquery()
    )
    rows = session.execute(
        select(Donation, Donor.name, paid.c.payments, paid.c.first_on, paid.c.last_on)
        .join(Donor, Donation.donor_id == Donor.id)
        .outerjoin(paid, paid.c.donation_id == Donation.id)
        .where(
            Donation.project_id == project.id,
            Donation.frequency.in_(tuple(PER_WEEK)),
            Donation.status.in_(ACTIVE),
        )
        .order_by(Donation.created_at, Donation.id)
    ).all()
    gifts = []
    for donation, name, payments, first_on, last_on in rows:
        anonymous = donation.visibility is Visibility.ANONYMOUS
        gifts.append(
            RecurringGift(
                donor=ANONYMOUS if anonymous else name,
                shown=str(donation.visibility),
                frequency=str(donation.frequency),
                amount=donation.amount,
                since=first_on or clock.accounting_date(clock.as_utc(donation.created_at), tz),
                last_paid_on=last_on,
                payments=int(payments or 0),
            )
        )
    return tuple(gifts)


def open_invoices(session: Session, project: Project) -> tuple[OpenInvoice, ...]:
    """The project's sponsorship invoices not yet paid (receivables in the books), oldest
    first. A voided invoice is nobody's debt and is left out."""
    rows = session.scalars(
        select(SponsorshipInvoice)
        .where(
            SponsorshipInvoice.project_id == project.id,
            SponsorshipInvoice.status == InvoiceStatus.OPEN,
        )
        .order_by(SponsorshipInvoice.issued_on, SponsorshipInvoice.number)
    )
    return tuple(
        OpenInvoice(
            number=invoice.number,
            customer=invoice.corporate_sponsor.company_name,
            issued_on=invoice.issued_on,
            due_on=invoice.due_on,
            amount=Money.from_minor(invoice.amount_minor, Currency(invoice.currency)),
            description=f"{invoice.level_name} sponsorship",
        )
        for invoice in rows
    )


# --- files -------------------------------------------------------------------------


def _amount(money: Money) -> str:
    return str(money.amount)


def _day(day: date | None) -> str:
    return day.isoformat() if day else ""


def csv_files(export: ProjectExport) -> Iterator[tuple[str, Sequence[str], list[list[str]]]]:
    """Each CSV file: its name, its header, its rows (text cells made safe for spreadsheets)."""
    s = spreadsheet_text
    yield (
        DONORS_FILE,
        DONOR_COLUMNS,
        [
            [
                s(d.name),
                d.shown,
                str(d.gifts),
                _amount(d.total),
                d.total.currency.value,
                _day(d.first_on),
                _day(d.last_on),
            ]
            for d in export.donors
        ],
    )
    yield (
        RECURRING_FILE,
        RECURRING_COLUMNS,
        [
            [
                s(r.donor),
                r.shown,
                r.frequency,
                _amount(r.amount),
                r.amount.currency.value,
                _day(r.since),
                _day(r.last_paid_on),
                str(r.payments),
            ]
            for r in export.recurring
        ],
    )
    yield (
        INVOICES_FILE,
        INVOICE_COLUMNS,
        [
            [
                s(i.number),
                s(i.customer),
                _day(i.issued_on),
                _day(i.due_on),
                _amount(i.amount),
                i.amount.currency.value,
                s(i.description),
            ]
            for i in export.invoices
        ],
    )


def summary_pdf(export: ProjectExport, sponsor: Sponsor, *, prepared_on: date) -> bytes:
    from conservancy.receipts.render import draw_pdf, render_template

    return draw_pdf(
        render_template(
            SUMMARY_TEMPLATE,
            e=export,
            s=export.statement,
            sponsor=sponsor,
            prepared_on=prepared_on,
            files=(export.books_file, DONORS_FILE, RECURRING_FILE, INVOICES_FILE, SUMMARY_FILE),
        )
    )


def write_export(
    export: ProjectExport, sponsor: Sponsor, folder: Path, *, prepared_on: date
) -> list[Path]:
    """Every file into ``folder``, each written whole under a temporary name and renamed.

    The PDF is drawn before anything is written, so a failure there leaves the
    folder as it was.
    """
    contents: list[tuple[str, bytes]] = [(export.books_file, export.books_text.encode("utf-8"))]
    for name, header, rows in csv_files(export):
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        writer.writerows(rows)
        contents.append((name, text.getvalue().encode("utf-8")))
    contents.append((SUMMARY_FILE, summary_pdf(export, sponsor, prepared_on=prepared_on)))
    return [write_whole(folder / name, content) for name, content in contents]
