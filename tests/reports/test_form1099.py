"""Form 1099-NEC in the year-end package: each payee paid for services at or above the
year's threshold, with totals that tie to the books.

Two years of spending requests on Twisted's fund (the books open on 2025-01-01; a gift of
20,000.00 leaves Twisted 18,000.00), every one paid by ACH:

==========  ============================  =============  ==========  ====================
paid on     payee (W-9)                   kind           amount      reported?
==========  ============================  =============  ==========  ====================
2025-03-10  Grace B. Hopper (individual)  invoice            700.00  2025: yes, >= 600.00
2025-03-10  Walter Bender (individual)    invoice            500.00  no: < 600.00
2025-03-10  Acme Widgets (C corporation)  invoice            900.00  no: a corporation
2026-03-10  Grace B. Hopper               invoice          1,500.00  2026: yes, with the
2026-03-10  Grace B. Hopper               invoice          1,000.00  one above, 2,500.00
2026-03-10  Walter Bender                 invoice          1,999.99  no: < 2,000.00
2026-03-10  Walter Bender                 reimbursement    2,500.00  no: not income
2026-03-10  Acme Widgets                  invoice          2,500.00  no: a corporation
2027-01-05  Walter Bender                 invoice            600.00  not in 2026 (approved
                                                                     2026-12-20)
never       Walter Bender                 invoice            800.00  no (approved
                                                                     2026-12-20)
==========  ============================  =============  ==========  ====================

Payments for services: 2025 2,100.00 (three); 2026 1,500 + 1,000 + 1,999.99 + 2,500 =
6,999.99 (four); 2027 600.00 (one). Counted, Walter's reimbursement, his unpaid invoice or
his 2027 payment would each put him over 2,000.00 in 2026.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from conservancy.cli import cli
from conservancy.cli.reports import report
from conservancy.expenses import payees, payments
from conservancy.expenses.models import PaymentRun, PayMethod, RequestKind, SpendingRequest
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.projects.service import add_project
from conservancy.receipts.document import Sponsor
from conservancy.reports import form1099
from conservancy.reports import year_end as ye
from conservancy.runtime import Runtime
from conservancy.staff.models import StaffUser
from conservancy.staff.permissions import Staff
from tests import factories
from tests.admin.files import pdf
from tests.environment import settings_env
from tests.expenses.test_requests import approve, asked, endorse, file, line, person
from tests.receipts.pdfs import requires_weasyprint
from tests.saved_books import saved_books

cli.add_command(report)  # as the console script's main() does

OPEN_ON = date(2025, 1, 1)
AFTER = date(2027, 1, 15)  # every payment made; 2026 has ended
SPONSOR = Sponsor("Test Sponsor, Inc.", "12-3456789", "1 Main Street\nBrooklyn, NY 11201")
GRACE = "grace@twisted.example"
WALTER = "walter@twisted.example"
ACME = "billing@acme.example"
GRACE_ADDRESS = "1 Navy Yard\nArlington, VA 22202"
OBBBA = "One Big Beautiful Bill Act, Pub. L. 119-21, §70433, amending IRC 6041(a)"
IRC = "IRC 6041(a); Instructions for Forms 1099-MISC and 1099-NEC"


@contextmanager
def on(day: date) -> Iterator[None]:
    """The sponsor's today is ``day`` (filing, approving and paying use it)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(clock, "today", lambda tz: day)
        yield


def after_the_years(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: AFTER)


def w9(legal_name: str, tax_class: str, tin_kind: str, tin: str) -> payees.DetailsAsked:
    return payees.DetailsAsked(
        legal_name=legal_name,
        tax_class=tax_class,
        tin_kind=tin_kind,
        tin=tin,
        address=GRACE_ADDRESS if legal_name.startswith("Grace") else f"{legal_name}\nBoston",
        method="ach",
        routing_number="021000021",
        account_number="000123456789",
        certified=True,
    )


def approved(
    rt: Runtime, people: dict[str, Staff], who: str, kind: RequestKind, amount: str
) -> int:
    """A request of ``who``'s, filed, endorsed and approved today (the patched clock's)."""
    today = clock.today(rt.settings.timezone)
    request_id = file(
        rt,
        people[who],
        asked(
            line(
                "Contractors" if kind is RequestKind.INVOICE else "Travel",
                amount,
                spent_on=today - timedelta(days=3),
                receipt=pdf(),
            ),
            kind=kind,
            payee=who,
        ),
    )
    endorse(rt, people["treasurer"], request_id)
    approve(rt, people["bookkeeper"], request_id)
    return request_id


