"""Issue 18, item 5: token items by the book.

Rev. Proc. 90-12 (as each year's revenue procedure adjusts its figures) makes what a donor
gets back insubstantial, and the whole payment a contribution, when it meets either of two
tests: its value is at most 2% of the payment and at most the year's dollar cap; or the
payment is at least the year's minimum and the only benefits are low-cost articles bearing
the sponsor's name or logo. 2026's figures, as the table holds them: low-cost article
14.00, minimum payment 70.00, 2% cap 140.00.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from conservancy.mail.models import MailMessage
from conservancy.projects.models import Project
from conservancy.receipts.document import (
    TOKEN_ITEM_LIMITS,
    Benefit,
    benefits_insubstantial,
    deductible_amount,
)
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import CorporateSponsor, SponsorshipInvoice
from conservancy.sponsorships.payments import adjustment_notice
from conservancy.sponsorships.service import add_level, issue_invoice
from tests import factories
from tests.reports.test_form990 import at


def thank_you(value: str, what: str = "Project mug") -> tuple[Benefit, ...]:
    return (Benefit(what, factories.usd(value)),)


def deductible(payment: str, value: str, year: int = 2026) -> str:
    return str(deductible_amount(factories.usd(payment), thank_you(value), year).amount)


def test_each_years_figures_name_the_revenue_procedure_they_come_from() -> None:
    table = {
        year: (
            str(limits.low_cost_article.amount),
            str(limits.minimum_payment.amount),
            str(limits.two_percent_cap.amount),
            limits.source.split(" (")[0],
        )
        for year, limits in TOKEN_ITEM_LIMITS.items()
    }

    assert table == {
        2024: ("13.20", "66.00", "132.00", "Rev. Proc. 2023-34"),
        2025: ("13.60", "68.00", "136.00", "Rev. Proc. 2024-40"),
        2026: ("14.00", "70.00", "140.00", "Rev. Proc. 2025-32"),
    }


def test_a_mug_above_the_low_cost_article_is_still_insubstantial_by_the_two_percent_test() -> None:
    # 15.00 costs more than a low-cost article (14.00), but is 1.5% of 1,000.00 and under
    # the 140.00 cap: the whole 1,000.00 is deductible.
    assert benefits_insubstantial(factories.usd("1000.00"), thank_you("15.00"), 2026)
    assert deductible("1000.00", "15.00") == "1000.00"


def test_a_sticker_is_a_token_by_the_low_cost_article_test_only() -> None:
    # 5.00 is 5% of 100.00 (the 2% test fails), but 100.00 is at least 70.00 and the
    # sticker is at most 14.00.
    assert deductible("100.00", "5.00") == "100.00"
    # The same sticker for 69.99 meets neither test: 69.99 - 5.00 is deductible.
    assert deductible("69.99", "5.00") == "64.99"


def test_the_two_percent_test_has_a_dollar_cap() -> None:
    # 150.00 is 1.5% of 10,000.00, but above 2026's cap of 140.00; 140.00 is not.
    assert deductible("10000.00", "150.00") == "9850.00"
    assert deductible("10000.00", "140.00") == "10000.00"


def test_the_two_percent_test_counts_to_the_cent() -> None:
    # 2% of 1,000.50 is 20.01: 20.01 meets it, 20.02 does not.
    assert deductible("1000.50", "20.01") == "1000.50"
    assert deductible("1000.50", "20.02") == "980.48"


def test_a_year_the_table_does_not_hold_gets_no_safe_harbour() -> None:
    assert deductible("1000.00", "5.00", year=2031) == "995.00"


def test_each_year_applies_its_own_figures() -> None:
    # 13.50 is within 2025's low-cost article (13.60) but not 2024's (13.20); 67.00 is
    # 2024's minimum payment (66.00) or more, but under 2025's (68.00).
    assert deductible("67.00", "13.50", year=2024) == "53.50"
    assert deductible("68.00", "13.50", year=2025) == "68.00"
    assert deductible("67.00", "13.00", year=2024) == "67.00"
    assert deductible("67.00", "13.00", year=2025) == "54.00"


@pytest.fixture
def invoice_with_a_token(runtime: Runtime) -> int:
    """Twisted's Silver level, 5,000.00 with a mug worth 60.00 (1.2%: insubstantial by
    the 2% test), issued and paid in 2026; 2,000.00 of it later refunded."""
    rt = factories.with_project(runtime)
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        level = add_level(
            session,
            "tests",
            project,
            name="Silver",
            annual=factories.usd("5000.00"),
            benefits=[("Project mug", factories.usd("60.00"))],
        )
        acme = CorporateSponsor(
            ref="corporate-acme",
            company_name="Acme Widgets, Inc.",
            contact_name="Wile E. Coyote",
            email="wile@acme.example",
            address="1 Desert Road\nPhoenix, AZ 85001",
        )
        session.add(acme)
        issued = issue_invoice(
            session,
            acme,
            level,
            tz=rt.settings.timezone,
            base_url=rt.settings.base_url,
            by="tests",
            at=at(4, 1),
        )
        issued.reversed_minor = 200_000
        session.commit()
        return issued.id


def test_the_adjustment_notice_applies_the_same_rule(
    runtime: Runtime, invoice_with_a_token: int
) -> None:
    with runtime.sessions() as session:
        invoice = session.get(SponsorshipInvoice, invoice_with_a_token)
        assert invoice is not None
        adjustment_notice(session, invoice, ref="re_1", what="refund")
        session.commit()
        body = session.scalars(
            select(MailMessage.body).where(MailMessage.key.like("sponsorship-adjustment-%"))
        ).one()

    assert "now stands at $3,000.00" in body
    # Not "the deductible part is $2,940.00": the mug is insubstantial, as on the
    # acknowledgement and in the year-end package.
    assert "token items of insubstantial value" in body
    assert "all of it is deductible" in body
