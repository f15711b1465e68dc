"""Issue 18, items 1 and 2: the year-end package's Form 990 Part VIII and Schedule B.

One year of books, built through the app's own services as staff and donors build them,
plus the bookkeeper's own entries in a file of theirs:

======================================  ========== =============================
what                                    amount     Part VIII
======================================  ========== =============================
Ada's card gift to Twisted                6,000.00 1f
Bob's card gift                           3,000.00 1f
Cy's card gift, a conference pass back    5,300.00 1f 4,900.00; 11a 400.00
  worth 400.00 (more than a token)
Dee's card gift, a sticker back worth       100.00 1f (a token item: all a gift)
  5.00 (2026 token limits: 68.00, 13.60)
Eve's 100 shares of ACME Corp, sold       8,000.00 1f, and 1g (noncash)
  for 8,000.00 (entered as stock)
the Big Foundation's cheque             400,000.00 1f
Acme's Gold sponsorship invoice, a       10,000.00 1f 9,500.00; 11a 500.00
  conference pass worth 500.00 back
bank interest (staff entry, General;         12.34 3 (by the account's name)
  no metadata on its open)
a training course sold (staff entry,        750.00 2a (form-990-line on its open)
  form-990-line "2a")
10% sponsorship fees on Twisted's gifts  43,240.00 between the sponsor's funds
  and on the invoice
======================================  ========== =============================

So line 1f (and 1h) is 6,000 + 3,000 + 4,900 + 100 + 8,000 + 400,000 + 9,500 =
431,500.00; 1g 8,000.00; 2a 750.00; 3 12.34; 11a 400 + 500 = 900.00; line 12
431,500 + 750 + 12.34 + 900 = 433,162.34. The books' income accounts hold that plus the
sponsorship fees: 10% of 6,000 + 3,000 + 5,300 + 100 + 8,000 + 400,000 + 10,000 =
43,240.00 (the invoice pays its fee when issued, as its income is booked).

Schedule B, general rule (5,000.00 or more): the Big Foundation 400,000.00, Acme
9,500.00 (its pass taken off), Eve 8,000.00, Ada 6,000.00; Cy gave 5,300.00 but only
4,900.00 of it was a gift. Special rule: the greater of 5,000.00 and 2% of 431,500.00,
that is 8,630.00: the Big Foundation and Acme only. Part II lists Eve's shares under
the general rule, and nothing under the special one.
"""

from __future__ import annotations

import csv
import io
import re
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import select

from conservancy.donations.models import OfflineMethod
from conservancy.donations.offline import OfflineGiftRequest, record_offline_gift
from conservancy.infra.config import ScheduleBRule, Settings
from conservancy.kernel.submissions import new_key
from conservancy.ledger.snapshot import load_saved
from conservancy.projects.models import Project
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import CorporateSponsor, SponsorshipLevel
from conservancy.sponsorships.service import issue_invoice
from conservancy.staff import audit
from tests import factories
from tests.admin.pages import signed_in
from tests.environment import settings_env
from tests.ledger.processes import CONSERVANCY, REPO
from tests.ledger.test_check import add_staff_file, line_of, run_check
from tests.receipts.pdfs import pdf_text, requires_weasyprint
from tests.saved_books import saved_books
from tests.sponsorships.sponsors import gold_level

STAFF_ENTRIES = (
    "; The bookkeeper's own entries.\n\n"
    "2026-01-01 open Income:General:Interest\n\n"
    "2026-01-01 open Income:Twisted:Training\n"
    '  form-990-line: "2a"\n\n'
    '2026-06-30 * "First Bank" "Interest on the checking account"\n'
    "  Assets:Bank:Checking           12.34 USD\n"
    "  Income:General:Interest       -12.34 USD\n\n"
    '2026-08-15 * "Example University" "Twisted training course, two days"\n'
    "  Assets:Bank:Checking          750.00 USD\n"
    "  Income:Twisted:Training      -750.00 USD\n\n"
)


def at(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 15, 0, tzinfo=UTC)


def card_gift(rt: Runtime, who: str, amount: str, on: datetime, **kw: object) -> int:
    return factories.settled_gift(
        rt,
        email=f"{who.split()[0].lower()}@example.org",
        name=who,
        amount=amount,
        fee="0.00",
        address=f"{who}'s house\nSpringfield",
        at=on,
        **kw,  # type: ignore[arg-type]
    )


