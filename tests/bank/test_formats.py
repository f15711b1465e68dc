"""Bank statements read from OFX, camt.053 and CSV files; refused in one line when wrong;
and brought into Beancount through beangulp."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from beancount.parser import printer
from beangulp import Ingest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conservancy.bank.formats import (
    MAX_BYTES,
    MAX_LINES,
    CsvMap,
    clean_text,
    read_camt053,
    read_csv,
    read_ofx,
    read_statement,
)
from conservancy.bank.statement import Statement, StatementLine, StatementRefused
from conservancy.ledger.bank_importers import StatementImporter
from conservancy.money import Currency, Money
from tests.bank.statements import to_camt053, to_csv, to_ofx

USD, EUR = Currency.USD, Currency.EUR


def usd(text: str) -> Money:
    return _money(text, USD)


def eur(text: str) -> Money:
    return _money(text, EUR)


def _money(text: str, currency: Currency) -> Money:
    amount = Money.parse(text.lstrip("-"), currency)
    return -amount if text.startswith("-") else amount


def nov(day: int) -> date:
    return date(2026, 11, day)


def line(
    bank_id: str,
    day: int,
    amount: str,
    payee: str = "",
    memo: str = "",
    check: str | None = None,
    currency: Currency = USD,
) -> StatementLine:
    return StatementLine(bank_id, nov(day), _money(amount, currency), payee, memo, check)


def euro_line(bank_id: str, day: int, amount: str, payee: str, memo: str) -> StatementLine:
    return line(bank_id, day, amount, payee, memo, currency=EUR)


def statement(
    lines: tuple[StatementLine, ...],
    *,
    fmt: str,
    opening: str = "1000.00",
    currency: Currency = USD,
    account: str | None = "000123456789",
    start: date = date(2026, 11, 1),
    end: date = date(2026, 11, 30),
) -> Statement:
    open_ = _money(opening, currency)
    closing = open_
    for item in lines:
        closing = closing + item.amount
    return Statement(fmt, account, currency, start, end, open_, closing, lines)


NOVEMBER = (
    line("FIT-1", 2, "2500.00", "Erika Mustermann", "Gift for the November drive"),
    line("FIT-2", 5, "-150.00", "Print Shop", "", check="1043"),
    line("FIT-3", 12, "-42.17", 'AT&T <Business> "Fiber"', "ACH DEBIT & co <ref>"),
    line("FIT-4", 12, "-4.50", "Café Zürich", "coffee"),
    line("FIT-5", 30, "-12.00", "", "MONTHLY SERVICE FEE"),
)


def refused(read: Callable[[], object]) -> str:
    """The one-line message a file is refused with."""
    with pytest.raises(StatementRefused) as caught:
        read()
    message = str(caught.value)
    assert message
    assert "\n" not in message
    assert "\r" not in message
    return message


# -- round trips -------------------------------------------------------------------------


@pytest.mark.parametrize("version", [1, 2])
@pytest.mark.parametrize("credit_card", [False, True])
def test_an_ofx_statement_reads_back_as_written(version: int, credit_card: bool) -> None:
    written = statement(NOVEMBER, fmt="ofx")
    data = to_ofx(written, version=version, credit_card=credit_card)  # type: ignore[arg-type]
    assert read_statement(data, currency=USD) == written


@pytest.mark.parametrize("version", ["02", "08"])
@pytest.mark.parametrize("period", [True, False])
def test_a_camt053_statement_reads_back_as_written(version: str, period: bool) -> None:
    lines = tuple(
        dataclasses.replace(item, amount=Money(item.amount.amount, EUR)) for item in NOVEMBER
    )
    written = statement(lines, fmt="camt.053", currency=EUR, account="DE89370400440532013000")
    data = to_camt053(written, version=version, period=period)  # type: ignore[arg-type]
    assert read_statement(data, currency=USD) == written


def test_a_camt053_batch_of_cheques_is_one_line_with_the_cheques_in_its_memo() -> None:
    deposit = line("BATCH-7", 9, "600.00", "", "Deposit", currency=EUR)
    written = statement((deposit,), fmt="camt.053", currency=EUR)
    read = read_camt053(to_camt053(written, version="08", cheques={"BATCH-7": ["101", "102"]}))
    assert read.lines == (
        dataclasses.replace(deposit, memo="Deposit (cheques 101, 102)", check_number=None),
    )


BANK_CSV = CsvMap(
    date="Posted",
    id="Reference",
    payee="Payee",
    balance="Balance",
    check_number="Check No",
    account="Account",
)


@pytest.mark.parametrize(
    "csv_map",
    [
        BANK_CSV,
        dataclasses.replace(BANK_CSV, amount=None, debit="Debit", credit="Credit"),
        dataclasses.replace(BANK_CSV, decimal_comma=True, delimiter=";", date_format="%d.%m.%Y"),
    ],
    ids=["amount", "debit-credit", "decimal-comma"],
)
@pytest.mark.parametrize("newest_first", [False, True])
def test_a_csv_statement_reads_back_as_written(csv_map: CsvMap, newest_first: bool) -> None:
    written = statement(NOVEMBER, fmt="csv", start=nov(2), end=nov(30))
    data = to_csv(written, csv_map, newest_first=newest_first, preamble=["Business Checking"])
    assert read_statement(data, currency=USD, csv_map=csv_map) == written


def test_a_csv_with_a_byte_order_mark_or_in_windows_1252_reads_the_same() -> None:
    written = statement(NOVEMBER, fmt="csv", start=nov(2), end=nov(30))
    utf8 = to_csv(written, BANK_CSV, bom=True)
    cp1252 = utf8.decode("utf-8-sig").encode("cp1252")
    assert read_csv(utf8, BANK_CSV, USD) == written
    assert read_csv(cp1252, BANK_CSV, USD) == written


# -- round trips, for any lines ----------------------------------------------------------

hostile_text = st.text(
    st.characters(
        codec="utf-8",
        exclude_categories=("Cs", "Cc", "Cn", "Co"),
        include_characters="\t\n\r<>&\"'\\;,\u202e\u200b\ufeff",
    ),
    max_size=60,
)
cents = st.integers(-(10**9), 10**9).filter(bool)


@st.composite
def statements(draw: st.DrawFn, currency: Currency = USD) -> Statement:
    count = draw(st.integers(1, 12))
    days = sorted(draw(st.lists(st.integers(1, 30), min_size=count, max_size=count)))
    lines = tuple(
        StatementLine(
            bank_id=f"T{index}-{draw(st.text('abcXYZ0189-', min_size=1, max_size=8))}",
            date=nov(day),
            amount=Money.from_minor(draw(cents), currency),
            payee=draw(hostile_text),
            memo=draw(hostile_text),
            check_number=draw(st.none() | st.from_regex(r"[0-9]{1,6}", fullmatch=True)),
        )
        for index, day in enumerate(days)
    )
    opening = Money.from_minor(draw(st.integers(-(10**9), 10**9)), currency)
    closing = opening
    for item in lines:
        closing = closing + item.amount
    return Statement("", "DE89 3704 0044", currency, nov(1), nov(30), opening, closing, lines)


def as_read(written: Statement, fmt: str, **changes: object) -> Statement:
    """What a reader gives back: the bank's texts cleaned as every format cleans them."""
    lines = tuple(
        dataclasses.replace(item, payee=clean_text(item.payee), memo=clean_text(item.memo))
        for item in written.lines
    )
    return dataclasses.replace(written, format=fmt, lines=lines, **changes)  # type: ignore[arg-type]


