"""Queue mail in the caller's transaction; send it after the commit, never twice.

:func:`queue` adds a row to ``mail_outbox`` (or finds the one with the same
key) in the transaction that records the message's cause, so a receipt and
its e-mail commit together or not at all.

:func:`send_pending` sends what is due, one message at a time:

1. Take a pending message whose attachment (a receipt or statement PDF,
   written after its own commit) is on disk, and compose it.
2. Claim it: ``UPDATE ... SET status = 'sending' WHERE status = 'pending'``,
   committed. Of two senders, one claims it; the other moves on.
3. Hand it to the transport.
4. Mark it ``sent``; or, when the transport says nothing was handed over,
   put it back to ``pending`` (try later) or ``failed`` (never).

A sender that dies between 2 and 4 leaves the message ``sending``. Whether
it went out cannot be known from here, and a second copy of a receipt cannot
be taken back, so it is not retried by itself: :func:`stuck` lists such
messages for staff. (The .eml transport is exactly-once on its own: a file
that exists is not written again.)
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from conservancy.kernel import clock
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.mail.transport import PermanentFailure, TemporaryFailure, Transport
from conservancy.receipts.models import AnnualStatement, Receipt

log = logging.getLogger(__name__)
# A message the transport keeps refusing "for now" is given up after this many tries.
MAX_ATTEMPTS = 8
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


# Mail to donors about their gifts, by its key: the mail whose footer points to the portal.
# A company about its sponsorship, a member of staff, or the person a tribute card honours
# has no gifts there.
DONOR_MAIL = ("receipt-", "statement-", "portal-link-", "donation-")


@dataclass(frozen=True)
class Sender:
    address: str
    name: str
    # Signed under every message: who we are.
    footer: str = ""
    # Added under a donor's mail (DONOR_MAIL): where their gifts and receipts are.
    portal_line: str = ""

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[-1]


@dataclass(frozen=True)
class SendResult:
    sent: int = 0
    retry_later: int = 0
    failed: int = 0


def queue(
    session: Session,
    *,
    key: str,
    to_address: str,
    to_name: str,
    subject: str,
    body: str,
    receipt: Receipt | None = None,
    statement: AnnualStatement | None = None,
    attachment: tuple[str, str] | None = None,
    fresh: bool = False,
) -> MailMessage:
    """Queue a message once per ``key``, in the caller's transaction; flushes.

    ``attachment``: (the name it is sent as, its path under the receipts directory) of a
    PDF written after the commit; the message waits for it. ``fresh``: the key names what
    this transaction has just made (a receipt it numbered), so no message can have it yet
    and none is looked for (the key's unique index still refuses a second)."""
    if not fresh:
        existing = session.scalar(select(MailMessage).where(MailMessage.key == key))
        if existing is not None:
            return existing
    message = MailMessage(
        key=key,
        to_address=to_address,
        to_name=to_name,
        subject=subject,
        body=body,
        receipt_id=receipt.id if receipt is not None else None,
        statement_id=statement.id if statement is not None else None,
        attachment_name=attachment[0] if attachment is not None else None,
        attachment_path=attachment[1] if attachment is not None else None,
        status=MailStatus.PENDING,
        attempts=0,
    )
    session.add(message)
    session.flush()
    return message


def _one_line(text: str) -> str:
    """Donor text in a header: no line breaks (no header injection), no control characters."""
    return _CONTROL.sub(" ", text).strip()


def _attachment(session: Session, row: MailMessage, files: Path) -> tuple[str, Path] | None:
    """The attachment's file name and path; None when the message has none.

    Raises LookupError while the PDF is not written yet.
    """
    if row.receipt_id is not None:
        receipt = session.get(Receipt, row.receipt_id)
        if receipt is None or receipt.pdf_path is None:
            raise LookupError("the receipt is not rendered yet")
        return f"{receipt.number}.pdf", files / receipt.pdf_path
    if row.statement_id is not None:
        statement = session.get(AnnualStatement, row.statement_id)
        if statement is None:
            raise LookupError("the statement is not issued yet")
        return f"giving-statement-{statement.year}.pdf", files / statement.pdf_path
    if row.attachment_path is not None:
        path = files / row.attachment_path
        if not path.is_file():
            raise LookupError("the attachment is not written yet")
        return row.attachment_name or path.name, path
    return None


def compose(row: MailMessage, sender: Sender, attachment: tuple[str, bytes] | None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address(_one_line(sender.name), addr_spec=sender.address)
    message["To"] = Address(_one_line(row.to_name), addr_spec=row.to_address)
    message["Subject"] = _one_line(row.subject)
    message["Date"] = format_datetime(row.created_at)
    # Stable per message: a resend (by hand) is recognisably the same message.
    message["Message-ID"] = f"<{row.key}.{row.id}@{sender.domain}>"
    message["Auto-Submitted"] = "auto-generated"
    footer = sender.footer
    if sender.portal_line and row.key.startswith(DONOR_MAIL):
        footer = f"{footer}\n{sender.portal_line}" if footer else sender.portal_line
    body = f"{row.body.rstrip()}\n\n-- \n{footer}\n" if footer else row.body
    message.set_content(body)
    if attachment is not None:
        name, data = attachment
        message.add_attachment(data, maintype="application", subtype="pdf", filename=name)
    return message


def send_pending(
    sessions: sessionmaker[Session],
    transport: Transport,
    sender: Sender,
    files: Path,
    limit: int = 500,
) -> SendResult:
    """Send up to ``limit`` pending messages whose attachments are ready."""
    sent = retry = failed = 0
    with sessions() as session:
        ids = session.scalars(
            select(MailMessage.id)
            .where(MailMessage.status == MailStatus.PENDING)
            .order_by(MailMessage.id)
            .limit(limit)
        ).all()
    for message_id in ids:
        with sessions() as session:
            row = session.get(MailMessage, message_id)
            if row is None or row.status is not MailStatus.PENDING:
                continue
            try:
                found = _attachment(session, row, files)
            except LookupError:
                continue  # its PDF is rendered first; the next round sends it
            attachment = (found[0], found[1].read_bytes()) if found else None
            email = compose(row, sender, attachment)
            key = row.key
            claim = session.execute(
                update(MailMessage)
                .where(MailMessage.id == message_id, MailMessage.status == MailStatus.PENDING)
                .values(
                    status=MailStatus.SENDING,
                    claimed_at=clock.now(),
                    attempts=MailMessage.attempts + 1,
                )
                .execution_options(synchronize_session=False)
            )
            claimed = cast(CursorResult[Any], claim).rowcount == 1
            session.commit()
        if not claimed:
            continue  # another sender has it
        outcome, error = MailStatus.SENT, None
        try:
            transport.send(email, key)
        except PermanentFailure as exc:
            outcome, error = MailStatus.FAILED, str(exc)
        except TemporaryFailure as exc:
            outcome, error = MailStatus.PENDING, str(exc)
        with sessions() as session:
            row = session.get(MailMessage, message_id)
            assert row is not None
            if outcome is MailStatus.PENDING and row.attempts >= MAX_ATTEMPTS:
                outcome = MailStatus.FAILED
            row.status = outcome
            row.last_error = error[:500] if error else None
            if outcome is MailStatus.SENT:
                row.sent_at = clock.now()
            session.commit()
        if outcome is MailStatus.SENT:
            sent += 1
        elif outcome is MailStatus.PENDING:
            retry += 1
            log.warning("mail %s not sent yet: %s", key, error)
        else:
            failed += 1
            log.warning("mail %s given up: %s", key, error)
    return SendResult(sent, retry, failed)


def stuck(session: Session, older_than: timedelta = timedelta(minutes=15)) -> list[MailMessage]:
    """Messages a sender claimed and never finished: they may or may not have gone out."""
    cutoff: datetime = clock.now() - older_than
    return list(
        session.scalars(
            select(MailMessage)
            .where(MailMessage.status == MailStatus.SENDING, MailMessage.claimed_at < cutoff)
            .order_by(MailMessage.id)
        )
    )
