"""One fund's books on their own: a Beancount file a project takes to a new sponsor.

The sponsor's books hold every fund in shared accounts (``Assets:Stripe``,
``Assets:Bank:Checking``). A project leaving takes only its own postings
(``Income:<Fund>:*``, ``Expenses:<Fund>:*``, ``Equity:Net-Assets:<Fund>``, as
the transaction index has them); the other side of each transaction is
collapsed into one posting to ``Assets:Held-By-Sponsor:<Sponsor>``.

Why that account: from the project's side, its money was never in a bank
account of its own but held for it by the sponsor, which owes the balance to
whoever takes the project over. The sponsor's pooled accounts would be wrong in
a file of one fund (they would show only the fund's share of their movements),
and an asset named for the sponsor says exactly what the balance is: a claim on
that sponsor, which the new sponsor clears when the money arrives
(``Assets:Bank`` / ``Assets:Held-By-Sponsor:<Sponsor>``). Money moved between
funds inside the sponsor's books (a sponsorship fee to ``General``, a
reclassification) lands there too: it is the sponsor holding more or less.

The fund's balance before the first day opens the file as one entry against
``Equity:Net-Assets:<Fund>``, the account the sponsor's own books use for
opening balances (SPEC section 6), so that minus the sum of the fund's postings
in the file is the fund's balance in the sponsor's books on the last day.

Every directive is printed by Beancount's own printer, which escapes quotes and
backslashes; payees, narrations and metadata are also folded to one line
(``entries.clean_text``) so that each entry stays a block of plain lines.
The ``entity`` metadata (the sponsor's donor id) and ``stripe-id`` (the
sponsor's Stripe account's) stay behind; ``ref`` and ``receipt`` go along.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from beancount import loader
from beancount.core import amount, data
from beancount.parser import printer

from conservancy.kernel.errors import DomainError
from conservancy.ledger import accounts
from conservancy.ledger.entries import clean_text
from conservancy.ledger.index import IndexedTransaction
from conservancy.money import Currency

HELD_BY = "Assets:Held-By-Sponsor"
OPENING_NARRATION = "Opening balance: what {sponsor} held for the fund before {day}"
# Folding text to one line never lengthens it; this only keeps clean_text from cutting.
_NO_LIMIT = 1_000_000


class FundBooksBroken(DomainError):
    """The file made does not load on its own, or does not add up to the fund's balance."""


def holding_account(sponsor_name: str) -> str:
    """``Assets:Held-By-Sponsor:Test-Sponsor-Inc`` for "Test Sponsor, Inc."."""
    words = re.findall(r"[A-Za-z0-9]+", sponsor_name)
    component = "-".join(w[:1].upper() + w[1:] for w in words) or "Sponsor"
    if not component[:1].isalpha():
        component = f"Sponsor-{component}"
    return f"{HELD_BY}:{accounts.check_fund_name(component[:63].rstrip('-'))}"


@dataclass(frozen=True)
class FundBooks:
    """What the file holds: one fund's transactions from ``first_day`` on."""

    title: str
    sponsor_name: str
    fund: str
    first_day: date
    opening: Mapping[str, int]  # the fund's balance before first_day, by currency, minor units
    transactions: Sequence[IndexedTransaction]  # in the books' order, postings of the fund only
    # Each account's Form 990 metadata as the sponsor's books open it (Snapshot.form_990):
    # carried onto the file's opens, with the defaults by name where the books give none.
    form_990: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def open_meta(self, account: str) -> dict[str, str]:
        """What the file's ``open`` of ``account`` carries: an income account's Part VIII
        line, an expense account's Part IX function (and line), as the sponsor has them."""
        meta = dict(self.form_990.get(account, {}))
        if account.startswith("Income:"):
            default = accounts.default_form_990_line(account)
            if accounts.FORM_990_LINE not in meta and default is not None:
                meta[accounts.FORM_990_LINE] = default
        elif account.startswith("Expenses:"):
            function = accounts.default_function(account)
            if accounts.FUNCTION not in meta and function is not None:
                meta[accounts.FUNCTION] = function
        return meta

    @property
    def holder(self) -> str:
        return holding_account(self.sponsor_name)

    def closing(self) -> dict[str, int]:
        """The fund's balance after the last transaction, by currency, in minor units."""
        balance: dict[str, int] = defaultdict(int, self.opening)
        for txn in self.transactions:
            for posting in txn.postings:
                balance[posting.currency] -= posting.minor
        return dict(balance)


def _number(minor: int, currency: str) -> Decimal:
    try:
        units = Currency(currency).minor_units
    except ValueError:
        units = 2  # a commodity that is not one of ours: the index counts it in hundredths
    return (Decimal(minor) / Decimal(10) ** units).quantize(Decimal(1).scaleb(-units))


