"""Recording receipts: the row and its number, in the caller's transaction.

The PDF is rendered after the commit (conservancy.receipts.render), never while
the year's counter is locked.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from conservancy.donations.models import Gift
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.money import Currency, Money
from conservancy.receipts.models import Receipt, ReceiptKind
from conservancy.receipts.numbering import next_number


class BadReceipt(DomainError):
    """A receipt that must not be issued as asked."""


def record_receipt(
    session: Session,
    gift: Gift,
    *,
    kind: ReceiptKind,
    amount: Money,
    deductible: Money,
    issued_at: datetime,
    tz: ZoneInfo,
    replaces: Receipt | None = None,
    reason: str | None = None,
    settled: Money | None = None,
) -> Receipt:
    """Number and record a receipt, voiding notice or replacement for ``gift``.

    The number is of the calendar year of ``issued_at`` in the sponsor's time
    zone ``tz``. ``settled`` is the US dollar value of ``amount`` for a gift in another
    currency. Flushes; the caller commits (or rolls back, giving the number back).
    """
    if (kind is ReceiptKind.RECEIPT) != (replaces is None):
        raise BadReceipt(f"a {kind} receipt must name what it replaces, and only then")
    if replaces is not None and replaces.gift_id != gift.id:
        raise BadReceipt(f"receipt {replaces.number} is for another gift")
    if amount.currency != deductible.currency or amount.currency.value != gift.currency:
        raise BadReceipt("the receipt's amounts must be in the gift's currency")
    if not Money.zero(amount.currency) <= deductible <= amount:
        raise BadReceipt("the deductible part must be from zero to the amount")
    if (settled is not None) != gift.converted:
        raise BadReceipt("a receipt states the US dollar value of a gift in another currency")
    if settled is not None and settled.currency is not Currency.USD:
        raise BadReceipt("a receipt's US dollar value is in US dollars")
    issued_on = clock.accounting_date(issued_at, tz)
    sequence, number = next_number(session, issued_on.year)
    receipt = Receipt(
        number=number,
        year=issued_on.year,
        sequence=sequence,
        kind=kind,
        gift=gift,
        replaces=replaces,
        amount_minor=amount.minor,
        deductible_minor=deductible.minor,
        currency=amount.currency.value,
        settled_minor=settled.minor if settled is not None else None,
        issued_at=issued_at,
        issued_on=issued_on,
        reason=reason,
    )
    session.add(receipt)
    session.flush()
    return receipt
