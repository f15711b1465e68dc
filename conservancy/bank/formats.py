"""Bank statements read from the files banks give: OFX/QFX, ISO 20022 camt.053 and CSV.

:func:`read_statement` tells the format by the file's content, never by its name (banks
call their files ``export(3).qfx`` or ``download.xml``). Every format ends in the same
checks (:func:`_finish`): each line falls within the statement's days, and the lines
add up from the opening balance to the closing one. Whatever is wrong becomes one
:class:`StatementRefused` line naming what and where; the parsers' own exceptions never
escape, so the upload page and the CLI can show the message as it is.

XML reaches only defusedxml (camt.053) and ofxtools' regex tokenizer (OFX), and a file
that declares a DTD or entities is refused before either sees it: no bank statement needs
one, and they are how entity bombs and external-entity reads get in.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields
from datetime import date, timedelta
from itertools import pairwise
from typing import TYPE_CHECKING

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException
from ofxtools.header import OFXHeaderError
from ofxtools.Parser import OFXTree, ParseError

from conservancy.bank.statement import (
    MAX_TEXT,
    Statement,
    StatementLine,
    StatementRefused,
    fingerprint,
    totals,
)
from conservancy.money import Currency, Money

if TYPE_CHECKING:
    from _csv import Reader
    from xml.etree.ElementTree import Element

MAX_BYTES = 10 * 1024 * 1024  # larger than any month of any account we keep
MAX_LINES = 50_000
HEADER_ROWS = 20  # how far into a CSV the header row may sit, below the bank's preamble
_MAX_WHOLE_DIGITS = 15  # a trillion dollars and change; more is a misread column

NOT_A_STATEMENT = "not an OFX, camt.053 or CSV statement"


@dataclass(frozen=True, slots=True)
class CsvMap:
    """Which of a bank's CSV columns holds what: header names, matched case-insensitively
    after stripping spaces. A signed ``amount`` column, or a ``debit``/``credit`` pair of
    unsigned ones (debit is money out), never both."""

    date: str = "Date"
    amount: str | None = "Amount"
    debit: str | None = None
    credit: str | None = None
    description: str = "Description"
    payee: str | None = None
    id: str | None = None  # the bank's id for the line
    balance: str | None = None  # the running balance after the line
    check_number: str | None = None
    account: str | None = None  # a column holding the account number
    date_format: str = "%Y-%m-%d"
    decimal_comma: bool = False  # amounts written 1.234,56
    delimiter: str = ","

    def __post_init__(self) -> None:
        if (self.debit is None) != (self.credit is None):
            raise ValueError("the CSV map needs both 'debit' and 'credit', or neither")
        if self.debit is not None and self.amount is not None:
            raise ValueError("the CSV map takes 'amount' or 'debit' and 'credit', not both")
        if self.debit is None and self.amount is None:
            raise ValueError("the CSV map needs 'amount', or 'debit' and 'credit'")
        for name, value in self.columns().items():
            if not value.strip():
                raise ValueError(f"the CSV map's {name!r} is an empty column name")
        if len(self.delimiter) != 1 or self.delimiter in "\r\n\"'":
            raise ValueError("the CSV map's 'delimiter' must be one character, not a quote")
        if "%" not in self.date_format:
            raise ValueError("the CSV map's 'date_format' has no % field, like %m/%d/%Y")

    def columns(self) -> dict[str, str]:
        """The mapped columns, by field: ``{"date": "Posting Date", ...}``."""
        names = (
            *("date", "amount", "debit", "credit", "description", "payee", "id"),
            *("balance", "check_number", "account"),
        )
        return {name: value for name in names if (value := getattr(self, name)) is not None}

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> CsvMap:
        """A map from decoded JSON (settings): unknown keys and wrong types refused with a
        line naming the key. ``amount`` may be left out when ``debit`` and ``credit`` are
        given, as a person writing the JSON would."""
        known = {f.name for f in fields(cls)}
        given: dict[str, str | bool | None] = {}
        for key, value in data.items():
            if key not in known:
                raise ValueError(f"unknown key {key!r} in the CSV map")
            if key == "decimal_comma":
                if not isinstance(value, bool):
                    raise ValueError("the CSV map's 'decimal_comma' must be true or false")
            elif key in ("date", "description", "date_format", "delimiter"):
                if not isinstance(value, str):
                    raise ValueError(f"the CSV map's {key!r} must be text")
            elif value is not None and not isinstance(value, str):
                raise ValueError(f"the CSV map's {key!r} must be text or null")
            given[key] = value
        if "amount" not in given and ("debit" in given or "credit" in given):
            given["amount"] = None
        return cls(**given)  # type: ignore[arg-type]  # each value's type checked above


def read_statement(data: bytes, *, currency: Currency, csv_map: CsvMap | None = None) -> Statement:
    """The statement in ``data``, whatever its format. ``currency`` is the ledger
    account's: CSV lines are in it; OFX and camt.053 say their own, which the statement
    reports and the caller compares."""
    kind = _format_of(data)
    if kind == "ofx":
        return read_ofx(data)
    if kind == "camt.053":
        return read_camt053(data)
    return read_csv(data, csv_map or CsvMap(), currency)


def clean_text(text: str) -> str:
    """A bank's text as we keep it: control and format characters (bidi overrides,
    zero-width joiners) dropped, whitespace collapsed, cut to ``MAX_TEXT``."""
    kept = []
    for ch in text:
        if ch.isspace():
            kept.append(" ")
        elif unicodedata.category(ch)[0] != "C":
            kept.append(ch)
    return " ".join("".join(kept).split())[:MAX_TEXT].rstrip()


# -- telling the formats apart -----------------------------------------------------------

_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
_ISO20022 = re.compile(r"urn:iso:std:iso:20022:tech:xsd:(camt\.\d{3})\.\d{3}\.\d{2}")


def _format_of(data: bytes) -> str:
    _check_size(data)
    head = _strip_bom(data)[:4096].lstrip()
    text = head.decode("latin-1")
    if text.upper().startswith("OFXHEADER"):
        return "ofx"
    if text.startswith("<"):
        upper = text.upper()
        if "<?OFX" in upper or "<OFX>" in upper:
            return "ofx"
        if _DECLARATION.search(data):
            raise StatementRefused(_declared("the XML file"))
        found = _ISO20022.search(text)
        if found and found.group(1) == "camt.053":
            return "camt.053"
        if found:
            raise StatementRefused(
                f"an ISO 20022 {found.group(1)} report, not a camt.053 statement"
            )
        raise StatementRefused(NOT_A_STATEMENT)
    return "csv"


def _check_size(data: bytes) -> None:
    if len(data) > MAX_BYTES:
        raise StatementRefused(f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
    if not _strip_bom(data).strip():
        raise StatementRefused("the file is empty")


def _strip_bom(data: bytes) -> bytes:
    return data.removeprefix(codecs.BOM_UTF8)


def _declared(what: str) -> str:
    return f"{what} declares a DTD or entities (<!DOCTYPE, <!ENTITY), which no bank statement does"


# -- shared pieces -----------------------------------------------------------------------


def _shown(text: str) -> str:
    """A piece of the file quoted in a message: cleaned and short, so the message stays
    one readable line whatever the file holds."""
    cleaned = clean_text(text)
    return repr(cleaned if len(cleaned) <= 40 else cleaned[:39] + "…")


def _reason(exc: BaseException) -> str:
    """A library's exception as a few words (ofxtools puts the whole file in some)."""
    words = " ".join(str(exc).split()) or type(exc).__name__
    return words if len(words) <= 80 else words[:79] + "…"


