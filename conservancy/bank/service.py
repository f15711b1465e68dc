"""Bank reconciliation: import a statement, match it to the books, propose, assert.

One import, in one transaction:

1. The file is read (``bank.formats``) and held to the account: its currency, and its
   account number (the one CONSERVANCY_BANK_ACCOUNTS names, else the number of the
   first statement imported for the account). The same file imported again for the
   account is recognised by its SHA-256 and writes nothing.
2. Each line is kept once (``bank_lines``, unique by account and the bank's id or a
   fingerprint), so an overlapping statement adds only its new lines.
3. Every line not yet matched is matched against the entries the books hold on the
   account (``bank.matching``): read from the transaction index, never by loading the
   ledger, and from the ledger outbox for entries recorded but not yet appended.
4. A line that matches nothing keeps a proposal for a bookkeeper
   (:func:`confirm` books it, ref ``bank-line-<id>``).
5. Each statement whose lines up to its closing day are all matched or booked, and whose
   closing balance the books hold on that day, gets its Beancount ``balance`` assertion
   (dated the next day: Beancount asserts at the start of a day). The latest such day is
   the account's "reconciled through".
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.bank import matching
from conservancy.bank.formats import CsvMap, read_statement
from conservancy.bank.models import BankLine, BankMatch, BankStatement, LineStatus
from conservancy.bank.statement import Statement, StatementRefused, normalise_account
from conservancy.infra.config import BankAccount
from conservancy.kernel import clock
from conservancy.kernel.errors import Conflict, DomainError, NotFound
from conservancy.ledger import accounts
from conservancy.ledger.entries import Balance, Posting, Transaction, clean_text, loads
from conservancy.ledger.index import BankEntry, TransactionIndex
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import record, record_if_absent
from conservancy.ledger.snapshot import Snapshot
from conservancy.money import Currency, Money
from conservancy.projects.service import open_accounts, opened_on
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

Actor = Staff | str  # a signed-in bookkeeper, or audit.COMMAND_LINE

_ACCOUNT_NAME = re.compile(r"^(Assets|Liabilities|Equity|Income|Expenses)(:[A-Z][A-Za-z0-9-]*)+$")


class ProposalRefused(DomainError):
    """A bookkeeper's choice for a line that cannot be booked; names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass
class ImportResult:
    statement: BankStatement
    already: bool = False  # the same file was imported before: nothing written
    new_lines: int = 0
    seen_lines: int = 0  # lines an earlier statement already brought
    matched: int = 0  # lines matched by this import (new or left from before)
    proposed: int = 0  # lines waiting for a bookkeeper, all told
    asserted: list[BankStatement] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # why a statement is not asserted yet


def bank_account(configured: Sequence[BankAccount], account: str) -> BankAccount:
    for bank in configured:
        if bank.account == account:
            return bank
    names = ", ".join(b.account for b in configured)
    raise StatementRefused(
        f"{account} is not a bank account statements are imported for "
        f"(CONSERVANCY_BANK_ACCOUNTS: {names})"
    )


def csv_map(bank: BankAccount) -> CsvMap | None:
    if bank.csv is None:
        return None
    try:
        return CsvMap.from_mapping(bank.csv)
    except ValueError as exc:
        raise StatementRefused(f"CONSERVANCY_BANK_ACCOUNTS: {bank.account}'s csv: {exc}") from None


