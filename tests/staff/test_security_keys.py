"""Security keys and passkeys (issue 16, finding 10): registered from the two-factor
page, used after the password in place of a code, and every answer that is not the
key's own to this page's challenge, at this site, refused.

The keys are software ones (tests/staff/authenticator.py) that build and sign what a
real key does; py_webauthn checks their answers as it would a browser's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from conservancy.infra.config import Settings
from conservancy.runtime import Runtime
from conservancy.staff.models import (
    AuditEntry,
    RecoveryCode,
    Role,
    SecurityKey,
    SignInFailure,
)
from tests.portal.donor import csrf_token
from tests.staff.authenticator import ORIGIN, SoftKey, page_options
from tests.staff.people import (
    PASSWORD,
    Person,
    audit_actions,
    current_code,
    person,
    sign_in,
    signed_in_as,
    submit_code,
    submit_password,
)
from tests.staff.test_recovery_codes import CODE  # a recovery code as the page shows it


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The site at a host name: browsers take no IP address as a key's RP ID. Delays
    start after 10 failures, so one test can try every wrong answer in turn."""
    return replace(settings, base_url=ORIGIN, staff_lockout_failures=10)


def add_key(client: FlaskClient, key: SoftKey, name: str = "blue key", **bend: str) -> TestResponse:
    """Register ``key`` from the two-factor page, as its script does."""
    page = client.get("/account/two-factor")
    assert page.status_code == 200
    answer = key.register(page_options(page.text, "register"), **bend)
    return client.post(
        "/account/two-factor/security-keys",
        data={"name": name, "credential": answer, "csrf_token": csrf_token(page)},
    )


def key_page(client: FlaskClient, who: Person) -> TestResponse:
    """The password, then the second step's page, which offers the key."""
    answer = submit_password(client, who.email, who.password)
    assert answer.headers["Location"].endswith("/sign-in/code")
    page = client.get("/sign-in/code")
    assert page.status_code == 200
    return page


def use_key(client: FlaskClient, page: TestResponse, answer: str) -> TestResponse:
    return client.post(
        "/sign-in/security-key", data={"credential": answer, "csrf_token": csrf_token(page)}
    )


def failures(rt: Runtime) -> int:
    with rt.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(SignInFailure)) or 0)


def key_rows(rt: Runtime) -> list[SecurityKey]:
    with rt.sessions() as session:
        return list(session.scalars(select(SecurityKey).order_by(SecurityKey.id)))


