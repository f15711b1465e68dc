"""Bank statement files written from a :class:`Statement`, as banks write them.

For tests that need a statement file (this package's, and those that generate one from
the books): OFX 1.02 SGML and 2.2 XML with the sign-on block real downloads carry, ISO
20022 camt.053 in the 02 and 08 schemas, and CSV through a bank's column map. Reading
what these write gives the statement back (tests/bank/test_formats.py checks it).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Literal
from xml.sax.saxutils import escape

from conservancy.bank.formats import CsvMap
from conservancy.bank.statement import Statement, StatementLine, totals
from conservancy.money import Currency, Money

# The account number the tests' own statements name.
ACCOUNT = "000123456789"


def days_back(
    today: date, first: int, last: int, opening: str, closing: str, *lines: StatementLine
) -> Statement:
    """A US dollar statement of :data:`ACCOUNT` from ``first`` to ``last`` days before
    ``today``, its balances given as text."""
    return Statement(
        format="",
        account_number=ACCOUNT,
        currency=Currency.USD,
        start=today - timedelta(first),
        end=today - timedelta(last),
        opening=Money.parse(opening, "USD"),
        closing=Money.parse(closing, "USD"),
        lines=lines,
    )


# -- OFX ---------------------------------------------------------------------------------


def to_ofx(
    statement: Statement,
    *,
    version: Literal[1, 2] = 1,
    tz: str = "-5:EST",
    posted_at: str = "120000",
    credit_card: bool = False,
) -> bytes:
    """An OFX download: version 1 as SGML with the OFXHEADER block and unclosed
    elements, version 2 as XML. Lines are posted at ``posted_at`` local time in the
    offset ``tz``; the transaction list runs from the first day's midnight to the
    midnight after the last day, exclusive, as the spec has it."""
    offset = f"[{tz}]"
    start = f"{statement.start:%Y%m%d}000000{offset}"
    end = f"{statement.end + timedelta(days=1):%Y%m%d}000000{offset}"
    closed = version == 2
    body: list[str] = []

    def element(tag: str, value: str) -> None:
        if value.strip():
            text = escape(value)
            body.append(f"<{tag}>{text}</{tag}>" if closed else f"<{tag}>{text}")

    def aggregate(tag: str) -> None:
        body.append(f"<{tag}>")

    def close(tag: str) -> None:
        body.append(f"</{tag}>")

    aggregate("OFX")
    aggregate("SIGNONMSGSRSV1")
    aggregate("SONRS")
    _ofx_status(element, aggregate, close)
    element("DTSERVER", f"{statement.end + timedelta(days=1):%Y%m%d}083012.000{offset}")
    element("LANGUAGE", "ENG")
    aggregate("FI")
    element("ORG", "B1")
    element("FID", "10898")
    close("FI")
    element("INTU.BID", "10898")
    close("SONRS")
    close("SIGNONMSGSRSV1")
    prefix = "CC" if credit_card else ""
    aggregate("CREDITCARDMSGSRSV1" if credit_card else "BANKMSGSRSV1")
    aggregate(f"{prefix}STMTTRNRS")
    element("TRNUID", "1")
    _ofx_status(element, aggregate, close)
    aggregate(f"{prefix}STMTRS")
    element("CURDEF", statement.currency.value)
    if credit_card:
        aggregate("CCACCTFROM")
        element("ACCTID", statement.account_number or "")
        close("CCACCTFROM")
    else:
        aggregate("BANKACCTFROM")
        element("BANKID", "121000248")
        element("ACCTID", statement.account_number or "")
        element("ACCTTYPE", "CHECKING")
        close("BANKACCTFROM")
    aggregate("BANKTRANLIST")
    element("DTSTART", start)
    element("DTEND", end)
    for line in statement.lines:
        aggregate("STMTTRN")
        element("TRNTYPE", _ofx_type(line))
        element("DTPOSTED", f"{line.date:%Y%m%d}{posted_at}.000{offset}")
        element("TRNAMT", f"{line.amount.amount}")
        element("FITID", line.bank_id)
        element("CHECKNUM", line.check_number or "")
        element("NAME", line.payee)
        element("MEMO", line.memo)
        close("STMTTRN")
    close("BANKTRANLIST")
    if statement.closing is not None:
        aggregate("LEDGERBAL")
        element("BALAMT", f"{statement.closing.amount}")
        element("DTASOF", end)
        close("LEDGERBAL")
        aggregate("AVAILBAL")
        element("BALAMT", f"{statement.closing.amount}")
        element("DTASOF", end)
        close("AVAILBAL")
    close(f"{prefix}STMTRS")
    close(f"{prefix}STMTTRNRS")
    close("CREDITCARDMSGSRSV1" if credit_card else "BANKMSGSRSV1")
    close("OFX")
    if version == 1:
        header = [
            "OFXHEADER:100",
            "DATA:OFXSGML",
            "VERSION:102",
            "SECURITY:NONE",
            "ENCODING:UNICODE",
            "CHARSET:NONE",
            "COMPRESSION:NONE",
            "OLDFILEUID:NONE",
            "NEWFILEUID:NONE",
            "",
        ]
        return "\r\n".join([*header, *body, ""]).encode("utf-8")
    header = [
        '<?xml version="1.0" encoding="UTF-8" standalone="no"?>',
        '<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>',
    ]
    return "\n".join([*header, *body, ""]).encode("utf-8")


def _ofx_status(
    element: Callable[[str, str], None],
    aggregate: Callable[[str], None],
    close: Callable[[str], None],
) -> None:
    aggregate("STATUS")
    element("CODE", "0")
    element("SEVERITY", "INFO")
    close("STATUS")


def _ofx_type(line: StatementLine) -> str:
    if line.check_number:
        return "CHECK"
    return "CREDIT" if line.amount.minor > 0 else "DEBIT"


# -- camt.053 ----------------------------------------------------------------------------


def to_camt053(
    statement: Statement,
    *,
    version: Literal["02", "08"] = "02",
    cheques: Mapping[str, Sequence[str]] | None = None,
    period: bool = True,
) -> bytes:
    """A camt.053 statement as a European bank sends it, with opening (OPBD) and closing
    (CLBD) booked balances. ``cheques`` maps a line's bank id to the cheque numbers of a
    batch deposit, written as one entry with a transaction detail per cheque; ``period``
    writes FrToDt (without it the balances' dates give the days)."""
    if statement.closing is None:
        raise ValueError("a camt.053 statement needs its closing balance")
    ccy = statement.currency.value
    opening = statement.opening
    if opening is None:
        opening = statement.closing - totals(statement.lines, statement.currency)
    v08 = version == "08"
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.{version}" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<BkToCstmrStmt>",
        "<GrpHdr><MsgId>STMT-MSG-0001</MsgId>"
        f"<CreDtTm>{statement.end + timedelta(days=1)}T06:15:00+01:00</CreDtTm>"
        "<MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn></GrpHdr>",
        "<Stmt>",
        f"<Id>STMT-{statement.end:%Y%m%d}</Id>",
        "<ElctrncSeqNb>42</ElctrncSeqNb>",
        f"<CreDtTm>{statement.end + timedelta(days=1)}T06:15:00+01:00</CreDtTm>",
    ]
    if period:
        out.append(
            f"<FrToDt><FrDtTm>{statement.start}T00:00:00+01:00</FrDtTm>"
            f"<ToDtTm>{statement.end}T23:59:59+01:00</ToDtTm></FrToDt>"
        )
    out.append(
        f"<Acct><Id><IBAN>{escape(statement.account_number or '')}</IBAN></Id>"
        f"<Ccy>{ccy}</Ccy><Svcr><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></Svcr></Acct>"
    )
    out.append(_camt_balance("OPBD", opening, statement.start))
    out.append(_camt_balance("CLBD", statement.closing, statement.end))
    out.append(
        f"<TxsSummry><TtlNtries><NbOfNtries>{len(statement.lines)}</NbOfNtries>"
        "</TtlNtries></TxsSummry>"
    )
    for number, line in enumerate(statement.lines, 1):
        out.append(_camt_entry(line, number, v08, (cheques or {}).get(line.bank_id, ())))
    out += ["</Stmt>", "</BkToCstmrStmt>", "</Document>", ""]
    return "\n".join(out).encode("utf-8")