def _posting(account: str, minor: int, currency: str) -> data.Posting:
    return data.Posting(
        account, amount.Amount(_number(minor, currency), currency), None, None, None, None
    )


def _transaction(
    day: date,
    flag: str,
    payee: str | None,
    narration: str,
    meta: dict[str, object],
    postings: list[data.Posting],
) -> data.Transaction:
    return data.Transaction(
        meta,
        day,
        flag,
        clean_text(payee, _NO_LIMIT) or None,
        clean_text(narration, _NO_LIMIT),
        frozenset(),
        frozenset(),
        postings,
    )


def _opening(books: FundBooks) -> data.Transaction | None:
    postings = []
    for currency, minor in sorted(books.opening.items()):
        if minor:
            postings.append(_posting(books.holder, minor, currency))
            postings.append(_posting(accounts.net_assets(books.fund), -minor, currency))
    if not postings:
        return None
    narration = OPENING_NARRATION.format(sponsor=books.sponsor_name, day=books.first_day)
    return _transaction(books.first_day, "*", None, narration, {}, postings)


def _exported(txn: IndexedTransaction, holder: str) -> data.Transaction:
    """The fund's postings as booked; the rest of the transaction, per currency, in one."""
    postings = [_posting(p.account, p.minor, p.currency) for p in txn.postings]
    others: dict[str, int] = defaultdict(int)
    for p in txn.postings:
        others[p.currency] -= p.minor
    postings.extend(
        _posting(holder, minor, currency) for currency, minor in sorted(others.items()) if minor
    )
    meta: dict[str, object] = {}
    if txn.ref:
        meta["ref"] = clean_text(txn.ref, _NO_LIMIT)
    if txn.receipt:
        meta["receipt"] = clean_text(txn.receipt, _NO_LIMIT)
    flag = "!" if txn.flag == "!" else "*"  # a flagged entry still wants a look
    return _transaction(txn.date, flag, txn.payee, txn.narration, meta, postings)


def _quote(text: str) -> str:
    """A string as Beancount reads it back: what its printer does for payees."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _header(title: str) -> str:
    return (
        f"; {clean_text(title, _NO_LIMIT)}\n"
        "; One fund's own transactions, taken from its fiscal sponsor's books. The other\n"
        "; side of each is what the sponsor holds for the fund: the account below.\n\n"
        f'option "title" {_quote(clean_text(title, _NO_LIMIT))}\n'
        'option "operating_currency" "USD"\n'
        "; No transaction may be off by any amount.\n"
        'option "tolerance_multiplier" "0"\n\n'
    )


def fund_books_text(books: FundBooks) -> str:
    """The file: options, an ``open`` for each account it uses, the opening balance, then
    each transaction in the books' order."""
    body: list[data.Directive] = []
    opening = _opening(books)
    if opening is not None:
        body.append(opening)
    body.extend(_exported(txn, books.holder) for txn in books.transactions)
    used = {books.holder, accounts.net_assets(books.fund)}
    for entry in body:
        assert isinstance(entry, data.Transaction)
        used.update(p.account for p in entry.postings)
    opens = [
        data.Open(books.open_meta(name), books.first_day, name, [], None) for name in sorted(used)
    ]
    parts = [_header(books.title)]
    parts.extend(printer.format_entry(entry) for entry in opens)
    parts.append("\n")
    for entry in body:
        parts.append(printer.format_entry(entry).rstrip("\n") + "\n\n")
    return "".join(parts)


def fund_balance(entries: Iterable[data.Directive], fund: str) -> dict[str, Decimal]:
    """Minus the sum of ``fund``'s postings in loaded entries, by currency (SPEC section 6)."""
    balance: dict[str, Decimal] = defaultdict(Decimal)
    for entry in entries:
        if not isinstance(entry, data.Transaction):
            continue
        for posting in entry.postings:
            if accounts.fund_of(posting.account) == fund and posting.units is not None:
                number = posting.units.number
                assert number is not None
                balance[posting.units.currency] -= number
    return {currency: total for currency, total in balance.items() if total}


def check_fund_books(text: str, books: FundBooks) -> None:
    """Load the file alone with Beancount, as the new sponsor will; FundBooksBroken if it
    reports any error, or if the fund's balance in it is not ``books.closing()``."""
    entries, errors, _options = loader.load_string(text)
    if errors:
        first = " ".join(str(errors[0].message).split())
        raise FundBooksBroken(
            f"the exported books do not load on their own ({len(errors)} errors): {first}"
        )
    found = fund_balance(entries, books.fund)
    expected = {
        currency: _number(minor, currency) for currency, minor in books.closing().items() if minor
    }
    if found != expected:
        raise FundBooksBroken(
            f"the exported books put the fund's balance at {found}, the sponsor's at {expected}"
        )
