"""A project's campaigns, added and changed by sponsor staff on the project's page: checked
whole, audited before and after, and shown with their progress wherever campaigns are."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from conservancy.kernel import clock
from conservancy.projects.models import Campaign
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.pages import error_by, send, signed_in
from tests.factories import settled_gift
from tests.portal.donor import csrf_token

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PAGE = "/admin/projects/twisted"
ADD = f"{PAGE}/campaigns"
DRIVE = {
    "name": "Twisted 25",
    "goal": "1,000.00",
    "starts_on": "2026-11-01",
    "ends_on": "2026-12-31",
}


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def admin(app: Flask, rt: Runtime) -> FlaskClient:
    return signed_in(app, rt, "admin")


def form(**fields: str) -> dict[str, str]:
    """The campaign form's fields as the browser sends them (named ``campaign-…``)."""
    return {f"campaign-{key}": value for key, value in {**DRIVE, **fields}.items()}


def add(admin: FlaskClient, **fields: str) -> TestResponse:
    return send(admin, PAGE, ADD, form(**fields))


def added(rt: Runtime, admin: FlaskClient) -> int:
    """The id of Twisted 25, added through the page."""
    assert add(admin).status_code == 303
    with rt.sessions() as session:
        return session.scalars(select(Campaign.id)).one()


def stored(rt: Runtime) -> list[tuple[str, int, date, date]]:
    with rt.sessions() as session:
        rows = session.scalars(select(Campaign).order_by(Campaign.id))
        return [(c.name, c.goal_minor, c.starts_on, c.ends_on) for c in rows]


def campaign_audit(rt: Runtime) -> list[AuditEntry]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(AuditEntry)
                .where(AuditEntry.action.startswith("campaign."))
                .order_by(AuditEntry.id)
            )
        )


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


def test_an_added_campaign_shows_its_progress_to_the_treasurer_and_on_the_summary(
    rt: Runtime, app: Flask, admin: FlaskClient
) -> None:
    answer = add(admin, name="  Twisted   25 ")

    assert answer.status_code == 303
    assert answer.headers["Location"] == f"{PAGE}#campaigns"
    page = admin.get(PAGE).text
    assert "Added the campaign Twisted 25." in page
    assert "2026-11-01 to 2026-12-31" in page
    assert stored(rt) == [("Twisted 25", 100000, date(2026, 11, 1), date(2026, 12, 31))]
    [entry] = campaign_audit(rt)
    assert (entry.action, entry.actor, entry.before) == (
        "campaign.added",
        "admin@example.org",
        None,
    )
    assert entry.after == {
        "project": "twisted",
        "name": "Twisted 25",
        "goal": "1000.00 USD",
        "starts_on": "2026-11-01",
        "ends_on": "2026-12-31",
    }

    settled_gift(rt, amount="250.00", at=at(11, 3))
    settled_gift(rt, email="early@example.org", amount="40.00", at=at(10, 20))  # before it

    dashboard = signed_in(app, rt, "treasurer").get("/treasurer/twisted/").text
    assert "Twisted 25" in dashboard
    assert "$250.00 of $1,000.00 (25%)" in dashboard
    summary = app.test_client().get("/api/v1/projects/twisted/summary").get_json()
    assert summary["campaign"] == {
        "name": "Twisted 25",
        "goal": "1000.00",
        "raised": "250.00",
        "percent": 25,
        "starts_on": "2026-11-01",
        "ends_on": "2026-12-31",
    }
    row = admin.get(PAGE).text.split('id="campaigns"')[1]
    assert "running" in row
    assert "$250.00" in row
    assert "25%" in row


def test_changing_a_campaign_is_audited_before_and_after_and_reaches_the_treasurer(
    rt: Runtime, app: Flask, admin: FlaskClient
) -> None:
    campaign_id = added(rt, admin)
    edit = f"{PAGE}/campaigns/{campaign_id}"
    shown = admin.get(edit)
    assert shown.status_code == 200
    assert 'value="1000.00"' in shown.text
    assert 'value="2026-12-31"' in shown.text

    answer = send(admin, edit, edit, form(goal="2000", ends_on="2027-01-31"))

    assert answer.status_code == 303
    assert "Saved the campaign Twisted 25." in admin.get(answer.headers["Location"]).text
    assert stored(rt) == [("Twisted 25", 200000, date(2026, 11, 1), date(2027, 1, 31))]
    changed = campaign_audit(rt)[-1]
    assert (changed.action, changed.target_kind, changed.target_id) == (
        "campaign.changed",
        "campaign",
        str(campaign_id),
    )
    assert changed.before == {"goal": "1000.00 USD", "ends_on": "2026-12-31"}
    assert changed.after == {"goal": "2000.00 USD", "ends_on": "2027-01-31"}
    dashboard = signed_in(app, rt, "treasurer").get("/treasurer/twisted/").text
    assert "$0.00 of $2,000.00 (0%)" in dashboard
    assert "2026-11-01 to 2027-01-31" in dashboard


