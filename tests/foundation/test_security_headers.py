"""Every answer carries a Content-Security-Policy that forbids framing and scripts,
``nosniff`` and a Referrer-Policy; pages with donors' names are never cached; the TLS
terminator we ship sends HSTS for the subdomains too."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask.testing import FlaskClient

from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.factories import with_project
from tests.staff.people import person, sign_in

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    return with_project(runtime)


def directives(answer_policy: str) -> dict[str, str]:
    parts = (d.strip().split(" ", 1) for d in answer_policy.split(";") if d.strip())
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


@pytest.mark.parametrize(
    "path", ["/", "/donate/twisted", "/donate/twisted/sponsor", "/portal", "/sign-in", "/nope"]
)
def test_public_pages_cannot_be_framed_and_run_no_script(
    rt: Runtime, client: FlaskClient, path: str
) -> None:
    answer = client.get(path)

    policy = directives(answer.headers["Content-Security-Policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["script-src"] == "'none'"
    assert policy["object-src"] == "'none'"
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.headers["Referrer-Policy"] in ("same-origin", "no-referrer")


def test_treasurer_pages_are_never_cached(rt: Runtime, client: FlaskClient) -> None:
    rt.books.load()
    sign_in(client, person(rt, "tres@example.org", (Role.TREASURER, "twisted")))

    for path in ("/treasurer/twisted/", "/treasurer/twisted/donors"):
        answer = client.get(path)
        assert answer.status_code == 200
        assert answer.headers["Cache-Control"] == "no-store"
        assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]


def test_a_view_keeps_the_stricter_policy_it_sets_itself(rt: Runtime, client: FlaskClient) -> None:
    """An uploaded file is served with default-src 'none'; the page-wide policy does not
    loosen it."""
    from conservancy.web.headers import protect

    app = client.application
    with app.test_request_context("/"):
        answer = app.make_response(("x", 200, {"Content-Security-Policy": "default-src 'none'"}))
        assert protect(answer).headers["Content-Security-Policy"] == "default-src 'none'"


def test_nginx_sends_hsts_for_subdomains_too() -> None:
    conf = (DEPLOY / "nginx.conf").read_text()
    assert 'Strict-Transport-Security "max-age=31536000; includeSubDomains" always' in conf


def test_finding_10_passkey_pages_alone_run_our_own_script_and_nothing_else(
    rt: Runtime, client: FlaskClient
) -> None:
    """The two-factor page and the code page run static/security-keys.js: scripts from our
    own address only, never inline, and still never framed. Other staff pages run none."""
    grace = person(rt, "grace@example.org", Role.ADMIN)
    sign_in(client, grace)

    keys = client.get("/account/two-factor")
    other = client.get("/account/password")

    policy = directives(keys.headers["Content-Security-Policy"])
    assert policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"
    assert '<script src="/static/security-keys.js" defer></script>' in keys.text
    assert "<script>" not in keys.text
    assert directives(other.headers["Content-Security-Policy"])["script-src"] == "'none'"
    assert client.get("/static/security-keys.js").status_code == 200
