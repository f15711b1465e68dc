"""The spending pages as their people use them: a member files with a receipt through the
form, sees the refusals by the line, and follows the request; the treasurer endorses it on
the project's page, the bookkeeper approves it on the sponsor's, and the books hold it."""

from __future__ import annotations

import html
import io
import re
from datetime import date
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from conservancy.expenses.models import RequestStatus, SpendingRequest
from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from conservancy.web.plain_text import ONE_LINE_REFUSED
from tests.admin.books import fund_balance, postings
from tests.admin.files import pdf
from tests.admin.pages import hidden
from tests.factories import settled_gift, with_project
from tests.staff.people import person, sign_in

TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    with_project(with_project(runtime), "sugar", "Sugar Labs")
    for n in range(3):
        settled_gift(runtime, fee="0.00", email=f"donor{n}@example.org")  # Twisted: 270.00
    return runtime


def browser(app: Flask, rt: Runtime, email: str, *roles: Role | tuple[Role, str]) -> FlaskClient:
    client = app.test_client()
    sign_in(client, person(rt, email, *roles, two_factor=True))
    return client


def line_fields(n: int, **kw: object) -> dict[str, object]:
    return {f"lines-{n}-{name}": value for name, value in kw.items()}


def file_form(client: FlaskClient, data: dict[str, object]) -> tuple[int, str, str]:
    """Send the filing form as a browser does; its status, text and where it went."""
    page = client.get("/projects/twisted/expenses/new")
    assert page.status_code == 200, page.text
    sent = client.post(
        "/projects/twisted/expenses/new",
        data={"csrf_token": hidden(page, "csrf_token"), **data},
        content_type="multipart/form-data",
    )
    return sent.status_code, sent.text, sent.headers.get("Location", "")


def message_by(text: str, field: str) -> str:
    """The message a page shows by ``field``."""
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', text)
    assert found, f"no message by {field}"
    return html.unescape(found.group(1))


def decide(
    client: FlaskClient, page_url: str, action: str, decision: str, comment: str = ""
) -> TestResponse:
    page = client.get(page_url)
    assert page.status_code == 200, page.text
    assert 'name="decision"' in page.text, "the page offers no decision"
    return client.post(
        action,
        data={"csrf_token": hidden(page, "csrf_token"), "decision": decision, "comment": comment},
    )


def test_a_member_files_with_a_receipt_the_treasurer_and_the_bookkeeper_approve(
    app: Flask, rt: Runtime
) -> None:
    member = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    ticket = pdf()  # Pillow dates each PDF it writes: this one file, sent and fetched back
    status, text, location = file_form(
        member,
        {
            "kind": "reimbursement",
            "payee": "Grace Hopper",
            "purpose": "Sprint at PyCon",
            **line_fields(
                0,
                category="Travel",
                description="Train",
                spent_on="2026-03-07",
                amount="120.00",
                receipt=(io.BytesIO(ticket), "ticket.pdf"),
            ),
            **line_fields(
                1, category="Meals", description="Lunch", spent_on="2026-03-07", amount="18.50"
            ),
        },
    )
    assert status == 303, text
    request_id = int(location.rsplit("/", 1)[1])
    shown = member.get(location)
    assert f"REQ-{request_id}: filed" in shown.text
    assert "$138.50" in shown.text
    assert "decides this request; you hear by e-mail" in shown.text
    assert 'name="decision"' not in shown.text  # nobody decides their own
    receipt = member.get(f"/projects/twisted/expenses/{request_id}/receipts/1")
    assert receipt.status_code == 200
    assert receipt.mimetype == "application/pdf"
    assert receipt.headers["Content-Disposition"].startswith("attachment")
    assert receipt.data == ticket
    # The member sees the request in their list, and none of the fund's pages.
    listing = member.get("/projects/twisted/expenses/")
    assert f"REQ-{request_id}" in listing.text
    assert "Overview" not in listing.text
    assert member.get("/treasurer/twisted/").status_code == 404

    treasurer = browser(app, rt, "glyph@twisted.example", (Role.TREASURER, "twisted"))
    shown = treasurer.get("/treasurer/twisted/")
    assert shown.status_code == 200, shown.text[:2000]
    dashboard = shown.text
    assert "1 waiting for Twisted's decision, 0 with the sponsor" in dashboard
    url = f"/projects/twisted/expenses/{request_id}"
    answer = decide(treasurer, url, f"{url}/decision", "approve", "Thanks, Grace.")
    assert answer.status_code == 303
    assert f"REQ-{request_id}: endorsed" in treasurer.get(url).text

    bookkeeper = browser(app, rt, "books@sponsor.example", Role.BOOKKEEPER)
    waiting = bookkeeper.get("/admin/spending/")
    assert f"REQ-{request_id}" in waiting.text
    admin_url = f"/admin/spending/{request_id}"
    answer = decide(bookkeeper, admin_url, f"{admin_url}/decision", "approve")
    assert answer.status_code == 303
    assert f"REQ-{request_id}, Twisted: approved" in bookkeeper.get(admin_url).text
    assert postings(rt, f"spending-{request_id}") == {
        "Expenses:Twisted:Travel": Decimal("120.00"),
        "Expenses:Twisted:Meals": Decimal("18.50"),
        "Liabilities:Payable:Twisted": Decimal("-138.50"),
    }
    assert fund_balance(rt, "Twisted") == Decimal("131.50")
    assert (
        "Approved and not yet paid: <strong>$138.50</strong>"
        in treasurer.get("/projects/twisted/expenses/").text
    )
    dashboard = treasurer.get("/treasurer/twisted/").text
    assert "0 waiting for Twisted's decision, 0 with the sponsor" in dashboard
    assert "approved and not yet paid: $138.50" in dashboard


