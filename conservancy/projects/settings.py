"""What staff change about a member project: its page, its fee rate, whether it takes gifts,
and its campaigns.

Each change is checked whole (nothing is written if any part is refused) and
written to the audit log with the fields it changed, before and after. A new
fee rate applies to gifts settled from then on: each gift keeps the rate it was
booked at (``Gift.fee_rate_bp``), and its refunds reverse at that rate.

A campaign is a fund drive: a name, a goal in the project's currency, and the
days it runs, first and last included. What it has raised is counted from the
gifts settled in those days (conservancy.donations.service.campaign_raised), so
moving its dates moves what it counts.

A logo is a PNG, JPEG or WebP of at most 1 MB and 2000 x 2000 pixels, known by
its bytes and measured from its header; never SVG, which can carry scripts. It
is stored under the uploads directory as ``logos/<slug>-<sha256 prefix>.<ext>``:
a new logo is a new file, so a cached old one is never shown for it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from conservancy.donations.service import MINIMUM
from conservancy.kernel import uploads
from conservancy.kernel.errors import DomainError
from conservancy.money import Currency, Money
from conservancy.projects.models import Campaign, Project
from conservancy.receipts.issue import store
from conservancy.staff import audit
from conservancy.staff.permissions import Staff

NAME_LIMIT = 200
BLURB_LIMIT = 1000
THANK_YOU_LIMIT = 200
MOST_SUGGESTED = 6
# The largest campaign goal, in minor units: 100,000,000.00. A bound on typing
# mistakes (a goal with three zeros too many), not on ambition.
CAMPAIGN_GOAL_LIMIT = 100_000_000_00
LOGO_LIMIT = 1024 * 1024
LOGO_MAX_SIDE = 2000
LOGO_KINDS = (uploads.PNG, uploads.JPEG, uploads.WEBP)
_COLOUR = re.compile(r"^#[0-9a-f]{6}$")


class SettingsRefused(DomainError):
    """A project setting the rules do not allow; ``field`` is the form field it is about."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ProjectSettings:
    name: str
    blurb: str
    primary_colour: str
    accent_colour: str
    suggested: tuple[Money, ...]
    fee_rate_bp: int
    active: bool
    public_expenses: bool = False
    thank_you_description: str | None = None
    thank_you_value: Money | None = None
    thank_you_minimum: Money | None = None

    @classmethod
    def of(cls, project: Project) -> ProjectSettings:
        return cls(
            name=project.name,
            blurb=project.blurb,
            primary_colour=project.primary_colour,
            accent_colour=project.accent_colour,
            suggested=tuple(project.suggested),
            fee_rate_bp=project.fee_rate_bp,
            active=project.active,
            public_expenses=project.public_expenses,
            thank_you_description=project.thank_you_description,
            thank_you_value=project.thank_you_value,
            thank_you_minimum=project.thank_you_minimum,
        )

    def shown(self) -> dict[str, Any]:
        """Each setting as the audit log shows it."""

        def show(value: object) -> Any:
            if isinstance(value, Money):
                return str(value)
            if isinstance(value, tuple):
                return [show(v) for v in value]
            return value

        return {f.name: show(getattr(self, f.name)) for f in fields(self)}


