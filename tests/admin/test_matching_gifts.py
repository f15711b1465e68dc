"""Employer matching as staff record it: the company's match, booked once to the bank as the
company's own gift (its entity, its receipt), linked to the employee's gift both ways; the
employer stays out of the books and the project's pages."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.donations.matching import employer_ref
from conservancy.donations.models import Donor, Gift
from conservancy.ledger.models import LedgerOutbox
from conservancy.receipts.models import Receipt
from conservancy.reports.year_end import year_end
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.books import assert_books_clean, postings
from tests.admin.pages import error_by, send, signed_in
from tests.factories import settled_gift
from tests.receipts.pdfs import pdf_text, requires_weasyprint

EMPLOYER = "Initech Corp"
MATCH = {
    "company": EMPLOYER,
    "amount": "100.00",
    "received_on": "2026-03-20",
    "method": "cheque",
    "reference": "5678",
}


@pytest.fixture
def bookkeeper(app: Flask, rt: Runtime) -> FlaskClient:
    return signed_in(app, rt, "bookkeeper")


def written(rt: Runtime) -> tuple[int, int, int, int]:
    """Gifts, donors, receipts and entries waiting for the books: what a match would add."""
    with rt.sessions() as session:
        return tuple(  # type: ignore[return-value]
            int(session.scalar(select(func.count()).select_from(m)) or 0)
            for m in (Gift, Donor, Receipt, LedgerOutbox)
        )


def matches(rt: Runtime, gift_id: int) -> list[Gift]:
    with rt.sessions() as session:
        found = list(session.scalars(select(Gift).where(Gift.matches_gift_id == gift_id)))
        for gift in found:
            _ = gift.donation.donor
        session.expunge_all()
        return found


def books_text(rt: Runtime) -> str:
    rt.post_ledger()
    return "".join(p.read_text() for p in sorted(rt.ledger.root.rglob("*.beancount")))


def test_the_gift_page_offers_the_match_form_prefilled_with_the_employer(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)

    page = bookkeeper.get(f"/admin/gifts/{gift_id}")

    assert page.status_code == 200
    assert "Record the employer's matching gift" in page.text
    assert 'id="match-company" name="company" type="text" maxlength="200"' in page.text
    assert f'value="{EMPLOYER}"' in page.text
    assert "Employer (for a matching gift)" in page.text


def test_a_match_sent_twice_is_booked_once_as_the_companys_gift_and_linked_both_ways(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    shown = bookkeeper.get(page)

    first = send(bookkeeper, page, f"{page}/match", MATCH, keep=shown)
    second = send(bookkeeper, page, f"{page}/match", MATCH, keep=shown)

    assert first.status_code == 303
    assert second.status_code == 303
    assert second.location == first.location
    [match] = matches(rt, gift_id)
    assert first.location.endswith(f"/admin/gifts/{match.id}")
    assert postings(rt, match.ref) == {
        "Assets:Bank:Checking": Decimal("100.00"),
        "Income:Twisted:Donations": Decimal("-100.00"),
    }
    # The company is the contributor (Schedule B sums the books' entity), not the employee.
    company = match.donation.donor
    assert (company.name, company.email) == (EMPLOYER, None)
    assert company.ref == employer_ref(EMPLOYER)
    with rt.sessions() as session:
        entry = session.scalars(select(LedgerOutbox).where(LedgerOutbox.ref == match.ref)).one()
        assert entry.entry.meta["entity"] == company.ref  # type: ignore[union-attr]
        [receipt] = session.scalars(select(Receipt).where(Receipt.gift_id == match.id)).all()
        assert entry.entry.meta["receipt"] == receipt.number  # type: ignore[union-attr]
        audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "gift.entered")).one()
        assert audit.actor == "bookkeeper@example.org"
    assert_books_clean(rt)
    original = bookkeeper.get(page).text
    assert f'href="/admin/gifts/{match.id}"' in original
    assert f"$100.00 from {EMPLOYER}" in original
    answer = bookkeeper.get(f"/admin/gifts/{match.id}").text
    assert f'href="/admin/gifts/{gift_id}"' in answer
    assert "the employer's match of" in answer
    assert "Record the employer's matching gift" not in answer  # a match is not matched


def test_the_company_gets_its_own_receipt_and_a_later_match_is_the_same_donor(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    first_gift = settled_gift(rt, employer=EMPLOYER)
    second_gift = settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    for gift_id, company in ((first_gift, EMPLOYER), (second_gift, "  initech   CORP ")):
        page = f"/admin/gifts/{gift_id}"
        answer = send(bookkeeper, page, f"{page}/match", {**MATCH, "company": company})
        assert answer.status_code == 303, answer.text

    [one], [two] = matches(rt, first_gift), matches(rt, second_gift)
    assert one.donation.donor.id == two.donation.donor.id
    assert one.donation.donor.name == "initech CORP"  # the name as last typed
    assert_books_clean(rt)


def _match_receipt_text(rt: Runtime, match_id: int) -> str:
    rt.deliver()
    with rt.sessions() as session:
        receipt = session.scalars(select(Receipt).where(Receipt.gift_id == match_id)).one()
        assert receipt.pdf_path is not None
        return pdf_text((rt.settings.receipts_dir / receipt.pdf_path).read_bytes())


@requires_weasyprint
def test_the_matchs_receipt_is_addressed_to_the_company_at_its_postal_address(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    """The company has no e-mail here: staff post its receipt, so the receipt carries the
    address they typed; a later match that gives none keeps it."""
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    address = "Initech Matching Gifts\n4120 Freidrich Lane\nAustin, TX 78744"
    answer = send(bookkeeper, page, f"{page}/match", {**MATCH, "address": address})
    assert answer.status_code == 303
    [match] = matches(rt, gift_id)
    text = _match_receipt_text(rt, match.id)

    assert f"Dear {EMPLOYER}" in text
    assert "4120 Freidrich Lane" in text
    assert "Austin, TX 78744" in text
    assert "Cheque no. 5678" in text
    assert "Ada Lovelace" not in text

    later = settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    page = f"/admin/gifts/{later}"
    assert send(bookkeeper, page, f"{page}/match", MATCH).status_code == 303
    [second] = matches(rt, later)
    assert "4120 Freidrich Lane" in _match_receipt_text(rt, second.id)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param({"amount": "0"}, "amount", "more than zero", id="zero"),
        pytest.param({"amount": "-5"}, "amount", "cannot be negative", id="negative"),
        pytest.param({"received_on": "2999-01-01"}, "received_on", "after today", id="future"),
        pytest.param(
            {"received_on": "2026-02-28"}, "received_on", "before that", id="before-the-gift"
        ),
        pytest.param({"amount": "300.01"}, "amount", "at most 3 times", id="above-three-times"),
        pytest.param({"company": ""}, "company", "company's name", id="no-company"),
        pytest.param({"company": "x" * 201}, "company", "200 characters", id="long-company"),
        pytest.param({"reference": "12a"}, "reference", "cheque's number", id="bad-cheque"),
        pytest.param({"method": "stock"}, "method", "cheque or wire", id="stock"),
        pytest.param({"address": "x" * 1001}, "address", "1000 characters", id="long-address"),
    ],
)
def test_bad_match_input_comes_back_by_its_field_and_writes_nothing(
    rt: Runtime, bookkeeper: FlaskClient, changes: dict[str, str], field: str, message: str
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    before = written(rt)

    answer = send(bookkeeper, page, f"{page}/match", {**MATCH, **changes})

    assert answer.status_code == 400
    assert message in error_by(answer, f"match-{field}")
    assert written(rt) == before


def test_the_limit_counts_the_matches_already_recorded(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    assert send(bookkeeper, page, f"{page}/match", {**MATCH, "amount": "200.00"}).status_code == 303
    before = written(rt)

    answer = send(bookkeeper, page, f"{page}/match", {**MATCH, "amount": "100.01"})

    assert answer.status_code == 400
    assert "$100.00 remains to match" in error_by(answer, "match-amount")
    assert written(rt) == before


def test_a_match_without_its_csrf_token_is_refused_and_writes_nothing(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    bookkeeper.get(page)
    before = written(rt)

    answer = bookkeeper.post(f"{page}/match", data=MATCH)

    assert answer.status_code == 400
    assert written(rt) == before


def test_an_auditor_sees_the_match_form_without_its_button(rt: Runtime, app: Flask) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)

    page = signed_in(app, rt, "auditor").get(f"/admin/gifts/{gift_id}")

    assert "Record the employer's matching gift" in page.text
    assert ">Record the match</button>" not in page.text


def test_the_employer_stays_out_of_the_books_and_the_treasurers_pages(
    rt: Runtime, bookkeeper: FlaskClient, app: Flask
) -> None:
    gift_id = settled_gift(rt, employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    assert send(bookkeeper, page, f"{page}/match", MATCH).status_code == 303

    assert "Initech" not in books_text(rt)
    treasurer = signed_in(app, rt, "treasurer")
    for address in ("/", "/transactions", "/donors"):
        answer = treasurer.get(f"/treasurer/twisted{address}")
        assert answer.status_code == 200, address
        assert "Initech" not in answer.text, address


def test_schedule_b_counts_the_match_as_the_companys_contribution_not_the_employees(
    rt: Runtime, bookkeeper: FlaskClient
) -> None:
    gift_id = settled_gift(rt, amount="2000.00", fee="0.00", employer=EMPLOYER)
    page = f"/admin/gifts/{gift_id}"
    answer = send(bookkeeper, page, f"{page}/match", {**MATCH, "amount": "5,000.00"})
    assert answer.status_code == 303
    rt.post_ledger()

    with rt.sessions() as session:
        package = year_end(session, rt.books.index, rt.books.current(), 2026)

    assert {c.name: c.total.amount for c in package.schedule_b} == {EMPLOYER: Decimal("5000.00")}
