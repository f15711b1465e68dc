"""``conservancy stripe …``: recovering missed events, reconciling, and a stand-in for Stripe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from conservancy.payments.reconcile import Reconciliation


@click.group()
def stripe() -> None:
    """Stripe tools: recovering missed events, reconciling with the books, a local stand-in."""


@stripe.command("stand-in")
@click.option("--port", default=12111, show_default=True, type=click.IntRange(0, 65535))
@click.option("--webhook-url", default=None, help="Where to deliver signed events.")
@click.option(
    "--webhook-secret",
    default="whsec_standin",
    show_default=True,
    help="The secret events are signed with.",
)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep everything in this file, and go on from it when started again "
    "(default: in memory only).",
)
@click.option(
    "--latency-ms",
    type=click.IntRange(0, 60_000),
    default=0,
    show_default=True,
    help="Answer each API call this many milliseconds late, as Stripe takes a few hundred "
    "(POST /_standin/latency changes it while running).",
)
def stand_in(
    port: int,
    webhook_url: str | None,
    webhook_secret: str,
    state_file: Path | None,
    latency_ms: int,
) -> None:
    """Run the Stripe stand-in on 127.0.0.1 in the foreground, until interrupted."""
    from conservancy.standin import StandIn, StateFileError

    standin = StandIn(
        port=port,
        webhook_url=webhook_url,
        webhook_secret=webhook_secret,
        log_requests=True,
        state_file=state_file.resolve() if state_file else None,
        latency_ms=latency_ms,
    )
    try:
        url = standin.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    except StateFileError as exc:
        raise click.ClickException(f"the stand-in's state: {exc}") from exc
    click.echo(f"Stripe stand-in listening on {url}")
    if state_file:
        click.echo(f"  state: {state_file} (kept after each change)")
    click.echo(f"  API base address: {url} (any sk_test_… key)")
    if latency_ms:
        click.echo(f"  latency: each API call is answered {latency_ms} ms late")
    click.echo(f"  control addresses: {url}/_standin/")
    click.echo(
        f"  webhooks: {webhook_url} (signed with {webhook_secret})"
        if webhook_url
        else "  webhooks: not delivered (no --webhook-url); events are listed at /v1/events"
    )
    try:
        standin.serve_forever()
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        standin.stop()


@stripe.command("sync")
@click.option(
    "--since",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Fetch events from this date on (default: the last 30 days, which Stripe keeps).",
)
def sync(since: datetime | None) -> None:
    """Settle the events the webhook stored, then fetch events from Stripe and process any not
    yet processed (recovery from lost webhooks and from settlers that stopped)."""
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.payments.events import sync as sync_events

    start = since.replace(tzinfo=UTC) if since is not None else clock.now() - timedelta(days=30)
    with open_runtime() as rt:
        stored = rt.settle_all()
        counts = sync_events(rt.sessions, rt.gateway, start, rt.settings.timezone)
        posted = rt.post_ledger().posted
        delivered = rt.deliver()
    # The stored events it settled were processed too (and then Stripe's list finds them done).
    waiting = f" ({stored.failed} stored events to try again)" if stored.failed else ""
    processed = counts["processed"] + stored.settled
    click.echo(
        f"{processed} events processed{waiting}, {counts['duplicate']} already done, "
        f"{counts['ignored']} ignored; {posted} ledger entries posted; "
        f"{delivered.rendered} receipts drawn, {delivered.sent} e-mails sent"
    )


@stripe.command("reconcile")
@click.option(
    "--from",
    "first",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="The first day (default: the first day of --to's month).",
)
@click.option(
    "--to",
    "last",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    metavar="YYYY-MM-DD",
    help="The last day, included (default: yesterday).",
)
@click.option(
    "--assert",
    "write",
    is_flag=True,
    help="When everything matches, write a balance assertion for Assets:Stripe into the "
    "books, dated the day after --to (once; running again writes nothing).",
)
def reconcile(first: datetime | None, last: datetime | None, write: bool) -> None:
    """Stripe's balance transactions against the books, for a period.

    Each balance transaction must be booked exactly once, for its amount; every
    entry posting to Assets:Stripe must be one of Stripe's; each payout must
    reach Assets:Bank:Checking; and the balances must agree at the end. Prints
    one line per problem and exits 1 if there is any.
    """
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.ledger.books import covering
    from conservancy.payments import reconcile as reconciling
    from conservancy.staff.audit import COMMAND_LINE

    with open_runtime() as rt:
        tz = rt.settings.timezone
        today = clock.today(tz)
        last_day = last.date() if last is not None else today - timedelta(days=1)
        first_day = first.date() if first is not None else last_day.replace(day=1)
        period = reconciling.Period(first_day, last_day)
        if write:
            reconciling.check_ended(period, today)
        if not rt.ledger.exists():
            raise click.ClickException("no books yet: run 'conservancy init'")
        rt.post_ledger()  # what the database holds for the books is in them first
        # The full history when the period (and its margin) reaches into a closed year.
        books = covering(rt.books, period.first - reconciling.MARGIN)
        books.ready()  # and the index has read every file, staff files included
        report = reconciling.reconcile(books.index, rt.gateway, period, tz)
        _print_reconciliation(report, str(tz))
        if not report.clean:
            click.echo(
                f"{len(report.problems)} problems: Stripe and the books do not match"
                + ("; nothing asserted" if write else ""),
                err=True,
            )
            raise SystemExit(1)
        if not write:
            click.echo("ok: Stripe and the books match")
            return
        with rt.sessions() as session:
            written = reconciling.assert_balance(session, COMMAND_LINE, report, today=today)
            session.commit()
        rt.post_ledger()
    if not written:
        click.echo(f"ok: the balance on {period.after} was asserted before; nothing written")
    for entry in written:
        click.echo(
            f"asserted: {entry.account} {entry.amount.format()} at the start of {entry.date} "
            f"(ref {entry.ref})"
        )


def _print_reconciliation(report: Reconciliation, zone: str) -> None:
    period = report.period
    click.echo(f"Stripe and the books, {period.first} to {period.last} ({zone}):")
    click.echo(
        f"  {report.transactions} balance transactions at Stripe, "
        f"{report.matched} booked once each for their amount"
    )
    click.echo(f"  {report.entries} entries in the books posting to Assets:Stripe")
    deposited = sum(1 for payout in report.payouts if payout.deposited)
    click.echo(f"  {len(report.payouts)} payouts, {deposited} of them deposited in the bank")
    for currency in report.currencies():
        stripe_side = report.stripe_balance.get(currency)
        books_side = report.books_balance.get(currency)
        click.echo(
            f"  Assets:Stripe at the start of {period.after}: "
            f"Stripe {stripe_side.format() if stripe_side else 'nothing'}, "
            f"the books {books_side.format() if books_side else 'nothing'}"
        )
    for problem in report.problems:
        click.echo(str(problem))