def test_saving_a_campaign_unchanged_writes_nothing_to_the_audit_log(
    rt: Runtime, admin: FlaskClient
) -> None:
    campaign_id = added(rt, admin)
    edit = f"{PAGE}/campaigns/{campaign_id}"

    answer = send(admin, edit, edit, form(goal="1000.00"))

    assert answer.status_code == 303
    assert "Nothing was changed." in admin.get(answer.headers["Location"]).text
    assert [e.action for e in campaign_audit(rt)] == ["campaign.added"]


BAD = [
    ("name", "   ", "Give the campaign's name."),
    ("name", "x" * 201, "at most 200 characters"),
    ("goal", "0", "more than zero"),
    ("goal", "0.00", "more than zero"),
    ("goal", "-50", "cannot be negative"),
    ("goal", "ten dollars", "Enter the amount as a number"),
    ("goal", "12.345", "at most two decimals"),
    ("goal", "100,000,000.01", "at most $100,000,000.00"),
    ("goal", "", "Enter an amount."),
    ("ends_on", "2026-10-31", "ends on or after the day it starts"),
    ("starts_on", "2026-02-30", "year-month-day"),
    ("ends_on", "31/12/2026", "year-month-day"),
    ("starts_on", "", "Give the date."),
]
BAD_IDS = [f"{field}-{value.strip() or 'empty'}"[:30] for field, value, _ in BAD]


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=BAD_IDS)
def test_a_bad_new_campaign_comes_back_by_its_field_and_nothing_is_written(
    rt: Runtime, admin: FlaskClient, field: str, value: str, message: str
) -> None:
    answer = add(admin, **{field: value})

    assert answer.status_code == 400
    assert message in error_by(answer, f"campaign-{field}")
    assert "Nothing was saved" in answer.text
    assert stored(rt) == []
    assert campaign_audit(rt) == []


@pytest.mark.parametrize(("field", "value", "message"), BAD, ids=BAD_IDS)
def test_a_bad_change_comes_back_by_its_field_and_the_campaign_stays(
    rt: Runtime, admin: FlaskClient, field: str, value: str, message: str
) -> None:
    campaign_id = added(rt, admin)
    before = stored(rt)
    edit = f"{PAGE}/campaigns/{campaign_id}"

    answer = send(admin, edit, edit, form(**{field: value}))

    assert answer.status_code == 400
    assert message in error_by(answer, f"campaign-{field}")
    assert stored(rt) == before
    assert [e.action for e in campaign_audit(rt)] == ["campaign.added"]


def test_a_campaign_is_not_found_through_another_project(rt: Runtime, admin: FlaskClient) -> None:
    campaign_id = added(rt, admin)
    before = stored(rt)
    elsewhere = f"/admin/projects/sugar/campaigns/{campaign_id}"

    assert admin.get(elsewhere).status_code == 404
    assert admin.get(f"{PAGE}/campaigns/{campaign_id + 1}").status_code == 404
    token = csrf_token(admin.get(PAGE))
    answer = admin.post(elsewhere, data={**form(name="Hijacked"), "csrf_token": token})
    assert answer.status_code == 404
    assert stored(rt) == before
    assert [e.action for e in campaign_audit(rt)] == ["campaign.added"]


def test_an_auditor_reads_campaigns_without_a_button_and_cannot_change_them(
    rt: Runtime, app: Flask, admin: FlaskClient
) -> None:
    campaign_id = added(rt, admin)
    before = stored(rt)
    edit = f"{PAGE}/campaigns/{campaign_id}"
    auditor = signed_in(app, rt, "auditor")

    page = auditor.get(PAGE)
    assert page.status_code == 200
    assert "Twisted 25" in page.text
    assert "Add the campaign" not in page.text
    shown = auditor.get(edit)
    assert shown.status_code == 200
    assert "Save the campaign" not in shown.text
    token = csrf_token(auditor.get("/password-reset"))
    assert auditor.post(ADD, data={**form(name="More"), "csrf_token": token}).status_code == 403
    assert auditor.post(edit, data={**form(name="Renamed"), "csrf_token": token}).status_code == 403
    assert stored(rt) == before
    assert [e.action for e in campaign_audit(rt)] == ["campaign.added"]


def test_a_campaign_form_without_its_csrf_token_is_refused(rt: Runtime, admin: FlaskClient) -> None:
    assert admin.post(ADD, data=form()).status_code == 400
    assert stored(rt) == []