def test_unreadable_fields_come_back_with_their_messages_and_nothing_is_filed(
    app: Flask, rt: Runtime
) -> None:
    member = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    status, text, _ = file_form(
        member,
        {
            "kind": "reimbursement",
            "payee": "Grace Hopper",
            "purpose": "Sprint",
            **line_fields(0, category="Meals", spent_on="2026-03-07", amount="twelve"),
            **line_fields(1, category="Meals\x00", spent_on="2026-03-07", amount="5.00"),
            **line_fields(2, category="Meals", spent_on="7 March", amount="5.00"),
        },
    )
    assert status == 400
    assert message_by(text, "lines-0-amount") == "Write the amount as 12.50."
    assert message_by(text, "lines-1-category") == ONE_LINE_REFUSED
    assert message_by(text, "lines-2-spent_on") == "Give the day as on a calendar: 2026-03-05."
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SpendingRequest)) == 0


def test_policy_refusals_land_by_their_lines(app: Flask, rt: Runtime) -> None:
    member = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    status, text, _ = file_form(
        member,
        {
            "kind": "reimbursement",
            "payee": "Grace Hopper",
            "purpose": "Sprint",
            **line_fields(0, category="Travel", spent_on="2026-03-07", amount="80.00"),
            **line_fields(1, category="Lodging", spent_on="2026-03-07", amount="40.00"),
            **line_fields(2, category="Meals", spent_on="2025-12-01", amount="12.00"),
        },
    )
    assert status == 400
    assert message_by(text, "lines-0-receipt") == (
        "Attach the receipt: a line of $75.00 or more needs its receipt."
    )
    assert message_by(text, "lines-1-receipt") == (
        "Attach the receipt: lodging needs its receipt, whatever it cost."
    )
    assert message_by(text, "lines-2-spent_on").startswith("This was spent on 2025-12-01")
    assert 'value="80.00"' in text  # what was typed comes back
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SpendingRequest)) == 0


def test_add_a_line_sends_the_form_back_one_row_longer(app: Flask, rt: Runtime) -> None:
    member = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    status, text, _ = file_form(
        member,
        {"add_line": "1", "payee": "Grace", **line_fields(0, category="Travel", amount="3.00")},
    )
    assert status == 200
    assert text.count("<legend>Line ") == 4
    assert 'value="Travel"' in text
    assert "attach each receipt again" in text
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SpendingRequest)) == 0


