"""Staff as the tests need them: made directly in the database, then signed in as a
person does it, through the sign-in form (and the code page, for those with two-factor)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from conservancy.kernel import clock
from conservancy.runtime import Runtime
from conservancy.staff import audit, passwords, totp
from conservancy.staff.models import AuditEntry, Role
from conservancy.staff.service import add_user, get_user
from conservancy.staff.totp_keys import TotpKeys
from tests.portal.donor import csrf_token

PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Person:
    id: int
    email: str
    password: str
    secret: str | None  # the TOTP secret, when two-factor sign-in is on


def person(
    rt: Runtime,
    email: str,
    *roles: Role | tuple[Role, str],
    password: str | None = PASSWORD,
    two_factor: bool | None = None,
) -> Person:
    """A user with ``roles`` (a treasurer role as ``(Role.TREASURER, "twisted")``), a
    password, and two-factor sign-in on when their roles need it (or as asked)."""
    with rt.sessions() as session:
        user_id = None
        for role in roles:
            role, project = role if isinstance(role, tuple) else (role, None)
            user_id = add_user(
                session, audit.COMMAND_LINE, email=email, role=role, project=project
            ).user.id
        assert user_id is not None, "a person needs a role"
        user = get_user(session, user_id)
        if password is not None:
            user.password_hash = passwords.hash_password(password)
        wanted = (
            two_factor if two_factor is not None else bool({*roles} & {Role.ADMIN, Role.BOOKKEEPER})
        )
        secret = totp.new_secret() if wanted else None
        user.totp_secret = None if secret is None else TotpKeys.of(rt.settings).seal(secret)
        session.commit()
        return Person(user_id, user.email, password or "", secret)


def current_code(secret: str, *, steps_ahead: int = 0) -> str:
    """The code an authenticator app shows now (or for a later 30-second step, which
    the server takes as a clock a little ahead: a way to sign in twice within one step)."""
    return totp.code_for(secret, totp.step_at(clock.now()) + steps_ahead)


def post_form(
    client: FlaskClient, page: str, action: str | None = None, **data: str
) -> TestResponse:
    """Open ``page``, then send its form (to ``action``, by default the page itself)."""
    token = csrf_token(client.get(page))
    return client.post(action or page, data={**data, "csrf_token": token})


def submit_password(client: FlaskClient, email: str, password: str, **extra: str) -> TestResponse:
    token = csrf_token(client.get("/password-reset"))  # a public page with a form
    return client.post(
        "/sign-in",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": extra.get("remote", "127.0.0.1")},
    )


def submit_code(client: FlaskClient, code: str) -> TestResponse:
    page = client.get("/sign-in/code")
    assert page.status_code == 200, "no password is waiting for its code"
    return client.post("/sign-in/code", data={"code": code, "csrf_token": csrf_token(page)})


def sign_in(client: FlaskClient, who: Person, *, steps_ahead: int = 0) -> TestResponse:
    """Sign in as ``who``; answers the redirect that ends signing in."""
    answer = submit_password(client, who.email, who.password)
    assert answer.status_code == 303, answer.text
    if who.secret is not None:
        assert answer.headers["Location"].endswith("/sign-in/code")
        answer = submit_code(client, current_code(who.secret, steps_ahead=steps_ahead))
        assert answer.status_code == 303, answer.text
    return answer


def signed_in_as(client: FlaskClient) -> str | None:
    """The address the staff bar names, or None when nobody is signed in."""
    page = client.get("/treasurer/")
    if page.status_code != 200:
        return None
    found = re.search(r"Signed in as ([^<\s]+)", page.text)
    return found.group(1) if found else None


def audit_actions(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        return list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))


def without_token(page: TestResponse) -> str:
    """A page's text without its CSRF token, which differs from one answer to the next."""
    return re.sub(r'name="csrf_token" value="[^"]+"', "", page.text)
