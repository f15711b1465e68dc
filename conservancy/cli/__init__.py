"""The ``conservancy`` command: thin click commands over the same services as the web.

User errors print one line and exit non-zero: 1 for a refused request, 2 for
bad settings or usage. Tracebacks are for bugs only.
"""

from __future__ import annotations

import sys
from typing import Any

import click
from sqlalchemy.exc import OperationalError

from conservancy.infra.config import SettingsError
from conservancy.kernel.errors import DomainError
from conservancy.payments.gateway import GatewayError

# A group run without a command raises this (click >= 8.2) to show its help: let it.
_SHOWS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())


class Commands(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except _SHOWS_HELP:
            raise
        except click.ClickException as exc:
            # Click's own format for usage errors is four lines (usage, hint, blank,
            # error); we promise one line per problem, in the same form as ours.
            hint = ""
            if isinstance(exc, click.UsageError):
                hint = f" (see '{exc.ctx.command_path if exc.ctx else 'conservancy'} --help')"
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            ctx.exit(exc.exit_code)
        except SettingsError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except GatewayError as exc:
            click.echo(f"error: {exc.for_staff('the command stopped there')}", err=True)
            ctx.exit(1)
        except DomainError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)
        except OperationalError as exc:
            reason = str(exc.orig).splitlines()[0] if exc.orig else "unreachable"
            click.echo(f"error: the database cannot be used: {reason}", err=True)
            ctx.exit(1)


@click.group(cls=Commands)
def cli() -> None:
    """Donations and bookkeeping for a fiscal sponsor and its member projects."""


def main() -> None:
    from conservancy.cli import ledger, projects, receipts, setup
    from conservancy.cli import stripe as stripe_commands
    from conservancy.cli.reports import report, statement

    cli.add_command(setup.init)
    cli.add_command(setup.serve)
    cli.add_command(setup.demo)
    cli.add_command(projects.project)
    cli.add_command(ledger.ledger)
    cli.add_command(stripe_commands.stripe)
    cli.add_command(receipts.receipts)
    cli.add_command(statement)
    cli.add_command(report)
    from conservancy.cli import users

    cli.add_command(users.user)
    from conservancy.cli import sponsorships

    cli.add_command(sponsorships.sponsorships)
    from conservancy.cli import worker

    cli.add_command(worker.worker)
    from conservancy.cli import sweep

    cli.add_command(sweep.sweep)
    sys.exit(cli.main(prog_name="conservancy", standalone_mode=True))