def import_statement(
    session: Session,
    index: TransactionIndex,
    bank: BankAccount,
    data: bytes,
    *,
    file_name: str,
    actor: Actor,
    today: date,
    open_from: date | None = None,
) -> ImportResult:
    """Read, keep, match, propose and assert one statement file. Flushes; the caller commits.

    ``open_from``: the first day the day-to-day books hold (``ledger.years.first_open_day``),
    when a year is closed. A statement reaching before it is refused: its lines would be
    matched against books that no longer list that year's entries, and proposed again."""
    statement = read_statement(data, currency=bank.currency, csv_map=csv_map(bank))
    _check_fits(session, bank, statement, today)
    if open_from is not None and statement.start < open_from:
        raise StatementRefused(
            f"the statement starts on {statement.start}, in a year the books have closed "
            f"(they hold {open_from} on): reconcile a year before closing it"
        )
    digest = hashlib.sha256(data).hexdigest()
    before = session.scalar(
        select(BankStatement).where(
            BankStatement.account == bank.account, BankStatement.sha256 == digest
        )
    )
    if before is not None:
        return ImportResult(before, already=True, proposed=waiting_count(session, bank.account))
    ids = [_kept_id(line.bank_id) for line in statement.lines]
    known = set(_existing(session, bank.account, ids))
    row = BankStatement(
        account=bank.account,
        format=statement.format,
        file_name=clean_text(file_name, 200) or "statement",
        sha256=digest,
        account_number=statement.account_number,
        currency=statement.currency.value,
        starts_on=statement.start,
        ends_on=statement.end,
        opening_minor=None if statement.opening is None else statement.opening.minor,
        closing_minor=None if statement.closing is None else statement.closing.minor,
        lines_total=len(statement.lines),
        lines_new=len(set(ids) - known),
        imported_by=_label(actor),
    )
    session.add(row)
    session.flush()
    result = ImportResult(row, seen_lines=len(statement.lines) - row.lines_new)
    new: list[BankLine] = []
    for line, bank_id in zip(statement.lines, ids, strict=True):
        if bank_id in known:
            continue
        known.add(bank_id)
        new.append(
            BankLine(
                account=bank.account,
                bank_id=bank_id,
                statement_id=row.id,
                booked_on=line.date,
                amount_minor=line.amount.minor,
                currency=line.amount.currency.value,
                payee=line.payee,
                memo=line.memo,
                check_number=(line.check_number or "")[:CHECK_NUMBER_LIMIT] or None,
                status=LineStatus.PROPOSED,
            )
        )
    session.add_all(new)
    session.flush()
    result.new_lines = len(new)
    result.matched = rematch(session, index, bank.account)
    for kept in new:
        if kept.status is LineStatus.PROPOSED:
            proposal = matching.propose(_matchable(kept))
            kept.proposed_account, kept.proposed_narration = proposal.account, proposal.narration
    result.proposed = waiting_count(session, bank.account)
    result.asserted, result.notes = assert_balances(session, index, bank.account, today=today)
    audit.record(
        session,
        actor,
        "bank.statement_imported",
        ("bank_statement", row.id),
        after={
            "account": bank.account,
            "format": row.format,
            "period": f"{row.starts_on} to {row.ends_on}",
            "lines": row.lines_total,
            "new": result.new_lines,
            "matched": result.matched,
            "asserted": [s.ends_on.isoformat() for s in result.asserted],
        },
    )
    session.flush()
    return result


# Ids asked about in one IN (...): SQLite takes at most 32,766 parameters a statement.
_CHUNK = 1_000
# What the columns hold (bank.models): a bank's id longer than its column (OFX allows 255
# characters) is kept by its digest; a cheque number is cut; an account number that long
# is no bank's.
BANK_ID_LIMIT, CHECK_NUMBER_LIMIT, ACCOUNT_NUMBER_LIMIT = 100, 20, 64


def _kept_id(bank_id: str) -> str:
    if len(bank_id) <= BANK_ID_LIMIT:
        return bank_id
    return "sha256-" + hashlib.sha256(bank_id.encode()).hexdigest()


def _existing(session: Session, account: str, bank_ids: Sequence[str]) -> Iterator[str]:
    """Which of ``bank_ids`` the account's lines already hold."""
    for at in range(0, len(bank_ids), _CHUNK):
        yield from session.scalars(
            select(BankLine.bank_id).where(
                BankLine.account == account, BankLine.bank_id.in_(bank_ids[at : at + _CHUNK])
            )
        )


def _taken(
    session: Session, account: str, keys: Sequence[str], *, shown_by: date | None = None
) -> Iterator[str]:
    """Which of the entries' ``keys`` are matched to a line already (``shown_by``: to a
    line the bank booked on that day or before)."""
    for at in range(0, len(keys), _CHUNK):
        query = select(BankMatch.entry_key).where(
            BankMatch.account == account, BankMatch.entry_key.in_(keys[at : at + _CHUNK])
        )
        if shown_by is not None:
            query = query.join(BankLine, BankLine.id == BankMatch.line_id).where(
                BankLine.booked_on <= shown_by
            )
        yield from session.scalars(query)


