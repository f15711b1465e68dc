from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    ForeignKey,
    Index,
    String,
    Text,
    event,
    inspect,
    select,
    text,
)
from sqlalchemy.engine.default import DefaultExecutionContext
from sqlalchemy.orm import Mapped, Mapper, mapped_column, object_session, relationship

from conservancy.infra.db import Base, str_enum
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.projects.models import Project


class Frequency(StrEnum):
    ONCE = "once"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    YEARLY = "yearly"

    @property
    def every(self) -> str:
        """How the gift's payments are spoken of to donors: "once", "each month"."""
        return "once" if self is Frequency.ONCE else f"each {self.value.removesuffix('ly')}"


class Visibility(StrEnum):
    PUBLIC = "public"  # name shown publicly
    PROJECT = "project"  # name shown to the project's treasurers only
    ANONYMOUS = "anonymous"  # "Anonymous" everywhere but the sponsor's tax records


class DonationStatus(StrEnum):
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    PARTIALLY_REFUNDED = "partially_refunded"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    CANCELLED = "cancelled"


# Which status may follow which. Anything else is a bug or a forged event.
ALLOWED_TRANSITIONS: dict[DonationStatus, frozenset[DonationStatus]] = {
    DonationStatus.PENDING: frozenset(
        {DonationStatus.PAID, DonationStatus.FAILED, DonationStatus.EXPIRED}
    ),
    DonationStatus.PAID: frozenset(
        {
            DonationStatus.PARTIALLY_REFUNDED,
            DonationStatus.REFUNDED,
            DonationStatus.DISPUTED,
            DonationStatus.CANCELLED,
        }
    ),
    DonationStatus.PARTIALLY_REFUNDED: frozenset(
        {DonationStatus.PARTIALLY_REFUNDED, DonationStatus.REFUNDED, DonationStatus.DISPUTED}
    ),
    DonationStatus.DISPUTED: frozenset(
        {DonationStatus.PAID, DonationStatus.REFUNDED, DonationStatus.PARTIALLY_REFUNDED}
    ),
    DonationStatus.FAILED: frozenset(),
    DonationStatus.EXPIRED: frozenset(),
    DonationStatus.REFUNDED: frozenset(),
    DonationStatus.CANCELLED: frozenset(),
}


class InvalidTransition(Exception):
    def __init__(self, old: DonationStatus, new: DonationStatus) -> None:
        super().__init__(f"a donation cannot go from {old} to {new}")