def _currency(code: str, where: str) -> Currency:
    try:
        return Currency(code.strip().upper())
    except ValueError:
        raise StatementRefused(
            f"{where}: the currency {_shown(code)} is not one conservancy keeps"
        ) from None


def _money(negative: bool, whole: str, fraction: str, currency: Currency) -> Money | None:
    """Digits as money, exactly; None when they hold more than the currency's minor
    units (trailing zeros aside: ``12.340`` is 12.34, ``12.345`` is not an amount)."""
    fraction = fraction.rstrip("0")
    units = currency.minor_units
    if len(whole.lstrip("0")) > _MAX_WHOLE_DIGITS or len(fraction) > units:
        return None
    minor = int(whole or "0") * 10**units + int(fraction.ljust(units, "0") or "0")
    return Money.from_minor(-minor if negative else minor, currency)


def _not_an_amount(where: str, text: str, currency: Currency) -> StatementRefused:
    return StatementRefused(f"{where}: {_shown(text)} is not an amount in {currency}")


def _finish(
    *,
    fmt: str,
    account_number: str | None,
    currency: Currency,
    start: date,
    end: date,
    opening: Money | None,
    closing: Money | None,
    lines: list[tuple[str, StatementLine]],
) -> Statement:
    """The checks every format ends with, and the statement."""
    if len(lines) > MAX_LINES:
        raise StatementRefused(f"the file has more than {MAX_LINES:,} lines")
    if end < start:
        raise StatementRefused(f"the statement ends on {end}, before it starts on {start}")
    for where, line in lines:
        if not start <= line.date <= end:
            raise StatementRefused(
                f"{where} is dated {line.date}, outside the statement's {start} to {end}"
            )
    total = totals((line for _, line in lines), currency)
    if closing is not None and opening is None:
        opening = closing - total
    if opening is not None and closing is not None and opening + total != closing:
        off = closing - (opening + total)
        raise StatementRefused(
            f"the lines do not add up to the closing balance: off by {off.amount} {currency}"
        )
    return Statement(
        format=fmt,
        account_number=clean_text(account_number) or None if account_number else None,
        currency=currency,
        start=start,
        end=end,
        opening=opening,
        closing=closing,
        lines=tuple(_distinct_ids(line for _, line in lines)),
    )


