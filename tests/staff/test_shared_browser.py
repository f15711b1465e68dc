"""One browser, two kinds of session: the staff pages' and the donor portal's share its
cookie. Signing in or out on either side forgets the other's session too, so it must end
it on the server as well: else a copy of the cookie taken before still signs in."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.factories import settled_gift
from tests.portal.donor import csrf_token
from tests.portal.donor import sign_in as portal_sign_in
from tests.staff.people import person, sign_in, signed_in_as

ADA = "ada@example.org"


def copy_of(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s cookie as it is now."""
    cookie = client.get_cookie("session")
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie("session", cookie.value)
    return thief


def donor_signed_in(client: FlaskClient) -> bool:
    return "Signed in as" in client.get("/portal").text


def test_portal_sign_out_ends_the_staff_session_the_browser_held(rt: Runtime, app: Flask) -> None:
    browser = app.test_client()
    sign_in(browser, person(rt, "admin@example.org", Role.ADMIN))
    before = copy_of(app, browser)

    token = csrf_token(browser.get("/portal"))
    assert browser.post("/portal/sign-out", data={"csrf_token": token}).status_code == 303

    assert signed_in_as(browser) is None
    assert signed_in_as(before) is None


def test_signing_in_to_the_portal_ends_the_staff_session_the_browser_held(
    rt: Runtime, app: Flask
) -> None:
    settled_gift(rt, email=ADA)
    browser = app.test_client()
    sign_in(browser, person(rt, "admin@example.org", Role.ADMIN))
    before = copy_of(app, browser)

    portal_sign_in(browser, rt, ADA)

    assert signed_in_as(before) is None


def test_staff_sign_out_and_sign_in_end_the_donor_session_the_browser_held(
    rt: Runtime, app: Flask
) -> None:
    settled_gift(rt, email=ADA)
    browser = app.test_client()
    portal_sign_in(browser, rt, ADA)
    before_sign_out = copy_of(app, browser)

    token = csrf_token(browser.get("/password-reset"))
    assert browser.post("/sign-out", data={"csrf_token": token}).status_code == 303

    assert not donor_signed_in(before_sign_out)

    portal_sign_in(browser, rt, ADA)
    before_sign_in = copy_of(app, browser)
    sign_in(browser, person(rt, "admin@example.org", Role.ADMIN))

    assert not donor_signed_in(browser)
    assert not donor_signed_in(before_sign_in)