def _check_fits(session: Session, bank: BankAccount, statement: Statement, today: date) -> None:
    if statement.currency is not bank.currency:
        raise StatementRefused(
            f"the statement is in {statement.currency.value}; {bank.account} is kept in "
            f"{bank.currency.value}"
        )
    if statement.end > today:
        raise StatementRefused(f"the statement ends on {statement.end}, after today")
    given = statement.account_number
    if given is not None and len(given) > ACCOUNT_NUMBER_LIMIT:
        raise StatementRefused(
            f"the statement's account number is {len(given)} characters long: no bank's is"
        )
    expected = bank.number or session.scalar(
        select(BankStatement.account_number)
        .where(BankStatement.account == bank.account, BankStatement.account_number.is_not(None))
        .order_by(BankStatement.id)
        .limit(1)
    )
    if given and expected and normalise_account(given) != normalise_account(expected):
        raise StatementRefused(
            f"the statement is for account ending {_last4(given)}, not {bank.account} "
            f"(ending {_last4(expected)})"
        )


def _last4(number: str) -> str:
    return normalise_account(number)[-4:]


def _label(actor: Actor) -> str:
    return actor if isinstance(actor, str) else actor.email


def waiting_count(session: Session, account: str) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(BankLine)
            .where(BankLine.account == account, BankLine.status == LineStatus.PROPOSED)
        )
        or 0
    )


def waiting_lines(session: Session, account: str, *, limit: int | None = None) -> list[BankLine]:
    """The lines of ``account`` waiting for a bookkeeper, oldest first."""
    query = (
        select(BankLine)
        .where(BankLine.account == account, BankLine.status == LineStatus.PROPOSED)
        .order_by(BankLine.booked_on, BankLine.id)
    )
    return list(session.scalars(query.limit(limit) if limit else query))


def accounts_in(snapshot: Snapshot) -> set[str]:
    """The accounts the books hold: those with postings, and those opened with metadata."""
    return set(snapshot.accounts()) | set(snapshot.form_990)


def _matchable(line: BankLine) -> matching.Line:
    return matching.Line(line.id, line.booked_on, line.amount, line.text, line.check_number)


# --- the books' side ---------------------------------------------------------------


def books_entries(
    session: Session, index: TransactionIndex, account: str, first: date, last: date
) -> list[BankEntry]:
    """The entries posting to ``account`` dated ``first`` to ``last``: those the index
    holds, and those recorded in the ledger outbox but not appended yet."""
    with index.read() as view:
        found = view.bank_entries(account, first, last)
    indexed = {e.ref for e in found if e.ref}
    for entry in _pending(session, account):
        if first <= entry.date <= last and entry.ref not in indexed:
            found.append(entry)
    return found


def _pending(session: Session, account: str) -> Iterable[BankEntry]:
    rows = session.execute(
        select(LedgerOutbox.id, LedgerOutbox.body).where(LedgerOutbox.posted_at.is_(None))
    )
    for outbox_id, body in rows:
        entry = loads(body)
        if not isinstance(entry, Transaction):
            continue
        moved: dict[Currency, int] = {}
        for posting in entry.postings:
            if posting.account == account:
                currency = posting.amount.currency
                moved[currency] = moved.get(currency, 0) + posting.amount.minor
        for currency, minor in moved.items():
            yield BankEntry(
                key=-outbox_id,
                date=entry.date,
                account=account,
                flag="*",
                payee=entry.payee,
                narration=entry.narration,
                ref=entry.ref,
                file="<not yet appended>",
                line=0,
                amount=Money.from_minor(minor, currency),
            )


def books_balance(
    session: Session, index: TransactionIndex, account: str, day: date, currency: Currency
) -> Money:
    """What the books say ``account`` held at the end of ``day``."""
    pending = [
        e for e in _pending(session, account) if e.date <= day and e.amount.currency is currency
    ]
    with index.read() as view:
        held = view.bank_balance_before(account, day + timedelta(days=1), currency)
        if pending:
            first = min(e.date for e in pending)
            indexed = {e.ref for e in view.bank_entries(account, first, day) if e.ref}
            pending = [e for e in pending if e.ref not in indexed]
    for entry in pending:
        held = held + entry.amount
    return held