def _distinct_ids(lines: Iterator[StatementLine]) -> Iterator[StatementLine]:
    """Lines with the bank's id given twice in one file (some banks repeat an OFX FITID
    for two identical same-day charges) told apart as ``id#2``, ``id#3``: stable across
    overlapping files as a fingerprint's count is, and no line lost as a duplicate."""
    seen: Counter[str] = Counter()
    for line in lines:
        seen[line.bank_id] += 1
        if seen[line.bank_id] == 1:
            yield line
        else:
            yield StatementLine(
                bank_id=f"{line.bank_id}#{seen[line.bank_id]}",
                date=line.date,
                amount=line.amount,
                payee=line.payee,
                memo=line.memo,
                check_number=line.check_number,
            )


def _last_day(day: date, at_midnight: bool, start: date, lines: list[date]) -> date:
    """The last day a statement covers, from its end instant.

    The OFX 2.2 specification (p. 87, the statement response's ``<DTEND>``) calls the end
    "the exclusive date and time in history where the server stopped looking": an end at
    exactly local midnight, ``20261201000000``, covers November 30 and not a minute of
    December 1, so the last day is the one before. Many banks write the last day itself
    instead (``20261130`` is midnight too), so a line booked on the end's own day means
    the day is covered. Any later time of day (banks like ``120000``) covers its own day.
    """
    if at_midnight and day > start and not any(d >= day for d in lines):
        return day - timedelta(days=1)
    return day


# -- OFX ---------------------------------------------------------------------------------

_OFX_DATE = re.compile(
    r"(\d{4})(\d{2})(\d{2})"  # the day, in the timestamp's own offset
    r"(?:(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,3}))?)?)?"
    r"\s*(?:\[\s*[+-]?\d{1,2}(?:[.:]\d{1,2})?(?::[^\]]{0,20})?\])?"
)
_OFX_AMOUNT = re.compile(r"([+-])?(\d*)(?:[.,](\d*))?")


