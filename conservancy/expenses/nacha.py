"""A NACHA (ACH) credit file: paying approved expense requests by bank transfer.

The sponsor's bank takes a payment run as one text file in the fixed-width format of
the NACHA Operating Rules (Appendix Three, "ACH Record Format Specifications"): a file
header (record 1); a batch per standard entry class, each a batch header (5), its
entries (6) and a batch control (8); a file control (9); then all-9 filler records to
a whole block of ten. Every record is 94 characters. Alphanumeric fields are
left-justified and filled with spaces, numeric ones right-justified and filled with
zeros.

The file only pays out (service class 220, credits only): a person by PPD, a company by
CCD, to checking (transaction code 22) or savings (32). Amounts are integer cents, as
the file writes them. Whatever a bank would refuse, or whatever would slip a field out
of its columns, is refused here first with :class:`AchRefused`, naming the field and
the credit, so that staff fix the payee rather than read a bank's rejection a day later.
Names are made plain instead (upper case, accents dropped, anything outside printable
ASCII a space, cut to the field's width): a payee's name is theirs to spell, and the
receiving bank matches the account number, not the name.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from conservancy.money import Currency, Money

# What the file's fields hold at most (NACHA's widths, in digits or characters).
AMOUNT_LIMIT = 9_999_999_999  # an entry's amount: 10 digits of cents
TOTAL_LIMIT = 999_999_999_999  # a batch's or the file's total: 12 digits of cents
CREDIT_LIMIT = 999_999  # entries in a batch: its control counts them in 6 digits
ACCOUNT_WIDTH = 17
IDENTIFICATION_WIDTH = 15
DESCRIPTION_WIDTH = 10
COMPANY_ID_WIDTH = 10

_BLOCKING_FACTOR = 10
_RECORD_SIZE = 94
_FILLER = "9" * _RECORD_SIZE
_CREDITS_ONLY = "220"  # service class code: a batch of credits and nothing else
# Matched whole (fullmatch): "$" alone would let a trailing newline through.
_ROUTING = re.compile(r"[0-9]{9}")
_ACCOUNT = re.compile(r"[0-9]{1,17}")
_FILE_ID_MODIFIER = re.compile(r"[A-Z0-9]")
_COMPANY_ID = re.compile(r"[A-Z0-9]{1,10}")
_IMMEDIATE_ORIGIN = re.compile(r"[A-Z0-9 ]{10}|[0-9]{9}")


class AchRefused(ValueError):
    """Something the file cannot carry; the message names the field and the credit."""


class Payee(StrEnum):
    """Who is paid; the value is the standard entry class code of the payee's batch."""

    PERSON = "PPD"  # Prearranged Payment and Deposit: a consumer's account
    COMPANY = "CCD"  # Corporate Credit or Debit: a business's account


class AccountType(StrEnum):
    CHECKING = "checking"
    SAVINGS = "savings"


# Latin capitals that Unicode does not decompose into a letter and its accent.
_LATIN = str.maketrans(
    {"Æ": "AE", "Ð": "D", "Đ": "D", "Ħ": "H", "Ł": "L", "Ø": "O", "Œ": "OE", "Þ": "TH", "Ŧ": "T"}
)

# Transaction codes of a live credit (a prenote or a debit is never written here).
_CREDIT_CODE = {AccountType.CHECKING: "22", AccountType.SAVINGS: "32"}


@dataclass(frozen=True, kw_only=True)
class Originator:
    """The sponsor, who sends the money, as its bank knows it.

    ``routing_number`` is the sponsor's bank: the file goes to it (immediate
    destination) and it originates the entries (its first eight digits are the ODFI
    identification in every batch and trace number). ``company_id`` is what the bank
    assigned, usually ``"1"`` and the EIN's nine digits. ``immediate_origin`` is the
    file's sender as the bank wants it, ten characters; left empty it is the company id.
    """

    routing_number: str
    bank_name: str
    company_name: str
    company_id: str
    immediate_origin: str = ""


@dataclass(frozen=True, kw_only=True)
class Credit:
    """One payment: ``amount`` cents to a payee's account.

    ``identification`` (an expense request's, such as ``REQ-42``) is written in the
    entry so that the payee's statement and the sponsor's books can be matched; it is
    at most 15 characters and never cut.
    """

    identification: str
    name: str
    payee: Payee
    routing_number: str
    account_number: str
    account_type: AccountType
    amount: int