ROUND_TRIP = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@ROUND_TRIP
@given(written=statements(), version=st.sampled_from([1, 2]))
def test_any_statement_survives_ofx(written: Statement, version: int) -> None:
    data = to_ofx(written, version=version)  # type: ignore[arg-type]
    assert read_ofx(data) == as_read(written, "ofx")


@ROUND_TRIP
@given(written=statements(EUR), version=st.sampled_from(["02", "08"]))
def test_any_statement_survives_camt053(written: Statement, version: str) -> None:
    data = to_camt053(written, version=version)  # type: ignore[arg-type]
    assert read_camt053(data) == as_read(written, "camt.053")


@ROUND_TRIP
@given(
    written=statements(),
    newest_first=st.booleans(),
    csv_map=st.sampled_from(
        [
            BANK_CSV,
            dataclasses.replace(BANK_CSV, amount=None, debit="Debit", credit="Credit"),
            dataclasses.replace(BANK_CSV, decimal_comma=True, delimiter=";"),
        ]
    ),
)
def test_any_statement_survives_csv(
    written: Statement, newest_first: bool, csv_map: CsvMap
) -> None:
    days = [item.date for item in written.lines]
    # One day's lines, newest first, can be read either way when their amounts cancel.
    assume(not newest_first or days[0] != days[-1])
    data = to_csv(written, csv_map, newest_first=newest_first, preamble=["Checking"])
    expected = as_read(written, "csv", start=days[0], end=days[-1])
    assert read_csv(data, csv_map, USD) == expected


# -- as banks write them -----------------------------------------------------------------