def _camt_balance(code: str, amount: Money, day: date) -> str:
    return (
        f"<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
        f'<Amt Ccy="{amount.currency.value}">{abs(amount).amount}</Amt>'
        f"<CdtDbtInd>{'DBIT' if amount.minor < 0 else 'CRDT'}</CdtDbtInd>"
        f"<Dt><Dt>{day}</Dt></Dt></Bal>"
    )


def _camt_entry(line: StatementLine, number: int, v08: bool, cheques: Sequence[str]) -> str:
    credit = line.amount.minor > 0
    status = "<Sts><Cd>BOOK</Cd></Sts>" if v08 else "<Sts>BOOK</Sts>"
    party_role = "Dbtr" if credit else "Cdtr"
    details = []
    for index, cheque in enumerate(cheques or [line.check_number]):
        refs = "<Refs><EndToEndId>NOTPROVIDED</EndToEndId>"
        refs += f"<ChqNb>{escape(cheque)}</ChqNb>" if cheque else ""
        refs += "</Refs>"
        party = ""
        if line.payee and index == 0:
            name = f"<Nm>{escape(line.payee)}</Nm>"
            name = f"<Pty>{name}</Pty>" if v08 else name
            party = f"<RltdPties><{party_role}>{name}</{party_role}></RltdPties>"
        remittance = ""
        if line.memo.strip() and index == 0:
            remittance = f"<RmtInf><Ustrd>{escape(line.memo)}</Ustrd></RmtInf>"
        details.append(f"<TxDtls>{refs}{party}{remittance}</TxDtls>")
    family = "RCDT" if credit else ("CCHQ" if line.check_number else "ICDT")
    return (
        f"<Ntry><NtryRef>{number}</NtryRef>"
        f'<Amt Ccy="{line.amount.currency.value}">{abs(line.amount).amount}</Amt>'
        f"<CdtDbtInd>{'CRDT' if credit else 'DBIT'}</CdtDbtInd>{status}"
        f"<BookgDt><Dt>{line.date}</Dt></BookgDt><ValDt><Dt>{line.date}</Dt></ValDt>"
        f"<AcctSvcrRef>{escape(line.bank_id)}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>{family}</Cd><SubFmlyCd>ESCT</SubFmlyCd>"
        "</Fmly></Domn></BkTxCd>"
        f"<NtryDtls>{''.join(details)}</NtryDtls></Ntry>"
    )


