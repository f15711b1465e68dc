"""Request-scoped access to the runtime: one database session per request."""

from __future__ import annotations

from typing import cast

from flask import current_app, g
from sqlalchemy.orm import Session

from conservancy.runtime import Runtime


def runtime() -> Runtime:
    return cast(Runtime, current_app.extensions["conservancy"])


def db() -> Session:
    if "db" not in g:
        g.db = runtime().sessions()
    return cast(Session, g.db)
