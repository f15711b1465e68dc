"""The books' one writer across hosts: on PostgreSQL, a database lock besides the flock."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from conservancy.ledger.outbox import (
    WRITER_LOCK_KEY,
    post_pending_locked,
    record,
    writer_lock,
)
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import ref_counts


def _someone_else_can_take_it(runtime: Runtime) -> bool:
    """Ask for the writers' lock from another connection, as another host would; let go."""
    with runtime.engine.connect() as conn:
        taken = bool(
            conn.scalar(text("SELECT pg_try_advisory_lock(:key)"), {"key": WRITER_LOCK_KEY})
        )
        if taken:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": WRITER_LOCK_KEY})
        conn.commit()
    return taken


@pytest.mark.postgresql
def test_the_writer_holds_the_database_lock_and_may_post_under_it(runtime: Runtime) -> None:
    if runtime.engine.dialect.name != "postgresql":
        pytest.skip("the writers' database lock is PostgreSQL's")
    with runtime.sessions() as session:
        factories.project(session)
        record(session, factories.gift("held-0"))
        session.commit()
    assert _someone_else_can_take_it(runtime)

    with writer_lock(runtime.sessions, runtime.ledger):
        assert not _someone_else_can_take_it(runtime)
        # As closing a year does: posting under the lock already held does not wait for itself.
        post_pending_locked(runtime.sessions, runtime.ledger)
        assert not _someone_else_can_take_it(runtime)

    assert _someone_else_can_take_it(runtime)
    assert ref_counts(runtime.ledger, ["held-0"]) == {"held-0": 1}