# -- CSV ---------------------------------------------------------------------------------


def to_csv(
    statement: Statement,
    csv_map: CsvMap = CsvMap(),  # noqa: B008  # frozen, so one shared default is safe
    *,
    newest_first: bool = False,
    preamble: Iterable[str] = (),
    bom: bool = False,
) -> bytes:
    """The statement as a bank's CSV export through ``csv_map``: the preamble lines, a
    header row, a row per line with the running balance when the map has a column for it
    (from the opening balance, or back from the closing one)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=csv_map.delimiter, lineterminator="\r\n")
    for text in preamble:
        writer.writerow([text])
    columns = csv_map.columns()
    writer.writerow(list(columns.values()))
    balance = statement.opening
    if balance is None and statement.closing is not None:
        balance = statement.closing - totals(statement.lines, statement.currency)
    rows = []
    for line in statement.lines:
        balance = balance + line.amount if balance is not None else None
        cells = {
            "date": line.date.strftime(csv_map.date_format),
            "amount": _csv_amount(line.amount, csv_map),
            "debit": _csv_amount(-line.amount, csv_map) if line.amount.minor < 0 else "",
            "credit": _csv_amount(line.amount, csv_map) if line.amount.minor > 0 else "",
            "description": line.memo,
            "payee": line.payee,
            "id": line.bank_id,
            "balance": _csv_amount(balance, csv_map) if balance is not None else "",
            "check_number": line.check_number or "",
            "account": statement.account_number or "",
        }
        rows.append([cells[field] for field in columns])
    writer.writerows(rows[::-1] if newest_first else rows)
    return ("\ufeff" if bom else "").encode() + out.getvalue().encode("utf-8")


def _csv_amount(amount: Money, csv_map: CsvMap) -> str:
    text = f"{amount.amount:,}"
    if csv_map.decimal_comma:
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text