def read_ofx(data: bytes) -> Statement:
    """An OFX 1.x (SGML) or 2.x (XML) bank or credit-card statement.

    ofxtools tokenizes the file (both syntaxes, and the v1 header with its charset);
    the few elements a statement needs are read from its tree here rather than through
    ofxtools' ``convert()``, which validates the whole file against the spec (a bank's
    export without the sign-on block, or with a MEMO over 255 characters, fails it) and
    turns every timestamp into UTC, losing the bank's own date for a line posted at
    23:30 in California.
    """
    _check_size(data)
    if _DECLARATION.search(data):
        raise StatementRefused(_declared("OFX: the file"))
    body = _strip_bom(data).strip()
    if not body.upper().endswith(b"</OFX>"):
        raise StatementRefused("OFX: the file is cut short (it does not end with </OFX>)")
    tree = OFXTree()
    try:
        root = tree.parse(io.BytesIO(body))
    except (ParseError, OFXHeaderError) as exc:
        raise StatementRefused(f"OFX: the file is not well formed ({_reason(exc)})") from None
    except UnicodeDecodeError:
        raise StatementRefused("OFX: the text is not in the header's CHARSET") from None
    except Exception:  # the tree builder's own: an end tag with nothing open, and the like
        raise StatementRefused("OFX: the file is not well formed (its tags do not nest)") from None
    found = [el for el in root.iter() if el.tag in ("STMTRS", "CCSTMTRS")]
    if not found:
        raise StatementRefused("OFX: the file holds no bank or credit-card statement")
    if len(found) > 1:
        raise StatementRefused(
            f"OFX: the file holds {len(found)} statements; import them one at a time"
        )
    stmt = found[0]
    currency = _currency(_ofx_text(stmt, "CURDEF"), "OFX CURDEF")
    account = _ofx_text(stmt, "BANKACCTFROM/ACCTID") or _ofx_text(stmt, "CCACCTFROM/ACCTID")
    tranlist = stmt.find("BANKTRANLIST")
    if tranlist is None:
        raise StatementRefused("OFX: the statement has no transaction list (BANKTRANLIST)")
    start, _ = _ofx_date(_ofx_text(tranlist, "DTSTART"), "OFX DTSTART")
    end_day, end_at_midnight = _ofx_date(_ofx_text(tranlist, "DTEND"), "OFX DTEND")
    transactions = tranlist.findall("STMTTRN")
    if len(transactions) > MAX_LINES:
        raise StatementRefused(f"the file has more than {MAX_LINES:,} lines")
    seen: Counter[tuple[str, ...]] = Counter()
    lines = []
    for number, trn in enumerate(transactions, 1):
        line = _ofx_line(trn, f"OFX transaction {number}", currency, seen)
        if line is not None:
            lines.append((f"OFX transaction {number}", line))
    end = _last_day(end_day, end_at_midnight, start, [line.date for _, line in lines])
    closing = None
    ledger = stmt.find("LEDGERBAL")
    if ledger is not None:
        closing = _ofx_amount(_ofx_text(ledger, "BALAMT"), "OFX LEDGERBAL", currency)
        # DTASOF is checked for form only: the closing balance is taken as of the
        # statement's end (DTEND), which is what the balance is asserted against. Banks
        # that give the balance as of the download day instead are caught by the books'
        # own balance check, not guessed at here.
        _ofx_date(_ofx_text(ledger, "DTASOF"), "OFX LEDGERBAL DTASOF")
    return _finish(
        fmt="ofx",
        account_number=account or None,
        currency=currency,
        start=start,
        end=end,
        opening=None,
        closing=closing,
        lines=lines,
    )


def _ofx_line(
    trn: Element, where: str, currency: Currency, seen: Counter[tuple[str, ...]]
) -> StatementLine | None:
    if trn.find("CURRENCY") is not None or trn.find("ORIGCURRENCY") is not None:
        code = _ofx_text(trn, "CURRENCY/CURSYM") or _ofx_text(trn, "ORIGCURRENCY/CURSYM")
        if code and code.upper() != currency.value:
            raise StatementRefused(f"{where} is in {_shown(code)}, the statement in {currency}")
    day, _ = _ofx_date(_ofx_text(trn, "DTPOSTED"), f"{where} DTPOSTED")
    amount = _ofx_amount(_ofx_text(trn, "TRNAMT"), where, currency)
    if not amount:
        return None
    payee = clean_text(_ofx_text(trn, "NAME") or _ofx_text(trn, "PAYEE/NAME"))
    memo = clean_text(_ofx_text(trn, "MEMO"))
    check = clean_text(_ofx_text(trn, "CHECKNUM")) or None
    bank_id = clean_text(_ofx_text(trn, "FITID"))
    if not bank_id:
        bank_id = fingerprint(day, amount, f"{payee} {memo} {check or ''}", seen)
    return StatementLine(bank_id, day, amount, payee, memo, check)


def _ofx_text(parent: Element, path: str) -> str:
    """An element's text with OFX's escapes (``&amp;``, ``&lt;``, ``&#39;``) undone;
    ofxtools' tree keeps them as the file wrote them."""
    found = parent.find(path)
    if found is None or not found.text:
        return ""
    return html.unescape(found.text).strip()


def _ofx_date(text: str, where: str) -> tuple[date, bool]:
    """The day of an OFX timestamp in the timestamp's own offset (``20261130233000[-8:PST]``
    is November 30, though December 1 in UTC), and whether it is exactly midnight."""
    match = _OFX_DATE.fullmatch(text)
    if not text:
        raise StatementRefused(f"{where} is missing")
    if match is None:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date")
    year, month, day, hour, minute, second, milli = match.groups()
    try:
        found = date(int(year), int(month), int(day))
    except ValueError:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date") from None
    clock = (hour or "00", minute or "00", second or "00", milli or "0")
    if int(clock[0]) > 23 or int(clock[1]) > 59 or int(clock[2]) > 60:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date")
    return found, all(int(part) == 0 for part in clock)


