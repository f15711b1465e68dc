"""Issue 15, finding 2: a corporate sponsor is a contributor in the year-end package.

The sponsor books a sponsorship invoice on accrual: its income (and the receivable) the
day it is issued, paid or not; a void takes it back on the day of the void; a card
refund or a lost dispute takes back what went back. Schedule B lists the company with
its name and billing address and only the deductible part (the payment less the
benefits' fair market value, as the acknowledgement says), and every tie-out holds.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from flask import Flask
from sqlalchemy import select

from conservancy.infra.config import Settings
from conservancy.money import Money
from conservancy.payments.gateway import BalanceTransaction, Charge, DisputeInfo, RefundInfo
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from conservancy.sponsorships.models import (
    CorporateSponsor,
    PaidBy,
    SponsorshipInvoice,
    SponsorshipLevel,
)
from conservancy.sponsorships.payments import apply_dispute, apply_refund, book_card_payment
from conservancy.sponsorships.service import (
    find_invoice,
    issue_invoice,
    record_bank_payment,
    void_invoice,
)
from conservancy.standin import StandIn
from tests import factories
from tests.admin.pages import signed_in
from tests.giving.conftest import LiveServer
from tests.giving.flows import settle_webhooks
from tests.ledger.processes import run_cli
from tests.receipts.pdfs import requires_weasyprint
from tests.sponsorships.sponsors import gold_level, invoice, pay_by_card, signed_up

D = Decimal
PAGE = "/admin/reports/year-end"
BILLING = "1 Desert Road\nPhoenix, AZ 85001"  # every sign-up of tests.sponsorships.sponsors


def read_csv(path: Path) -> list[dict[str, str]]:
    """A package's CSV as a program reads it: a draft's first line is a notice to skip."""
    lines = path.read_text("utf-8").splitlines(keepends=True)
    if lines and lines[0].startswith("# DRAFT"):
        lines = lines[1:]
    return list(csv.DictReader(io.StringIO("".join(lines))))


def _pay_by_cheque(rt: Runtime, number: str) -> None:
    with rt.sessions() as session:
        found = find_invoice(session, number, lock=True)
        record_bank_payment(
            session,
            "tests",
            found,
            paid_by=PaidBy.CHEQUE,
            received_on=found.issued_on,
            reference="1042",
        )
        session.commit()
    rt.post_ledger()


def _void(rt: Runtime, number: str) -> None:
    with rt.sessions() as session:
        found = find_invoice(session, number, lock=True)
        void_invoice(
            session, "tests", found, reason="Sent to the wrong company", on=found.issued_on
        )
        session.commit()
    rt.post_ledger()


@requires_weasyprint
def test_invoices_paid_by_card_and_cheque_open_and_voided_tie_out_and_name_the_companies(
    giving_runtime: Runtime,
    giving_settings: Settings,
    giving_app: Flask,
    standin: StandIn,
    live: LiveServer,
    tmp_path: Path,
) -> None:
    rt = giving_runtime
    gold = gold_level(rt)  # 10,000.00 with a conference pass worth 500.00
    by_card = signed_up(rt, gold, "Acme Widgets, Inc.")
    pay_by_card(rt, standin, by_card)
    settle_webhooks(rt, standin)
    by_cheque = signed_up(rt, gold, "Bolt Brothers LLC")
    _pay_by_cheque(rt, by_cheque)
    signed_up(rt, gold, "Dyna Corp")  # issued and not paid: a receivable, income all the same
    voided = signed_up(rt, gold, "Cog Co")
    _void(rt, voided)
    year = invoice(rt, by_card).issued_on.year
    out = tmp_path / "package"

    done = run_cli(giving_settings, "report", "year-end", "--year", str(year), "--out", str(out))

    assert done.returncode == 0, done.stdout + done.stderr
    assert "does not tie" not in done.stdout + done.stderr
    assert done.stdout.splitlines()[-1] == "every total ties to the books to the cent"
    listed = [(r["name"], r["address"], r["total"]) for r in read_csv(out / "schedule-b.csv")]
    assert listed == [
        ("Acme Widgets, Inc.", BILLING, "9500.00"),
        ("Bolt Brothers LLC", BILLING, "9500.00"),
        ("Dyna Corp", BILLING, "9500.00"),
    ]
    contributions = {
        (r["fund"], r["income_type"]): (r["amount"], r["benefits_value"])
        for r in read_csv(out / "contributions.csv")
        if r["fund"]
    }
    # Four invoices issued, one voided: 30,000.00, of which three passes were given back.
    assert contributions == {("Twisted", "Sponsorships"): ("30000.00", "1500.00")}
    ties = read_csv(out / "tie-out.csv")
    assert [t["check"] for t in ties if t["ties"] != "yes"] == []
    assert (
        "Sponsorship invoices issued in the year (database) against their entries in the books"
        in {t["check"] for t in ties}
    )

    page = signed_in(giving_app, rt, "bookkeeper").get(PAGE, query_string={"year": str(year)})
    assert page.status_code == 200
    assert "do not tie" not in page.text
    assert "does not tie" not in page.text
    assert "Every total ties to the books to the cent." in page.text
    assert "3 contributors, $28,500.00" in page.text


# --- refunds, disputes and a later year, on dates of the test's choosing ----------------


def _at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 17, 0, tzinfo=UTC)


def _issued(rt: Runtime, level_id: int, company: str, on: date) -> str:
    with rt.sessions() as session:
        level = session.get(SponsorshipLevel, level_id)
        assert level is not None
        sponsor = CorporateSponsor(
            ref=f"corporate-{company.split()[0].lower()}",
            company_name=company,
            contact_name="Wile E. Coyote",
            email="wile@acme.example",
            address=BILLING,
        )
        session.add(sponsor)
        number = issue_invoice(
            session,
            sponsor,
            level,
            tz=rt.settings.timezone,
            base_url=rt.settings.base_url,
            by="tests",
            at=_at(on),
        ).number
        session.commit()
    rt.post_ledger()
    return number


def _locked(session: object, number: str) -> SponsorshipInvoice:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    return session.scalars(
        select(SponsorshipInvoice).where(SponsorshipInvoice.number == number).with_for_update()
    ).one()


def _card_paid(rt: Runtime, number: str, on: date) -> str:
    """The invoice paid by card on ``on``, as Stripe's charge would tell it; the charge."""
    charge_id = f"ch_{number}"
    with rt.sessions() as session:
        found = _locked(session, number)
        money = found.amount
        txn = BalanceTransaction(
            f"txn_{number}", money, factories.usd("290.30"), _at(on), "charge", charge_id
        )
        book_card_payment(
            session, found, Charge(charge_id, money, None, txn, _at(on)), rt.settings.timezone
        )
        session.commit()
    rt.post_ledger()
    return charge_id


