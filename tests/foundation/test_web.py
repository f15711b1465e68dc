"""The sponsor's page, the health check and the error pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from conservancy import create_app
from conservancy.donations.models import Donor
from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from conservancy.web.context import db
from tests import factories


@pytest.fixture
def other_runtime() -> Iterator[list[Runtime]]:
    """Runtimes a test builds itself, closed afterwards."""
    built: list[Runtime] = []
    yield built
    for rt in built:
        rt.books.wait()
        rt.close()


def _client(settings: Settings, built: list[Runtime]) -> FlaskClient:
    rt = Runtime.from_settings(settings)
    built.append(rt)
    app = create_app(runtime=rt)
    app.config.update(TESTING=True)
    return app.test_client()


def test_sponsor_page_lists_active_projects_with_the_sponsors_name(
    runtime: Runtime, client: FlaskClient
) -> None:
    with runtime.sessions() as session:
        factories.project(session)
        factories.project(session, slug="inkscape", name="Inkscape").blurb = "Vector graphics."
        retired = factories.project(session, slug="old", name="Retired Project")
        retired.active = False
        session.commit()
    page = client.get("/")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "Test Sponsor, Inc." in body
    assert "Twisted" in body
    assert "Inkscape" in body
    assert "Vector graphics." in body
    assert "Retired Project" not in body


def test_sponsor_page_escapes_project_text(runtime: Runtime, client: FlaskClient) -> None:
    with runtime.sessions() as session:
        factories.project(session).blurb = "<script>alert(1)</script>"
        session.commit()
    body = client.get("/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;" in body


def test_sponsor_page_says_when_there_are_no_projects_yet(client: FlaskClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert "No member projects yet." in page.get_data(as_text=True)


def test_healthz_is_200_when_database_and_books_are_usable(client: FlaskClient) -> None:
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json == {"status": "ok", "problems": []}


def test_healthz_is_503_when_the_ledger_directory_has_no_books(
    settings: Settings, other_runtime: list[Runtime]
) -> None:
    client = _client(settings, other_runtime)  # a migrated database, but no init
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["problems"] == ["ledger directory has no books"]


@pytest.mark.parametrize(
    "url",
    [
        pytest.param("sqlite:///{tmp}", id="sqlite-path-is-a-directory"),
        pytest.param(
            "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=5",
            id="postgresql-closed-port",
        ),
    ],
)
def test_healthz_is_503_when_the_database_is_unreachable(
    runtime: Runtime, other_runtime: list[Runtime], tmp_path: Path, url: str
) -> None:
    settings = replace(runtime.settings, database_url=url.format(tmp=tmp_path))
    client = _client(settings, other_runtime)  # the books are there; the database is not
    answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json is not None
    assert answer.json["problems"] == ["database unreachable"]


def test_an_unknown_address_gets_the_not_found_page(runtime: Runtime, client: FlaskClient) -> None:
    page = client.get("/no/such/page")
    body = page.get_data(as_text=True)
    assert page.status_code == 404
    assert page.mimetype == "text/html"
    assert "Not found" in body
    assert "Back to the projects" in body
    assert "Traceback" not in body
    # Framed as every page is: the sponsor's name, not the software's, and where to write.
    assert "<title>Not found — Test Sponsor, Inc.</title>" in body
    assert '<a class="site-name" href="/">Test Sponsor, Inc.</a>' in body
    contact = runtime.settings.sender_address
    assert f'Questions? Write to <a href="mailto:{contact}">{contact}</a>' in body


def test_an_unexpected_error_gets_a_500_page_without_a_traceback(app: Flask) -> None:
    def broken() -> str:
        raise RuntimeError("secret internals: password=hunter2")

    app.add_url_rule("/broken", "broken", broken)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    page = app.test_client().get("/broken")
    body = page.get_data(as_text=True)
    assert page.status_code == 500
    assert page.mimetype == "text/html"
    assert "Something went wrong on our side" in body
    assert "Traceback" not in body
    assert "RuntimeError" not in body
    assert "hunter2" not in body


def test_the_style_sheets_are_served_and_the_static_folders_python_is_not(
    client: FlaskClient,
) -> None:
    css = client.get("/static/site.css")
    assert css.status_code == 200
    assert css.mimetype == "text/css"
    css.close()
    assert client.get("/static/__init__.py").status_code == 404
    assert client.get("/static/__pycache__/__init__.cpython-311.pyc").status_code == 404


def test_a_database_error_is_logged_without_the_donors_details(
    app: Flask, caplog: pytest.LogCaptureFixture
) -> None:
    """The error log used to hold a failed statement's values: name, e-mail and address."""
    name, email, address = "Grace Hopper", "grace.7781@example.org", "1 Secret Lane"

    def broken() -> str:
        session = db()
        session.add(Donor(ref="d1", name="Ada Lovelace", email=email))
        session.flush()
        session.add(Donor(ref="d2", name=name, email=email, address=address))
        session.flush()  # the e-mail is on file already
        return "unreachable"

    app.add_url_rule("/broken", "broken", broken)
    app.config.update(TESTING=False, PROPAGATE_EXCEPTIONS=False)
    page = app.test_client().get("/broken")

    assert page.status_code == 500
    assert "unhandled error" in caplog.text
    assert "IntegrityError" in caplog.text  # what went wrong is still told
    for secret in (name, email, address):
        assert secret not in caplog.text
        assert secret not in page.text


def test_a_wrong_method_gets_the_error_page(client: FlaskClient) -> None:
    page = client.post("/")
    assert page.status_code == 405
    assert page.mimetype == "text/html"
    assert "Traceback" not in page.get_data(as_text=True)
