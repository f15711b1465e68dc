"""What the books say, read as a bookkeeper would: the entries of a ref, and the check."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select

from conservancy.ledger.check import check_books
from conservancy.ledger.entries import Transaction
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import posted_refs
from conservancy.runtime import Runtime


def postings(rt: Runtime, ref: str) -> dict[str, Decimal]:
    """The postings of the entry ``ref``, by account (its outbox row, as appended)."""
    with rt.sessions() as session:
        body = session.scalars(select(LedgerOutbox).where(LedgerOutbox.ref == ref)).one().entry
    assert isinstance(body, Transaction)
    return {p.account: p.amount.amount for p in body.postings}


def entry_count(rt: Runtime, prefix: str = "") -> int:
    with rt.sessions() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LedgerOutbox)
                .where(LedgerOutbox.ref.startswith(prefix))
            )
            or 0
        )


def refs_in_books(rt: Runtime) -> list[str]:
    """Every ref the ledger files hold, as often as they hold it."""
    text = "".join(p.read_text() for p in sorted(rt.ledger.root.rglob("*.beancount")))
    return [line.split('"')[1] for line in text.splitlines() if line.strip().startswith("ref:")]


def assert_books_clean(rt: Runtime) -> None:
    """Everything posted, each ref once, and Beancount plus our invariants find nothing."""
    rt.post_ledger()
    with rt.sessions() as session:
        refs = posted_refs(session)
    result = check_books(rt.ledger, refs)
    assert result.problems == [], [str(p) for p in result.problems]
    found = refs_in_books(rt)
    assert len(found) == len(set(found))


def fund_balance(rt: Runtime, fund: str) -> Decimal:
    rt.post_ledger()
    return rt.books.current().fund_balance(fund).amount
