"""Staff at the money pages: signed in as a person does it, sending forms as a browser does
(the page first, for its CSRF token and its once-only key), and a Stripe that refunds."""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from conservancy.kernel import clock
from conservancy.money import Money
from conservancy.payments.gateway import RefundInfo
from conservancy.runtime import Runtime
from conservancy.staff.models import Role
from tests.staff.people import person, sign_in

ROLES: dict[str, tuple[Role | tuple[Role, str], ...]] = {
    "admin": (Role.ADMIN,),
    "bookkeeper": (Role.BOOKKEEPER,),
    "auditor": (Role.AUDITOR,),
    "treasurer": ((Role.TREASURER, "twisted"),),
    "sugar-treasurer": ((Role.TREASURER, "sugar"),),
}


def signed_in(app: Flask, rt: Runtime, who: str, name: str | None = None) -> FlaskClient:
    """A browser signed in as a ``who`` (a key of ROLES), called ``name`` (default: ``who``)."""
    client = app.test_client()
    sign_in(client, person(rt, f"{name or who}@example.org", *ROLES[who], two_factor=True))
    return client


def hidden(page: TestResponse, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', page.text)
    assert found, f"the page has no {name} field"
    return found.group(1)


def send(
    client: FlaskClient,
    page: str,
    action: str,
    data: Mapping[str, Any],
    *,
    keep: TestResponse | None = None,
) -> TestResponse:
    """Open ``page`` (or reuse ``keep``, a page already open) and send its form to ``action``
    with ``data``, its CSRF token and its key."""
    shown = keep if keep is not None else client.get(page)
    assert keep is not None or shown.status_code == 200, shown.text
    fields = {"csrf_token": hidden(shown, "csrf_token"), **data}
    if 'name="once"' in shown.text:
        fields.setdefault("once", hidden(shown, "once"))
    return client.post(action, data=fields, content_type="multipart/form-data")


def error_by(page: TestResponse, field: str) -> str:
    """The message shown by ``field``."""
    found = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page.text)
    assert found, f"no message by {field}: {page.text}"
    return html.unescape(found.group(1))


class RefundingGateway:
    """Stripe as far as a refund goes: one refund per idempotency key, and a log of calls."""

    livemode = False

    def __init__(self) -> None:
        self.calls: list[str] = []
        self._made: dict[str, RefundInfo] = {}

    def create_refund(
        self, charge_id: str, amount: Money, idempotency_key: str, reason: str
    ) -> RefundInfo:
        self.calls.append(idempotency_key)
        if idempotency_key not in self._made:
            number = len(self._made) + 1
            self._made[idempotency_key] = RefundInfo(
                id=f"re_test{number}",
                charge_id=charge_id,
                amount=amount,
                status="succeeded",
                created_at=clock.now(),
                balance_transaction_id=f"txn_re{number}",
                failure_balance_transaction=None,
            )
        return self._made[idempotency_key]

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the refund pages should not call Stripe's {name}")
