"""Receipts and annual statements of gifts in another currency: the donor's amount, and the
US dollars the sponsor received for it, which is what a US donor deducts."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime
from decimal import Decimal
from io import BytesIO

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from conservancy.donations.models import Donor, Frequency, Gift
from conservancy.donations.service import DonationRefused, DonationRequest, record_donation
from conservancy.donations.settlement import apply_refund, settle
from conservancy.money import Currency, Money
from conservancy.payments.gateway import BalanceTransaction, Charge, RefundInfo
from conservancy.projects.models import Project
from conservancy.receipts import document
from conservancy.receipts.annual import issue_statements
from conservancy.receipts.models import AnnualStatement, Receipt
from conservancy.runtime import Runtime
from tests.admin.books import assert_books_clean
from tests.factories import settled_gift, usd, with_project
from tests.receipts.pdfs import pdf_text, requires_weasyprint

D = Decimal
AT = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)


def converted_gift(
    rt: Runtime, amount: Money, *, settled: str, fee: str, rate: str, email: str = "ada@example.org"
) -> int:
    """A gift in ``amount``'s currency that Stripe settled as ``settled`` US dollars at
    ``rate``, booked as its webhook books it (no Stripe involved); its gift id."""
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        donation = record_donation(
            session,
            project,
            DonationRequest(
                amount=amount,
                frequency=Frequency.ONCE,
                name="Ada Lovelace",
                email=email,
                address="12 Analytical Row\nLondon",
            ),
            maximum=usd("100000.00"),
            today=AT.date(),
        )
        unique = secrets.token_hex(6)
        charge = Charge(
            id=f"ch_{unique}",
            amount=amount,
            payment_intent_id=f"pi_{unique}",
            balance_transaction=BalanceTransaction(
                id=f"txn_{unique}",
                amount=usd(settled),
                fee=usd(fee),
                created_at=AT,
                exchange_rate=D(rate),
            ),
            created_at=AT,
            metadata={"donation_id": str(donation.id)},
            payment_method="Card (Visa)",
        )
        gift_id = settle(session, donation, charge, rt.settings.timezone).id
        session.commit()
    rt.post_ledger()
    return gift_id


def receipts_of(rt: Runtime, gift_id: int) -> list[Receipt]:
    with rt.sessions() as session:
        rows = list(
            session.scalars(select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id))
        )
        session.expunge_all()
        return rows


def test_a_gift_in_euros_is_receipted_in_euros_with_the_dollars_received(
    runtime: Runtime,
) -> None:
    rt = with_project(runtime)
    gift_id = converted_gift(
        rt, Money(D("100.00"), Currency.EUR), settled="108.34", fee="4.53", rate="1.0834"
    )
    [receipt] = receipts_of(rt, gift_id)
    assert (receipt.amount, receipt.deductible) == (Money(D("100.00"), Currency.EUR),) * 2
    assert receipt.settled == usd("108.34")

    # Refunded in part at another rate: the replacement states what stands, and its
    # dollars at the gift's rate (60% of 108.34), not at the refund's.
    refund_in(rt, gift_id, Money(D("40.00"), Currency.EUR), returned="44.80", rate="1.12")
    first, voiding, replacement = receipts_of(rt, gift_id)
    assert (voiding.amount, voiding.settled) == (first.amount, usd("108.34"))
    assert replacement.amount == Money(D("60.00"), Currency.EUR)
    assert replacement.settled == usd("65.00")
    assert_books_clean(rt)


def refund_in(rt: Runtime, gift_id: int, amount: Money, *, returned: str, rate: str) -> None:
    """A refund of ``amount`` that took ``returned`` US dollars from the balance at ``rate``,
    booked as Stripe's refund event books it."""
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        apply_refund(
            session,
            gift,
            RefundInfo(
                id="re_partial",
                charge_id=str(gift.charge_id),
                amount=amount,
                status="succeeded",
                created_at=AT,
                balance_transaction_id="txn_re_partial",
                failure_balance_transaction=None,
                balance_transaction=BalanceTransaction(
                    id="txn_re_partial",
                    amount=-usd(returned),
                    fee=usd("0.00"),
                    created_at=AT,
                    exchange_rate=D(rate),
                ),
            ),
            rt.settings.timezone,
        )
        session.commit()
    rt.post_ledger()


