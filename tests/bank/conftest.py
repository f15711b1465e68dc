"""Bank reconciliation's end-to-end tests need Stripe's payouts: the giving tests' stand-in."""

from tests.giving.conftest import (  # noqa: F401 - fixtures, found by name
    giving_app,
    giving_runtime,
    giving_settings,
    live,
    standin,
)
