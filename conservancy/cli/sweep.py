"""``conservancy sweep``: do the work a lost job left waiting (conservancy.background.sweep)."""

from __future__ import annotations

import click


@click.command()
def sweep() -> None:
    """Post the ledger entries, and draw and send the receipts and mail, that have waited
    longer than a minute (a job was lost); print one line of counts.

    Run it every few minutes where no 'conservancy worker' runs (which sweeps by itself):
    deploy/conservancy-sweep.timer. Safe to run any time, any number of times.
    """
    from conservancy.background.sweep import sweep as sweep_lost_work
    from conservancy.cli.common import open_runtime

    with open_runtime() as rt:
        if not rt.ledger.exists():
            raise click.ClickException("no books yet: run 'conservancy init'")
        result = sweep_lost_work(rt)
    click.echo(result.summary())
