"""Signing in to the portal as a donor does: ask for a link, open the e-mail, press the button."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from conservancy.mail.outbox import Sender, send_pending
from conservancy.mail.transport import transport_for
from conservancy.runtime import Runtime

_LINK = re.compile(r"https?://\S+/portal/sign-in/[A-Za-z0-9_-]+")


def csrf_token(page: TestResponse) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, "the page carries no form with a CSRF token"
    return found.group(1)


def ask_for_link(client: FlaskClient, address: str, *, remote: str = "127.0.0.1") -> TestResponse:
    """Fill in the sign-in form on GET /portal and send it."""
    token = csrf_token(client.get("/portal"))
    return client.post(
        "/portal/sign-in",
        data={"email": address, "csrf_token": token},
        environ_base={"REMOTE_ADDR": remote},
    )


def send_mail(rt: Runtime) -> None:
    """Let the app's courier finish, then send what is due (the sign-in mail needs no PDF,
    so this works where WeasyPrint cannot draw receipts)."""
    rt.courier.wait_idle()
    send_pending(
        rt.sessions,
        transport_for(rt.settings.smtp_url, rt.settings.outbox_dir),
        Sender(rt.settings.sender_address, "Test Sponsor, Inc."),
        rt.settings.receipts_dir,
    )


def mails_to(rt: Runtime, address: str, pattern: str = "*.eml") -> list[EmailMessage]:
    """The messages in the outbox folder for ``address`` (of files matching ``pattern``)."""
    send_mail(rt)
    found = []
    for path in sorted(rt.settings.outbox_dir.glob(pattern), key=_number):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]):
            found.append(message)
    return found


def _number(path: Path) -> tuple[int, str]:
    digits = re.findall(r"\d+", path.stem)
    return (int(digits[-1]) if digits else 0, path.stem)


def sign_in_links(rt: Runtime, address: str) -> list[str]:
    """The path of each sign-in link mailed to ``address``, oldest first."""
    links = []
    for message in mails_to(rt, address, "portal-link-*.eml"):
        body = message.get_body(("plain",))
        assert body is not None
        found = _LINK.search(body.get_content())
        assert found, "the sign-in mail carries no link"
        links.append(urlsplit(found.group(0)).path)
    return links


def open_link(client: FlaskClient, path: str) -> TestResponse:
    """Open the link (GET), then press its "Sign in" button (POST with the page's token)."""
    page = client.get(path)
    if page.status_code != 200:
        return page
    return client.post(path, data={"csrf_token": csrf_token(page)})


def sign_in(client: FlaskClient, rt: Runtime, address: str) -> TestResponse:
    """Sign in as the donor at ``address``; answers the dashboard."""
    assert ask_for_link(client, address).status_code == 200
    [*_, link] = sign_in_links(rt, address)
    used = open_link(client, link)
    assert used.status_code == 303, used.text
    dashboard = client.get("/portal")
    assert "Signed in as" in dashboard.text
    return dashboard
