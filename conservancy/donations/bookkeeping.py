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

A gift in another currency (EUR, GBP, CAD) is booked in US dollars, the books'
only currency, so that every fund figure stays in dollars. Its income is the
dollars Stripe settled (the charge's balance transaction), and each income
posting carries the donor's own amount as Beancount metadata::

    Income:Twisted:Donations   -108.34 USD
      donor-amount: -100.00 EUR

Why not ``-100.00 EUR @@ 108.34 USD``? Beancount keeps a total price as a
per-unit price, ``108.34 / 100.00``, and weighs the posting as units times
that price in 28 digits. When the division does not end (``37.00 / 33.33``)
the weight misses the total by 1E-27, and with ``tolerance_multiplier 0`` the
books refuse the transaction: about four gifts in ten at a rate like Stripe's.
A total cost (``{{...}}``) is divided the same way. Dollars with the donor's
amount beside them balance exactly, always.

A reversal never takes back more income than the gift brought in. A card
network may dispute the whole charge after part of it was refunded (Stripe:
"Dispute for full charge amount after a partial refund was issued"), and Stripe
then withdraws the whole disputed amount: the part already refunded goes to the
cardholder a second time. Reversals therefore count everything taken back so
far, refunds and disputes together, and that total may pass the gift: income
goes back up to the gift's amount, and what goes beyond it is booked to
``Expenses:<Fund>:Dispute-Losses`` of the parts, shared like the income. When
Stripe gives money back (a won dispute gives back all of it; a lost one only the
part that had been refunded), the total comes down and the same rule undoes the
loss first, then the income. The sponsorship fee follows the income only, so it
never goes back below zero.

A reversal takes income back at the gift's own rate, by the cumulative rule
on each part's dollars (so a full refund takes back exactly what came in,
and the sponsorship fee returns to zero); Stripe moves its own dollars at the
rate of the day, and the difference goes to ``Expenses:<Fund>:Exchange-
Differences`` of the funds, shared like the reversal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.money import Money, round_minor


def split(amount: Money, weights: Sequence[Money]) -> list[Money]:
    """``amount`` shared in proportion to ``weights`` (of any one currency); the first
    takes the remainder, so the shares add up to ``amount`` exactly."""
    total = sum((w.amount for w in weights), Decimal(0))
    shares = [
        round_minor(weight.amount * amount.amount / total, amount.currency)
        for weight in weights[1:]
    ]
    first = amount.minor - sum(shares)
    return [Money.from_minor(m, amount.currency) for m in (first, *shares)]