# --- matching ------------------------------------------------------------------------


def rematch(session: Session, index: TransactionIndex, account: str) -> int:
    """Match every line of ``account`` still waiting; returns how many matched now.

    Run by each import, and again when staff have since entered what the bank shows.
    """
    waiting = list(
        session.scalars(
            select(BankLine)
            .where(BankLine.account == account, BankLine.status == LineStatus.PROPOSED)
            .order_by(BankLine.booked_on, BankLine.id)
        )
    )
    lines = [_matchable(line) for line in waiting]
    span = matching.window(lines)
    if span is None:
        return 0
    entries = books_entries(session, index, account, *span)
    taken = set(_taken(session, account, [matching.entry_key(e) for e in entries]))
    found = matching.match(lines, entries, taken)
    by_id = {line.id: line for line in waiting}
    for line_id, matched in found.items():
        line = by_id[line_id]
        line.status = LineStatus.MATCHED
        line.decided_by, line.decided_at = "matched", clock.now()
        for entry in matched:
            line.matches.append(_match_row(account, entry))
    session.flush()
    return len(found)


def _match_row(account: str, entry: BankEntry) -> BankMatch:
    return BankMatch(
        account=account,
        entry_key=matching.entry_key(entry),
        entry_on=entry.date,
        amount_minor=entry.amount.minor,
        narration=" ".join(p for p in (entry.payee or "", entry.narration) if p),
    )


def candidates(
    session: Session, index: TransactionIndex, lines: Sequence[BankLine]
) -> dict[int, list[BankEntry]]:
    """The entries a bookkeeper may match each waiting line to by hand, by the line's id:
    of its amount, dated within the matcher's window around it, and matched to no line
    yet; nearest first. One read of the books and of the matches for all the lines."""
    if not lines:
        return {}
    account = lines[0].account
    assert all(line.account == account for line in lines), "lines of one account"
    first = min(line.booked_on for line in lines) - matching.BEFORE
    last = max(line.booked_on for line in lines) + matching.AFTER
    entries = books_entries(session, index, account, first, last)
    taken = set(_taken(session, account, [matching.entry_key(e) for e in entries]))
    free = [e for e in entries if matching.entry_key(e) not in taken]
    return {line.id: _nearest(line, free) for line in lines}


def _nearest(line: BankLine, entries: Sequence[BankEntry]) -> list[BankEntry]:
    """Of ``entries``, those of the line's amount within the matcher's window; nearest first."""
    first, last = line.booked_on - matching.BEFORE, line.booked_on + matching.AFTER
    found = [e for e in entries if e.amount == line.amount and first <= e.date <= last]
    return sorted(found, key=lambda e: (abs((e.date - line.booked_on).days), e.date, e.key))


