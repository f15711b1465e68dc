"""``conservancy statement`` (a project's statement for a period, as PDF or CSV) and
``conservancy report year-end`` (the sponsor's year-end package)."""

from __future__ import annotations

import io
import os
import re
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from conservancy.receipts.document import Sponsor
    from conservancy.reports.statement import Statement

FORMATS = ("pdf", "csv")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_day(option: str, text: str) -> date:
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

    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.ledger.books import covering
    from conservancy.projects.models import Project
    from conservancy.reports.statement import check_period, project_statement

    first_day, last_day = parse_day("--from", first), parse_day("--to", last)
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
            letterhead = letterhead_of(session)
            books = covering(rt.books, first_day)  # the full history, for a closed year
            books.ready()  # builds the snapshot and index when absent or stale
            result = project_statement(books.index, project, first_day, last_day)
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


@click.group()
def report() -> None:
    """The sponsor's reports."""


@report.command("year-end")
@click.option("--year", required=True, type=int, metavar="YYYY", help="The calendar year.")
@click.option("--out", required=True, metavar="DIR", help="The folder to write (made if absent).")
@click.option(
    "--with-tins",
    is_flag=True,
    help="Payees' taxpayer identification numbers in full in 1099-nec.csv (opened with "
    "CONSERVANCY_PAYEE_KEYS); without it, masked to their last four digits.",
)
def year_end(year: int, out: str, with_tins: bool) -> None:
    """The year-end package: contributions, Form 990 Part VIII, Schedule B (under
    CONSERVANCY_SCHEDULE_B_RULE), roll-forwards, acknowledgements, refunds and disputes,
    Form 1099-NEC's payees, and their tie-out to the books, as CSVs and one PDF, with a
    README.txt naming the sponsor, the year, the basis (accrual) and each file.

    Exits 1 when a total does not tie to the books (the files are written all the same,
    with the differences in tie-out.csv and the PDF). A year that has not ended yet gives
    a draft, marked DRAFT on every page and file, with a warning.
    """
    from sqlalchemy import inspect

    from conservancy.cli.common import open_runtime
    from conservancy.expenses.payees import PayeeKeys
    from conservancy.kernel import clock
    from conservancy.ledger.books import covering
    from conservancy.reports.year_end import (
        SUPPORT_YEARS,
        check_year,
        unfinished,
        write_package,
    )
    from conservancy.reports.year_end import year_end as build

    check_year(year)
    with open_runtime() as rt:  # a bad setting stops here, before --out is made
        folder = out_folder(out)
        if not inspect(rt.engine).has_table("projects") or not rt.ledger.exists():
            raise click.ClickException("no sponsor or books yet: run 'conservancy init' first")
        with rt.sessions() as session:
            letterhead = letterhead_of(session)
            # The full history when a closed year is among the five Schedule A reads.
            books = covering(rt.books, date(year - SUPPORT_YEARS + 1, 1, 1))
            books.ready()  # builds the snapshot and index when absent or stale
            package = build(
                session,
                books.index,
                books.current(),
                year,
                rule=rt.settings.schedule_b_rule,
                payee_keys=PayeeKeys.of(rt.settings) if with_tins else None,
            )
        prepared_on = clock.today(rt.settings.timezone)
    try:
        write_package(package, letterhead, folder, prepared_on=prepared_on)
    except OSError as exc:
        raise click.ClickException(f"cannot write in {folder}: {exc.strerror or exc}") from None
    draft = unfinished(year, prepared_on)
    if draft:
        click.echo(
            f"warning: {year} has not ended (today is {prepared_on.isoformat()} in the "
            "sponsor's time zone): this package is a DRAFT, marked so on every page and file",
            err=True,
        )
    gifts = "gift" if len(package.acknowledgements) == 1 else "gifts"
    click.echo(
        f"wrote the {'DRAFT ' if draft else ''}{year} package to {folder}: "
        f"contributions {package.contributions_total.format()}, "
        f"total revenue {package.part_viii.total_revenue.format()}, "
        f"{len(package.schedule_b)} on Schedule B, {len(package.acknowledgements)} "
        f"{gifts} of 250.00 or more, {len(package.reversals)} refunds and disputes, "
        f"{len(package.form_1099_nec.payees)} on Form 1099-NEC"
        + (" (TINs in full)" if with_tins else "")
    )
    for line in package.differences:
        click.echo(
            f"does not tie: {line.what}: package {line.package}, books {line.books}, "
            f"difference {line.difference}",
            err=True,
        )
    if package.differences:
        raise SystemExit(1)
    click.echo("every total ties to the books to the cent")


def out_folder(out: str) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise click.ClickException(f"--out: {out} is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise click.ClickException(f"--out: cannot make {out}: {exc.strerror or exc}") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise click.ClickException(f"--out: cannot write in {out}")
    return path


def letterhead_of(session: Session) -> Sponsor:
    from conservancy.projects.service import get_sponsor
    from conservancy.receipts.document import Sponsor

    sponsor = get_sponsor(session)
    if sponsor is None:
        raise click.ClickException("no sponsor yet: run 'conservancy init' first")
    return Sponsor.of(sponsor)
