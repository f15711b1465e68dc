"""conservancy: fiscal-sponsorship donations and bookkeeping on Beancount."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask

    from conservancy.infra.config import Settings
    from conservancy.runtime import Runtime


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> Flask:
    """The web application: settings -> database and books -> blueprints. Nothing else."""
    from conservancy.web.app import build_app

    return build_app(settings, runtime)
