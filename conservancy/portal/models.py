"""One-time sign-in links for donors, and the sessions they start.

Only a hash of a link's token, or of a session's id, is stored: the database alone
cannot sign anyone in. A link works once (``used_at``) and only until ``expires_at``;
a session lasts until ``expires_at`` or until the donor signs out (``ended_at``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.donations.models import Donor
from conservancy.infra.db import Base
from conservancy.kernel import clock


class PortalToken(Base):
    __tablename__ = "portal_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), index=True)
    # sha256 of the token, hex.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    donor: Mapped[Donor] = relationship()


class DonorSession(Base):
    """A browser signed in to the portal. The cookie holds a random id; the row, its sha256.

    Kept on the server so that signing out ends it for good: a copy of the cookie
    taken before is refused, as staff sessions are (conservancy.staff.models.StaffSession).
    """

    __tablename__ = "donor_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    donor_id: Mapped[int] = mapped_column(ForeignKey("donors.id"), index=True)
    id_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # When the session was last used (written at most once a minute); it ends after
    # CONSERVANCY_DONOR_IDLE_MINUTES without use. None: begun before migration 0019,
    # idle since it began.
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