def match_to(
    session: Session, index: TransactionIndex, line_id: int, entry: str, *, actor: Actor
) -> BankLine:
    """Match a waiting line to the entry ``entry`` (its key, as :func:`candidates` gives
    them) that a bookkeeper chose: after undoing a match the matcher got wrong. Flushes."""
    line = session.get(BankLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound("There is no such bank statement line.")
    if line.status is not LineStatus.PROPOSED:
        raise Conflict(f"That line is {line.status.value} already; nothing was changed.")
    offered = candidates(session, index, [line])[line.id]
    chosen = next((e for e in offered if matching.entry_key(e) == entry), None)
    if chosen is None:
        raise ProposalRefused(
            "Choose one of the entries listed: of the line's amount, near its day, and "
            "matched to no other line.",
            "entry",
        )
    line.status = LineStatus.MATCHED
    line.decided_by, line.decided_at = _label(actor), clock.now()
    line.matches.append(_match_row(line.account, chosen))
    audit.record(
        session, actor, "bank.line_matched", ("bank_line", line.id), after={"entry": entry}
    )
    session.flush()
    return line


# --- a bookkeeper's decision --------------------------------------------------------


def confirm(
    session: Session,
    index: TransactionIndex,
    line_id: int,
    *,
    account: str,
    narration: str,
    actor: Actor,
    open_accounts_now: Iterable[str],
) -> Transaction:
    """Book a waiting line as a bookkeeper chose: the bank account against ``account``.

    ``open_accounts_now``: the accounts the books hold open (the snapshot's). Flushes.
    """
    line = session.get(BankLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound("There is no such bank statement line.")
    if line.status is not LineStatus.PROPOSED:
        raise Conflict(f"That line was {line.status.value} already; nothing was booked.")
    other = account.strip()
    if not _ACCOUNT_NAME.match(other):
        raise ProposalRefused(
            "Give an account of the books, such as Expenses:General:Bank-Fees.", "account"
        )
    if other == line.account or other.startswith(f"{line.account}:"):
        raise ProposalRefused(
            "Choose the other side of the entry, not the bank account.", "account"
        )
    if other in (matching.BANK_FEES, matching.INTEREST):
        opened = opened_on(session, accounts.CHECKING) or line.booked_on
        open_accounts(session, [other], min(opened, line.booked_on))
    elif other not in set(open_accounts_now) and opened_on(session, other) is None:
        raise ProposalRefused(f"{other} is not open in the books: open it first.", "account")
    words = clean_text(narration) or line.proposed_narration or "Bank statement line"
    meta = {"bank-id": line.bank_id}
    entry = Transaction(
        ref=line.ref,
        date=line.booked_on,
        payee=line.payee or None,
        narration=words,
        postings=(Posting(line.account, line.amount), Posting(other, -line.amount)),
        meta=meta,
    )
    record(session, entry)
    line.status = LineStatus.BOOKED
    line.proposed_account, line.proposed_narration = other, words
    line.decided_by, line.decided_at = _label(actor), clock.now()
    line.matches.append(
        BankMatch(
            account=line.account,
            entry_key=line.ref,
            entry_on=line.booked_on,
            amount_minor=line.amount_minor,
            narration=words,
        )
    )
    audit.record(
        session,
        actor,
        "bank.line_booked",
        ("bank_line", line.id),
        after={"account": other, "amount": str(line.amount.amount), "ref": line.ref},
    )
    session.flush()
    return entry


def unmatch(session: Session, line_id: int, *, actor: Actor) -> BankLine:
    """Undo a match the matcher made wrongly (two payouts of one amount, say): the line
    waits for a decision again, with a proposal, and its entries may match other lines.
    A line booked from a proposal has its own entry in the books and is not undone here;
    a balance already asserted stays asserted. Flushes."""
    line = session.get(BankLine, line_id, with_for_update=True)
    if line is None:
        raise NotFound("There is no such bank statement line.")
    if line.status is not LineStatus.MATCHED:
        raise Conflict(
            f"That line is {line.status.value}, not matched: only a match can be undone."
        )
    undone = [m.entry_key for m in line.matches]
    line.matches.clear()
    line.status = LineStatus.PROPOSED
    proposal = matching.propose(_matchable(line))
    line.proposed_account, line.proposed_narration = proposal.account, proposal.narration
    line.decided_by, line.decided_at = _label(actor), clock.now()
    audit.record(
        session, actor, "bank.line_unmatched", ("bank_line", line.id), before={"entries": undone}
    )
    session.flush()
    return line


# --- balance assertions ---------------------------------------------------------------


def assert_balances(
    session: Session, index: TransactionIndex, account: str, *, today: date
) -> tuple[list[BankStatement], list[str]]:
    """Assert each statement's closing balance that can be, oldest first.

    Stops at the first that cannot: its day has not ended (the books may still gain an
    entry dated today), its lines are not all decided, or the books hold another balance
    on its closing day that their entries not yet at the bank do not explain (the note
    says by how much). One whose difference those entries explain (a cheque not cashed
    yet) is passed over with a note, and the next is tried: once the bank shows them, a
    later statement's balance is asserted. A statement before the latest one asserted is
    left as it is. Returns the statements asserted now, and the notes.
    """
    asserted: list[BankStatement] = []
    statements = session.scalars(
        select(BankStatement)
        .where(
            BankStatement.account == account,
            BankStatement.closing_minor.is_not(None),
            BankStatement.asserted.is_(False),
        )
        .order_by(BankStatement.ends_on, BankStatement.id)
    ).all()
    notes: list[str] = []
    for statement in statements:
        through = reconciled_through(session, account)
        if through is not None and statement.ends_on <= through:
            continue  # a balance on its last day or later is asserted: it is behind that
        if statement.ends_on >= today:
            return asserted, [
                *notes,
                f"The balance on {statement.ends_on} is asserted once that day has ended.",
            ]
        waiting = session.scalar(
            select(func.count())
            .select_from(BankLine)
            .where(
                BankLine.account == account,
                BankLine.status == LineStatus.PROPOSED,
                BankLine.booked_on <= statement.ends_on,
            )
        )
        if waiting:
            return asserted, [
                *notes,
                f"{waiting} line(s) up to {statement.ends_on} wait for a decision before "
                f"the balance on {statement.ends_on} can be asserted.",
            ]
        closing = statement.closing
        assert closing is not None
        found = reconcile(session, index, statement)
        if found.books != closing:
            if found.unexplained:
                return asserted, [*notes, found.explain()]
            notes.append(found.explain())  # explained: the bank has them still to come
            continue
        record_if_absent(
            session,
            Balance(
                ref=statement.balance_ref,
                date=statement.ends_on + timedelta(days=1),
                account=account,
                amount=closing,
            ),
        )
        statement.asserted = True
        asserted.append(statement)
        session.flush()
    return asserted, notes


@dataclass(frozen=True)
class Reconciliation:
    """A statement's closing balance against the books', as a bookkeeper reconciles it:
    the bank's balance, plus the entries the books hold that no line of the bank's
    statements has shown yet (deposits in transit, cheques not yet cashed), is the books'.
    What that leaves unexplained is ``unexplained`` (zero when it all adds up)."""

    statement: BankStatement
    bank: Money
    books: Money
    outstanding: tuple[BankEntry, ...]

    @property
    def unexplained(self) -> Money:
        total = self.bank
        for entry in self.outstanding:
            total = total + entry.amount
        return self.books - total

    def explain(self) -> str:
        day = self.statement.ends_on
        words = f"On {day} the bank says {self.bank.format()} and the books {self.books.format()}"
        if self.outstanding:
            listed = "; ".join(
                f"{e.date} {e.narration} {e.amount.format()}" for e in self.outstanding[:5]
            )
            more = f" and {len(self.outstanding) - 5} more" if len(self.outstanding) > 5 else ""
            words += (
                f": {len(self.outstanding)} entr{'y' if len(self.outstanding) == 1 else 'ies'}"
                f" in the books the bank has not shown yet ({listed}{more})"
            )
        if self.unexplained:
            words += f"; {self.unexplained.format()} is not explained by any entry"
        return words + "; not asserted until they agree."


def reconcile(
    session: Session, index: TransactionIndex, statement: BankStatement
) -> Reconciliation:
    """The statement's reconciliation: the books' balance at its end, and the entries of the
    books from the account's first statement to its end that no bank line is matched to."""
    closing = statement.closing
    assert closing is not None, "a statement without a closing balance is not reconciled"
    account = statement.account
    held = books_balance(session, index, account, statement.ends_on, closing.currency)
    first = session.scalar(
        select(func.min(BankStatement.starts_on)).where(BankStatement.account == account)
    )
    entries = [
        e
        for e in books_entries(
            session, index, account, first or statement.starts_on, statement.ends_on
        )
        if e.amount.currency is closing.currency
    ]
    # At the statement's end, an entry the bank showed only later was still outstanding.
    matched = set(
        _taken(
            session,
            account,
            [matching.entry_key(e) for e in entries],
            shown_by=statement.ends_on,
        )
    )
    outstanding = tuple(e for e in entries if matching.entry_key(e) not in matched)
    return Reconciliation(statement, closing, held, outstanding)


def reconciled_through(session: Session, account: str) -> date | None:
    """The last day whose closing balance is asserted in the books for ``account``."""
    return session.scalar(
        select(func.max(BankStatement.ends_on)).where(
            BankStatement.account == account, BankStatement.asserted.is_(True)
        )
    )
