"""Stripe's webhook: verified on the raw body, answered 4xx when it cannot be accepted."""

from __future__ import annotations

import logging

from flask import Blueprint, request

from conservancy.jobs import Job
from conservancy.payments.events import handle_webhook
from conservancy.payments.gateway import BadSignature, GatewayError
from conservancy.web.context import runtime

bp = Blueprint("stripe", __name__)
log = logging.getLogger(__name__)


@bp.post("/stripe/webhook")
def webhook() -> tuple[dict[str, str], int]:
    rt = runtime()
    try:
        outcome = handle_webhook(
            rt.sessions,
            rt.gateway,
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
