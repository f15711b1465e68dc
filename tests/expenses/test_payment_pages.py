"""Paying through the pages: a requester gives their W-9 and bank details (never shown back
whole), the bookkeeper prepares a run, downloads what the bank needs, and marks it paid."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.expenses.models import PaymentDetails, PaymentRun, RequestStatus, SpendingRequest
from conservancy.infra.config import Settings, WireInstructions
from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.admin.books import assert_books_clean, postings
from tests.admin.pages import hidden
from tests.expenses.test_requests import TODAY, approve, asked, endorse, line
from tests.expenses.test_requests import file as file_request
from tests.expenses.test_requests import person as staff_person
from tests.expenses.test_spending_pages import browser, message_by
from tests.factories import settled_gift, with_project

DETAILS = {
    "legal_name": "Grace B. Hopper",
    "tax_class": "individual",
    "tin_kind": "ssn",
    "tin": "987-65-4321",
    "address": "1 Navy Yard\r\nArlington, VA 22202",
    "method": "ach",
    "routing_number": "021000021",
    "account_number": "000555123987",
    "account_type": "checking",
    "certified": "y",
}


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The sponsor's bank is known, as the ACH file needs."""
    bank = WireInstructions(
        bank="First Bank of Brooklyn\n1 Main St", routing_number="026009593", account_number="1"
    )
    return replace(settings, wire=bank)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    with_project(runtime)
    for n in range(3):
        settled_gift(runtime, fee="0.00", email=f"donor{n}@example.org")  # Twisted: 270.00
    return runtime


def send(client: FlaskClient, page: str, action: str, data: dict[str, object]) -> object:
    shown = client.get(page)
    assert shown.status_code == 200, shown.text
    return client.post(action, data={"csrf_token": hidden(shown, "csrf_token"), **data})


def test_a_requester_gives_their_w9_and_bank_and_sees_only_the_last_four(
    app: Flask, rt: Runtime
) -> None:
    grace = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    page = "/account/payment-details"
    refused = send(grace, page, page, {**DETAILS, "tin": "12345", "certified": ""})
    assert refused.status_code == 400  # type: ignore[attr-defined]
    text = refused.text  # type: ignore[attr-defined]
    assert message_by(text, "tin") == "A taxpayer identification number has nine digits."
    assert message_by(text, "certified") == "Certify the statements of Form W-9 to be paid."
    with rt.sessions() as session:
        assert session.scalars(select(PaymentDetails)).all() == []

    saved = send(grace, page, page, DETAILS)
    assert saved.status_code == 303  # type: ignore[attr-defined]
    shown = grace.get(page).text
    assert "SSN ***-**-4321" in shown
    assert "account ending 3987" in shown
    assert "987654321" not in shown.replace("-", "")
    assert "000555123987" not in shown
    # Sponsor staff file no requests, so they have no payment details page.
    admin = browser(app, rt, "admin@sponsor.example", Role.ADMIN)
    assert admin.get(page).status_code == 404


def test_the_bookkeeper_pays_a_run_by_ach_and_the_books_hold_it_once(
    app: Flask, rt: Runtime
) -> None:
    grace = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    send(grace, "/account/payment-details", "/account/payment-details", DETAILS)
    member = staff_person(rt, "grace@twisted.example", "member", "twisted")
    treasurer = staff_person(rt, "glyph@twisted.example", "treasurer", "twisted")
    books = staff_person(rt, "approver@sponsor.example", "bookkeeper")
    request_id = file_request(rt, member, asked(line("Travel", "60.00")))
    endorse(rt, treasurer, request_id)
    approve(rt, books, request_id)

    bookkeeper = browser(app, rt, "books@sponsor.example", Role.BOOKKEEPER)
    waiting = bookkeeper.get("/admin/spending/payments")
    assert f"REQ-{request_id}" in waiting.text
    assert ">ach<" in waiting.text
    prepared = send(
        bookkeeper,
        "/admin/spending/payments",
        "/admin/spending/payments",
        {"method": "ach", "request": str(request_id)},
    )
    assert prepared.status_code == 303, prepared.text  # type: ignore[attr-defined]
    run_url = prepared.headers["Location"]  # type: ignore[attr-defined]
    ach = bookkeeper.get(f"{run_url}/ach.txt")
    assert ach.status_code == 200
    assert ach.headers["Content-Disposition"].startswith("attachment")
    records = ach.text.splitlines()
    assert all(len(r) == 94 for r in records)
    entry = next(r for r in records if r.startswith("6"))
    assert entry[12:29].strip() == "000555123987"  # the bank gets the whole number
    assert entry[29:39] == "0000006000"
    paid = send(bookkeeper, run_url, f"{run_url}/paid", {"paid_on": TODAY.isoformat()})
    assert paid.status_code == 303, paid.text  # type: ignore[attr-defined]
    assert f"paid on {TODAY.isoformat()}" in bookkeeper.get(run_url).text
    assert postings(rt, f"spending-{request_id}-paid") == {
        "Liabilities:Payable:Twisted": Decimal("60.00"),
        "Assets:Bank:Checking": Decimal("-60.00"),
    }
    again = bookkeeper.post(
        f"{run_url}/paid",
        data={"csrf_token": hidden(bookkeeper.get(run_url), "csrf_token"), "paid_on": "2026-03-10"},
    )
    assert again.status_code == 400
    assert "marked paid already" in again.text
    assert_books_clean(rt)
    with rt.sessions() as session:
        assert session.get(SpendingRequest, request_id).status is RequestStatus.PAID  # type: ignore[union-attr]
        assert session.scalars(select(PaymentRun)).one().paid_on == TODAY
    register = bookkeeper.get(f"{run_url}/register.csv")
    assert "000555123987" not in register.text
    assert "ending 3987" in register.text
