"""The ways-to-give pages: cheque, wire, stock and donor-advised-fund grants, the sponsor's
and each project's, with the sponsor's real name, EIN and address and never a made-up number."""

from __future__ import annotations

import html
from dataclasses import replace

import pytest
from flask.testing import FlaskClient

from conservancy.infra.config import Settings, SettingsError, StockInstructions, WireInstructions
from conservancy.runtime import Runtime
from tests import factories

WIRE = WireInstructions(
    bank="First Example Bank, 5 Wall Street, New York, NY 10005",
    routing_number="021000021",
    account_number="7777123456",
    swift="FEXBUS33",
)
STOCK = StockInstructions(broker="Example Brokerage", dtc_number="0226", account_number="Z98-76543")


def _page(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def twisted(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        factories.project(session).primary_colour = "#123456"
        factories.project(session, slug="gone", name="Gone Project").active = False
        session.commit()


@pytest.mark.usefixtures("twisted")
def test_a_projects_page_names_the_sponsor_and_the_project_for_each_way(
    client: FlaskClient,
) -> None:
    page = _page(client, "/donate/twisted/ways-to-give")
    assert "Ways to give to Twisted" in page
    assert "payable to <strong>Test Sponsor, Inc.</strong>" in page
    assert "write\n      <strong>Twisted</strong> in the memo line" in page
    assert "1 Main Street<br>Brooklyn, NY 11201" in page
    assert "<dt>EIN</dt><dd>12-3456789</dd>" in page
    assert "<dd>For Twisted</dd>" in page  # the grant letter's purpose
    assert "--brand: #123456" in page  # branded like its donation page
    assert "not a tax receipt" in page


@pytest.mark.usefixtures("twisted")
def test_without_bank_or_brokerage_settings_the_pages_say_to_ask_and_show_no_numbers(
    client: FlaskClient,
) -> None:
    for url in ("/ways-to-give", "/donate/twisted/ways-to-give"):
        page = _page(client, url)
        assert "Ask us for our wire instructions" in page
        assert "Ask us for our brokerage's transfer instructions" in page
        assert "Routing number" not in page
        assert "DTC number" not in page


@pytest.mark.usefixtures("twisted")
def test_configured_wire_and_stock_details_are_shown_as_set(
    runtime: Runtime, client: FlaskClient
) -> None:
    runtime.settings = replace(runtime.settings, wire=WIRE, stock=STOCK)
    page = _page(client, "/donate/twisted/ways-to-give")
    for shown in (WIRE.bank, "021000021", "7777123456", "FEXBUS33", "Example Brokerage"):
        assert shown in page
    assert "<dt>DTC number</dt><dd>0226</dd>" in page
    assert "<dt>Reference</dt><dd>Twisted and your name</dd>" in page
    assert "Ask us" not in page


@pytest.mark.usefixtures("twisted")
def test_the_sponsors_page_names_the_sponsor_and_no_project(client: FlaskClient) -> None:
    page = _page(client, "/ways-to-give")
    assert "payable to <strong>Test Sponsor, Inc.</strong>" in page
    assert "memo line" not in page
    assert "12-3456789" in page
    assert "1 Main Street<br>Brooklyn, NY 11201" in page
    assert "<dd>General support</dd>" in page


@pytest.mark.usefixtures("twisted")
def test_unknown_or_inactive_projects_have_no_ways_to_give_page(client: FlaskClient) -> None:
    assert client.get("/donate/nosuch/ways-to-give").status_code == 404
    assert client.get("/donate/gone/ways-to-give").status_code == 404


@pytest.mark.usefixtures("twisted")
def test_the_sponsors_page_and_the_donation_page_link_to_the_ways_to_give(
    client: FlaskClient,
) -> None:
    assert 'href="/ways-to-give"' in _page(client, "/")
    assert 'href="/donate/twisted/ways-to-give"' in _page(client, "/")
    assert 'href="/donate/twisted/ways-to-give"' in _page(client, "/donate/twisted")


def test_wire_and_stock_settings_are_read_together_or_not_at_all() -> None:
    settings = Settings.from_env(
        {
            "CONSERVANCY_WIRE_BANK": "First Example Bank",
            "CONSERVANCY_WIRE_ROUTING_NUMBER": "021000021",
            "CONSERVANCY_WIRE_ACCOUNT_NUMBER": "7777123456",
            "CONSERVANCY_STOCK_BROKER": "Example Brokerage",
            "CONSERVANCY_STOCK_DTC_NUMBER": "0226",
            "CONSERVANCY_STOCK_ACCOUNT_NUMBER": "Z98-76543",
        }
    )
    assert settings.wire == WireInstructions("First Example Bank", "021000021", "7777123456")
    assert settings.stock == STOCK
    assert Settings.from_env({}).wire is None
    with pytest.raises(SettingsError, match="CONSERVANCY_WIRE_ACCOUNT_NUMBER is not set"):
        Settings.from_env(
            {"CONSERVANCY_WIRE_BANK": "B", "CONSERVANCY_WIRE_ROUTING_NUMBER": "021000021"}
        )
    with pytest.raises(SettingsError, match="CONSERVANCY_STOCK_DTC_NUMBER"):
        Settings.from_env(
            {
                "CONSERVANCY_STOCK_BROKER": "B",
                "CONSERVANCY_STOCK_DTC_NUMBER": "12",
                "CONSERVANCY_STOCK_ACCOUNT_NUMBER": "1",
            }
        )
