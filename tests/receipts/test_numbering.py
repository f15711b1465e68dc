"""Receipt numbers run without gaps per calendar year, under concurrency and rollbacks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from conservancy.donations.models import Donation, DonationStatus, Donor, Gift
from conservancy.infra.db import make_engine, make_sessions
from conservancy.money import Money
from conservancy.receipts.models import Receipt, ReceiptCounter, ReceiptKind
from conservancy.receipts.service import BadReceipt, record_receipt
from tests import factories
from tests.factories import usd

NEW_YORK = ZoneInfo("America/New_York")
IN_2026 = datetime(2026, 6, 1, 15, 0, tzinfo=UTC)
IN_2027 = datetime(2027, 3, 1, 15, 0, tzinfo=UTC)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """Sessions on the migrated test database. On PostgreSQL every session gets a
    connection of its own (no pool), so fifty threads really do race."""
    if make_url(database_url).get_backend_name() == "postgresql":
        engine = create_engine(database_url, poolclass=NullPool)
    else:
        engine = make_engine(database_url)
    yield make_sessions(engine)
    engine.dispose()


def settled_gifts(sessions: sessionmaker[Session], count: int) -> list[int]:
    """``count`` settled 100.00 gifts to a project, committed; their ids."""
    with sessions() as session:
        project = factories.project(session)
        donor = Donor(ref="d-ada", name="Ada Lovelace", email="ada@example.org")
        donation = Donation(
            project=project,
            donor=donor,
            donor_name=donor.name,
            amount_minor=10000,
            status=DonationStatus.PAID,
        )
        gifts = [
            Gift(
                donation=donation,
                ref=f"gift-{n}",
                donor_name=donor.name,
                charge_id=f"ch_{n}",
                balance_transaction_id=f"txn_{n}",
                currency="USD",
                project_minor=10000,
                fee_minor=320,
                fee_rate_bp=1000,
                fund=project.fund,
                settled_at=IN_2026,
                settled_on=IN_2026.date(),
            )
            for n in range(count)
        ]
        session.add_all(gifts)
        session.commit()
        return [g.id for g in gifts]


def receipt_for(
    session: Session,
    gift_id: int,
    issued_at: datetime = IN_2026,
    *,
    kind: ReceiptKind = ReceiptKind.RECEIPT,
    amount: Money | None = None,
    replaces: Receipt | None = None,
) -> Receipt:
    amount = amount or usd("100.00")
    return record_receipt(
        session,
        session.get_one(Gift, gift_id),
        kind=kind,
        amount=amount,
        deductible=amount,
        issued_at=issued_at,
        tz=NEW_YORK,
        replaces=replaces,
    )


def test_numbers_run_from_one_each_year_and_restart_in_the_next(
    sessions: sessionmaker[Session],
) -> None:
    gift_ids = settled_gifts(sessions, 5)
    issued_at = [IN_2026, IN_2026, IN_2026, IN_2027, IN_2027]
    with sessions() as session:
        numbers = [
            receipt_for(session, g, at).number for g, at in zip(gift_ids, issued_at, strict=True)
        ]
        session.commit()
    assert numbers == [
        "2026-000001",
        "2026-000002",
        "2026-000003",
        "2027-000001",
        "2027-000002",
    ]


def test_the_year_is_the_sponsors_not_utcs(sessions: sessionmaker[Session]) -> None:
    """22:30 on 31 December in New York is already 1 January in UTC."""
    (gift_id,) = settled_gifts(sessions, 1)
    with sessions() as session:
        receipt = receipt_for(session, gift_id, datetime(2027, 1, 1, 3, 30, tzinfo=UTC))
        session.commit()
    assert receipt.number == "2026-000001"
    assert receipt.issued_on.isoformat() == "2026-12-31"


def test_a_rolled_back_receipt_gives_its_number_back(sessions: sessionmaker[Session]) -> None:
    first, second, third = settled_gifts(sessions, 3)
    with sessions() as session:
        assert receipt_for(session, first).number == "2026-000001"
        session.rollback()  # even the year's counter row goes: it was created here
    with sessions() as session:
        assert receipt_for(session, first).number == "2026-000001"
        session.commit()
    with sessions() as session:
        assert receipt_for(session, second).number == "2026-000002"
        session.rollback()
    with sessions() as session:
        assert receipt_for(session, third).number == "2026-000002"
        session.commit()
    with sessions() as session:
        numbers = session.scalars(select(Receipt.number).order_by(Receipt.sequence)).all()
        assert numbers == ["2026-000001", "2026-000002"]
        assert session.get_one(ReceiptCounter, 2026).last_number == 2


def test_fifty_gifts_receipted_at_once_get_fifty_distinct_consecutive_numbers(
    sessions: sessionmaker[Session],
) -> None:
    """On PostgreSQL fifty transactions race, the first of them to create the year's
    counter; on SQLite BEGIN IMMEDIATE serialises them."""
    gift_ids = settled_gifts(sessions, 50)
    barrier = threading.Barrier(len(gift_ids))

    def issue(gift_id: int) -> tuple[int, str]:
        barrier.wait(timeout=60)
        with sessions() as session:
            receipt = receipt_for(session, gift_id)
            session.commit()
            return receipt.sequence, receipt.number

    with ThreadPoolExecutor(max_workers=len(gift_ids)) as pool:
        issued = list(pool.map(issue, gift_ids))

    assert sorted(sequence for sequence, _ in issued) == list(range(1, 51))
    assert len({number for _, number in issued}) == 50
    assert all(number == f"2026-{sequence:06d}" for sequence, number in issued)
    with sessions() as session:
        assert session.get_one(ReceiptCounter, 2026).last_number == 50
        stored = session.scalars(select(Receipt.sequence).order_by(Receipt.sequence)).all()
        assert stored == list(range(1, 51))


def test_voiding_notice_and_replacement_take_their_own_numbers(
    sessions: sessionmaker[Session],
) -> None:
    """A partial refund of 40.00: the receipt is voided, and 60.00 is receipted anew."""
    (gift_id,) = settled_gifts(sessions, 1)
    with sessions() as session:
        original = receipt_for(session, gift_id)
        session.commit()
    with sessions() as session:
        original = session.get_one(Receipt, original.id)
        voiding = receipt_for(session, gift_id, kind=ReceiptKind.VOIDING, replaces=original)
        replacement = receipt_for(
            session,
            gift_id,
            kind=ReceiptKind.REPLACEMENT,
            amount=usd("60.00"),
            replaces=original,
        )
        session.commit()
    assert [original.number, voiding.number, replacement.number] == [
        "2026-000001",
        "2026-000002",
        "2026-000003",
    ]
    with sessions() as session:
        stored = session.get_one(Receipt, replacement.id)
        assert stored.kind is ReceiptKind.REPLACEMENT
        assert stored.replaces is not None
        assert stored.replaces.number == "2026-000001"
        assert stored.amount == usd("60.00")
        assert session.get_one(Receipt, voiding.id).replaces_id == original.id
        # The original is untouched: receipts are never edited.
        assert session.get_one(Receipt, original.id).amount == usd("100.00")


def test_a_replacement_must_name_the_receipt_it_replaces(
    sessions: sessionmaker[Session],
) -> None:
    (gift_id,) = settled_gifts(sessions, 1)
    with sessions() as session:
        with pytest.raises(BadReceipt, match="must name"):
            receipt_for(session, gift_id, kind=ReceiptKind.REPLACEMENT)
        assert session.scalar(select(ReceiptCounter.last_number)) is None  # no number taken