def offline(
    rt: Runtime,
    method: OfflineMethod,
    who: str,
    amount: str,
    reference: str,
    on: date = date(2026, 5, 4),
) -> None:
    """A cheque or a gift of stock as staff enter it at /admin/gifts/offline."""
    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        record_offline_gift(
            session,
            audit.COMMAND_LINE,
            twisted,
            OfflineGiftRequest(
                amount=factories.usd(amount),
                received_on=on,
                method=method,
                reference=reference,
                name=who,
                email=f"{who.split()[-1].lower()}@example.org",
                address=f"{who}'s office\nSpringfield",
            ),
            key=new_key(),
            tz=rt.settings.timezone,
        )
        session.commit()
    rt.post_ledger()


def sponsorship(rt: Runtime) -> None:
    """Acme signs up for Twisted's Gold level (10,000.00, a pass worth 500.00) in April."""
    level_id = gold_level(rt)
    with rt.sessions() as session:
        level = session.get(SponsorshipLevel, level_id)
        assert level is not None
        acme = CorporateSponsor(
            ref="corporate-acme",
            company_name="Acme Widgets, Inc.",
            contact_name="Wile E. Coyote",
            email="wile@acme.example",
            address="1 Desert Road\nPhoenix, AZ 85001",
        )
        session.add(acme)
        issue_invoice(
            session,
            acme,
            level,
            tz=rt.settings.timezone,
            base_url=rt.settings.base_url,
            by="tests",
            at=at(4, 1),
        )
        session.commit()
    rt.post_ledger()


@saved_books
def year(rt: Runtime) -> None:
    factories.with_project(rt)
    card_gift(rt, "Ada Lovelace", "6000.00", at(2, 1))
    card_gift(rt, "Bob Babbage", "3000.00", at(2, 2))
    card_gift(rt, "Cy Pass", "5300.00", at(3, 1), benefit=("Conference pass", "400.00"))
    card_gift(rt, "Dee Sticker", "100.00", at(3, 2), benefit=("Project sticker", "5.00"))
    offline(rt, OfflineMethod.STOCK, "Eve Shares", "8000.00", "100 shares of ACME Corp")
    offline(rt, OfflineMethod.CHEQUE, "The Big Foundation", "400000.00", "1001")
    sponsorship(rt)
    add_staff_file(rt, STAFF_ENTRIES)


def package(rt: Runtime, rule: ScheduleBRule = ScheduleBRule.GENERAL) -> ye.YearEnd:
    with rt.sessions() as session:
        return ye.year_end(session, rt.books.index, rt.books.current(), 2026, rule=rule)


def read_csv(path: Path) -> list[dict[str, str]]:
    text = path.read_text("utf-8")
    if text.startswith("# DRAFT"):  # 2026 is a draft until the clock passes it
        text = text.split("\n", 1)[1]
    return list(csv.DictReader(io.StringIO(text)))


def test_part_viii_puts_each_kind_of_revenue_on_its_line(year: Runtime) -> None:
    part = package(year).part_viii

    assert {v.line: str(v.amount.amount) for v in part.lines} == {
        "1f": "431500.00",
        "1g": "8000.00",  # Eve's shares: a memo, already in 1f
        "1h": "431500.00",
        "2a": "750.00",
        "3": "12.34",
        "11a": "900.00",  # Cy's pass and Acme's pass
        "12": "433162.34",
    }
    assert str(part.between_funds.amount) == "43240.00"
    assert part.unclassed == ()


def test_part_viii_ties_to_every_income_account_of_the_books(year: Runtime) -> None:
    found = package(year)

    assert found.differences == []
    line = found.revenue_tie
    assert (line.package, line.books, line.difference) == ("$476,402.34", "$476,402.34", "$0.00")
    # The contributions by project keep what donors and sponsors got back beside them.
    by_type = {(c.fund, c.income_type): c for c in found.contributions}
    assert str(by_type[("Twisted", "Donations")].amount.amount) == "422400.00"
    assert str(by_type[("Twisted", "Donations")].benefits.amount) == "400.00"
    assert str(by_type[("Twisted", "Sponsorships")].benefits.amount) == "500.00"
    assert ("General", "Interest") not in by_type  # interest is no contribution
    assert ("Twisted", "Training") not in by_type


def test_schedule_b_general_rule_counts_only_the_contribution_part(year: Runtime) -> None:
    found = package(year, ScheduleBRule.GENERAL)

    assert str(found.schedule_b_threshold.amount) == "5000.00"
    assert [(c.name, str(c.total.amount)) for c in found.schedule_b] == [
        ("The Big Foundation", "400000.00"),
        ("Acme Widgets, Inc.", "9500.00"),
        ("Eve Shares", "8000.00"),
        ("Ada Lovelace", "6000.00"),
    ]  # Cy's 5,300.00 bought a 400.00 pass: 4,900.00 was a gift
    assert [
        (g.name, g.description, g.day, str(g.value.amount)) for g in found.schedule_b_noncash
    ] == [("Eve Shares", "100 shares of ACME Corp", date(2026, 5, 4), "8000.00")]


