from __future__ import annotations

import click
from sqlalchemy import inspect

from conservancy.cli.common import open_runtime
from conservancy.kernel import clock
from conservancy.money import MoneyError, percent_to_basis_points
from conservancy.projects.service import add_project, get_sponsor


@click.group()
def project() -> None:
    """Member projects."""


@project.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The project's name, as donors see it.")
@click.option(
    "--fee-rate", default="10", show_default=True, help="Sponsorship fee, percent of each gift."
)
@click.option(
    "--account-name", default=None, help="The fund's account component (default: from the name)."
)
def add(slug: str, name: str, fee_rate: str, account_name: str | None) -> None:
    """Add a member project and open its fund accounts."""
    try:
        fee_bp = percent_to_basis_points(fee_rate)
    except MoneyError as exc:
        raise click.BadParameter(str(exc), param_hint="--fee-rate") from None
    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("sponsor") or not rt.ledger.exists():
            raise click.ClickException("no sponsor or books yet: run 'conservancy init' first")
        with rt.sessions() as session:
            if get_sponsor(session) is None:
                raise click.ClickException("no sponsor yet: run 'conservancy init' first")
            today = clock.today(rt.settings.timezone)
            created = add_project(
                session,
                slug=slug,
                name=name,
                fund=account_name,
                fee_rate_bp=fee_bp,
                opened_on=today.replace(month=1, day=1),
            )
            session.commit()
        rt.post_ledger()
    click.echo(f"added {created.name} ({created.slug}); its fund is {created.fund}")


@project.command("export")
@click.argument("slug")
@click.option("--out", required=True, metavar="DIR", help="The folder to write (made if absent).")
@click.option(
    "--from",
    "first",
    default=None,
    metavar="YYYY-MM-DD",
    help="The first day (default: the day the books open the project's fund).",
)
def export(slug: str, out: str, first: str | None) -> None:
    """What a new sponsor needs to take the project over.

    Into DIR: SLUG.beancount (the project's own transactions as books that load
    on their own), donors.csv (as far as each donor allowed; no contact
    details), recurring.csv, invoices.csv and summary.pdf. Each file appears
    whole or not at all.
    """
    from sqlalchemy import select

    from conservancy.cli.reports import letterhead_of, out_folder, parse_day
    from conservancy.ledger.books import covering
    from conservancy.projects.models import Project
    from conservancy.reports.project_export import first_day_of, project_export, write_export

    first_day = parse_day("--from", first) if first is not None else None
    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("projects") or not rt.ledger.exists():
            raise click.ClickException("no sponsor or books yet: run 'conservancy init' first")
        with rt.sessions() as session:
            found = session.scalar(select(Project).where(Project.slug == slug))
            if found is None:
                raise click.ClickException(f"there is no project {slug!r}")
            letterhead = letterhead_of(session)
            first_day = first_day or first_day_of(session, found)
            if first_day is None:
                raise click.ClickException(
                    "the books open no accounts yet: run 'conservancy init' first"
                )
            folder = out_folder(out)
            books = covering(rt.books, first_day)  # the full history, from a closed year
            books.ready()  # builds the snapshot and index when absent or stale
            tz = rt.settings.timezone
            today = clock.today(tz)
            result = project_export(
                session,
                books.index,
                found,
                letterhead.legal_name,
                first_day=first_day,
                today=today,
                tz=tz,
                form_990=books.current().form_990,
            )
    try:
        write_export(result, letterhead, folder, prepared_on=today)
    except OSError as exc:
        raise click.ClickException(f"cannot write in {folder}: {exc.strerror or exc}") from None
    s = result.statement
    click.echo(
        f"wrote {result.books_file}, donors.csv, recurring.csv, invoices.csv and summary.pdf "
        f"to {folder}: {s.project_name}, {s.first_day} to {s.last_day}, "
        f"{_count(result.transactions, 'transaction')}, "
        f"{_count(result.named_donors, 'donor')} named, "
        f"{_count(len(result.recurring), 'recurring gift')}, closing balance {s.closing.format()}"
    )


def _count(n: int, thing: str) -> str:
    return f"{n:,} {thing}{'' if n == 1 else 's'}"