class Donor(Base):
    """A person or organisation who gives. Their identity never leaves the sponsor's records;
    the books name them by ``ref`` (an opaque id) and by name only as they allowed."""

    __tablename__ = "donors"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    # None for a donor who gave by cheque or wire without one: their receipts are
    # issued all the same, and staff print or post them (donations.offline).
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    address: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class Donation(Base):
    __tablename__ = "donations"
    __table_args__ = (
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        # What a project receives (conservancy.projects.giving) read from the index alone.
        Index(
            "ix_donations_giving",
            "project_id",
            "frequency",
            "status",
            "currency",
            "visibility",
            "donor_id",
            "amount_minor",
        ),
        # A donor's donations: the portal's, and a donor's gifts to a project counted again
        # into donor_totals as each settles (recount below), without reading the project's.
        Index("ix_donations_donor", "donor_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"))
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"))
    # The name and postal address given with this donation: the form's, or staff's for a
    # cheque. Anyone can type a donor's e-mail into the form, so they are a claim until
    # paid: the donor's own (Donor.name, address) take them only when a gift of this
    # donation settles (donations.donors).
    donor_name: Mapped[str] = mapped_column(String(200))
    donor_address: Mapped[str | None] = mapped_column(Text)
    # Integer minor units: SQLite would hand a Numeric to the driver as a float.
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    frequency: Mapped[Frequency] = mapped_column(
        str_enum(Frequency, "frequency"), default=Frequency.ONCE
    )
    visibility: Mapped[Visibility] = mapped_column(
        str_enum(Visibility, "visibility"), default=Visibility.PUBLIC
    )
    status: Mapped[DonationStatus] = mapped_column(
        str_enum(DonationStatus, "donation_status"), default=DonationStatus.PENDING
    )
    dedication: Mapped[str | None] = mapped_column(String(500))
    # A tribute card: the person the dedication honours, mailed once the first payment is in
    # (donations.tribute). Theirs to receive, never shown to the project or the public.
    honoree_name: Mapped[str | None] = mapped_column(String(200))
    honoree_email: Mapped[str | None] = mapped_column(String(254))
    # The donor's employer, named for its matching-gift programme: the donor's private
    # detail, on their receipt, portal and the staff's pages; never in the books and
    # never on a project's pages (donations.matching).
    employer: Mapped[str | None] = mapped_column(String(200))
    cover_fees: Mapped[bool] = mapped_column(Boolean, default=False)
    # An extra gift to the sponsor's own General fund, charged with this one.
    extra_general_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaigns.id"))
    # What the donor got back (the project's thank-you gift), valued in good faith
    # when they asked for it; it goes with the first payment only.
    benefit_description: Mapped[str | None] = mapped_column(String(200))
    benefit_value_minor: Mapped[int | None] = mapped_column(BigInteger)
    checkout_session_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    stripe_customer_id: Mapped[str | None] = mapped_column(String(255))
    stripe_subscription_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    # A recurring gift's next payment, the day its paid period ends (in the sponsor's time
    # zone), as the latest invoice Stripe reported paid has it.
    next_payment_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    project: Mapped[Project] = relationship()
    donor: Mapped[Donor] = relationship()
    gifts: Mapped[list[Gift]] = relationship(back_populates="donation", order_by="Gift.id")
    history: Mapped[list[DonationStatusChange]] = relationship(
        back_populates="donation", order_by="DonationStatusChange.id"
    )

    @property
    def amount(self) -> Money:
        return Money.from_minor(self.amount_minor, Currency(self.currency))

    @amount.setter
    def amount(self, value: Money) -> None:
        self.amount_minor = value.minor
        self.currency = value.currency.value

    @property
    def extra_general(self) -> Money:
        return Money.from_minor(self.extra_general_minor, Currency(self.currency))

    @property
    def total(self) -> Money:
        """What the donor is charged each time: the project's gift plus any extra to General."""
        return self.amount + self.extra_general

    @property
    def benefit_value(self) -> Money | None:
        if self.benefit_value_minor is None:
            return None
        return Money.from_minor(self.benefit_value_minor, Currency(self.currency))

    @property
    def recurring(self) -> bool:
        return self.frequency is not Frequency.ONCE

    def change_status(self, new: DonationStatus, reason: str = "") -> DonationStatusChange:
        """Move to ``new`` if the table allows it, and write the history row."""
        old = self.status
        if new not in ALLOWED_TRANSITIONS[old]:
            raise InvalidTransition(old, new)
        self.status = new
        return self._add_history(
            DonationStatusChange(from_status=old, to_status=new, reason=reason)
        )

    def note(self, reason: str) -> DonationStatusChange:
        """Write in the history what happened without changing the status (a renewal that
        failed, the donor's new card or amount)."""
        return self._add_history(
            DonationStatusChange(from_status=self.status, to_status=self.status, reason=reason)
        )

    def _add_history(self, change: DonationStatusChange) -> DonationStatusChange:
        """Add ``change`` to the history without reading the history first: a settling
        donation's earlier changes stay unread (they would cost a query)."""
        session = object_session(self)
        if session is None or "history" not in inspect(self).unloaded:
            self.history.append(change)
        else:
            change.donation = self  # queued on the unread history, not read
            session.add(change)
        return change


class DonationStatusChange(Base):
    __tablename__ = "donation_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    from_status: Mapped[DonationStatus | None] = mapped_column(
        str_enum(DonationStatus, "donation_status")
    )
    to_status: Mapped[DonationStatus] = mapped_column(str_enum(DonationStatus, "donation_status"))
    reason: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    donation: Mapped[Donation] = relationship(back_populates="history")


def _as_given(part: str) -> Callable[[DefaultExecutionContext], int]:
    """A gift in US dollars settles as given: its settled figures default to its own."""

    def default(context: DefaultExecutionContext) -> int:
        row: dict[str, object] = context.get_current_parameters()  # type: ignore[no-untyped-call]
        project = int(str(row["project_minor"]))
        return project if part == "project" else project + int(str(row.get("general_minor") or 0))

    return default


