"""Mail goes out after the commit, once, to the right person, or stays for later."""

from __future__ import annotations

import email
import email.policy
import threading
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from sqlalchemy import select, update

from conservancy.kernel import clock
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.mail.outbox import MAX_ATTEMPTS, Sender, queue, send_pending, stuck
from conservancy.mail.transport import EmlDirectory, Smtp, TemporaryFailure
from conservancy.runtime import Runtime
from tests.mail.smtp_server import SmtpServer

SENDER = Sender("receipts@example.org", "Test Sponsor, Inc.")


def _queue(rt: Runtime, key: str = "hello-1", **changes: str) -> None:
    fields = {
        "to_address": "ada@example.org",
        "to_name": "Ada Lovelace",
        "subject": "Hello",
        "body": "Dear Ada,\n\nthank you.\n",
        **changes,
    }
    with rt.sessions() as session:
        queue(session, key=key, **fields)
        session.commit()


def _parse(data: bytes) -> EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


def _statuses(rt: Runtime) -> dict[str, MailStatus]:
    with rt.sessions() as session:
        return {m.key: m.status for m in session.scalars(select(MailMessage))}


def test_queueing_the_same_key_twice_queues_one_message(runtime: Runtime) -> None:
    _queue(runtime)
    _queue(runtime, subject="Hello again")
    with runtime.sessions() as session:
        [row] = session.scalars(select(MailMessage)).all()
    assert row.subject == "Hello"


def test_only_a_donors_mail_points_to_the_donor_portal(runtime: Runtime, tmp_path: Path) -> None:
    """A tribute card's honoree, a company and staff have no gifts in the portal."""
    sender = Sender(
        "receipts@example.org",
        "Test Sponsor, Inc.",
        footer="Test Sponsor, Inc.",
        portal_line="Your gifts, receipts and statements: https://give.example.org/portal",
    )
    keys = ["portal-link-1", "donation-7-cancelled", "tribute-card-7", "staff-invite-3-ab",
            "sponsorship-invoice-INV-2026-0001"]  # fmt: skip
    for key in keys:
        _queue(runtime, key)
    send_pending(runtime.sessions, EmlDirectory(tmp_path / "out"), sender, tmp_path)

    def footer(key: str) -> str:
        body = _parse((tmp_path / "out" / f"{key}.eml").read_bytes()).get_content()
        return str(body).split("\n-- \n", 1)[1]

    portal = (
        "Test Sponsor, Inc.\nYour gifts, receipts and statements: https://give.example.org/portal\n"
    )
    assert footer("portal-link-1") == portal
    assert footer("donation-7-cancelled") == portal
    for key in keys[2:]:
        assert footer(key) == "Test Sponsor, Inc.\n", key


def test_a_message_rolled_back_with_its_cause_is_never_sent(
    runtime: Runtime, tmp_path: Path
) -> None:
    with runtime.sessions() as session:
        queue(session, key="gone", to_address="a@example.org", to_name="A", subject="S", body="B")
        session.rollback()
    result = send_pending(runtime.sessions, EmlDirectory(tmp_path / "out"), SENDER, tmp_path)
    assert result.sent == 0
    assert not (tmp_path / "out").exists()


def test_eml_files_are_written_once_each(runtime: Runtime, tmp_path: Path) -> None:
    _queue(runtime, "hello-1")
    _queue(runtime, "hello-2", to_address="grace@example.org", to_name="Grace Hopper")
    outbox = EmlDirectory(tmp_path / "outbox")
    first = send_pending(runtime.sessions, outbox, SENDER, tmp_path)
    second = send_pending(runtime.sessions, outbox, SENDER, tmp_path)
    assert (first.sent, second.sent) == (2, 0)
    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["hello-1.eml", "hello-2.eml"]
    message = _parse((tmp_path / "outbox" / "hello-2.eml").read_bytes())
    assert message["To"] == "Grace Hopper <grace@example.org>"
    assert message["From"] == '"Test Sponsor, Inc." <receipts@example.org>'
    assert message.get_content() == "Dear Ada,\n\nthank you.\n"
    assert _statuses(runtime) == {"hello-1": MailStatus.SENT, "hello-2": MailStatus.SENT}


