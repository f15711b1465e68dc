"""A bank statement as the formats read it: what every importer gives the matcher.

Each format (``bank.formats``: OFX/QFX, CSV with a column map, ISO 20022 camt.053)
reads a file into one :class:`Statement`; nothing here knows Beancount or the
database. Amounts are :class:`Money` signed from the account holder's side: money
into the account is positive, money out negative.

Every line has a ``bank_id`` that stays the same when the same line comes again, in
the same file or an overlapping statement: the bank's own id for it (OFX ``FITID``,
camt.053 ``AcctSvcrRef``, a CSV id column) when it gives one, otherwise a fingerprint
of the line (:func:`fingerprint`).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from conservancy.kernel.errors import DomainError
from conservancy.money import Currency, Money

# What a line's text may hold at most once read (payee, memo): longer is cut, not refused.
MAX_TEXT = 200


class StatementRefused(DomainError):
    """A file that cannot be imported: malformed, for another account, another currency.

    The message is one line, fit for the CLI and the upload page; nothing is written.
    """


@dataclass(frozen=True, slots=True)
class StatementLine:
    bank_id: str  # the bank's id for the line, or a fingerprint (never empty)
    date: date  # the day the bank booked it
    amount: Money  # into the account positive, out negative; never zero
    payee: str = ""  # who, as the bank names them (OFX NAME, camt.053's party)
    memo: str = ""  # the bank's description
    check_number: str | None = None  # a cheque's number when the bank gives one


@dataclass(frozen=True, slots=True)
class Statement:
    format: str  # "ofx", "csv" or "camt.053"
    account_number: str | None  # the bank's account id (OFX ACCTID, IBAN), when the file says
    currency: Currency
    start: date  # the first day the statement covers
    end: date  # the last day it covers (the closing balance is at the end of this day)
    opening: Money | None  # the balance at the start of ``start``, when the file gives it
    closing: Money | None  # the balance at the end of ``end``, when the file gives it
    lines: tuple[StatementLine, ...]


def fingerprint(day: date, amount: Money, text: str, seen: Counter[tuple[str, ...]]) -> str:
    """A stable id for a line the bank gave none: its day, amount and text, and how many
    identical lines came before it in the same statement (two 5.00 fees on one day are
    two lines). ``seen`` is the statement's running count; pass the same one for each line.
    """
    key = (day.isoformat(), str(amount.amount), amount.currency.value, " ".join(text.split()))
    seen[key] += 1
    digest = hashlib.sha256("\x1f".join((*key, str(seen[key]))).encode()).hexdigest()
    return f"fp-{digest[:24]}"


def normalise_account(number: str) -> str:
    """An account number compared without spaces, dashes or case: ``DE89 3704…`` = ``de893704…``."""
    return "".join(ch for ch in number if ch.isalnum()).upper()


def totals(lines: Iterable[StatementLine], currency: Currency) -> Money:
    total = Money.zero(currency)
    for line in lines:
        total = total + line.amount
    return total