US_BANK_OFX = """OFXHEADER:100
DATA:OFXSGML
VERSION:102
SECURITY:NONE
ENCODING:USASCII
CHARSET:1252
COMPRESSION:NONE
OLDFILEUID:NONE
NEWFILEUID:NONE

<OFX>
<SIGNONMSGSRSV1>
<SONRS>
<STATUS>
<CODE>0
<SEVERITY>INFO
<MESSAGE>SUCCESS
</STATUS>
<DTSERVER>20261201063015.123[-5:EST]
<LANGUAGE>ENG
<FI>
<ORG>B1
<FID>10898
</FI>
<INTU.BID>10898
</SONRS>
</SIGNONMSGSRSV1>
<BANKMSGSRSV1>
<STMTTRNRS>
<TRNUID>1
<STATUS>
<CODE>0
<SEVERITY>INFO
<MESSAGE>Success
</STATUS>
<STMTRS>
<CURDEF>USD
<BANKACCTFROM>
<BANKID>322271627
<ACCTID>000123456789
<ACCTTYPE>CHECKING
</BANKACCTFROM>
<BANKTRANLIST>
<DTSTART>20261101120000[0:GMT]
<DTEND>20261130120000[0:GMT]
<STMTTRN>
<TRNTYPE>CREDIT
<DTPOSTED>20261102120000[0:GMT]
<TRNAMT>2500.00
<FITID>202611020
<NAME>DEPOSIT ID NUMBER 812345
<MEMO>MOBILE DEPOSIT
</STMTTRN>
<STMTTRN>
<TRNTYPE>CHECK
<DTPOSTED>20261105120000[0:GMT]
<TRNAMT>-150.00
<FITID>202611050
<CHECKNUM>1043
<NAME>CHECK 1043
</STMTTRN>
<STMTTRN>
<TRNTYPE>DEBIT
<DTPOSTED>20261112120000[0:GMT]
<TRNAMT>-42.17
<FITID>202611120
<NAME>AT&amp;T *PAYMENT
<MEMO>ACH DEBIT   ATT PAYMENT  ID 4418
</STMTTRN>
<STMTTRN>
<TRNTYPE>POS
<DTPOSTED>20261112120000[0:GMT]
<TRNAMT>-8.75
<FITID>202611121
<NAME>CAFÉ DU MONDE
</STMTTRN>
<STMTTRN>
<TRNTYPE>SRVCHG
<DTPOSTED>20261130120000[0:GMT]
<TRNAMT>-12.00
<FITID>202611300
<NAME>MONTHLY SERVICE FEE
</STMTTRN>
</BANKTRANLIST>
<LEDGERBAL>
<BALAMT>5310.33
<DTASOF>20261130120000[0:GMT]
</LEDGERBAL>
<AVAILBAL>
<BALAMT>5310.33
<DTASOF>20261130120000[0:GMT]
</AVAILBAL>
</STMTRS>
</STMTTRNRS>
</BANKMSGSRSV1>
</OFX>
""".replace("\n", "\r\n").encode("cp1252")


def test_an_ofx_102_file_as_a_us_bank_exports_it() -> None:
    read = read_statement(US_BANK_OFX, currency=USD)
    assert read == Statement(
        format="ofx",
        account_number="000123456789",
        currency=USD,
        start=nov(1),
        end=nov(30),
        opening=usd("3023.25"),
        closing=usd("5310.33"),
        lines=(
            line("202611020", 2, "2500.00", "DEPOSIT ID NUMBER 812345", "MOBILE DEPOSIT"),
            line("202611050", 5, "-150.00", "CHECK 1043", check="1043"),
            line("202611120", 12, "-42.17", "AT&T *PAYMENT", "ACH DEBIT ATT PAYMENT ID 4418"),
            line("202611121", 12, "-8.75", "CAFÉ DU MONDE"),
            line("202611300", 30, "-12.00", "MONTHLY SERVICE FEE"),
        ),
    )


