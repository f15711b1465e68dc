from __future__ import annotations

import click
from sqlalchemy import inspect

from conservancy import clock
from conservancy.cli.common import open_runtime
from conservancy.ledger.check import check_books
from conservancy.ledger.health import record_check
from conservancy.ledger.outbox import pending_count, posted_refs


@click.group()
def ledger() -> None:
    """Check and complete the books."""


@ledger.command()
def check() -> None:
    """Load the whole ledger and check it: Beancount's validation plus our invariants.

    Prints one line per problem and exits 1 if there is any.
    """
    with open_runtime() as rt:
        refs: list[str] = []
        pending = 0
        if inspect(rt.engine).has_table("ledger_outbox"):
            with rt.sessions() as session:
                refs = posted_refs(session)
                pending = pending_count(session)
        result = check_books(rt.ledger, refs)
        if inspect(rt.engine).has_table("ledger_checks"):  # the health page shows the last run
            with rt.sessions() as session:
                record_check(session, result, pending=pending, at=clock.now())
                session.commit()
    for problem in result.problems:
        click.echo(str(problem))
    if pending:
        click.echo(
            f"note: {pending} entries wait to be posted; run 'conservancy ledger sync'", err=True
        )
    if result.problems:
        click.echo(
            f"{len(result.problems)} problems in {result.transactions} transactions", err=True
        )
        raise SystemExit(1)
    click.echo(f"ok: {result.transactions} transactions, {result.refs} refs, no problems")


@ledger.command()
def sync() -> None:
    """Post every entry recorded in the database but not yet in the books. Safe to repeat."""
    with open_runtime() as rt:
        if not rt.ledger.exists():
            raise click.ClickException("no books yet: run 'conservancy init'")
        result = rt.post_ledger()
    recovered = (
        f" (completed {result.recovered} from an interrupted append)" if result.recovered else ""
    )
    click.echo(f"posted {result.posted} entries{recovered}")
