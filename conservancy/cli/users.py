from __future__ import annotations

import click
from sqlalchemy import inspect

from conservancy.cli.common import open_runtime
from conservancy.kernel import clock
from conservancy.staff import audit
from conservancy.staff.models import Role, TokenPurpose
from conservancy.staff.service import LINK_LIFETIME, add_user, issue_link

ROLES = [r.value for r in Role]


@click.group()
def user() -> None:
    """Staff and treasurers who sign in."""


@user.command("add")
@click.argument("email")
@click.option("--role", required=True, metavar="|".join(ROLES), help="What they may do.")
@click.option("--project", default=None, help="The project's slug (treasurers and members only).")
@click.option("--name", default=None, help="Their name (default: the address before the @).")
def add(email: str, role: str, project: str | None, name: str | None) -> None:
    """Add a user, or a role to an existing user; print a one-time sign-in link.

    The link lets them choose their password; it works once, within 72 hours.
    """
    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("staff_users"):
            raise click.ClickException("the database has no tables yet: run 'conservancy init'")
        with rt.sessions() as session:
            added = add_user(
                session, audit.COMMAND_LINE, email=email, role=role, project=project, name=name
            )
            link = None
            if added.user.password_hash is None:
                link = issue_link(
                    session,
                    audit.COMMAND_LINE,
                    added.user,
                    TokenPurpose.INVITE,
                    base_url=rt.settings.base_url,
                    now=clock.now(),
                )
            session.commit()
            what = f"{role} of {project}" if project else role
            who = f"{added.user.email} ({added.user.name})"
    if added.created:
        click.echo(f"added {who} as {what}")
    elif added.role_added or added.reactivated:
        again = " and active again" if added.reactivated else ""
        click.echo(f"{who} is now also {what}{again}")
    else:
        click.echo(f"{who} is already {what}; nothing changed")
    if link is None:
        click.echo("they sign in with their password at " + rt.settings.base_url + "/sign-in")
    else:
        hours = int(LINK_LIFETIME[TokenPurpose.INVITE].total_seconds() // 3600)
        click.echo(f"sign-in link (works once, within {hours} hours): {link}")


@user.command("new-totp-key")
def new_totp_key() -> None:
    """Print a new random key for CONSERVANCY_TOTP_KEYS (it seals two-factor secrets)."""
    from conservancy.staff.totp_keys import new_key

    click.echo(new_key())


@user.command("rotate-totp-key")
def rotate_totp_key() -> None:
    """Seal every stored two-factor secret with the first key of CONSERVANCY_TOTP_KEYS.

    Run it after putting a new key first ("new,old"); then the old key may go. It also
    seals secrets stored in plain text before they were encrypted.
    """
    from conservancy.staff.totp_keys import TotpKeys, reseal_all

    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("staff_users"):
            raise click.ClickException("the database has no tables yet: run 'conservancy init'")
        keys = TotpKeys.of(rt.settings)
        with rt.sessions() as session:
            done = reseal_all(session, keys)
            session.commit()
    click.echo(
        f"sealed {done.resealed} two-factor secrets with the newest key; "
        f"{done.sealed_already} were already"
    )


@user.command("rotate-payee-key")
def rotate_payee_key() -> None:
    """Seal every payee's TIN and bank account number with the first key of
    CONSERVANCY_PAYEE_KEYS. Run it after putting a new key first ("new,old"); then the old
    key may go."""
    from conservancy.expenses.payees import PayeeKeys, reseal_all

    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("payment_details"):
            raise click.ClickException("the database has no tables yet: run 'conservancy init'")
        keys = PayeeKeys.of(rt.settings)
        with rt.sessions() as session:
            resealed, current = reseal_all(session, keys)
            session.commit()
    click.echo(f"sealed {resealed} payee numbers with the newest key; {current} were already")
