"""What staff change about a project: checked whole, audited before and after; the fee rate
applies from then on; a logo is known by its bytes and measured by its header."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from conservancy.donations.models import Gift
from conservancy.infra.config import Settings
from conservancy.projects.models import Project
from conservancy.projects.settings import (
    ProjectSettings,
    SettingsRefused,
    change_logo,
    change_project,
    logo_file,
)
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.books import postings
from tests.admin.files import HTML_NAMED_PNG, SVG, image
from tests.factories import refund, settled_gift, usd

STAFF = "admin@example.org"
MAXIMUM = usd("100000.00")


def current(rt: Runtime) -> ProjectSettings:
    with rt.sessions() as session:
        return ProjectSettings.of(
            session.scalars(select(Project).where(Project.slug == "twisted")).one()
        )


def change(rt: Runtime, **kw: object) -> list[str]:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        changed = change_project(
            session, STAFF, project, replace(ProjectSettings.of(project), **kw), maximum=MAXIMUM
        )
        session.commit()
        return changed


def audit(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(session.scalars(select(AuditEntry).order_by(AuditEntry.id)))


def test_a_change_is_saved_and_audited_with_only_what_changed(rt: Runtime) -> None:
    changed = change(
        rt,
        name="Twisted Matrix",
        primary_colour="#AA0000",
        suggested=(usd("5.00"), usd("20.00")),
    )
    assert sorted(changed) == ["name", "primary_colour", "suggested"]
    settings = current(rt)
    assert (settings.name, settings.primary_colour) == ("Twisted Matrix", "#aa0000")
    assert settings.suggested == (usd("5.00"), usd("20.00"))
    [entry] = audit(rt)
    assert (entry.action, entry.actor) == ("project.changed", STAFF)
    assert entry.before == {
        "name": "Twisted",
        "primary_colour": "#2b5b84",
        "suggested": ["10.00 USD", "25.00 USD", "50.00 USD", "100.00 USD"],
    }
    assert entry.after == {
        "name": "Twisted Matrix",
        "primary_colour": "#aa0000",
        "suggested": ["5.00 USD", "20.00 USD"],
    }


def test_saving_without_a_change_writes_nothing_to_the_audit_log(rt: Runtime) -> None:
    assert change(rt) == []
    assert audit(rt) == []


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"name": " "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"blurb": "x" * 1001}, "blurb"),
        ({"primary_colour": "red"}, "primary_colour"),
        ({"accent_colour": "#12345"}, "accent_colour"),
        ({"accent_colour": "#123456; background: url(x)"}, "accent_colour"),
        ({"suggested": ()}, "suggested"),
        ({"suggested": (usd("0.50"),)}, "suggested"),
        ({"suggested": (usd("100000.01"),)}, "suggested"),
        ({"suggested": (usd("10.00"), usd("10.00"))}, "suggested"),
        ({"fee_rate_bp": 10001}, "fee_rate"),
        ({"thank_you_value": usd("5.00")}, "thank_you_description"),
        ({"thank_you_description": "Mug"}, "thank_you_value"),
        (
            {"thank_you_description": "Mug", "thank_you_value": usd("5.00")},
            "thank_you_minimum",
        ),
    ],
)
def test_a_refused_setting_says_which_and_changes_nothing(
    rt: Runtime, kw: dict[str, object], field: str
) -> None:
    before = current(rt)
    with pytest.raises(SettingsRefused) as refused:
        change(rt, **kw)
    assert refused.value.field == field
    assert current(rt) == before
    assert audit(rt) == []


def test_a_thank_you_gift_is_offered_and_withdrawn(rt: Runtime) -> None:
    change(
        rt,
        thank_you_description="Twisted mug",
        thank_you_value=usd("12.00"),
        thank_you_minimum=usd("50.00"),
    )
    assert current(rt).thank_you_value == usd("12.00")
    change(rt, thank_you_description=None, thank_you_value=None, thank_you_minimum=None)
    assert current(rt).thank_you_description is None


def test_a_new_fee_rate_applies_to_new_gifts_and_refunds_keep_the_old_one(rt: Runtime) -> None:
    before = settled_gift(rt, fee="0.00")
    change(rt, fee_rate_bp=500)
    after = settled_gift(rt, fee="0.00", email="grace@example.org")
    with rt.sessions() as session:
        old, new = session.get(Gift, before), session.get(Gift, after)
        assert old is not None
        assert new is not None
        assert (old.fee_rate_bp, new.fee_rate_bp) == (1000, 500)
        old_ref, new_ref = old.ref, new.ref
    assert postings(rt, f"{new_ref}/sponsorship-fee")["Expenses:Twisted:Sponsorship-Fees"] == (
        Decimal("5.00")
    )
    refund(rt, before, "40.00", "re_old")
    assert postings(rt, "stripe-re_old/sponsorship-fee")[
        "Expenses:Twisted:Sponsorship-Fees"
    ] == Decimal("-4.00")
    assert old_ref != new_ref


# -- the logo ---------------------------------------------------------------------------


def upload(rt: Runtime, data: bytes) -> str:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        path = change_logo(session, STAFF, project, data, uploads_dir=rt.settings.uploads_dir)
        session.commit()
        return path


@pytest.mark.parametrize(("kind", "extension"), [("PNG", "png"), ("JPEG", "jpg"), ("WEBP", "webp")])
def test_a_logo_is_stored_by_its_content_and_served_as_what_it_is(
    rt: Runtime, kind: str, extension: str
) -> None:
    data = image(kind)
    path = upload(rt, data)
    assert path.startswith("logos/twisted-")
    assert path.endswith(f".{extension}")
    assert (rt.settings.uploads_dir / path).read_bytes() == data
    found = logo_file(rt.settings.uploads_dir, path.removeprefix("logos/"))
    assert found is not None
    assert found[1] == f"image/{kind.lower()}"
    [entry] = audit(rt)
    assert (entry.action, entry.before, entry.after) == (
        "project.logo_changed",
        {"logo": None},
        {"logo": path},
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (SVG, "SVG"),
        (HTML_NAMED_PNG, "SVG and other markup"),
        (b"GIF89a" + b"\0" * 40, "not a PNG, JPEG or WebP"),
        (image("PNG", (2001, 10)), "2001 x 10"),
        (image("JPEG", (10, 2001)), "10 x 2001"),
        (image("PNG")[:20], "cannot be read"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (1024 * 1024), "at most 1 MB"),
        (b"", "Choose a logo file"),
    ],
    ids=["svg", "html", "gif", "too-wide", "too-tall", "truncated", "too-large", "empty"],
)
def test_a_logo_is_refused_by_its_bytes_and_nothing_is_stored(
    rt: Runtime, data: bytes, message: str
) -> None:
    with pytest.raises(SettingsRefused) as refused:
        upload(rt, data)
    assert refused.value.field == "logo"
    assert message in str(refused.value)
    assert not (rt.settings.uploads_dir / "logos").exists()
    with rt.sessions() as session:
        assert session.scalars(select(Project.logo_path)).all() == [None, None]


def test_a_logo_name_that_could_leave_the_folder_is_no_logo(rt: Runtime) -> None:
    upload(rt, image("PNG"))
    for name in ("../conservancy.db", "twisted-0123456789abcdef.svg", "x/../../y.png"):
        assert logo_file(rt.settings.uploads_dir, name) is None


def test_logos_go_to_the_uploads_directory_set_or_the_instance_folders() -> None:
    assert Settings.from_env({}).uploads_dir == Path.cwd() / "instance" / "uploads"
    moved = Settings.from_env({"CONSERVANCY_INSTANCE_DIR": "/srv/c/instance"})
    assert moved.uploads_dir == Path("/srv/c/instance/uploads")
    chosen = Settings.from_env({"CONSERVANCY_UPLOADS_DIR": "/srv/c/public-uploads"})
    assert chosen.uploads_dir == Path("/srv/c/public-uploads")