def check_routing(number: str) -> str:
    """The routing number, if it is nine digits whose ABA check digit is right.

    The check digit catches a mistyped digit and most swapped pairs: three times the
    1st, 4th and 7th digits, seven times the 2nd, 5th and 8th, and the 3rd, 6th and 9th,
    add to a multiple of ten. Raises AchRefused.
    """
    problem = _routing_problem(number)
    if problem:
        raise AchRefused(_sentence(None, problem))
    return number


def _plain(text: str, width: int) -> str:
    """Text as an alphanumeric field can hold it: upper case, accents dropped (Ø and Æ
    written O and AE), anything outside printable ASCII (a newline, a letter of another
    script) a space, runs of spaces one, cut to ``width``. What it makes cannot move the
    columns after it."""
    # Upper case both before decomposing (a capital's decomposition has capitals) and after
    # (some compatibility forms decompose to small letters: the one sign for kg).
    decomposed = unicodedata.normalize("NFKD", text.upper().translate(_LATIN))
    letters = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    printable = "".join(c if " " <= c <= "~" else " " for c in letters)
    return " ".join(printable.split())[:width]


def ach_file(
    originator: Originator,
    credits: Sequence[Credit],
    *,
    created_at: datetime,
    effective_on: date,
    description: str = "EXPENSES",
    file_id_modifier: str = "A",
) -> str:
    """The text of one NACHA file paying ``credits`` from the sponsor's account.

    A batch per kind of payee (persons first), the credits in the order given within it;
    trace numbers run through the file, so each is unique and they ascend. ``created_at``
    is written as it is given (its own date and wall time): pass it in the zone the bank
    reads, usually the sponsor's. ``effective_on`` is the day the sponsor asks the
    payees be paid; the bank settles on it or on the next banking day. A second file made
    the same day needs another ``file_id_modifier`` (A, B, ...; or 0-9), or the bank takes
    it for the first sent twice. Raises AchRefused, before anything is written.
    """
    _check_run(originator, credits, description, file_id_modifier)
    odfi = originator.routing_number[:8]
    company_id = _plain(originator.company_id, COMPANY_ID_WIDTH)
    records = [_file_header(originator, created_at, file_id_modifier)]
    sequence = 0
    batches = 0
    for payee in Payee:
        batch = [credit for credit in credits if credit.payee == payee]
        if not batch:
            continue
        batches += 1
        records.append(_batch_header(originator, payee, description, effective_on, odfi, batches))
        for credit in batch:
            sequence += 1
            records.append(_entry(credit, trace=odfi + _number(sequence, 7)))
        records.append(_batch_control(batch, company_id, odfi, batches))
    records.append(_file_control(credits, batches, records=len(records) + 1))
    records += [_FILLER] * (-len(records) % _BLOCKING_FACTOR)
    for record in records:  # a field written too wide would shift every column after it
        assert len(record) == _RECORD_SIZE, record
    return "\n".join(records) + "\n"


# The records, field by field in the order of the published layout (positions 1-based).


def _file_header(originator: Originator, created_at: datetime, file_id_modifier: str) -> str:
    return "".join(
        (
            "1",  # 1: record type
            "01",  # 2-3: priority code
            " " + originator.routing_number,  # 4-13: immediate destination, bTTTTAAAAC
            _immediate_origin(originator),  # 14-23: immediate origin
            created_at.strftime("%y%m%d"),  # 24-29: file creation date
            created_at.strftime("%H%M"),  # 30-33: file creation time
            file_id_modifier,  # 34
            "094",  # 35-37: record size
            "10",  # 38-39: blocking factor
            "1",  # 40: format code
            _text(originator.bank_name, 23),  # 41-63: immediate destination name
            _text(originator.company_name, 23),  # 64-86: immediate origin name
            _text("", 8),  # 87-94: reference code
        )
    )


def _batch_header(
    originator: Originator,
    payee: Payee,
    description: str,
    effective_on: date,
    odfi: str,
    number: int,
) -> str:
    return "".join(
        (
            "5",  # 1: record type
            _CREDITS_ONLY,  # 2-4: service class code
            _text(originator.company_name, 16),  # 5-20: company name
            _text("", 20),  # 21-40: company discretionary data
            _text(originator.company_id, COMPANY_ID_WIDTH),  # 41-50: company identification
            str(payee),  # 51-53: standard entry class code
            _text(description, DESCRIPTION_WIDTH),  # 54-63: company entry description
            _text("", 6),  # 64-69: company descriptive date
            effective_on.strftime("%y%m%d"),  # 70-75: effective entry date
            _text("", 3),  # 76-78: settlement date, the ACH operator's to fill
            "1",  # 79: originator status code (a depository institution bound by the rules)
            odfi,  # 80-87: originating DFI identification
            _number(number, 7),  # 88-94: batch number
        )
    )


