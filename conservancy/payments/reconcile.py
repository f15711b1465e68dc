"""Stripe against the books: each balance transaction booked exactly once, nothing extra.

For a period (accounting dates in the sponsor's time zone), every balance
transaction Stripe lists must have exactly one entry in the books whose
``Assets:Stripe`` postings equal its ``net``; every entry that posts to
``Assets:Stripe`` must have its balance transaction; each payout's entry must
put what left Stripe into ``Assets:Bank:Checking``; and at the end of the
period Stripe's balance must equal the books' ``Assets:Stripe``. The books'
side comes from the transaction index (``ledger.index``), never from loading
the ledger, so a page can run this too.

Which entries are a balance transaction's: an entry names Stripe objects by
its ``ref`` (``stripe-<id>``) and its ``stripe-id``. The application names a
charge's entry, a dispute's movements and a payout by their balance
transaction (``stripe-txn_…``), and a refund's by the refund, which is the
balance transaction's ``source`` (``stripe-re_…``). So a balance transaction's
entries are those that name it; failing any, those that name its source with
its amount. A staff entry naming either is matched the same way; an extra one
naming a source already booked is a duplicate; one naming nothing Stripe has
is an entry without a Stripe counterpart.

Dates: Stripe's ``created`` is turned into the sponsor's accounting date, as
the entries were dated. Both sides are read a few days beyond the period, so
that an entry dated across the period's edge from its balance transaction is
reported as that, not as two unmatched halves.

Stripe's balance at the end of the period is its balance now less every
balance transaction created since: the period may be long past without
listing the account's whole history.

Once a period matches, :func:`assert_balance` writes a Beancount ``balance``
for ``Assets:Stripe``, dated the day after the period (Beancount asserts at
the start of a day), once per currency: its ref names the day and the
currency, and it goes through the ledger outbox like every entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.ledger import accounts
from conservancy.ledger.entries import Balance
from conservancy.ledger.index import StripeEntry, TransactionIndex
from conservancy.ledger.outbox import record_if_absent
from conservancy.money import Currency, Money
from conservancy.payments.gateway import BalanceTransaction, Gateway
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

# How far beyond the period both sides are read, for entries dated across its edge.
MARGIN = timedelta(days=3)
REF_PREFIX = "stripe-"
# Balance transactions that move money between Stripe and the bank account.
PAYOUT_TYPES = frozenset({"payout", "payout_failure", "payout_cancel"})


class ReconcileRefused(DomainError):
    """A period that cannot be reconciled or asserted; ``field`` is the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class Kind(StrEnum):
    NOT_BOOKED = "not booked"  # a balance transaction with no entry
    NOT_AT_STRIPE = "not at Stripe"  # an entry with no balance transaction
    DUPLICATE = "booked more than once"
    AMOUNT = "amount differs"
    DATE = "dated across the period's edge"
    DEPOSIT = "payout not deposited"
    BALANCE = "balance differs"


@dataclass(frozen=True)
class Problem:
    kind: Kind
    message: str  # one line, naming the Stripe id and the file and line in the books

    def __str__(self) -> str:
        return f"{self.kind}: {self.message}"


@dataclass(frozen=True)
class Period:
    """Accounting dates ``first`` to ``last``, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.first > self.last:
            raise ReconcileRefused(
                f"the period starts ({self.first}) after it ends ({self.last})", "last"
            )

    @property
    def after(self) -> date:
        """The day after the period: the date a balance assertion for it carries."""
        return self.last + timedelta(days=1)

    def holds(self, day: date) -> bool:
        return self.first <= day <= self.last


@dataclass(frozen=True)
class Payout:
    """A payout's balance transaction and the entry that books it (None: none does)."""

    txn: BalanceTransaction
    on: date
    entry: StripeEntry | None

    @property
    def deposited(self) -> bool:
        """Its entry puts in the bank what left Stripe (or takes back what came back)."""
        return self.entry is not None and self.entry.bank_minor == -self.txn.net.minor


@dataclass(frozen=True)
class Reconciliation:
    period: Period
    transactions: int  # Stripe's balance transactions in the period
    matched: int  # of those, booked once, for their amount, within the period
    entries: int  # the books' entries posting to Assets:Stripe in the period
    payouts: tuple[Payout, ...]
    stripe_balance: dict[Currency, Money]  # at the start of period.after
    books_balance: dict[Currency, Money]
    problems: tuple[Problem, ...]

    @property
    def clean(self) -> bool:
        return not self.problems

    def currencies(self) -> list[Currency]:
        return sorted(set(self.stripe_balance) | set(self.books_balance))


def balance_ref(day: date, currency: Currency) -> str:
    return f"reconciled-stripe-{day.isoformat()}-{currency.value}"


def start_of(day: date, tz: ZoneInfo) -> datetime:
    """The first moment of an accounting day, as an aware datetime."""
    return datetime.combine(day, time(0), tz)


