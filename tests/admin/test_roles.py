"""Every money page asked by every role, about a real gift, cheque, expense and project:
admins and bookkeepers read and change, auditors read, treasurers find nothing."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from sqlalchemy import func, select

from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from tests.admin.files import image, pdf
from tests.admin.pages import send, signed_in
from tests.factories import settled_gift
from tests.portal.donor import csrf_token

ROLES = ["admin", "bookkeeper", "auditor", "treasurer"]


@pytest.fixture
def world(rt: Runtime, app: Flask) -> dict[str, int]:
    """A card gift, a cheque and an expense, made by an admin through the pages."""
    card = settled_gift(rt, fee="0.00")
    admin = signed_in(app, rt, "admin", "maker")
    cheque = send(
        admin,
        "/admin/gifts/offline",
        "/admin/gifts/offline",
        {
            "project": "twisted",
            "amount": "50.00",
            "received_on": "2026-03-02",
            "method": "cheque",
            "reference": "77",
            "name": "Grace Hopper",
            "visibility": "public",
        },
    )
    expense = send(
        admin,
        "/admin/expenses",
        "/admin/expenses",
        {
            "project": "twisted",
            "amount": "10.00",
            "payee": "Printer",
            "category": "Printing",
            "paid_on": "2026-03-05",
            "invoice": (io.BytesIO(pdf()), "invoice.pdf"),
        },
    )
    assert cheque.status_code == expense.status_code == 303
    return {
        "card": card,
        "cheque": int(cheque.headers["Location"].rsplit("/", 1)[1]),
        "expense": int(expense.headers["Location"].rsplit("/", 1)[1]),
    }


def pages(ids: dict[str, int]) -> list[str]:
    return [
        "/admin/gifts?q=2026-000001",
        f"/admin/gifts/{ids['card']}",
        f"/admin/gifts/{ids['cheque']}",
        "/admin/gifts/offline",
        "/admin/expenses",
        f"/admin/expenses/{ids['expense']}",
        f"/admin/expenses/{ids['expense']}/invoice",
        "/admin/projects",
        "/admin/projects/twisted",
        "/admin/ledger",
    ]


@pytest.mark.parametrize("who", ROLES)
def test_each_role_reads_the_money_pages_as_its_rules_say(
    rt: Runtime, app: Flask, world: dict[str, int], who: str
) -> None:
    client = signed_in(app, rt, who)
    expected = 404 if who == "treasurer" else 200
    for page in pages(world):
        assert client.get(page).status_code == expected, (who, page)


def test_the_admin_home_lists_the_money_pages_for_staff(
    rt: Runtime, app: Flask, world: dict[str, int]
) -> None:
    page = signed_in(app, rt, "auditor").get("/admin/")
    for title in ("Gifts", "Cheques and wires", "Expenses", "Projects", "Ledger health"):
        assert title in page.text


@pytest.mark.parametrize(("who", "status"), [("auditor", 403), ("treasurer", 404)])
def test_no_form_changes_anything_for_those_who_only_read_or_do_not_belong(
    rt: Runtime, app: Flask, world: dict[str, int], who: str, status: int
) -> None:
    client = signed_in(app, rt, who)
    token = csrf_token(client.get("/password-reset"))
    with rt.sessions() as session:
        logged = session.scalar(select(func.count()).select_from(AuditEntry))
    posts: list[tuple[str, dict[str, object]]] = [
        (
            f"/admin/gifts/{world['card']}/refund",
            {"amount": "1.00", "reason": "x", "confirm": "y"},
        ),
        (
            f"/admin/gifts/{world['cheque']}/refund",
            {
                "amount": "1.00",
                "reason": "x",
                "method": "cheque",
                "reference": "1",
                "refunded_on": "2026-03-09",
                "confirm": "y",
            },
        ),
        ("/admin/gifts/offline", {"project": "twisted", "amount": "5.00"}),
        ("/admin/expenses", {"project": "twisted", "amount": "5.00"}),
        ("/admin/projects/twisted", {"name": "Changed", "fee_rate": "1"}),
        ("/admin/projects/twisted/logo", {"logo": (io.BytesIO(image("PNG")), "l.png")}),
    ]
    for path, data in posts:
        answer = client.post(
            path, data={**data, "csrf_token": token}, content_type="multipart/form-data"
        )
        assert answer.status_code == status, path
    with rt.sessions() as session:
        # Signing in is logged; nothing after it is.
        assert session.scalar(select(func.count()).select_from(AuditEntry)) == logged