def _entry(credit: Credit, *, trace: str) -> str:
    return "".join(
        (
            "6",  # 1: record type
            _CREDIT_CODE[AccountType(credit.account_type)],  # 2-3: transaction code
            credit.routing_number[:8],  # 4-11: receiving DFI identification
            credit.routing_number[8],  # 12: check digit
            _text(credit.account_number, ACCOUNT_WIDTH),  # 13-29: DFI account number
            _number(credit.amount, 10),  # 30-39: amount
            _text(credit.identification, IDENTIFICATION_WIDTH),  # 40-54: identification number
            _text(credit.name, 22),  # 55-76: individual or receiving company name
            _text("", 2),  # 77-78: discretionary data
            "0",  # 79: addenda record indicator: none
            trace,  # 80-94: trace number
        )
    )


def _batch_control(batch: list[Credit], company_id: str, odfi: str, number: int) -> str:
    return "".join(
        (
            "8",  # 1: record type
            _CREDITS_ONLY,  # 2-4: service class code
            _number(len(batch), 6),  # 5-10: entry/addenda count
            _number(_entry_hash(batch), 10),  # 11-20: entry hash
            _number(0, 12),  # 21-32: total debit entry dollar amount
            _number(sum(credit.amount for credit in batch), 12),  # 33-44: total credit
            _text(company_id, COMPANY_ID_WIDTH),  # 45-54: company identification
            _text("", 19),  # 55-73: message authentication code
            _text("", 6),  # 74-79: reserved
            odfi,  # 80-87: originating DFI identification
            _number(number, 7),  # 88-94: batch number
        )
    )


