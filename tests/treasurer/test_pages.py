"""What a project's treasurer sees: the fund, its gifts and donors, and its statements."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Frequency, Visibility
from conservancy.kernel import clock
from conservancy.projects.models import Campaign, Project
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.factories import refund, settled_gift, with_project
from tests.staff.people import person, sign_in

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
STAFF_FILE = """
2026-11-02 * "Hetzner" "Server rental, paid by the sponsor"
  ref: "staff-2026-11-02-hosting"
  Expenses:Twisted:Hosting     25.00 USD
  Assets:Bank:Checking        -25.00 USD
"""


@pytest.fixture(autouse=True)
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "now", lambda: NOW)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(with_project(runtime), "sugar", "Sugar Labs")


@pytest.fixture
def treasurer(rt: Runtime, client: FlaskClient) -> FlaskClient:
    sign_in(client, person(rt, "tres@example.org", (Role.TREASURER, "twisted")))
    return client


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


def staff_entry(rt: Runtime) -> None:
    """An expense the sponsor's staff wrote by hand in a file of their own."""
    root = rt.ledger.root
    (root / "staff.beancount").write_text(
        '2026-01-01 open Expenses:Twisted:Hosting\n  function: "program"\n' + STAFF_FILE, "utf-8"
    )
    with (root / "main.beancount").open("a", encoding="utf-8") as main:
        main.write('include "staff.beancount"\n')
    rt.books.load()


def test_the_overview_shows_the_fund_its_income_and_expenses(
    rt: Runtime, treasurer: FlaskClient
) -> None:
    settled_gift(rt, at=at(3, 1))  # 100.00 - 3.20 card fee - 10.00 sponsorship fee
    settled_gift(
        rt, email="g@example.org", name="Grace Hopper", amount="50.00", fee="1.75", at=at(11, 3)
    )
    settled_gift(rt, email="s@example.org", name="Sugar Fan", slug="sugar", at=at(11, 4))
    rt.books.load()

    page = treasurer.get("/treasurer/twisted/")

    assert page.status_code == 200
    text = page.text
    # 100.00 + 50.00 - 3.20 - 1.75 - 10.00 - 5.00
    assert "$130.05" in text
    assert "Sugar Fan" not in text  # another project's gift
    month = text.split("Income and expenses")[1].split("Gifts, the last 24 months")[0]
    assert "November 2026" in month
    assert "$50.00" in month
    assert "$150.00" in month
    assert "Payment-Processing" in month
    assert "Sponsorship-Fees" in month
    assert "<svg" in text
    assert "Mar 2026: $100.00" in text
    assert "Nov 2026: $50.00" in text
    assert "Grace Hopper" in text  # the latest transactions
    assert "/api/v1/projects/twisted/button.svg" in text  # the snippet, escaped for the page


def test_recurring_income_campaigns_and_a_new_gift_show_at_once(
    rt: Runtime, treasurer: FlaskClient
) -> None:
    settled_gift(rt, amount="10.00", frequency=Frequency.WEEKLY, at=at(11, 1))
    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        session.add(
            Campaign(
                project_id=twisted.id,
                name="Twisted 25",
                goal_minor=50000,
                starts_on=date(2026, 11, 1),
                ends_on=date(2026, 12, 31),
            )
        )
        session.commit()
    rt.books.load()
    before = treasurer.get("/treasurer/twisted/").text
    assert "$10.00" in before.split("Receiving per week")[1][:200]
    assert "Twisted 25" in before
    assert "$10.00 of $500.00 (2%)" in before

    # Settled after the page was first drawn: no rebuild, the page catches up.
    settled_gift(rt, email="late@example.org", name="Late Larry", amount="40.00", at=at(11, 19))

    after = treasurer.get("/treasurer/twisted/").text
    assert "Late Larry" in after
    assert "$50.00 of $500.00 (10%)" in after


def test_transactions_include_entries_staff_wrote_by_hand(
    rt: Runtime, treasurer: FlaskClient
) -> None:
    settled_gift(rt, at=at(3, 1))
    staff_entry(rt)

    page = treasurer.get("/treasurer/twisted/transactions")

    assert page.status_code == 200
    assert "Server rental, paid by the sponsor" in page.text
    assert "(entered by the sponsor's staff)" in page.text
    assert "-$25.00" in page.text
    assert "Ada Lovelace" in page.text


