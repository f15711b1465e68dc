"""What tests and their helper processes share without importing the fixtures.

tests/conftest.py brings pytest, Flask and the whole web app with it; the helpers that crash
and race in processes of their own (tests/ledger) need only these, and each of them starts
quicker without the rest.
"""

from __future__ import annotations

import os
from datetime import date

from conservancy.infra.config import Settings

# The test ledger's books open on this date; entries in tests are dated after it.
BOOKS_OPEN_ON = date(2026, 1, 1)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a subprocess needs to see the same settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONSERVANCY_")}
    env.update(
        CONSERVANCY_ENV=settings.env.value,
        CONSERVANCY_DATABASE_URL=settings.database_url,
        CONSERVANCY_LEDGER_DIR=str(settings.ledger_dir),
        CONSERVANCY_RECEIPTS_DIR=str(settings.receipts_dir),
        CONSERVANCY_INSTANCE_DIR=str(settings.instance_dir),
    )
    return env
