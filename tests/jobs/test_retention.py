"""Each sweep removes spent sign-in links and sessions and old rate-limit counts, keeps
whatever still works or still counts, and never touches money, the books' outbox, the
audit log, mail or the once-only keys of money forms."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conservancy.background.retention import Removed, remove_stale
from conservancy.background.sweep import sweep
from conservancy.donations.abuse import TooManyAttempts, admit_attempt
from conservancy.donations.models import Donor
from conservancy.kernel import clock
from conservancy.kernel.submissions import AlreadySubmitted, FormSubmission, claim, new_key
from conservancy.ledger.models import LedgerOutbox
from conservancy.ledger.outbox import record
from conservancy.mail.models import MailMessage
from conservancy.payments.models import CheckoutAttempt
from conservancy.portal import service as portal
from conservancy.portal.models import DonorSession, PortalToken
from conservancy.runtime import Runtime
from conservancy.staff.models import (
    AuditEntry,
    SignInFailure,
    StaffSession,
    StaffToken,
    StaffUser,
    TokenPurpose,
)
from conservancy.staff.service import token_hash, use_link
from tests import factories

LONG_AGO = timedelta(days=40)  # past the month links and sessions are kept
BASE_URL = "https://donate.example.org"


def _donor(session: Session) -> Donor:
    donor = Donor(ref="D-1", name="Ada Lovelace", email="ada@example.org")
    session.add(donor)
    session.flush()
    return donor


def _user(session: Session) -> StaffUser:
    user = StaffUser(email="grace@example.org", name="Grace", active=True)
    session.add(user)
    session.flush()
    return user


def _portal_token(session: Session, donor: Donor, expires_at: datetime, **kw: object) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        PortalToken(
            donor_id=donor.id,
            token_hash=portal.token_hash(token),
            created_at=expires_at - portal.LINK_LIFETIME,
            expires_at=expires_at,
            **kw,
        )
    )
    session.flush()
    return token


def _staff_token(session: Session, user: StaffUser, expires_at: datetime, **kw: object) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        StaffToken(
            user_id=user.id,
            purpose=TokenPurpose.INVITE,
            token_hash=token_hash(token),
            created_at=expires_at - timedelta(hours=72),
            expires_at=expires_at,
            **kw,
        )
    )
    session.flush()
    return token


def _staff_session(
    session: Session, user: StaffUser, last_seen_at: datetime, ended_at: datetime | None = None
) -> int:
    row = StaffSession(
        user_id=user.id,
        id_hash=secrets.token_hex(32),
        created_at=last_seen_at - timedelta(hours=1),
        last_seen_at=last_seen_at,
        ended_at=ended_at,
    )
    session.add(row)
    session.flush()
    return row.id


def _ids(session: Session, column: object) -> list[int]:
    return list(session.scalars(select(column).order_by(column)))  # type: ignore[call-overload]


def test_spent_donor_links_are_removed_and_live_ones_still_sign_in(runtime: Runtime) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        donor = _donor(session)
        _portal_token(session, donor, now - LONG_AGO, used_at=now - LONG_AGO)  # used
        _portal_token(session, donor, now - LONG_AGO)  # never used
        _portal_token(session, donor, now - timedelta(days=2))  # expired, not a month ago
        live = _portal_token(session, donor, now + timedelta(minutes=20))
        session.commit()

        removed = remove_stale(session, now)
        session.commit()

        assert removed.portal_links == 2
        assert _ids(session, PortalToken.id) == [3, 4]
        assert portal.sign_in(session, live, now) == donor.id


def _donor_session(
    session: Session, donor: Donor, expires_at: datetime, ended_at: datetime | None = None
) -> int:
    row = DonorSession(
        donor_id=donor.id,
        id_hash=secrets.token_hex(32),
        created_at=expires_at - portal.SESSION_LIFETIME,
        expires_at=expires_at,
        ended_at=ended_at,
    )
    session.add(row)
    session.flush()
    return row.id


def test_spent_donor_sessions_are_removed_and_a_live_one_still_signs_in(
    runtime: Runtime,
) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        donor = _donor(session)
        _donor_session(session, donor, now - LONG_AGO + timedelta(hours=1), now - LONG_AGO)
        _donor_session(session, donor, now - LONG_AGO)  # expired, never signed out
        _donor_session(session, donor, now + timedelta(hours=2), now)  # signed out lately
        live = portal.start_session(session, donor.id, now)
        session.commit()

        removed = remove_stale(session, now)
        session.commit()

        assert removed.donor_sessions == 2
        assert _ids(session, DonorSession.id) == [3, 4]
        assert portal.signed_in_donor(session, live, now) == donor.id
        assert "2 donor sessions" in removed.summary()


def test_spent_staff_links_and_sessions_are_removed_and_live_ones_kept(
    runtime: Runtime,
) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        user = _user(session)
        _staff_token(session, user, now - LONG_AGO, used_at=now - LONG_AGO)
        _staff_token(session, user, now - LONG_AGO)
        live_link = _staff_token(session, user, now + timedelta(hours=1))
        _staff_session(session, user, now - LONG_AGO, ended_at=now - LONG_AGO)  # signed out
        _staff_session(session, user, now - LONG_AGO)  # timed out, never marked ended
        ended_lately = _staff_session(session, user, now - timedelta(days=2), now)
        signed_in = _staff_session(session, user, now - timedelta(minutes=1))
        session.commit()

        removed = remove_stale(session, now)
        session.commit()

        assert (removed.staff_links, removed.staff_sessions) == (2, 2)
        assert _ids(session, StaffSession.id) == [ended_lately, signed_in]
        assert use_link(session, live_link, TokenPurpose.INVITE, now).id == user.id


def test_old_checkout_attempts_go_and_recent_ones_still_hold_the_rate_limit(
    runtime: Runtime,
) -> None:
    now = clock.now()
    key = b"test-secret-key-0123456789"
    with runtime.sessions() as session:
        for n in range(3):  # other clients, an hour ago
            session.add(CheckoutAttempt(address_hash=f"{n:064x}", at=now - timedelta(hours=1)))
        for n in range(10):  # the limit per address, all within the window
            admit_attempt(
                session,
                key=key,
                address="203.0.113.5",
                email=f"d{n}@example.org",
                now=now - timedelta(minutes=5),
            )
        session.commit()

        removed = remove_stale(session, now)
        session.commit()

        assert removed.checkout_attempts == 3
        assert session.scalar(select(func.count()).select_from(CheckoutAttempt)) == 10
        with pytest.raises(TooManyAttempts):
            admit_attempt(session, key=key, address="203.0.113.5", email="x@example.org", now=now)


def test_sign_in_failures_go_once_they_no_longer_delay_anyone(runtime: Runtime) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        session.add(SignInFailure(email_hash="a" * 64, at=now - timedelta(hours=25)))
        session.add(SignInFailure(email_hash="b" * 64, at=now - timedelta(hours=20)))
        session.add(SignInFailure(email_hash="c" * 64, at=now - timedelta(minutes=1)))
        session.commit()

        removed = remove_stale(session, now)
        session.commit()

        assert removed.sign_in_failures == 1
        assert sorted(session.scalars(select(SignInFailure.email_hash))) == ["b" * 64, "c" * 64]


def test_the_newest_link_is_kept_so_its_id_and_mail_key_are_never_reused(
    runtime: Runtime,
) -> None:
    """On SQLite a removed newest row's id would be handed out again, and a donor link's
    mail is queued once per portal-link-<id>: the next link would never be mailed."""
    now = clock.now()
    with runtime.sessions() as session:
        _donor(session)
        for _ in range(2):
            assert portal.request_link(session, email="ada@example.org", base_url=BASE_URL, now=now)
        session.commit()

        later = now + portal.LINK_LIFETIME + LONG_AGO
        assert remove_stale(session, later).portal_links == 1
        session.commit()
        assert portal.request_link(session, email="ada@example.org", base_url=BASE_URL, now=later)
        session.commit()

        keys = list(session.scalars(select(MailMessage.key).order_by(MailMessage.id)))
        assert keys == ["portal-link-1", "portal-link-2", "portal-link-3"]


def test_money_forms_keys_the_books_outbox_audit_log_and_mail_are_never_removed(
    runtime: Runtime,
) -> None:
    now = clock.now()
    years_ago = now - timedelta(days=800)
    form_key = new_key()
    with runtime.sessions() as session:
        factories.project(session)
        record(session, factories.gift("kept-1"))
        session.add(FormSubmission(key=form_key, action="offline-gift", created_at=years_ago))
        session.add(AuditEntry(at=years_ago, actor="cli", action="user.added"))
        _donor(session)
        portal.request_link(session, email="ada@example.org", base_url=BASE_URL, now=years_ago)
        session.commit()
    runtime.post_ledger()

    def counts() -> list[int]:
        with runtime.sessions() as session:
            return [
                int(session.scalar(select(func.count()).select_from(table)) or 0)
                for table in (LedgerOutbox, FormSubmission, AuditEntry, MailMessage)
            ]

    before = counts()
    first = sweep(runtime)
    again = sweep(runtime)

    assert counts() == before
    assert first.removed == again.removed == Removed()  # the one link is the newest: kept
    with runtime.sessions() as session, pytest.raises(AlreadySubmitted):
        claim(session, form_key, "offline-gift")


def test_a_second_sweep_finds_nothing_more_to_remove(runtime: Runtime) -> None:
    now = clock.now()
    with runtime.sessions() as session:
        donor = _donor(session)
        for _ in range(3):
            _portal_token(session, donor, now - LONG_AGO)
        session.commit()

    first = sweep(runtime)
    second = sweep(runtime)

    assert first.removed.portal_links == 2
    assert second.removed == Removed()
    assert "removed 2 donor sign-in links," in first.summary()