def reconcile(
    index: TransactionIndex, gateway: Gateway, period: Period, tz: ZoneInfo
) -> Reconciliation:
    """Stripe's balance transactions against the books' entries for ``period``."""
    held = gateway.balance()
    asked_at = clock.now()
    # Newer ones than the balance we were told would be taken off it twice.
    txns = [
        txn
        for txn in gateway.balance_transactions_since(start_of(period.first - MARGIN, tz))
        if txn.created_at <= asked_at
    ]
    with index.read() as view:
        entries = view.stripe_entries(period.first - MARGIN, period.last + MARGIN)
        books = view.stripe_balance_before(period.after)
    window_end = start_of(period.after + MARGIN, tz)
    near = [txn for txn in txns if txn.created_at < window_end]
    dates = {txn.id: clock.accounting_date(txn.created_at, tz) for txn in near}
    booked, claimed = match(near, entries)

    problems: list[Problem] = []
    payouts: list[Payout] = []
    transactions = matched = 0
    for txn in sorted(near, key=lambda t: (t.created_at, t.id)):
        on, found = dates[txn.id], booked[txn.id]
        if not period.holds(on) and not any(period.holds(e.date) for e in found):
            continue  # a neighbouring period's
        if period.holds(on):
            transactions += 1
            if txn.type in PAYOUT_TYPES:
                payouts.append(Payout(txn, on, found[0] if len(found) == 1 else None))
        found_problems = _check(txn, on, found, period)
        problems.extend(found_problems)
        if period.holds(on) and not found_problems:
            matched += 1
    in_period = [e for e in entries if period.holds(e.date)]
    problems.extend(
        Problem(
            Kind.NOT_AT_STRIPE,
            f"{_entry(entry)} moves {entry.amount.format()} at Assets:Stripe; "
            "Stripe has no balance transaction for it",
        )
        for entry in in_period
        if _key(entry) not in claimed
    )
    stripe_balance = _stripe_at_end(held, txns, start_of(period.after, tz))
    books_balance, strange = _books_at_end(books)
    problems.extend(strange)
    for currency in sorted(set(stripe_balance) | set(books_balance)):
        at_stripe = stripe_balance.get(currency, Money.zero(currency))
        in_books = books_balance.get(currency, Money.zero(currency))
        if at_stripe != in_books:
            problems.append(
                Problem(
                    Kind.BALANCE,
                    f"Assets:Stripe at the start of {period.after}: Stripe holds "
                    f"{at_stripe.format()}, the books {in_books.format()}",
                )
            )
    return Reconciliation(
        period=period,
        transactions=transactions,
        matched=matched,
        entries=len(in_period),
        payouts=tuple(payouts),
        stripe_balance=stripe_balance,
        books_balance=books_balance,
        problems=tuple(problems),
    )


def match(
    txns: Sequence[BalanceTransaction], entries: Sequence[StripeEntry]
) -> tuple[dict[str, list[StripeEntry]], set[tuple[int, str]]]:
    """Each balance transaction's entries, and the keys of every entry given to one."""
    naming: dict[str, list[StripeEntry]] = defaultdict(list)
    for entry in entries:
        for name in names(entry):
            naming[name].append(entry)
    booked: dict[str, list[StripeEntry]] = {txn.id: [] for txn in txns}
    claimed: set[tuple[int, str]] = set()

    def claim(txn: BalanceTransaction, found: Iterable[StripeEntry]) -> None:
        for entry in found:
            if _key(entry) not in claimed:
                booked[txn.id].append(entry)
                claimed.add(_key(entry))

    # 1. Entries that name the balance transaction itself.
    for txn in txns:
        claim(txn, naming.get(txn.id, ()))
    # 2. For one no entry names: entries naming its source (a refund's) with its amount;
    #    failing those, when it is the only one of its source left, any naming the source.
    waiting: dict[str, list[BalanceTransaction]] = defaultdict(list)
    for txn in txns:
        if not booked[txn.id] and txn.source:
            waiting[txn.source].append(txn)
    for source, unmatched in waiting.items():
        for txn in unmatched:
            claim(txn, [e for e in naming.get(source, ()) if _same_amount(txn, e)])
        left = [txn for txn in unmatched if not booked[txn.id]]
        if len(left) == 1:
            claim(left[0], naming.get(source, ()))
    # 3. An entry left that names a source already booked books it a second time.
    by_source: dict[str, list[BalanceTransaction]] = defaultdict(list)
    for txn in txns:
        if txn.source:
            by_source[txn.source].append(txn)
    for entry in entries:
        if _key(entry) in claimed:
            continue
        for name in sorted(names(entry)):
            candidates = by_source.get(name)
            if candidates:
                same = [t for t in candidates if _same_amount(t, entry)]
                claim((same or candidates)[0], [entry])
                break
    return booked, claimed


