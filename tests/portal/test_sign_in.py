"""Signing in to the donor portal with an e-mailed link: it works once, for a while, for
donors only, and says nothing about who is a donor."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from conservancy.kernel import clock
from conservancy.mail.models import MailMessage
from conservancy.portal import service
from conservancy.portal.models import DonorSession, PortalToken
from conservancy.runtime import Runtime
from tests.factories import settled_gift, with_project
from tests.portal.donor import (
    ask_for_link,
    csrf_token,
    mails_to,
    open_link,
    sign_in,
    sign_in_links,
)
from tests.snapshot import snapshot

ADA = "ada@example.org"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """Twisted, with one gift from Ada."""
    rt = with_project(runtime)
    settled_gift(rt, email=ADA, name="Ada Lovelace", amount="100.00")
    return rt


@pytest.fixture
def later(monkeypatch: pytest.MonkeyPatch) -> Callable[[timedelta], None]:
    """Move the application's clock forward by a given time."""

    def move(by: timedelta) -> None:
        moved = clock.now() + by
        monkeypatch.setattr(clock, "now", lambda: moved)

    return move


def tokens(rt: Runtime) -> list[tuple[int, datetime | None]]:
    with rt.sessions() as session:
        return [(t.id, t.used_at) for t in session.scalars(select(PortalToken).order_by("id"))]


def mail_count(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(MailMessage)) or 0)


def test_not_signed_in_the_portal_asks_for_an_email_address(
    rt: Runtime, client: FlaskClient
) -> None:
    page = client.get("/portal")

    assert page.status_code == 200
    assert "E-mail me a sign-in link" in page.text
    assert "Signed in as" not in page.text
    # The pages that need a donor send a stranger to the sign-in form.
    for path in ("/portal/receipts/2026-000001.pdf", "/portal/statements/2026.pdf"):
        answer = client.get(path)
        assert answer.status_code == 303
        assert answer.headers["Location"].endswith("/portal")
    assert "Please sign in" in client.get("/portal").text


def test_the_mailed_link_signs_the_donor_in_and_shows_their_gifts(
    rt: Runtime, client: FlaskClient
) -> None:
    asked = ask_for_link(client, "  Ada@Example.org ")
    assert asked.status_code == 200
    assert "Check your e-mail" in asked.text

    [link] = sign_in_links(rt, ADA)
    opened = client.get(link)
    assert opened.status_code == 200
    assert "Signed in as" not in client.get("/portal").text  # opening is not signing in
    used = client.post(link, data={"csrf_token": csrf_token(opened)})

    assert used.status_code == 303
    dashboard = client.get("/portal")
    assert f"Signed in as {ADA}" in dashboard.text
    assert "Twisted" in dashboard.text
    assert "$100.00" in dashboard.text
    assert dashboard.headers["Cache-Control"] == "no-store"


def test_a_link_opened_by_a_mail_scanner_still_works_for_the_donor(rt: Runtime, app: Flask) -> None:
    scanner, donor = app.test_client(), app.test_client()
    ask_for_link(donor, ADA)
    [link] = sign_in_links(rt, ADA)

    assert scanner.get(link).status_code == 200
    assert scanner.get(link).status_code == 200

    assert open_link(donor, link).status_code == 303
    assert "Signed in as" in donor.get("/portal").text


def test_a_link_works_once_and_a_second_use_is_refused_writing_nothing(
    rt: Runtime, app: Flask
) -> None:
    first, second = app.test_client(), app.test_client()
    ask_for_link(first, ADA)
    [link] = sign_in_links(rt, ADA)
    assert open_link(first, link).status_code == 303
    used = tokens(rt)

    again = second.get(link)
    assert again.status_code == 400
    assert "This sign-in link has expired or was already used." in again.text
    # Pressing a button from a page loaded before the first use changes nothing either.
    posted = second.post(link, data={"csrf_token": csrf_token(again)})

    assert posted.status_code == 400
    assert "This sign-in link cannot be used" in posted.text
    assert "E-mail me a sign-in link" in posted.text  # the way to a new one
    assert "Signed in as" not in second.get("/portal").text
    assert tokens(rt) == used