def change_project(
    session: Session,
    actor: Staff | str,
    project: Project,
    wanted: ProjectSettings,
    *,
    maximum: Money,
) -> list[str]:
    """Check ``wanted`` whole, apply it, and audit what changed; returns the changed fields.

    ``maximum`` is the largest gift the donation form takes (a suggested amount
    must be one it would). Raises SettingsRefused with nothing changed. Flushes.
    """
    checked = _checked(project, wanted, maximum)
    before, after = ProjectSettings.of(project).shown(), checked.shown()
    changed = [key for key in after if before[key] != after[key]]
    if not changed:
        return []
    project.name = checked.name
    project.blurb = checked.blurb
    project.primary_colour = checked.primary_colour
    project.accent_colour = checked.accent_colour
    project.suggested_amounts = [m.minor for m in checked.suggested]
    project.fee_rate_bp = checked.fee_rate_bp
    project.active = checked.active
    project.public_expenses = checked.public_expenses
    project.thank_you_description = checked.thank_you_description
    project.thank_you_value_minor = (
        checked.thank_you_value.minor if checked.thank_you_value else None
    )
    project.thank_you_minimum_minor = (
        checked.thank_you_minimum.minor if checked.thank_you_minimum else None
    )
    audit.record(
        session,
        actor,
        "project.changed",
        ("project", project.id),
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    session.flush()
    return changed


def _checked(project: Project, wanted: ProjectSettings, maximum: Money) -> ProjectSettings:
    currency = Currency(project.currency)
    name = " ".join(wanted.name.split())
    if not name:
        raise SettingsRefused("Give the project's name.", "name")
    if len(name) > NAME_LIMIT:
        raise SettingsRefused(f"A name is at most {NAME_LIMIT} characters.", "name")
    blurb = wanted.blurb.strip().replace("\r\n", "\n")
    if len(blurb) > BLURB_LIMIT:
        raise SettingsRefused(f"The blurb is at most {BLURB_LIMIT} characters.", "blurb")
    colours = []
    for field in ("primary_colour", "accent_colour"):
        colour = str(getattr(wanted, field)).strip().lower()
        if not _COLOUR.match(colour):
            raise SettingsRefused("A colour is # and six hex digits, such as #2b5b84.", field)
        colours.append(colour)
    suggested = _suggested(wanted.suggested, currency, maximum)
    if not 0 <= wanted.fee_rate_bp <= 10000:
        raise SettingsRefused("The fee rate is a percentage from 0 to 100.", "fee_rate")
    description, value, minimum = _thank_you(wanted, currency)
    return ProjectSettings(
        name=name,
        blurb=blurb,
        primary_colour=colours[0],
        accent_colour=colours[1],
        suggested=suggested,
        fee_rate_bp=wanted.fee_rate_bp,
        active=wanted.active,
        public_expenses=wanted.public_expenses,
        thank_you_description=description,
        thank_you_value=value,
        thank_you_minimum=minimum,
    )


def _suggested(amounts: tuple[Money, ...], currency: Currency, maximum: Money) -> tuple[Money, ...]:
    if not amounts:
        raise SettingsRefused("Suggest at least one amount, such as 10, 25, 50.", "suggested")
    if len(amounts) > MOST_SUGGESTED:
        raise SettingsRefused(f"Suggest at most {MOST_SUGGESTED} amounts.", "suggested")
    smallest = Money.from_minor(MINIMUM.minor, currency)
    largest = Money.from_minor(maximum.minor, currency)
    for amount in amounts:
        if amount.currency is not currency:
            raise SettingsRefused(f"This project takes gifts in {currency}.", "suggested")
        if not smallest <= amount <= largest:
            raise SettingsRefused(
                f"Each amount must be from {smallest.format()} to {largest.format()}; "
                f"{amount.format()} is not.",
                "suggested",
            )
    if len({a.minor for a in amounts}) != len(amounts):
        raise SettingsRefused("Suggest each amount once.", "suggested")
    return tuple(amounts)


def _thank_you(
    wanted: ProjectSettings, currency: Currency
) -> tuple[str | None, Money | None, Money | None]:
    description = " ".join((wanted.thank_you_description or "").split()) or None
    if description is None:
        if wanted.thank_you_value is not None or wanted.thank_you_minimum is not None:
            raise SettingsRefused(
                "Describe the thank-you gift, or leave its value and minimum empty.",
                "thank_you_description",
            )
        return None, None, None
    if len(description) > THANK_YOU_LIMIT:
        raise SettingsRefused(
            f"A description is at most {THANK_YOU_LIMIT} characters.", "thank_you_description"
        )
    value, minimum = wanted.thank_you_value, wanted.thank_you_minimum
    if value is None or value.currency is not currency or value.minor < 0:
        raise SettingsRefused(
            "Give the thank-you gift's fair market value (0.00 or more): the receipt discloses it.",
            "thank_you_value",
        )
    smallest = Money.from_minor(MINIMUM.minor, currency)
    if minimum is None or minimum.currency is not currency or minimum < smallest:
        raise SettingsRefused(
            f"Give the smallest gift that earns it: {smallest.format()} or more.",
            "thank_you_minimum",
        )
    return description, value, minimum


# -- campaigns --------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignSettings:
    name: str
    goal: Money
    starts_on: date
    ends_on: date

    @classmethod
    def of(cls, campaign: Campaign) -> CampaignSettings:
        return cls(
            name=campaign.name,
            goal=campaign.goal,
            starts_on=campaign.starts_on,
            ends_on=campaign.ends_on,
        )

    def shown(self) -> dict[str, str]:
        """Each setting as the audit log shows it."""
        return {
            "name": self.name,
            "goal": str(self.goal),
            "starts_on": self.starts_on.isoformat(),
            "ends_on": self.ends_on.isoformat(),
        }


def add_campaign(
    session: Session, actor: Staff | str, project: Project, wanted: CampaignSettings
) -> Campaign:
    """Check ``wanted`` whole and add it as a campaign of ``project``, audited.

    Its goal is in the project's currency. Raises SettingsRefused with nothing
    added. Flushes.
    """
    checked = _checked_campaign(Currency(project.currency), wanted)
    campaign = Campaign(
        project_id=project.id,
        name=checked.name,
        goal_minor=checked.goal.minor,
        currency=project.currency,
        starts_on=checked.starts_on,
        ends_on=checked.ends_on,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session,
        actor,
        "campaign.added",
        ("campaign", campaign.id),
        after={"project": project.slug, **checked.shown()},
    )
    return campaign


def change_campaign(
    session: Session, actor: Staff | str, campaign: Campaign, wanted: CampaignSettings
) -> list[str]:
    """Check ``wanted`` whole, apply it, and audit what changed; returns the changed fields.

    Raises SettingsRefused with nothing changed. Flushes.
    """
    checked = _checked_campaign(Currency(campaign.currency), wanted)
    before, after = CampaignSettings.of(campaign).shown(), checked.shown()
    changed = [key for key in after if before[key] != after[key]]
    if not changed:
        return []
    campaign.name = checked.name
    campaign.goal_minor = checked.goal.minor
    campaign.starts_on = checked.starts_on
    campaign.ends_on = checked.ends_on
    audit.record(
        session,
        actor,
        "campaign.changed",
        ("campaign", campaign.id),
        before={key: before[key] for key in changed},
        after={key: after[key] for key in changed},
    )
    session.flush()
    return changed


def _checked_campaign(currency: Currency, wanted: CampaignSettings) -> CampaignSettings:
    name = " ".join(wanted.name.split())
    if not name:
        raise SettingsRefused("Give the campaign's name.", "name")
    if len(name) > NAME_LIMIT:
        raise SettingsRefused(f"A name is at most {NAME_LIMIT} characters.", "name")
    goal = wanted.goal
    if goal.currency is not currency:
        raise SettingsRefused(f"This project's campaigns count in {currency}.", "goal")
    if goal.minor <= 0:
        raise SettingsRefused("A goal is more than zero.", "goal")
    largest = Money.from_minor(CAMPAIGN_GOAL_LIMIT, currency)
    if goal > largest:
        raise SettingsRefused(f"A goal is at most {largest.format()}.", "goal")
    if wanted.ends_on < wanted.starts_on:
        raise SettingsRefused(
            "A campaign ends on or after the day it starts: check the last day.", "ends_on"
        )
    return CampaignSettings(name, goal, wanted.starts_on, wanted.ends_on)


# -- the logo -------------------------------------------------------------------------


def check_logo(data: bytes) -> uploads.Kind:
    """The logo's kind, by its bytes and header; SettingsRefused if it is not one we show."""
    if not data:
        raise SettingsRefused("Choose a logo file: PNG, JPEG or WebP.", "logo")
    if len(data) > LOGO_LIMIT:
        raise SettingsRefused("A logo is at most 1 MB.", "logo")
    if uploads.looks_like_markup(data):
        raise SettingsRefused(
            "SVG and other markup cannot be a logo here (it can carry scripts): "
            "use a PNG, JPEG or WebP image.",
            "logo",
        )
    kind = uploads.sniff(data)
    if kind not in LOGO_KINDS:
        raise SettingsRefused("This file is not a PNG, JPEG or WebP image.", "logo")
    size = uploads.image_size(data, kind)
    if size is None or 0 in size:
        raise SettingsRefused(f"This {kind.name} image cannot be read.", "logo")
    width, height = size
    if width > LOGO_MAX_SIDE or height > LOGO_MAX_SIDE:
        raise SettingsRefused(
            f"A logo is at most {LOGO_MAX_SIDE} x {LOGO_MAX_SIDE} pixels; "
            f"this one is {width} x {height}.",
            "logo",
        )
    return kind


def change_logo(
    session: Session, actor: Staff | str, project: Project, data: bytes, *, uploads_dir: Path
) -> str:
    """Check and store a new logo for the project and audit it; returns its relative path."""
    kind = check_logo(data)
    digest = hashlib.sha256(data).hexdigest()
    relative = f"logos/{project.slug}-{digest[:16]}.{kind.extension}"
    before = project.logo_path
    if before == relative:
        return relative
    store(uploads_dir, relative, data)
    project.logo_path = relative
    audit.record(
        session,
        actor,
        "project.logo_changed",
        ("project", project.id),
        before={"logo": before},
        after={"logo": relative},
    )
    session.flush()
    return relative


LOGO_NAME = re.compile(r"^[a-z0-9-]+-[0-9a-f]{16}\.(png|jpg|webp)$")


def logo_file(uploads_dir: Path, name: str) -> tuple[Path, str] | None:
    """The stored logo called ``name`` and its content type; None if no such name can exist."""
    found = LOGO_NAME.match(name)
    if found is None:
        return None
    path = uploads_dir / "logos" / name
    if not path.is_file():
        return None
    return path, uploads.BY_EXTENSION[found.group(1)].content_type