def names(entry: StripeEntry) -> set[str]:
    """The Stripe ids an entry names: its ``stripe-id``, and its ref without ``stripe-``."""
    found = set()
    if entry.ref and entry.ref.startswith(REF_PREFIX):
        found.add(entry.ref.removeprefix(REF_PREFIX))
    if entry.stripe_id:
        found.add(entry.stripe_id)
    return found


def _key(entry: StripeEntry) -> tuple[int, str]:
    return (entry.key, entry.currency)


def _same_amount(txn: BalanceTransaction, entry: StripeEntry) -> bool:
    return entry.currency == txn.net.currency.value and entry.minor == txn.net.minor


def _check(
    txn: BalanceTransaction, on: date, found: Sequence[StripeEntry], period: Period
) -> list[Problem]:
    """What is wrong with how one balance transaction is booked."""
    what = _txn(txn, on)
    if not found:
        return [Problem(Kind.NOT_BOOKED, f"Stripe {what} has no entry in the books")]
    if len(found) > 1:
        where = ", ".join(_entry(e) for e in found)
        return [Problem(Kind.DUPLICATE, f"Stripe {what} is booked {len(found)} times: {where}")]
    entry = found[0]
    problems = []
    if not _same_amount(txn, entry):
        problems.append(
            Problem(
                Kind.AMOUNT,
                f"Stripe {what} is booked as {entry.amount.format()} to Assets:Stripe "
                f"at {_entry(entry)}",
            )
        )
    if period.holds(on) != period.holds(entry.date):
        problems.append(
            Problem(Kind.DATE, f"Stripe {what} is booked on {entry.date} at {_entry(entry)}")
        )
    if txn.type in PAYOUT_TYPES and not Payout(txn, on, entry).deposited:
        problems.append(
            Problem(
                Kind.DEPOSIT,
                f"Stripe {what} moved {(-txn.net).format()} to the bank, but {_entry(entry)} "
                f"moves {entry.bank.format()} at {accounts.CHECKING}",
            )
        )
    return problems


def _txn(txn: BalanceTransaction, on: date) -> str:
    kind = txn.type or "balance transaction"
    of = f" of {txn.source}" if txn.source else ""
    return f"{txn.id} ({kind}{of}, {on}, {txn.net.format()})"


def _entry(entry: StripeEntry) -> str:
    named = [f"ref {entry.ref}"] if entry.ref else []
    if entry.stripe_id:
        named.append(f"stripe-id {entry.stripe_id}")
    label = ", ".join(named) or "no ref or stripe-id"
    return f'{entry.where} ({entry.date} "{entry.narration}", {label})'


def _stripe_at_end(
    held: Sequence[Money], txns: Sequence[BalanceTransaction], end: datetime
) -> dict[Currency, Money]:
    """Stripe's balance at ``end``: what it holds now less what moved since."""
    balance = {money.currency: money for money in held}
    for txn in txns:
        if txn.created_at >= end:
            currency = txn.net.currency
            balance[currency] = balance.get(currency, Money.zero(currency)) - txn.net
    return balance


def _books_at_end(books: dict[str, int]) -> tuple[dict[Currency, Money], list[Problem]]:
    balance: dict[Currency, Money] = {}
    problems = []
    for code, minor in sorted(books.items()):
        try:
            currency = Currency(code)
        except ValueError:
            problems.append(
                Problem(
                    Kind.BALANCE,
                    f"the books hold {code} at Assets:Stripe, a currency conservancy does not keep",
                )
            )
            continue
        balance[currency] = Money.from_minor(minor, currency)
    return balance, problems


def check_ended(period: Period, today: date) -> None:
    """A balance is asserted only for a period that has ended: entries may still come today."""
    if period.last >= today:
        raise ReconcileRefused(
            f"{period.last} has not ended yet: a balance is asserted only for a period "
            "that has ended",
            "last",
        )


def assert_balance(
    session: Session, actor: Staff | str, report: Reconciliation, *, today: date
) -> list[Balance]:
    """Record a ``balance`` assertion per currency for a clean period that has ended.

    Returns the assertions recorded now; an empty list when the books already
    have them (a second run). Flushes; the caller commits, then posts.
    """
    period = report.period
    check_ended(period, today)
    if not report.clean:
        raise ReconcileRefused(
            f"Stripe and the books differ in {len(report.problems)} ways: nothing asserted"
        )
    written = []
    for currency in report.currencies():
        entry = Balance(
            ref=balance_ref(period.after, currency),
            date=period.after,
            account=accounts.STRIPE,
            amount=report.books_balance.get(currency, Money.zero(currency)),
        )
        if record_if_absent(session, entry):
            audit.record(
                session,
                actor,
                "books.balance-asserted",
                ("ledger", entry.ref),
                after={
                    "account": entry.account,
                    "date": entry.date.isoformat(),
                    "amount": str(entry.amount),
                    "period": f"{period.first.isoformat()} to {period.last.isoformat()}",
                },
            )
            written.append(entry)
    return written
