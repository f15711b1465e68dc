"""Spending requests: filed by a project's member against the accountable-plan policy,
endorsed by its treasurer, approved by the sponsor's staff (two of them above the threshold),
and booked once as payable; refused by the line, and never decided by the one who asked."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from conservancy.expenses import requests as spending
from conservancy.expenses.models import RequestKind, RequestStatus, SpendingRequest
from conservancy.infra.config import SpendingPolicy
from conservancy.kernel import clock
from conservancy.kernel.errors import NotFound
from conservancy.mail.models import MailMessage
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from conservancy.staff.permissions import Staff
from conservancy.staff.service import add_user, get_user
from tests.admin.books import assert_books_clean, entry_count, fund_balance, postings
from tests.admin.files import image, pdf
from tests.factories import settled_gift, usd, with_project

TODAY = date(2026, 3, 10)
POLICY = SpendingPolicy()  # receipts from 75.00, 60 days, two approvals above 5,000.00


@pytest.fixture(autouse=True)
def _today(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: TODAY)


@pytest.fixture
def rt(runtime: Runtime) -> Runtime:
    """Twisted holds 900.00 (ten gifts of 100.00 less the 10% sponsorship fee, card fee 0);
    Sugar Labs is another project."""
    with_project(with_project(runtime), "sugar", "Sugar Labs")
    for n in range(10):
        settled_gift(runtime, fee="0.00", email=f"donor{n}@example.org")
    return runtime


def person(rt: Runtime, email: str, role: str, project: str | None = None) -> Staff:
    with rt.sessions() as session:
        added = add_user(session, "test", email=email, role=role, project=project)
        session.commit()
        return Staff.of(get_user(session, added.user.id))


@pytest.fixture
def people(rt: Runtime) -> dict[str, Staff]:
    return {
        "member": person(rt, "grace@twisted.example", "member", "twisted"),
        "treasurer": person(rt, "glyph@twisted.example", "treasurer", "twisted"),
        "other_member": person(rt, "walter@sugar.example", "member", "sugar"),
        "other_treasurer": person(rt, "sonia@sugar.example", "treasurer", "sugar"),
        "bookkeeper": person(rt, "books@sponsor.example", "bookkeeper"),
        "admin": person(rt, "admin@sponsor.example", "admin"),
        "auditor": person(rt, "audit@sponsor.example", "auditor"),
    }


def line(
    category: str = "Travel",
    amount: str | None = "120.00",
    spent_on: date | None = TODAY - timedelta(days=3),
    receipt: bytes | None = None,
    description: str = "Train to PyCon",
) -> spending.LineAsked:
    return spending.LineAsked(
        category=category,
        description=description,
        spent_on=spent_on,
        amount=usd(amount) if amount is not None else None,
        receipt=receipt,
    )


def asked(*lines: spending.LineAsked, **kw: object) -> spending.RequestAsked:
    fields: dict[str, object] = {
        "kind": RequestKind.REIMBURSEMENT,
        "payee": "Grace Hopper",
        "purpose": "Talk on Twisted at PyCon US",
        "lines": lines or (line(receipt=pdf()), line("Meals", "30.00", description="Lunch")),
    }
    fields.update(kw)
    return spending.RequestAsked(**fields)  # type: ignore[arg-type]


def file(rt: Runtime, staff: Staff, wanted: spending.RequestAsked, slug: str = "twisted") -> int:
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        request = spending.file_request(
            session,
            staff,
            project,
            wanted,
            policy=POLICY,
            receipts_dir=rt.settings.receipts_dir,
            tz=rt.settings.timezone,
        )
        session.commit()
        return request.id


def endorse(
    rt: Runtime, staff: Staff, request_id: int, *, yes: bool = True, comment: str = ""
) -> None:
    with rt.sessions() as session:
        request = session.get(SpendingRequest, request_id)
        assert request is not None
        spending.endorse(session, staff, request, approve=yes, comment=comment)
        session.commit()


def approve(rt: Runtime, staff: Staff, request_id: int, policy: SpendingPolicy = POLICY) -> None:
    with rt.sessions() as session:
        request = session.get(SpendingRequest, request_id)
        assert request is not None
        spending.approve(
            session, staff, request, policy=policy, books=rt.books, tz=rt.settings.timezone
        )
        session.commit()


def status(rt: Runtime, request_id: int) -> RequestStatus:
    with rt.sessions() as session:
        request = session.get(SpendingRequest, request_id)
        assert request is not None
        return request.status


def mails(rt: Runtime, request_id: int) -> list[tuple[str, str]]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(MailMessage)
            .where(MailMessage.key.startswith(f"spending-{request_id}-"))
            .order_by(MailMessage.id)
        )
        return [(row.to_address, row.subject) for row in rows]


def test_a_members_request_endorsed_then_approved_is_booked_once_as_payable(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    assert fund_balance(rt, "Twisted") == Decimal("900.00")
    request_id = file(rt, people["member"], asked())
    assert status(rt, request_id) is RequestStatus.FILED
    assert entry_count(rt, "spending-") == 0  # filing books nothing
    endorse(rt, people["treasurer"], request_id)
    assert status(rt, request_id) is RequestStatus.ENDORSED
    assert entry_count(rt, "spending-") == 0
    approve(rt, people["bookkeeper"], request_id)

    assert status(rt, request_id) is RequestStatus.APPROVED
    assert postings(rt, f"spending-{request_id}") == {
        "Expenses:Twisted:Travel": Decimal("120.00"),
        "Expenses:Twisted:Meals": Decimal("30.00"),
        "Liabilities:Payable:Twisted": Decimal("-150.00"),
    }
    # The fund's balance counts what is committed; the sponsor owes it until paid.
    assert fund_balance(rt, "Twisted") == Decimal("750.00")
    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        assert spending.committed(session, twisted) == usd("150.00")
    assert_books_clean(rt)
    # Deciding again books nothing more.
    with pytest.raises(spending.RequestRefused, match="nothing left to decide"):
        approve(rt, people["admin"], request_id)
    assert entry_count(rt, "spending-") == 1
    grace = "grace@twisted.example"
    assert mails(rt, request_id) == [
        (grace, f"REQ-{request_id} (Twisted): filed"),
        (grace, f"REQ-{request_id} (Twisted): endorsed"),
        (grace, f"REQ-{request_id} (Twisted): approved"),
    ]
    with rt.sessions() as session:
        actions = session.scalars(
            select(AuditEntry.action)
            .where(AuditEntry.target_id == str(request_id))
            .where(AuditEntry.action.startswith("spending."))
            .order_by(AuditEntry.id)
        ).all()
    assert actions == ["spending.filed", "spending.endorsed", "spending.approved"]


def test_a_request_over_policy_is_refused_by_the_line_and_nothing_is_written(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    wanted = asked(
        line("Travel", "75.00"),  # 75.00 or more: a receipt
        line("Lodging", "40.00", description="Hostel"),  # lodging: a receipt at any amount
        line("Meals", "20.00", spent_on=TODAY - timedelta(days=61)),  # too late
        line("Meals", "0.00"),
        line("meals!", "12.00"),
        line("Meals", "12.00", spent_on=TODAY + timedelta(days=1)),
        line("Supplies", "12.00", receipt=b"MZ\x90\x00 not a receipt"),
        line("", None, None, description=""),  # a blank row is no line
        purpose="  ",
    )
    with pytest.raises(spending.RequestRefused) as refused:
        file(rt, people["member"], wanted)

    found = {(p.line, p.field): p.message for p in refused.value.problems}
    assert found == {
        (None, "purpose"): "Give the business purpose: what the spending was for.",
        (0, "receipt"): "Attach the receipt: a line of $75.00 or more needs its receipt.",
        (1, "receipt"): "Attach the receipt: lodging needs its receipt, whatever it cost.",
        (2, "spent_on"): (
            "This was spent on 2026-01-08: requests must come within 60 days of the expense. "
            "Ask the sponsor's staff."
        ),
        (3, "amount"): "An amount is more than zero.",
        (4, "category"): (
            "A category is one word of the books' accounts: a capital letter, then letters, "
            "digits or dashes, such as Travel or Web-Hosting."
        ),
        (5, "spent_on"): "Ask to be paid back once you have spent it.",
        (6, "receipt"): "This file is not a PDF, PNG or JPEG, whatever its name says.",
    }
    with rt.sessions() as session:
        assert session.scalar(select(func.count()).select_from(SpendingRequest)) == 0
        assert (
            session.scalar(
                select(func.count())
                .select_from(MailMessage)
                .where(MailMessage.key.startswith("spending-"))
            )
            == 0
        )
    assert not (rt.settings.receipts_dir / "requests").exists()


def test_receipts_are_kept_by_their_bytes_and_an_invoice_needs_its_file(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    photo = image("JPEG")
    request_id = file(rt, people["member"], asked(line(receipt=photo), line("Meals", "9.50")))
    with rt.sessions() as session:
        request = session.get(SpendingRequest, request_id)
        assert request is not None
        kept = [(ln.receipt_type, ln.receipt_path) for ln in request.lines]
    assert kept[0][0] == "image/jpeg"
    assert kept[1] == (None, None)
    assert kept[0][1] is not None
    assert (rt.settings.receipts_dir / kept[0][1]).read_bytes() == photo

    with pytest.raises(spending.RequestRefused, match="Attach the invoice"):
        file(
            rt,
            people["member"],
            asked(line("Contractors", "50.00"), kind=RequestKind.INVOICE, payee="Hopper LLC"),
        )


def test_nobody_decides_their_own_request_and_a_treasurers_goes_to_the_sponsor(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    own = file(rt, people["treasurer"], asked(payee="Glyph"))
    with pytest.raises(spending.NotYours, match="Nobody approves their own request"):
        endorse(rt, people["treasurer"], own)
    with rt.sessions() as session:
        waiting = [r.id for r in spending.awaiting_sponsor(session)]
    assert waiting == [own]  # no other treasurer: the sponsor's staff decide it
    approve(rt, people["admin"], own)
    assert status(rt, own) is RequestStatus.APPROVED

    members = file(rt, people["member"], asked())
    with rt.sessions() as session:
        assert members not in [r.id for r in spending.awaiting_sponsor(session)]
    with pytest.raises(spending.RequestRefused, match="treasurer decides it first"):
        approve(rt, people["admin"], members)


def test_a_project_is_closed_to_another_projects_people(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    with pytest.raises(spending.NotYours):
        file(rt, people["other_member"], asked())
    with pytest.raises(spending.NotYours):
        file(rt, people["auditor"], asked())  # the sponsor's staff do not file for projects
    mine = file(rt, people["member"], asked())
    glyphs = file(rt, people["treasurer"], asked(payee="Glyph"))
    with pytest.raises(spending.NotYours, match="Only the project's treasurer"):
        endorse(rt, people["other_treasurer"], mine)
    with pytest.raises(spending.NotYours, match="Only admins and bookkeepers"):
        approve(rt, people["auditor"], glyphs)
    with rt.sessions() as session:
        twisted = session.scalars(select(Project).where(Project.slug == "twisted")).one()
        for outsider in ("other_member", "other_treasurer"):
            with pytest.raises(NotFound):
                spending.get_request(session, people[outsider], twisted, mine)
        with pytest.raises(NotFound):  # a member sees only their own
            spending.get_request(session, people["member"], twisted, glyphs)
        assert [r.id for r in spending.requests_for(session, people["member"], twisted)] == [mine]
        assert [r.id for r in spending.requests_for(session, people["treasurer"], twisted)] == [
            glyphs,
            mine,
        ]


def test_above_the_threshold_two_people_approve(rt: Runtime, people: dict[str, Staff]) -> None:
    policy = SpendingPolicy(two_approvals_above=usd("100.00"))
    request_id = file(rt, people["member"], asked())  # 150.00
    endorse(rt, people["treasurer"], request_id)
    approve(rt, people["bookkeeper"], request_id, policy)
    assert status(rt, request_id) is RequestStatus.ENDORSED
    assert entry_count(rt, "spending-") == 0
    with pytest.raises(spending.RequestRefused, match="A second person must approve"):
        approve(rt, people["bookkeeper"], request_id, policy)
    approve(rt, people["admin"], request_id, policy)
    assert status(rt, request_id) is RequestStatus.APPROVED
    assert entry_count(rt, "spending-") == 1


def test_a_fund_commits_no_more_than_it_holds_counting_what_is_approved_unpaid(
    rt: Runtime, people: dict[str, Staff]
) -> None:
    big = asked(line("Hardware", "800.00", receipt=pdf(), description="A server"))
    first = file(rt, people["member"], big)
    second = file(rt, people["member"], asked(line("Hardware", "150.00", receipt=pdf())))
    endorse(rt, people["treasurer"], first)
    endorse(rt, people["treasurer"], second)
    approve(rt, people["admin"], first)
    with pytest.raises(spending.RequestRefused) as refused:
        approve(rt, people["admin"], second)
    assert str(refused.value) == (
        "The Twisted fund holds $100.00, counting what is approved and not yet paid; "
        "it cannot commit $150.00."
    )
    assert status(rt, second) is RequestStatus.ENDORSED
    assert fund_balance(rt, "Twisted") == Decimal("100.00")


def test_a_rejection_says_why_and_books_nothing(rt: Runtime, people: dict[str, Staff]) -> None:
    by_project = file(rt, people["member"], asked())
    with pytest.raises(spending.RequestRefused, match="Say why"):
        endorse(rt, people["treasurer"], by_project, yes=False, comment=" ")
    endorse(rt, people["treasurer"], by_project, yes=False, comment="Not in this year's budget.")
    assert status(rt, by_project) is RequestStatus.REJECTED

    by_sponsor = file(rt, people["member"], asked())
    endorse(rt, people["treasurer"], by_sponsor)
    with rt.sessions() as session:
        request = session.get(SpendingRequest, by_sponsor)
        assert request is not None
        spending.reject(session, people["bookkeeper"], request, comment="Receipt unreadable.")
        session.commit()
    assert status(rt, by_sponsor) is RequestStatus.REJECTED
    assert entry_count(rt, "spending-") == 0
    assert fund_balance(rt, "Twisted") == Decimal("900.00")
    assert mails(rt, by_sponsor)[-1] == (
        "grace@twisted.example",
        f"REQ-{by_sponsor} (Twisted): rejected",
    )
    with rt.sessions() as session:
        body = session.scalars(
            select(MailMessage.body).where(MailMessage.key == f"spending-{by_sponsor}-rejected")
        ).one()
    assert "Comment: Receipt unreadable." in body