def _file_control(credits: Sequence[Credit], batches: int, *, records: int) -> str:
    return "".join(
        (
            "9",  # 1: record type
            _number(batches, 6),  # 2-7: batch count
            _number(-(-records // _BLOCKING_FACTOR), 6),  # 8-13: block count
            _number(len(credits), 8),  # 14-21: entry/addenda count
            _number(_entry_hash(credits), 10),  # 22-31: entry hash
            _number(0, 12),  # 32-43: total debit entry dollar amount in file
            _number(sum(credit.amount for credit in credits), 12),  # 44-55: total credit
            _text("", 39),  # 56-94: reserved
        )
    )


def _entry_hash(credits: Sequence[Credit]) -> int:
    """The receiving banks' 8-digit identifications added up, cut to the rightmost ten
    digits: the bank's check that no entry was lost or changed on the way."""
    return sum(int(credit.routing_number[:8]) for credit in credits) % 10**10


def _immediate_origin(originator: Originator) -> str:
    origin = originator.immediate_origin or originator.company_id
    return " " + origin if _ROUTING.fullmatch(origin) else origin


def _text(value: str, width: int) -> str:
    return _plain(value, width).ljust(width)


def _number(value: int, width: int) -> str:
    digits = str(value).zfill(width)
    if value < 0 or len(digits) != width:  # the checks before writing keep this from happening
        raise ValueError(f"{value} does not fit a numeric field of {width} digits")
    return digits


# What is refused, all of it before the first record is written.


def _check_run(
    originator: Originator, credits: Sequence[Credit], description: str, file_id_modifier: str
) -> None:
    _check_originator(originator)
    if not _FILE_ID_MODIFIER.fullmatch(file_id_modifier):
        raise AchRefused(
            f"The file ID modifier {file_id_modifier!r} is not one capital letter A-Z or digit 0-9."
        )
    if not _plain(description, DESCRIPTION_WIDTH + 1):
        raise AchRefused("The company entry description is empty; the payees' banks show it.")
    if len(_plain(description, DESCRIPTION_WIDTH + 1)) > DESCRIPTION_WIDTH:
        raise AchRefused(
            f"The company entry description {description!r} is longer than "
            f"{DESCRIPTION_WIDTH} characters."
        )
    if not credits:
        raise AchRefused("There are no credits to pay: a file needs at least one.")
    for position, credit in enumerate(credits, start=1):
        _check_credit(credit, credit.identification.strip() or f"Credit {position}")
    for payee in Payee:
        if sum(credit.payee == payee for credit in credits) > CREDIT_LIMIT:
            raise AchRefused(
                f"There are more than {CREDIT_LIMIT:,} {payee.value} credits for one batch; "
                "split the run into files."
            )
        total = sum(credit.amount for credit in credits if credit.payee == payee)
        if total > TOTAL_LIMIT:
            raise AchRefused(
                f"The {payee.value} credits total {_dollars(total)}, more than a batch "
                f"carries ({_dollars(TOTAL_LIMIT)}); split the run into files."
            )
    if sum(credit.amount for credit in credits) > TOTAL_LIMIT:
        raise AchRefused(
            f"The credits total {_dollars(sum(credit.amount for credit in credits))}, more "
            f"than a file carries ({_dollars(TOTAL_LIMIT)}); split the run into files."
        )


def _check_originator(originator: Originator) -> None:
    who = "Originator"
    problem = _routing_problem(originator.routing_number)
    if problem:
        raise AchRefused(_sentence(who, problem))
    if not _plain(originator.company_name, 16):
        raise AchRefused(_sentence(who, "the company name is empty"))
    if not _COMPANY_ID.fullmatch(originator.company_id):
        raise AchRefused(
            _sentence(
                who,
                f"the company identification {originator.company_id!r} is not 1 to "
                f"{COMPANY_ID_WIDTH} capital letters or digits",
            )
        )
    origin = originator.immediate_origin or originator.company_id
    if not _IMMEDIATE_ORIGIN.fullmatch(origin):
        raise AchRefused(
            _sentence(
                who,
                f"the immediate origin {origin!r} is neither 10 capital letters or digits "
                "nor a 9-digit routing number",
            )
        )


def _check_credit(credit: Credit, who: str) -> None:
    problem = _routing_problem(credit.routing_number)
    if problem:
        raise AchRefused(_sentence(who, problem))
    if not _ACCOUNT.fullmatch(credit.account_number):
        raise AchRefused(
            _sentence(
                who,
                f"the account number {credit.account_number!r} is not 1 to {ACCOUNT_WIDTH} digits",
            )
        )
    if credit.account_type not in tuple(AccountType):
        raise AchRefused(
            _sentence(who, f"the account type {credit.account_type!r} is not checking or savings")
        )
    if credit.payee not in tuple(Payee):
        raise AchRefused(_sentence(who, f"the payee {credit.payee!r} is not a person or company"))
    amount: object = credit.amount
    if isinstance(amount, bool) or not isinstance(amount, int):
        # A float near money is a bug to fix in the caller, not a payee to correct.
        raise TypeError(f"{who}: an amount is integer cents, not {type(amount).__name__}")
    if credit.amount <= 0:
        raise AchRefused(
            _sentence(who, f"the amount {_dollars(credit.amount)} is not more than zero")
        )
    if credit.amount > AMOUNT_LIMIT:
        raise AchRefused(
            _sentence(
                who,
                f"the amount {_dollars(credit.amount)} is more than an entry carries "
                f"({_dollars(AMOUNT_LIMIT)})",
            )
        )
    if not _plain(credit.name, 22):
        raise AchRefused(
            _sentence(
                who,
                f"the name {credit.name!r} has no character a bank file carries; "
                "write it in Latin letters",
            )
        )
    if len(_plain(credit.identification, IDENTIFICATION_WIDTH + 1)) > IDENTIFICATION_WIDTH:
        raise AchRefused(
            _sentence(
                who,
                f"the identification {credit.identification!r} is longer than the "
                f"{IDENTIFICATION_WIDTH} characters its field holds",
            )
        )


def _routing_problem(number: str) -> str | None:
    """What is wrong with a routing number, as the end of a sentence; None if nothing."""
    if not _ROUTING.fullmatch(number):
        return f"the routing number {number!r} is not 9 digits"
    weighted = sum(int(digit) * weight for digit, weight in zip(number, (3, 7, 1) * 3, strict=True))
    if weighted % 10:
        return f"the routing number {number} fails its check digit"
    return None


def _sentence(who: str | None, problem: str) -> str:
    return f"{who}: {problem}." if who else problem[0].upper() + problem[1:] + "."


def _dollars(cents: int) -> str:
    return Money.from_minor(cents, Currency.USD).format()