def test_finding_10_passkey_alone_is_a_second_factor_and_brings_recovery_codes(
    rt: Runtime, client: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    sign_in(client, ada)  # no second factor yet: the password is enough
    key = SoftKey()

    added = add_key(client, key, "blue key")

    # Her first second factor: the recovery codes, shown once, as with an app.
    assert added.status_code == 200, added.text
    assert "Keep these somewhere safe" in added.text
    codes = CODE.findall(added.text)
    assert len(codes) == 10
    [row] = key_rows(rt)
    assert (row.name, row.transports, row.last_used_at) == ("blue key", ["usb"], None)
    listed = client.get("/account/two-factor")
    assert "blue key" in listed.text
    assert "never" in listed.text

    client.post("/sign-out", data={"csrf_token": csrf_token(listed)})
    page = key_page(client, ada)
    assert "Use your security key" in page.text
    signed = use_key(client, page, key.sign(page_options(page.text, "sign-in")))

    assert signed.status_code == 303, signed.text
    assert signed_in_as(client) == "ada@example.org"
    [row] = key_rows(rt)
    assert row.sign_count == key.counter
    assert row.last_used_at is not None
    assert "never" not in client.get("/account/two-factor").text
    assert audit_actions(rt)[-2:] == ["sign-in", "two-factor.security-key-used"]

    # Without the key, a recovery code still signs her in.
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    key_page(client, ada)
    assert submit_code(client, codes[0]).status_code == 303
    assert signed_in_as(client) == "ada@example.org"


def test_finding_10_passkey_satisfies_the_two_factor_rule_for_an_admin(
    rt: Runtime, client: FlaskClient
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN, two_factor=False)
    sign_in(client, grace)
    assert client.get("/admin/").headers["Location"].endswith("/account/two-factor")

    assert add_key(client, SoftKey()).status_code == 200

    assert client.get("/admin/").status_code == 200


def test_finding_10_passkey_or_app_code_for_a_user_with_both(
    rt: Runtime, client: FlaskClient
) -> None:
    grace = person(rt, "grace@example.org", Role.ADMIN)  # an authenticator app already
    sign_in(client, grace)
    key = SoftKey()

    added = add_key(client, key)

    # Not her first second factor: her recovery codes stay as they were.
    assert added.status_code == 303
    assert "is added" in client.get("/account/two-factor").text
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    page = key_page(client, grace)
    assert "authenticator app" in page.text
    assert "Use your security key" in page.text
    assert grace.secret is not None  # the first sign-in used this step's code
    assert submit_code(client, current_code(grace.secret, steps_ahead=1)).status_code == 303
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    page = key_page(client, grace)
    assert use_key(client, page, key.sign(page_options(page.text, "sign-in"))).status_code == 303


def test_finding_10_passkey_registration_refuses_another_origin_and_a_replayed_challenge(
    rt: Runtime, client: FlaskClient, later: Callable[[timedelta], None]
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    sign_in(client, ada)

    elsewhere = add_key(client, SoftKey(), origin="http://evil.example")
    assert elsewhere.status_code == 400
    assert "not accepted" in elsewhere.text

    page = client.get("/account/two-factor")
    key = SoftKey()
    answer = key.register(page_options(page.text, "register"))
    data = {"name": "blue key", "credential": answer, "csrf_token": csrf_token(page)}
    assert client.post("/account/two-factor/security-keys", data=data).status_code == 200
    again = client.post("/account/two-factor/security-keys", data=data)
    assert again.status_code == 400
    assert "took too long, or the page was used already" in again.text

    # A challenge lasts five minutes.
    page = client.get("/account/two-factor")
    late = SoftKey().register(page_options(page.text, "register"))
    later(timedelta(minutes=6))
    too_late = client.post(
        "/account/two-factor/security-keys",
        data={"name": "late key", "credential": late, "csrf_token": csrf_token(page)},
    )
    assert too_late.status_code == 400
    assert "took too long" in too_late.text

    nameless = add_key(client, SoftKey(), name="  ")
    assert nameless.status_code == 400
    assert "Give the key a name" in nameless.text
    assert [k.name for k in key_rows(rt)] == ["blue key"]


def test_finding_10_passkey_sign_in_refuses_what_is_not_the_keys_own_answer_here(
    rt: Runtime, client: FlaskClient, app: Flask
) -> None:
    app_client = app.test_client()
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    bob = person(rt, "bob@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    sign_in(client, ada)
    key = SoftKey()
    add_key(client, key)
    sign_in(app_client, bob)
    bobs_key = SoftKey()
    add_key(app_client, bobs_key)
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})

    def refused(answer_for: object, expect: str = "not accepted") -> None:
        page = key_page(client, ada)
        before = failures(rt)
        answer = answer_for(page_options(page.text, "sign-in"))  # type: ignore[operator]
        refusal = use_key(client, page, answer)
        assert refusal.status_code == 400, refusal.text
        assert expect in refusal.text
        assert failures(rt) == before + 1  # counted toward the sign-in delays
        assert signed_in_as(client) is None

    refused(lambda options: key.sign(options, origin="http://evil.example"))
    refused(lambda options: key.sign(options, rp_id="evil.example"))
    refused(lambda options: key.sign(options, challenge="bm90LXRoaXMtcGFnZXM"), "took too long")
    refused(lambda options: bobs_key.sign(options))  # Bob's key is not Ada's
    refused(lambda options: SoftKey(credential_id=key.credential_id).sign(options))  # forged

    # An answer used once is not taken again: its challenge is gone.
    page = key_page(client, ada)
    good = key.sign(page_options(page.text, "sign-in"))
    assert use_key(client, page, good).status_code == 303
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    key_page(client, ada)
    replayed = use_key(client, page, good)
    assert replayed.status_code == 400
    assert signed_in_as(client) is None


def test_finding_10_passkey_whose_counter_goes_back_is_refused_as_a_clone(
    rt: Runtime, client: FlaskClient
) -> None:
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    sign_in(client, ada)
    key = SoftKey()
    add_key(client, key)
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    page = key_page(client, ada)
    assert use_key(client, page, key.sign(page_options(page.text, "sign-in"))).status_code == 303
    used = key.counter
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})

    page = key_page(client, ada)
    clone = use_key(client, page, key.sign(page_options(page.text, "sign-in"), counter=used))

    assert clone.status_code == 400
    assert "signature counter went backwards" in clone.text
    assert signed_in_as(client) is None
    with rt.sessions() as session:
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "two-factor.security-key-cloned")
        ).one()
        assert entry.target_id == str(ada.id)
        assert (entry.before or {})["counter"] == used
    assert failures(rt) == 1


