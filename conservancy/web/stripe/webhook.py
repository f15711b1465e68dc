"""Stripe's webhook: verified on the raw body, answered 4xx when it cannot be accepted.

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
from conservancy.payments.events import handle_webhook
from conservancy.payments.gateway import BadSignature, GatewayError
from conservancy.web.context import runtime

bp = Blueprint("stripe", __name__)
log = logging.getLogger(__name__)
NOT_CONFIGURED = (
    "Stripe webhooks are not set up on this server (no Stripe key or signing secret); "
    "nothing was recorded.\n"
)


@bp.post("/stripe/webhook")
def webhook() -> ResponseReturnValue:
    rt = runtime()
    try:
        gateway = rt.gateway
    except SettingsError as exc:
        log.error("a Stripe webhook arrived, but it cannot be checked: %s", exc)
        return Response(NOT_CONFIGURED, 503, mimetype="text/plain")
    try:
        outcome = handle_webhook(
            rt.sessions,
            gateway,
            request.get_data(cache=False),
            request.headers.get("Stripe-Signature"),
            rt.settings.timezone,
        )
    except BadSignature as exc:
        return {"error": str(exc)}, 400
    except GatewayError as exc:
        # Not 2xx either way, so Stripe sends the event again (and `stripe sync` can fetch
        # it): a temporary error will have passed; a refusal needs someone to look.
        if exc.temporary:
            log.warning("could not reach Stripe while handling a webhook: %s", exc)
            return {"error": "Stripe could not be reached; retry later"}, 503
        log.error("Stripe refused a request made for a webhook: %s", exc)
        return {"error": "Stripe refused a request this event needs; staff must look"}, 502
    rt.jobs.enqueue(Job.POST_LEDGER)
    if outcome == "processed":
        rt.jobs.enqueue(Job.DELIVER)  # receipts and their mail, off the request
    return {"status": outcome}, 200
