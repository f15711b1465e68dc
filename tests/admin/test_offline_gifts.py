"""Cheques and wires staff enter: a paid gift, booked to the bank once, with its receipt;
and their refunds, sent back from the bank."""

from __future__ import annotations

import threading
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.donations.models import (
    Donation,
    DonationStatus,
    Gift,
    OfflineMethod,
    OfflineRefund,
    Visibility,
)
from conservancy.donations.offline import (
    OfflineGiftRequest,
    OfflineRefused,
    record_offline_gift,
    refund_offline_gift,
)
from conservancy.donations.service import RefundTooLarge, refund_gift
from conservancy.kernel import clock
from conservancy.kernel.submissions import AlreadySubmitted, new_key
from conservancy.mail.models import MailMessage
from conservancy.projects.models import Project
from conservancy.receipts.annual import issue_statements
from conservancy.receipts.models import AnnualStatement, Receipt, ReceiptKind
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.books import assert_books_clean, entry_count, fund_balance, postings
from tests.factories import settled_gift, usd
from tests.receipts.pdfs import requires_weasyprint

STAFF = "bookkeeper@example.org"
TODAY = date(2026, 3, 10)


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sponsor's today is 10 March 2026: the books opened on 1 January."""
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


def cheque(**kw: object) -> OfflineGiftRequest:
    fields: dict[str, object] = {
        "amount": usd("100.00"),
        "received_on": date(2026, 3, 2),
        "method": OfflineMethod.CHEQUE,
        "reference": "1234",
        "name": "Ada Lovelace",
        "email": "ada@example.org",
        "address": "12 Analytical Row\nLondon",
    }
    fields.update(kw)
    return OfflineGiftRequest(**fields)  # type: ignore[arg-type]


def twisted(session: Session, slug: str = "twisted") -> Project:
    return session.scalars(select(Project).where(Project.slug == slug)).one()


def enter(rt: Runtime, request: OfflineGiftRequest | None = None, key: str | None = None) -> int:
    with rt.sessions() as session:
        gift = record_offline_gift(
            session,
            STAFF,
            twisted(session),
            request or cheque(),
            key=key or new_key(),
            tz=rt.settings.timezone,
        )
        session.commit()
        gift_id = gift.id
    rt.post_ledger()
    return gift_id


def send_back(rt: Runtime, gift_id: int, amount: str, **kw: object) -> None:
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        refund_offline_gift(
            session,
            STAFF,
            gift,
            usd(amount),
            method=kw.get("method", OfflineMethod.CHEQUE),  # type: ignore[arg-type]
            reference=str(kw.get("reference", "5678")),
            refunded_on=kw.get("refunded_on", date(2026, 3, 9)),  # type: ignore[arg-type]
            reason=str(kw.get("reason", "Donor asked for it back")),
            key=str(kw.get("key", new_key())),
            tz=rt.settings.timezone,
        )
        session.commit()
    rt.post_ledger()


def receipts(rt: Runtime, gift_id: int) -> list[tuple[ReceiptKind, Decimal]]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id)
        ).all()
        return [(r.kind, r.amount.amount) for r in rows]


def count(rt: Runtime, model: type[object]) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_a_cheque_is_booked_to_the_bank_with_the_sponsorship_fee_and_no_card_fee(
    rt: Runtime,
) -> None:
    gift_id = enter(rt)
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        ref, status = gift.ref, gift.donation.status
        assert (gift.settled_on, gift.payment_method) == (date(2026, 3, 2), "Cheque no. 1234")
    assert status is DonationStatus.PAID
    assert postings(rt, ref) == {
        "Assets:Bank:Checking": Decimal("100.00"),
        "Income:Twisted:Donations": Decimal("-100.00"),
    }
    assert postings(rt, f"{ref}/sponsorship-fee") == {
        "Expenses:Twisted:Sponsorship-Fees": Decimal("10.00"),
        "Income:General:Sponsorship-Fees": Decimal("-10.00"),
    }
    assert fund_balance(rt, "Twisted") == Decimal("90.00")
    assert_books_clean(rt)


def test_a_cheque_gets_a_receipt_mailed_to_the_donor(rt: Runtime) -> None:
    gift_id = enter(rt)
    assert receipts(rt, gift_id) == [(ReceiptKind.RECEIPT, Decimal("100.00"))]
    with rt.sessions() as session:
        [mail] = session.scalars(select(MailMessage)).all()
        assert mail.to_address == "ada@example.org"
        assert "receipt" in mail.subject.lower()


