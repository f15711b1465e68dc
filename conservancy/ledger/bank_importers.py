"""Bank statements as beangulp importers: the Beancount way of bringing them into a ledger.

One :class:`StatementImporter` per bank account reads that account's OFX/QFX, camt.053 or
CSV files (``bank.formats``) and extracts a ``!``-flagged transaction per line, with the
bank's id as ``bank-id`` metadata, and a ``balance`` assertion of the closing balance.
A Beancount user wires it into their own ``import.py``::

    #!/usr/bin/env python3
    import beangulp

    from conservancy.bank.formats import CsvMap
    from conservancy.ledger.bank_importers import StatementImporter
    from conservancy.money import Currency

    importers = [
        StatementImporter(
            "Assets:Bank:Checking", currency=Currency.USD, account_number="000123456789"
        ),
        StatementImporter(
            "Assets:Bank:Euro", currency=Currency.EUR, account_number="DE89 3704 0044 0532 0130 00"
        ),
        StatementImporter(
            "Assets:Bank:Savings",
            currency=Currency.USD,
            account_number="987654321",
            csv_map=CsvMap(
                date="Posting Date", amount=None, debit="Debit", credit="Credit",
                date_format="%m/%d/%Y", balance="Balance",
            ),
        ),
    ]

    if __name__ == "__main__":
        beangulp.Ingest(importers)()

and runs beangulp's commands over a downloads folder::

    python import.py identify ~/Downloads
    python import.py extract ~/Downloads -e books.beancount -o new.beancount
    python import.py archive ~/Downloads -o documents/

Give each importer its ``account_number``: a file is then claimed only by the importer of
its own account (a CSV without an account column is claimed by every CSV importer whose
columns it has, and beangulp refuses a file two importers claim). With ``-e``, lines
whose ``bank-id`` the books already hold are left out, and lines repeated by an
overlapping file in the same run are printed commented out as duplicates.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import beangulp
from beancount.core import amount, data, flags
from beangulp.extract import DUPLICATE

from conservancy.bank.formats import MAX_BYTES, CsvMap, read_statement
from conservancy.bank.statement import Statement, StatementRefused, normalise_account
from conservancy.money import Currency, Money

BANK_ID = "bank-id"
CHECK_NUMBER = "check-number"
_EXTENSIONS = {"ofx": "ofx", "camt.053": "xml", "csv": "csv"}


class StatementImporter(beangulp.Importer):  # type: ignore[misc]  # beangulp is untyped
    """Statements of one bank account, in any of the formats ``bank.formats`` reads."""

    def __init__(
        self,
        account: str,
        *,
        currency: Currency,
        account_number: str | None = None,
        csv_map: CsvMap | None = None,
        counter_account: str | None = None,
    ) -> None:
        """``counter_account``, when given, takes the other leg of each transaction, so
        the extracted file loads as it is (Beancount refuses a transaction that does not
        balance); without it each transaction has the bank's one posting, for the user
        or a categorising hook to complete, as beangulp importers usually leave it."""
        self._account = account
        self._currency = currency
        self._number = normalise_account(account_number) if account_number else None
        self._csv_map = csv_map
        self._counter = counter_account
        self._cache: tuple[tuple[str, int, int], Statement] | None = None

    @property
    def name(self) -> str:
        return f"{type(self).__module__}.{type(self).__name__}:{self._account}"

    def identify(self, filepath: str) -> bool:
        """Whether the file is a statement of this account: it reads (any format), is in
        the account's currency and, when both are known, has its account number."""
        try:
            statement = self._read(filepath)
        except Exception:  # anything unreadable is simply not ours; beangulp asks every importer
            return False
        return statement.currency is self._currency and self._ours(statement)

    def account(self, filepath: str) -> str:
        return self._account

    def date(self, filepath: str) -> date | None:
        return self._read(filepath).end

    def filename(self, filepath: str) -> str | None:
        """``statement.ofx`` (``.qfx``, ``.xml``, ``.csv``): beangulp's archive puts the
        date (the statement's end) in front of it and refuses a name that starts with
        one, so the date is not repeated here."""
        suffix = Path(filepath).suffix.lower().lstrip(".")
        fmt = self._read(filepath).format
        return f"statement.{suffix if suffix.isalnum() else _EXTENSIONS[fmt]}"

    def extract(self, filepath: str, existing: data.Entries) -> data.Entries:
        """A transaction per line the books do not hold yet (by ``bank-id``), and the
        closing balance asserted at the start of the day after the statement's end."""
        statement = self._read(filepath)
        if statement.currency is not self._currency:
            raise StatementRefused(
                f"the statement is in {statement.currency}, {self._account} in {self._currency}"
            )
        if not self._ours(statement):
            raise StatementRefused(
                f"the statement is of account {statement.account_number}, not {self._account}'s"
            )
        known = self._known_ids(existing)
        entries: data.Entries = []
        for index, line in enumerate(statement.lines, 1):
            if line.bank_id in known:
                continue
            meta = data.new_metadata(filepath, index, {BANK_ID: line.bank_id})
            if line.check_number:
                meta[CHECK_NUMBER] = line.check_number
            postings = [_posting(self._account, line.amount)]
            if self._counter:
                postings.append(_posting(self._counter, -line.amount))
            entries.append(
                data.Transaction(
                    meta,
                    line.date,
                    flags.FLAG_WARNING,
                    line.payee or None,
                    line.memo,
                    data.EMPTY_SET,
                    data.EMPTY_SET,
                    postings,
                )
            )
        if statement.closing is not None:
            entries.append(
                data.Balance(
                    data.new_metadata(filepath, len(statement.lines) + 1),
                    statement.end + timedelta(days=1),  # Beancount asserts at a day's start
                    self._account,
                    _units(statement.closing),
                    None,
                    None,
                )
            )
        return entries

    def deduplicate(self, entries: data.Entries, existing: data.Entries) -> None:
        """Mark, the beangulp way, the entries the books (or a file extracted earlier in
        the same run) already hold: transactions by ``bank-id`` on this account, the
        balance assertion by day and amount. beangulp prints them commented out."""
        known = self._known_ids(existing)
        balances = {
            (entry.date, entry.amount): entry
            for entry in existing
            if isinstance(entry, data.Balance) and entry.account == self._account
        }
        for entry in entries:
            if isinstance(entry, data.Transaction):
                target = known.get(entry.meta.get(BANK_ID, ""))
            elif isinstance(entry, data.Balance):
                target = balances.get((entry.date, entry.amount))
            else:
                continue
            if target is not None:
                entry.meta[DUPLICATE] = target

    def _read(self, filepath: str) -> Statement:
        """The file's statement, read once however often beangulp asks about the file."""
        path = Path(filepath)
        info = path.stat()
        key = (str(path.resolve()), info.st_mtime_ns, info.st_size)
        if self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        if info.st_size > MAX_BYTES:
            raise StatementRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        statement = read_statement(
            path.read_bytes(), currency=self._currency, csv_map=self._csv_map
        )
        self._cache = (key, statement)
        return statement

    def _ours(self, statement: Statement) -> bool:
        if self._number is None or statement.account_number is None:
            return True
        return normalise_account(statement.account_number) == self._number

    def _known_ids(self, entries: data.Entries) -> dict[str, data.Directive]:
        """The bank ids the entries hold for this account: on a transaction that posts
        to it, or on its posting there (the books may keep the id on either)."""
        known: dict[str, data.Directive] = {}
        for entry in entries:
            if not isinstance(entry, data.Transaction):
                continue
            for posting in entry.postings:
                if posting.account != self._account:
                    continue
                for meta in (entry.meta, posting.meta or {}):
                    bank_id = meta.get(BANK_ID)
                    if isinstance(bank_id, str):
                        known.setdefault(bank_id, entry)
        return known


def _units(money: Money) -> amount.Amount:
    return amount.Amount(money.amount, money.currency.value)


def _posting(account: str, money: Money) -> data.Posting:
    return data.Posting(account, _units(money), None, None, None, None)