def test_transactions_page_back_through_the_books(rt: Runtime, treasurer: FlaskClient) -> None:
    # 60 gifts are 120 transactions (each gift and its sponsorship fee): three pages of 50.
    for n in range(60):
        settled_gift(
            rt,
            email=f"d{n}@example.org",
            name=f"Donor {n:02d}",
            amount="5.00",
            fee="0.45",
            at=at(1 + n // 28, 1 + n % 28),
        )
    rt.books.load()

    seen: list[str] = []
    pages = 0
    address: str | None = "/treasurer/twisted/transactions"
    while address:
        page = treasurer.get(address)
        assert page.status_code == 200
        pages += 1
        seen += re.findall(r"<td>(Donor \d\d)</td>", page.text)
        older = re.search(r'href="([^"]*before=\d+)">Older', page.text)
        address = older.group(1).replace("&amp;", "&") if older else None

    assert pages == 3
    assert seen == [f"Donor {n:02d}" for n in reversed(range(60))]  # newest first, each once


def test_the_statement_closes_at_the_ledgers_balance_with_staff_entries(
    rt: Runtime, treasurer: FlaskClient
) -> None:
    gift = settled_gift(rt, at=at(3, 1))
    refund(rt, gift, "40.00", "re_1")
    settled_gift(
        rt, email="g@example.org", name="Grace Hopper", amount="50.00", fee="1.75", at=at(11, 3)
    )
    staff_entry(rt)
    balance = rt.books.current().fund_balance("Twisted")

    answer = treasurer.get("/treasurer/twisted/statement?from=2026-01-01&to=2026-11-20&format=csv")

    assert answer.status_code == 200
    assert answer.mimetype == "text/csv"
    assert "attachment" in answer.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(answer.get_data(as_text=True))))
    text = "\n".join(",".join(row) for row in rows)
    assert "Server rental, paid by the sponsor" in text
    closing = [row for row in rows if any("closing" in cell.lower() for cell in row)]
    assert closing, text
    assert str(balance.amount) in closing[-1], (closing, balance)


def test_the_statement_as_pdf(rt: Runtime, treasurer: FlaskClient) -> None:
    from tests.receipts.pdfs import WEASYPRINT_PROBLEM, pdf_text

    if WEASYPRINT_PROBLEM:
        pytest.skip(WEASYPRINT_PROBLEM)
    settled_gift(rt, at=at(3, 1))
    rt.books.load()

    answer = treasurer.get("/treasurer/twisted/statement?from=2026-01-01&to=2026-12-31&format=pdf")

    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    text = pdf_text(answer.data)
    assert "Twisted" in text
    assert "Ada Lovelace" in text


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("from=2026-13-01&to=2026-12-31", "from", "is not a date"),
        ("from=2026-12-31&to=2026-01-01", "to", "must end on or after"),
        ("to=2026-12-31", "from", "Give a date"),
        ("from=2026-01-01&to=2026-12-31&format=xls", "format", "Choose PDF or CSV"),
    ],
)
def test_a_bad_period_is_refused_by_its_field(
    rt: Runtime, treasurer: FlaskClient, query: str, field: str, message: str
) -> None:
    rt.books.load()
    answer = treasurer.get(f"/treasurer/twisted/statement?{query}")
    assert answer.status_code == 400
    assert message in answer.text
    if field != "format":
        assert f'id="period-{field}" name="{field}"' in answer.text
        assert f'aria-describedby="period-{field}-error"' in answer.text


def test_donors_are_shown_as_each_allowed(rt: Runtime, treasurer: FlaskClient) -> None:
    settled_gift(rt, email="ada@example.org", name="Ada Lovelace", visibility=Visibility.PUBLIC)
    settled_gift(rt, email="gr@example.org", name="Grace Hopper", visibility=Visibility.PROJECT)
    settled_gift(
        rt,
        email="al@example.org",
        name="Alan Turing",
        amount="30.00",
        visibility=Visibility.ANONYMOUS,
    )
    settled_gift(
        rt,
        email="ed@example.org",
        name="Edsger Dijkstra",
        amount="20.00",
        visibility=Visibility.ANONYMOUS,
    )

    page = treasurer.get("/treasurer/twisted/donors")

    assert page.status_code == 200
    text = page.text
    assert "Ada Lovelace" in text
    assert "Grace Hopper" in text
    assert "(not public)" in text
    assert "Turing" not in text
    assert "Dijkstra" not in text
    anonymous = text.split("Anonymous")[1][:300]
    assert "$50.00" in anonymous  # the two anonymous gifts together
    for address in ("ada@", "gr@", "al@", "ed@"):
        assert address not in text


@pytest.mark.parametrize(
    "path", ["/", "/transactions", "/donors", "/statement?from=2026-01-01&to=2026-12-31&format=csv"]
)
def test_another_projects_treasurer_gets_404(rt: Runtime, client: FlaskClient, path: str) -> None:
    rt.books.load()
    sign_in(client, person(rt, "sugar@example.org", (Role.TREASURER, "sugar")))
    assert client.get(f"/treasurer/twisted{path}").status_code == 404
    assert client.get(f"/treasurer/nope{path}").status_code == 404
