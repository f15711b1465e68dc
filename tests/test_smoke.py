from __future__ import annotations

from flask.testing import FlaskClient

from conservancy.ledger.outbox import record
from conservancy.runtime import Runtime
from tests import factories


def test_sponsor_page_lists_active_projects(runtime: Runtime, client: FlaskClient) -> None:
    with runtime.sessions() as session:
        factories.project(session)
        hidden = factories.project(session, slug="old", name="Old Project")
        hidden.active = False
        session.commit()
    page = client.get("/")
    assert page.status_code == 200
    assert b"Twisted" in page.data
    assert b"Test Sponsor, Inc." in page.data
    assert b"Old Project" not in page.data


def test_posted_gift_shows_in_fund_balance(runtime: Runtime) -> None:
    with runtime.sessions() as session:
        factories.project(session)
        record(session, factories.gift("gift-1"))
        session.commit()
    runtime.post_ledger()
    books = runtime.books.load()
    assert str(books.fund_balance("Twisted")) == "96.80 USD"
