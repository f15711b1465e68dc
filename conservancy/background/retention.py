"""How long rows that serve only for a while are kept; each sweep removes the rest.

=============================================  ==================================================
rows                                           removed once
=============================================  ==================================================
donor sign-in links (``portal_tokens``)        expired :data:`KEEP` (30 days) ago, used or not
donor sessions (``donor_sessions``)            ended, or expired, :data:`KEEP` ago (each expires
                                               ``portal.service.SESSION_LIFETIME`` after it began)
staff one-time links (``staff_tokens``)        expired :data:`KEEP` ago, used or not
staff sessions (``staff_sessions``)            ended, or last seen, :data:`KEEP` ago (none lasts
                                               over a week: ``CONSERVANCY_STAFF_SESSION_HOURS``
                                               is at most 168)
checkout attempts (``checkout_attempts``)      twice the rate limits' window old
                                               (``donations.abuse.WINDOW``): only the window
                                               counts; twice, so that a host whose clock runs
                                               a little behind still counts every try it should
sign-in failures (``staff_sign_in_failures``)  older than the delays remember (a day:
                                               ``staff.sign_in.FAILURE_MEMORY``)
=============================================  ==================================================

The links and sessions are kept a month after they stop working so that staff looking
into a sign-in (the audit log names the link) still find them; a removed link or session
is refused exactly as an expired one is. No link or session that still works is removed.

Kept for good:

- ``form_submissions``, the once-only keys of the staff forms that move money
  (``conservancy.kernel.submissions``). The row is what refuses a form sent a second time,
  and a form can be sent again from a browser's history at any time: its CSRF token
  does not expire (``WTF_CSRF_TIME_LIMIT = None``) and no key carries a date. Removing
  a row would let that send record a cheque or a refund twice. One small row per
  money form acted on is cheap to keep.
- Everything about money (gifts, donations, refunds, invoices), the ledger outbox,
  the audit log and the mail outbox with its history: none of it is touched here.

The newest row of each table is never removed, however old. On SQLite a table without
AUTOINCREMENT gives a new row the largest id plus one, so removing the newest row would
hand its id out again, and these ids are named elsewhere: a donor link's mail is queued
once per key ``portal-link-<id>`` (a reused id would find the old mail and send nothing),
and the audit log names staff links by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, delete, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from conservancy.donations.abuse import WINDOW
from conservancy.payments.models import CheckoutAttempt
from conservancy.portal.models import DonorSession, PortalToken
from conservancy.staff.models import SignInFailure, StaffSession, StaffToken
from conservancy.staff.sign_in import FAILURE_MEMORY

# How long links and sessions are kept after they stop working.
KEEP = timedelta(days=30)


@dataclass(frozen=True)
class Removed:
    portal_links: int = 0
    donor_sessions: int = 0
    staff_links: int = 0
    staff_sessions: int = 0
    checkout_attempts: int = 0
    sign_in_failures: int = 0

    def summary(self) -> str:
        return (
            f"removed {self.portal_links} donor sign-in links, {self.donor_sessions} donor "
            f"sessions, {self.staff_links} staff links, "
            f"{self.staff_sessions} staff sessions, {self.checkout_attempts} checkout attempts, "
            f"{self.sign_in_failures} sign-in failures"
        )


def remove_stale(session: Session, now: datetime) -> Removed:
    """Remove the rows past their keeping (see the table above); flushes, the caller commits."""
    kept_until = now - KEEP
    return Removed(
        portal_links=_remove(session, PortalToken.id, PortalToken.expires_at < kept_until),
        donor_sessions=_remove(
            session,
            DonorSession.id,
            or_(DonorSession.ended_at < kept_until, DonorSession.expires_at < kept_until),
        ),
        staff_links=_remove(session, StaffToken.id, StaffToken.expires_at < kept_until),
        staff_sessions=_remove(
            session,
            StaffSession.id,
            or_(StaffSession.ended_at < kept_until, StaffSession.last_seen_at < kept_until),
        ),
        checkout_attempts=_remove(
            session, CheckoutAttempt.id, CheckoutAttempt.at < now - 2 * WINDOW
        ),
        sign_in_failures=_remove(
            session,
            SignInFailure.id,
            SignInFailure.at <= now - FAILURE_MEMORY,
        ),
    )


def _remove(
    session: Session, id_column: InstrumentedAttribute[int], *stale: ColumnElement[bool]
) -> int:
    newest = select(func.max(id_column)).correlate(None).scalar_subquery()
    done = session.execute(
        delete(id_column.class_)
        .where(*stale, id_column < newest)
        .execution_options(synchronize_session=False)
    )
    return int(cast(CursorResult[Any], done).rowcount or 0)
