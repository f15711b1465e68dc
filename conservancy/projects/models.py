from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from conservancy.infra.db import Base
from conservancy.kernel import clock
from conservancy.money import Currency, Money


class Sponsor(Base):
    """The fiscal sponsor: the legal donee named on every receipt. One row."""

    __tablename__ = "sponsor"

    id: Mapped[int] = mapped_column(primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(200))
    ein: Mapped[str] = mapped_column(String(10))
    address: Mapped[str] = mapped_column(Text)
    time_zone: Mapped[str] = mapped_column(String(64), default="America/New_York")
    signatory_name: Mapped[str | None] = mapped_column(String(200))
    signatory_title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)


class Project(Base):
    """A member project. Its fund is the account component in the books (``Twisted``)."""

    __tablename__ = "projects"
    __table_args__ = (
        CheckConstraint("fee_rate_bp >= 0 AND fee_rate_bp <= 10000", name="fee_rate_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    fund: Mapped[str] = mapped_column(String(64), unique=True)
    # The sponsorship fee in basis points of each gift: 1000 is 10%.
    fee_rate_bp: Mapped[int] = mapped_column(Integer, default=1000)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Whether its public page (/projects/<slug>) lists the expenses paid: payee and category.
    public_expenses: Mapped[bool] = mapped_column(Boolean, default=False)
    blurb: Mapped[str] = mapped_column(Text, default="")
    logo_path: Mapped[str | None] = mapped_column(String(300))
    primary_colour: Mapped[str] = mapped_column(String(7), default="#2b5b84")
    accent_colour: Mapped[str] = mapped_column(String(7), default="#f2b632")
    # Suggested gift amounts, in cents of the project's currency.
    suggested_amounts: Mapped[list[int]] = mapped_column(
        JSON, default=lambda: [1000, 2500, 5000, 10000]
    )
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    # A thank-you gift offered to donors of at least thank_you_minimum_minor (a
    # t-shirt); its fair market value is what the receipt discloses (SPEC section 8).
    thank_you_description: Mapped[str | None] = mapped_column(String(200))
    thank_you_value_minor: Mapped[int | None] = mapped_column(BigInteger)
    thank_you_minimum_minor: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=clock.now)

    @property
    def thank_you_value(self) -> Money | None:
        if self.thank_you_value_minor is None:
            return None
        return Money.from_minor(self.thank_you_value_minor, Currency(self.currency))

    @property
    def thank_you_minimum(self) -> Money | None:
        if self.thank_you_description is None:
            return None
        return Money.from_minor(self.thank_you_minimum_minor or 0, Currency(self.currency))

    @property
    def fee_rate(self) -> Decimal:
        return Decimal(self.fee_rate_bp).scaleb(-4)

    @property
    def suggested(self) -> list[Money]:
        return [Money.from_minor(c, Currency(self.currency)) for c in self.suggested_amounts]


class Campaign(Base):
    """A fund drive with a goal and an end date, shown on the project's page."""

    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("goal_minor > 0", name="goal_positive"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    goal_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3), default="USD")
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)

    project: Mapped[Project] = relationship()

    @property
    def goal(self) -> Money:
        return Money.from_minor(self.goal_minor, Currency(self.currency))
