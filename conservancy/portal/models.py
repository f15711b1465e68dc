"""One-time sign-in links for donors.

Only a hash of the token is stored: the database alone cannot sign anyone in.
A token works once (``used_at``) and only until ``expires_at``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy import clock
from conservancy.db import Base
from conservancy.donations.models import Donor


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
