"""How each money movement of a gift is booked (SPEC section 6).

A gift settles as one charge that may be split between funds: the project's
part, and an optional extra gift to the sponsor's ``General`` fund. Every
reversal (refund, dispute) is allocated to the parts by the *cumulative*
rule: the parts' share of everything reversed so far, minus their share of
what was reversed before. Summed over any sequence of reversals the cents
come out exact, and a full reversal undoes each part to the cent.

Sponsorship fees follow the same rule: the fee on a part is
``round(rate * net income of that part)``, and each reversal moves the fee
by the difference. Each event yields a money transaction (``stripe-id`` = the
balance transaction, refund or dispute that caused it) and, where a fee
changes, a separate sponsorship-fee transaction, so statements show fees as
their own lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.money import Money, round_minor


@dataclass(frozen=True)
class Part:
    """The share of a gift that one fund receives."""

    fund: str
    amount: Money
    fee_rate_bp: int  # the sponsorship fee: 0 for the sponsor's own General fund

    def sponsorship_fee(self, net: Money) -> Money:
        return net.times(Decimal(self.fee_rate_bp).scaleb(-4))


@dataclass(frozen=True)
class GiftBooking:
    """What the books need to know about a settled gift."""

    ref: str  # the gift's ref; reversal refs are their own Stripe ids
    parts: tuple[Part, ...]
    payee: str  # the donor's name, or "Anonymous"
    entity: str  # the donor's opaque ref
    narration: str

    @property
    def total(self) -> Money:
        total = self.parts[0].amount
        for part in self.parts[1:]:
            total = total + part.amount
        return total

    def allocate(self, amount: Money) -> list[Money]:
        """``amount`` shared over the parts in proportion; the first part takes the remainder."""
        total = self.total.amount
        shares = [
            round_minor(part.amount.amount * amount.amount / total, amount.currency)
            for part in self.parts[1:]
        ]
        first = amount.minor - sum(shares)
        return [Money.from_minor(m, amount.currency) for m in (first, *shares)]

    def _meta(self, stripe_id: str | None, **extra: str) -> dict[str, str]:
        stripe = {"stripe-id": stripe_id} if stripe_id is not None else {}
        return {**stripe, "entity": self.entity, "income-type": "Donations", **extra}

    def settled(
        self, *, on: date, stripe_id: str | None, fee: Money, asset: str = accounts.STRIPE
    ) -> list[Transaction]:
        """The gift reaching Stripe (or, by cheque or wire, ``asset``: the bank), less the
        card fee; then the sponsorship fees on it."""
        fees = self.allocate(fee)
        postings = [Posting(asset, self.total - fee)]
        for part, part_fee in zip(self.parts, fees, strict=True):
            if part_fee:
                postings.append(Posting(accounts.payment_processing(part.fund), part_fee))
            postings.append(Posting(accounts.donations(part.fund), -part.amount))
        gift = Transaction(
            ref=self.ref,
            date=on,
            payee=self.payee,
            narration=self.narration,
            postings=tuple(postings),
            meta=self._meta(stripe_id),
        )
        zero = [Money.zero(p.amount.currency) for p in self.parts]
        return [
            gift,
            *self._fee_change(
                f"{self.ref}/sponsorship-fee", on, zero, [p.amount for p in self.parts]
            ),
        ]

    def reversed(
        self,
        *,
        ref: str,
        on: date,
        stripe_id: str | None,
        amount: Money,
        reversed_before: Money,
        narration: str,
        dispute_fee: Money | None = None,
        asset: str = accounts.STRIPE,
    ) -> list[Transaction]:
        """Money going back: a refund (no fee returned) or a dispute (with its fee).

        A negative ``amount`` (a won dispute's reinstatement) books the reverse.
        ``reversed_before`` is everything reversed on this gift before this event.
        """
        before = self.allocate(reversed_before)
        after = self.allocate(reversed_before + amount)
        parts_back = [a - b for a, b in zip(after, before, strict=True)]
        fee = dispute_fee or Money.zero(amount.currency)
        postings = [Posting(asset, -(amount + fee))]
        if fee:
            postings.append(Posting(accounts.dispute_fees(self.parts[0].fund), fee))
        postings.extend(
            Posting(accounts.donations(part.fund), back)
            for part, back in zip(self.parts, parts_back, strict=True)
            if back
        )
        money = Transaction(
            ref=ref,
            date=on,
            payee=self.payee,
            narration=narration,
            postings=tuple(postings),
            meta=self._meta(stripe_id, gift=self.ref),
        )
        net_before = [p.amount - b for p, b in zip(self.parts, before, strict=True)]
        net_after = [p.amount - a for p, a in zip(self.parts, after, strict=True)]
        return [money, *self._fee_change(f"{ref}/sponsorship-fee", on, net_before, net_after)]

    def _fee_change(
        self, ref: str, on: date, net_before: Sequence[Money], net_after: Sequence[Money]
    ) -> list[Transaction]:
        postings: list[Posting] = []
        for part, before, after in zip(self.parts, net_before, net_after, strict=True):
            change = part.sponsorship_fee(after) - part.sponsorship_fee(before)
            if change:
                postings.append(Posting(accounts.sponsorship_fees(part.fund), change))
                postings.append(Posting(accounts.SPONSORSHIP_FEE_INCOME, -change))
        if not postings:
            return []
        return [
            Transaction(
                ref=ref,
                date=on,
                narration=f"Sponsorship fee: {self.narration}",
                postings=tuple(postings),
                meta={"gift": self.ref},
            )
        ]


def payout(*, ref: str, on: date, stripe_id: str, amount: Money) -> Transaction:
    """Stripe paying out to the bank; a negative amount books a failed payout's return."""
    return Transaction(
        ref=ref,
        date=on,
        narration="Stripe payout" if amount.minor > 0 else "Stripe payout returned",
        postings=(Posting(accounts.CHECKING, amount), Posting(accounts.STRIPE, -amount)),
        meta={"stripe-id": stripe_id},
    )
