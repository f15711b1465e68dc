"""Which entries of the books a bank line is: the rules, with no database and no files.

A bank line is matched to entries the books already hold on the same bank account:

1. **One entry of the same amount**, dated from :data:`BEFORE` days before the bank
   booked the line to :data:`AFTER` days after it. The books date a payout when Stripe
   sends it and a cheque when staff enter it; the bank books them days later (and an
   outgoing cheque when it is cashed, weeks later). When a cheque's number is on the line
   and in an entry's narration, that entry wins; otherwise the nearest in days, then the
   earlier.
2. **Several entries adding up to it**, for a deposit that carried several cheques: up to
   :data:`MOST_IN_ONE` entries of the same sign, dated within :data:`DEPOSIT_DAYS` days
   before the line (or on its day). The set whose entries lie nearest the line wins.

An entry matches one line at most. Lines are matched in the order the bank booked them,
so an earlier line takes the entry first.

What is left gets a proposal for a bookkeeper: a bank fee to the sponsor's bank-fees
expense, interest to its interest income, anything else with no account for them to
choose.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from conservancy.ledger import accounts
from conservancy.ledger.index import BankEntry
from conservancy.money import Money

BEFORE = timedelta(days=45)
AFTER = timedelta(days=5)
DEPOSIT_DAYS = timedelta(days=10)
MOST_IN_ONE = 6
# How many of the nearest candidates a deposit's sets are drawn from: bounds the search.
_SET_CANDIDATES = 16

BANK_FEES = f"Expenses:{accounts.GENERAL}:Bank-Fees"
INTEREST = f"Income:{accounts.GENERAL}:Interest"

_FEE_WORDS = re.compile(
    r"\b(fee|fees|service charge|svc chg|charge|maintenance|wire out fee|overdraft)\b", re.I
)
_INTEREST_WORDS = re.compile(r"\b(interest|int paid|intrst)\b", re.I)
_CHEQUE_IN_TEXT = re.compile(
    r"\b(?:cheque|check|chq|chk)\.?\s*(?:no\.?\s*|#\s*)?(\d{1,10})\b", re.I
)


@dataclass(frozen=True, slots=True)
class Line:
    """What matching needs of a bank line."""

    key: int
    date: date
    amount: Money
    text: str
    check_number: str | None = None


@dataclass(frozen=True, slots=True)
class Proposal:
    account: str  # the entry's other account; "" when a bookkeeper must choose
    narration: str


def entry_key(entry: BankEntry) -> str:
    """What an entry is known by across imports: its ref, else where and what it is."""
    if entry.ref:
        return entry.ref
    return f"at:{entry.where}:{entry.date.isoformat()}:{entry.amount.minor}"


def window(lines: Iterable[Line]) -> tuple[date, date] | None:
    """The dates of the books that lines' matches may have."""
    days = [line.date for line in lines]
    if not days:
        return None
    return min(days) - BEFORE, max(days) + AFTER


def match(
    lines: Sequence[Line], entries: Sequence[BankEntry], taken: set[str]
) -> dict[int, list[BankEntry]]:
    """Each line's entries, by the line's key; a line with no match is left out.

    ``taken``: the keys of entries already matched to earlier lines; updated. The entries
    are looked up by amount and by day, so a statement of thousands of lines against
    books of thousands of entries takes a moment, not minutes.
    """
    found: dict[int, list[BankEntry]] = {}
    by_amount: dict[tuple[str, int], list[BankEntry]] = defaultdict(list)
    for entry in entries:
        by_amount[(entry.amount.currency.value, entry.amount.minor)].append(entry)
    by_day = sorted(entries, key=lambda e: (e.date, e.key))
    days = [e.date for e in by_day]
    for line in sorted(lines, key=lambda line: (line.date, line.key)):
        same = by_amount.get((line.amount.currency.value, line.amount.minor), [])
        chosen = _single(line, [e for e in same if entry_key(e) not in taken])
        if chosen is None:
            low = bisect.bisect_left(days, line.date - DEPOSIT_DAYS)
            high = bisect.bisect_right(days, line.date)
            near = [e for e in by_day[low:high] if entry_key(e) not in taken]
            chosen = _several(line, near)
        if chosen:
            found[line.key] = chosen
            taken |= {entry_key(e) for e in chosen}
    return found


def _single(line: Line, same: Sequence[BankEntry]) -> list[BankEntry] | None:
    """Of the entries of the line's amount, the one it is (see the module's rule 1)."""
    same = [e for e in same if line.date - BEFORE <= e.date <= line.date + AFTER]
    if not same:
        return None
    if line.check_number:
        wanted = line.check_number.lstrip("0")
        by_number = [e for e in same if _cheque_number(e.narration) == wanted]
        if by_number:
            same = by_number
    return [min(same, key=lambda e: (abs((e.date - line.date).days), e.date, e.key))]


def _several(line: Line, near: Sequence[BankEntry]) -> list[BankEntry] | None:
    """Of the entries dated in the days before the line, the fewest that add up to it."""
    sign = 1 if line.amount.minor > 0 else -1
    candidates = [
        e
        for e in near
        if e.amount.currency == line.amount.currency
        and e.amount.minor * sign > 0
        and abs(e.amount.minor) < abs(line.amount.minor)
    ]
    candidates.sort(key=lambda e: ((line.date - e.date).days, e.key))
    candidates = candidates[:_SET_CANDIDATES]
    # Meet in the middle: every subset of each half by its sum, then the pairs that add up
    # (2 x 256 subsets for 16 candidates, where trying every set of up to six is 15,000).
    half = len(candidates) // 2
    right: dict[int, list[tuple[int, ...]]] = defaultdict(list)
    for picked in _subsets(range(half, len(candidates))):
        right[sum(candidates[i].amount.minor for i in picked)].append(picked)
    best: tuple[int, int, list[BankEntry]] | None = None
    for picked in _subsets(range(half)):
        need = line.amount.minor - sum(candidates[i].amount.minor for i in picked)
        for other in right.get(need, ()):
            combo = [candidates[i] for i in (*picked, *other)]
            if not 2 <= len(combo) <= MOST_IN_ONE:
                continue
            # The fewest entries; of those, the set whose oldest entry is nearest the line.
            rank = (len(combo), max((line.date - e.date).days for e in combo))
            if best is None or rank < best[:2]:
                best = (*rank, sorted(combo, key=lambda e: e.key))
    return best[2] if best is not None else None


def _subsets(indexes: range) -> Iterator[tuple[int, ...]]:
    """Every subset of ``indexes`` (the empty one included), as a tuple of them."""
    for size in range(len(indexes) + 1):
        yield from itertools.combinations(indexes, size)


def _cheque_number(text: str) -> str | None:
    found = _CHEQUE_IN_TEXT.search(text)
    return found.group(1).lstrip("0") if found else None


def propose(line: Line) -> Proposal:
    """The entry a bookkeeper is offered for a line the books do not hold."""
    text = " ".join(line.text.split())
    if line.amount.minor < 0 and _FEE_WORDS.search(text):
        return Proposal(BANK_FEES, f"Bank fee: {text}" if text else "Bank fee")
    if line.amount.minor > 0 and _INTEREST_WORDS.search(text):
        return Proposal(INTEREST, f"Interest: {text}" if text else "Interest")
    return Proposal("", text or "Bank statement line")