class Gift(Base):
    """One settled payment: a one-time gift, or one period of a recurring gift.

    Its ledger entries are the ``ref``'s; reversals (refunds, disputes) are
    allocated over the funds by ``reversed_minor`` (see donations.bookkeeping).

    Two currencies meet here. ``currency`` and the ``*_minor`` amounts without
    "settled" in their name are the donor's: what they gave and what went back
    to them, as their receipt states it. The ``settled_*`` amounts and
    ``fee_minor`` are in US dollars, the books' currency: what reached the
    sponsor's Stripe balance (for a gift in US dollars, the same figures). A
    reversal takes income back at the gift's own rate (``reversed_settled_minor``,
    so a full refund takes back exactly ``settled_minor``); what Stripe actually
    moved at the day's rate differs by an exchange difference, booked to the fund.
    """

    __tablename__ = "gifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    donation_id: Mapped[int] = mapped_column(ForeignKey("donations.id"), index=True)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    # Whom, and where, the gift's receipts and its ledger entries name: the details given
    # with it, fixed as it settled (donations.donors).
    donor_name: Mapped[str] = mapped_column(String(200))
    donor_address: Mapped[str | None] = mapped_column(Text)
    # None for a gift by cheque or wire (its OfflineGift says how it came).
    charge_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    payment_intent_id: Mapped[str | None] = mapped_column(String(255))
    invoice_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    balance_transaction_id: Mapped[str | None] = mapped_column(String(255), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    # The project's part and the extra to General, as charged; they add up to the charge.
    project_minor: Mapped[int] = mapped_column(BigInteger)
    general_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Stripe's fee, in US dollars (the balance's currency).
    fee_minor: Mapped[int] = mapped_column(BigInteger)
    # What reached the sponsor in US dollars before the fee (the charge's balance
    # transaction), the project's part of it, and the income taken back at the gift's rate.
    settled_minor: Mapped[int] = mapped_column(BigInteger, default=_as_given("settled"))
    project_settled_minor: Mapped[int] = mapped_column(BigInteger, default=_as_given("project"))
    reversed_settled_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Stripe's rate (US dollars per unit of ``currency``) as it stated it; None in US dollars.
    exchange_rate: Mapped[str | None] = mapped_column(String(32))
    # The sponsorship fee rate when the gift settled: later refunds reverse at this rate.
    fee_rate_bp: Mapped[int] = mapped_column()
    fund: Mapped[str] = mapped_column(String(64))
    # Refunded plus disputed-and-not-reinstated, in minor units. More than the gift when a
    # dispute took the whole charge after a partial refund (donations.bookkeeping).
    reversed_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    # Refunds staff asked for: the idempotency key of the next one (service.refund_gift).
    refund_requests: Mapped[int] = mapped_column(default=0)
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    settled_on: Mapped[date] = mapped_column(Date)
    # As the receipt words it: "Card (Visa)", "Bank debit (ACH)".
    payment_method: Mapped[str | None] = mapped_column(String(64))
    # A company's matching gift: the employee's gift it matches (donations.matching).
    matches_gift_id: Mapped[int | None] = mapped_column(ForeignKey("gifts.id"), index=True)

    donation: Mapped[Donation] = relationship(back_populates="gifts")
    matches: Mapped[Gift | None] = relationship(remote_side=[id], foreign_keys=[matches_gift_id])

    @property
    def total(self) -> Money:
        return Money.from_minor(self.project_minor + self.general_minor, Currency(self.currency))

    @property
    def remaining(self) -> Money:
        """What can still be refunded: what stands of the gift. Never below zero, though
        ``reversed_minor`` may pass the gift while a dispute holds money refunded before."""
        return Money.from_minor(
            max(self.project_minor + self.general_minor - self.reversed_minor, 0),
            Currency(self.currency),
        )

    @property
    def converted(self) -> bool:
        """True when the donor gave in another currency than the books' US dollars."""
        return self.currency != Currency.USD.value

    @property
    def settled(self) -> Money:
        """What reached the sponsor, in US dollars, before Stripe's fee."""
        return Money.from_minor(self.settled_minor, Currency.USD)

    @property
    def settled_standing(self) -> Money:
        """The US dollar value of what stands of the gift, at the gift's own rate."""
        return Money.from_minor(self.settled_minor - self.reversed_settled_minor, Currency.USD)