def test_a_treasurers_own_request_is_decided_by_the_sponsor_not_by_them(
    app: Flask, rt: Runtime
) -> None:
    treasurer = browser(app, rt, "glyph@twisted.example", (Role.TREASURER, "twisted"))
    status, text, location = file_form(
        treasurer,
        {
            "kind": "reimbursement",
            "payee": "Glyph",
            "purpose": "Hosting",
            **line_fields(0, category="Hosting", spent_on="2026-03-01", amount="20.00"),
        },
    )
    assert status == 303, text
    request_id = int(location.rsplit("/", 1)[1])
    assert 'name="decision"' not in treasurer.get(location).text
    refused = treasurer.post(
        f"{location}/decision",
        data={
            "csrf_token": hidden(treasurer.get(location), "csrf_token"),
            "decision": "approve",
        },
    )
    assert refused.status_code == 403
    assert "Nobody approves their own request" in refused.text
    admin = browser(app, rt, "admin@sponsor.example", Role.ADMIN)
    assert f"REQ-{request_id}" in admin.get("/admin/spending/").text
    with rt.sessions() as session:
        found = session.get(SpendingRequest, request_id)
        assert found is not None
        assert found.status is RequestStatus.FILED


def test_the_treasurer_invites_a_member_who_gets_a_link_by_mail(app: Flask, rt: Runtime) -> None:
    from conservancy.mail.models import MailMessage
    from conservancy.staff.models import StaffUser
    from conservancy.staff.service import find_user

    treasurer = browser(app, rt, "glyph@twisted.example", (Role.TREASURER, "twisted"))
    page = "/projects/twisted/expenses/members"
    shown = treasurer.get(page)
    invited = treasurer.post(
        page,
        data={
            "csrf_token": hidden(shown, "csrf_token"),
            "email": "Ada@Example.org",
            "name": "Ada Lovelace",
        },
    )
    assert invited.status_code == 303
    listing = treasurer.get(page).text
    assert "Ada Lovelace (ada@example.org)" in listing
    assert "sign-in link is on its way" in listing
    assert "/sign-in/link/" not in listing  # the link goes by mail, never on the page
    with rt.sessions() as session:
        ada = find_user(session, "ada@example.org")
        assert ada is not None
        assert [(r.role, r.project_id is not None) for r in ada.roles] == [(Role.MEMBER, True)]
        mailed = session.scalars(
            select(MailMessage).where(MailMessage.to_address == "ada@example.org")
        ).one()
    assert "/sign-in/link/" in mailed.body
    # Removed, Ada keeps her account but not the role; the form is the page's own.
    listing_page = treasurer.get(page)
    removed = treasurer.post(
        f"{page}/{ada.id}/remove", data={"csrf_token": hidden(listing_page, "csrf_token")}
    )
    assert removed.status_code == 303
    assert "ada@example.org is no longer a member of Twisted" in treasurer.get(page).text
    with rt.sessions() as session:
        still = find_user(session, "ada@example.org")
        assert still is not None
        assert still.roles == []
    assert treasurer.post(f"{page}/{ada.id}/remove", data={}).status_code == 400  # no token
    # A member sees no members page; a deactivated account is not woken by an invitation.
    member = browser(app, rt, "grace@twisted.example", (Role.MEMBER, "twisted"))
    assert member.get(page).status_code == 404
    gone = person(rt, "gone@example.org", Role.AUDITOR)
    with rt.sessions() as session:
        user = session.get(StaffUser, gone.id)
        assert user is not None
        user.active = False
        session.commit()
    refused = treasurer.post(
        page,
        data={"csrf_token": hidden(treasurer.get(page), "csrf_token"), "email": "gone@example.org"},
    )
    assert refused.status_code == 400
    assert "ask the sponsor&#39;s staff" in refused.text
    with rt.sessions() as session:
        still = find_user(session, "gone@example.org")
        assert still is not None
        assert not still.active
        assert [r.role for r in still.roles] == [Role.AUDITOR]