def test_a_cheque_without_an_e_mail_address_is_receipted_and_not_mailed(rt: Runtime) -> None:
    first = enter(rt, cheque(email=None, name="Charles Babbage"))
    second = enter(rt, cheque(email=None, name="Charles Babbage", reference="1235"))
    assert receipts(rt, first) == [(ReceiptKind.RECEIPT, Decimal("100.00"))]
    assert receipts(rt, second) == [(ReceiptKind.RECEIPT, Decimal("100.00"))]
    assert count(rt, MailMessage) == 0
    assert_books_clean(rt)


def test_a_wire_says_wire_transfer_on_the_receipt(rt: Runtime) -> None:
    gift_id = enter(rt, cheque(method=OfflineMethod.WIRE, reference="FT26061ABC/1"))
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        assert gift.payment_method == "Wire transfer"


def test_the_same_form_sent_twice_records_one_gift(rt: Runtime) -> None:
    key = new_key()
    gift_id = enter(rt, key=key)
    with pytest.raises(AlreadySubmitted) as refused:
        enter(rt, key=key)
    assert refused.value.result == f"gift:{gift_id}"
    assert count(rt, Gift) == 1
    assert entry_count(rt, "offline-") == 2  # the gift and its sponsorship fee
    assert receipts(rt, gift_id) == [(ReceiptKind.RECEIPT, Decimal("100.00"))]


def test_the_same_form_sent_twice_at_once_records_one_gift(rt: Runtime) -> None:
    """Two workers take the same form together: one records it, the other finds it recorded."""
    key = new_key()
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def worker() -> None:
        start.wait()
        try:
            enter(rt, key=key)
            outcomes.append("recorded")
        except AlreadySubmitted:
            outcomes.append("already")

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) == ["already", "recorded"]
    assert count(rt, Gift) == 1
    assert_books_clean(rt)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": usd("0.00")}, "amount", "more than zero"),
        ({"received_on": date(2026, 3, 11)}, "received_on", "after today"),
        ({"received_on": date(2025, 12, 31)}, "received_on", "books open on 2026-01-01"),
        ({"reference": "12a4"}, "reference", "cheque's number"),
        ({"reference": "12345678901234"}, "reference", "cheque's number"),
        ({"method": OfflineMethod.WIRE, "reference": "ref\nx"}, "reference", "wire's reference"),
        ({"name": "  "}, "name", "donor's name"),
        ({"thank_you": True}, "thank_you", "offers no thank-you gift"),
    ],
)
def test_a_refused_gift_says_why_by_its_field_and_writes_nothing(
    rt: Runtime, change: dict[str, object], field: str, message: str
) -> None:
    with rt.sessions() as session, pytest.raises(OfflineRefused) as refused:
        record_offline_gift(
            session,
            STAFF,
            twisted(session),
            cheque(**change),
            key=new_key(),
            tz=rt.settings.timezone,
        )
    assert refused.value.field == field
    assert message in str(refused.value)
    assert (count(rt, Donation), count(rt, Gift), entry_count(rt, "offline-")) == (0, 0, 0)


def test_the_thank_you_gift_is_disclosed_and_deducted(rt: Runtime) -> None:
    with rt.sessions() as session:
        project = twisted(session)
        project.thank_you_description = "Twisted mug"
        project.thank_you_value_minor = 2000
        project.thank_you_minimum_minor = 5000
        session.commit()
    gift_id = enter(rt, cheque(thank_you=True))
    with rt.sessions() as session:
        [receipt] = session.scalars(select(Receipt).where(Receipt.gift_id == gift_id)).all()
        assert receipt.deductible == usd("80.00")


def test_an_anonymous_cheque_keeps_the_name_out_of_the_books(rt: Runtime) -> None:
    gift_id = enter(rt, cheque(visibility=Visibility.ANONYMOUS))
    text = "".join(p.read_text() for p in rt.ledger.root.rglob("*.beancount"))
    assert "Ada Lovelace" not in text
    assert '"Anonymous"' in text
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        assert gift.donation.donor.name == "Ada Lovelace"


