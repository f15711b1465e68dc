"""What a signed-in donor sees and downloads: their gifts, receipts (and voiding notices),
annual statements; how they may be named; and nothing of anyone else's."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import UTC, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import (
    Donation,
    DonationStatusChange,
    Donor,
    Frequency,
    Gift,
    Visibility,
)
from conservancy.donations.service import DonationRequest, record_donation
from conservancy.kernel import clock
from conservancy.projects.models import Project
from conservancy.receipts.models import AnnualStatement, Receipt, ReceiptKind
from conservancy.runtime import Runtime
from tests.factories import refund, settled_gift, usd, with_project
from tests.portal.donor import csrf_token, sign_in
from tests.receipts.pdfs import pdf_text, requires_weasyprint

ADA, GRACE = "ada@example.org", "grace@example.org"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(runtime)


def receipts_of(rt: Runtime, gift_id: int) -> list[Receipt]:
    with rt.sessions() as session:
        rows = list(
            session.scalars(select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id))
        )
        session.expunge_all()
        return rows


def donation_of(rt: Runtime, gift_id: int) -> Donation:
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        donation = gift.donation
        _ = donation.history
        return donation


def statement(rt: Runtime, address: str, year: int, pdf: bytes, path: str | None = None) -> str:
    """An annual statement on file for the donor at ``address``; its stored path."""
    relative = path or f"statements/{year}/{hashlib.sha256(address.encode()).hexdigest()}.pdf"
    target = rt.settings.receipts_dir / relative
    if path is None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(pdf)
    with rt.sessions() as session:
        donor = session.scalars(select(Donor).where(Donor.email == address)).one()
        session.add(
            AnnualStatement(
                donor_id=donor.id,
                year=year,
                gift_count=1,
                totals={"USD": {"amount": 10000, "deductible": 10000}},
                issued_at=datetime(year + 1, 1, 15, tzinfo=UTC),
                pdf_path=relative,
                pdf_sha256=hashlib.sha256(pdf).hexdigest(),
            )
        )
        session.commit()
    return relative


def receipt_links(page: str) -> list[str]:
    return re.findall(r'href="/portal/receipts/([0-9-]+)\.pdf"', page)


def section(page: str, donation_id: int) -> str:
    """The part of the dashboard about one donation."""
    found = re.search(rf'<section class="portal-donation" id="donation-{donation_id}".*?</section>',
                      page, re.S)  # fmt: skip
    assert found, f"the page shows no donation {donation_id}"
    return found.group(0)


def test_the_dashboard_shows_the_donors_own_gifts_and_no_one_elses(
    rt: Runtime, client: FlaskClient
) -> None:
    once = settled_gift(rt, email=ADA, amount="100.00")
    monthly = settled_gift(rt, email=ADA, amount="12.50", frequency=Frequency.MONTHLY)
    settled_gift(rt, email=GRACE, name="Grace Hopper", amount="777.00")
    with rt.sessions() as session:  # a checkout Ada left unpaid is no gift of hers
        record_donation(
            session,
            session.scalars(select(Project)).one(),
            DonationRequest(amount=usd("55.55"), frequency=Frequency.ONCE, name="Ada", email=ADA),
            maximum=usd("100000.00"),
            today=clock.today(rt.settings.timezone),
        )
        session.commit()

    page = sign_in(client, rt, ADA).text

    once_part = section(page, donation_of(rt, once).id)
    assert "$100.00 once" in once_part
    assert "1 March 2026" in once_part
    assert "Paid" in once_part
    monthly_part = section(page, donation_of(rt, monthly).id)
    assert "$12.50 each month" in monthly_part
    [first] = receipts_of(rt, once)
    assert f"Receipt {first.number}" in once_part
    assert "777.00" not in page
    assert "Grace" not in page
    assert "55.55" not in page


def test_another_donors_receipt_statement_and_gift_are_not_found(
    rt: Runtime, client: FlaskClient
) -> None:
    settled_gift(rt, email=ADA)
    graces = settled_gift(rt, email=GRACE, name="Grace Hopper")
    [grace_receipt] = receipts_of(rt, graces)
    statement(rt, GRACE, 2025, b"%PDF-1.7 Grace's statement")
    grace_donation = donation_of(rt, graces)
    dashboard = sign_in(client, rt, ADA)
    token = csrf_token(dashboard)

    assert client.get(f"/portal/receipts/{grace_receipt.number}.pdf").status_code == 404
    assert client.get("/portal/statements/2025.pdf").status_code == 404
    changes = {
        "visibility": {"visibility": "anonymous"},
        "amount": {"amount": "1.00"},
        "cancel": {},
    }
    for action, data in changes.items():
        answer = client.post(
            f"/portal/donations/{grace_donation.id}/{action}", data={**data, "csrf_token": token}
        )
        assert answer.status_code == 404, action
    assert client.get(f"/portal/donations/{grace_donation.id}/cancel").status_code == 404
    after = donation_of(rt, graces)
    assert after.visibility is Visibility.PUBLIC
    assert after.amount == grace_donation.amount
    assert len(after.history) == len(grace_donation.history)


def test_a_refunded_gift_shows_its_voiding_notice_and_no_valid_receipt(
    rt: Runtime, client: FlaskClient
) -> None:
    gift_id = settled_gift(rt, email=ADA, amount="100.00")
    refund(rt, gift_id, "100.00", "re_whole")
    receipt, notice = receipts_of(rt, gift_id)
    assert notice.kind is ReceiptKind.VOIDING

    page = sign_in(client, rt, ADA).text

    part = section(page, donation_of(rt, gift_id).id)
    assert f"Receipt {receipt.number} is void." in part
    assert f"Voiding notice {notice.number}" in part
    assert "No receipt stands for this gift: it was refunded." in part
    assert "refunded $100.00" in part
    assert receipt.number not in receipt_links(page)
    voided = client.get(f"/portal/receipts/{receipt.number}.pdf")
    assert voided.status_code == 410
    assert f"voiding notice {notice.number} says so" in html.unescape(voided.text)
    assert voided.headers.get("Content-Disposition") is None


def test_a_partly_refunded_gift_shows_the_replacement_receipt_and_the_notice(
    rt: Runtime, client: FlaskClient
) -> None:
    gift_id = settled_gift(rt, email=ADA, amount="100.00")
    refund(rt, gift_id, "40.00", "re_part")
    first, notice, replacement = receipts_of(rt, gift_id)
    assert replacement.kind is ReceiptKind.REPLACEMENT

    part = section(sign_in(client, rt, ADA).text, donation_of(rt, gift_id).id)

    assert f"Receipt {replacement.number}" in part
    assert f"for $60.00, replaces receipt {first.number}" in part
    assert f"Receipt {first.number} is void." in part
    assert f"Voiding notice {notice.number}" in part
    assert "refunded $40.00" in part
    assert client.get(f"/portal/receipts/{first.number}.pdf").status_code == 410


@requires_weasyprint
def test_receipts_and_notices_download_as_the_stored_pdfs(rt: Runtime, client: FlaskClient) -> None:
    gift_id = settled_gift(rt, email=ADA, amount="100.00")
    refund(rt, gift_id, "40.00", "re_part")
    rt.deliver()
    first, notice, replacement = receipts_of(rt, gift_id)

    page = sign_in(client, rt, ADA).text

    assert sorted(receipt_links(page)) == sorted([notice.number, replacement.number])
    assert first.number not in receipt_links(page)
    for row in (replacement, notice):
        answer = client.get(f"/portal/receipts/{row.number}.pdf")
        assert answer.status_code == 200
        assert answer.mimetype == "application/pdf"
        assert answer.headers["Content-Disposition"].startswith("attachment;")
        assert row.pdf_path is not None
        assert answer.data == (rt.settings.receipts_dir / row.pdf_path).read_bytes()
        assert row.number in pdf_text(answer.data)
        assert answer.headers["Cache-Control"] == "no-store"


def test_a_receipt_not_drawn_yet_is_on_its_way(rt: Runtime, client: FlaskClient) -> None:
    gift_id = settled_gift(rt, email=ADA)
    sign_in(client, rt, ADA)
    with rt.sessions() as session:  # as it is between the gift's commit and the drawing
        [receipt] = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).all()
        receipt.pdf_path = None
        session.commit()

    page = client.get("/portal").text

    assert f'Receipt {receipt.number} <span class="portal-muted">(being prepared)' in page
    assert receipt_links(page) == []
    assert client.get(f"/portal/receipts/{receipt.number}.pdf").status_code == 404


def test_annual_statements_download_as_the_stored_files(rt: Runtime, client: FlaskClient) -> None:
    settled_gift(rt, email=ADA)
    settled_gift(rt, email=GRACE, name="Grace Hopper")
    statement(rt, ADA, 2026, b"%PDF-1.7 Ada's 2026 statement")
    statement(rt, GRACE, 2026, b"%PDF-1.7 Grace's 2026 statement")

    page = sign_in(client, rt, ADA).text
    answer = client.get("/portal/statements/2026.pdf")

    assert 'href="/portal/statements/2026.pdf">Giving statement 2026</a>' in page
    assert answer.status_code == 200
    assert answer.data == b"%PDF-1.7 Ada's 2026 statement"
    assert "giving-statement-2026.pdf" in answer.headers["Content-Disposition"]
    assert client.get("/portal/statements/2027.pdf").status_code == 404


def test_a_stored_path_outside_the_receipts_folder_is_never_served(
    rt: Runtime, client: FlaskClient
) -> None:
    settled_gift(rt, email=ADA)
    secret = rt.settings.receipts_dir.parent / "secret.pdf"
    secret.write_bytes(b"%PDF not for donors")
    statement(rt, ADA, 2026, b"", path="../secret.pdf")
    sign_in(client, rt, ADA)

    answer = client.get("/portal/statements/2026.pdf")

    assert answer.status_code == 404
    assert b"not for donors" not in answer.data


def test_the_donor_chooses_how_a_gift_names_them(rt: Runtime, client: FlaskClient) -> None:
    gift_id = settled_gift(rt, email=ADA)
    donation_id = donation_of(rt, gift_id).id
    dashboard = sign_in(client, rt, ADA)

    saved = client.post(
        f"/portal/donations/{donation_id}/visibility",
        data={"visibility": "anonymous", "csrf_token": csrf_token(dashboard)},
    )

    assert saved.status_code == 303
    assert donation_of(rt, gift_id).visibility is Visibility.ANONYMOUS
    page = client.get("/portal").text
    assert "Saved how we show your name with your gift to Twisted." in page
    assert re.search(
        r"<dt>Your name is shown</dt>\s*<dd>Not at all: my gift is anonymous</dd>", page
    )
    assert re.search(
        rf'id="visibility-{donation_id}-anonymous" name="visibility" value="anonymous" checked',
        page,
    )
    reasons = [c.reason for c in donation_of(rt, gift_id).history]
    assert "visibility public -> anonymous, by the donor" in reasons


def test_an_unknown_visibility_is_refused_with_a_message(rt: Runtime, client: FlaskClient) -> None:
    gift_id = settled_gift(rt, email=ADA, visibility=Visibility.PROJECT)
    donation_id = donation_of(rt, gift_id).id
    dashboard = sign_in(client, rt, ADA)

    answer = client.post(
        f"/portal/donations/{donation_id}/visibility",
        data={"visibility": "everyone", "csrf_token": csrf_token(dashboard)},
    )

    assert answer.status_code == 400
    assert (
        f'<p class="field-error" id="visibility-{donation_id}-error">'
        "Choose how we may show your name.</p>"
    ) in section(answer.text, donation_id)
    assert donation_of(rt, gift_id).visibility is Visibility.PROJECT


def test_a_change_without_its_csrf_token_is_refused_and_changes_nothing(
    rt: Runtime, client: FlaskClient
) -> None:
    gift_id = settled_gift(rt, email=ADA)
    donation_id = donation_of(rt, gift_id).id
    sign_in(client, rt, ADA)
    with rt.sessions() as session:
        changes_before = len(session.scalars(select(DonationStatusChange)).all())

    answer = client.post(
        f"/portal/donations/{donation_id}/visibility", data={"visibility": "anonymous"}
    )

    assert answer.status_code == 400
    assert "reload the page" in answer.text
    assert donation_of(rt, gift_id).visibility is Visibility.PUBLIC
    with rt.sessions() as session:
        assert len(session.scalars(select(DonationStatusChange)).all()) == changes_before