def _refunded(rt: Runtime, number: str, amount: str, on: date) -> None:
    with rt.sessions() as session:
        found = _locked(session, number)
        assert found.charge_id is not None
        refund = RefundInfo(
            id=f"re_{number}_{on.isoformat()}",
            charge_id=found.charge_id,
            amount=factories.usd(amount),
            status="succeeded",
            created_at=_at(on),
            balance_transaction_id=None,
            failure_balance_transaction=None,
        )
        apply_refund(session, found, refund, rt.settings.timezone)
        session.commit()
    rt.post_ledger()


def _disputed(rt: Runtime, number: str, on: date, status: str = "lost") -> None:
    """The whole charge disputed on ``on``; ``status``: lost, or still open."""
    with rt.sessions() as session:
        found = _locked(session, number)
        assert found.charge_id is not None
        money: Money = found.amount
        withdrawn = BalanceTransaction(
            f"txn_dp_{number}", -money, factories.usd("15.00"), _at(on), "adjustment"
        )
        dispute = DisputeInfo(f"dp_{number}", found.charge_id, money, status, (withdrawn,))
        apply_dispute(session, found, dispute, rt.settings.timezone)
        session.commit()
    rt.post_ledger()


def _package(rt: Runtime, year: int) -> ye.YearEnd:
    with rt.sessions() as session:
        return ye.year_end(session, rt.books.index, rt.books.current(), year)


