"""What an employer's matching-gift programme asks for, on the donor's receipt and in their
portal; and, once the company's match arrived, that it did (not the company's receipt)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.matching import MatchRequest, record_matching_gift
from conservancy.donations.models import Gift, OfflineMethod
from conservancy.kernel import clock
from conservancy.kernel.submissions import new_key
from conservancy.projects.models import Sponsor
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from tests.factories import settled_gift, usd, with_project
from tests.portal.donor import sign_in
from tests.receipts.pdfs import pdf_text, requires_weasyprint

ADA = "ada@example.org"
EMPLOYER = "Initech Corp"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(runtime)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: date(2026, 3, 31))


def sponsor(rt: Runtime) -> tuple[str, str]:
    with rt.sessions() as session:
        found = session.scalars(select(Sponsor)).one()
        return found.legal_name, found.ein


def receipt_of(rt: Runtime, gift_id: int) -> Receipt:
    with rt.sessions() as session:
        found = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).one()
        session.expunge_all()
        return found


def match(rt: Runtime, gift_id: int, amount: str = "100.00") -> int:
    with rt.sessions() as session:
        original = session.get(Gift, gift_id)
        assert original is not None
        made = record_matching_gift(
            session,
            "bookkeeper@example.org",
            original,
            MatchRequest(EMPLOYER, usd(amount), date(2026, 3, 20), OfflineMethod.WIRE, "INI-42"),
            key=new_key(),
            tz=rt.settings.timezone,
        )
        session.commit()
        match_id = made.id
    rt.post_ledger()
    return match_id


def donation_section(page: str, gift_id: int, rt: Runtime) -> str:
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        donation_id = gift.donation_id
    found = re.search(
        rf'<section class="portal-donation" id="donation-{donation_id}".*?\n</section>', page, re.S
    )
    assert found
    return found.group(0)


@requires_weasyprint
def test_the_receipt_says_it_may_go_to_the_employers_matching_programme(rt: Runtime) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    plain_id = settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    rt.deliver()
    legal_name, ein = sponsor(rt)

    receipt = receipt_of(rt, gift_id)
    assert receipt.pdf_path is not None
    text = pdf_text((rt.settings.receipts_dir / receipt.pdf_path).read_bytes())
    plain = receipt_of(rt, plain_id)
    assert plain.pdf_path is not None
    plain_text = pdf_text((rt.settings.receipts_dir / plain.pdf_path).read_bytes())

    assert (
        f"For a matching gift from {EMPLOYER}: this receipt may be submitted to the "
        "employer's matching-gift programme." in text
    )
    assert f"The donee is {legal_name}, EIN {ein}" in text
    assert f"receipt number {receipt.number}" in text
    assert "March 1, 2026" in text
    assert "$100.00" in text
    assert "Twisted" in text
    assert "matching" not in plain_text


def test_the_portal_lists_what_the_programme_needs_and_then_that_the_match_arrived(
    rt: Runtime, client: FlaskClient
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    legal_name, ein = sponsor(rt)
    receipt = receipt_of(rt, gift_id)

    before = donation_section(sign_in(client, rt, ADA).text, gift_id, rt)

    assert f"<dt>Employer (for a matching gift)</dt><dd>{EMPLOYER}</dd>" in before
    assert "Matching gift</h3>" in before
    assert f"<dt>EIN</dt><dd>{ein}</dd>" in before
    assert f"<dt>Organisation</dt><dd>{legal_name}</dd>" in before
    assert f"<dt>Receipt number</dt><dd>{receipt.number}</dd>" in before
    assert "<dt>Amount</dt><dd>$100.00</dd>" in before
    assert "No matching gift has arrived yet." in before

    match_id = match(rt, gift_id, "150.00")
    after = donation_section(client.get("/portal").text, gift_id, rt)

    assert "Matching gift received: $150.00 on" in after
    assert "20 March 2026" in after
    assert "No matching gift has arrived yet." not in after
    company_receipt = receipt_of(rt, match_id)
    assert company_receipt.number not in client.get("/portal").text
    assert client.get(f"/portal/receipts/{company_receipt.number}.pdf").status_code == 404


def test_a_gift_without_an_employer_or_match_shows_no_matching_section(
    rt: Runtime, client: FlaskClient
) -> None:
    settled_gift(rt)

    page = sign_in(client, rt, ADA).text

    assert "Matching gift" not in page
    assert "Employer" not in page
