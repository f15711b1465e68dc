"""``conservancy ledger check``: Beancount's own validation plus our invariants.

Our invariants:
* the books set ``tolerance_multiplier`` to 0, so nothing may be off by any amount;
* every ``ref`` is unique across the whole ledger;
* every entry the application wrote has a ref and balances to the cent, in
  amounts of at most two decimals;
* every income, expense and net-assets posting belongs to a fund, and the
  funds add up to the sponsor's net assets (assets less liabilities);
* every posting to a fund is in whole cents of its currency, staff entries
  included: fund figures (pages, statements, the transaction index) are kept
  in cents, and their sums must be the books' sums;
* every entry the database says was posted is in the books;
* no close of a year was cut short (``ledger.years``);
* every income account says on which Form 990 Part VIII line its revenue belongs:
  ``form-990-line`` on its ``open``, or a default by its name
  (``accounts.default_form_990_line``), so the year-end package can class it;
* every expense account says in which Part IX column its expenses go: ``function``
  (program, management or fundraising) on its ``open``, or a default by its name
  (``accounts.default_function``); a ``form-990-line`` on it is a Part IX line; an
  entry's or posting's own ``function`` is one of the three.

It checks the day-to-day books (``main.beancount``) or, given the history's
``LedgerFiles``, the full history (``history.beancount``). The application's
own files are every file under app/, closed years and opening balances too.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from beancount.core import data

from conservancy.ledger import accounts
from conservancy.ledger.accounts import fund_of
from conservancy.ledger.files import LedgerFiles
from conservancy.ledger.snapshot import load_books, posting_weight
from conservancy.ledger.years import interruption

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Problem:
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class CheckResult:
    problems: list[Problem]
    transactions: int
    refs: int


def _where(files: LedgerFiles, meta: dict[str, Any] | None) -> str:
    if not meta or "filename" not in meta:
        return "ledger"
    filename = str(meta["filename"])
    if filename.startswith("<"):
        return "ledger"
    return f"{files.relative(filename)}:{meta.get('lineno', 0)}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def check_books(files: LedgerFiles, posted_refs: Iterable[str] = ()) -> CheckResult:
    if not files.main.exists():
        return CheckResult([Problem(str(files.main), "no such file: run 'conservancy init'")], 0, 0)
    entries, errors, options = load_books(files)
    problems = [Problem(_where(files, e.source), _one_line(e.message)) for e in errors]
    interrupted = interruption(files)
    if interrupted is not None:
        problems.append(Problem("ledger", interrupted))

    if options.get("tolerance_multiplier") != 0:
        problems.append(
            Problem(files.relative(files.main), 'option "tolerance_multiplier" must be "0"')
        )

    # An entry Beancount already reported (one that does not balance) is left out
    # of the funds-against-net-assets sums: it would only report itself again.
    reported = {id(e.entry) for e in errors if getattr(e, "entry", None) is not None}

    seen: dict[str, str] = {}
    fund_sums: dict[str, Decimal] = defaultdict(Decimal)
    net_assets: dict[str, Decimal] = defaultdict(Decimal)
    unfunded: dict[str, str] = {}
    transactions = 0
    for entry in entries:
        ref = entry.meta.get("ref") if entry.meta else None
        where = _where(files, entry.meta)
        if ref is not None:
            if ref in seen:
                problems.append(Problem(where, f'ref "{ref}" is also used at {seen[ref]}'))
            else:
                seen[ref] = where
        if isinstance(entry, data.Open):
            problems.extend(_check_form_990(entry, where))
        if not isinstance(entry, data.Transaction):
            continue
        problems.extend(_check_functions(entry, where))
        transactions += 1
        ours = files.is_owned(entry.meta.get("filename", ""))
        if ours:
            problems.extend(_check_app_transaction(entry, ref, where, id(entry) in reported))
        for posting in entry.postings:
            currency, number = posting_weight(posting)
            if not ours and fund_of(posting.account) is not None and not _whole_cents(number):
                problems.append(
                    Problem(
                        where,
                        f"{posting.account} {number} {currency} is not in whole cents "
                        "(fund figures are kept in cents)",
                    )
                )
            if currency != "USD":
                continue
            fund = fund_of(posting.account)
            root = posting.account.split(":")[0]
            if fund is None and root not in {"Assets", "Liabilities"}:
                unfunded.setdefault(posting.account, where)
            elif id(entry) in reported:
                continue
            elif fund is not None:
                fund_sums[fund] -= number
            else:
                net_assets["USD"] += number
    for account, where in unfunded.items():
        problems.append(Problem(where, f"{account} belongs to no fund"))
    total_funds = sum(fund_sums.values(), Decimal(0))
    if not unfunded and total_funds != net_assets["USD"]:
        problems.append(
            Problem(
                "ledger",
                f"the funds add up to {total_funds} USD but net assets are {net_assets['USD']} USD",
            )
        )
    missing = sorted(set(posted_refs) - set(seen))
    problems.extend(
        Problem("database", f'entry "{ref}" is marked posted but is not in the books')
        for ref in missing
    )
    return CheckResult(problems, transactions, len(seen))


def _check_function(entry: data.Open, where: str) -> list[Problem]:
    """An expense account's Part IX column: given on its open, or a default by its name."""
    meta = entry.meta or {}
    function = meta.get(accounts.FUNCTION)
    problems = []
    if function is None and accounts.default_function(entry.account) is None:
        problems.append(
            Problem(
                where,
                f"{entry.account} has no {accounts.FUNCTION} on its open and no default "
                f"applies: add its Form 990 Part IX column ({', '.join(accounts.FUNCTIONS)})",
            )
        )
    elif function is not None and str(function) not in accounts.EXPENSE_FUNCTIONS:
        problems.append(
            Problem(
                where,
                f'{entry.account}: {accounts.FUNCTION} "{_one_line(str(function))}" is not one '
                f"of {', '.join(accounts.FUNCTIONS)}",
            )
        )
    line = meta.get(accounts.FORM_990_LINE)
    if line is not None and str(line) not in accounts.PART_IX_LINES:
        problems.append(
            Problem(
                where,
                f'{entry.account}: {accounts.FORM_990_LINE} "{_one_line(str(line))}" is not a '
                "Part IX line (such as 11g, 17 or 24e)",
            )
        )
    return problems