def _ofx_amount(text: str, where: str, currency: Currency) -> Money:
    """OFX amounts: a sign, digits, and a period or comma as the radix (section 3.2.9.1
    allows either, and no digit grouping)."""
    if not text:
        raise StatementRefused(f"{where} has no amount")
    match = _OFX_AMOUNT.fullmatch(text)
    if match is None or not (match.group(2) or match.group(3)):
        raise _not_an_amount(where, text, currency)
    sign, whole, fraction = match.groups()
    money = _money(sign == "-", whole, fraction or "", currency)
    if money is None:
        raise _not_an_amount(where, text, currency)
    return money


# -- camt.053 ----------------------------------------------------------------------------

_CAMT053 = re.compile(r"\{urn:iso:std:iso:20022:tech:xsd:camt\.053\.001\.(\d{2})\}Document")
_ISO_INSTANT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?)?(?:Z|[+-]\d{2}:\d{2})?"
)
_XML_AMOUNT = re.compile(r"(\d+)(?:\.(\d+))?")


def read_camt053(data: bytes) -> Statement:
    """An ISO 20022 camt.053 statement (versions 02 to 13), read without regard to the
    namespace prefix: one ``Stmt``, its booked entries, its booked balances.

    Days: ``FrToDt`` when the bank gives it, else the opening balance's date to the
    closing balance's. Banks differ on OPBD's date (the first day's start, or the
    previous day's end); the second only makes the statement one day longer at the
    front, a day no line falls in. An entry with several transactions (a deposit of
    several cheques) is one line, as it is one movement on the account.
    """
    _check_size(data)
    if _DECLARATION.search(data):
        raise StatementRefused(_declared("camt.053: the file"))
    try:
        root = SafeET.fromstring(data, forbid_dtd=True)
    except DefusedXmlException:
        raise StatementRefused(_declared("camt.053: the file")) from None
    except SafeET.ParseError as exc:
        raise StatementRefused(f"camt.053: the XML is not well formed ({_reason(exc)})") from None
    version = _CAMT053.fullmatch(root.tag)
    if version is None or not 2 <= int(version.group(1)) <= 13:
        raise StatementRefused(f"{NOT_A_STATEMENT} (camt.053 versions 02 to 13 are read)")
    statements = _path_all(root, "BkToCstmrStmt/Stmt")
    if not statements:
        raise StatementRefused("camt.053: the file holds no statement (Stmt)")
    if len(statements) > 1:
        raise StatementRefused(
            f"camt.053: the file holds {len(statements)} statements; import them one at a time"
        )
    stmt = statements[0]
    account = _xml_text(stmt, "Acct/Id/IBAN") or _xml_text(stmt, "Acct/Id/Othr/Id")
    balances = _camt_balances(stmt)
    if "CLBD" not in balances:
        raise StatementRefused("camt.053: no closing balance (CLBD)")
    code = _xml_text(stmt, "Acct/Ccy")
    currency = _currency(code, "camt.053 Acct/Ccy") if code else balances["CLBD"][0].currency
    for kind, (balance, _, _) in balances.items():
        if balance.currency is not currency:
            raise StatementRefused(
                f"camt.053: the {kind} balance is in {balance.currency}, the account in {currency}"
            )
    entries = _kids(stmt, "Ntry")
    if len(entries) > MAX_LINES:
        raise StatementRefused(f"the file has more than {MAX_LINES:,} lines")
    seen: Counter[tuple[str, ...]] = Counter()
    lines = []
    for number, entry in enumerate(entries, 1):
        line = _camt_line(entry, f"camt.053 entry {number}", currency, seen)
        if line is not None:
            lines.append((f"camt.053 entry {number}", line))
    opening = balances.get("OPBD") or balances.get("PRCD")
    start, end = _camt_days(stmt, opening, balances["CLBD"], [line.date for _, line in lines])
    return _finish(
        fmt="camt.053",
        account_number=account or None,
        currency=currency,
        start=start,
        end=end,
        opening=opening[0] if opening else None,
        closing=balances["CLBD"][0],
        lines=lines,
    )


_Balance = tuple[Money, date, bool]  # the amount, its day, whether at exactly midnight


def _camt_balances(stmt: Element) -> dict[str, _Balance]:
    """The statement's balances by code (OPBD, PRCD, CLBD); the first of each counts."""
    found: dict[str, _Balance] = {}
    for bal in _kids(stmt, "Bal"):
        kind = _xml_text(bal, "Tp/CdOrPrtry/Cd").upper()
        if kind not in ("OPBD", "PRCD", "CLBD") or kind in found:
            continue
        where = f"camt.053 {kind} balance"
        amount = _camt_amount(bal, where, None)
        day, midnight = _iso_day(_xml_text(bal, "Dt/Dt") or _xml_text(bal, "Dt/DtTm"), where)
        found[kind] = (amount, day, midnight)
    return found


