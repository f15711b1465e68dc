"""Issue 16, finding 5: wrong passwords slow down the one who makes them, not the owner.

Failures are counted per account and client address: from the fifth on, each makes
the next try from that address wait twice as long (1, 2, 4 ... seconds), and while it
waits a try is refused without its password being checked. Someone else's failures
from another address do not hold the owner back, a completed password reset lifts
every delay, and a guesser spread over many addresses is slowed by a ceiling per
account ten times higher."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask

from conservancy.runtime import Runtime
from conservancy.staff import passwords
from conservancy.staff.models import Role
from tests.staff.people import PASSWORD, person, signed_in_as, submit_password
from tests.staff.test_links import NEW, ask_for_reset, reset_links, set_password

WRONG = "wrong password, again"
OWNER = "198.51.100.7"
GUESSER = "203.0.113.9"


def test_failures_from_one_address_do_not_keep_the_owner_out_from_another(
    rt: Runtime, app: Flask, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    guesser = app.test_client()
    answers = [submit_password(guesser, ada.email, WRONG, remote=GUESSER) for _ in range(25)]
    assert [a.status_code for a in answers[:4]] == [400] * 4
    assert all(a.status_code == 429 for a in answers[4:])  # the guesser waits

    owner = app.test_client()
    answer = submit_password(owner, ada.email, PASSWORD, remote=OWNER)

    assert answer.status_code == 303, answer.text
    assert signed_in_as(owner) == ada.email


def test_a_completed_reset_lets_the_owner_in_at_once(
    rt: Runtime, app: Flask, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for _ in range(6):  # the owner themself, forgetting, from their own address
        submit_password(client, ada.email, WRONG)
    assert submit_password(client, ada.email, PASSWORD).status_code == 429

    ask_for_reset(client, ada.email)
    [link] = reset_links(rt, ada.email)
    assert set_password(client, link, NEW).status_code == 303

    answer = submit_password(client, ada.email, NEW)
    assert answer.status_code == 303, answer.text
    assert signed_in_as(client) == replace(ada, password=NEW).email


def test_repeated_failures_from_one_address_wait_longer_each_time(
    rt: Runtime,
    app: Flask,
    later: Callable[[timedelta], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for _ in range(4):
        assert submit_password(client, ada.email, WRONG).status_code == 400
    fifth = submit_password(client, ada.email, WRONG)
    assert fifth.status_code == 429
    assert "wait 1 second before trying again" in fifth.text

    for wait in (2, 4, 8, 16):
        later(timedelta(seconds=wait // 2))  # the last wait is over: this try is checked
        answer = submit_password(client, ada.email, WRONG)
        assert answer.status_code == 429
        assert f"wait {wait} seconds before trying again" in answer.text

    # While the wait runs, even the right password is refused, and not checked at all.
    checked: list[str] = []
    verify = passwords.verify
    monkeypatch.setattr(passwords, "verify", lambda h, p: checked.append(p) or verify(h, p))
    later(timedelta(seconds=15))
    assert submit_password(client, ada.email, PASSWORD).status_code == 429
    assert checked == []
    later(timedelta(seconds=1))
    assert submit_password(client, ada.email, PASSWORD).status_code == 303
    assert checked == [PASSWORD]
    assert signed_in_as(client) == ada.email


def test_a_guesser_spread_over_many_addresses_is_slowed_too(
    rt: Runtime, app: Flask, later: Callable[[timedelta], None]
) -> None:
    later(timedelta(0))  # the clock stands still: no wait runs out by itself
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"))
    client = app.test_client()
    for n in range(49):
        answer = submit_password(client, ada.email, WRONG, remote=f"10.0.{n // 4}.{n}")
        assert answer.status_code == 400

    fiftieth = submit_password(client, ada.email, WRONG, remote="10.1.0.1")

    assert fiftieth.status_code == 429
    assert submit_password(client, ada.email, PASSWORD, remote=OWNER).status_code == 429
