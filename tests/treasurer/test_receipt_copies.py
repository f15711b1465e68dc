"""A treasurer can download a copy of each receipt for a gift to their project, from the
transactions list: the donor named only as they allowed the project to see them, without
the postal address or employer the donor gave the sponsor, and marked as not a receipt."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Visibility
from conservancy.kernel import clock
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.factories import settled_gift, with_project
from tests.receipts.pdfs import pdf_text, requires_weasyprint
from tests.staff.people import person, sign_in

pytestmark = requires_weasyprint

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
AT = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(with_project(runtime), "sugar", "Sugar Labs")


def receipt_number(rt: Runtime, gift_id: int) -> str:
    with rt.sessions() as session:
        return session.scalars(select(Receipt.number).where(Receipt.gift_id == gift_id)).one()


def test_a_treasurer_downloads_a_copy_of_a_receipt_from_the_transactions_list(
    rt: Runtime, client: FlaskClient
) -> None:
    gift = settled_gift(rt, at=AT, employer="Initech")
    number = receipt_number(rt, gift)
    rt.books.load()
    sign_in(client, person(rt, "tres@example.org", (Role.TREASURER, "twisted")))

    listing = client.get("/treasurer/twisted/transactions").text
    link = re.search(rf'href="([^"]+/receipts/{number}\.pdf)"', listing)
    assert link, "the transactions list links the gift's receipt"
    answer = client.get(link.group(1))

    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "no-store" in answer.headers["Cache-Control"]
    text = pdf_text(answer.data)
    assert number in text
    assert "Ada Lovelace" in text  # she gave her name to the public
    assert "$100.00" in text
    assert "copy for Twisted's records" in text
    assert "not a tax receipt" in text
    assert "(project's copy)" in text
    assert "Analytical Row" not in text  # her postal address is the sponsor's to keep
    assert "Initech" not in text  # so is her employer
    assert "Keep this receipt for your tax records" not in text


def test_an_anonymous_donor_is_anonymous_in_the_projects_copy(
    rt: Runtime, client: FlaskClient
) -> None:
    gift = settled_gift(rt, at=AT, name="Secret Sam", visibility=Visibility.ANONYMOUS)
    number = receipt_number(rt, gift)
    sign_in(client, person(rt, "tres@example.org", (Role.TREASURER, "twisted")))

    text = pdf_text(client.get(f"/treasurer/twisted/receipts/{number}.pdf").data)

    assert "Anonymous" in text
    assert "Secret Sam" not in text


def test_another_projects_receipt_is_not_found(rt: Runtime, client: FlaskClient) -> None:
    sugar = receipt_number(rt, settled_gift(rt, at=AT, slug="sugar", email="s@example.org"))
    twisted = receipt_number(rt, settled_gift(rt, at=AT))
    sign_in(client, person(rt, "tres@example.org", (Role.TREASURER, "twisted")))

    # Sugar's receipt under Twisted's address, and Twisted's under Sugar's.
    assert client.get(f"/treasurer/twisted/receipts/{sugar}.pdf").status_code == 404
    assert client.get(f"/treasurer/sugar/receipts/{twisted}.pdf").status_code == 404
    assert client.get("/treasurer/twisted/receipts/2026-999999.pdf").status_code == 404
