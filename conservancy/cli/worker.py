"""``conservancy worker``: run the background jobs queued in Redis (conservancy.background.jobs)."""

from __future__ import annotations

from datetime import timedelta

import click


@click.command()
@click.option("--burst", is_flag=True, help="Stop once the queue is empty (for cron and tests).")
@click.option(
    "--sweep-every",
    type=click.IntRange(1, 1440),
    default=5,
    show_default=True,
    metavar="MINUTES",
    help="Sweep for work a lost job left this often (besides at the start).",
)
def worker(burst: bool, sweep_every: int) -> None:
    """Run RQ jobs: ledger posting, receipts and mail, annual statements.

    Needs CONSERVANCY_REDIS_URL. Run as many as you like, on any host that sees the
    database and the ledger directory: every job claims its work in the database.
    At its start, and every few minutes while it runs, it also does what a lost job
    left waiting (as 'conservancy sweep' does).
    """
    from conservancy.background.jobs import work
    from conservancy.cli.common import open_runtime

    with open_runtime() as rt:
        work(rt, burst=burst, sweep_every=timedelta(minutes=sweep_every))
