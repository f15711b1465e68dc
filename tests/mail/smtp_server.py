"""A tiny SMTP server for tests: it accepts mail and keeps it, or refuses what it is told to."""

from __future__ import annotations

import socketserver
import threading
from dataclasses import dataclass, field


@dataclass
class Mailbox:
    messages: list[bytes] = field(default_factory=list)
    refuse_recipients: set[str] = field(default_factory=set)
    busy: bool = False  # answer 451 (try later) to every message


class _Handler(socketserver.StreamRequestHandler):
    server: _Server

    def _say(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        box = self.server.mailbox
        self._say("220 test ESMTP")
        while line := self.rfile.readline():
            command = line.decode(errors="replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb in {"EHLO", "HELO"}:
                self._say("250 test")
            elif verb == "MAIL":
                self._say("250 ok")
            elif verb == "RCPT":
                address = command.split(":", 1)[1].strip().strip("<>")
                self._say("550 no such user" if address in box.refuse_recipients else "250 ok")
            elif verb == "DATA":
                self._say("354 go ahead")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk
                if box.busy:
                    self._say("451 try again later")
                else:
                    box.messages.append(bytes(data))
                    self._say("250 queued")
            elif verb == "RSET" or verb == "NOOP":
                self._say("250 ok")
            elif verb == "QUIT":
                self._say("221 bye")
                return
            else:
                self._say("502 not implemented")


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    mailbox: Mailbox


class SmtpServer:
    def __init__(self) -> None:
        self.mailbox = Mailbox()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.mailbox = self.mailbox
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
