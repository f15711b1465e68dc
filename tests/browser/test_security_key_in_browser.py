"""An admin adds a security key in Chromium and signs in with it (issue 16, finding 10).

The key is Chromium's own virtual authenticator (the DevTools protocol's WebAuthn
domain), so the page's script, the browser's WebAuthn and the server's checks all run
as they would with a real key. The site is opened as localhost: browsers take no IP
address as a key's RP ID.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from conservancy.runtime import Runtime
from conservancy.staff.models import Role, SecurityKey
from tests.browser.test_content_policy import WATCH
from tests.giving.conftest import LiveServer
from tests.staff.people import person

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
# Where the pages' pictures go, to look at; a test's own tmp_path when unset.
SHOTS = os.environ.get("CONSERVANCY_SCREENSHOTS")


@pytest.fixture
def site(giving_app: Flask, live: LiveServer) -> str:
    """The live app's address by name, and the app told that it is its address."""
    url = live.url.replace("127.0.0.1", "localhost")
    rt = giving_app.extensions["conservancy"]
    rt.settings = replace(rt.settings, base_url=url)
    return url


def shot(page: Any, tmp_path: Path, name: str) -> None:
    folder = Path(SHOTS) if SHOTS else tmp_path
    page.screenshot(path=str(folder / f"passkeys-{name}.png"), full_page=True)


def test_finding_10_passkey_added_and_used_in_chromium(
    database_url: str, giving_runtime: Runtime, site: str, browser_page: Any, tmp_path: Path
) -> None:
    grace = person(giving_runtime, "grace@example.org", Role.ADMIN, two_factor=False)
    page = browser_page
    page.add_init_script(WATCH)
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )

    def sign_in_with_password() -> None:
        page.goto(f"{site}/sign-in")
        page.get_by_label("E-mail address", exact=True).fill(grace.email)
        page.get_by_label("Password").fill(grace.password)
        page.get_by_role("button", name="Sign in").click()

    # An admin without a second factor is sent to set one up; a key will do.
    sign_in_with_password()
    page.wait_for_url(f"{site}/account/two-factor")
    shot(page, tmp_path, "setup")
    page.get_by_label("Name of the key").fill("Chromium's key")
    page.get_by_role("button", name="Add a security key").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    page.get_by_role("link", name="I have kept them: continue").click()
    page.wait_for_url(f"{site}/admin/")
    page.goto(f"{site}/account/two-factor")
    assert page.get_by_role("heading", name="Two-factor sign-in is on").is_visible()
    assert page.get_by_role("cell", name="Chromium's key").is_visible()
    shot(page, tmp_path, "manage")
    assert page.evaluate("window.__refused") == []

    page.get_by_role("button", name="Sign out").click()
    sign_in_with_password()
    page.wait_for_url(f"{site}/sign-in/code")
    assert page.get_by_role("heading", name="Your security key").is_visible()
    shot(page, tmp_path, "sign-in")
    page.get_by_role("button", name="Use your security key").click()

    page.wait_for_url(f"{site}/admin/")
    assert "Signed in as grace@example.org" in page.content()
    assert page.evaluate("window.__refused") == []
    with giving_runtime.sessions() as session:
        key = session.scalars(select(SecurityKey)).one()
        assert key.name == "Chromium's key"
        assert key.last_used_at is not None