EUROPEAN_CAMT053 = """<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02 camt.053.001.02.xsd">
  <BkToCstmrStmt>
    <GrpHdr>
      <MsgId>0520261201063012</MsgId>
      <CreDtTm>2026-12-01T06:30:12.0+01:00</CreDtTm>
      <MsgPgntn><PgNb>1</PgNb><LastPgInd>true</LastPgInd></MsgPgntn>
    </GrpHdr>
    <Stmt>
      <Id>0520261201063012-1</Id>
      <ElctrncSeqNb>11</ElctrncSeqNb>
      <CreDtTm>2026-12-01T06:30:12.0+01:00</CreDtTm>
      <FrToDt>
        <FrDtTm>2026-11-01T00:00:00.0+01:00</FrDtTm>
        <ToDtTm>2026-11-30T23:59:59.0+01:00</ToDtTm>
      </FrToDt>
      <Acct>
        <Id><IBAN>DE89370400440532013000</IBAN></Id>
        <Ccy>EUR</Ccy>
        <Ownr><Nm>Software Freedom Fund e.V.</Nm></Ownr>
        <Svcr><FinInstnId><BIC>COBADEFFXXX</BIC></FinInstnId></Svcr>
      </Acct>
      <Bal>
        <Tp><CdOrPrtry><Cd>PRCD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1000.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-10-31</Dt></Dt>
      </Bal>
      <Bal>
        <Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp>
        <Amt Ccy="EUR">1752.60</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Dt><Dt>2026-11-30</Dt></Dt>
      </Bal>
      <Ntry>
        <Amt Ccy="EUR">250.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-03</Dt></BookgDt>
        <ValDt><Dt>2026-11-03</Dt></ValDt>
        <AcctSvcrRef>2026110312345678</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd><SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn>
        </BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>SPENDE-2026-11</EndToEndId></Refs>
          <RltdPties>
            <Dbtr><Nm>Erika Mustermann</Nm></Dbtr>
            <DbtrAcct><Id><IBAN>DE02120300000000202051</IBAN></Id></DbtrAcct>
          </RltdPties>
          <RmtInf><Ustrd>Spende November</Ustrd><Ustrd>Danke!</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
        <AddtlNtryInf>SEPA-GUTSCHRIFT</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">600.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-09</Dt></BookgDt>
        <ValDt><Dt>2026-11-10</Dt></ValDt>
        <AcctSvcrRef>2026110900000042</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCHQ</Cd><SubFmlyCd>BCHQ</SubFmlyCd></Fmly></Domn>
        </BkTxCd>
        <NtryDtls>
          <Btch><NbOfTxs>3</NbOfTxs></Btch>
          <TxDtls><Refs><ChqNb>4711</ChqNb></Refs></TxDtls>
          <TxDtls><Refs><ChqNb>4712</ChqNb></Refs></TxDtls>
          <TxDtls><Refs><ChqNb>4713</ChqNb></Refs></TxDtls>
        </NtryDtls>
        <AddtlNtryInf>SCHECKEINREICHUNG</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">89.90</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-16</Dt></BookgDt>
        <ValDt><Dt>2026-11-16</Dt></ValDt>
        <AcctSvcrRef>2026111600000977</AcctSvcrRef>
        <BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>IDDT</Cd><SubFmlyCd>ESDD</SubFmlyCd></Fmly></Domn>
        </BkTxCd>
        <NtryDtls><TxDtls>
          <Refs><EndToEndId>NOTPROVIDED</EndToEndId><MndtId>M-117</MndtId></Refs>
          <RltdPties><Cdtr><Nm>Hosting GmbH</Nm></Cdtr></RltdPties>
          <RmtInf><Ustrd>Rechnung 2026-117</Ustrd></RmtInf>
        </TxDtls></NtryDtls>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">5.00</Amt>
        <CdtDbtInd>CRDT</CdtDbtInd>
        <Sts>PDNG</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <AddtlNtryInf>VORGEMERKT</AddtlNtryInf>
      </Ntry>
      <Ntry>
        <Amt Ccy="EUR">7.50</Amt>
        <CdtDbtInd>DBIT</CdtDbtInd>
        <Sts>BOOK</Sts>
        <BookgDt><Dt>2026-11-30</Dt></BookgDt>
        <ValDt><Dt>2026-11-30</Dt></ValDt>
        <BkTxCd><Prtry><Cd>NCHG+805</Cd><Issr>DK</Issr></Prtry></BkTxCd>
        <AddtlNtryInf>Kontoführung  November</AddtlNtryInf>
      </Ntry>
    </Stmt>
  </BkToCstmrStmt>
</Document>
""".encode()


def test_a_camt053_001_02_file_as_a_european_bank_exports_it() -> None:
    read = read_statement(EUROPEAN_CAMT053, currency=USD)
    fee = read.lines[3]
    assert fee.bank_id.startswith("fp-")
    assert read == Statement(
        format="camt.053",
        account_number="DE89370400440532013000",
        currency=EUR,
        start=nov(1),
        end=nov(30),
        opening=eur("1000.00"),
        closing=eur("1752.60"),
        lines=(
            euro_line(
                "2026110312345678", 3, "250.00", "Erika Mustermann", "Spende November Danke!"
            ),
            euro_line(
                "2026110900000042", 9, "600.00", "", "SCHECKEINREICHUNG (cheques 4711, 4712, 4713)"
            ),
            euro_line("2026111600000977", 16, "-89.90", "Hosting GmbH", "Rechnung 2026-117"),
            euro_line(fee.bank_id, 30, "-7.50", "", "Kontoführung November"),
        ),
    )


US_BANK_CSV = b"""\
"Account Name : Business Checking"
"Account Number : XXXXXX6789"
"Date Range : 11/01/2026 - 11/30/2026"

Transaction Date,Check Number,Description,Debit,Credit,Balance
11/30/2026,,MONTHLY SERVICE FEE,12.00,,"5,305.83"
11/12/2026,,CAFE ZURICH,4.50,,"5,317.83"
11/12/2026,,"AT&T *PAYMENT, ACH DEBIT",42.17,,"5,322.33"
11/05/2026,1043,CHECK 1043,150.00,,"5,364.50"
11/02/2026,,MOBILE DEPOSIT,,"2,500.00","5,514.50"
"""
US_BANK_MAP = CsvMap(
    date="Transaction Date",
    amount=None,
    debit="Debit",
    credit="Credit",
    check_number="Check Number",
    balance="Balance",
    date_format="%m/%d/%Y",
)


def test_a_csv_with_a_preamble_debit_and_credit_columns_newest_first() -> None:
    read = read_statement(US_BANK_CSV, currency=USD, csv_map=US_BANK_MAP)
    assert (read.start, read.end, read.opening, read.closing) == (
        nov(2),
        nov(30),
        usd("3014.50"),
        usd("5305.83"),
    )
    assert [(item.date, item.amount, item.memo, item.check_number) for item in read.lines] == [
        (nov(2), usd("2500.00"), "MOBILE DEPOSIT", None),
        (nov(5), usd("-150.00"), "CHECK 1043", "1043"),
        (nov(12), usd("-42.17"), "AT&T *PAYMENT, ACH DEBIT", None),
        (nov(12), usd("-4.50"), "CAFE ZURICH", None),
        (nov(30), usd("-12.00"), "MONTHLY SERVICE FEE", None),
    ]