def pay(rt: Runtime, staff: Staff, request_ids: list[int], paid_on: date) -> None:
    """One ACH run of ``request_ids``, prepared and marked paid on ``paid_on``."""
    with rt.sessions() as session:
        run = payments.prepare_run(session, staff, PayMethod.ACH, request_ids)
        session.commit()
        run_id = run.id
    with rt.sessions() as session:
        found = session.get(PaymentRun, run_id)
        assert found is not None
        payments.mark_paid(session, staff, found, paid_on=paid_on, tz=rt.settings.timezone)
        session.commit()


@saved_books(books_open_on=OPEN_ON, patch=after_the_years)
def two_years(rt: Runtime) -> None:
    with rt.sessions() as session:
        add_project(session, slug="twisted", name="Twisted", opened_on=OPEN_ON)
        session.commit()
    rt.post_ledger()
    factories.settled_gift(
        rt, amount="20000.00", fee="0.00", at=datetime(2025, 2, 1, 15, tzinfo=UTC)
    )
    people = {
        "grace": person(rt, GRACE, "member", "twisted"),
        "walter": person(rt, WALTER, "member", "twisted"),
        "acme": person(rt, ACME, "member", "twisted"),
        "treasurer": person(rt, "glyph@twisted.example", "treasurer", "twisted"),
        "bookkeeper": person(rt, "books@sponsor.example", "bookkeeper"),
    }
    keys = payees.PayeeKeys.of(rt.settings)
    with rt.sessions() as session:
        for who, details in (
            ("grace", w9("Grace B. Hopper", "individual", "ssn", "123-45-6789")),
            ("walter", w9("Walter Bender", "individual", "ssn", "987-65-4321")),
            ("acme", w9("Acme Widgets, Inc.", "c-corporation", "ein", "98-7654321")),
        ):
            payees.save_details(session, people[who], details, keys=keys, today=OPEN_ON)
        session.commit()
    invoice, reimbursement = RequestKind.INVOICE, RequestKind.REIMBURSEMENT
    with on(date(2025, 3, 10)):
        paid = [
            approved(rt, people, "grace", invoice, "700.00"),
            approved(rt, people, "walter", invoice, "500.00"),
            approved(rt, people, "acme", invoice, "900.00"),
        ]
        pay(rt, people["bookkeeper"], paid, date(2025, 3, 10))
    with on(date(2026, 3, 10)):
        paid = [
            approved(rt, people, "grace", invoice, "1500.00"),
            approved(rt, people, "grace", invoice, "1000.00"),
            approved(rt, people, "walter", invoice, "1999.99"),
            approved(rt, people, "walter", reimbursement, "2500.00"),
            approved(rt, people, "acme", invoice, "2500.00"),
        ]
        pay(rt, people["bookkeeper"], paid, date(2026, 3, 10))
    with on(date(2026, 12, 20)):
        next_year = approved(rt, people, "walter", invoice, "600.00")
        approved(rt, people, "walter", invoice, "800.00")  # never paid
    with on(date(2027, 1, 5)):
        pay(rt, people["bookkeeper"], [next_year], date(2027, 1, 5))
    rt.post_ledger()


def numbers(rt: Runtime, email: str, year: int) -> tuple[str, ...]:
    """The numbers of the invoices paid to ``email``'s user in ``year``, in order."""
    with rt.sessions() as session:
        return tuple(
            r.number
            for r in session.scalars(
                select(SpendingRequest)
                .join(StaffUser, StaffUser.id == SpendingRequest.requester_id)
                .where(StaffUser.email == email, SpendingRequest.kind == RequestKind.INVOICE)
                .order_by(SpendingRequest.id)
            )
            if r.paid_on is not None and r.paid_on.year == year
        )


def nec(rt: Runtime, year: int, keys: payees.PayeeKeys | None = None) -> form1099.Form1099Nec:
    with rt.sessions() as session:
        return form1099.nec_payees(session, year, keys=keys)


def in_books(rt: Runtime, year: int) -> Decimal:
    with rt.sessions() as session:
        return form1099.services_in_books(session, year).amount


def package(rt: Runtime, year: int = 2026) -> ye.YearEnd:
    with rt.sessions() as session:
        return ye.year_end(session, rt.books.index, rt.books.current(), year)


