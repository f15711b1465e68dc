"""The demo's bank statement: what its bank would send for the books' bank account.

``conservancy demo`` has a bank account but no bank. This writes the statement that bank
would send, as an OFX file, from what the books hold on the account: each payout, payment
and expense as a line of its own, the cheques entered on one day as one deposit (as a
teller takes a slip of several), and a monthly fee and interest the books do not hold
yet. Importing it at ``/admin/bank`` shows the whole round: lines matched, two proposed,
the balance asserted once its last day has ended. Demo only (``GET /demo/bank-statement``).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, timedelta
from xml.sax.saxutils import escape

from conservancy.ledger.index import BankEntry
from conservancy.money import Currency, Money

ACCOUNT_NUMBER = "000123456789"
FEE = Money.parse("12.00", Currency.USD)
INTEREST = Money.parse("0.87", Currency.USD)
# The days a statement covers, ending today.
DAYS = 30

_CHEQUE = re.compile(r"\bcheque\b", re.I)


def lines_for(entries: Sequence[BankEntry], today: date) -> list[tuple[str, date, Money, str]]:
    """The bank's lines (id, day, amount, words) for the books' entries, plus fee and interest."""
    found: list[tuple[str, date, Money, str]] = []
    deposits: dict[date, list[BankEntry]] = defaultdict(list)
    for entry in entries:
        if entry.amount.currency is not Currency.USD:
            continue
        if entry.amount.minor > 0 and _CHEQUE.search(entry.narration):
            deposits[entry.date].append(entry)
            continue
        words = "STRIPE TRANSFER" if "payout" in entry.narration.lower() else entry.narration
        found.append((f"DEMO-{entry.key}", entry.date, entry.amount, words.upper()[:60]))
    for day, slip in deposits.items():
        total = Money.from_minor(sum(e.amount.minor for e in slip), Currency.USD)
        found.append((f"DEMO-DEP-{slip[0].key}", day, total, f"DEPOSIT {len(slip)} ITEMS"))
    found.append((f"DEMO-FEE-{today.isoformat()}", today, -FEE, "MONTHLY SERVICE FEE"))
    found.append((f"DEMO-INT-{today.isoformat()}", today, INTEREST, "INTEREST PAYMENT"))
    return sorted(found, key=lambda line: (line[1], line[0]))


def statement_ofx(opening: Money, entries: Sequence[BankEntry], today: date) -> bytes:
    """The OFX 1.02 file (SGML, as US banks send it) of the statement ending today."""
    first = today - timedelta(days=DAYS - 1)
    lines = lines_for(entries, today)
    closing = opening
    for _id, _day, amount, _words in lines:
        closing = closing + amount
    stamp = today.strftime("%Y%m%d")
    body = [
        "OFXHEADER:100",
        "DATA:OFXSGML",
        "VERSION:102",
        "SECURITY:NONE",
        "ENCODING:USASCII",
        "CHARSET:1252",
        "COMPRESSION:NONE",
        "OLDFILEUID:NONE",
        "NEWFILEUID:NONE",
        "",
        "<OFX>",
        "<SIGNONMSGSRSV1><SONRS><STATUS><CODE>0<SEVERITY>INFO</STATUS>",
        f"<DTSERVER>{stamp}120000<LANGUAGE>ENG</SONRS></SIGNONMSGSRSV1>",
        "<BANKMSGSRSV1><STMTTRNRS><TRNUID>1<STATUS><CODE>0<SEVERITY>INFO</STATUS>",
        "<STMTRS><CURDEF>USD",
        "<BANKACCTFROM><BANKID>021000021<ACCTID>" + ACCOUNT_NUMBER,
        "<ACCTTYPE>CHECKING</BANKACCTFROM>",
        f"<BANKTRANLIST><DTSTART>{first:%Y%m%d}<DTEND>{stamp}",
    ]
    for bank_id, day, amount, words in lines:
        kind = "CREDIT" if amount.minor > 0 else "DEBIT"
        body += [
            f"<STMTTRN><TRNTYPE>{kind}<DTPOSTED>{day:%Y%m%d}<TRNAMT>{amount.amount}",
            f"<FITID>{escape(bank_id)}<NAME>{escape(words[:32]) or 'BANK'}</STMTTRN>",
        ]
    body += [
        "</BANKTRANLIST>",
        f"<LEDGERBAL><BALAMT>{closing.amount}<DTASOF>{stamp}</LEDGERBAL>",
        "</STMTRS></STMTTRNRS></BANKMSGSRSV1>",
        "</OFX>",
        "",
    ]
    return "\r\n".join(body).encode("ascii", errors="replace")
