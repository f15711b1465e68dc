from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from conservancy.infra.db import Base
from conservancy.kernel import clock


class StripeEvent(Base):
    """A Stripe event we have acted on. The primary key is Stripe's event id: the
    row is inserted before the event is acted on, in the same transaction, so a
    second delivery (even a simultaneous one) finds it and does nothing."""

    __tablename__ = "stripe_events"

    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


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