def test_schedule_b_special_rule_takes_two_percent_of_line_1h(year: Runtime) -> None:
    found = package(year, ScheduleBRule.SPECIAL)

    assert str(found.schedule_b_threshold.amount) == "8630.00"  # 2% of 431,500.00
    assert [(c.name, str(c.total.amount)) for c in found.schedule_b] == [
        ("The Big Foundation", "400000.00"),
        ("Acme Widgets, Inc.", "9500.00"),
    ]
    assert found.schedule_b_noncash == ()  # Eve is not listed, so neither are her shares


def test_the_staff_page_shows_part_viii_and_the_rule(year: Runtime, app: Flask) -> None:
    page = signed_in(app, year, "auditor").get("/admin/reports/year-end?year=2026")

    assert page.status_code == 200
    assert "Form 990, Part VIII: revenue by line" in page.text
    rows = re.findall(
        r"<tr><td>(?:<strong>)?([0-9a-z]+)(?:</strong>)?</td><td>[^<]*</td>"
        r"<td class=\"num\">(?:<strong>)?([^<]+)",
        page.text,
    )
    assert rows == [
        ("1f", "$431,500.00"),
        ("1g", "$8,000.00"),
        ("1h", "$431,500.00"),
        ("2a", "$750.00"),
        ("3", "$12.34"),
        ("11a", "$900.00"),
        ("12", "$433,162.34"),
    ]
    assert "Not revenue: $43,240.00 of sponsorship fees" in page.text
    assert (
        "4 contributors, $423,500.00 (general rule: contributors of $5,000.00 or more)" in page.text
    )


@requires_weasyprint
def test_the_staff_pages_zip_follows_the_configured_rule(
    year: Runtime, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        year, "settings", replace(year.settings, schedule_b_rule=ScheduleBRule.SPECIAL)
    )
    answer = signed_in(app, year, "auditor").get("/admin/reports/year-end/2026.zip")

    assert answer.status_code == 200
    archive = zipfile.ZipFile(io.BytesIO(answer.data))
    (name,) = [n for n in archive.namelist() if n.endswith("/schedule-b.csv")]
    text = archive.read(name).decode()
    rows = list(
        csv.DictReader(io.StringIO(text.split("\n", 1)[1] if text.startswith("# DRAFT") else text))
    )
    assert [(r["name"], r["rule"], r["threshold"]) for r in rows] == [
        ("The Big Foundation", "special", "8630.00"),
        ("Acme Widgets, Inc.", "special", "8630.00"),
    ]


def test_special_rule_is_never_below_five_thousand(runtime: Runtime) -> None:
    rt = factories.with_project(runtime)
    card_gift(rt, "Ada Lovelace", "5000.00", at(2, 1))  # 2% of 1h is 100.00

    found = package(rt, ScheduleBRule.SPECIAL)

    assert str(found.schedule_b_threshold.amount) == "5000.00"
    assert [c.name for c in found.schedule_b] == ["Ada Lovelace"]


