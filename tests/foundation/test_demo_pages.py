"""The demo's own pages: the books and the mail a newcomer's gift produced."""

from __future__ import annotations

from dataclasses import replace

from flask.testing import FlaskClient

from conservancy import create_app
from conservancy.infra.config import Environment
from conservancy.runtime import Runtime
from tests.factories import settled_gift, with_project
from tests.receipts.pdfs import requires_weasyprint


def _demo_client(rt: Runtime) -> FlaskClient:
    rt.settings = replace(rt.settings, env=Environment.DEMO)
    app = create_app(runtime=rt)
    app.config.update(TESTING=True)
    return app.test_client()


def test_demo_pages_exist_only_in_the_demo(client: FlaskClient) -> None:
    assert client.get("/demo/mail").status_code == 404
    assert client.get("/demo/books").status_code == 404
    assert client.get("/demo/bank-statement").status_code == 404


@requires_weasyprint
def test_demo_mail_shows_the_receipt_mail_with_its_attachment(runtime: Runtime) -> None:
    rt = with_project(runtime)
    settled_gift(rt, name="Ada <b>Lovelace</b>", email="ada@example.org")
    rt.deliver()
    page = _demo_client(rt).get("/demo/mail")
    assert page.status_code == 200
    assert "Your donation receipt 2026-000001" in page.text
    assert "attached: 2026-000001.pdf" in page.text
    assert "Dear Ada &lt;b&gt;Lovelace&lt;/b&gt;" in page.text  # donor text shown, not run


def test_demo_mail_says_when_there_is_none(runtime: Runtime) -> None:
    page = _demo_client(runtime).get("/demo/mail")
    assert page.status_code == 200
    assert "No mail yet" in page.text