def _camt_days(
    stmt: Element, opening: _Balance | None, closing: _Balance, lines: list[date]
) -> tuple[date, date]:
    period = _path(stmt, "FrToDt")
    if period is not None:
        start, _ = _iso_day(_xml_text(period, "FrDtTm"), "camt.053 FrToDt/FrDtTm")
        end, midnight = _iso_day(_xml_text(period, "ToDtTm"), "camt.053 FrToDt/ToDtTm")
        return start, _last_day(end, midnight, start, lines)
    start = opening[1] if opening else min([*lines, closing[1]])
    return start, closing[1]


def _camt_line(
    entry: Element, where: str, currency: Currency, seen: Counter[tuple[str, ...]]
) -> StatementLine | None:
    status = (_xml_text(entry, "Sts/Cd") or _xml_text(entry, "Sts")).upper()
    if status != "BOOK":
        return None  # pending (PDNG) and information-only (INFO) entries are not booked
    amount = _camt_amount(entry, where, currency)
    if not amount:
        return None
    booked = _xml_text(entry, "BookgDt/Dt") or _xml_text(entry, "BookgDt/DtTm")
    day, _ = _iso_day(booked, f"{where} BookgDt")
    details = _path_all(entry, "NtryDtls/TxDtls")
    party = "Dbtr" if amount.minor > 0 else "Cdtr"
    payee = ""
    for tx in details:
        payee = _xml_text(tx, f"RltdPties/{party}/Nm") or _xml_text(tx, f"RltdPties/{party}/Pty/Nm")
        if payee:
            break
    remittance = [_xml_text(ustrd) for tx in details for ustrd in _path_all(tx, "RmtInf/Ustrd")]
    memo = " ".join(part for part in remittance if part) or _xml_text(entry, "AddtlNtryInf")
    cheques = [number for tx in details if (number := _xml_text(tx, "Refs/ChqNb"))]
    if len(cheques) > 1:
        memo = f"{memo} (cheques {', '.join(cheques)})".strip()
    payee, memo = clean_text(payee), clean_text(memo)
    check = clean_text(cheques[0]) if len(cheques) == 1 else None
    return StatementLine(
        bank_id=_camt_bank_id(entry, details, day, amount, f"{payee} {memo}", seen),
        date=day,
        amount=amount,
        payee=payee,
        memo=memo,
        check_number=check or None,
    )


def _camt_bank_id(
    entry: Element,
    details: list[Element],
    day: date,
    amount: Money,
    text: str,
    seen: Counter[tuple[str, ...]],
) -> str:
    """The bank's reference for the entry, else the first transaction's; else a
    fingerprint. The payer's EndToEndId goes into the fingerprint rather than standing as
    the id: a payer may send the same one every month, and it would dedupe one month's
    gift against the last's."""
    reference = _xml_text(entry, "AcctSvcrRef")
    for tx in details[:1]:
        reference = reference or _xml_text(tx, "Refs/AcctSvcrRef")
    if reference:
        return clean_text(reference)
    end_to_end = _xml_text(details[0], "Refs/EndToEndId") if details else ""
    if end_to_end and end_to_end.upper() != "NOTPROVIDED":
        return fingerprint(day, amount, f"end-to-end {end_to_end}", seen)
    return fingerprint(day, amount, text, seen)


def _camt_amount(parent: Element, where: str, currency: Currency | None) -> Money:
    """``<Amt Ccy="EUR">12.00</Amt>`` with ``<CdtDbtInd>``: DBIT is money out (or, for a
    balance, an overdrawn account)."""
    found = _path(parent, "Amt")
    text = (found.text or "").strip() if found is not None else ""
    code = found.get("Ccy", "") if found is not None else ""
    if not text:
        raise StatementRefused(f"{where} has no amount")
    ccy = _currency(code, where)
    if currency is not None and ccy is not currency:
        raise StatementRefused(f"{where} is in {ccy}, the account in {currency}")
    side = _xml_text(parent, "CdtDbtInd").upper()
    if side not in ("CRDT", "DBIT"):
        raise StatementRefused(f"{where}: CdtDbtInd is {_shown(side)}, not CRDT or DBIT")
    match = _XML_AMOUNT.fullmatch(text)
    money = _money(side == "DBIT", match.group(1), match.group(2) or "", ccy) if match else None
    if money is None:
        raise _not_an_amount(where, text, ccy)
    return money


