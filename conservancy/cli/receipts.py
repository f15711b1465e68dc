"""``conservancy receipts …``: annual giving statements, and drawing and mailing what is due."""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click

from conservancy.background.host import Delivery
from conservancy.infra.config import Settings
from conservancy.runtime import Runtime


@click.group()
def receipts() -> None:
    """Receipts and annual giving statements."""


class ProgressBar:
    """``  812/2000 statements  41%  23.5/s  0:50 left`` on stderr.

    Redrawn in place on a terminal (at most ten times a second); otherwise a
    plain line every tenth of the way, for logs.
    """

    def __init__(self, out: TextIO, what: str) -> None:
        self.out = out
        self.what = what
        self.tty = out.isatty()
        self.started = time.monotonic()
        self.shown = 0.0
        self.tenth = -1
        self.drawn = False

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        tenth = done * 10 // max(total, 1)
        if self.tty:
            if now - self.shown < 0.1 and done < total:
                return
        elif tenth == self.tenth and done < total:
            return
        self.shown, self.tenth = now, tenth
        elapsed = now - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        left = f"  {_clock((total - done) / rate)} left" if rate and done < total else ""
        line = f"  {done}/{total} {self.what}  {done * 100 // max(total, 1)}%  {rate:.1f}/s{left}"
        if self.tty:
            self.out.write(f"\r{line:<60}")
            self.drawn = True
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.drawn:
            self.out.write("\n")
            self.out.flush()
            self.drawn = False


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return (
        f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"
        if minutes >= 60
        else f"{minutes}:{secs:02d}"
    )


@receipts.command()
@click.option("--year", required=True, type=int, help="The calendar year, once it has ended.")
@click.option(
    "--jobs",
    type=click.IntRange(1, 512),
    default=None,
    help="Processes drawing statements (default: one per core).",
)
@click.option(
    "--background",
    is_flag=True,
    help="Queue the year's statements for 'conservancy worker' (needs CONSERVANCY_REDIS_URL) "
    "and return at once.",
)
def annual(year: int, jobs: int | None, background: bool) -> None:
    """Issue each donor's giving statement for YEAR: every gift and the deductible total.

    Donors who already have theirs are skipped, so an interrupted run is finished
    by running it again. The statements are mailed once they are all recorded.
    """
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.receipts.annual import check_year, issue_statements

    settings = Settings.from_env()
    today = clock.today(settings.timezone)
    check_year(year, today)  # before touching the database
    if background:
        _queue_annual(settings, year)
        return
    bar = ProgressBar(sys.stderr, "statements")
    with open_runtime(settings) as rt:
        try:
            result = issue_statements(
                rt.sessions, settings.receipts_dir, year, today=today, jobs=jobs, progress=bar
            )
        except KeyboardInterrupt:
            bar.close()
            click.echo(
                f"interrupted: the statements drawn so far are recorded; run "
                f"'conservancy receipts annual --year {year}' again to finish",
                err=True,
            )
            raise SystemExit(130) from None
        bar.close()
        delivery = _deliver_all(rt)
    for problem in result.problems:
        click.echo(f"not issued: {problem}", err=True)
    if not result.due:
        click.echo(f"nothing to do: every donor who gave in {year} has a statement")
    else:
        extra = ""
        if result.nothing_stands:
            extra += (
                f"; none for {_count(result.nothing_stands, 'donor')} whose every gift "
                "was returned in full"
            )
        if result.already:
            extra += f"; {result.already} issued meanwhile by another run"
        click.echo(f"issued {_count(result.issued, 'statement')} for {year}{extra}")
    click.echo(_delivered(delivery))
    if result.problems:
        raise SystemExit(1)


def _queue_annual(settings: Settings, year: int) -> None:
    """One job for the whole year, not one per donor: the job draws the statements in
    batches over a process pool on the worker's host (all its cores), and like this
    command it skips donors who have theirs, so a job retried or queued twice finishes
    what is left and issues nothing twice."""
    from conservancy.background.jobs import Job
    from conservancy.cli.common import open_runtime
    from conservancy.infra.config import SettingsError

    if not settings.redis_url:
        raise SettingsError("CONSERVANCY_REDIS_URL is required for --background")
    with open_runtime(settings) as rt:
        queued = rt.jobs.enqueue(Job.ANNUAL_STATEMENTS, year=year)
    if not queued:
        click.echo("error: Redis could not be reached; nothing was queued", err=True)
        raise SystemExit(1)
    click.echo(f"queued the {year} statements for 'conservancy worker'")


@receipts.command()
def deliver() -> None:
    """Draw the receipts that have no PDF yet and send the mail that is due. Safe to repeat."""
    from conservancy.cli.common import open_runtime
    from conservancy.mail.outbox import stuck

    with open_runtime() as rt:
        delivery = _deliver_all(rt)
        with rt.sessions() as session:
            stuck_keys = [row.key for row in stuck(session)]
    click.echo(_delivered(delivery))
    if stuck_keys:
        shown = ", ".join(stuck_keys[:5]) + (", …" if len(stuck_keys) > 5 else "")
        click.echo(
            f"warning: {_count(len(stuck_keys), 'message')} stuck in 'sending' (the sender "
            f"stopped mid-send; they may or may not have gone out; check before resending): "
            f"{shown}",
            err=True,
        )
    if delivery.render_failed or delivery.send_failed:
        raise SystemExit(1)


def _deliver_all(rt: Runtime) -> Delivery:
    """Passes of ``Runtime.deliver`` until one does nothing (each pass takes a few hundred)."""
    rendered = sent = send_failed = 0
    while True:
        done = rt.deliver()
        rendered += done.rendered
        sent += done.sent
        send_failed += done.send_failed
        if not (done.rendered or done.sent):
            # What is left to retry, or cannot be drawn, is as the last pass found it.
            return Delivery(rendered, done.render_failed, sent, done.retry_later, send_failed)


def _count(n: int, thing: str) -> str:
    return f"{n} {thing}" if n == 1 else f"{n} {thing}s"


def _delivered(d: Delivery) -> str:
    line = f"{_count(d.rendered, 'receipt')} drawn, {_count(d.sent, 'message')} sent"
    if d.retry_later:
        line += f", {d.retry_later} to retry later"
    if d.render_failed:
        line += f", {_count(d.render_failed, 'receipt')} cannot be drawn (see the log)"
    if d.send_failed:
        line += f", {_count(d.send_failed, 'message')} refused for good"
    return line
