from __future__ import annotations

import click
from sqlalchemy import inspect

from conservancy import clock
from conservancy.cli.common import open_runtime
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
