"""A project's settings page: branding that reaches the donation page, a logo served as what
it is, donations closed and opened again."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.files import SVG, image
from tests.admin.pages import error_by, send, signed_in
from tests.portal.donor import csrf_token

PAGE = "/admin/projects/twisted"
SETTINGS = {
    "name": "Twisted",
    "blurb": "An event-driven networking engine.",
    "primary_colour": "#2b5b84",
    "accent_colour": "#f2b632",
    "suggested": "10, 25, 50, 100",
    "fee_rate": "10",
    "active": "y",
    "thank_you_description": "",
    "thank_you_value": "",
    "thank_you_minimum": "",
}


@pytest.fixture
def admin(app: Flask, rt: Runtime) -> FlaskClient:
    return signed_in(app, rt, "admin")


def twisted(rt: Runtime) -> Project:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        session.expunge(project)
        return project


def test_the_settings_page_shows_what_the_project_has(admin: FlaskClient) -> None:
    page = admin.get(PAGE)
    assert page.status_code == 200
    assert 'value="10.00, 25.00, 50.00, 100.00"' in page.text
    assert 'value="10.00"' in page.text  # the fee rate, in percent


def test_new_branding_reaches_the_donation_page(rt: Runtime, admin: FlaskClient) -> None:
    answer = send(
        admin,
        PAGE,
        PAGE,
        {**SETTINGS, "primary_colour": "#AA3300", "blurb": "New words", "suggested": "5, 15.50"},
    )
    assert answer.status_code == 303
    assert "Saved Twisted&#39;s settings." in admin.get(PAGE).text
    donate = admin.get("/donate/twisted").text
    assert "--brand: #aa3300" in donate
    assert "New words" in donate
    assert 'value="15.50"' in donate
    with rt.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "project.changed")
        ).one()
        assert entry.before == {
            "blurb": "",
            "primary_colour": "#2b5b84",
            "suggested": ["10.00 USD", "25.00 USD", "50.00 USD", "100.00 USD"],
        }


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("primary_colour", "blue", "six hex digits"),
        ("suggested", "10, ten", "ten: Enter the amount as a number"),
        ("suggested", "0.50", "from $1.00 to $100,000.00"),
        ("suggested", "1.005", "at most two decimals"),
        ("fee_rate", "7.555", "at most two decimals"),
        ("fee_rate", "101", "from 0 to 100"),
        ("name", "", "project's name"),
        ("thank_you_value", "5", "Describe the thank-you gift"),
    ],
)
def test_a_bad_setting_comes_back_by_its_field_and_nothing_changes(
    rt: Runtime, admin: FlaskClient, field: str, value: str, message: str
) -> None:
    before = twisted(rt)
    answer = send(admin, PAGE, PAGE, {**SETTINGS, field: value})
    assert answer.status_code == 400
    shown_by = "thank_you_description" if field == "thank_you_value" else field
    assert message in error_by(answer, shown_by)
    after = twisted(rt)
    assert (after.primary_colour, after.suggested_amounts, after.fee_rate_bp) == (
        before.primary_colour,
        before.suggested_amounts,
        before.fee_rate_bp,
    )


def test_a_new_fee_rate_is_taken_in_percent(rt: Runtime, admin: FlaskClient) -> None:
    assert send(admin, PAGE, PAGE, {**SETTINGS, "fee_rate": "7.5"}).status_code == 303
    assert twisted(rt).fee_rate_bp == 750


def test_a_closed_project_has_no_donation_page_and_its_treasurer_still_sees_it(
    rt: Runtime, app: Flask, admin: FlaskClient
) -> None:
    closed = {key: value for key, value in SETTINGS.items() if key != "active"}
    assert send(admin, PAGE, PAGE, closed).status_code == 303
    assert app.test_client().get("/donate/twisted").status_code == 404
    treasurer = signed_in(app, rt, "treasurer")
    listed = treasurer.get("/treasurer/").text
    assert "Twisted" in listed
    assert "Not taking gifts" in listed
    assert send(admin, PAGE, PAGE, SETTINGS).status_code == 303
    assert app.test_client().get("/donate/twisted").status_code == 200


def test_an_uploaded_logo_is_on_the_donation_page_served_as_what_it_is(
    rt: Runtime, app: Flask, admin: FlaskClient
) -> None:
    data = image("PNG")
    answer = send(admin, PAGE, f"{PAGE}/logo", {"logo": (io.BytesIO(data), "logo.png")})
    assert answer.status_code == 303
    path = twisted(rt).logo_path
    assert path is not None
    url = f"/media/{path}"
    assert f'src="{url}"' in app.test_client().get("/donate/twisted").text
    served = app.test_client().get(url)
    assert served.status_code == 200
    assert served.data == data
    assert served.mimetype == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"


def test_an_svg_logo_is_refused_by_its_field_whatever_its_name(
    rt: Runtime, admin: FlaskClient
) -> None:
    answer = send(admin, PAGE, f"{PAGE}/logo", {"logo": (io.BytesIO(SVG), "logo.png")})
    assert answer.status_code == 400
    assert "SVG" in error_by(answer, "logo")
    assert twisted(rt).logo_path is None


def test_media_serves_no_file_but_logos(rt: Runtime, app: Flask, admin: FlaskClient) -> None:
    send(admin, PAGE, f"{PAGE}/logo", {"logo": (io.BytesIO(image("PNG")), "logo.png")})
    client = app.test_client()
    for name in ("..%2Fconservancy.db", "twisted.png", "twisted-0123456789abcdef.svg"):
        assert client.get(f"/media/logos/{name}").status_code == 404


def test_an_auditor_reads_the_settings_without_a_button_and_cannot_change_them(
    rt: Runtime, app: Flask
) -> None:
    auditor = signed_in(app, rt, "auditor")
    page = auditor.get(PAGE)
    assert page.status_code == 200
    assert "Save the settings" not in page.text
    assert "Upload the logo" not in page.text
    token = csrf_token(auditor.get("/password-reset"))
    answer = auditor.post(PAGE, data={**SETTINGS, "name": "Hijacked", "csrf_token": token})
    assert answer.status_code == 403
    assert twisted(rt).name == "Twisted"


def test_a_treasurer_finds_no_project_settings(rt: Runtime, app: Flask) -> None:
    treasurer = signed_in(app, rt, "treasurer")
    assert treasurer.get(PAGE).status_code == 404
    assert treasurer.get("/admin/projects").status_code == 404