def test_entering_a_cheque_is_in_the_audit_log(rt: Runtime) -> None:
    gift_id = enter(rt)
    with rt.sessions() as session:
        [entry] = session.scalars(select(AuditEntry)).all()
        assert (entry.actor, entry.action, entry.target_id) == (STAFF, "gift.entered", str(gift_id))
        assert entry.after is not None
        assert entry.after["amount"] == "100.00 USD"
        assert "Ada" not in str(entry.after)  # the donor's identity stays in the gift's records


def test_a_partial_refund_goes_back_from_the_bank_and_replaces_the_receipt(rt: Runtime) -> None:
    gift_id = enter(rt)
    send_back(rt, gift_id, "40.00")
    ref = "offline-1-refund-1"
    assert postings(rt, ref) == {
        "Assets:Bank:Checking": Decimal("-40.00"),
        "Income:Twisted:Donations": Decimal("40.00"),
    }
    assert postings(rt, f"{ref}/sponsorship-fee") == {
        "Expenses:Twisted:Sponsorship-Fees": Decimal("-4.00"),
        "Income:General:Sponsorship-Fees": Decimal("4.00"),
    }
    assert receipts(rt, gift_id) == [
        (ReceiptKind.RECEIPT, Decimal("100.00")),
        (ReceiptKind.VOIDING, Decimal("100.00")),
        (ReceiptKind.REPLACEMENT, Decimal("60.00")),
    ]
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        assert gift.remaining == usd("60.00")
        assert gift.donation.status is DonationStatus.PARTIALLY_REFUNDED
    assert fund_balance(rt, "Twisted") == Decimal("54.00")
    assert_books_clean(rt)


def test_a_refund_of_more_than_remains_is_refused_and_writes_nothing(rt: Runtime) -> None:
    gift_id = enter(rt)
    send_back(rt, gift_id, "40.00")
    with pytest.raises(OfflineRefused) as refused:
        send_back(rt, gift_id, "60.01")
    assert refused.value.field == "amount"
    assert "Only $60.00 of this gift remains to refund" in str(refused.value)
    assert count(rt, OfflineRefund) == 1
    assert entry_count(rt, "offline-1-refund-") == 2


def test_the_rest_refunded_voids_the_replacement_and_marks_the_donation_refunded(
    rt: Runtime,
) -> None:
    gift_id = enter(rt)
    send_back(rt, gift_id, "40.00")
    send_back(rt, gift_id, "60.00", method=OfflineMethod.WIRE, reference="OUT-77")
    assert [k for k, _ in receipts(rt, gift_id)][-1] is ReceiptKind.VOIDING
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        assert gift.donation.status is DonationStatus.REFUNDED
    assert fund_balance(rt, "Twisted") == Decimal("0.00")
    assert_books_clean(rt)


def test_a_refund_form_sent_twice_refunds_once(rt: Runtime) -> None:
    gift_id = enter(rt)
    key = new_key()
    send_back(rt, gift_id, "10.00", key=key)
    with pytest.raises(AlreadySubmitted):
        send_back(rt, gift_id, "10.00", key=key)
    assert count(rt, OfflineRefund) == 1


def test_a_refund_dated_before_the_gift_is_refused(rt: Runtime) -> None:
    gift_id = enter(rt)
    with pytest.raises(OfflineRefused) as refused:
        send_back(rt, gift_id, "10.00", refunded_on=date(2026, 3, 1))
    assert refused.value.field == "refunded_on"


def test_a_card_gift_is_not_refunded_from_the_bank_nor_a_cheque_through_stripe(
    rt: Runtime,
) -> None:
    card = settled_gift(rt)
    with pytest.raises(OfflineRefused, match="refund it to the donor's card"):
        send_back(rt, card, "10.00")
    offline = enter(rt)
    with rt.sessions() as session:
        gift = session.get(Gift, offline)
        assert gift is not None
        with pytest.raises(RefundTooLarge, match="cheque or wire"):
            refund_gift(
                session,
                None,
                gift,
                usd("10.00"),
                reason="x",
                tz=rt.settings.timezone,  # type: ignore[arg-type]
            )


@requires_weasyprint
def test_a_donor_without_an_e_mail_address_gets_an_annual_statement_to_post(rt: Runtime) -> None:
    enter(rt, cheque(email=None))
    result = issue_statements(
        rt.sessions, rt.settings.receipts_dir, 2026, today=date(2027, 1, 15), jobs=1
    )
    assert result.issued == 1
    assert count(rt, AnnualStatement) == 1
    assert count(rt, MailMessage) == 0