def test_refunds_and_disputes_of_an_invoice_take_off_its_deductible_part_first(
    runtime: Runtime,
) -> None:
    rt = runtime
    gold = gold_level(rt)
    refunded = _issued(rt, gold, "Acme Widgets, Inc.", date(2026, 3, 2))
    _card_paid(rt, refunded, date(2026, 3, 10))
    _refunded(rt, refunded, "1000.00", date(2026, 4, 1))  # 9,000.00 stands: 8,500.00 deductible
    disputed = _issued(rt, gold, "Bolt Brothers LLC", date(2026, 3, 3))
    _card_paid(rt, disputed, date(2026, 3, 11))
    _disputed(rt, disputed, date(2026, 5, 1))  # nothing stands
    later = _issued(rt, gold, "Cog Co", date(2026, 11, 2))
    _card_paid(rt, later, date(2026, 11, 5))
    _refunded(rt, later, "9800.00", date(2027, 1, 10))  # next year: 200.00 stands, all pass

    this_year, next_year = _package(rt, 2026), _package(rt, 2027)

    assert [(c.name, c.address, c.total.amount) for c in this_year.schedule_b] == [
        ("Cog Co", BILLING, D("9500.00")),
        ("Acme Widgets, Inc.", BILLING, D("8500.00")),
    ]
    assert [
        (c.income_type, c.amount.amount, c.benefits.amount) for c in this_year.contributions
    ] == [
        ("Sponsorships", D("19000.00"), D("1000.00"))  # Acme's pass and Cog's; Bolt's went back
    ]
    assert sorted((r.kind, r.name, r.amount.amount) for r in this_year.reversals) == [
        ("dispute", "Bolt Brothers LLC", D("10000.00")),
        ("refund", "Acme Widgets, Inc.", D("1000.00")),
    ]
    assert this_year.ties_out, this_year.differences
    # The refund of 9,800.00 in 2027 takes all of the 9,500.00 deductible back and 300.00 of
    # the pass: what stands, 200.00, is less than the pass was worth.
    assert next_year.schedule_b == ()
    assert [(c.amount.amount, c.benefits.amount) for c in next_year.contributions] == [
        (D("-9800.00"), D("-300.00"))
    ]
    assert next_year.ties_out, next_year.differences


def test_a_dispute_of_the_whole_charge_after_a_refund_takes_off_no_more_than_was_paid(
    runtime: Runtime,
) -> None:
    """Stripe takes 10,000.00 back though 1,000.00 was refunded already: the income goes
    back to nothing, not below it (the 1,000.00 taken twice is a dispute loss, an
    expense), and the package ties while the dispute is open."""
    rt = runtime
    gold = gold_level(rt)
    number = _issued(rt, gold, "Acme Widgets, Inc.", date(2026, 3, 2))
    _card_paid(rt, number, date(2026, 3, 10))
    _refunded(rt, number, "1000.00", date(2026, 4, 1))
    _disputed(rt, number, date(2026, 5, 1), status="needs_response")

    result = _package(rt, 2026)

    assert result.schedule_b == ()
    assert result.contributions == ()  # 10,000.00 issued, all of it taken back
    assert result.ties_out, result.differences


def test_acknowledgements_name_the_invoice_of_a_paid_sponsorship(runtime: Runtime) -> None:
    rt = runtime
    gold = gold_level(rt)
    paid = _issued(rt, gold, "Acme Widgets, Inc.", date(2026, 3, 2))
    _card_paid(rt, paid, date(2026, 3, 10))
    _issued(rt, gold, "Dyna Corp", date(2026, 3, 4))  # not paid: nothing to acknowledge yet

    listed = _package(rt, 2026).acknowledgements

    assert [(a.name, a.amount.amount, a.receipt) for a in listed] == [
        ("Acme Widgets, Inc.", D("10000.00"), f"acknowledgement of {paid}")
    ]


def test_an_invoice_issued_but_never_posted_does_not_tie(runtime: Runtime) -> None:
    rt = runtime
    gold = gold_level(rt)
    _issued(rt, gold, "Acme Widgets, Inc.", date(2026, 3, 2))
    with rt.sessions() as session:
        level = session.get(SponsorshipLevel, gold)
        assert level is not None
        sponsor = CorporateSponsor(
            ref="corporate-unposted",
            company_name="Unposted Ltd",
            contact_name="Nobody",
            email="nobody@example.org",
            address=BILLING,
        )
        session.add(sponsor)
        issue_invoice(
            session,
            sponsor,
            level,
            tz=rt.settings.timezone,
            base_url=rt.settings.base_url,
            by="tests",
            at=_at(date(2026, 4, 1)),
        )
        session.commit()

    result = _package(rt, 2026)

    assert [(d.what, d.package, d.books) for d in result.differences] == [
        (
            "Sponsorship invoices issued in the year (database) against their entries in the books",
            "2",
            "1",
        ),
        (
            "What stands of the sponsorship invoices issued in the year (database) against "
            "their income in the books",
            "$20,000.00",
            "$10,000.00",
        ),
    ]