class Refund(Base):
    __tablename__ = "refunds"

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    stripe_refund_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    gift: Mapped[Gift] = relationship()


class Dispute(Base):
    __tablename__ = "disputes"

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    stripe_dispute_id: Mapped[str] = mapped_column(String(255), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    gift: Mapped[Gift] = relationship()


class OfflineMethod(StrEnum):
    CHEQUE = "cheque"
    WIRE = "wire"
    # Gifts only, never refunds (money goes back by cheque or wire). The column is a
    # non-native enum without a CHECK constraint, so new values need no migration.
    STOCK = "stock"  # reference: the shares, "10 shares of ACME Corp"
    DAF = "daf"  # reference: the donor-advised fund's name, "Fidelity Charitable"


class OfflineGift(Base):
    """How a gift that did not come through Stripe reached the sponsor's bank.

    Its Gift has no charge; its ref is ``offline-<donation id>``.
    """

    __tablename__ = "offline_gifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), unique=True)
    method: Mapped[OfflineMethod] = mapped_column(str_enum(OfflineMethod, "offline_method"))
    # The cheque's number, the wire's reference at the bank, the shares given, or the
    # donor-advised fund's name.
    reference: Mapped[str] = mapped_column(String(64), default="")
    received_on: Mapped[date] = mapped_column(Date)
    entered_by: Mapped[str] = mapped_column(String(254))
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    gift: Mapped[Gift] = relationship()


class OfflineRefund(Base):
    """Money of an offline gift sent back from the bank, by cheque or wire."""

    __tablename__ = "offline_refunds"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    gift_id: Mapped[int] = mapped_column(ForeignKey("gifts.id"), index=True)
    ref: Mapped[str] = mapped_column(String(200), unique=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[OfflineMethod] = mapped_column(str_enum(OfflineMethod, "offline_method"))
    reference: Mapped[str] = mapped_column(String(64), default="")
    refunded_on: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text, default="")
    entered_by: Mapped[str] = mapped_column(String(254))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    gift: Mapped[Gift] = relationship()


class DonorTotal(Base):
    """What a donor's gifts to a project add up to, kept as the gifts change: the
    treasurer's donors page reads a page of these instead of adding up every gift of the
    project at each request (a second at a million transactions).

    One row for the donor's gifts made anonymously to the project and one for the rest, each
    while it holds a gift. Kept by the mapper events below, in the flush that changes a gift
    or a donation, from the gifts themselves (:func:`recount`): always what adding them up
    would give. Writes that bypass the ORM (a bulk insert, bench/) call
    :func:`recount_everything` after."""

    __tablename__ = "donor_totals"
    __table_args__ = (
        # The page: a project's named donors, biggest first, ties by donor.
        Index("ix_donor_totals_page", "project_id", "anonymous", "given_minor", "donor_id"),
    )

    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), primary_key=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    gifts: Mapped[int] = mapped_column()
    # In US dollars as the gifts settled, refunds and disputes taken off.
    given_minor: Mapped[int] = mapped_column(BigInteger)
    first_on: Mapped[date] = mapped_column(Date)
    last_on: Mapped[date] = mapped_column(Date)
    # Whether any of these donations may name the donor publicly.
    public: Mapped[bool] = mapped_column(Boolean)


# The SQL below names the visibilities by their stored values, constants of our own (in
# GROUP BY a bound parameter would not be the same expression as the SELECT's).
_IS_ANONYMOUS = f"d.visibility = '{Visibility.ANONYMOUS.value}'"
_IS_PUBLIC = f"d.visibility = '{Visibility.PUBLIC.value}'"
_INSERT = (
    "INSERT INTO donor_totals (project_id, donor_id, anonymous, gifts, given_minor,"  # noqa: S608
    " first_on, last_on, public) "
    f"SELECT d.project_id, d.donor_id, {_IS_ANONYMOUS},"
    " COUNT(g.id), SUM(g.project_settled_minor - g.reversed_settled_minor),"
    " MIN(g.settled_on), MAX(g.settled_on),"
    f" MAX(CASE WHEN {_IS_PUBLIC} THEN 1 ELSE 0 END) = 1"
    " FROM gifts g JOIN donations d ON d.id = g.donation_id"
)
_GROUPED = f" GROUP BY d.project_id, d.donor_id, {_IS_ANONYMOUS}"