def _iso_day(text: str, where: str) -> tuple[date, bool]:
    """The day of an ISO date or date-time in its own offset, and whether exactly midnight."""
    if not text:
        raise StatementRefused(f"{where} is missing")
    match = _ISO_INSTANT.fullmatch(text)
    if match is None:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date")
    year, month, day, hour, minute, second = match.groups()
    try:
        found = date(int(year), int(month), int(day))
    except ValueError:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date") from None
    clock = [int(part or 0) for part in (hour, minute, second)]
    if clock[0] > 23 or clock[1] > 59 or clock[2] > 60:
        raise StatementRefused(f"{where}: {_shown(text)} is not a date")
    return found, not any(clock)


def _local(tag: object) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _kids(parent: Element, name: str) -> list[Element]:
    return [child for child in parent if _local(child.tag) == name]


def _path_all(parent: Element, path: str) -> list[Element]:
    """Every element at ``a/b/c`` below ``parent``, whatever the namespace."""
    found = [parent]
    for name in path.split("/"):
        found = [child for el in found for child in _kids(el, name)]
    return found


def _path(parent: Element, path: str) -> Element | None:
    found = _path_all(parent, path)
    return found[0] if found else None


def _xml_text(parent: Element, path: str = "") -> str:
    found = _path(parent, path) if path else parent
    return (found.text or "").strip() if found is not None else ""


# -- CSV ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Row:
    where: str
    day: date
    amount: Money
    balance: Money | None
    payee: str
    memo: str
    check_number: str | None
    bank_id: str
    account: str


def read_csv(data: bytes, csv_map: CsvMap, currency: Currency) -> Statement:
    """A bank's CSV export, through the bank's column map; lines in ``currency``.

    The header may sit below a preamble (account name, period); newest-first files are
    turned around, so the running balance reads forwards: the opening balance is the
    first line's balance less its amount, the closing one the last line's balance.
    """
    _check_size(data)
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=csv_map.delimiter)
    try:
        columns = _csv_header(reader, csv_map)
        rows = _csv_rows(reader, csv_map, columns, currency)
    except csv.Error as exc:
        raise StatementRefused(f"line {reader.line_num}: {_reason(exc)}") from None
    if not rows:
        raise StatementRefused("the file has no lines")
    rows = _in_date_order(rows, csv_map.balance is not None)
    accounts = {row.account for row in rows if row.account}
    if len(accounts) > 1:
        raise StatementRefused(f"the file holds lines of {len(accounts)} accounts")
    first, last = rows[0], rows[-1]
    opening = first.balance - first.amount if first.balance is not None else None
    seen: Counter[tuple[str, ...]] = Counter()
    lines = []
    for row in rows:
        if not row.amount:
            continue
        text_of_line = f"{row.payee} {row.memo} {row.check_number or ''}"
        bank_id = row.bank_id or fingerprint(row.day, row.amount, text_of_line, seen)
        line = StatementLine(bank_id, row.day, row.amount, row.payee, row.memo, row.check_number)
        lines.append((row.where, line))
    return _finish(
        fmt="csv",
        account_number=accounts.pop() if accounts else None,
        currency=currency,
        start=first.day,
        end=last.day,
        opening=opening,
        closing=last.balance,
        lines=lines,
    )


def _decode(data: bytes) -> str:
    """UTF-8 (with or without a BOM), else Windows-1252, as banks' exports are; binary
    files refused rather than read as a CSV of junk."""
    raw = _strip_bom(data)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = raw.decode("cp1252")
        except UnicodeDecodeError:
            raise StatementRefused(NOT_A_STATEMENT) from None
    if any(unicodedata.category(ch) == "Cc" and ch not in "\t\r\n\f" for ch in text[:4096]):
        raise StatementRefused(NOT_A_STATEMENT)
    return text


def _csv_header(reader: Reader, csv_map: CsvMap) -> dict[str, int]:
    """The columns' positions, from the first row within ``HEADER_ROWS`` that names the
    date and amount columns (a bank's preamble comes before it)."""
    wanted = csv_map.columns()
    needed = [wanted["date"], *([wanted["amount"]] if csv_map.amount else [])]
    needed += [wanted[name] for name in ("debit", "credit") if name in wanted]
    for _, row in zip(range(HEADER_ROWS), reader, strict=False):
        names = [cell.strip().lower() for cell in row]
        if all(column.strip().lower() in names for column in needed):
            positions = {}
            for field, column in wanted.items():
                key = column.strip().lower()
                if key not in names:
                    raise StatementRefused(
                        f"line {reader.line_num}: the header has no column {_shown(column)}"
                    )
                positions[field] = names.index(key)
            return positions
    columns = " and ".join(_shown(column) for column in needed)
    raise StatementRefused(
        f"{NOT_A_STATEMENT}: no header row with the columns {columns} in its first "
        f"{HEADER_ROWS} rows"
    )


