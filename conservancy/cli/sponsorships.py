"""``conservancy sponsorships …``: the aging report of open invoices, and their reminders."""

from __future__ import annotations

from datetime import date

import click

from conservancy import clock
from conservancy.cli.common import open_runtime
from conservancy.sponsorships.aging import BUCKETS, aging, remind


@click.group()
def sponsorships() -> None:
    """Corporate sponsorship invoices."""


def _on(text: str | None, today: date) -> date:
    if text is None:
        return today
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date (YYYY-MM-DD)", param_hint="--on"
        ) from None


@sponsorships.command("aging")
@click.option("--on", "on_text", help="The day to age invoices on (default: today).")
def aging_command(on_text: str | None) -> None:
    """Open invoices by days past due: current, 1-30, 31-60, 61-90, over 90."""
    with open_runtime() as rt:
        on = _on(on_text, clock.today(rt.settings.timezone))
        with rt.sessions() as session:
            report = aging(session, on)
    for line in report.lines:
        click.echo(
            f"{line.number}  {line.bucket:>8}  {line.amount.format():>14}  "
            f"due {line.due_on.isoformat()}  {line.company_name} ({line.project_name})"
        )
    totals = report.totals()
    click.echo("  ".join(f"{bucket}: {totals[bucket].format()}" for bucket in BUCKETS))
    click.echo(f"total open: {report.total.format()}")


@sponsorships.command("remind")
@click.option("--on", "on_text", help="The day to age invoices on (default: today).")
def remind_command(on_text: str | None) -> None:
    """Queue one reminder per overdue invoice and step, then send. Safe to run any time."""
    with open_runtime() as rt:
        on = _on(on_text, clock.today(rt.settings.timezone))
        with rt.sessions() as session:
            reminded = remind(session, on)
            session.commit()
        rt.deliver()
    for number in reminded:
        click.echo(f"reminded: {number}")
    click.echo(f"{len(reminded)} reminders queued")
