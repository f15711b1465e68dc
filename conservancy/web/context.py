"""Request-scoped access to the runtime: one database session per request."""

from __future__ import annotations

from typing import cast

from flask import Response, current_app, g
from sqlalchemy.orm import Session

from conservancy.runtime import Runtime


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["conservancy"])


def db() -> Session:
    if "db" not in g:
        g.db = runtime().sessions()
    return cast(Session, g.db)


def never_cached(response: Response) -> Response:
    """For a blueprint's ``after_request``: pages with donors, money, links or secrets are
    never cached, and never sent on as a Referer."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