def _csv_rows(
    reader: Reader, csv_map: CsvMap, columns: dict[str, int], currency: Currency
) -> list[_Row]:
    rows: list[_Row] = []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        if len(rows) >= MAX_LINES:
            raise StatementRefused(f"the file has more than {MAX_LINES:,} lines")
        where = f"line {reader.line_num}"

        def cell(field: str, row: list[str] = row) -> str:
            index = columns.get(field)
            return row[index].strip() if index is not None and index < len(row) else ""

        if csv_map.amount is not None:
            amount = _csv_amount(cell("amount"), where, currency, csv_map.decimal_comma)
        else:
            debit = _csv_amount(cell("debit"), where, currency, csv_map.decimal_comma)
            credit = _csv_amount(cell("credit"), where, currency, csv_map.decimal_comma)
            amount = credit - abs(debit)
        balance = None
        if csv_map.balance is not None and cell("balance"):
            balance = _csv_amount(cell("balance"), where, currency, csv_map.decimal_comma)
        rows.append(
            _Row(
                where=where,
                day=_csv_date(cell("date"), where, csv_map.date_format),
                amount=amount,
                balance=balance,
                payee=clean_text(cell("payee")),
                memo=clean_text(cell("description")),
                check_number=clean_text(cell("check_number")) or None,
                bank_id=clean_text(cell("id")),
                account=clean_text(cell("account")),
            )
        )
    return rows


def _csv_date(text: str, where: str, date_format: str) -> date:
    if not text:
        raise StatementRefused(f"{where}: the date is missing")
    try:
        parts = time.strptime(text, date_format)
    except ValueError:
        raise StatementRefused(
            f"{where}: {_shown(text)} is not a date (expected {date_format})"
        ) from None
    return date(parts.tm_year, parts.tm_mon, parts.tm_mday)


def _csv_amount(text: str, where: str, currency: Currency, decimal_comma: bool) -> Money:
    """An amount as banks' CSVs write it: ``-1,234.56``, ``(12.00)`` for money out, a
    leading ``+``, a currency sign; ``1.234,56`` with ``decimal_comma``. Blank is zero
    (a line with no amount is not a movement)."""
    body = text.strip()
    if not body:
        return Money.zero(currency)
    negative = False
    if body.startswith("(") and body.endswith(")"):
        negative, body = True, body[1:-1].strip()
    for _ in range(2):  # "-$12.00" and "$-12.00" alike
        if body[:1] in ("+", "-"):
            negative, body = negative != (body[0] == "-"), body[1:].strip()
        if body[:1] in ("$", "€", "£"):
            body = body[1:].strip()
    group, point = (".", ",") if decimal_comma else (",", ".")
    match = re.fullmatch(
        rf"(\d{{1,3}}(?:{re.escape(group)}\d{{3}})+|\d+)(?:{re.escape(point)}(\d+))?", body
    )
    if match is None:
        raise _not_an_amount(where, text, currency)
    money = _money(negative, match.group(1).replace(group, ""), match.group(2) or "", currency)
    if money is None:
        raise _not_an_amount(where, text, currency)
    return money


def _in_date_order(rows: list[_Row], has_balance: bool) -> list[_Row]:
    """The rows oldest first. Newest-first files (many banks') are turned around whole,
    so a day's lines come in the order they were booked and the running balance reads
    forwards; a file all of one day is turned when its balances only chain backwards."""
    days = [row.day for row in rows]
    if days == sorted(days):
        same_day = days[0] == days[-1]
        if same_day and has_balance and not _chains(rows) and _chains(rows[::-1]):
            return rows[::-1]
        return rows
    if days == sorted(days, reverse=True):
        return rows[::-1]
    if has_balance:
        stray = next(b for a, b in pairwise(rows) if b.day < a.day)
        raise StatementRefused(
            f"{stray.where}: the lines are not in date order, so the running balance cannot be read"
        )
    return sorted(rows, key=lambda row: row.day)


def _chains(rows: list[_Row]) -> bool:
    """Whether each known balance is the one before it plus the line's amount."""
    pairs = [
        (a.balance, b) for a, b in pairwise(rows) if a.balance is not None and b.balance is not None
    ]
    return bool(pairs) and all(before + b.amount == b.balance for before, b in pairs)
