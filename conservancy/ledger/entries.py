"""Ledger entries as plain values, before they become Beancount directives.

Services build these and record them in the outbox; only ``ledger.writer``
turns them into Beancount objects. They are checked when made: a transaction
that does not balance to the cent, or has no ``ref``, cannot exist.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from conservancy.money import Currency, Money

_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")
_META_KEY = re.compile(r"^[a-z][a-z0-9-]{0,63}$")
_SPACES = re.compile(r"\s+")
MAX_TEXT = 200


class UnbalancedEntry(ValueError):
    pass


def clean_text(text: str | None, limit: int = MAX_TEXT) -> str:
    """Donor text made fit for one line of the books.

    Beancount's printer escapes quotes and backslashes, which already keeps the
    file whole; we also fold newlines, tabs and other control characters into
    single spaces so that every entry stays a block of plain lines (the
    incremental reader and people reading the file both rely on that). Bidi
    overrides, which could make a line read differently from what it says, and
    lone surrogates, which cannot be written, are dropped; joiners (ZWJ, ZWNJ)
    stay, since names in many scripts need them.
    """
    if not text:
        return ""
    # Printable text (most names) has nothing to fold or drop: no control or separator
    # character but the plain space, no surrogate, no bidi control (those are format
    # characters, which Python counts unprintable).
    folded = text if text.isprintable() else "".join(_fold(c) for c in text)
    return _SPACES.sub(" ", folded).strip()[:limit].rstrip()


_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _fold(char: str) -> str:
    category = unicodedata.category(char)
    if category in {"Cc", "Zs", "Zl", "Zp"}:
        return " "
    if category == "Cs" or char in _BIDI_CONTROLS:
        return ""
    return char


def check_ref(ref: str) -> str:
    if not _REF.match(ref):
        raise ValueError(f"{ref!r} is not a valid ledger ref")
    return ref


@dataclass(frozen=True, slots=True)
class Posting:
    account: str
    amount: Money
    # The same money in the currency the donor gave it in, when that is not the books'
    # (written as the posting's ``donor-amount`` metadata; see donations.bookkeeping).
    donor_amount: Money | None = None


@dataclass(frozen=True, slots=True)
class Transaction:
    ref: str
    date: date
    narration: str
    postings: tuple[Posting, ...]
    payee: str | None = None
    meta: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_ref(self.ref)
        object.__setattr__(self, "narration", clean_text(self.narration))
        object.__setattr__(self, "payee", clean_text(self.payee) or None)
        meta = {}
        for key, value in self.meta.items():
            if not _META_KEY.match(key) or key == "ref":
                raise ValueError(f"{key!r} is not an allowed metadata key")
            meta[key] = clean_text(value)
        object.__setattr__(self, "meta", meta)
        if len(self.postings) < 2:
            raise UnbalancedEntry(f"{self.ref}: a transaction needs two postings")
        totals: dict[Currency, int] = defaultdict(int)
        for posting in self.postings:
            totals[posting.amount.currency] += posting.amount.minor
        off = {cur: total for cur, total in totals.items() if total}
        if off:
            raise UnbalancedEntry(f"{self.ref}: postings do not balance: {off}")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "transaction",
            "ref": self.ref,
            "date": self.date.isoformat(),
            "payee": self.payee,
            "narration": self.narration,
            "meta": self.meta,
            "postings": [_posting_json(p) for p in self.postings],
        }


@dataclass(frozen=True, slots=True)
class Open:
    """Opens an account. Carries a ref too, so it is written exactly once like the rest."""

    ref: str
    date: date
    account: str
    # The account's metadata beside the ref: an income account's ``form-990-line``.
    meta: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        check_ref(self.ref)

    def to_json(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": "open",
            "ref": self.ref,
            "date": self.date.isoformat(),
            "account": self.account,
        }
        if self.meta:
            found["meta"] = dict(self.meta)
        return found


@dataclass(frozen=True, slots=True)
class Balance:
    """Asserts an account's balance at the start of ``date`` (Beancount's ``balance``).

    Written once a bookkeeper has reconciled the account (``stripe reconcile
    --assert``): from then on ``ledger check`` fails if anything dated before it
    changes what the account held. It carries a ref, so it is written exactly once.
    """

    ref: str
    date: date
    account: str
    amount: Money

    def __post_init__(self) -> None:
        check_ref(self.ref)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "balance",
            "ref": self.ref,
            "date": self.date.isoformat(),
            "account": self.account,
            "amount": [str(self.amount.amount), self.amount.currency.value],
        }


Entry = Transaction | Open | Balance


def entry_from_json(data: dict[str, Any]) -> Entry:
    from decimal import Decimal

    if data["kind"] == "open":
        return Open(
            ref=data["ref"],
            date=date.fromisoformat(data["date"]),
            account=data["account"],
            meta=tuple((str(k), str(v)) for k, v in data.get("meta", {}).items()),
        )
    if data["kind"] == "balance":
        number, currency = data["amount"]
        return Balance(
            ref=data["ref"],
            date=date.fromisoformat(data["date"]),
            account=data["account"],
            amount=Money(Decimal(number), Currency(currency)),
        )
    return Transaction(
        ref=data["ref"],
        date=date.fromisoformat(data["date"]),
        payee=data["payee"],
        narration=data["narration"],
        meta=dict(data["meta"]),
        postings=tuple(_posting_from_json(fields) for fields in data["postings"]),
    )


def _posting_json(posting: Posting) -> list[str]:
    """``[account, number, currency]``, and the donor's number and currency when given."""
    fields = [posting.account, str(posting.amount.amount), posting.amount.currency.value]
    if posting.donor_amount is not None:
        fields += [str(posting.donor_amount.amount), posting.donor_amount.currency.value]
    return fields


def _posting_from_json(fields: list[str]) -> Posting:
    from decimal import Decimal

    account, number, currency, *donor = fields
    return Posting(
        account,
        Money(Decimal(number), Currency(currency)),
        Money(Decimal(donor[0]), Currency(donor[1])) if donor else None,
    )


def dumps(entry: Entry) -> str:
    return json.dumps(entry.to_json(), sort_keys=True, ensure_ascii=False)


def loads(text: str) -> Entry:
    return entry_from_json(json.loads(text))