def recount(connection: Connection, project_id: int, donor_id: int) -> None:
    """Count a donor's gifts to a project again into donor_totals.

    The donor's row is locked first (on PostgreSQL; SQLite has one writer at a time), so
    that two transactions settling gifts of the same donor count one after the other, the
    second with the first's gift: each statement after the lock sees what the other
    committed, where two counts at once would each miss the other's gift, or both insert."""
    key = {"project": project_id, "donor": donor_id}
    # FOR NO KEY UPDATE: a plain FOR UPDATE would also wait on the key-share locks that
    # each transaction's new donation (its foreign key to the donor) holds, a deadlock.
    if connection.dialect.name != "sqlite":
        locked = select(Donor.id).where(Donor.id == donor_id).with_for_update(key_share=True)
        connection.execute(locked)
    connection.execute(
        text("DELETE FROM donor_totals WHERE project_id = :project AND donor_id = :donor"), key
    )
    connection.execute(
        text(f"{_INSERT} WHERE d.project_id = :project AND d.donor_id = :donor{_GROUPED}"), key
    )


def recount_everything(connection: Connection) -> None:
    """donor_totals counted again from every gift (after writes that bypass the ORM)."""
    connection.execute(text("DELETE FROM donor_totals"))
    connection.execute(text(_INSERT + _GROUPED))


# What a donor's totals are made of: a gift's amounts, day and donation; a donation's
# project, donor and visibility.
_GIFT_COUNTS = ("donation_id", "project_settled_minor", "reversed_settled_minor", "settled_on")
_DONATION_COUNTS = ("project_id", "donor_id", "visibility")


def _donation_keys(connection: Connection, donation_ids: set[int]) -> set[tuple[int, int]]:
    rows = connection.execute(
        select(Donation.project_id, Donation.donor_id).where(Donation.id.in_(donation_ids))
    )
    return {(project, donor) for project, donor in rows}


def _changed(target: object, names: tuple[str, ...]) -> bool:
    state = inspect(target)
    return any(state.attrs[name].history.has_changes() for name in names)


@event.listens_for(Gift, "after_insert")
@event.listens_for(Gift, "after_delete")
def _gift_written(_mapper: Mapper[Gift], connection: Connection, gift: Gift) -> None:
    donation = inspect(gift).attrs.donation.loaded_value  # settling sets it: no read then
    if isinstance(donation, Donation) and donation.id == gift.donation_id:
        recount(connection, donation.project_id, donation.donor_id)
        return
    for key in _donation_keys(connection, {gift.donation_id}):
        recount(connection, *key)


@event.listens_for(Gift, "after_update")
def _gift_changed(_mapper: Mapper[Gift], connection: Connection, gift: Gift) -> None:
    if not _changed(gift, _GIFT_COUNTS):
        return
    donations = {gift.donation_id, *inspect(gift).attrs.donation_id.history.deleted}
    for key in _donation_keys(connection, donations):
        recount(connection, *key)


@event.listens_for(Donation, "after_update")
def _donation_changed(
    _mapper: Mapper[Donation], connection: Connection, donation: Donation
) -> None:
    if not _changed(donation, _DONATION_COUNTS):
        return
    attrs = inspect(donation).attrs
    projects = {donation.project_id, *attrs.project_id.history.deleted}
    donors = {donation.donor_id, *attrs.donor_id.history.deleted}
    for project in projects:
        for donor in donors:
            recount(connection, project, donor)


@event.listens_for(Donation, "after_delete")
def _donation_deleted(
    _mapper: Mapper[Donation], connection: Connection, donation: Donation
) -> None:
    recount(connection, donation.project_id, donation.donor_id)