# -- dates -------------------------------------------------------------------------------


def ofx_with(dtstart: str, dtend: str, posted: list[str], *, closing: str = "") -> bytes:
    """A small OFX 1 file, to try the bank's timestamps on."""
    trns = "".join(
        f"<STMTTRN><TRNTYPE>DEBIT<DTPOSTED>{when}<TRNAMT>-1.00<FITID>F{index}</STMTTRN>"
        for index, when in enumerate(posted)
    )
    ledger = f"<LEDGERBAL><BALAMT>{closing}<DTASOF>20261205</LEDGERBAL>" if closing else ""
    return (
        "OFXHEADER:100\nDATA:OFXSGML\nVERSION:102\nSECURITY:NONE\nENCODING:USASCII\n"
        "CHARSET:1252\nCOMPRESSION:NONE\nOLDFILEUID:NONE\nNEWFILEUID:NONE\n\n"
        "<OFX><BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STMTRS><CURDEF>USD"
        "<BANKACCTFROM><BANKID>1<ACCTID>42<ACCTTYPE>CHECKING</BANKACCTFROM>"
        f"<BANKTRANLIST><DTSTART>{dtstart}<DTEND>{dtend}{trns}</BANKTRANLIST>{ledger}"
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1></OFX>\n"
    ).encode()


def test_an_ofx_line_keeps_the_banks_own_day_not_utcs() -> None:
    """23:30 in California on November 30 is December 1 in UTC; the bank booked it on
    the 30th, and 00:30 in Auckland on November 1 is still October in UTC."""
    data = ofx_with(
        "20261101", "20261201000000[-8:PST]", ["20261130233000[-8:PST]", "20261101003000[+13:NZDT]"]
    )
    assert [item.date for item in read_ofx(data).lines] == [nov(30), nov(1)]


def test_an_ofx_statement_ending_at_local_midnight_ends_the_day_before() -> None:
    """OFX's DTEND is exclusive: a statement that ends at midnight (in Pacific time, which
    is 08:00 UTC on December 1) covers November 30, not December 1."""
    read = read_ofx(ofx_with("20261101000000[-8:PST]", "20261201000000[-8:PST]", ["20261130"]))
    assert (read.start, read.end) == (nov(1), nov(30))


def test_an_ofx_end_date_with_a_line_on_it_covers_that_day() -> None:
    """Many banks write the last day itself as DTEND (``20261130``, midnight too)."""
    read = read_ofx(ofx_with("20261101", "20261130", ["20261130120000"]))
    assert read.end == nov(30)


def test_an_ofx_closing_balance_is_the_statements_end_whatever_day_dtasof_says() -> None:
    read = read_ofx(ofx_with("20261101", "20261130120000", ["20261110"], closing="99.00"))
    assert (read.end, read.closing, read.opening) == (nov(30), usd("99.00"), usd("100.00"))


def test_camt053_without_a_period_takes_its_days_from_the_balances() -> None:
    lines = (line("R1", 10, "5.00", currency=EUR),)
    written = statement(lines, fmt="camt.053", currency=EUR, start=nov(1), end=nov(30))
    read = read_camt053(to_camt053(written, period=False))
    assert (read.start, read.end) == (nov(1), nov(30))


# -- ids ---------------------------------------------------------------------------------

PLAIN = CsvMap(balance="Balance")


def test_a_csv_line_without_an_id_gets_the_same_id_in_overlapping_files() -> None:
    first_half = b"Date,Amount,Description,Balance\n2026-11-03,5.00,Fee refund,105.00\n" + (
        b"2026-11-12,-5.00,Service fee,100.00\n2026-11-12,-5.00,Service fee,95.00\n"
    )
    second_half = b"Date,Amount,Description,Balance\n2026-11-12,-5.00,Service fee,100.00\n" + (
        b"2026-11-12,-5.00,Service fee,95.00\n2026-11-20,30.00,Gift,125.00\n"
    )
    one = read_csv(first_half, PLAIN, USD).lines
    two = read_csv(second_half, PLAIN, USD).lines
    assert [item.bank_id for item in one[1:]] == [item.bank_id for item in two[:2]]
    assert one[1].bank_id != one[2].bank_id  # two identical fees on one day are two lines


def test_a_bank_id_given_twice_in_one_file_keeps_both_lines_apart() -> None:
    twice = (line("DUP", 3, "-5.00", "Fee"), line("DUP", 3, "-5.00", "Fee"))
    read = read_ofx(to_ofx(statement(twice, fmt="ofx")))
    assert [item.bank_id for item in read.lines] == ["DUP", "DUP#2"]


