"""A small Giving Tuesday with everything going wrong (issue 7's load test, in small).

``bench.intake`` (its ``--faults`` run) on 50 gifts: the app under gunicorn (2 workers)
on a PostgreSQL database of its own, the stand-in in its own process, each
``checkout.session.completed`` delivered twice and all of them shuffled, by eight
senders at once that retry a failed delivery as Stripe does; one gunicorn worker
SIGKILLed a third of the way in, and every backend of the app's database ended
(``pg_terminate_backend``, which a test can do without disturbing other users of
the server) two thirds in. Then ``conservancy stripe sync`` and ``conservancy
ledger sync``, as an operator would. The full-size run restarts PostgreSQL itself.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.postgresql]

PG_URL = os.environ.get("CONSERVANCY_TEST_DATABASE_URL")
GIFTS = 50  # a hundred deliveries: the kill comes after 33, the backends end after 66


def test_duplicates_a_killed_worker_and_dropped_connections_leave_exact_books() -> None:
    if not PG_URL:
        pytest.skip("PostgreSQL: set CONSERVANCY_TEST_DATABASE_URL to run the load test on it")
    from bench import intake

    if shutil.which("gunicorn", path=str(Path(intake.PYTHON).parent)) is None:
        pytest.skip("gunicorn is not installed in this virtualenv")

    result = intake.run(
        intake.Options(
            gifts=GIFTS,
            faults=True,
            pg_fault="terminate",
            ceiling=False,
            phases=False,
            admin_url=PG_URL,
        )
    )

    app, verify = result["app"], result["verify"]
    # The faults happened.
    assert app["faults"]["worker killed"]["pid"] is not None
    assert app["faults"]["postgresql"]["backends_ended"] > 0
    assert len(app["workers_after"]) == 2  # gunicorn replaced the killed worker
    # Every delivery was answered 200 in the end, the duplicates as duplicates.
    assert app["gave_up"] == 0
    assert app["outcomes"]["received"] <= GIFTS
    assert app["outcomes"]["received"] + app["outcomes"].get("duplicate", 0) == 2 * GIFTS
    assert all(op["exit"] == 0 for op in app["operator"].values()), app["operator"]
    # The books are exact: the burst's gifts and the ten sent before it to warm up.
    gifts = GIFTS + intake.WARM_GIFTS
    assert verify["gifts in the database"] == {"expected": gifts, "found": gifts, "ok": True}
    assert verify["gift entries in the books"]["found"] == gifts
    assert verify["gift entries in the books"]["each gift's ref once"]
    assert verify["gift entries in the books"]["no ref twice"]
    funds = verify["fund balances = the stand-in's charges"]
    assert funds["ok"], funds
    assert verify["conservancy ledger check"]["exit"] == 0, verify["conservancy ledger check"]
    assert verify["verdict"] == "PASS"
