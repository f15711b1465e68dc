"""Staff and treasurer downloads with the folders given relative to the working directory, as
`make demo` and the default settings give them: each answers 200 with the file's bytes.

Flask's ``send_file`` takes a relative path as relative to the package, not to the working
directory; the settings make every folder absolute when they load, so no download depends on
where the process happens to stand.
"""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

import pytest
from flask import Flask
from pypdf import PdfReader
from sqlalchemy import select

from conservancy.infra.config import Settings
from conservancy.projects.models import Project
from conservancy.projects.settings import change_logo
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from tests import factories
from tests.admin.files import image, pdf
from tests.admin.pages import send, signed_in
from tests.admin.test_gift_pages import CHEQUE, OFFLINE
from tests.factories import settled_gift
from tests.receipts.pdfs import pdf_text, requires_weasyprint
from tests.sponsorships.sponsors import gold_level, invoice, signed_up


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The conftest's settings, but every folder (and the SQLite file) named relative to the
    working directory, tmp_path, as CONSERVANCY_* variables name them."""
    monkeypatch.chdir(tmp_path)
    if database_url.startswith("sqlite:///"):
        database_url = f"sqlite:///{Path(database_url[len('sqlite:///') :]).name}"
    return Settings.from_env(
        {
            "CONSERVANCY_ENV": "test",
            "CONSERVANCY_DATABASE_URL": database_url,
            "CONSERVANCY_LEDGER_DIR": "ledgers",
            "CONSERVANCY_RECEIPTS_DIR": "receipts",
            "CONSERVANCY_INSTANCE_DIR": "instance",
            "CONSERVANCY_SECRET_KEY": "test-secret-key-0123456789",
        }
    )


def twisted(rt: Runtime) -> int:
    with rt.sessions() as session:
        return session.scalars(select(Project.id).where(Project.slug == "twisted")).one()


def paid_expense(rt: Runtime, invoice: bytes) -> int:
    """Twisted paid 25.00 for hosting out of a settled gift, with ``invoice`` kept."""
    settled_gift(rt, fee="0.00")
    return factories.expense(rt, invoice=invoice)


@requires_weasyprint
def test_staff_download_a_receipt(rt: Runtime, app: Flask) -> None:
    bookkeeper = signed_in(app, rt, "bookkeeper")
    assert send(bookkeeper, OFFLINE, OFFLINE, CHEQUE).status_code == 303
    rt.deliver()
    with rt.sessions() as session:
        number = session.scalars(select(Receipt.number)).one()
    answer = bookkeeper.get(f"/admin/receipts/{number}.pdf")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert "Grace Hopper" in pdf_text(answer.data)


@pytest.mark.parametrize(
    ("who", "path"),
    [
        ("bookkeeper", "/admin/expenses/{}/invoice"),
        ("treasurer", "/treasurer/twisted/expenses/{}/invoice"),
    ],
)
def test_staff_and_the_treasurer_download_an_expense_invoice(
    rt: Runtime, app: Flask, who: str, path: str
) -> None:
    invoice = pdf()
    expense_id = paid_expense(rt, invoice)
    answer = signed_in(app, rt, who).get(path.format(expense_id))
    assert answer.status_code == 200
    assert answer.data == invoice
    assert len(PdfReader(BytesIO(answer.data)).pages) == 1


@requires_weasyprint
def test_staff_download_a_sponsorship_invoice_and_its_acknowledgement(
    rt: Runtime, app: Flask
) -> None:
    number = signed_up(rt, gold_level(rt))
    admin = signed_in(app, rt, "admin")
    page = f"/admin/sponsorships/invoices/{number}"
    on = admin.get(page)
    assert on.status_code == 200
    received = invoice(rt, number).issued_on.isoformat()
    paid = send(
        admin,
        page,
        f"{page}/payment",
        {"method": "cheque", "received_on": received, "reference": "7"},
    )
    assert paid.status_code == 303, paid.text
    rt.deliver()
    drawn = admin.get(f"{page}/invoice.pdf")
    assert drawn.status_code == 200
    assert number in pdf_text(drawn.data)
    acknowledgement = admin.get(f"{page}/acknowledgement.pdf")
    assert acknowledgement.status_code == 200
    assert "Acme Widgets, Inc." in pdf_text(acknowledgement.data)


def test_anyone_downloads_a_project_logo(rt: Runtime, app: Flask) -> None:
    logo = image("PNG")
    with rt.sessions() as session:
        project = session.get(Project, twisted(rt))
        assert project is not None
        stored = change_logo(session, "tests", project, logo, uploads_dir=rt.settings.uploads_dir)
        session.commit()
    answer = app.test_client().get(f"/media/{stored}")
    assert answer.status_code == 200
    assert answer.mimetype == "image/png"
    assert answer.data == logo
