"""A headless Debian chromium, driven by Playwright. Never `playwright install`:
.ci/run installs Debian's chromium when it is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The giving fixtures: a stand-in, and the app served over HTTP with webhooks to it.
from tests.giving.conftest import (  # noqa: F401
    giving_app,
    giving_runtime,
    giving_settings,
    live,
    standin,
)

CHROMIUM = Path("/usr/bin/chromium")
# Without the networking flags chromium tries to reach Google's services, which this
# sandbox refuses, many times over.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(viewport={"width": 412, "height": 915})  # a phone
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
            context.close()
            browser.close()
