"""Annual giving statements: one per donor and year, every gift as it stands, issued once."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
from datetime import UTC, date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, select

from conservancy.donations.models import Donor
from conservancy.mail.models import MailMessage
from conservancy.receipts.annual import (
    AnnualResult,
    NoSponsor,
    StatementYearRefused,
    issue_statements,
)
from conservancy.receipts.models import AnnualStatement, Receipt
from conservancy.runtime import Runtime
from tests.factories import refund, settled_gift, with_project
from tests.receipts.pdfs import pdf_text, requires_weasyprint

pytestmark = requires_weasyprint

# Statements for 2026 are issued once it has ended.
ISSUED_ON = date(2027, 1, 15)


def at(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day, 15, 0, tzinfo=UTC)


def issue(rt: Runtime, year: int = 2026, **kw: Any) -> AnnualResult:
    kw.setdefault("jobs", 2)
    return issue_statements(rt.sessions, rt.settings.receipts_dir, year, today=ISSUED_ON, **kw)


def statements(rt: Runtime) -> dict[str, AnnualStatement]:
    """The statements issued, by donor e-mail."""
    with rt.sessions() as session:
        rows = session.execute(
            select(Donor.email, AnnualStatement).join(Donor, AnnualStatement.donor_id == Donor.id)
        ).all()
        return {str(mail): row for mail, row in rows}


def pdf_of(rt: Runtime, row: AnnualStatement) -> bytes:
    return (rt.settings.receipts_dir / row.pdf_path).read_bytes()


def number_of(rt: Runtime, gift_id: int) -> str:
    with rt.sessions() as session:
        numbers = session.scalars(
            select(Receipt.number).where(Receipt.gift_id == gift_id).order_by(Receipt.id)
        ).all()
    return numbers[-1]


def stored_files(rt: Runtime) -> dict[str, bytes]:
    folder = rt.settings.receipts_dir / "statements"
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.pdf"))}


def test_each_donor_gets_one_statement_of_every_gift_in_the_year(runtime: Runtime) -> None:
    rt = with_project(runtime)
    ada = [
        settled_gift(rt, at=at(3, 1), benefit=("Twisted t-shirt", "30.00")),
        settled_gift(rt, at=at(11, 20), amount="50.00"),
    ]
    other_year = settled_gift(rt, at=at(12, 1, year=2025), amount="77.00")
    settled_gift(rt, email="grace@example.org", name="Grace Hopper", at=at(6, 9), amount="25.00")

    result = issue(rt)

    assert (result.due, result.issued, result.problems) == (2, 2, ())
    rows = statements(rt)
    assert set(rows) == {"ada@example.org", "grace@example.org"}
    mine = rows["ada@example.org"]
    assert (mine.year, mine.gift_count) == (2026, 2)
    # The t-shirt's 30.00 is not deductible: 100.00 - 30.00 + 50.00.
    assert mine.totals == {"USD": {"amount": 15000, "deductible": 12000}}
    assert mine.pdf_path.startswith("statements/2026/donor-")
    text = pdf_text(pdf_of(rt, mine))
    for expected in (
        "Test Sponsor, Inc.",
        "EIN 12-3456789",
        "1 Main Street",
        "Ada Lovelace",
        "12 Analytical Row",
        "Annual giving statement",
        "March 1, 2026",
        "November 20, 2026",
        number_of(rt, ada[0]),
        number_of(rt, ada[1]),
        "Total for 2026, USD $150.00 $120.00",
        "full discretion and control",
        "only the amount of the gift in excess of it is deductible",
        "No goods or services were provided in exchange for your other gifts.",
        "Keep this statement for your tax records.",
    ):
        assert expected in text, expected
    assert number_of(rt, other_year) not in text
    assert "$77.00" not in text
    assert "fully deductible" not in text.lower()
    grace = pdf_text(pdf_of(rt, rows["grace@example.org"]))
    assert "No goods or services were provided in exchange for these contributions." in grace


def test_a_refunded_gift_counts_what_stands(runtime: Runtime) -> None:
    rt = with_project(runtime)
    partly = settled_gift(rt, at=at(3, 1), benefit=("Twisted t-shirt", "30.00"))
    refund(rt, partly, "40.00", "re_part")
    fully = settled_gift(rt, at=at(4, 2), amount="20.00")
    refund(rt, fully, "20.00", "re_full")

    issue(rt)

    row = statements(rt)["ada@example.org"]
    # 60.00 stands of the first gift, 30.00 of it deductible; nothing of the second.
    assert row.totals == {"USD": {"amount": 6000, "deductible": 3000}}
    assert row.gift_count == 2
    text = pdf_text(pdf_of(rt, row))
    replacement = number_of(rt, partly)
    assert f"{replacement} $60.00 $30.00" in text
    assert "$100.00 given, less $40.00 refunded" in text
    assert "$20.00 given, refunded in full" in text
    assert "Total for 2026, USD $60.00 $30.00" in text


def test_a_donor_whose_every_gift_was_refunded_gets_no_statement(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift = settled_gift(rt, at=at(3, 1))
    refund(rt, gift, "100.00", "re_full")
    settled_gift(rt, email="grace@example.org", name="Grace Hopper", at=at(6, 9))

    result = issue(rt)

    assert (result.issued, result.nothing_stands) == (1, 1)
    assert set(statements(rt)) == {"grace@example.org"}


def test_an_interrupted_run_is_finished_by_running_it_again(runtime: Runtime) -> None:
    rt = with_project(runtime)
    donors = [f"donor{n}@example.org" for n in range(6)]
    for n, address in enumerate(donors):
        settled_gift(rt, email=address, name=f"Donor {n}", at=at(5, n + 1))

    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    # One worker, so that some statements are still waiting when Ctrl-C comes.
    with pytest.raises(KeyboardInterrupt):
        issue(rt, jobs=1, batch=1, progress=interrupt)
    first = statements(rt)
    assert 1 <= len(first) < len(donors), len(first)
    files_before = stored_files(rt)

    # A batch whose commit was lost: its file is on disk, its row and mail are not.
    lost = next(iter(first.values()))
    with rt.sessions() as session:
        session.execute(delete(MailMessage).where(MailMessage.statement_id == lost.id))
        session.execute(delete(AnnualStatement).where(AnnualStatement.id == lost.id))
        session.commit()

    result = issue(rt)
    assert result.issued == len(donors) - len(first) + 1
    again = issue(rt)
    assert (again.due, again.issued) == (0, 0)

    rows = statements(rt)
    assert sorted(rows) == sorted(donors)
    files = stored_files(rt)
    assert len(files) == len(donors)
    for name, data in files_before.items():
        assert files[name] == data, f"{name} was rewritten"
    for row in rows.values():
        assert row.pdf_sha256 == hashlib.sha256(pdf_of(rt, row)).hexdigest()
    assert rows[next(iter(first))].pdf_sha256 == lost.pdf_sha256
    with rt.sessions() as session:
        keys = session.scalars(select(MailMessage.key).where(MailMessage.statement_id.is_not(None)))
        assert len(list(keys)) == len(donors)


def test_a_statement_lost_before_its_commit_is_drawn_anew_if_its_figures_changed(
    runtime: Runtime,
) -> None:
    rt = with_project(runtime)
    gift = settled_gift(rt, at=at(3, 1))
    issue(rt)
    lost = statements(rt)["ada@example.org"]
    stale = pdf_of(rt, lost)
    with rt.sessions() as session:  # as if the run was killed before this commit
        session.execute(delete(MailMessage).where(MailMessage.statement_id == lost.id))
        session.execute(delete(AnnualStatement).where(AnnualStatement.id == lost.id))
        session.commit()
    refund(rt, gift, "40.00", "re_part")

    issue(rt)

    row = statements(rt)["ada@example.org"]
    assert row.totals == {"USD": {"amount": 6000, "deductible": 6000}}
    assert row.pdf_path != lost.pdf_path
    assert "Total for 2026, USD $60.00 $60.00" in pdf_text(pdf_of(rt, row))
    assert (rt.settings.receipts_dir / lost.pdf_path).read_bytes() == stale


def test_the_statement_is_mailed_once_with_its_pdf(runtime: Runtime) -> None:
    rt = with_project(runtime)
    settled_gift(rt, at=at(3, 1))
    issue(rt)
    rt.deliver()
    issue(rt)
    rt.deliver()

    mails = [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
        for p in sorted(Path(rt.settings.outbox_dir).glob("*.eml"))
    ]
    [statement] = [m for m in mails if "giving statement" in str(m["Subject"])]
    assert str(statement["Subject"]) == "Your giving statement for 2026"
    assert statement["To"].addresses[0].addr_spec == "ada@example.org"
    assert "of which $100.00 is deductible" in statement.get_body().get_content()  # type: ignore[union-attr]
    [attachment] = list(statement.iter_attachments())
    assert attachment.get_filename() == "giving-statement-2026.pdf"
    row = statements(rt)["ada@example.org"]
    assert attachment.get_content() == pdf_of(rt, row)


def test_the_statement_embeds_its_data_as_json(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift = settled_gift(rt, at=at(3, 1), benefit=("Twisted t-shirt", "30.00"))
    issue(rt)

    reader = PdfReader(BytesIO(pdf_of(rt, statements(rt)["ada@example.org"])))
    (payload,) = reader.attachments["statement.json"]
    data = json.loads(payload)
    assert data["totals"] == {"USD": {"amount": "100.00", "deductible": "70.00"}}
    assert data["year"] == 2026
    assert data["issued_on"] == "2027-01-15"
    assert data["sponsor_ein"] == "12-3456789"
    [line] = data["gifts"]
    assert line["receipt"] == number_of(rt, gift)
    assert (line["on"], line["amount"], line["deductible"]) == ("2026-03-01", "100.00", "70.00")
    xmp = reader.xmp_metadata
    assert xmp is not None
    assert "pdfaid" in xmp.stream.get_data().decode()


@pytest.mark.parametrize("year", [1899, 2027, 2030])
def test_a_year_that_has_not_ended_or_never_was_is_refused(runtime: Runtime, year: int) -> None:
    with pytest.raises(StatementYearRefused):
        issue(runtime, year)


def test_nothing_is_issued_before_the_sponsor_is_recorded(runtime: Runtime) -> None:
    from conservancy.projects.models import Sponsor

    with runtime.sessions() as session:
        session.execute(delete(Sponsor))
        session.commit()
    with pytest.raises(NoSponsor):
        issue(runtime)


def _statement_of(count: int) -> bytes:
    from conservancy.money import Currency, Money
    from conservancy.receipts.annual import StatementDocument, StatementLine, statement_pdf
    from tests.receipts.test_render import SPONSOR

    def usd(text: str) -> Money:
        return Money.parse(text, Currency.USD)

    lines = tuple(
        StatementLine(
            gift_on=date(2026, 1 + n % 12, 1 + n // 12),
            project_name="Twisted",
            receipt_number=f"2026-{n + 1:06d}",
            given=usd("25.00"),
            amount=usd("15.00") if n % 3 == 0 else usd("25.00"),
            deductible=usd("15.00") if n % 3 == 0 else usd("25.00"),
            reason="refund" if n % 3 == 0 else None,
        )
        for n in range(count)
    )
    doc = StatementDocument(
        year=2026,
        issued_on=ISSUED_ON,
        sponsor=SPONSOR,
        donor_ref="donor-1",
        donor_name="Jane Roe",
        donor_address="1 Elm Street\nSpringfield",
        lines=lines,
    )
    return statement_pdf(doc)


def test_a_few_gifts_fit_one_page_with_the_signature() -> None:
    reader = PdfReader(BytesIO(_statement_of(4)))
    assert len(reader.pages) == 1
    assert "With gratitude," in reader.pages[0].extract_text()


def test_a_weekly_donors_statement_runs_on_with_headings_and_ends_signed() -> None:
    """52 gifts, 18 refunded in part: headings on every page; the signature never alone."""
    reader = PdfReader(BytesIO(_statement_of(52)))
    pages = [page.extract_text() for page in reader.pages]
    assert len(pages) >= 2
    for number, text in enumerate(pages, start=1):
        assert "DATE OF GIFT" in text.upper(), number
        assert f"page {number} of {len(pages)}" in text
    assert "2026-000052" in "".join(pages)
    assert "Total for 2026, USD $1,120.00 $1,120.00" in pages[-1].replace("\n", " ")
    last = pages[-1]
    assert "With gratitude," in last
    assert "No goods or services were provided" in last
