"""The public summary JSON and the donate button a project puts on its own site."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update

from conservancy.donations.models import Donation, DonationStatus, Frequency, Gift, Visibility
from conservancy.kernel import clock
from conservancy.projects.models import Campaign, Project
from conservancy.runtime import Runtime
from conservancy.web.branding import embed_snippet
from tests.factories import refund, settled_gift, with_project

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


def summary(client: FlaskClient, slug: str = "twisted") -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{slug}/summary")
    assert response.status_code == 200, response.data
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "max-age" in response.headers["Cache-Control"]
    body: dict[str, Any] = response.get_json()
    return body


def colour(rt: Runtime, slug: str, primary: str) -> None:
    with rt.sessions() as session:
        session.execute(update(Project).where(Project.slug == slug).values(primary_colour=primary))
        session.commit()


def gift(rt: Runtime, who: str, amount: str, frequency: Frequency, **kw: Any) -> int:
    return settled_gift(
        rt,
        email=f"{who.split()[0].lower()}@example.org",
        name=who,
        amount=amount,
        frequency=frequency,
        at=kw.pop("at", datetime(2026, 10, 1, 15, tzinfo=UTC)),
        **kw,
    )


def test_recurring_gifts_are_counted_per_week_with_their_patrons(
    runtime: Runtime, client: FlaskClient
) -> None:
    rt = with_project(runtime)
    gift(rt, "Ada Lovelace", "5.00", Frequency.WEEKLY)
    gift(rt, "Grace Hopper", "52.00", Frequency.MONTHLY)  # 12.00 a week
    gift(rt, "Alan Turing", "104.00", Frequency.YEARLY)  # 2.00 a week
    gift(rt, "Edsger Dijkstra", "500.00", Frequency.ONCE)  # not a patron

    body = summary(client)

    assert body["recurring_per_week"] == "19.00"
    assert body["patrons"] == 3
    assert body["currency"] == "USD"
    assert body["project"]["slug"] == "twisted"
    assert body["project"]["donate_url"].endswith("/donate/twisted")


def test_a_week_of_monthly_gifts_is_rounded_once_not_per_gift(
    runtime: Runtime, client: FlaskClient
) -> None:
    rt = with_project(runtime)
    # 10.00 a month is 2.3077 a week; three of them 6.923 -> 6.92 (rounded each: 6.93).
    for who in ("Ada Lovelace", "Grace Hopper", "Alan Turing"):
        gift(rt, who, "10.00", Frequency.MONTHLY)

    assert summary(client)["recurring_per_week"] == "6.92"


def test_only_donors_who_allowed_it_are_named(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    gift(rt, "Ada Lovelace", "5.00", Frequency.WEEKLY, visibility=Visibility.PUBLIC)
    gift(rt, "Grace Hopper", "5.00", Frequency.WEEKLY, visibility=Visibility.PROJECT)
    gift(rt, "Alan Turing", "5.00", Frequency.WEEKLY, visibility=Visibility.ANONYMOUS)

    response = client.get("/api/v1/projects/twisted/summary")

    body = response.get_json()
    assert body["patrons"] == 3
    assert body["named_patrons"] == ["Ada Lovelace"]
    text = response.get_data(as_text=True)
    assert "Grace" not in text
    assert "Turing" not in text
    assert "@example.org" not in text


def test_a_cancelled_gift_no_longer_counts(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    gift(rt, "Ada Lovelace", "5.00", Frequency.WEEKLY)
    cancelled = gift(rt, "Grace Hopper", "7.00", Frequency.WEEKLY)
    with rt.sessions() as session:
        donation_id = session.scalar(select(Gift.donation_id).where(Gift.id == cancelled))
        session.execute(
            update(Donation)
            .where(Donation.id == donation_id)
            .values(status=DonationStatus.CANCELLED)
        )
        session.commit()

    body = summary(client)

    assert (body["recurring_per_week"], body["patrons"]) == ("5.00", 1)


def test_raised_this_year_is_what_the_books_say(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    gift(rt, "Ada Lovelace", "100.00", Frequency.ONCE)
    refunded = gift(rt, "Grace Hopper", "50.00", Frequency.ONCE)
    refund(rt, refunded, "20.00", "re_1")
    gift(rt, "Alan Turing", "70.00", Frequency.ONCE, at=datetime(2025, 12, 1, 15, tzinfo=UTC))

    body = summary(client)

    # 100.00 + 50.00 - 20.00 refunded; last year's 70.00 is not this year's.
    assert (body["year"], body["raised_this_year"]) == (2026, "130.00")


def test_a_campaign_shows_its_progress(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    with rt.sessions() as session:
        project = session.scalars(select(Project)).one()
        session.add(
            Campaign(
                project_id=project.id,
                name="Twisted 25",
                goal_minor=100000,
                starts_on=date(2026, 9, 1),
                ends_on=date(2026, 12, 31),
            )
        )
        session.commit()
    gift(rt, "Ada Lovelace", "250.00", Frequency.ONCE)

    campaign = summary(client)["campaign"]

    assert campaign == {
        "name": "Twisted 25",
        "goal": "1000.00",
        "raised": "250.00",
        "percent": 25,
        "starts_on": "2026-09-01",
        "ends_on": "2026-12-31",
    }


def test_no_campaign_is_null(runtime: Runtime, client: FlaskClient) -> None:
    with_project(runtime)
    assert summary(client)["campaign"] is None


@pytest.mark.parametrize("slug", ["nope", "retired"])
def test_an_unknown_or_inactive_project_is_404_json(
    runtime: Runtime, client: FlaskClient, slug: str
) -> None:
    rt = with_project(runtime)
    with_project(rt, "retired", "Retired")
    with rt.sessions() as session:
        session.execute(update(Project).where(Project.slug == "retired").values(active=False))
        session.commit()

    response = client.get(f"/api/v1/projects/{slug}/summary")

    assert response.status_code == 404
    assert "no such project" in response.get_json()["error"]


def test_the_button_shows_the_weekly_figure_in_the_projects_colours(
    runtime: Runtime, client: FlaskClient
) -> None:
    rt = with_project(runtime)
    colour(rt, "twisted", "#123456")
    gift(rt, "Ada Lovelace", "5.00", Frequency.WEEKLY)

    response = client.get("/api/v1/projects/twisted/button.svg")

    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    svg = response.get_data(as_text=True)
    assert "Donate to Twisted" in svg
    assert "$5.00/week" in svg
    assert 'fill="#123456"' in svg


def test_the_button_escapes_the_name_and_refuses_a_bad_colour(
    runtime: Runtime, client: FlaskClient
) -> None:
    colour(with_project(runtime, "fun", "Fun & <Games>"), "fun", '"ondrag')  # fits the column

    svg = client.get("/api/v1/projects/fun/button.svg").get_data(as_text=True)

    assert "Fun &amp; &lt;Games&gt;" in svg
    assert "ondrag" not in svg
    assert "/week" not in svg  # no patrons yet: no figure


def test_the_snippet_links_the_button_to_the_donation_page(runtime: Runtime) -> None:
    rt = with_project(runtime, "fun", "Fun & Games")
    with rt.sessions() as session:
        project = session.scalars(select(Project)).one()
        snippet = embed_snippet(project, "https://give.example.org")
    assert snippet == (
        '<a href="https://give.example.org/donate/fun">'
        '<img src="https://give.example.org/api/v1/projects/fun/button.svg" '
        'alt="Donate to Fun &amp; Games" height="28"></a>'
    )
