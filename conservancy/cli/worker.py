"""``conservancy worker``: run the background jobs queued in Redis (conservancy.jobs)."""

from __future__ import annotations

import click


@click.command()
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for cron and tests).")
def worker(burst: bool) -> None:
    """Run RQ jobs: ledger posting, receipts and mail, annual statements.

    Needs CONSERVANCY_REDIS_URL. Run as many as you like, on any host that sees the
    database and the ledger directory: every job claims its work in the database.
    """
    from conservancy.cli.common import open_runtime
    from conservancy.jobs import work

    with open_runtime() as rt:
        work(rt, burst=burst)
