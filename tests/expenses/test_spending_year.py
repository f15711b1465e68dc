"""A year of spending requests through every state (issue 21, "Must show"): filed, endorsed,
approved, rejected by the project and by the sponsor, paid by ACH, by cheque and by wire, one
over policy refused by its line, and one approved and left unpaid at the year's end. Then the
books, the fund's balance with what it has committed, and the 1099-NEC list all agree."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from conservancy.expenses import payees, payments
from conservancy.expenses import requests as spending
from conservancy.expenses.models import (
    PaymentRun,
    PayMethod,
    RequestKind,
    RequestStatus,
    SpendingRequest,
)
from conservancy.infra.config import WireInstructions
from conservancy.kernel import clock
from conservancy.reports import form1099
from conservancy.runtime import Runtime
from conservancy.staff.permissions import Staff
from tests.admin.books import assert_books_clean, fund_balance
from tests.admin.files import pdf
from tests.expenses.test_requests import approve, asked, endorse, file, line, person
from tests.factories import settled_gift, with_project

TZ = ZoneInfo("America/New_York")


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    with_project(runtime)
    for n in range(10):  # Twisted: 10 gifts of 1,000.00 less the 10% fee: 9,000.00
        settled_gift(runtime, amount="1000.00", fee="0.00", email=f"donor{n}@example.org")
    return runtime


def on(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: day)


def details(rt: Runtime, who: Staff, **kw: str) -> None:
    fields = {
        "legal_name": who.name,
        "tax_class": "individual",
        "tin_kind": "ssn",
        "tin": "987-65-4321",
        "address": "1 Main St\nSpringfield",
        "method": "ach",
        "routing_number": "021000021",
        "account_number": "123456789",
        "account_type": "checking",
        "certified": True,
    }
    fields.update(kw)
    with rt.sessions() as session:
        payees.save_details(
            session,
            who,
            payees.DetailsAsked(**fields),  # type: ignore[arg-type]
            keys=payees.PayeeKeys.of(rt.settings),
            today=date(2026, 1, 2),
        )
        session.commit()


def run(
    rt: Runtime,
    monkeypatch: pytest.MonkeyPatch,
    who: Staff,
    method: PayMethod,
    ids: list[int],
    paid_on: date,
) -> None:
    on(monkeypatch, paid_on)
    with rt.sessions() as session:
        made = payments.prepare_run(session, who, method, ids)
        session.commit()
        run_row = session.get(PaymentRun, made.id)
        assert run_row is not None
        if method is PayMethod.ACH:
            bank = WireInstructions(
                bank="First Bank", routing_number="026009593", account_number="1"
            )
            text = payments.ach_file(
                session,
                run_row,
                keys=payees.PayeeKeys.of(rt.settings),
                bank=bank,
                created_at=datetime.combine(paid_on, datetime.min.time(), UTC),
                effective_on=paid_on,
            )
            assert all(len(record) == 94 for record in text.splitlines())
        payments.mark_paid(
            session,
            who,
            run_row,
            paid_on=paid_on,
            tz=TZ,
            first_cheque=2001 if method is PayMethod.CHEQUE else None,
        )
        session.commit()


def test_a_year_of_requests_through_every_state_ties_books_balance_and_1099s(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    contractor = person(rt, "ada@contractor.example", "member", "twisted")
    volunteer = person(rt, "grace@twisted.example", "member", "twisted")
    company = person(rt, "billing@acme.example", "member", "twisted")
    small = person(rt, "bob@twisted.example", "member", "twisted")
    treasurer = person(rt, "glyph@twisted.example", "treasurer", "twisted")
    bookkeeper = person(rt, "books@sponsor.example", "bookkeeper")
    admin = person(rt, "admin@sponsor.example", "admin")
    details(rt, contractor, legal_name="Ada Lovelace")
    details(
        rt,
        volunteer,
        legal_name="Grace Hopper",
        method="cheque",
        routing_number="",
        account_number="",
    )
    details(
        rt,
        company,
        legal_name="Acme Corp",
        tax_class="c-corporation",
        tin_kind="ein",
        tin="12-3456780",
        method="wire",
    )
    details(
        rt, small, legal_name="Bob Small", method="cheque", routing_number="", account_number=""
    )

    def through(who: Staff, wanted: spending.RequestAsked, day: date) -> int:
        on(monkeypatch, day)
        request_id = file(rt, who, wanted)
        endorse(rt, treasurer, request_id)
        approve(rt, bookkeeper, request_id)
        return request_id

    work: dict[str, object] = {
        "kind": RequestKind.INVOICE,
        "purpose": "Porting Twisted to Python 3.14",
    }
    # Ada invoices 1,500.00 twice (3,000.00: over 2026's $2,000 threshold), by ACH.
    ada_1 = through(
        contractor,
        asked(
            line("Contractors", "1500.00", date(2026, 2, 1), pdf()), payee="Ada Lovelace", **work
        ),
        date(2026, 2, 3),
    )
    ada_2 = through(
        contractor,
        asked(
            line("Contractors", "1500.00", date(2026, 5, 1), pdf()), payee="Ada Lovelace", **work
        ),
        date(2026, 5, 4),
    )
    # Grace is reimbursed 450.00 of travel by cheque: not income, no 1099.
    grace = through(
        volunteer, asked(line("Travel", "450.00", date(2026, 3, 1), pdf())), date(2026, 3, 2)
    )
    # Acme, a C corporation, invoices 2,500.00 by wire: no 1099 for corporations.
    acme = through(
        company,
        asked(line("Contractors", "2500.00", date(2026, 6, 1), pdf()), payee="Acme Corp", **work),
        date(2026, 6, 2),
    )
    # Bob invoices 300.00 by cheque: under the threshold.
    bob = through(
        small,
        asked(line("Contractors", "300.00", date(2026, 7, 1), pdf()), payee="Bob Small", **work),
        date(2026, 7, 2),
    )
    run(rt, monkeypatch, bookkeeper, PayMethod.ACH, [ada_1], date(2026, 2, 10))
    run(rt, monkeypatch, bookkeeper, PayMethod.ACH, [ada_2], date(2026, 5, 11))
    run(rt, monkeypatch, admin, PayMethod.CHEQUE, [grace, bob], date(2026, 7, 3))
    run(rt, monkeypatch, admin, PayMethod.WIRE, [acme], date(2026, 7, 3))

    # Rejected by the project, and by the sponsor.
    on(monkeypatch, date(2026, 8, 3))
    by_project = file(rt, volunteer, asked(line("Meals", "40.00", date(2026, 8, 1))))
    endorse(rt, treasurer, by_project, yes=False, comment="Not a project expense.")
    by_sponsor = file(rt, volunteer, asked(line("Meals", "30.00", date(2026, 8, 1))))
    endorse(rt, treasurer, by_sponsor)
    with rt.sessions() as session:
        found = session.get(SpendingRequest, by_sponsor)
        assert found is not None
        spending.reject(session, bookkeeper, found, comment="No receipt for the group dinner.")
        session.commit()
    # Over policy: lodging without its receipt, refused by its line.
    with pytest.raises(spending.RequestRefused) as refused:
        file(rt, volunteer, asked(line("Lodging", "120.00", date(2026, 8, 1))))
    assert [(p.line, p.field) for p in refused.value.problems] == [(0, "receipt")]
    # Approved in December and not yet paid at the year's end: committed.
    unpaid = through(
        contractor,
        asked(
            line("Contractors", "200.00", date(2026, 12, 1), pdf()), payee="Ada Lovelace", **work
        ),
        date(2026, 12, 2),
    )

    # The books: clean; the fund's balance is the gifts less everything approved; the payable
    # is what is approved and unpaid, as the requests say.
    assert_books_clean(rt)
    approved = Decimal("1500.00") * 2 + Decimal("450.00") + Decimal("2500.00") + Decimal("300.00")
    assert fund_balance(rt, "Twisted") == Decimal("9000.00") - approved - Decimal("200.00")
    snapshot = rt.books.current()
    payable = snapshot.balances.get("Liabilities:Payable:Twisted", {}).get("USD", Decimal(0))
    with rt.sessions() as session:
        twisted = session.get(SpendingRequest, unpaid).project  # type: ignore[union-attr]
        assert spending.committed(session, twisted).amount == Decimal("200.00") == -payable
        states = {r.id: r.status for r in session.scalars(select(SpendingRequest))}
        report = form1099.nec_payees(session, 2026, keys=None)
        in_books = form1099.services_in_books(session, 2026)
    assert states == {
        ada_1: RequestStatus.PAID,
        ada_2: RequestStatus.PAID,
        grace: RequestStatus.PAID,
        acme: RequestStatus.PAID,
        bob: RequestStatus.PAID,
        by_project: RequestStatus.REJECTED,
        by_sponsor: RequestStatus.REJECTED,
        unpaid: RequestStatus.APPROVED,
    }
    # Form 1099-NEC: Ada alone, 3,000.00; the services paid (Ada, Acme, Bob) tie to the books.
    assert [(p.legal_name, p.total.amount, p.payments) for p in report.payees] == [
        ("Ada Lovelace", Decimal("3000.00"), 2)
    ]
    assert report.threshold.amount.amount == Decimal("2000.00")
    assert report.services_total.amount == in_books.amount == Decimal("5800.00")
