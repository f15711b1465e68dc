"""A bookkeeper reconciles the bank account in Chromium (issue 22): uploads the month's
statement through the file picker, sees the cheques' deposit matched and the bank's fee
proposed, books the fee with the narration they choose, and the page says the account is
reconciled through the statement's last day."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from conservancy.bank.statement import Statement, StatementLine
from conservancy.kernel import clock
from conservancy.money import Currency, Money
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.pages import signed_in
from tests.bank.statements import to_camt053
from tests.browser.conftest import CHROMIUM, FLAGS
from tests.giving.conftest import LiveServer

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("CONSERVANCY_SCREENSHOTS")


@pytest.fixture
def desk() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (.ci/run installs it)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def usd(text: str) -> Money:
    return Money.parse(text, "USD")


def test_a_bookkeeper_reconciles_a_month_in_the_browser(
    giving_runtime: Runtime, giving_app: Flask, live: LiveServer, desk: Any, tmp_path: Path
) -> None:
    rt = giving_runtime
    factories.with_project(rt)
    today = clock.today(rt.settings.timezone)
    end = today - timedelta(days=1)
    factories.cheque(rt, "Grace Hopper", "150.00", end - timedelta(days=6))
    factories.cheque(rt, "Alan Kay", "75.50", end - timedelta(days=5))
    statement = Statement(
        format="",
        account_number="DE89370400440532013000",
        currency=Currency.USD,
        start=end - timedelta(days=9),
        end=end,
        opening=usd("0.00"),
        closing=usd("213.50"),
        lines=(
            StatementLine("C-1", end - timedelta(days=4), usd("225.50"), "", "CHEQUE DEPOSIT"),
            StatementLine("C-2", end, -usd("12.00"), "", "ACCOUNT MAINTENANCE FEE"),
        ),
    )
    path = tmp_path / "november.xml"
    path.write_bytes(to_camt053(statement))
    admin = signed_in(giving_app, rt, "admin")
    cookie = admin.get_cookie("session")
    assert cookie is not None

    context = desk.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": "session", "value": cookie.value, "url": live.url}])
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto(f"{live.url}/admin/")
    page.get_by_role("link", name="Bank reconciliation").click()
    assert page.get_by_role("heading", name="Bank reconciliation", level=1).is_visible()
    page.set_input_files("#statement", str(path))
    page.get_by_role("button", name="Import").click()

    notice = page.get_by_text("2 lines, 2 new, 1 matched to the books, 1 waiting for a decision")
    assert notice.is_visible()
    assert page.get_by_text("ACCOUNT MAINTENANCE FEE").first.is_visible()
    account = page.get_by_label("Other account")
    assert account.input_value() == "Expenses:General:Bank-Fees"
    page.get_by_label("Narration").fill("Account fee, November")
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/bank-waiting-1280.png", full_page=True)
    page.get_by_role("button", name="Book it").click()

    assert page.get_by_text(f"Asserted the balance at the end of {end}.").is_visible()
    assert page.get_by_text("Nothing is waiting").is_visible()
    facts = page.locator("dl.portal-facts").inner_text()
    assert f"Reconciled through {end}" in " ".join(facts.split())
    matched = page.locator("table").last.inner_text()
    assert "CHEQUE DEPOSIT" in matched
    assert "Grace Hopper" in matched
    assert "Alan Kay" in matched
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/bank-reconciled-1280.png", full_page=True)

    phone = desk.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone.add_cookies([{"name": "session", "value": cookie.value, "url": live.url}])
    small = phone.new_page()
    small.goto(f"{live.url}/admin/bank")
    fits = small.evaluate(
        "document.documentElement.scrollWidth <= document.documentElement.clientWidth"
    )
    assert fits, "the page is wider than a phone"
    if SHOTS:
        small.screenshot(path=f"{SHOTS}/bank-390.png", full_page=True)
    phone.close()
    context.close()
