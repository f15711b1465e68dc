"""``conservancy statement``: a project's statement for a period, as PDF or CSV."""

from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from conservancy.receipts.document import Sponsor
    from conservancy.reports.statement import Statement

FORMATS = ("pdf", "csv")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _day(option: str, text: str) -> date:
    try:
        if _DATE.match(text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise click.ClickException(f"{option}: {text!r} is not a date (use YYYY-MM-DD)")


def _target(out: str) -> Path:
    """Where the statement goes, refused before any work if it cannot be written there."""
    path = Path(out)
    if path.is_dir():
        raise click.ClickException(f"--out: {out} is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise click.ClickException(f"--out: there is no directory {folder}")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(f"--out: cannot write in {folder}")
    return path


@click.command()
@click.argument("slug")
@click.option("--from", "first", required=True, metavar="YYYY-MM-DD", help="The first day.")
@click.option("--to", "last", required=True, metavar="YYYY-MM-DD", help="The last day (included).")
@click.option("--format", "fmt", required=True, metavar="pdf|csv", help="pdf or csv.")
@click.option("--out", required=True, metavar="FILE", help="The file to write (replaced whole).")
@click.option(
    "--jobs",
    type=click.IntRange(1, 512),
    default=1,
    show_default=True,
    help="Worker processes drawing a long PDF: worth it only where cores are idle.",
)
def statement(slug: str, first: str, last: str, fmt: str, out: str, jobs: int) -> None:
    """A project's statement for a period, from the books.

    The opening fund balance, income and expenses by kind, sponsorship fees,
    the closing balance, and every transaction with the balance after it. The
    file appears whole or not at all.
    """
    from sqlalchemy import inspect, select

    from conservancy import clock
    from conservancy.cli.common import open_runtime
    from conservancy.projects.models import Project
    from conservancy.projects.service import get_sponsor
    from conservancy.receipts.document import Sponsor
    from conservancy.reports.statement import check_period, project_statement

    first_day, last_day = _day("--from", first), _day("--to", last)
    if fmt not in FORMATS:
        raise click.ClickException(f"--format: {fmt!r} is not one of pdf, csv")
    check_period(first_day, last_day)
    target = _target(out)
    with open_runtime() as rt:
        if not inspect(rt.engine).has_table("projects") or not rt.ledger.exists():
            raise click.ClickException("no sponsor or books yet: run 'conservancy init' first")
        with rt.sessions() as session:
            project = session.scalar(select(Project).where(Project.slug == slug))
            if project is None:
                raise click.ClickException(f"there is no project {slug!r}")
            sponsor = get_sponsor(session)
            if sponsor is None:
                raise click.ClickException("no sponsor yet: run 'conservancy init' first")
            letterhead = Sponsor(
                legal_name=sponsor.legal_name,
                ein=sponsor.ein,
                address=sponsor.address,
                signatory_name=sponsor.signatory_name,
                signatory_title=sponsor.signatory_title,
            )
            rt.books.ready()  # builds the snapshot and index when absent or stale
            result = project_statement(rt.books.index, project, first_day, last_day)
        prepared_on = clock.today(rt.settings.timezone)
    _write(target, fmt, result, letterhead, prepared_on, jobs)
    click.echo(
        f"wrote {out}: {result.project_name}, {first_day} to {last_day}, "
        f"{len(result.rows)} transactions, closing balance {result.closing.format()}"
    )


def _write(
    target: Path, fmt: str, result: Statement, letterhead: Sponsor, prepared_on: date, jobs: int
) -> None:
    """Into a temporary file beside the target, then renamed over it: never half a file."""
    from conservancy.reports.statement import write_csv, write_pdf

    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("xb") as fh:
            if fmt == "csv":
                text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
                write_csv(result, text)
                text.flush()
                text.detach()
            else:
                write_pdf(result, letterhead, fh, prepared_on=prepared_on, jobs=jobs)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(target)
    except OSError as exc:
        raise click.ClickException(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
