"""Money going back on a card payment: which of Stripe's movements are still to book.

A gift (donations.settlement) and a card-paid sponsorship invoice
(sponsorships.payments) go back the same way. Stripe tells of a refund, perhaps
later of its failure, and of a dispute's balance movements (funds withdrawn, funds
reinstated), in any order and any number of times. Each movement is booked once,
under its own ref: the refund's id, or the balance transaction of the failure or of
the dispute's movement. The caller locks and re-reads the payment's row first, asks
here which movements are still to book, and books each with its own rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from conservancy.money import Money
from conservancy.payments.gateway import BalanceTransaction, DisputeInfo, RefundInfo

# A refund in these states has taken (or is taking) the money back.
REFUND_UNDER_WAY = frozenset({"succeeded", "pending"})


@dataclass(frozen=True)
class Movement:
    """One movement of money back (a negative ``amount``: coming back to us)."""

    ref: str
    at: datetime
    stripe_id: str
    # In the payer's currency.
    amount: Money
    narration: str
    dispute_fee: Money | None = None
    # The balance movement in the books' currency, when Stripe gave one.
    txn: BalanceTransaction | None = None


def refund_movements(
    refund: RefundInfo, *, booked: bool, recorded: Callable[[str], bool]
) -> list[Movement]:
    """What of ``refund`` is still to book: the refund itself, unless ``booked`` already;
    once booked, its return if it failed (the money never left)."""
    if not booked:
        if refund.status not in REFUND_UNDER_WAY:
            return []
        return [
            Movement(
                ref=f"stripe-{refund.id}",
                at=refund.created_at,
                stripe_id=refund.id,
                amount=refund.amount,
                narration="Refund",
                txn=refund.balance_transaction,
            )
        ]
    failure = refund.failure_balance_transaction
    if refund.status != "failed" or failure is None or recorded(f"stripe-{failure.id}"):
        return []
    return [
        Movement(
            ref=f"stripe-{failure.id}",
            at=failure.created_at,
            stripe_id=refund.id,
            amount=-refund.amount,
            narration="Refund failed",
            txn=failure,
        )
    ]


def dispute_movements(
    dispute: DisputeInfo,
    *,
    recorded: Callable[[str], bool],
    converted: bool = False,
    unrefunded: Money | None = None,
) -> list[Movement]:
    """The dispute's balance movements not booked yet, oldest first: funds withdrawn (a
    positive amount, with the dispute fee), funds reinstated (negative).

    ``converted``: the payment was in another currency than the books'; the amount
    going back is then the dispute's own, in the payer's currency, and the balance
    movement (``txn``) says what it came to in dollars. A dispute may be for more than
    what a refund left of the payment (``unrefunded``, in the payer's currency): won,
    it gives all of it back; lost, only the part already refunded (Stripe's support
    article "Dispute for full charge amount after a partial refund was issued").
    """
    movements = []
    for txn in sorted(dispute.balance_transactions, key=lambda t: (t.created_at, t.amount.minor)):
        ref = f"stripe-{txn.id}"
        if recorded(ref):
            continue
        withdrawn = txn.amount.minor < 0
        # Withdrawn: a positive amount; reinstated: a negative one. A converted payment's
        # amount is the dispute's, in the payer's currency; Stripe's dollars are the txn's.
        amount = -txn.amount
        if converted:
            amount = dispute.amount if withdrawn else -_reinstated(dispute, unrefunded)
        if withdrawn:
            narration = "Dispute: funds withdrawn"
        elif dispute.status == "won":
            narration = "Dispute won: funds reinstated"
        else:
            narration = "Dispute lost: refunded part reinstated"
        movements.append(
            Movement(
                ref=ref,
                at=txn.created_at,
                stripe_id=dispute.id,
                amount=amount,
                narration=narration,
                dispute_fee=txn.fee,
                txn=txn,
            )
        )
    return movements


def _reinstated(dispute: DisputeInfo, unrefunded: Money | None) -> Money:
    """What a dispute's reinstatement gives back, in the payer's currency."""
    if dispute.status == "won" or unrefunded is None:
        return dispute.amount
    beyond = dispute.amount.minor - unrefunded.minor
    return Money.from_minor(min(max(beyond, 0), dispute.amount.minor), dispute.amount.currency)


def refunds_before(dispute: DisputeInfo, refunds: Iterable[RefundInfo]) -> list[RefundInfo]:
    """The refunds Stripe made before the dispute took money, oldest first.

    They are booked before the dispute, whichever event comes first, so that the
    dispute's entry takes back income only from what those refunds left, and books
    what it takes beyond that as a loss: the same entries in any order.
    """
    if not dispute.balance_transactions:
        return []
    taken = min(t.created_at for t in dispute.balance_transactions)
    return sorted((r for r in refunds if r.created_at <= taken), key=lambda r: r.created_at)
