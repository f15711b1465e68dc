"""The demo has a treasurer of Twisted whose password it prints, to show the treasurer's pages."""

from __future__ import annotations

from conservancy import create_app
from conservancy.cli.setup import DEMO_TREASURER, seed_demo
from conservancy.infra.config import Settings
from tests.staff.people import submit_password


def test_the_demo_treasurer_signs_in_and_sees_twisted(settings: Settings) -> None:
    seed_demo(settings)
    seed_demo(settings)  # safe to run again: still one user, the same password
    app = create_app(settings)
    client = app.test_client()

    signed_in = submit_password(client, *DEMO_TREASURER)
    app.extensions["conservancy"].books.wait(60)  # the first build of the books, in a child

    assert signed_in.status_code == 303
    page = client.get("/treasurer/twisted/")
    assert page.status_code == 200
    assert "Fund balance" in page.text
    assert client.get("/treasurer/inkscape/").status_code == 404


def test_the_demo_member_signs_in_and_may_only_ask_to_be_paid(settings: Settings) -> None:
    from conservancy.cli.setup import DEMO_MEMBER

    seed_demo(settings)
    app = create_app(settings)
    client = app.test_client()

    signed_in = submit_password(client, *DEMO_MEMBER)
    app.extensions["conservancy"].books.wait(60)

    assert signed_in.status_code == 303
    projects = client.get("/treasurer/")
    assert "/projects/twisted/expenses/" in projects.text
    form = client.get("/projects/twisted/expenses/new")
    assert form.status_code == 200
    assert "Ask to be paid from the Twisted fund" in form.text
    assert client.get("/treasurer/twisted/").status_code == 404  # no fund pages for a member
