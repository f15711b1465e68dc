"""Stripe's webhook: verified on the raw body, stored, and answered at once; 4xx when it
cannot be accepted.

An instance without Stripe's keys (a demo or test set-up started without them;
production refuses to start so, see Settings.require_stripe) cannot verify anything:
it answers 503 with one plain line and writes nothing, never a 500 page.
"""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request
from flask.typing import ResponseReturnValue

from conservancy.background.jobs import Job
from conservancy.infra.config import SettingsError
from conservancy.payments.gateway import BadSignature
from conservancy.payments.inbox import receive
from conservancy.web.context import runtime

bp = Blueprint("stripe", __name__)
log = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "Stripe webhooks are not set up on this server (no Stripe key or signing secret); "
    "nothing was recorded.\n"
)


@bp.post("/stripe/webhook")
def webhook() -> ResponseReturnValue:
    """Verify, store, answer: no call to Stripe, no settling and no ledger write here
    (``payments.inbox``). A settler does the rest, started by the job queued below."""
    rt = runtime()
    try:
        gateway = rt.gateway
    except SettingsError as exc:
        log.error("a Stripe webhook arrived, but it cannot be checked: %s", exc)
        return Response(NOT_CONFIGURED, 503, mimetype="text/plain")
    try:
        outcome = receive(
            gateway,
            rt.sessions,
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
        )
    except BadSignature as exc:
        return {"error": str(exc)}, 400
    if outcome == "received":
        rt.jobs.enqueue(Job.SETTLE)
    return {"status": outcome}, 200
