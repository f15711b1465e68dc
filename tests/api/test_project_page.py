"""A project's public page, /projects/<slug>, and the same figures in the summary JSON: what
it receives and spends, from the books, and who gives, as far as each donor allowed."""

from __future__ import annotations

import html
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from conservancy.donations.models import Visibility
from conservancy.kernel import clock
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from tests.admin.pages import signed_in
from tests.factories import expense, refund, settled_gift, with_project

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PAGE = "/projects/twisted"


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


def given(rt: Runtime, name: str, visibility: Visibility, day: int, amount: str = "100.00") -> int:
    return settled_gift(
        rt,
        email=f"{name.split()[0].lower()}@example.org",
        name=name,
        amount=amount,
        fee="0.00",
        visibility=visibility,
        at=datetime(2026, 10, day, 15, tzinfo=UTC),
    )


def hosting(rt: Runtime) -> None:
    """Twisted paid Hosting Co. 25.00 in November."""
    expense(rt, paid_on=date(2026, 11, 5))


def show_expenses(rt: Runtime) -> None:
    with rt.sessions() as session:
        session.execute(update(Project).values(public_expenses=True))
        session.commit()


def text_of(page: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page)).split())


def test_the_page_names_only_donors_who_gave_publicly_and_no_amounts(
    runtime: Runtime, client: FlaskClient
) -> None:
    rt = with_project(runtime)
    given(rt, "Ada Lovelace", Visibility.PUBLIC, 1, "123.45")
    given(rt, "Grace Hopper", Visibility.PROJECT, 2)
    given(rt, "Alan Turing", Visibility.ANONYMOUS, 3)
    refunded = given(rt, "Charles Babbage", Visibility.PUBLIC, 4)
    refund(rt, refunded, "100.00", "re_all")

    page = client.get(PAGE)

    assert page.status_code == 200
    shown = text_of(page.text)
    latest = shown[shown.index("Latest gifts") :]
    assert "Ada Lovelace October 1, 2026" in latest
    assert latest.count("Anonymous") == 2  # Grace (the project only) and Alan
    for hidden in ("Grace Hopper", "Alan Turing", "Charles Babbage", "123.45"):
        assert hidden not in shown


def test_income_and_expenses_by_month_are_the_books(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    given(rt, "Ada Lovelace", Visibility.PUBLIC, 1)
    hosting(rt)

    shown = text_of(client.get(PAGE).text)

    # October: 100.00 given, less the 10% sponsorship fee; November: the hosting.
    assert "Oct 2026 $100.00 $10.00" in shown
    assert "Nov 2026 $0.00 $25.00" in shown
    assert "Balance $65.00" in shown
    assert "Raised in 2026 $100.00" in shown
    books = rt.books.load()
    assert books.fund_balance("Twisted").amount == Decimal("65.00")  # the page is the books
    assert "Expenses paid" not in shown  # the project has not chosen to show them
    assert "Hosting Co." not in shown


def test_expenses_are_listed_once_the_project_shows_them_and_the_api_agrees(
    runtime: Runtime, client: FlaskClient
) -> None:
    rt = with_project(runtime)
    given(rt, "Ada Lovelace", Visibility.PUBLIC, 1)
    hosting(rt)
    assert client.get("/api/v1/projects/twisted/summary").get_json()["expenses"] is None
    show_expenses(rt)

    shown = text_of(client.get(PAGE).text)
    body: dict[str, Any] = client.get("/api/v1/projects/twisted/summary").get_json()

    assert "2026-11-05 Hosting Co. Hosting $25.00" in shown
    assert body["expenses"] == [
        {"on": "2026-11-05", "payee": "Hosting Co.", "category": "Hosting", "amount": "25.00"}
    ]
    assert body["balance"] == "65.00"
    assert body["latest_gifts"] == [{"name": "Ada Lovelace", "on": "2026-10-01"}]
    months = {m["month"]: (m["income"], m["expenses"]) for m in body["months"]}
    assert len(months) == 12
    assert months["2026-10"] == ("100.00", "10.00")
    assert months["2026-11"] == ("0.00", "25.00")
    assert body["project"]["page_url"].endswith(PAGE)


def test_an_unknown_or_closed_project_has_no_page(runtime: Runtime, client: FlaskClient) -> None:
    rt = with_project(runtime)
    assert client.get("/projects/nothing").status_code == 404
    with rt.sessions() as session:
        session.execute(update(Project).values(active=False))
        session.commit()
    assert client.get(PAGE).status_code == 404


def test_the_sponsors_home_shows_every_funds_balance_and_the_projects_months(
    runtime: Runtime, app: Flask
) -> None:
    rt = with_project(runtime)
    given(rt, "Ada Lovelace", Visibility.PUBLIC, 1)
    hosting(rt)
    books = rt.books.load()

    shown = text_of(signed_in(app, rt, "auditor").get("/admin/").text)

    assert books.fund_balance("Twisted").amount == Decimal("65.00")
    assert books.fund_balance("General").amount == Decimal("10.00")  # the sponsorship fee
    assert "Twisted $65.00 $100.00" in shown  # balance, then income this year
    assert "The sponsor's general fund $10.00 $10.00" in shown
    assert "Oct 2026 $100.00 $10.00" in shown  # the projects' months: gift, fee
    assert "Nov 2026 $0.00 $25.00" in shown