@dataclass(frozen=True)
class Part:
    """The share of a gift that one fund receives."""

    fund: str
    amount: Money  # in the donor's currency
    fee_rate_bp: int  # the sponsorship fee: 0 for the sponsor's own General fund
    # In the books' currency, when the donor gave in another: what Stripe settled for it.
    settled: Money | None = None

    @property
    def booked(self) -> Money:
        """The part as the books hold it: its settled dollars, or its amount."""
        return self.settled if self.settled is not None else self.amount

    def booked_share(self, share: Money) -> Money:
        """``share`` of this part (in the donor's currency) as booked, at the gift's rate.

        Applied to cumulative shares, so that the whole part converts to exactly ``settled``.
        """
        if self.settled is None:
            return share
        exact = self.settled.amount * share.amount / self.amount.amount
        return Money.from_minor(round_minor(exact, self.settled.currency), self.settled.currency)

    def donor_amount(self, amount: Money) -> Money | None:
        """``amount`` to show beside a posting of this part: only when it was converted."""
        return amount if self.settled is not None else None

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
    # The kind of income (``Income:<Fund>:<kind>``): a sponsorship invoice's card payment
    # is reversed by these same rules, against ``Sponsorships``.
    income_type: str = "Donations"
    # More of the metadata of every entry (a sponsorship's ``invoice``).
    extra_meta: tuple[tuple[str, str], ...] = ()

    def income(self, fund: str) -> str:
        return f"Income:{fund}:{self.income_type}"

    @property
    def total(self) -> Money:
        """The gift in the donor's currency."""
        total = self.parts[0].amount
        for part in self.parts[1:]:
            total = total + part.amount
        return total

    @property
    def booked_total(self) -> Money:
        """The gift in the books' currency."""
        total = self.parts[0].booked
        for part in self.parts[1:]:
            total = total + part.booked
        return total

    def _booked_shares(self, reversed_so_far: Money) -> list[Money]:
        """Each part's share of everything reversed so far, in the books' currency."""
        return [
            part.booked_share(share)
            for part, share in zip(self.parts, self.allocate(reversed_so_far), strict=True)
        ]

    def income_part(self, reversed_so_far: Money) -> Money:
        """Of everything taken back so far (donor's currency), what is income: never
        less than nothing, never more than the gift."""
        return Money.from_minor(
            min(max(reversed_so_far.minor, 0), self.total.minor), reversed_so_far.currency
        )

    def booked_reversal(self, *, amount: Money, reversed_before: Money) -> Money:
        """The income a reversal of ``amount`` (donor's currency) takes back, as booked."""
        before = self._booked_shares(self.income_part(reversed_before))
        after = self._booked_shares(self.income_part(reversed_before + amount))
        total = Money.zero(self.booked_total.currency)
        for a, b in zip(after, before, strict=True):
            total = total + (a - b)
        return total

    def allocate(self, amount: Money) -> list[Money]:
        """``amount`` shared over the parts in proportion; the first part takes the remainder."""
        return split(amount, [part.amount for part in self.parts])

    def _meta(self, stripe_id: str | None, **extra: str) -> dict[str, str]:
        stripe = {"stripe-id": stripe_id} if stripe_id is not None else {}
        return {
            **stripe,
            "entity": self.entity,
            "income-type": self.income_type,
            **dict(self.extra_meta),
            **extra,
        }

    def settled(
        self,
        *,
        on: date,
        stripe_id: str | None,
        fee: Money,
        asset: str = accounts.STRIPE,
        meta: dict[str, str] | None = None,
    ) -> list[Transaction]:
        """The gift reaching Stripe (or, by cheque or wire, ``asset``: the bank), less the
        card fee; then the sponsorship fees on it. ``meta``: more of the transaction's
        metadata (Stripe's ``exchange-rate``)."""
        fees = self.allocate(fee)
        postings = [Posting(asset, self.booked_total - fee)]
        for part, part_fee in zip(self.parts, fees, strict=True):
            if part_fee:
                postings.append(Posting(accounts.payment_processing(part.fund), part_fee))
            postings.append(
                Posting(self.income(part.fund), -part.booked, part.donor_amount(-part.amount))
            )
        gift = Transaction(
            ref=self.ref,
            date=on,
            payee=self.payee,
            narration=self.narration,
            postings=tuple(postings),
            meta=self._meta(stripe_id, **(meta or {})),
        )
        zero = [Money.zero(p.booked.currency) for p in self.parts]
        return [
            gift,
            *self._fee_change(
                f"{self.ref}/sponsorship-fee", on, zero, [p.booked for p in self.parts]
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
        moved: Money | None = None,
        meta: dict[str, str] | None = None,
    ) -> list[Transaction]:
        """Money going back: a refund (no fee returned) or a dispute (with its fee).

        A negative ``amount`` (a dispute's reinstatement) books the reverse.
        ``reversed_before`` is everything reversed on this gift before this event,
        both in the donor's currency; it may pass the gift (see the module's note on
        disputes after a refund), and what passes it is a dispute loss, not income.
        ``moved`` is what left the balance for it in the books' currency, before any
        dispute fee (for a converted gift, at the day's rate); None: the income and
        loss booked, to the cent.
        """
        after_total = reversed_before + amount
        income_before = self.income_part(reversed_before)
        income_after = self.income_part(after_total)
        before = self.allocate(income_before)
        after = self.allocate(income_after)
        parts_back = [a - b for a, b in zip(after, before, strict=True)]
        booked_before = self._booked_shares(income_before)
        booked_after = self._booked_shares(income_after)
        booked_back = [a - b for a, b in zip(booked_after, booked_before, strict=True)]
        income = self.booked_reversal(amount=amount, reversed_before=reversed_before)
        # Beyond the gift: money taken back a second time, at the gift's rate.
        lost_before = self._booked_shares(reversed_before - income_before)
        lost_after = self._booked_shares(after_total - income_after)
        lost_back = [a - b for a, b in zip(lost_after, lost_before, strict=True)]
        lost = Money.zero(income.currency)
        for share in lost_back:
            lost = lost + share
        moved = income + lost if moved is None else moved
        fee = dispute_fee or Money.zero(income.currency)
        postings = [Posting(asset, -(moved + fee))]
        if fee:
            postings.append(Posting(accounts.dispute_fees(self.parts[0].fund), fee))
        postings.extend(
            Posting(self.income(part.fund), booked, part.donor_amount(back))
            for part, back, booked in zip(self.parts, parts_back, booked_back, strict=True)
            if back or booked
        )
        postings.extend(
            Posting(accounts.dispute_losses(part.fund), share)
            for part, share in zip(self.parts, lost_back, strict=True)
            if share
        )
        # Stripe's dollars against the gift's: what the day's rate cost or gained the funds.
        postings.extend(
            Posting(accounts.exchange_differences(part.fund), share)
            for part, share in zip(self.parts, self.allocate(moved - income - lost), strict=True)
            if share
        )
        money = Transaction(
            ref=ref,
            date=on,
            payee=self.payee,
            narration=narration,
            postings=tuple(postings),
            meta=self._meta(stripe_id, gift=self.ref, **(meta or {})),
        )
        net_before = [p.booked - b for p, b in zip(self.parts, booked_before, strict=True)]
        net_after = [p.booked - a for p, a in zip(self.parts, booked_after, strict=True)]
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
                meta={"gift": self.ref, **dict(self.extra_meta)},
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
