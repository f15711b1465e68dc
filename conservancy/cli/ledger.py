"""``conservancy ledger check``, ``sync`` and ``close``: the books' own commands."""

from __future__ import annotations

import click
from sqlalchemy import inspect

from conservancy.cli.common import open_runtime
from conservancy.kernel import clock
from conservancy.ledger import years
from conservancy.ledger.check import check_books
from conservancy.ledger.health import record_check
from conservancy.ledger.outbox import pending_count, posted_refs


@click.group()
def ledger() -> None:
    """Check and complete the books; close a year."""


@ledger.command()
@click.option(
    "--history",
    is_flag=True,
    help="Check the full history (history.beancount, closed years included) instead of "
    "the day-to-day books (main.beancount).",
)
def check(history: bool) -> None:
    """Load the whole ledger and check it: Beancount's validation plus our invariants.

    Prints one line per problem and exits 1 if there is any.
    """
    with open_runtime() as rt:
        files = rt.ledger
        # Entries dated before the first open day are in the full history only.
        since = None if history else years.first_open_day(files)
        if history:
            if not files.exists():
                raise click.ClickException("no books yet: run 'conservancy init'")
            # Written even mid-close: the check then says the close was interrupted.
            files = years.write_history_root(files, closing=True)
        refs: list[str] = []
        pending = 0
        if inspect(rt.engine).has_table("ledger_outbox"):
            with rt.sessions() as session:
                refs = posted_refs(session, since=since)
                pending = pending_count(session)
        result = check_books(files, refs)
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


@ledger.command()
@click.option("--year", required=True, type=int, metavar="YYYY", help="The year to close.")
def close(year: int) -> None:
    """Close a year: each fund's income and expenses into its net assets, and the next
    year's books starting from the opening balances.

    The day-to-day books (main.beancount) then load only the open years; the full
    history stays in history.beancount, which reports over closed years read. An
    interrupted close is finished by running the command again.
    """
    from conservancy.ledger.close import close_year

    with open_runtime() as rt:
        if not rt.ledger.exists():
            raise click.ClickException("no books yet: run 'conservancy init'")
        today = clock.today(rt.settings.timezone)
        result = close_year(rt.sessions, rt.ledger, year, today=today)
    if result.resumed is not None:
        click.echo(f"finished the close of {year} that was interrupted ({result.resumed})")
    click.echo(
        f"closed {year}: {result.closing_entries} closing entries, {result.carried} "
        f"balances carried into {year + 1} ({years.opening_file(rt.ledger, year + 1).name})"
    )
    click.echo(
        f"the day-to-day books start on {year + 1}-01-01; the full history is history.beancount"
    )
    funds = len({fund for fund, _currency in result.funds})
    click.echo(f"ok: the balances of {funds} funds are unchanged")
