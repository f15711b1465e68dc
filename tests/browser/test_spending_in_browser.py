"""A project's member asks to be paid, on a phone: signs in, fills the request in, attaches
the receipt as a photo from the phone, and sees the request filed (issue 21)."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from conservancy.expenses.models import RequestStatus, SpendingRequest
from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests import factories
from tests.admin.files import image
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.giving.conftest import LiveServer
from tests.staff.people import PASSWORD, person

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CONSERVANCY_SCREENSHOTS")


@pytest.fixture
def phone(tmp_path: Path) -> Any:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        page = context.new_page()
        page.set_default_timeout(20_000)
        try:
            yield page
        finally:
            page.screenshot(path=str(tmp_path / "last-page.png"), full_page=True)
            context.close()
            browser.close()


def test_a_member_files_a_request_with_a_receipt_on_a_phone(
    giving_runtime: Runtime, live: LiveServer, phone: Any, tmp_path: Path
) -> None:
    rt = giving_runtime
    factories.with_project(rt)
    person(rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    photo = tmp_path / "receipt.jpg"
    photo.write_bytes(image("JPEG", (600, 900)))
    spent = (clock.today(rt.settings.timezone) - timedelta(days=2)).isoformat()

    page = phone
    page.goto(f"{live.url}/sign-in")
    page.fill("#email", "grace@twisted.example")
    page.fill("#password", PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("link", name="Twisted").click()
    page.get_by_role("link", name="Ask to be paid").click()
    assert page.get_by_role("heading", name="Ask to be paid from the Twisted fund").is_visible()

    page.fill("#payee", "Grace Hopper")
    page.fill("#purpose", "Taxi to the Twisted sprint venue")
    page.fill("#lines-0-category", "Travel")
    page.fill("#lines-0-description", "Taxi")
    page.fill("#lines-0-spent_on", spent)
    page.fill("#lines-0-amount", "82.40")
    page.set_input_files("#lines-0-receipt", str(photo))
    fits = page.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert fits, "the form is wider than the phone"
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/spending-filled-390.png", full_page=True)
    page.get_by_role("button", name="File the request").click()

    heading = page.get_by_role("heading", level=2).first
    assert heading.inner_text().endswith(": filed")
    assert "is filed. Twisted's treasurer decides it next." in page.inner_text("body")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/spending-filed-390.png", full_page=True)
    with rt.sessions() as session:
        filed = session.scalars(select(SpendingRequest)).one()
        assert filed.status is RequestStatus.FILED
        assert filed.total == factories.usd("82.40")
        line = filed.lines[0]
        assert line.receipt_type == "image/jpeg"
        assert line.receipt_path is not None
        kept = rt.settings.receipts_dir / line.receipt_path
    assert kept.read_bytes() == photo.read_bytes()
    # The receipt downloads back from the request's page.
    with page.expect_download() as download:
        page.get_by_role("link", name="Download").click()
    assert Path(download.value.path()).read_bytes() == photo.read_bytes()
