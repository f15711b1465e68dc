"""``conservancy stripe …``: tools for working without Stripe."""

from __future__ import annotations

import click


@click.group()
def stripe() -> None:
    """Stripe tools: a local stand-in for Stripe's API."""


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
