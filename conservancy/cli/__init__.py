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


def commands() -> click.Group:
    """The ``conservancy`` group with every command added (each module imported here, on
    first use, rather than when the package is)."""
    from conservancy.cli import (
        bank,
        ledger,
        projects,
        receipts,
        setup,
        sponsorships,
        sweep,
        users,
        worker,
    )
    from conservancy.cli import stripe as stripe_commands
    from conservancy.cli.reports import report, statement

    for command in (
        setup.init,
        setup.serve,
        setup.demo,
        projects.project,
        ledger.ledger,
        stripe_commands.stripe,
        bank.bank,
        receipts.receipts,
        statement,
        report,
        users.user,
        sponsorships.sponsorships,
        worker.worker,
        sweep.sweep,
    ):
        cli.add_command(command)
    return cli


def main() -> None:
    sys.exit(commands().main(prog_name="conservancy", standalone_mode=True))