def rows(found: form1099.Form1099Nec) -> list[tuple[str, str, str, Decimal, int]]:
    return [(p.legal_name, p.tin_kind, p.tin, p.total.amount, p.payments) for p in found.payees]


# --- whom to report --------------------------------------------------------------------------


def test_2026_lists_only_the_individual_paid_2000_or_more_for_services(two_years: Runtime) -> None:
    found = nec(two_years, 2026)

    # Walter's 1,999.99 is a cent under; his reimbursement is no income, his 2027 payment
    # and his unpaid invoice are not of 2026; Acme is a corporation.
    assert rows(found) == [("Grace B. Hopper", "ssn", "***-**-6789", Decimal("2500.00"), 2)]
    (grace,) = found.payees
    assert grace.address == GRACE_ADDRESS
    assert grace.requests == numbers(two_years, GRACE, 2026)
    assert len(grace.requests) == 2
    assert (found.threshold.amount.amount, found.threshold.source) == (Decimal("2000.00"), OBBBA)
    assert not found.threshold.provisional
    # Every payment for services, reported or not: what the books must hold.
    assert found.services_total.amount == Decimal("6999.99")
    assert found.services_payments == 4
    assert not found.tins_in_full


def test_2025_lists_payees_from_600_under_the_old_threshold(two_years: Runtime) -> None:
    found = nec(two_years, 2025)

    assert rows(found) == [("Grace B. Hopper", "ssn", "***-**-6789", Decimal("700.00"), 1)]
    assert found.payees[0].requests == numbers(two_years, GRACE, 2025)
    assert (found.threshold.amount.amount, found.threshold.source) == (Decimal("600.00"), IRC)
    assert not found.threshold.provisional
    assert found.services_total.amount == Decimal("2100.00")  # Walter's 500 and Acme's 900 too


def test_from_2027_the_threshold_is_the_2026_amount_marked_provisional(
    two_years: Runtime,
) -> None:
    found = nec(two_years, 2027)

    assert found.payees == ()  # Walter's 600.00 of 2027 is under 2,000.00
    assert found.services_total.amount == Decimal("600.00")
    assert found.threshold.provisional
    assert found.threshold.amount.amount == Decimal("2000.00")  # no figure made up
    assert found.threshold.source == (
        f"the 2026 amount ({OBBBA}), pending the IRS's inflation-adjusted figure for 2027"
    )
    assert form1099.threshold(2031).source.endswith("inflation-adjusted figure for 2031")
    assert form1099.threshold(2019) == form1099.Threshold(2019, factories.usd("600.00"), IRC)


def test_tins_are_given_in_full_only_with_the_payee_keys(two_years: Runtime) -> None:
    found = nec(two_years, 2026, payees.PayeeKeys.of(two_years.settings))

    assert rows(found) == [("Grace B. Hopper", "ssn", "123-45-6789", Decimal("2500.00"), 2)]
    assert found.tins_in_full


def test_a_payee_with_no_w9_on_file_is_listed_and_says_so(two_years: Runtime) -> None:
    with two_years.sessions() as session:
        grace = session.scalars(select(StaffUser).where(StaffUser.email == GRACE)).one()
        found = payees.details_of(session, grace.id)
        assert found is not None
        session.delete(found)
        session.commit()

    (listed,) = nec(two_years, 2026).payees
    # The name the requests gave; no TIN or address to give, and no way to tell a
    # corporation: listed, for the preparer to get a W-9.
    assert (listed.legal_name, listed.tin_kind, listed.tin, listed.address) == (
        "grace",
        "",
        "NO W-9 ON FILE",
        "",
    )
    assert listed.total.amount == Decimal("2500.00")


# --- the tie-out -----------------------------------------------------------------------------


def test_each_years_payments_for_services_tie_to_the_books(two_years: Runtime) -> None:
    for year, total in ((2025, "2100.00"), (2026, "6999.99"), (2027, "600.00")):
        assert nec(two_years, year).services_total.amount == Decimal(total), year
        assert in_books(two_years, year) == Decimal(total), year


