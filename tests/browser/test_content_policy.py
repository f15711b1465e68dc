"""Our pages under their Content-Security-Policy, in a browser: nothing they use is refused
(the brand colours are style attributes), and a page of another site cannot frame them."""

from __future__ import annotations

from typing import Any

import pytest

from conservancy.runtime import Runtime
from tests import factories
from tests.giving.conftest import LiveServer

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]

# Collects what the policy refuses on each page (run by the browser, not by the page,
# whose own scripts the policy forbids).
WATCH = """
window.__refused = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__refused.push(e.violatedDirective + " " + e.blockedURI));
"""


def test_our_pages_use_nothing_their_policy_refuses(
    database_url: str, giving_runtime: Runtime, live: LiveServer, browser_page: Any
) -> None:
    with giving_runtime.sessions() as session:
        factories.project(session)
        session.commit()
    giving_runtime.post_ledger()
    page = browser_page
    page.add_init_script(WATCH)

    for path in ("/", "/donate/twisted", "/ways-to-give", "/portal", "/sign-in"):
        page.goto(f"{live.url}{path}")
        page.wait_for_load_state("load")
        assert page.evaluate("window.__refused") == [], path
    brand = page.evaluate("getComputedStyle(document.documentElement).getPropertyValue('color')")
    assert brand  # the stylesheet applied

    page.goto(f"{live.url}/")
    colour = page.evaluate(
        "getComputedStyle(document.querySelector('li.project')).getPropertyValue('--brand')"
    )
    assert colour.strip()  # the project's colour, set by a style attribute, took effect


def test_another_site_cannot_frame_the_donation_form(
    database_url: str, giving_runtime: Runtime, live: LiveServer, browser_page: Any
) -> None:
    with giving_runtime.sessions() as session:
        factories.project(session)
        session.commit()
    page = browser_page
    page.add_init_script(WATCH)
    # A page of another origin (about:blank's opaque one) framing the form.
    page.set_content(f'<iframe id="f" src="{live.url}/donate/twisted"></iframe>')
    page.wait_for_timeout(1500)  # a bound on waiting for the frame, not a claim on speed
    framed = page.frame_locator("#f")
    assert framed.locator("form.donate-form").count() == 0