# -- refusals ----------------------------------------------------------------------------

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt><Stmt>
<AddtlStmtInf>&lol3;</AddtlStmtInf></Stmt></BkToCstmrStmt></Document>
"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE d [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt><Stmt>
<AddtlStmtInf>&secret;</AddtlStmtInf></Stmt></BkToCstmrStmt></Document>
"""
OFX2_WITH_ENTITIES = b"""<?xml version="1.0" encoding="UTF-8" standalone="no"?>
<!DOCTYPE OFX [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<?OFX OFXHEADER="200" VERSION="220" SECURITY="NONE" OLDFILEUID="NONE" NEWFILEUID="NONE"?>
<OFX><SIGNONMSGSRSV1></SIGNONMSGSRSV1></OFX>
"""


def camt(written: Statement | None = None, **changes: str) -> bytes:
    """A one-line EUR camt.053 file, with parts of its text replaced."""
    written = written or statement((line("R1", 3, "12.00", currency=EUR),), fmt="", currency=EUR)
    text = to_camt053(written).decode()
    for old, new in changes.items():
        assert old.replace("_", " ") in text or old in text
        text = text.replace(old, new)
    return text.encode()


TWO_STATEMENTS = camt().replace(b"</BkToCstmrStmt>", b"<Stmt></Stmt></BkToCstmrStmt>")
NO_CLOSING = camt().replace(b"<Cd>CLBD</Cd>", b"<Cd>ITBD</Cd>")
OFF_BY_TWELVE = camt().replace(b'<Amt Ccy="EUR">1012.00</Amt>', b'<Amt Ccy="EUR">1024.00</Amt>')
ENTRY_IN_DOLLARS = camt().replace(b'<Amt Ccy="EUR">12.00</Amt>', b'<Amt Ccy="USD">12.00</Amt>')
FEBRUARY_30 = camt().replace(b"<BookgDt><Dt>2026-11-03", b"<BookgDt><Dt>2026-02-30")
OUTSIDE = camt().replace(b"<BookgDt><Dt>2026-11-03", b"<BookgDt><Dt>2026-12-03")
OFX_TWO = to_ofx(statement(NOVEMBER, fmt="ofx")).replace(
    b"</BANKMSGSRSV1>",
    b"<STMTTRNRS><TRNUID>2<STMTRS><CURDEF>USD<BANKTRANLIST></BANKTRANLIST></STMTRS>"
    b"</STMTTRNRS></BANKMSGSRSV1>",
)
CSV_HEAD = b"Date,Amount,Description\n"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b"\xef\xbb\xbf \r\n", "the file is empty"),
        (bytes(range(256)) * 8, "not an OFX, camt.053 or CSV statement"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\n\x00\x01", "not an OFX"),
        (b"<html><body>Session expired</body></html>", "not an OFX, camt.053 or CSV statement"),
        (BILLION_LAUGHS, "declares a DTD or entities"),
        (EXTERNAL_ENTITY, "declares a DTD or entities"),
        (OFX2_WITH_ENTITIES, "OFX: the file declares a DTD or entities"),
        (camt()[:700], "camt.053: the XML is not well formed"),
        (TWO_STATEMENTS, "camt.053: the file holds 2 statements; import them one at a time"),
        (OFX_TWO, "OFX: the file holds 2 statements; import them one at a time"),
        (NO_CLOSING, "camt.053: no closing balance (CLBD)"),
        (OFF_BY_TWELVE, "the lines do not add up to the closing balance: off by 12.00 EUR"),
        (ENTRY_IN_DOLLARS, "camt.053 entry 1 is in USD, the account in EUR"),
        (FEBRUARY_30, "camt.053 entry 1 BookgDt: '2026-02-30' is not a date"),
        (OUTSIDE, "camt.053 entry 1 is dated 2026-12-03, outside the statement's 2026-11-01"),
        (camt().replace(b"camt.053.001.02", b"camt.052.001.02"), "an ISO 20022 camt.052 report"),
        (ofx_with("20261101", "20261130", ["20260230"]), "OFX transaction 1 DTPOSTED: "),
        (ofx_with("20261105", "20261130", ["20261103"]), "OFX transaction 1 is dated 2026-11-03"),
        (ofx_with("20261101", "20261130", ["20261103"]).replace(b"-1.00", b"-1.005"), "'-1.005'"),
        (ofx_with("20261101", "20261130", []).replace(b"USD", b"CHF"), "the currency 'CHF' is"),
        (US_BANK_OFX[:900], "OFX: the file is cut short (it does not end with </OFX>)"),
        (US_BANK_OFX.replace(b"-150.00", b"-150.00</MEMO>"), "OFX: the file is not well formed"),
        (CSV_HEAD + b"2026-11-03,12.00,ok\n2026-11-04,12.345,fee\n", "line 3: '12.345' is not"),
        (CSV_HEAD + b"2026-11-03,12.00,ok\n2026-02-30,1.00,x\n", "line 3: '2026-02-30' is not"),
        (CSV_HEAD + b"2026-11-03,twelve,x\n", "line 2: 'twelve' is not an amount in USD"),
        (CSV_HEAD, "the file has no lines"),
        (b"Posted,Value\n2026-11-03,1.00\n", "no header row with the columns 'Date' and"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
def test_a_bad_file_is_refused_in_one_line_naming_what_is_wrong(data: bytes, message: str) -> None:
    assert message in refused(lambda: read_statement(data, currency=USD))


def test_the_exact_message_for_an_amount_with_too_many_decimals() -> None:
    data = CSV_HEAD + b"2026-11-03,12.00,ok\n" * 12 + b"2026-11-04,12.345,fee\n"
    assert (
        refused(lambda: read_csv(data, CsvMap(), USD))
        == "line 14: '12.345' is not an amount in USD"
    )


def test_a_csv_missing_a_mapped_column_is_refused_naming_it() -> None:
    data = b"Bank of Example\nDate,Amount,Description\n2026-11-03,1.00,x\n"
    message = refused(lambda: read_csv(data, PLAIN, USD))
    assert message == "line 2: the header has no column 'Balance'"


def test_a_csv_out_of_date_order_with_a_running_balance_is_refused() -> None:
    data = (
        b"Date,Amount,Description,Balance\n2026-11-03,1,a,1\n2026-11-09,1,b,2\n2026-11-05,1,c,3\n"
    )
    assert "line 4: the lines are not in date order" in refused(lambda: read_csv(data, PLAIN, USD))


def test_files_over_the_limits_are_refused() -> None:
    assert refused(lambda: read_statement(b" " + b"x" * MAX_BYTES, currency=USD)) == (
        "the file is larger than 10 MB"
    )
    many = CSV_HEAD + b"2026-11-03,1.00,x\n" * (MAX_LINES + 1)
    assert refused(lambda: read_csv(many, CsvMap(), USD)) == "the file has more than 50,000 lines"


def test_hostile_xml_is_refused_by_the_parser_too_when_the_declaration_is_disguised() -> None:
    """In UTF-16 the byte pattern check cannot see ``<!DOCTYPE``; defusedxml still refuses."""
    utf16 = BILLION_LAUGHS.replace(b'version="1.0"', b'version="1.0" encoding="UTF-16"')
    message = refused(lambda: read_camt053(utf16.decode().encode("utf-16")))
    assert message.startswith("camt.053: the file declares a DTD or entities")


def test_a_line_of_zero_is_skipped_not_refused() -> None:
    data = CSV_HEAD + b"2026-11-03,0.00,memo only\n2026-11-04,(7.50),fee\n"
    read = read_csv(data, CsvMap(), USD)
    assert [(item.date, item.amount) for item in read.lines] == [(nov(4), usd("-7.50"))]


def test_csv_amounts_take_signs_parentheses_grouping_and_a_decimal_comma() -> None:
    data = (
        "Date;Amount;Description\n03.11.2026;+1.234,50;a\n04.11.2026;(2,00);b\n05.11.2026;-€3;c\n"
    )
    csv_map = CsvMap(delimiter=";", decimal_comma=True, date_format="%d.%m.%Y")
    read = read_csv(data.encode(), csv_map, EUR)
    assert [item.amount for item in read.lines] == [eur("1234.50"), eur("-2.00"), eur("-3.00")]


def test_texts_are_cleaned_of_controls_and_bidi_tricks_and_cut() -> None:
    assert clean_text("  Pay\u202eee\u200b \t\n  to\x07 me ") == "Payee to me"
    assert clean_text("x" * 500) == "x" * 200


# -- the CSV map from settings -----------------------------------------------------------


def test_a_csv_map_from_settings_json() -> None:
    given_ = {"date": "Posted", "debit": "Out", "credit": "In", "decimal_comma": True}
    assert CsvMap.from_mapping(given_) == CsvMap(
        date="Posted", amount=None, debit="Out", credit="In", decimal_comma=True
    )


@pytest.mark.parametrize(
    ("given_", "named"),
    [
        ({"dat": "Posted"}, "'dat'"),
        ({"date": 3}, "'date'"),
        ({"decimal_comma": "yes"}, "'decimal_comma'"),
        ({"amount": None}, "'amount'"),
        ({"debit": "Out"}, "'debit'"),
        ({"delimiter": ",,"}, "'delimiter'"),
    ],
)
def test_a_bad_csv_map_is_refused_naming_the_key(given_: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named) as caught:
        CsvMap.from_mapping(given_)
    assert "\n" not in str(caught.value)


# -- beangulp ----------------------------------------------------------------------------

CHECKING = "Assets:Bank:Checking"


def importer(**changes: object) -> StatementImporter:
    options: dict[str, object] = {"currency": USD, "account_number": "0001-2345-6789"}
    options.update(changes)
    return StatementImporter(CHECKING, **options)  # type: ignore[arg-type]


def written(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


NOVEMBER_OFX = to_ofx(statement(NOVEMBER, fmt="ofx"))


def test_the_importer_claims_its_own_accounts_statements_only(tmp_path: Path) -> None:
    ours = written(tmp_path, "export.qfx", NOVEMBER_OFX)
    theirs = written(tmp_path, "other.ofx", NOVEMBER_OFX.replace(b"000123456789", b"999"))
    junk = written(tmp_path, "junk.ofx", b"\x00\x01OFXHEADER")
    euros = written(tmp_path, "euro.ofx", NOVEMBER_OFX.replace(b"<CURDEF>USD", b"<CURDEF>EUR"))
    csv_file = written(tmp_path, "bank.csv", US_BANK_CSV)
    assert importer().identify(ours)
    assert not importer().identify(theirs)
    assert not importer().identify(junk)
    assert not importer().identify(euros)
    assert not importer().identify(csv_file)  # the default map's columns are not in it
    assert importer(csv_map=US_BANK_MAP).identify(csv_file)
    assert (importer().account(ours), importer().date(ours)) == (CHECKING, nov(30))
    assert importer().filename(ours) == "statement.qfx"


def test_extract_gives_flagged_transactions_and_the_closing_balance(tmp_path: Path) -> None:
    entries = importer().extract(written(tmp_path, "nov.ofx", NOVEMBER_OFX), [])
    transactions = [entry for entry in entries if isinstance(entry, data.Transaction)]
    assert [(t.date, t.flag, t.payee, t.narration) for t in transactions][:2] == [
        (nov(2), "!", "Erika Mustermann", "Gift for the November drive"),
        (nov(5), "!", "Print Shop", ""),
    ]
    assert transactions[1].meta["bank-id"] == "FIT-2"
    assert transactions[1].meta["check-number"] == "1043"
    assert [(p.account, str(p.units)) for p in transactions[1].postings] == [
        (CHECKING, "-150.00 USD")
    ]
    (balance,) = [entry for entry in entries if isinstance(entry, data.Balance)]
    assert (balance.date, str(balance.amount)) == (date(2026, 12, 1), "3291.33 USD")


def ledger_with(entries: data.Entries, *, opening: str | None = "1000.00") -> str:
    head = "2026-10-01 open Assets:Bank:Checking USD\n2026-10-01 open Equity:Unsorted\n"
    if opening:
        head += f'2026-10-31 * "Opening"\n  {CHECKING}  {opening} USD\n  Equity:Unsorted\n'
    return head + "\n".join(printer.format_entry(entry) for entry in entries)


def test_extracted_entries_print_and_load_with_their_balance_passing(tmp_path: Path) -> None:
    hostile = (*NOVEMBER, line('Q"uote\\', 20, "1.00", 'say "hi"\\', "a\u202eb"))
    path = written(tmp_path, "nov.ofx", to_ofx(statement(hostile, fmt="ofx")))
    entries = importer(counter_account="Equity:Unsorted").extract(path, [])
    loaded, errors, _ = loader.load_string(ledger_with(entries))
    assert errors == []
    assert {entry.meta.get("bank-id") for entry in loaded} >= {"FIT-1", 'Q"uote\\'}
    # The assertion is real: without the opening balance in the books, it fails.
    _, errors, _ = loader.load_string(ledger_with(entries, opening=None))
    assert [type(error).__name__ for error in errors] == ["BalanceError"]


def test_extract_leaves_out_lines_the_books_already_hold(tmp_path: Path) -> None:
    path = written(tmp_path, "nov.ofx", NOVEMBER_OFX)
    loaded, _, _ = loader.load_string(
        ledger_with([])
        + f'\n2026-11-02 * "Gift"\n  bank-id: "FIT-1"\n  {CHECKING}  2500.00 USD\n'
        + "  Equity:Unsorted\n"
        + '\n2026-11-05 * "Elsewhere"\n  bank-id: "FIT-2"\n  Equity:Unsorted  1 USD\n'
        + "  Equity:Unsorted  -1 USD\n"
    )
    entries = importer().extract(path, loaded)
    ids = [entry.meta["bank-id"] for entry in entries if isinstance(entry, data.Transaction)]
    assert ids == ["FIT-2", "FIT-3", "FIT-4", "FIT-5"]  # FIT-2 there was another account's


def test_deduplicate_marks_what_an_overlapping_file_already_gave(tmp_path: Path) -> None:
    first = importer().extract(written(tmp_path, "a.ofx", NOVEMBER_OFX), [])
    again = importer().extract(written(tmp_path, "b.ofx", NOVEMBER_OFX), [])
    importer().deduplicate(again, first)
    assert all("__duplicate__" in entry.meta for entry in again)
    fresh = importer().extract(written(tmp_path, "c.ofx", NOVEMBER_OFX), [])
    importer().deduplicate(fresh, [])
    assert not any("__duplicate__" in entry.meta for entry in fresh)


def test_beangulps_extract_command_comments_out_the_second_copy(tmp_path: Path) -> None:
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    written(downloads, "nov.ofx", NOVEMBER_OFX)
    written(downloads, "nov-again.qfx", NOVEMBER_OFX)
    written(downloads, "notes.txt", b"not a statement")
    books = tmp_path / "books.beancount"
    books.write_text(ledger_with([]))
    cli = Ingest([importer(counter_account="Equity:Unsorted")]).cli
    result = CliRunner().invoke(cli, ["extract", str(downloads), "-e", str(books)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.count('bank-id: "FIT-3"') == 2
    assert out.count('; 2026-11-12 ! "AT&T <Business> \\"Fiber\\""') == 1
