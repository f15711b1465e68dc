"""The site's people as they come to it: staff through the one-time link `conservancy user
add` prints and the sign-in form (admins with a code from their authenticator app), donors
through the sign-in link the portal mails them."""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

from conservancy.staff import totp
from tests.integration.browser import Browser, location

PASSWORD = "a long year of careful books"
MAIL_LIMIT = 30.0  # seconds a mail may take to be written after the page that sent it
_STAFF_LINK = re.compile(r"https?://\S+/sign-in/link/[A-Za-z0-9_-]+")
_PORTAL_LINK = re.compile(r"https?://\S+/portal/sign-in/[A-Za-z0-9_-]+")


def invitation_path(printed: str) -> str:
    """The path of the sign-in link `conservancy user add` printed."""
    found = _STAFF_LINK.search(printed)
    assert found, f"no sign-in link in {printed!r}"
    return urlsplit(found.group(0)).path


def choose_password(browser: Browser, link: str) -> None:
    answer = browser.fill(link, link, {"password": PASSWORD, "confirm": PASSWORD})
    assert location(answer).endswith("/sign-in")


def code_now(secret: str, shift_days: int) -> str:
    """The code an authenticator app shows at the site's (possibly moved) time."""
    moment = datetime.now(UTC) + timedelta(days=shift_days)
    return totp.code_for(secret, totp.step_at(moment))


def sign_in(browser: Browser, address: str, *, secret: str | None, shift_days: int) -> str | None:
    """Sign in with the password, then the code; an admin without an authenticator yet sets
    one up from the page it leads to. Returns the authenticator's secret, if any."""
    answer = browser.fill("/sign-in", "/sign-in", {"email": address, "password": PASSWORD})
    if location(answer).endswith("/sign-in/code"):
        assert secret is not None, f"{address} is asked for a code but has no authenticator"
        answer = browser.fill(
            "/sign-in/code", "/sign-in/code", {"code": code_now(secret, shift_days)}
        )
    elif location(answer).endswith("/account/two-factor"):
        page = browser.get("/account/two-factor")
        shown = re.search(r'<code class="staff-secret">([A-Z2-7 ]+)</code>', page.text)
        assert shown, "the two-factor page shows no key to type"
        secret = shown.group(1).replace(" ", "")
        codes_page = browser.submit(
            browser.form(page, "/account/two-factor"),
            {"code": code_now(secret, shift_days)},
            status=200,  # the recovery codes, shown once
        )
        assert "Keep these somewhere safe" in codes_page.text
        return secret
    assert not location(answer).endswith(("/sign-in", "/sign-in/code", "/account/two-factor"))
    return secret


def mails(outbox: Path, address: str, pattern: str = "*.eml") -> list[EmailMessage]:
    """The messages written to the outbox folder for ``address``, oldest first."""
    found = []
    for path in sorted(outbox.glob(pattern), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        if address in str(message["To"]):
            found.append(message)
    return found


def portal_sign_in(browser: Browser, outbox: Path, address: str) -> None:
    """Ask the portal for a link, open the mail, press the button."""
    before = len(mails(outbox, address, "portal-link-*.eml"))
    browser.fill("/portal", "/portal/sign-in", {"email": address}, status=200)
    deadline = time.monotonic() + MAIL_LIMIT
    while len(sent := mails(outbox, address, "portal-link-*.eml")) == before:
        assert time.monotonic() < deadline, f"no sign-in mail came for {address}"
        time.sleep(0.3)
    body = sent[-1].get_body(("plain",))
    assert body is not None
    found = _PORTAL_LINK.search(body.get_content())
    assert found, "the sign-in mail carries no link"
    link = urlsplit(found.group(0)).path
    answer = browser.fill(link, link)
    assert location(answer).endswith("/portal")
