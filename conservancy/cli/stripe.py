"""``conservancy stripe …``: tools for working without Stripe."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import click


@click.group()
def stripe() -> None:
    """Stripe tools: recovering missed events, and a local stand-in for Stripe's API."""


@stripe.command("stand-in")
@click.option("--port", default=12111, show_default=True, type=click.IntRange(0, 65535))
@click.option("--webhook-url", default=None, help="Where to deliver signed events.")
@click.option(
    "--webhook-secret",
    default="whsec_standin",
    show_default=True,
    help="The secret events are signed with.",
)
def stand_in(port: int, webhook_url: str | None, webhook_secret: str) -> None:
    """Run the Stripe stand-in on 127.0.0.1 in the foreground, until interrupted."""
    from conservancy.standin import StandIn

    standin = StandIn(
        port=port, webhook_url=webhook_url, webhook_secret=webhook_secret, log_requests=True
    )
    try:
        url = standin.start()
    except OSError as exc:
        raise click.ClickException(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}") from exc
    click.echo(f"Stripe stand-in listening on {url}")
    click.echo(f"  API base address: {url} (any sk_test_… key)")
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
    """Fetch events from Stripe and process any not yet processed (recovery from lost webhooks)."""
    from conservancy import clock
    from conservancy.cli.common import open_runtime
    from conservancy.payments.events import sync as sync_events

    start = since.replace(tzinfo=UTC) if since is not None else clock.now() - timedelta(days=30)
    with open_runtime() as rt:
        counts = sync_events(rt.sessions, rt.gateway, start, rt.settings.timezone)
        posted = rt.post_ledger().posted
        delivered = rt.deliver()
    click.echo(
        f"{counts['processed']} events processed, {counts['duplicate']} already done, "
        f"{counts['ignored']} ignored; {posted} ledger entries posted; "
        f"{delivered.rendered} receipts drawn, {delivered.sent} e-mails sent"
    )