def test_a_payment_not_yet_in_the_books_does_not_tie(two_years: Runtime) -> None:
    rt = two_years
    with rt.sessions() as session:
        bookkeeper = Staff.of(
            session.scalars(
                select(StaffUser).where(StaffUser.email == "books@sponsor.example")
            ).one()
        )
        treasurer = Staff.of(
            session.scalars(
                select(StaffUser).where(StaffUser.email == "glyph@twisted.example")
            ).one()
        )
        grace = Staff.of(session.scalars(select(StaffUser).where(StaffUser.email == GRACE)).one())
    people = {"grace": grace, "treasurer": treasurer, "bookkeeper": bookkeeper}
    rt.post_ledger()
    request_id = approved(rt, people, "grace", RequestKind.INVOICE, "2100.00")
    rt.post_ledger()  # the payable is booked; its payment is left in the outbox
    pay(rt, bookkeeper, [request_id], AFTER)

    assert nec(rt, 2027).services_total.amount == Decimal("2700.00")
    assert in_books(rt, 2027) == Decimal("600.00")
    rt.post_ledger()
    assert in_books(rt, 2027) == Decimal("2700.00")


# --- in the year-end package ------------------------------------------------------------------


def csv_of(found: ye.YearEnd, name: str) -> list[dict[str, str]]:
    files = dict(ye.csv_files(found, prepared_on=AFTER))
    return list(csv.DictReader(io.StringIO(files[name].decode("utf-8"))))


def test_the_package_holds_1099_nec_csv_and_its_tie_out_row_ties(two_years: Runtime) -> None:
    found = package(two_years)

    assert "1099-nec.csv" in ye.CSV_FILES
    assert csv_of(found, "1099-nec.csv") == [
        {
            "name": "Grace B. Hopper",
            "tin_kind": "ssn",
            "tin": "***-**-6789",
            "address": GRACE_ADDRESS,
            "total": "2500.00",
            "currency": "USD",
            "payments": "2",
            "requests": "; ".join(numbers(two_years, GRACE, 2026)),
            "threshold": "2000.00",
            "threshold_source": OBBBA,
        }
    ]
    ties = {t["check"]: t for t in csv_of(found, "tie-out.csv")}
    assert ties[form1099.TIE] == {
        "check": form1099.TIE,
        "package": "$6,999.99",
        "books": "$6,999.99",
        "difference": "$0.00",
        "ties": "yes",
    }
    assert found.differences == []
    readme = ye.readme_text(found, SPONSOR, prepared_on=AFTER).splitlines()
    assert f"Form 1099-NEC threshold for payments made in 2026: $2,000.00 ({OBBBA})" in readme
    assert (
        "Taxpayer identification numbers in 1099-nec.csv: masked to their last four digits "
        "(the command's --with-tins gives them in full)"
    ) in readme
    listed = readme[readme.index("Files:") + 1 :]
    assert any(row.split()[0] == "1099-nec.csv" for row in listed)


def test_the_readme_says_when_the_threshold_is_provisional(two_years: Runtime) -> None:
    readme = ye.readme_text(package(two_years, 2027), SPONSOR, prepared_on=AFTER)

    assert (
        "Form 1099-NEC threshold for payments made in 2027: $2,000.00 (PROVISIONAL: the 2026 "
        f"amount ({OBBBA}), pending the IRS's inflation-adjusted figure for 2027)"
    ) in readme.splitlines()


def test_books_without_spending_give_the_header_alone_and_0_against_0(runtime: Runtime) -> None:
    found = package(runtime)

    (_name, header, body) = next(f for f in ye.csv_rows(found) if f[0] == "1099-nec.csv")
    assert body == []
    assert header[:5] == ["name", "tin_kind", "tin", "address", "total"]
    (tie,) = [t for t in found.tie_out if t.what == form1099.TIE]
    assert (tie.package, tie.books, tie.ok) == ("$0.00", "$0.00", True)


@requires_weasyprint
def test_the_command_writes_tins_in_full_only_when_asked(
    two_years: Runtime, settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "pkg"
    # The same payee keys as the tests' runtime: derived from the same session key.
    env = {**settings_env(settings), "CONSERVANCY_SECRET_KEY": settings.secret_key or ""}
    done = CliRunner(env=env).invoke(
        cli,
        ["report", "year-end", "--year", "2026", "--out", str(out), "--with-tins"],
        catch_exceptions=False,
    )

    assert done.exit_code == 0, done.output
    assert "1 on Form 1099-NEC (TINs in full)" in done.output
    assert done.output.splitlines()[-1] == "every total ties to the books to the cent"
    written = list(csv.DictReader(io.StringIO((out / "1099-nec.csv").read_text("utf-8"))))
    assert [(r["name"], r["tin"], r["total"]) for r in written] == [
        ("Grace B. Hopper", "123-45-6789", "2500.00")
    ]
    assert "Taxpayer identification numbers in 1099-nec.csv: in full" in (
        out / "README.txt"
    ).read_text("utf-8")
