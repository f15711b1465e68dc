"""Small builders that set only what a test is about."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.donations.models import Frequency, Visibility
from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import add_project
from conservancy.runtime import Runtime
from tests.environment import BOOKS_OPEN_ON


def usd(text: str) -> Money:
    return Money(Decimal(text), Currency.USD)


def project(
    session: Session, slug: str = "twisted", name: str = "Twisted", **kw: object
) -> Project:
    return add_project(session, slug=slug, name=name, opened_on=BOOKS_OPEN_ON, **kw)  # type: ignore[arg-type]


def gift(
    ref: str,
    fund: str = "Twisted",
    amount: str = "100.00",
    fee: str = "3.20",
    payee: str = "Ada Lovelace",
    on: date = date(2026, 3, 1),
) -> Transaction:
    """A settled card gift as SPEC section 6 books it (without the sponsorship fee)."""
    gross, card_fee = usd(amount), usd(fee)
    return Transaction(
        ref=ref,
        date=on,
        payee=payee,
        narration=f"Gift to {fund}",
        meta={"income-type": "Donations"},
        postings=(
            Posting(accounts.STRIPE, gross - card_fee),
            Posting(accounts.payment_processing(fund), card_fee),
            Posting(accounts.donations(fund), -gross),
        ),
    )


def with_project(
    rt: Runtime, slug: str = "twisted", name: str = "Twisted", **kw: object
) -> Runtime:
    """The runtime, with a project added and its accounts opened in the books."""
    with rt.sessions() as session:
        project(session, slug, name, **kw)
        session.commit()
    rt.post_ledger()
    return rt


def settled_gift(
    rt: Runtime,
    *,
    email: str = "ada@example.org",
    name: str = "Ada Lovelace",
    amount: str = "100.00",
    fee: str = "3.20",
    slug: str = "twisted",
    frequency: Frequency = Frequency.ONCE,
    visibility: Visibility = Visibility.PUBLIC,
    at: datetime | None = None,
    benefit: tuple[str, str] | None = None,
    address: str | None = "12 Analytical Row\nLondon",
    post: bool = True,
    employer: str | None = None,
) -> int:
    """A donation settled as a webhook would settle it (receipt issued and queued); its gift id.

    ``post=False`` leaves its entries in the outbox, as a crash before posting would.

    The project ``slug`` must exist (see with_project). No Stripe is involved:
    the charge is made up, with ids unique to this call.
    """
    from conservancy.donations.service import DonationRequest, record_donation
    from conservancy.donations.settlement import settle
    from conservancy.payments.gateway import BalanceTransaction, Charge

    at = at or datetime(2026, 3, 1, 15, 0, tzinfo=UTC)
    with rt.sessions() as session:
        target = session.scalars(select(Project).where(Project.slug == slug)).one()
        donation = record_donation(
            session,
            target,
            DonationRequest(
                amount=usd(amount),
                frequency=frequency,
                name=name,
                email=email,
                visibility=visibility,
                address=address,
                employer=employer,
            ),
            maximum=usd("100000.00"),
            today=at.date(),
        )
        if benefit is not None:
            donation.benefit_description, value = benefit[0], usd(benefit[1])
            donation.benefit_value_minor = value.minor
        unique = secrets.token_hex(6)
        charge = Charge(
            id=f"ch_{unique}",
            amount=donation.total,
            payment_intent_id=f"pi_{unique}",
            balance_transaction=BalanceTransaction(
                id=f"txn_{unique}", amount=donation.total, fee=usd(fee), created_at=at
            ),
            created_at=at,
            metadata={"donation_id": str(donation.id)},
            payment_method="Card (Visa)",
        )
        gift_row = settle(session, donation, charge, rt.settings.timezone)
        session.commit()
        gift_id = gift_row.id
    if post:
        rt.post_ledger()
    return gift_id


def refund(rt: Runtime, gift_id: int, amount: str, refund_id: str) -> None:
    """A refund of ``amount`` on the gift, booked as Stripe's refund event books it."""
    from conservancy.donations.models import Gift
    from conservancy.donations.settlement import apply_refund
    from conservancy.kernel import clock
    from conservancy.payments.gateway import RefundInfo

    with rt.sessions() as session:
        gift_row = session.get(Gift, gift_id)
        assert gift_row is not None
        apply_refund(
            session,
            gift_row,
            RefundInfo(
                id=refund_id,
                charge_id=gift_row.charge_id,
                amount=usd(amount),
                status="succeeded",
                created_at=clock.as_utc(gift_row.settled_at),
                balance_transaction_id=f"txn_{refund_id}",
                failure_balance_transaction=None,
            ),
            rt.settings.timezone,
        )
        session.commit()
    rt.post_ledger()


def cheque(
    rt: Runtime,
    name: str,
    amount: str,
    on: date,
    *,
    email: str | None = None,
    address: str | None = None,
    slug: str = "twisted",
) -> int:
    """A cheque as staff enter it at /admin/gifts/offline (booked and receipted); its gift id."""
    from conservancy.donations.models import OfflineMethod
    from conservancy.donations.offline import OfflineGiftRequest, record_offline_gift
    from conservancy.kernel.submissions import new_key
    from conservancy.staff import audit

    with rt.sessions() as session:
        target = session.scalars(select(Project).where(Project.slug == slug)).one()
        gift_row = record_offline_gift(
            session,
            audit.COMMAND_LINE,
            target,
            OfflineGiftRequest(
                amount=usd(amount),
                received_on=on,
                method=OfflineMethod.CHEQUE,
                reference="1234",
                name=name,
                email=email,
                address=address,
            ),
            key=new_key(),
            tz=rt.settings.timezone,
        )
        session.commit()
        gift_id = gift_row.id
    rt.post_ledger()
    return gift_id


# The smallest file the expense form takes as a PDF invoice (checked by its bytes).
INVOICE_PDF = b"%PDF-1.4\n%%EOF\n"


def expense(
    rt: Runtime,
    *,
    amount: str = "25.00",
    payee: str = "Hosting Co.",
    category: str = "Hosting",
    paid_on: date = date(2026, 3, 5),
    invoice: bytes = INVOICE_PDF,
    slug: str = "twisted",
) -> int:
    """An expense staff paid from the project's fund, as /admin/expenses records it (booked,
    the invoice kept); its id. The fund must hold the amount."""
    from conservancy.expenses.service import ExpenseRequest, record_expense
    from conservancy.kernel.submissions import new_key

    with rt.sessions() as session:
        target = session.scalars(select(Project).where(Project.slug == slug)).one()
        paid = record_expense(
            session,
            "bookkeeper@example.org",
            target,
            ExpenseRequest(
                amount=usd(amount),
                payee=payee,
                category=category,
                paid_on=paid_on,
                description=f"{category} from {payee}",
                invoice=invoice,
            ),
            key=new_key(),
            books=rt.books,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
        expense_id = paid.id
    rt.post_ledger()
    return expense_id
