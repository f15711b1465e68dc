"""The demo has a sponsor admin whose password it prints: at the first sign-in they set up an
authenticator app from a QR code, as every admin must, and then reach the sponsor's pages."""

from __future__ import annotations

from conservancy import create_app
from conservancy.cli.setup import DEMO_ADMIN, DEMO_TREASURER, demo_sign_ins, seed_demo
from conservancy.infra.config import Settings
from tests.staff.people import current_code, submit_code, submit_password
from tests.staff.test_two_factor import enrol


def test_the_demo_admin_sets_up_a_code_at_first_sign_in_and_reaches_the_sponsor_pages(
    settings: Settings,
) -> None:
    seed_demo(settings)
    seed_demo(settings)  # safe to run again: still one admin, the same password
    app = create_app(settings)
    app.extensions["conservancy"].books.wait(60)  # the first build of the books, in a child
    client = app.test_client()

    answer = submit_password(client, *DEMO_ADMIN)

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/account/two-factor"
    assert client.get("/admin/").headers["Location"] == "/account/two-factor"
    page = client.get("/account/two-factor").text
    assert "Please set it up now" in page
    assert "<svg" in page  # the QR code, drawn on the page
    secret, uri = enrol(client)
    assert uri.startswith("otpauth://totp/Demo%20Software%20Freedom%20Conservancy")
    assert "admin@sponsor.example" in uri
    home = client.get("/admin/")
    assert home.status_code == 200
    assert "Projects" in home.text

    seed_demo(settings)  # the demo started again keeps the admin's authenticator
    again = app.test_client()
    answer = submit_password(again, *DEMO_ADMIN)
    assert answer.headers["Location"] == "/sign-in/code"
    assert submit_code(again, current_code(secret, steps_ahead=1)).status_code == 303
    assert again.get("/admin/projects/twisted").status_code == 200


def test_the_demo_prints_how_to_sign_in_as_its_treasurer_and_its_admin() -> None:
    printed = "\n".join(demo_sign_ins(5000))
    for email, password in (DEMO_TREASURER, DEMO_ADMIN):
        assert f"{email}, password: {password}" in printed
    assert "http://127.0.0.1:5000/sign-in" in printed
