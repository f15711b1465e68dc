"""``conservancy receipts annual`` and ``receipts deliver`` as an operator runs them."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.receipts.models import AnnualStatement
from conservancy.runtime import Runtime
from tests.factories import settled_gift, with_project
from tests.ledger.processes import run_cli
from tests.receipts.pdfs import requires_weasyprint

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def last_year(settings: Settings) -> int:
    return clock.today(settings.timezone).year - 1


def one_line_failure(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    lines = (done.stdout + done.stderr).splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@sqlite_only
def test_a_year_that_never_was_is_one_line(settings: Settings) -> None:
    line = one_line_failure(run_cli(settings, "receipts", "annual", "--year", "1899"))
    assert line == "error: 1899 is not a year of the books"


@sqlite_only
def test_a_year_that_has_not_ended_is_one_line(settings: Settings) -> None:
    year = last_year(settings) + 1
    line = one_line_failure(run_cli(settings, "receipts", "annual", "--year", str(year)))
    assert line.startswith(f"error: the year {year} has not ended yet")


@sqlite_only
def test_a_year_that_is_not_a_number_is_one_line(settings: Settings) -> None:
    line = one_line_failure(run_cli(settings, "receipts", "annual", "--year", "last"))
    assert line.startswith("error: ")


@sqlite_only
def test_no_sponsor_is_one_line(settings: Settings) -> None:
    from conservancy.infra.db import migrate

    migrate(settings.database_url)
    year = str(last_year(settings))
    line = one_line_failure(run_cli(settings, "receipts", "annual", "--year", year))
    assert line == "error: no sponsor is recorded yet: run 'conservancy init' first"


@requires_weasyprint
def test_annual_issues_mails_and_then_has_nothing_to_do(runtime: Runtime) -> None:
    rt = with_project(runtime)
    year = last_year(rt.settings)
    for n in range(3):
        settled_gift(
            rt,
            email=f"d{n}@example.org",
            name=f"Donor {n}",
            at=datetime(year, 5, n + 1, tzinfo=UTC),
        )

    done = run_cli(rt.settings, "receipts", "annual", "--year", str(year), "--jobs", "2")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"issued 3 statements for {year}",
        "3 receipts drawn, 6 messages sent",
    ]
    # Not a terminal: the progress is plain lines, ending at the whole.
    assert done.stderr.splitlines()[-1].startswith("  3/3 statements  100%")
    with rt.sessions() as session:
        assert len(session.scalars(select(AnnualStatement)).all()) == 3

    again = run_cli(rt.settings, "receipts", "annual", "--year", str(year))
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == [
        f"nothing to do: every donor who gave in {year} has a statement",
        "0 receipts drawn, 0 messages sent",
    ]


@requires_weasyprint
def test_deliver_draws_sends_and_warns_of_stuck_mail(runtime: Runtime) -> None:
    rt = with_project(runtime)
    settled_gift(rt)
    settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    with rt.sessions() as session:
        # A sender died after claiming this one, an hour ago.
        first = session.scalars(select(MailMessage).order_by(MailMessage.id)).first()
        assert first is not None
        session.execute(
            update(MailMessage)
            .where(MailMessage.id == first.id)
            .values(status=MailStatus.SENDING, claimed_at=clock.now() - timedelta(hours=1))
        )
        session.commit()

    done = run_cli(rt.settings, "receipts", "deliver")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["2 receipts drawn, 1 message sent"]
    [warning] = done.stderr.splitlines()
    assert warning.startswith("warning: 1 message stuck in 'sending'")
    assert first.key in warning
