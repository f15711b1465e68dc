from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Index, String
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from conservancy.infra.db import Base
from conservancy.kernel import clock


class StripeEvent(Base):
    """A Stripe event we have acted on. The primary key is Stripe's event id: the
    row is inserted before the event is acted on, in the same transaction, so a
    second delivery (even a simultaneous one) finds it and does nothing."""

    __tablename__ = "stripe_events"
    __table_args__ = (Index("ix_stripe_events_settled_at", "settled_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # When the webhook (or `stripe sync`) brought it, and when it was acted on.
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    settled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class StripeInbox(Base):
    """A Stripe event received and not yet acted on: the webhook's whole write.

    The webhook verifies the event, stores it here (its id the key, so a second
    delivery stores nothing) and answers; a settler (``payments.inbox``) acts on it
    later and deletes the row in the transaction that inserts its ``stripe_events``
    row. ``due_at`` is when a settler may next claim it: when it arrived, then the end
    of a settler's claim (a settler that dies leaves it to the next after that), or
    the time of the next try after a failure.
    """

    __tablename__ = "stripe_inbox"
    __table_args__ = (Index("ix_stripe_inbox_due_at", "due_at"),)

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    # Events of one money object (a donation, subscription, charge, payout) settle in order.
    object_key: Mapped[str] = mapped_column(String(255))
    livemode: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    # The event's data.object as Stripe sent it (never trusted for money: see events.py).
    object: Mapped[dict[str, Any]] = mapped_column(JSON)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    attempts: Mapped[int] = mapped_column(default=0)
    # The settler that claimed it last ("<host>:<pid>"), for the log and staff.
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    # The last failure's kind (an exception's type and Stripe's words), never a donor's data.
    last_error: Mapped[str | None] = mapped_column(String(300))


class CheckoutAttempt(Base):
    """One try at the donation form, for rate limits against card testing.
    Addresses and e-mails are kept only as keyed hashes."""

    __tablename__ = "checkout_attempts"
    __table_args__ = (
        Index("ix_checkout_attempts_address_at", "address_hash", "at"),
        Index("ix_checkout_attempts_email_at", "email_hash", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address_hash: Mapped[str] = mapped_column(String(64))
    email_hash: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


def insert_once(session: Session, table: type[StripeInbox | StripeEvent], **values: Any) -> bool:
    """``INSERT`` the row unless its id is taken (by another delivery, even one at the same
    moment: the insert waits for it, then does nothing); True if it was inserted. One
    statement, where a look first and an insert after take two."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        insert: Any = postgresql.insert(table).values(values)
    elif dialect == "sqlite":
        insert = sqlite.insert(table).values(values)
    else:
        raise NotImplementedError(f"the Stripe tables do not support {dialect}")
    inserted = insert.on_conflict_do_nothing(index_elements=["id"]).returning(table.id)
    return session.execute(inserted).first() is not None
