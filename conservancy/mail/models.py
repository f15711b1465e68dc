"""The mail outbox: a message is a row before it is anything else.

A row is queued in the same transaction as what it announces (a receipt, a
sign-in link), so a message exists exactly when its cause committed. ``key`` is
unique: queueing the same message twice finds the first. Sending moves a row
from ``pending`` to ``sending`` (a claim that commits before anything leaves)
and then to ``sent``; a process that dies mid-send leaves ``sending`` behind,
which is never retried by itself, because "sent twice" is the one outcome
that cannot be taken back (see conservancy.mail.outbox).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import DateTime, Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from conservancy.infra.db import Base
from conservancy.kernel import clock


class MailStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a sender; if it stays here, that sender died mid-send
    SENT = "sent"
    FAILED = "failed"  # refused for good (a bad address); staff see it


class MailMessage(Base):
    __tablename__ = "mail_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    # What the message is, so it is queued once: "receipt-2026-000123", "portal-link-17".
    key: Mapped[str] = mapped_column(String(100), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    to_name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    # Attachments are files written after the commit; the message waits for them.
    receipt_id: Mapped[int | None] = mapped_column(ForeignKey("receipts.id"), index=True)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("annual_statements.id"), index=True)
    # Any other PDF (a sponsorship invoice): its path under the receipts directory and the
    # name it is sent as; the message waits until the file is written.
    attachment_path: Mapped[str | None] = mapped_column(String(300))
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[MailStatus] = mapped_column(
        Enum(
            MailStatus,
            name="mail_status",
            native_enum=False,
            length=20,
            values_callable=lambda e: [m.value for m in e],
        ),
        default=MailStatus.PENDING,
        index=True,
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
