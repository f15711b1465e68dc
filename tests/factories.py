"""Small builders that set only what a test is about."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from sqlalchemy.orm import Session

from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import add_project
from conservancy.runtime import Runtime
from tests.conftest import BOOKS_OPEN_ON


def usd(text: str) -> Money:
    return Money(Decimal(text), Currency.USD)


def project(
    session: Session, slug: str = "twisted", name: str = "Twisted", **kw: object
) -> Project:
    return add_project(session, slug=slug, name=name, opened_on=BOOKS_OPEN_ON, **kw)  # type: ignore[arg-type]


def gift(
    ref: str,
    fund: str = "Twisted",
    amount: str = "100.00",
    fee: str = "3.20",
    payee: str = "Ada Lovelace",
    on: date = date(2026, 3, 1),
) -> Transaction:
    """A settled card gift as SPEC section 6 books it (without the sponsorship fee)."""
    gross, card_fee = usd(amount), usd(fee)
    return Transaction(
        ref=ref,
        date=on,
        payee=payee,
        narration=f"Gift to {fund}",
        meta={"income-type": "Donations"},
        postings=(
            Posting(accounts.STRIPE, gross - card_fee),
            Posting(accounts.payment_processing(fund), card_fee),
            Posting(accounts.donations(fund), -gross),
        ),
    )


def with_project(
    rt: Runtime, slug: str = "twisted", name: str = "Twisted", **kw: object
) -> Runtime:
    """The runtime, with a project added and its accounts opened in the books."""
    with rt.sessions() as session:
        project(session, slug, name, **kw)
        session.commit()
    rt.post_ledger()
    return rt
