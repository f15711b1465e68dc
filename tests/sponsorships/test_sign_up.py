"""The sponsor sign-up form, and paying its invoice by card, through the pages."""

from __future__ import annotations

import re
import urllib.parse
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.ledger.models import LedgerOutbox
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import CorporateSponsor, InvoiceStatus, SponsorshipInvoice
from conservancy.standin import StandIn
from tests.admin.pages import error_by, send, signed_in
from tests.giving.conftest import LiveServer
from tests.giving.flows import GOOD_CARD, post, settle_webhooks
from tests.snapshot import snapshot
from tests.sponsorships.sponsors import gold_level, invoice

FORM = "/donate/twisted/sponsor"
ADMIN = "/admin/sponsorships"
ONE_LINE = "This field may not contain control characters, tabs or line breaks."
LINES = "This field may not contain control characters (line breaks and tabs are fine)."


def _token(client: FlaskClient) -> str:
    page = client.get(FORM)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def _valid(level_id: int) -> dict[str, str]:
    return {
        "level": str(level_id),
        "company_name": "Acme Widgets, Inc.",
        "contact_name": "Wile E. Coyote",
        "email": "wile@acme.example",
        "address": "1 Desert Road\nPhoenix, AZ 85001",
    }


def _written(rt: Runtime) -> tuple[int, int, int, int]:
    with rt.sessions() as session:
        return (
            session.scalar(select(func.count()).select_from(CorporateSponsor)) or 0,
            session.scalar(select(func.count()).select_from(SponsorshipInvoice)) or 0,
            session.scalar(select(func.count()).select_from(LedgerOutbox)) or 0,
            session.scalar(select(func.count()).select_from(MailMessage)) or 0,
        )


def test_sign_up_books_nothing_until_staff_approve_then_the_card_payment_clears_it(
    giving_runtime: Runtime, giving_app: Flask, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    level_id = gold_level(rt)
    before = _written(rt)
    client = giving_app.test_client()
    page = client.post(FORM, data={**_valid(level_id), "csrf_token": _token(client)})
    assert page.status_code == 200, page.text
    assert "We will send your invoice once our staff confirm the sponsorship." in page.text
    assert "INV-" not in page.text
    # The company is recorded; no invoice, no entry for the books, no e-mail.
    assert _written(rt) == (before[0] + 1, before[1], before[2], before[3])
    assert rt.books.load().account_balance("Assets:Receivable:Sponsorships") == Decimal("0")

    staff = signed_in(giving_app, rt, "bookkeeper")
    listed = re.search(r'href="(/admin/sponsorships/requests/\d+)"', staff.get(ADMIN).text)
    assert listed, "the request is not listed for staff"
    approved = send(staff, listed.group(1), f"{listed.group(1)}/approve", {})
    assert approved.status_code == 303, approved.text
    number = approved.location.rsplit("/", 1)[-1]
    assert re.fullmatch(r"INV-\d{4}-0001", number)
    assert rt.books.load().account_balance("Assets:Receivable:Sponsorships") == Decimal("10000.00")
    page = f"{FORM}/{invoice(rt, number).public_token}"  # the address the sponsor is sent
    assert "Pay $10,000.00 by card" in client.get(page).text

    paying = client.post(f"{page}/pay", data={"csrf_token": _token(client)})
    assert paying.status_code == 303
    session_id = urllib.parse.urlparse(paying.location).path.rsplit("/", 1)[-1]
    assert post(f"{standin.url}/_standin/checkout/{session_id}/pay", card_number=GOOD_CARD) == 303
    settle_webhooks(rt, standin)

    assert invoice(rt, number).status is InvoiceStatus.PAID
    assert rt.books.load().account_balance("Assets:Receivable:Sponsorships") == Decimal("0")
    assert "This invoice is paid" in client.get(page).text


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("level", "", "Choose one of the levels offered."),
        ("level", "999", "Choose one of the levels offered."),
        ("company_name", "", "Enter the company's name, as the invoice should show it."),
        ("contact_name", "", "Enter the name of the person we should write to."),
        ("email", "", "Enter the e-mail address the invoice should go to."),
        ("email", "not-an-address", "Enter an e-mail address, such as ap@example.com."),
        ("address", "  ", "Enter the billing address for the invoice."),
    ],
)
def test_bad_sign_up_shows_the_form_again_and_writes_nothing(
    giving_runtime: Runtime, giving_app: Flask, field: str, value: str, message: str
) -> None:
    rt = giving_runtime
    level_id = gold_level(rt)
    before = _written(rt)
    client = giving_app.test_client()
    data = {**_valid(level_id), field: value, "csrf_token": _token(client)}
    page = client.post(FORM, data=data)
    assert page.status_code == 400
    assert error_by(page, field).startswith(message)
    assert _written(rt) == before


