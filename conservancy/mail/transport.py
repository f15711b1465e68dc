"""Where mail goes: an SMTP server, or .eml files in a folder (the default; SPEC section 3).

A transport sends one finished :class:`email.message.EmailMessage`. It raises
:class:`PermanentFailure` when the message can never go (the server refused the
address) and :class:`TemporaryFailure` when trying again later may work; either
way, nothing was handed over.
"""

from __future__ import annotations

import os
import smtplib
import ssl
import tempfile
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit


class TemporaryFailure(Exception):
    pass


class PermanentFailure(Exception):
    pass


class Transport(Protocol):
    def send(self, message: EmailMessage, key: str) -> None: ...


class EmlDirectory:
    """Writes each message to ``<folder>/<key>.eml``, once.

    The file appears whole or not at all (written aside, then hard-linked into
    place), and an existing file is never replaced: sending the same key again
    is a no-op, so a retried send cannot make a second copy.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def path_for(self, key: str) -> Path:
        return self.folder / f"{key}.eml"

    def send(self, message: EmailMessage, key: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.path_for(key)
        if target.exists():
            return
        fd, tmp = tempfile.mkstemp(dir=self.folder, prefix=".sending-", suffix=".eml")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(bytes(message))
                out.flush()
                os.fsync(out.fileno())
            try:
                os.link(tmp, target)
            except FileExistsError:
                return  # another sender wrote it first: it is sent
        except OSError as exc:
            raise TemporaryFailure(f"could not write {target.name}: {exc.strerror}") from exc
        finally:
            Path(tmp).unlink(missing_ok=True)


class Smtp:
    """``smtp://[user:password@]host[:port]`` (STARTTLS when offered) or ``smtps://``."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        self.tls = parts.scheme == "smtps"
        self.host = parts.hostname or "localhost"
        self.port = parts.port or (465 if self.tls else 25)
        self.user = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None
        self.timeout = timeout

    def send(self, message: EmailMessage, key: str) -> None:
        try:
            if self.tls:
                server: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.host, self.port, timeout=self.timeout, context=ssl.create_default_context()
                )
            else:
                server = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            with server:
                if not self.tls:
                    server.ehlo()
                    if server.has_extn("starttls"):
                        server.starttls(context=ssl.create_default_context())
                if self.user is not None:
                    server.login(self.user, self.password or "")
                server.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure("the mail server refused the address") from exc
        except smtplib.SMTPResponseException as exc:
            if 500 <= exc.smtp_code < 600:
                raise PermanentFailure(f"the mail server said {exc.smtp_code}") from exc
            raise TemporaryFailure(f"the mail server said {exc.smtp_code}") from exc
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"could not reach the mail server: {exc}") from exc


def transport_for(smtp_url: str | None, outbox_dir: Path) -> Transport:
    return Smtp(smtp_url) if smtp_url else EmlDirectory(outbox_dir)
