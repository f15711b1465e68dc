"""Sponsorship invoices are paid through Stripe: the giving tests' stand-in fixtures."""

from tests.giving.conftest import (  # noqa: F401
    giving_app,
    giving_runtime,
    giving_settings,
    live,
    standin,
)
