"""The database keeps money to the cent and every donation's status history."""

from __future__ import annotations

import logging
import traceback
from decimal import Decimal

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from conservancy.donations.models import (
    Donation,
    DonationStatus,
    DonationStatusChange,
    Donor,
    InvalidTransition,
)
from conservancy.money import Currency, Money
from conservancy.runtime import Runtime
from tests import factories

AMOUNTS = ["0.01", "0.10", "0.29", "1234567.89", "99999999.99"]


def _donor(session: Session, n: int = 1) -> Donor:
    donor = Donor(ref=f"d{n}", name="Ada Lovelace", email=f"ada{n}@example.org")
    session.add(donor)
    return donor


def _donation(session: Session, amount: str = "25.00") -> Donation:
    donation = Donation(
        project=factories.project(session), donor=_donor(session), donor_name="Ada Lovelace"
    )
    donation.amount = Money(Decimal(amount), Currency.USD)
    session.add(donation)
    session.flush()
    return donation


def test_amounts_come_back_to_the_cent_in_a_new_session(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        project = factories.project(session)
        donor = _donor(session)
        ids = {}
        for amount in AMOUNTS:
            donation = Donation(project=project, donor=donor, donor_name="Ada Lovelace")
            donation.amount = Money(Decimal(amount), Currency.USD)
            session.add(donation)
            session.flush()
            ids[amount] = donation.id
        session.commit()

    with runtime.sessions() as session:
        for amount, donation_id in ids.items():
            stored = session.get_one(Donation, donation_id)
            assert stored.amount == Money(Decimal(amount), Currency.USD)
            assert stored.amount.minor == int(Decimal(amount) * 100)
            assert str(stored.amount) == f"{amount} USD"


def test_amount_column_holds_integer_cents(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        project = factories.project(session)
        donor = _donor(session)
        for amount in AMOUNTS:
            donation = Donation(project=project, donor=donor, donor_name="Ada Lovelace")
            donation.amount = Money(Decimal(amount), Currency.USD)
            session.add(donation)
        session.commit()

    with runtime.engine.connect() as conn:
        raw = conn.execute(text("SELECT amount_minor FROM donations ORDER BY id")).scalars().all()
    assert raw == [1, 10, 29, 123456789, 9999999999]
    assert all(type(value) is int for value in raw)


def test_a_zero_amount_is_refused_by_the_database(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        donation = Donation(
            project=factories.project(session), donor=_donor(session), donor_name="Ada Lovelace"
        )
        donation.amount_minor = 0
        session.add(donation)
        with pytest.raises(IntegrityError, match="amount_positive"):
            session.flush()


def test_change_status_writes_a_history_row(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        donation = _donation(session)
        donation.change_status(DonationStatus.PAID, reason="checkout completed")
        session.commit()
        donation_id = donation.id

    with runtime.sessions() as session:
        stored = session.get_one(Donation, donation_id)
        assert stored.status is DonationStatus.PAID
        assert [(h.from_status, h.to_status, h.reason) for h in stored.history] == [
            (DonationStatus.PENDING, DonationStatus.PAID, "checkout completed")
        ]
        assert stored.history[0].changed_at is not None


def test_a_forbidden_transition_raises_and_writes_nothing(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        donation = _donation(session)
        donation.change_status(DonationStatus.PAID)
        donation.change_status(DonationStatus.REFUNDED)
        session.commit()
        donation_id = donation.id

    with runtime.sessions() as session:
        stored = session.get_one(Donation, donation_id)
        with pytest.raises(InvalidTransition, match="refunded to paid"):
            stored.change_status(DonationStatus.PAID)
        session.commit()

    with runtime.sessions() as session:
        stored = session.get_one(Donation, donation_id)
        assert stored.status is DonationStatus.REFUNDED
        count = session.scalar(select(func.count()).select_from(DonationStatusChange))
        assert count == 2


def test_a_pending_donation_cannot_be_refunded(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        donation = _donation(session)
        with pytest.raises(InvalidTransition):
            donation.change_status(DonationStatus.REFUNDED)
        assert donation.status is DonationStatus.PENDING
        assert donation.history == []


SECRET_EMAIL = "grace.hopper.7781@example.org"
SECRET_NAME = "Grace Brewster Murray Hopper"


def _broken_donor(case: str) -> Donor:
    """A row the database refuses, holding the secrets: a second donor with an e-mail
    already on file (PostgreSQL quotes the key), or one without a ref (it quotes the row)."""
    if case == "duplicate e-mail":
        return Donor(ref="d2", name=SECRET_NAME, email=SECRET_EMAIL)
    return Donor(ref=None, name=SECRET_NAME, email="other." + SECRET_EMAIL)


@pytest.mark.parametrize("case", ["duplicate e-mail", "missing ref"])
def test_a_database_error_and_its_log_name_the_problem_but_no_value(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    """A failed insert used to carry its bound parameters (the donor's name, e-mail and
    address) into the exception, and from there into the error log."""
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # the engine's own log too
    with runtime.sessions() as session:
        session.add(Donor(ref="d1", name="Ada Lovelace", email=SECRET_EMAIL))
        session.commit()
        session.add(_broken_donor(case))
        with pytest.raises(IntegrityError) as caught:
            session.flush()
        logging.getLogger("conservancy.web.app").exception("unhandled error")

    told = "".join(traceback.format_exception(caught.value))  # the driver's error included
    assert "donors" in str(caught.value)  # what failed is still named
    for secret in (SECRET_NAME, SECRET_EMAIL):
        assert secret not in told
        assert secret not in caplog.text


@pytest.mark.postgresql
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_each_postgresql_test_starts_from_a_database_as_newly_migrated(
    runtime: Runtime, database_url: str, empty_postgresql: str
) -> None:
    """The suite empties the worker's database between tests (tests/conftest.py): every table
    with rows before is empty after, and ids start again from where a new database starts."""
    with runtime.sessions() as session:
        _donation(session)
        session.commit()
    with runtime.engine.connect() as conn:
        tables = conn.scalars(
            text(
                "SELECT relname FROM pg_class WHERE relkind = 'r'"
                " AND relnamespace = current_schema()::regnamespace"
                " AND relname <> 'alembic_version'"
            )
        ).all()
        assert sum(conn.scalar(text(f'SELECT count(*) FROM "{t}"')) for t in tables) > 0
        conn.exec_driver_sql(empty_postgresql)
        conn.commit()
        assert [t for t in tables if conn.scalar(text(f'SELECT count(*) FROM "{t}"'))] == []
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) is not None
    with runtime.sessions() as session:
        again = Donor(ref="d9", name="Grace Hopper", email="grace@example.org")
        session.add(again)
        session.commit()
        assert again.id == 1