def test_a_link_past_its_thirty_minutes_is_refused(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ask_for_link(client, ADA)
    [link] = sign_in_links(rt, ADA)
    page = client.get(link)
    before = tokens(rt)

    later(timedelta(minutes=31))

    assert client.get(link).status_code == 400
    posted = client.post(link, data={"csrf_token": csrf_token(page)})
    assert posted.status_code == 400
    assert "within 30 minutes" in posted.text
    assert "Signed in as" not in client.get("/portal").text
    assert tokens(rt) == before


def test_a_link_still_works_just_before_it_expires(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ask_for_link(client, ADA)
    [link] = sign_in_links(rt, ADA)

    later(timedelta(minutes=29))

    assert open_link(client, link).status_code == 303


def test_a_made_up_link_is_refused(rt: Runtime, client: FlaskClient) -> None:
    for token in ("x" * 43, "not a token", "a" * 500):
        page = client.get(f"/portal/sign-in/{token}")
        assert page.status_code == 400
        assert "This sign-in link cannot be used" in page.text
    assert "Signed in as" not in client.get("/portal").text


def test_an_unknown_address_gets_the_same_answer_and_no_mail(
    rt: Runtime, client: FlaskClient
) -> None:
    known = ask_for_link(client, ADA)
    mails_before = mail_count(rt)
    tokens_before = tokens(rt)

    unknown = ask_for_link(client, "nobody@example.org")

    assert unknown.status_code == known.status_code == 200
    assert unknown.text.replace("nobody@example.org", "@") == known.text.replace(ADA, "@")
    assert mail_count(rt) == mails_before
    assert tokens(rt) == tokens_before
    assert mails_to(rt, "nobody@example.org") == []


def test_signing_in_lasts_twelve_hours(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    sign_in(client, rt, ADA)

    for _ in range(47):  # a page every quarter of an hour: 11 h 45 min
        later(timedelta(minutes=15))
        assert "Signed in as" in client.get("/portal").text
    later(timedelta(minutes=15))
    page = client.get("/portal")
    assert "Signed in as" not in page.text
    assert "E-mail me a sign-in link" in page.text


IDLE = "you were signed out after 30 minutes without activity"


def test_a_donor_session_ends_after_thirty_idle_minutes_and_says_why(
    rt: Runtime, app: Flask, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    sign_in(client, rt, ADA)
    saved = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert saved is not None

    later(timedelta(minutes=29))
    assert "Signed in as" in client.get("/portal").text
    later(timedelta(minutes=29))
    assert "Signed in as" in client.get("/portal").text  # each page keeps it alive

    later(timedelta(minutes=30))
    page = client.get("/portal")

    assert "Signed in as" not in page.text
    assert IDLE in page.text
    assert "E-mail me a sign-in link" in page.text
    with rt.sessions() as session:
        [ended] = session.scalars(select(DonorSession.ended_at)).all()
    assert ended is not None  # revoked on the server, not only forgotten by this browser
    replayed = _replayed(app, saved.value)  # a copy of the cookie taken before
    assert "Signed in as" not in replayed.get("/portal").text
    assert IDLE not in replayed.get("/portal").text  # ended already: nothing idled now


def test_an_idle_donor_asking_for_a_page_is_sent_to_sign_in_with_the_reason(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    sign_in(client, rt, ADA)
    later(timedelta(minutes=45))

    answer = client.get("/portal/statements/2026.pdf")

    assert answer.status_code == 303
    assert answer.headers["Location"] == "/portal"
    page = client.get("/portal")
    assert IDLE in page.text
    assert "Please sign in to see your gifts." not in page.text  # one reason, the right one


def test_signing_out_ends_the_session(rt: Runtime, client: FlaskClient) -> None:
    dashboard = sign_in(client, rt, ADA)

    out = client.post("/portal/sign-out", data={"csrf_token": csrf_token(dashboard)})

    assert out.status_code == 303
    page = client.get("/portal")
    assert "You are signed out" in page.text
    assert "Signed in as" not in page.text


def _replayed(app: Flask, cookie: str) -> FlaskClient:
    """A fresh browser that carries nothing but a copy of a saved session cookie."""
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
    return other


def test_signing_out_ends_the_session_so_a_saved_cookie_no_longer_signs_in(
    rt: Runtime, app: Flask, client: FlaskClient
) -> None:
    dashboard = sign_in(client, rt, ADA)
    saved = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert saved is not None
    assert "Signed in as" in _replayed(app, saved.value).get("/portal").text  # a working copy

    client.post("/portal/sign-out", data={"csrf_token": csrf_token(dashboard)})

    replayed = _replayed(app, saved.value)
    page = replayed.get("/portal")
    assert "Signed in as" not in page.text
    assert ADA not in page.text
    assert "E-mail me a sign-in link" in page.text
    assert replayed.get("/portal/statements/2026.pdf").status_code == 303  # to sign in


def test_a_saved_cookie_stops_signing_in_twelve_hours_after_signing_in(
    rt: Runtime, app: Flask, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    sign_in(client, rt, ADA)
    saved = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    assert saved is not None

    for _ in range(47):  # kept busy, as it must be not to idle out: 11 h 45 min
        later(timedelta(minutes=15))
        assert "Signed in as" in _replayed(app, saved.value).get("/portal").text
    later(timedelta(minutes=14))
    assert "Signed in as" in _replayed(app, saved.value).get("/portal").text
    later(timedelta(minutes=2))  # the clock moves on from there
    assert "Signed in as" not in _replayed(app, saved.value).get("/portal").text


def test_signing_out_in_one_browser_leaves_the_donors_other_sessions_signed_in(
    rt: Runtime, app: Flask, client: FlaskClient
) -> None:
    laptop = sign_in(client, rt, ADA)
    phone = app.test_client()
    sign_in(phone, rt, ADA)

    client.post("/portal/sign-out", data={"csrf_token": csrf_token(laptop)})

    assert "Signed in as" in phone.get("/portal").text
    assert "Signed in as" not in client.get("/portal").text


def test_a_bad_address_is_asked_again_with_a_message(rt: Runtime, client: FlaskClient) -> None:
    for typed, message in (
        ("", "Please give the e-mail address you gave with your gift."),
        ("ada at example", "Enter an e-mail address such as ada@example.org."),
    ):
        page = ask_for_link(client, typed)
        assert page.status_code == 400
        assert f'<p class="field-error" id="email-error">{message}</p>' in page.text
        assert 'aria-describedby="email-hint email-error"' in page.text
    assert tokens(rt) == []


def test_a_control_character_in_the_address_is_refused_by_it_and_nothing_is_written(
    rt: Runtime, client: FlaskClient
) -> None:
    """A NUL used to reach the donor lookup, where PostgreSQL answers it with a 500."""
    before = snapshot(rt)

    page = ask_for_link(client, "ada\x00@example.org")

    assert page.status_code == 400
    assert (
        '<p class="field-error" id="email-error">'
        "This field may not contain control characters, tabs or line breaks.</p>"
    ) in page.text
    assert snapshot(rt) == before


def test_asking_for_links_again_and_again_is_refused(rt: Runtime, client: FlaskClient) -> None:
    answers = [ask_for_link(client, ADA).status_code for _ in range(4)]
    other_address = ask_for_link(client, "nobody@example.org", remote="10.0.0.9")

    assert answers == [200, 200, 200, 429]
    assert len(sign_in_links(rt, ADA)) == 3
    assert other_address.status_code == 200  # another address, another client: not refused
    refused = ask_for_link(client, ADA)
    assert "Too many sign-in links" in refused.text


def test_a_form_without_its_csrf_token_is_refused_and_sends_nothing(
    rt: Runtime, client: FlaskClient
) -> None:
    answer = client.post("/portal/sign-in", data={"email": ADA})

    assert answer.status_code == 400
    assert "reload the page" in answer.text
    assert tokens(rt) == []
    assert mail_count(rt) == 1  # Ada's receipt, nothing more


def test_using_a_link_without_the_csrf_token_is_refused_and_leaves_it_usable(
    rt: Runtime, client: FlaskClient
) -> None:
    ask_for_link(client, ADA)
    [link] = sign_in_links(rt, ADA)

    assert client.post(link).status_code == 400

    assert [used for _, used in tokens(rt)] == [None]
    assert open_link(client, link).status_code == 303


def test_two_simultaneous_uses_of_one_link_sign_in_once(rt: Runtime) -> None:
    with rt.sessions() as session:
        assert service.request_link(session, email=ADA, base_url="http://x", now=clock.now())
        session.commit()
    [link] = sign_in_links(rt, ADA)
    token = link.rsplit("/", 1)[1]
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def use() -> None:
        with rt.sessions() as session:
            start.wait()
            try:
                service.sign_in(session, token, clock.now())
                session.commit()
                outcomes.append("signed in")
            except service.LinkRefused:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=use) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["refused", "signed in"]