def test_finding_10_passkey_removed_with_the_password_no_longer_signs_in(
    rt: Runtime, client: FlaskClient, app: Flask
) -> None:
    app_client = app.test_client()
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    bob = person(rt, "bob@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    sign_in(client, ada)
    key, spare = SoftKey(), SoftKey()
    add_key(client, key, "blue key")
    add_key(client, spare, "spare key")
    sign_in(app_client, bob)
    add_key(app_client, SoftKey(), "bob's key")
    blue, _spare, bobs = key_rows(rt)
    page = client.get("/account/two-factor")

    wrong = client.post(
        f"/account/two-factor/security-keys/{blue.id}/remove",
        data={"password": "not my password", "csrf_token": csrf_token(page)},
    )
    assert wrong.status_code == 400
    assert "That is not your password." in wrong.text
    not_hers = client.post(
        f"/account/two-factor/security-keys/{bobs.id}/remove",
        data={"password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert not_hers.status_code == 404
    assert len(key_rows(rt)) == 3

    removed = client.post(
        f"/account/two-factor/security-keys/{blue.id}/remove",
        data={"password": PASSWORD, "csrf_token": csrf_token(page)},
    )
    assert removed.status_code == 303
    assert [k.name for k in key_rows(rt)] == ["spare key", "bob's key"]
    assert "two-factor.security-key-removed" in audit_actions(rt)

    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    page = key_page(client, ada)
    refusal = use_key(client, page, key.sign(page_options(page.text, "sign-in")))
    assert refusal.status_code == 400
    assert signed_in_as(client) is None


def test_finding_10_passkey_admin_reset_forgets_keys_and_codes(
    rt: Runtime, client: FlaskClient, app: Flask
) -> None:
    app_client = app.test_client()
    ada = person(rt, "ada@example.org", (Role.TREASURER, "twisted"), two_factor=False)
    root = person(rt, "root@example.org", Role.ADMIN)
    sign_in(client, ada)
    add_key(client, SoftKey())
    sign_in(app_client, root)
    page = app_client.get(f"/admin/users/{ada.id}")
    assert "1 security key" in page.text

    reset = app_client.post(
        f"/admin/users/{ada.id}/two-factor/reset", data={"csrf_token": csrf_token(page)}
    )

    assert reset.status_code == 303
    assert key_rows(rt) == []
    with rt.sessions() as session:
        assert not session.scalars(select(RecoveryCode).where(RecoveryCode.user_id == ada.id)).all()
    # Her password alone signs her in again: she has no second factor left.
    client.post("/sign-out", data={"csrf_token": csrf_token(client.get("/account/two-factor"))})
    assert submit_password(client, ada.email, ada.password).headers["Location"] != "/sign-in/code"
    assert signed_in_as(client) == "ada@example.org"