@requires_weasyprint
def test_the_annual_statement_totals_every_gift_in_us_dollars(runtime: Runtime) -> None:
    rt = with_project(runtime)
    settled_gift(rt, amount="100.00", at=datetime(2026, 2, 1, 15, tzinfo=UTC))
    converted_gift(rt, Money(D("50.00"), Currency.GBP), settled="63.36", fee="2.77", rate="1.2671")

    result = issue_statements(rt.sessions, rt.settings.receipts_dir, 2026, today=date(2027, 1, 15))

    assert (result.issued, result.problems) == (1, ())
    with rt.sessions() as session:
        row = session.scalars(
            select(AnnualStatement).join(Donor).where(Donor.email == "ada@example.org")
        ).one()
        path, totals = row.pdf_path, row.totals
    # One total, in dollars: 100.00 + the 63.36 the pounds were converted into.
    assert totals == {"USD": {"amount": 16336, "deductible": 16336}}
    pdf = (rt.settings.receipts_dir / path).read_bytes()
    text = pdf_text(pdf)
    assert "50.00 GBP" in text
    assert "$63.36 USD" in text
    assert "Total for 2026, USD $163.36 $163.36" in text
    assert "valued in US dollars at the rate our payment processor, Stripe, converted it" in text
    reader = PdfReader(BytesIO(pdf))
    data = json.loads(reader.attachments["statement.json"][0])
    pounds = next(g for g in data["gifts"] if g["currency"] == "GBP")
    assert (pounds["amount"], pounds["usd_amount"], pounds["usd_deductible"]) == (
        "50.00",
        "63.36",
        "63.36",
    )


def test_a_thank_you_gift_is_offered_with_gifts_in_the_projects_currency_only(
    runtime: Runtime,
) -> None:
    rt = with_project(runtime)
    with rt.sessions() as session:
        project = session.scalars(select(Project)).one()
        project.thank_you_description = "Twisted t-shirt"
        project.thank_you_value_minor = 3000
        project.thank_you_minimum_minor = 10000
        with pytest.raises(DonationRefused) as refused:
            record_donation(
                session,
                project,
                DonationRequest(
                    amount=Money(D("150.00"), Currency.EUR),
                    frequency=Frequency.ONCE,
                    name="Ada Lovelace",
                    email="ada@example.org",
                    thank_you=True,
                ),
                maximum=usd("100000.00"),
                today=AT.date(),
            )
    assert refused.value.field == "thank_you"
    assert "comes with gifts in USD" in str(refused.value)


def _doc(**kw: object) -> document.ReceiptDocument:
    fields: dict[str, object] = {
        "kind": "receipt",
        "number": "2026-000001",
        "issued_on": date(2026, 3, 2),
        "sponsor": document.Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street"),
        "donor_name": "Ada Lovelace",
        "donor_address": None,
        "gift_on": date(2026, 3, 2),
        "amount": Money(D("100.00"), Currency.EUR),
        "project_name": "Twisted",
        "payment_method": "Card (Visa)",
        "settled": usd("108.34"),
        **kw,
    }
    return document.ReceiptDocument(**fields)  # type: ignore[arg-type]


def test_a_receipt_in_euros_says_what_a_us_donor_deducts() -> None:
    doc = _doc()
    assert doc.settled_statement is not None
    assert "Stripe, converted it into US dollars on March 2, 2026" in doc.settled_statement
    assert "value of your contribution is $108.34 USD" in doc.settled_statement
    assert doc.data()["usd_value"] == "108.34"
    assert "usd_value" not in _doc(amount=usd("100.00"), settled=None).data()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"settled": Money(D("108.34"), Currency.EUR)}, "another currency"),
        ({"amount": usd("100.00")}, "another currency"),
        (
            {"benefits": (document.Benefit("Twisted t-shirt", Money(D("30.00"), Currency.EUR)),)},
            "US dollars only",
        ),
    ],
    ids=["dollars-in-euros", "dollar-gift-with-dollars", "thank-you-gift"],
)
def test_a_receipt_with_a_dollar_value_that_cannot_be_is_refused(
    change: dict[str, object], message: str
) -> None:
    with pytest.raises(document.ReceiptError, match=message):
        _doc(**change)