@pytest.mark.parametrize(
    ("field", "typed", "message"),
    [
        ("company_name", "Acme\x00 Widgets", ONE_LINE),
        ("contact_name", "Wile\tE. Coyote", ONE_LINE),
        ("email", "wile\x00@acme.example", ONE_LINE),
        ("address", "1 Desert Road\x00\nPhoenix", LINES),
    ],
)
def test_a_control_character_is_refused_by_its_field_and_no_request_is_written(
    giving_runtime: Runtime, giving_app: Flask, field: str, typed: str, message: str
) -> None:
    """A NUL in the company's name used to end in a 500 on PostgreSQL."""
    rt = giving_runtime
    level_id = gold_level(rt)
    before = snapshot(rt)
    client = giving_app.test_client()

    page = client.post(FORM, data={**_valid(level_id), field: typed, "csrf_token": _token(client)})

    assert page.status_code == 400
    assert error_by(page, field) == message
    assert snapshot(rt) == before  # no company, request, invoice, entry or mail


def test_the_form_asks_in_the_donation_forms_design_and_names_where_to_write(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    """Each level is a radio with its own label; the e-mail field is one a phone offers
    its e-mail keyboard for; and a company with a question learns where to write."""
    level_id = gold_level(giving_runtime)
    page = giving_app.test_client().get(FORM).text
    assert f'<input class="choice-radio" type="radio" id="level-{level_id}" name="level"' in page
    card = rf'<label class="level-card" for="level-{level_id}">(.*?)</label>'
    label = re.search(card, page, re.S)
    assert label, page
    assert "$10,000.00 a year" in label.group(1)
    assert re.search(r'<input id="email" name="email" type="email" autocomplete="email"', page)
    assert '<button class="button donate-submit" type="submit">Ask to sponsor</button>' in page
    contact = giving_runtime.settings.sender_address
    assert f'Questions first? Write to us at <a href="mailto:{contact}">' in page


def test_a_bad_sign_up_says_so_above_the_form_and_keeps_what_was_typed(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    level_id = gold_level(giving_runtime)
    client = giving_app.test_client()
    data = {**_valid(level_id), "contact_name": "", "csrf_token": _token(client)}
    page = client.post(FORM, data=data)
    assert page.status_code == 400
    assert 'role="alert"' in page.text
    assert "Please correct the fields marked below." in page.text
    assert 'value="Acme Widgets, Inc."' in page.text
    assert f'id="level-{level_id}" name="level" value="{level_id}" checked' in page.text
    marked = r'id="contact_name"[^>]*aria-describedby="contact_name-error" aria-invalid="true"'
    assert re.search(marked, page.text)


def test_sign_up_without_csrf_token_is_refused(giving_runtime: Runtime, giving_app: Flask) -> None:
    rt = giving_runtime
    level_id = gold_level(rt)
    before = _written(rt)
    page = giving_app.test_client().post(FORM, data=_valid(level_id))
    assert page.status_code == 400
    assert _written(rt) == before


def test_unknown_project_has_no_sign_up_form(giving_app: Flask) -> None:
    assert giving_app.test_client().get("/donate/nothing/sponsor").status_code == 404


def test_a_bot_filling_the_hidden_field_records_nothing(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    rt = giving_runtime
    level_id = gold_level(rt)
    before = _written(rt)
    client = giving_app.test_client()

    page = client.post(
        FORM,
        data={**_valid(level_id), "website": "http://spam.example", "csrf_token": _token(client)},
    )

    assert page.status_code == 400
    assert "We could not accept this form." in page.text
    assert _written(rt) == before


def test_sign_ups_past_the_limit_are_refused_and_book_nothing(
    giving_runtime: Runtime, giving_app: Flask
) -> None:
    """Each request is one for staff to read: one client cannot pile them up."""
    rt = giving_runtime
    level_id = gold_level(rt)
    client = giving_app.test_client()
    for n in range(3):
        data = {**_valid(level_id), "company_name": f"Acme {n}", "csrf_token": _token(client)}
        assert client.post(FORM, data=data).status_code == 200
    before = _written(rt)

    page = client.post(FORM, data={**_valid(level_id), "csrf_token": _token(client)})

    assert page.status_code == 429
    assert "too many sign-ups" in page.text
    assert _written(rt) == before  # no sponsor, invoice, entry or mail more
