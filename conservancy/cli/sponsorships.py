"""``conservancy sponsorships …``: the aging report of open invoices, their reminders, and
the next year's invoices of sponsorships that go on."""

from __future__ import annotations

from datetime import date

import click
from sqlalchemy.exc import IntegrityError

from conservancy.cli.common import open_runtime
from conservancy.kernel import clock
from conservancy.money import Money
from conservancy.sponsorships.aging import BUCKETS, aging, remind
from conservancy.sponsorships.renewals import Renewal, due_for_renewal, renew_invoice


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
            reminded = remind(session, on, rt.settings.base_url)
            session.commit()
        rt.deliver()
    for number in reminded:
        click.echo(f"reminded: {number}")
    click.echo(f"{len(reminded)} reminders queued")


@sponsorships.command("renew")
@click.option("--on", "on_text", help="The day to renew on (default: today).")
@click.option(
    "--days-ahead",
    type=click.IntRange(0, 366),
    default=30,
    show_default=True,
    help="Renew invoices whose period ends within this many days of --on.",
)
def renew_command(on_text: str | None, days_ahead: int) -> None:
    """Issue next year's invoice of each paid sponsorship whose period ends within the
    window, at the level's current amount; booked and mailed. Safe to run any time."""
    renewed: list[Renewal] = []
    with open_runtime() as rt:
        tz = rt.settings.timezone
        on = _on(on_text, clock.today(tz))
        with rt.sessions() as session:
            due = due_for_renewal(session, on, days_ahead)
        for invoice_id in due:
            # One transaction each: one renewal that fails leaves the others issued.
            with rt.sessions() as session:
                try:
                    renewal = renew_invoice(
                        session, invoice_id, tz=tz, base_url=rt.settings.base_url
                    )
                    session.commit()
                except IntegrityError:
                    session.rollback()  # another run renewed it at the same moment
                    continue
            if renewal is not None:
                renewed.append(renewal)
        if renewed:
            rt.post_ledger()
            rt.deliver()
    for r in renewed:
        click.echo(
            f"renewed: {r.renews} -> {r.number}  {r.amount.format():>14}  "
            f"{r.period_start.isoformat()} to {r.period_end.isoformat()}  "
            f"{r.company_name} ({r.project_name})"
        )
    totals: dict[str, Money] = {}
    for r in renewed:
        key = r.amount.currency.value
        totals[key] = totals[key] + r.amount if key in totals else r.amount
    amounts = ", ".join(total.format() for total in totals.values())
    click.echo(f"{len(renewed)} renewal invoices issued" + (f": {amounts}" if amounts else ""))
