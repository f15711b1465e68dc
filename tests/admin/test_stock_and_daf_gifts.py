"""Stock and donor-advised-fund grants staff enter: booked like a cheque, each with the
right document (SPEC section 8): a stock receipt describes the shares and values nothing;
a grant gets an acknowledgement that is not a tax receipt, and counts as the fund's gift."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from conservancy.donations.models import Donor, Gift, OfflineMethod
from conservancy.donations.offline import OfflineGiftRequest, OfflineRefused, daf_ref
from conservancy.ledger.models import LedgerOutbox
from conservancy.mail.models import MailMessage
from conservancy.receipts.annual import due_donors
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from tests.admin.books import assert_books_clean, postings
from tests.admin.test_offline_gifts import (  # noqa: F401 (_today: autouse)
    _today,
    cheque,
    enter,
    send_back,
)
from tests.factories import usd
from tests.receipts.pdfs import WEASYPRINT_PROBLEM, pdf_text

DAF = cheque(method=OfflineMethod.DAF, reference="Fidelity Charitable")


def stock(amount: str = "1234.56") -> OfflineGiftRequest:
    return cheque(
        method=OfflineMethod.STOCK, reference="10 shares of ACME Corp", amount=usd(amount)
    )


def receipt_text(rt: Runtime, gift_id: int) -> str:
    rt.deliver()
    with rt.sessions() as session:
        receipt = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).one()
        path = receipt.pdf_path
    assert path is not None
    return pdf_text((rt.settings.receipts_dir / path).read_bytes())


def entity(rt: Runtime, ref: str) -> str:
    with rt.sessions() as session:
        body = session.scalars(select(LedgerOutbox).where(LedgerOutbox.ref == ref)).one().entry
    return str(body.meta["entity"])  # type: ignore[union-attr]


def test_stock_is_booked_at_the_amount_realised_like_a_cheque(rt: Runtime) -> None:
    gift_id = enter(rt, stock())
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        ref = gift.ref
        assert gift.payment_method == "Gift of stock: 10 shares of ACME Corp"
    assert postings(rt, ref) == {
        "Assets:Bank:Checking": Decimal("1234.56"),
        "Income:Twisted:Donations": Decimal("-1234.56"),
    }
    assert postings(rt, f"{ref}/sponsorship-fee")["Income:General:Sponsorship-Fees"] == Decimal(
        "-123.46"
    )
    assert_books_clean(rt)


@pytest.mark.skipif(WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or "")
def test_a_stock_receipt_describes_the_shares_and_states_no_value(rt: Runtime) -> None:
    text = receipt_text(rt, enter(rt, stock()))  # type: ignore[arg-type]
    assert "10 shares of ACME Corp" in text
    assert "does not state its value" in text
    assert "1,234.56" not in text
    assert "1234.56" not in text
    assert "Deductible amount" not in text
    assert "Donation receipt" in text


def test_a_daf_grant_is_the_funds_gift_in_the_books_and_not_the_recommending_donors(
    rt: Runtime,
) -> None:
    gift_id = enter(rt, DAF)
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        ref, donor_id = gift.ref, gift.donation.donor_id
        fund = session.scalars(select(Donor).where(Donor.ref == daf_ref("Fidelity Charitable")))
        assert fund.one().name == "Fidelity Charitable"
        assert donor_id not in due_donors(session, 2026)
    assert entity(rt, ref) == daf_ref("fidelity  charitable")
    assert postings(rt, ref)["Assets:Bank:Checking"] == Decimal("100.00")
    assert_books_clean(rt)


@pytest.mark.skipif(WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or "")
def test_a_daf_grant_gets_an_acknowledgement_that_is_not_a_tax_receipt(rt: Runtime) -> None:
    text = receipt_text(rt, enter(rt, DAF))
    assert "Grant acknowledgement (not a tax receipt)" in text
    assert "not a tax receipt" in text
    assert "Fidelity Charitable, a donor-advised fund" in text
    assert "you may not claim a deduction for it" in text
    assert "No goods or services were provided in exchange for this grant." in text
    assert "Deductible amount" not in text
    assert "Dear Ada Lovelace" in text


@pytest.mark.skipif(WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or "")
def test_a_grant_partly_returned_to_its_fund_gets_notices_that_never_speak_of_a_tax_receipt(
    rt: Runtime,
) -> None:
    """40.00 of a 100.00 grant goes back to the fund: the acknowledgement is voided and
    replaced for 60.00, and neither the mails nor the notices call it a receipt or send
    the donor to their tax records."""
    gift_id = enter(rt, DAF)
    send_back(rt, gift_id, "40.00", reason="Grant partly returned to the fund")
    rt.deliver()
    with rt.sessions() as session:
        rows = session.scalars(
            select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id)
        ).all()
        first, void, again = ((r.number, r.pdf_path) for r in rows)
        mails = {
            m.subject: m.body for m in session.scalars(select(MailMessage).order_by(MailMessage.id))
        }

    # One mail for the change: the replacement's, which says the first one is void (the
    # voiding notice is drawn, and in the donor portal).
    assert mails.keys() == {
        f"Acknowledgement {first[0]} of your grant",
        f"Your replacement grant acknowledgement {again[0]}",
    }
    assert (
        "recommending a grant of $100.00 for Twisted"
        in mails[f"Acknowledgement {first[0]} of your grant"]
    )
    replaced = " ".join(mails[f"Your replacement grant acknowledgement {again[0]}"].split())
    assert "now stands at $60.00" in replaced
    assert f"replaces acknowledgement {first[0]}: that one is void" in replaced
    for body in mails.values():
        assert "tax records" not in body
        assert "receipt " not in body.replace("not a tax receipt", "")

    voiding = pdf_text((rt.settings.receipts_dir / str(void[1])).read_bytes())
    assert "Notice of void grant acknowledgement" in voiding
    assert f"Our acknowledgement {first[0]} of the grant of $100.00" in voiding
    assert "is void (refund)" in voiding
    assert "the acknowledgement named above" in voiding
    assert "a replacement acknowledgement with a new number" in voiding
    assert "receipt named above" not in voiding
    assert "contribution you can claim" not in voiding
    assert "tax records" not in voiding
    replacement = pdf_text((rt.settings.receipts_dir / str(again[1])).read_bytes())
    assert "Replacement grant acknowledgement (not a tax receipt)" in replacement
    assert f"replaces acknowledgement {first[0]}" in replacement
    assert "The grant now stands at $60.00." in replacement


@pytest.mark.parametrize(
    ("method", "reference"),
    [(OfflineMethod.STOCK, ""), (OfflineMethod.DAF, "x" * 65)],
)
def test_stock_or_a_grant_without_a_proper_description_is_refused(
    rt: Runtime, method: OfflineMethod, reference: str
) -> None:
    with pytest.raises(OfflineRefused) as refused:
        enter(rt, cheque(method=method, reference=reference))
    assert refused.value.field == "reference"


def test_stock_and_grants_get_no_thank_you_gift(rt: Runtime) -> None:
    with pytest.raises(OfflineRefused) as refused:
        enter(rt, cheque(method=OfflineMethod.DAF, reference="Fidelity Charitable", thank_you=True))
    assert refused.value.field == "thank_you"


def test_the_annual_statement_lists_stock_without_a_value(rt: Runtime) -> None:
    """As on its receipt: the shares are described, valued nowhere, and left out of the
    year's total; the donor's card gift counts as ever."""
    from conservancy.receipts.annual import issue_statements
    from conservancy.receipts.models import AnnualStatement
    from tests.factories import settled_gift

    settled_gift(rt)  # 100.00 by card, ada@example.org
    enter(rt, stock())
    issue_statements(rt.sessions, rt.settings.receipts_dir, 2026, today=date(2027, 1, 15))

    with rt.sessions() as session:
        row = session.scalars(select(AnnualStatement)).one()
    assert row.totals == {"USD": {"amount": 10_000, "deductible": 10_000}}
    assert row.gift_count == 2
    if WEASYPRINT_PROBLEM:
        pytest.skip(WEASYPRINT_PROBLEM)
    text = pdf_text((rt.settings.receipts_dir / row.pdf_path).read_bytes())
    assert "Property given: 10 shares of ACME Corp" in text
    assert "not stated" in text
    assert "1,234.56" not in text
    assert "1234.56" not in text
