"""The gift pages as staff use them: entering a cheque, finding a gift, refunding it."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.donations.models import Donation, Gift, OfflineRefund, Refund
from conservancy.ledger.models import LedgerOutbox
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.books import assert_books_clean, fund_balance
from tests.admin.pages import RefundingGateway, error_by, send, signed_in
from tests.factories import settled_gift
from tests.portal.donor import csrf_token
from tests.receipts.pdfs import pdf_text, requires_weasyprint

OFFLINE = "/admin/gifts/offline"
CHEQUE = {
    "project": "twisted",
    "amount": "250.00",
    "received_on": "2026-03-02",
    "method": "cheque",
    "reference": "1234",
    "name": "Grace Hopper",
    "email": "grace@example.org",
    "address": "1 Navy Yard\nArlington",
    "visibility": "public",
}


@pytest.fixture
def bookkeeper(app: Flask, rt: Runtime) -> FlaskClient:
    return signed_in(app, rt, "bookkeeper")


def count(rt: Runtime, model: type[object]) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def only_gift(rt: Runtime) -> Gift:
    with rt.sessions() as session:
        gift = session.scalars(select(Gift)).one()
        _ = gift.donation.donor
        session.expunge_all()
        return gift


def test_a_bookkeeper_enters_a_cheque_and_lands_on_its_gift_with_its_receipt(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    answer = send(bookkeeper, OFFLINE, OFFLINE, CHEQUE)
    assert answer.status_code == 303
    gift = only_gift(rt)
    assert answer.headers["Location"] == f"/admin/gifts/{gift.id}"
    page = bookkeeper.get(answer.headers["Location"])
    assert "Recorded $250.00 for Twisted. Its receipt is on its way to the donor." in page.text
    assert "Cheque no. 1234, entered by bookkeeper@example.org" in page.text
    assert "2026-000001" in page.text
    with rt.sessions() as session:
        assert (
            session.scalar(
                select(func.count())
                .select_from(LedgerOutbox)
                .where(LedgerOutbox.posted_at.is_(None))
            )
            == 0
        ), "the page posts what it recorded"
        actions = session.scalars(select(AuditEntry.action)).all()
    assert "gift.entered" in actions
    assert fund_balance(rt, "Twisted") == Decimal("225.00")
    assert_books_clean(rt)


def test_the_cheque_form_sent_twice_records_one_gift(rt: Runtime, bookkeeper: FlaskClient) -> None:
    page = bookkeeper.get(OFFLINE)
    first = send(bookkeeper, OFFLINE, OFFLINE, CHEQUE, keep=page)
    second = send(bookkeeper, OFFLINE, OFFLINE, CHEQUE, keep=page)
    assert second.status_code == 303
    assert second.headers["Location"] == first.headers["Location"]
    assert "sent before and acted on once" in bookkeeper.get(second.headers["Location"]).text
    assert (count(rt, Donation), count(rt, Gift), count(rt, Receipt)) == (1, 1, 1)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "12,34.5", "Enter the amount as a number"),
        ("amount", "10.001", "at most two decimals"),
        ("amount", "-5", "cannot be negative"),
        ("received_on", "3/2/2026", "year-month-day"),
        ("received_on", "2999-01-01", "after today"),
        ("reference", "12-34", "cheque's number"),
        ("email", "grace@", "e-mail address such as"),
        ("project", "nope", "Choose the project"),
        ("name", "", "donor's name"),
    ],
)
def test_a_bad_cheque_form_comes_back_with_the_message_by_its_field(
    rt: Runtime, bookkeeper: FlaskClient, field: str, value: str, message: str
) -> None:
    entries = count(rt, LedgerOutbox)
    answer = send(bookkeeper, OFFLINE, OFFLINE, {**CHEQUE, field: value})
    assert answer.status_code == 400
    assert message in error_by(answer, field)
    assert "Nothing was recorded" in answer.text
    assert (count(rt, Donation), count(rt, LedgerOutbox)) == (0, entries)


def test_a_refused_form_keeps_its_key_and_goes_through_once_corrected(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    refused = send(bookkeeper, OFFLINE, OFFLINE, {**CHEQUE, "received_on": "2999-01-01"})
    assert refused.status_code == 400
    corrected = send(bookkeeper, OFFLINE, OFFLINE, CHEQUE, keep=refused)
    assert corrected.status_code == 303
    assert count(rt, Gift) == 1


def test_a_cheque_form_without_its_csrf_token_is_refused_and_writes_nothing(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    answer = bookkeeper.post(OFFLINE, data=CHEQUE)
    assert answer.status_code == 400
    assert count(rt, Donation) == 0


def test_an_auditor_sees_the_cheque_form_without_its_button_and_cannot_post_it(
    rt: Runtime, app: Flask
) -> None:
    auditor = signed_in(app, rt, "auditor")
    page = auditor.get(OFFLINE)
    assert page.status_code == 200
    assert "<fieldset disabled>" in page.text
    assert "Record the gift" not in page.text
    token_page = auditor.get("/password-reset")
    refused = auditor.post(OFFLINE, data={**CHEQUE, "csrf_token": csrf_token(token_page)})
    assert refused.status_code == 403
    assert count(rt, Donation) == 0


def test_a_treasurer_finds_no_gift_pages(rt: Runtime, app: Flask) -> None:
    treasurer = signed_in(app, rt, "treasurer")
    gift_id = settled_gift(rt)
    for page in ("/admin/gifts", OFFLINE, f"/admin/gifts/{gift_id}"):
        assert treasurer.get(page).status_code == 404


def test_a_gift_is_found_by_receipt_number_e_mail_address_and_ref(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, email="ada@example.org")
    settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        ref = gift.ref
    for query in ("2026-000001", "ADA@example.org", ref):
        page = bookkeeper.get("/admin/gifts", query_string={"q": query})
        assert page.status_code == 200
        assert f'href="/admin/gifts/{gift_id}"' in page.text, query
        assert "Grace Hopper" not in page.text
    assert "No gift matches" in bookkeeper.get("/admin/gifts?q=nobody@example.org").text


def test_the_gifts_page_lists_the_newest_before_any_search(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    assert "No gifts yet." in bookkeeper.get("/admin/gifts").text
    older = settled_gift(rt, email="ada@example.org")
    newer = settled_gift(rt, email="grace@example.org", name="Grace Hopper",
                         at=datetime(2026, 3, 2, 15, 0, tzinfo=UTC))  # fmt: skip
    page = bookkeeper.get("/admin/gifts").text
    assert "The newest gifts" in page
    assert page.index(f'href="/admin/gifts/{newer}"') < page.index(f'href="/admin/gifts/{older}"')


@pytest.fixture
def stripe(rt: Runtime) -> RefundingGateway:
    gateway = RefundingGateway()
    rt._gateway = gateway  # type: ignore[assignment]
    return gateway


def test_a_card_gift_is_refunded_in_part_through_stripe_once_per_form(
    rt: Runtime, bookkeeper: FlaskClient, stripe: RefundingGateway
) -> None:
    gift_id = settled_gift(rt)
    page = f"/admin/gifts/{gift_id}"
    shown = bookkeeper.get(page)
    data = {"amount": "40.00", "reason": "Asked by the donor", "confirm": "y"}
    first = send(bookkeeper, page, f"{page}/refund", data, keep=shown)
    assert first.status_code == 303
    again = send(bookkeeper, page, f"{page}/refund", data, keep=shown)
    assert again.status_code == 303
    assert len(stripe.calls) == 1
    assert count(rt, Refund) == 1
    after = bookkeeper.get(page)
    assert "$60.00 of $100.00" in after.text
    assert "Asked by the donor" in after.text
    with rt.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "gift.refunded")
        ).one()
        assert entry.before == {"remaining": "100.00 USD"}
        assert entry.after is not None
        assert entry.after["remaining"] == "60.00 USD"
    assert_books_clean(rt)


def test_a_refund_larger_than_what_remains_is_refused_by_the_amount_and_stripe_is_not_asked(
    rt: Runtime, bookkeeper: FlaskClient, stripe: RefundingGateway
) -> None:
    gift_id = settled_gift(rt)
    page = f"/admin/gifts/{gift_id}"
    answer = send(
        bookkeeper, page, f"{page}/refund", {"amount": "100.01", "reason": "x", "confirm": "y"}
    )
    assert answer.status_code == 400
    assert error_by(answer, "amount") == (
        "Only $100.00 of this gift remains to refund; $100.01 is more than that."
    )
    assert stripe.calls == []
    assert count(rt, Refund) == 0


def test_a_refund_is_not_sent_in_one_click_staff_confirm_it_first(
    rt: Runtime, bookkeeper: FlaskClient, stripe: RefundingGateway
) -> None:
    gift_id = settled_gift(rt)
    page = f"/admin/gifts/{gift_id}"
    shown = bookkeeper.get(page)
    assert 'type="checkbox" id="confirm" name="confirm"' in shown.text
    answer = send(bookkeeper, page, f"{page}/refund", {"amount": "10.00", "reason": "Asked"})
    assert answer.status_code == 400
    assert error_by(answer, "confirm") == "Tick this to confirm the refund: it cannot be undone."
    assert 'value="10.00"' in answer.text  # what was typed stays, to confirm and send again
    assert stripe.calls == []
    assert count(rt, Refund) == 0


def test_a_refund_needs_a_reason(
    rt: Runtime, bookkeeper: FlaskClient, stripe: RefundingGateway
) -> None:
    gift_id = settled_gift(rt)
    page = f"/admin/gifts/{gift_id}"
    answer = send(
        bookkeeper, page, f"{page}/refund", {"amount": "10.00", "reason": "", "confirm": "y"}
    )
    assert answer.status_code == 400
    assert "Say why" in error_by(answer, "reason")
    assert stripe.calls == []


def test_a_cheque_is_refunded_from_the_bank_on_its_page(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    entered = send(bookkeeper, OFFLINE, OFFLINE, CHEQUE)
    page = entered.headers["Location"]
    assert 'name="refunded_on"' in bookkeeper.get(page).text
    answer = send(
        bookkeeper,
        page,
        f"{page}/refund",
        {
            "amount": "50.00",
            "reason": "Gave twice by mistake",
            "method": "cheque",
            "reference": "901",
            "refunded_on": "2026-03-09",
            "confirm": "y",
        },
    )
    assert answer.status_code == 303, answer.text
    assert count(rt, OfflineRefund) == 1
    shown = bookkeeper.get(page).text
    assert "from the bank: cheque no. 901. Gave twice by mistake" in shown
    assert fund_balance(rt, "Twisted") == Decimal("180.00")
    assert_books_clean(rt)


def test_an_auditor_sees_a_gift_without_the_refund_button(rt: Runtime, app: Flask) -> None:
    gift_id = settled_gift(rt)
    page = signed_in(app, rt, "auditor").get(f"/admin/gifts/{gift_id}")
    assert page.status_code == 200
    assert "$100.00 from Ada Lovelace" in page.text
    assert ">Refund</button>" not in page.text


@requires_weasyprint
def test_staff_download_the_receipt_of_a_cheque_without_an_e_mail_address(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    entered = send(bookkeeper, OFFLINE, OFFLINE, {**CHEQUE, "email": ""})
    assert (
        "download the receipt below and post it" in bookkeeper.get(entered.headers["Location"]).text
    )
    rt.deliver()
    pdf = bookkeeper.get("/admin/receipts/2026-000001.pdf")
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    text = pdf_text(pdf.data)
    assert "Grace Hopper" in text
    assert "Cheque no. 1234" in text
