"""Paying approved requests: payees' W-9s and bank details kept sealed, runs by ACH, cheque
and wire, each payment booked once against the bank, and the payable back to zero."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from conservancy.expenses import payees, payments
from conservancy.expenses import requests as spending
from conservancy.expenses.models import (
    PaymentDetails,
    PaymentRun,
    PayMethod,
    RequestStatus,
    SpendingRequest,
)
from conservancy.infra.config import WireInstructions
from conservancy.kernel import clock
from conservancy.mail.models import MailMessage
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from conservancy.staff.permissions import Staff
from tests.admin.books import assert_books_clean, entry_count, fund_balance, postings
from tests.admin.files import pdf
from tests.expenses.test_requests import TODAY, approve, asked, endorse, file, line, person
from tests.factories import settled_gift, with_project

TZ = ZoneInfo("America/New_York")
PAID_ON = TODAY  # the day approved: a payment is never dated before its approval


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    with_project(runtime)
    for n in range(10):
        settled_gift(runtime, fee="0.00", email=f"donor{n}@example.org")  # Twisted: 900.00
    return runtime


@pytest.fixture
def staff(rt: Runtime) -> dict[str, Staff]:
    return {
        "grace": person(rt, "grace@twisted.example", "member", "twisted"),
        "hopper": person(rt, "billing@hopper.example", "member", "twisted"),
        "treasurer": person(rt, "glyph@twisted.example", "treasurer", "twisted"),
        "bookkeeper": person(rt, "books@sponsor.example", "bookkeeper"),
        "auditor": person(rt, "audit@sponsor.example", "auditor"),
    }


def details(**kw: object) -> payees.DetailsAsked:
    fields: dict[str, object] = {
        "legal_name": "Grace B. Hopper",
        "tax_class": "individual",
        "tin_kind": "ssn",
        "tin": "123-45-6789",
        "address": "1 Navy Yard\nArlington, VA 22202",
        "method": "ach",
        "routing_number": "021000021",
        "account_number": "000123456789",
        "account_type": "checking",
        "certified": True,
    }
    fields.update(kw)
    return payees.DetailsAsked(**fields)  # type: ignore[arg-type]


def save(rt: Runtime, who: Staff, wanted: payees.DetailsAsked) -> None:
    with rt.sessions() as session:
        payees.save_details(
            session, who, wanted, keys=payees.PayeeKeys.of(rt.settings), today=TODAY
        )
        session.commit()


def approved(rt: Runtime, staff: dict[str, Staff], who: str, amount: str) -> int:
    request_id = file(rt, staff[who], asked(line("Travel", amount, receipt=pdf())))
    endorse(rt, staff["treasurer"], request_id)
    approve(rt, staff["bookkeeper"], request_id)
    return request_id


def prepare(rt: Runtime, who: Staff, method: PayMethod, ids: list[int]) -> int:
    with rt.sessions() as session:
        run = payments.prepare_run(session, who, method, ids)
        session.commit()
        return run.id


def pay(rt: Runtime, who: Staff, run_id: int, first_cheque: int | None = None) -> None:
    with rt.sessions() as session:
        run = session.get(PaymentRun, run_id)
        assert run is not None
        payments.mark_paid(session, who, run, paid_on=PAID_ON, tz=TZ, first_cheque=first_cheque)
        session.commit()


def test_numbers_are_sealed_shown_by_their_last_four_and_never_logged(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    save(rt, staff["grace"], details())
    with rt.sessions() as session:
        row = session.scalars(select(PaymentDetails)).one()
        assert (row.tin_last4, row.account_last4) == ("6789", "6789")
        assert "123456789" not in row.tin_sealed
        assert "000123456789" not in (row.account_sealed or "")
        keys = payees.PayeeKeys.of(rt.settings)
        assert keys.open(row.tin_sealed) == "123456789"
        assert keys.open(row.account_sealed or "") == "000123456789"
        assert payees.masked_tin(row) == "***-**-6789"
        logged = " ".join(
            str(e.after) for e in session.scalars(select(AuditEntry)) if e.after is not None
        )
    assert "123456789" not in logged
    assert "ssn ending 6789" in logged
    # Saved again with the numbers left blank, they are kept.
    save(rt, staff["grace"], details(tin="", account_number="", address="2 Navy Yard"))
    with rt.sessions() as session:
        row = session.scalars(select(PaymentDetails)).one()
        assert payees.PayeeKeys.of(rt.settings).open(row.tin_sealed) == "123456789"
        assert row.address == "2 Navy Yard"


def test_bad_details_are_refused_by_their_field_and_nothing_is_saved(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    with pytest.raises(spending.RequestRefused) as refused:
        save(
            rt,
            staff["grace"],
            details(
                tin="12-345",
                routing_number="021000022",
                account_number="12ab",
                certified=False,
                tax_class="llama",
            ),
        )
    assert {p.field for p in refused.value.problems} == {
        "tin",
        "routing_number",
        "account_number",
        "certified",
        "tax_class",
    }
    with rt.sessions() as session:
        assert session.scalars(select(PaymentDetails)).all() == []


def test_an_ach_run_pays_each_request_once_and_the_payable_goes_back_to_zero(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    save(rt, staff["grace"], details())
    first = approved(rt, staff, "grace", "120.00")
    second = approved(rt, staff, "grace", "80.00")
    assert fund_balance(rt, "Twisted") == Decimal("700.00")
    with rt.sessions() as session:
        assert [r.id for r in payments.due(session)] == [first, second]
    run_id = prepare(rt, staff["bookkeeper"], PayMethod.ACH, [first, second])
    bank = WireInstructions(
        bank="First Bank\n1 Main St", routing_number="021000021", account_number="9"
    )
    with rt.sessions() as session:
        run = session.get(PaymentRun, run_id)
        assert run is not None
        text = payments.ach_file(
            session,
            run,
            keys=payees.PayeeKeys.of(rt.settings),
            bank=bank,
            created_at=datetime(2026, 3, 9, 10, 0, tzinfo=UTC),
            effective_on=PAID_ON,
        )
    records = text.splitlines()
    entries = [r for r in records if r.startswith("6")]
    assert len(entries) == 1  # one credit to Grace for both requests
    assert entries[0][1:3] == "22"  # to checking
    assert entries[0][3:12] == "021000021"
    assert entries[0][12:29].strip() == "000123456789"
    assert entries[0][29:39] == "0000020000"  # 200.00
    assert entries[0][54:76].strip() == "GRACE B. HOPPER"
    assert records[0][3:13] == " 021000021"

    pay(rt, staff["bookkeeper"], run_id)
    for request_id in (first, second):
        assert postings(rt, f"spending-{request_id}-paid") == {
            "Liabilities:Payable:Twisted": Decimal("120.00" if request_id == first else "80.00"),
            "Assets:Bank:Checking": Decimal("-120.00" if request_id == first else "-80.00"),
        }
    assert fund_balance(rt, "Twisted") == Decimal("700.00")  # paying commits nothing more
    assert rt.books.current().balances.get("Liabilities:Payable:Twisted", {}).get(
        "USD", Decimal(0)
    ) == Decimal(0)
    assert_books_clean(rt)
    with rt.sessions() as session:
        statuses = {r.status for r in session.scalars(select(SpendingRequest))}
        subjects = session.scalars(
            select(MailMessage.subject).where(MailMessage.key.endswith("-paid"))
        ).all()
    assert statuses == {RequestStatus.PAID}
    assert sorted(subjects) == sorted(
        [f"REQ-{first} (Twisted): paid", f"REQ-{second} (Twisted): paid"]
    )
    # Marked paid again, it books nothing more.
    with pytest.raises(spending.RequestRefused, match="marked paid already"):
        pay(rt, staff["bookkeeper"], run_id)
    assert entry_count(rt, "spending-") == 4


def test_cheques_are_numbered_in_the_register_and_wires_listed(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    save(rt, staff["grace"], details(method="cheque", routing_number="", account_number=""))
    save(
        rt,
        staff["hopper"],
        details(
            legal_name="Hopper LLC",
            tax_class="llc-p",
            tin_kind="ein",
            tin="12-3456789",
            method="wire",
        ),
    )
    one, two = approved(rt, staff, "grace", "30.00"), approved(rt, staff, "grace", "45.00")
    wired = approved(rt, staff, "hopper", "300.00")
    cheques = prepare(rt, staff["bookkeeper"], PayMethod.CHEQUE, [one, two])
    with pytest.raises(spending.RequestRefused, match="Give the number of the first cheque"):
        pay(rt, staff["bookkeeper"], cheques)
    pay(rt, staff["bookkeeper"], cheques, first_cheque=1041)
    wires = prepare(rt, staff["bookkeeper"], PayMethod.WIRE, [wired])
    pay(rt, staff["bookkeeper"], wires)
    with rt.sessions() as session:
        run = session.get(PaymentRun, cheques)
        assert run is not None
        register = payments.register_csv(session, run).splitlines()
        wire_run = session.get(PaymentRun, wires)
        assert wire_run is not None
        wire_sheet = payments.register_csv(session, wire_run)
    assert register[1].split(",")[:4] == [f"RUN-{cheques}", "cheque", "1041", f"REQ-{one}"]
    assert register[2].split(",")[:4] == [f"RUN-{cheques}", "cheque", "1042", f"REQ-{two}"]
    assert "Grace B. Hopper" in register[1]
    assert "ending 6789" in wire_sheet
    assert "000123456789" not in wire_sheet  # the list shows the last four digits only
    with rt.sessions() as session:
        wire_run = session.get(PaymentRun, wires)
        assert wire_run is not None
        instructions = payments.wire_instructions(
            session, wire_run, keys=payees.PayeeKeys.of(rt.settings)
        )
    assert "Amount: $300.00 USD" in instructions
    assert "Beneficiary: Hopper LLC" in instructions
    assert "Routing number (ABA): 021000021" in instructions
    assert "Account number: 000123456789" in instructions  # the bank needs it whole
    assert f"Reference: REQ-{wired}" in instructions
    assert_books_clean(rt)


def test_a_run_refuses_what_it_cannot_pay_naming_each_request(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    no_details = approved(rt, staff, "hopper", "20.00")
    save(rt, staff["grace"], details(method="cheque", routing_number="", account_number=""))
    by_cheque = approved(rt, staff, "grace", "25.00")
    filed_only = file(rt, staff["grace"], asked(line("Meals", "5.00")))
    with pytest.raises(spending.RequestRefused) as refused:
        prepare(rt, staff["bookkeeper"], PayMethod.ACH, [no_details, by_cheque, filed_only])
    assert [p.message for p in refused.value.problems] == [
        f"REQ-{no_details}: the requester has not given their payment details and W-9 yet.",
        f"REQ-{by_cheque}: the requester is paid by cheque, not ach.",
        f"REQ-{filed_only} is not approved and waiting to be paid.",
    ]
    with pytest.raises(spending.NotYours):
        prepare(rt, staff["auditor"], PayMethod.CHEQUE, [by_cheque])
    run_id = prepare(rt, staff["bookkeeper"], PayMethod.CHEQUE, [by_cheque])
    with pytest.raises(spending.RequestRefused, match="not approved and waiting"):
        prepare(rt, staff["bookkeeper"], PayMethod.CHEQUE, [by_cheque])  # in a run already
    with rt.sessions() as session:
        run = session.get(PaymentRun, run_id)
        assert run is not None
        assert [r.id for r in run.requests] == [by_cheque]  # the refused runs left nothing
        assert [r.id for r in payments.due(session)] == [no_details]


def test_rotating_the_payee_key_reseals_every_number_and_the_old_key_can_go(
    rt: Runtime, staff: dict[str, Staff]
) -> None:
    import subprocess

    from cryptography.fernet import Fernet

    from tests.environment import settings_env
    from tests.foundation.test_cli import CONSERVANCY

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with rt.sessions() as session:
        payees.save_details(
            session, staff["grace"], details(), keys=payees.PayeeKeys((old,)), today=TODAY
        )
        session.commit()

    def rotate() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(CONSERVANCY), "user", "rotate-payee-key"],
            env={**settings_env(rt.settings), "CONSERVANCY_PAYEE_KEYS": f"{new},{old}"},
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    first = rotate()
    assert first.returncode == 0, first.stderr
    assert first.stdout == "sealed 2 payee numbers with the newest key; 0 were already\n"
    assert rotate().stdout == "sealed 0 payee numbers with the newest key; 2 were already\n"
    with rt.sessions() as session:
        row = session.scalars(select(PaymentDetails)).one()
        newest = payees.PayeeKeys((new,))  # the old key gone
        assert newest.open(row.tin_sealed) == "123456789"
        assert newest.open(row.account_sealed or "") == "000123456789"