def _check_functions(entry: data.Transaction, where: str) -> list[Problem]:
    """An entry's, or a posting's, own ``function``: one of the three columns."""
    given = [entry.meta.get(accounts.FUNCTION)] + [
        (p.meta or {}).get(accounts.FUNCTION) for p in entry.postings
    ]
    return [
        Problem(
            where,
            f'{accounts.FUNCTION} "{_one_line(str(function))}" is not one of '
            f"{', '.join(accounts.FUNCTIONS)}",
        )
        for function in given
        if function is not None and str(function) not in accounts.FUNCTIONS
    ]


def _check_form_990(entry: data.Open, where: str) -> list[Problem]:
    """An income account's Part VIII line: given on its open, or a default by its name;
    an expense account's Part IX column (``_check_function``)."""
    if entry.account.startswith("Expenses:") and fund_of(entry.account) is not None:
        return _check_function(entry, where)
    if not entry.account.startswith("Income:") or fund_of(entry.account) is None:
        return []  # an income account of no fund is a problem of its own (below)
    meta = entry.meta or {}
    line = meta.get(accounts.FORM_990_LINE)
    problems = []
    if line is None and accounts.default_form_990_line(entry.account) is None:
        problems.append(
            Problem(
                where,
                f"{entry.account} has no {accounts.FORM_990_LINE} on its open and no default "
                f'applies: add the Form 990 Part VIII line of its revenue (such as "2a")',
            )
        )
    elif line is not None and str(line) not in accounts.ACCOUNT_LINES:
        problems.append(
            Problem(
                where,
                f'{entry.account}: {accounts.FORM_990_LINE} "{_one_line(str(line))}" is not a '
                f"Part VIII line ({', '.join(accounts.ACCOUNT_LINES_IN_ORDER)})",
            )
        )
    exchange = meta.get(accounts.FORM_990_EXCHANGE_LINE)
    if exchange is not None and str(exchange) not in accounts.PART_VIII_LINES:
        problems.append(
            Problem(
                where,
                f'{entry.account}: {accounts.FORM_990_EXCHANGE_LINE} "{_one_line(str(exchange))}" '
                "is not a Part VIII line",
            )
        )
    return problems


def _whole_cents(number: Decimal) -> bool:
    """Our currencies all have cents; other commodities are counted in hundredths too."""
    return number == number.quantize(CENT)


def _check_app_transaction(
    entry: data.Transaction, ref: str | None, where: str, reported: bool
) -> list[Problem]:
    """Our rules for the app's own entries; an imbalance Beancount reported is not repeated."""
    if ref is None:
        return [Problem(where, "an entry in the application's files has no ref")]
    problems = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for posting in entry.postings:
        units = posting.units
        if units is None or not isinstance(units.number, Decimal):
            problems.append(Problem(where, f'ref "{ref}": {posting.account} has no amount'))
            continue
        if units.number != units.number.quantize(CENT):
            problems.append(Problem(where, f'ref "{ref}": {units} has more than two decimals'))
        currency, number = posting_weight(posting)
        totals[currency] += number
    for currency, total in totals.items():
        if total != 0 and not reported:
            problems.append(Problem(where, f'ref "{ref}" is off by {total} {currency}'))
    return problems