def test_senders_racing_send_each_message_once(runtime: Runtime, tmp_path: Path) -> None:
    for n in range(20):
        _queue(runtime, f"m-{n}", to_address=f"d{n}@example.org")
    sent: list[str] = []
    lock = threading.Lock()

    class Counting:
        def send(self, message: EmailMessage, key: str) -> None:
            with lock:
                sent.append(key)

    start = threading.Barrier(4)

    def run() -> None:
        start.wait()
        send_pending(runtime.sessions, Counting(), SENDER, tmp_path)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sent) == sorted(f"m-{n}" for n in range(20))


def test_donor_text_cannot_add_headers(runtime: Runtime, tmp_path: Path) -> None:
    _queue(runtime, to_name="Ada\r\nBcc: everyone@example.org", subject="Hi\nX-Evil: 1")
    send_pending(runtime.sessions, EmlDirectory(tmp_path), SENDER, tmp_path)
    message = _parse((tmp_path / "hello-1.eml").read_bytes())
    assert message["Bcc"] is None
    assert message["X-Evil"] is None
    assert message["Subject"] == "Hi X-Evil: 1"


def test_smtp_delivers_to_the_server(runtime: Runtime, tmp_path: Path) -> None:
    _queue(runtime)
    with SmtpServer() as server:
        result = send_pending(runtime.sessions, Smtp(server.url), SENDER, tmp_path)
        [data] = server.mailbox.messages
    assert result.sent == 1
    assert _parse(data)["Subject"] == "Hello"


def test_a_refused_address_fails_for_good_and_others_still_go(
    runtime: Runtime, tmp_path: Path
) -> None:
    _queue(runtime, "bad", to_address="nobody@example.org")
    _queue(runtime, "good", to_address="ada@example.org")
    with SmtpServer() as server:
        server.mailbox.refuse_recipients.add("nobody@example.org")
        result = send_pending(runtime.sessions, Smtp(server.url), SENDER, tmp_path)
        assert len(server.mailbox.messages) == 1
    assert (result.sent, result.failed) == (1, 1)
    assert _statuses(runtime) == {"bad": MailStatus.FAILED, "good": MailStatus.SENT}


def test_a_busy_or_absent_server_keeps_the_message_for_later(
    runtime: Runtime, tmp_path: Path
) -> None:
    _queue(runtime)
    with SmtpServer() as server:
        server.mailbox.busy = True
        busy = send_pending(runtime.sessions, Smtp(server.url), SENDER, tmp_path)
        server.mailbox.busy = False
        later = send_pending(runtime.sessions, Smtp(server.url), SENDER, tmp_path)
        assert len(server.mailbox.messages) == 1
    assert (busy.retry_later, later.sent) == (1, 1)


def test_a_message_that_keeps_failing_is_given_up(runtime: Runtime, tmp_path: Path) -> None:
    _queue(runtime)

    class Down:
        def send(self, message: EmailMessage, key: str) -> None:
            raise TemporaryFailure("connection refused")

    for _ in range(MAX_ATTEMPTS):
        send_pending(runtime.sessions, Down(), SENDER, tmp_path)
    with runtime.sessions() as session:
        row = session.scalars(select(MailMessage)).one()
    assert row.status is MailStatus.FAILED
    assert row.attempts == MAX_ATTEMPTS
    assert row.last_error == "connection refused"


def test_a_send_cut_off_midway_is_not_repeated_but_reported(
    runtime: Runtime, tmp_path: Path
) -> None:
    """A sender that died after claiming: whether it went out is unknown; never send twice."""
    _queue(runtime)

    class Dies:
        def send(self, message: EmailMessage, key: str) -> None:
            raise SystemExit("killed")

    with pytest.raises(SystemExit):
        send_pending(runtime.sessions, Dies(), SENDER, tmp_path)
    again = send_pending(runtime.sessions, EmlDirectory(tmp_path), SENDER, tmp_path)
    assert again.sent == 0
    assert not list(tmp_path.glob("*.eml"))
    with runtime.sessions() as session:
        assert stuck(session) == []  # just claimed: not stuck yet
        session.execute(update(MailMessage).values(claimed_at=clock.now() - timedelta(hours=1)))
        session.commit()
        assert [m.key for m in stuck(session)] == ["hello-1"]