def year_end_command(settings: Settings, out: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(CONSERVANCY), "report", "year-end", "--year", "2026", "--out", str(out)],
        env={**settings_env(settings), **env},
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@requires_weasyprint
def test_the_command_writes_part_viii_and_schedule_b_under_the_configured_rule(
    year: Runtime, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "pkg"

    done = year_end_command(settings, out, CONSERVANCY_SCHEDULE_B_RULE="special")

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "every total ties to the books to the cent"
    lines = {r["line"]: r for r in read_csv(out / "part-viii.csv")}
    assert lines["12"]["amount"] == "433162.34"
    assert lines["11a"]["accounts"] == (
        "Income:Twisted:Donations (benefits given back); "
        "Income:Twisted:Sponsorships (benefits given back)"
    )
    assert lines["2a"]["accounts"] == "Income:Twisted:Training"
    assert lines[""]["amount"] == "43240.00"  # the sponsorship fees: not revenue
    listed = read_csv(out / "schedule-b.csv")
    assert [(r["name"], r["total"], r["rule"], r["threshold"]) for r in listed] == [
        ("The Big Foundation", "400000.00", "special", "8630.00"),
        ("Acme Widgets, Inc.", "9500.00", "special", "8630.00"),
    ]
    ties = read_csv(out / "tie-out.csv")
    assert [t["check"] for t in ties if t["ties"] != "yes"] == []
    text = " ".join(pdf_text((out / "year-end-2026.pdf").read_bytes()).split())
    assert "Form 990, Part VIII: statement of revenue, 2026" in text
    assert "$433,162.34" in text
    assert "special rule" in text
    assert "Schedule B: contributors of $8,630.00 or more in 2026" in text


def test_the_command_refuses_an_unknown_schedule_b_rule_in_one_line(
    runtime: Runtime, settings: Settings, tmp_path: Path
) -> None:
    done = year_end_command(settings, tmp_path / "pkg", CONSERVANCY_SCHEDULE_B_RULE="generous")

    assert done.returncode != 0
    assert "Traceback" not in done.stdout + done.stderr
    (line,) = (done.stdout + done.stderr).splitlines()
    assert "CONSERVANCY_SCHEDULE_B_RULE must be one of general, special, not 'generous'" in line
    assert not (tmp_path / "pkg").exists()


def test_an_income_account_with_no_line_is_named_by_the_check_and_the_package(
    year: Runtime, settings: Settings
) -> None:
    staff = add_staff_file(
        year,
        "; Staff, later.\n\n"
        "2026-01-01 open Income:Twisted:Merchandise\n\n"
        '2026-09-09 * "T-shirts sold at a meetup"\n'
        "  Assets:Bank:Checking           80.00 USD\n"
        "  Income:Twisted:Merchandise    -80.00 USD\n\n",
        name="merch.beancount",
    )
    year.books.load()

    checked = run_check(settings)
    found = package(year)

    assert checked.returncode == 1
    assert checked.lines == [
        f"merch.beancount:{line_of(staff, 'open Income:Twisted:Merchandise')}: "
        "Income:Twisted:Merchandise has no form-990-line on its open and no default applies: "
        'add the Form 990 Part VIII line of its revenue (such as "2a")'
    ]
    assert found.part_viii.unclassed == ("Income:Twisted:Merchandise",)
    assert {line.what for line in found.differences} == {
        "Income accounts with no Form 990 line (form-990-line on their open)",
        ye.REVENUE_TIE,
    }
    assert found.revenue_tie.difference == "-$80.00"


def test_the_apps_own_books_pass_the_check_and_name_their_lines(
    year: Runtime, settings: Settings
) -> None:
    checked = run_check(settings)

    assert checked.returncode == 0, checked
    opened = year.ledger.accounts.read_text("utf-8")
    for account, line in [
        ("Income:General:Donations", "1f"),
        ("Income:General:Sponsorship-Fees", "between-funds"),
        ("Income:Twisted:Donations", "1f"),
        ("Income:Twisted:Sponsorships", "1f"),
    ]:
        assert f'open {account}\n  ref: "open:{account}"\n  form-990-line: "{line}"\n' in opened


def test_a_line_that_is_no_part_viii_line_is_named(year: Runtime, settings: Settings) -> None:
    add_staff_file(
        year,
        '2026-01-01 open Income:Twisted:Royalties\n  form-990-line: "5b"\n\n',
        name="royalties.beancount",
    )

    checked = run_check(settings)

    assert checked.returncode == 1
    (problem,) = checked.lines
    assert 'Income:Twisted:Royalties: form-990-line "5b" is not a Part VIII line (1a, 1b,' in (
        problem
    )


def test_a_refund_of_a_gift_with_a_benefit_takes_the_contribution_part_first(
    runtime: Runtime,
) -> None:
    rt = factories.with_project(runtime)
    cy = card_gift(rt, "Cy Pass", "1000.00", at(3, 1), benefit=("Conference pass", "400.00"))
    factories.refund(rt, cy, "700.00", "re_cy")  # 300.00 stands: less than the pass

    found = package(rt)

    lines = {v.line: str(v.amount.amount) for v in found.part_viii.lines}
    assert (lines["1f"], lines["11a"], lines["12"]) == ("0.00", "300.00", "300.00")
    assert str(found.part_viii.between_funds.amount) == "30.00"  # 10% of what stands
    assert found.differences == []


def test_the_saved_snapshot_keeps_each_accounts_line(year: Runtime) -> None:
    """A new worker or command starts from the saved snapshot: the lines come with it."""
    year.books.wait()
    saved = load_saved(year.ledger)

    assert saved is not None
    assert saved.form_990["Income:Twisted:Training"] == {"form-990-line": "2a"}
    assert saved.form_990["Income:Twisted:Donations"] == {"form-990-line": "1f"}
    assert "Income:General:Interest" not in saved.form_990  # its default applies
