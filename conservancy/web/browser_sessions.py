"""The browser's cookie holds at most one session: a staff user's or a donor's.

Signing in or out on either side clears the cookie (nothing set before carries
over). Whatever session it held is ended on the server first, staff or donor
alike: forgotten by this browser but alive there, a copy of the cookie taken
before would still sign someone in until it expired.
"""

from __future__ import annotations

from datetime import datetime

from flask import session as web_session
from sqlalchemy.orm import Session

from conservancy.portal import service as portal
from conservancy.staff import sign_in
from conservancy.web.auth import SESSION_KEY as STAFF_SESSION_KEY

DONOR_SESSION_KEY = "donor_session"


def end_sessions(session: Session, now: datetime) -> None:
    """End on the server every session the cookie holds, then clear it (the caller commits)."""
    staff = web_session.get(STAFF_SESSION_KEY)
    if isinstance(staff, str):
        sign_in.sign_out(session, staff, now)
    donor = web_session.get(DONOR_SESSION_KEY)
    if isinstance(donor, str):
        portal.sign_out(session, donor, now)
    web_session.clear()
