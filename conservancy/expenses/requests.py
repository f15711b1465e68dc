"""Spending requests: asking to be paid from a project's fund, and deciding.

A member or treasurer of a project files a request (a reimbursement, with receipts, or an
invoice for work), checked at filing against the accountable-plan policy in the settings
(``SpendingPolicy``): a business purpose; a receipt for every line of ``receipt_from`` or
more and for every lodging line; every expense no older than ``max_age_days``. Each problem
is reported by its line, and nothing is written while there is one.

Then two decisions, each by someone other than the requester:

1. the project's treasurer endorses or rejects it (a treasurer's own request goes to the
   sponsor's staff directly: nobody approves their own);
2. the sponsor's staff (admins and bookkeepers) approve or reject it; above
   ``two_approvals_above``, two different people must approve.

The sponsor's approval books the request once, ref ``spending-<id>``: each line to
``Expenses:<Fund>:<Category>`` against ``Liabilities:Payable:<Fund>``. So the fund's balance
drops when the money is committed, and a fund cannot commit more than it holds: the
balance, counting what is approved and not yet paid, is checked with the project's row
locked, as for staff expenses (``expenses.service``). Every step goes to the audit log and
is mailed to the requester.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from conservancy.expenses.models import (
    RequestKind,
    RequestStatus,
    SpendingLine,
    SpendingRequest,
)
from conservancy.expenses.service import (
    ExpenseRefused,
    available,
    check_category,
    check_invoice,
)
from conservancy.infra.config import SpendingPolicy
from conservancy.kernel import clock, uploads
from conservancy.kernel.errors import DomainError, NotFound
from conservancy.ledger import accounts
from conservancy.ledger.books import Books
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.outbox import record
from conservancy.mail.outbox import queue
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import open_accounts, opened_on
from conservancy.receipts.issue import store
from conservancy.staff import audit
from conservancy.staff.models import StaffUser
from conservancy.staff.permissions import (
    Area,
    Staff,
    can_change,
    can_file_requests,
    can_see_project,
    decides_for_project,
)

PAYEE_LIMIT = 200
PURPOSE_LIMIT = 2000
DESCRIPTION_LIMIT = 300
COMMENT_LIMIT = 2000
MAX_LINES = 50
# A line in a category of this name (Lodging, Travel-Lodging) is lodging, which needs its
# receipt whatever it cost (Treas. Reg. 1.274-5(c)(2)(iii)).
LODGING = "lodging"


@dataclass(frozen=True)
class Problem:
    """Why a request cannot be filed or decided: ``field`` names the form field (``line``,
    counted from 0, for a field of a line), ``message`` says what to do."""

    field: str
    message: str
    line: int | None = None


class RequestRefused(DomainError):
    """What keeps a request from being filed or decided; nothing was written."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(" ".join(p.message for p in problems))
        self.problems = problems


class NotYours(DomainError):
    """The signed-in user may not do this to this request."""

    http_status = 403


@dataclass(frozen=True)
class LineAsked:
    category: str
    description: str
    spent_on: date | None
    amount: Money | None
    receipt: bytes | None = None  # the file as uploaded; None or empty: none given


@dataclass(frozen=True)
class RequestAsked:
    kind: RequestKind
    payee: str
    purpose: str
    lines: tuple[LineAsked, ...]


def is_lodging(category: str) -> bool:
    return LODGING in category.lower()


def needs_receipt(line: LineAsked, policy: SpendingPolicy) -> bool:
    """A receipt for lodging, and for any amount of ``receipt_from`` or more (or in another
    currency than the policy's, where the two cannot be compared)."""
    if is_lodging(line.category):
        return True
    if line.amount is None:
        return False
    threshold = policy.receipt_from
    return line.amount.currency is not threshold.currency or line.amount >= threshold


def file_request(
    session: Session,
    staff: Staff,
    project: Project,
    asked: RequestAsked,
    *,
    policy: SpendingPolicy,
    receipts_dir: Path,
    tz: ZoneInfo,
) -> SpendingRequest:
    """File ``asked`` for ``staff`` against the project's fund; flushes.

    Raises RequestRefused with every problem found, by field and line; NotYours when
    ``staff`` is no member or treasurer of the project.
    """
    if not can_file_requests(staff, project):
        raise NotYours("Only the project's members and treasurers file its requests.")
    today = clock.today(tz)
    currency = Currency(project.currency)
    problems: list[Problem] = []
    payee = " ".join(asked.payee.split())
    if not payee:
        problems.append(Problem("payee", "Say whom to pay: your name, or your company's."))
    elif len(payee) > PAYEE_LIMIT:
        problems.append(Problem("payee", f"A payee is at most {PAYEE_LIMIT} characters."))
    purpose = asked.purpose.strip()
    if not purpose:
        problems.append(Problem("purpose", "Give the business purpose: what the spending was for."))
    elif len(purpose) > PURPOSE_LIMIT:
        problems.append(Problem("purpose", f"A purpose is at most {PURPOSE_LIMIT} characters."))
    lines = [line for line in asked.lines if _given(line)]
    if not lines:
        problems.append(Problem("lines", "Add at least one line: what was spent, and when."))
    if len(lines) > MAX_LINES:
        problems.append(Problem("lines", f"A request has at most {MAX_LINES} lines."))
    kinds: list[uploads.Kind | None] = []
    for n, line in enumerate(asked.lines):
        if not _given(line):
            kinds.append(None)
            continue
        found, kind = _line_problems(line, n, currency, policy, today)
        problems += found
        kinds.append(kind)
    if asked.kind is RequestKind.INVOICE and not any(kinds):
        problems.append(Problem("lines", "Attach the invoice to one of its lines."))
    if problems:
        raise RequestRefused(problems)
    total = sum((line.amount.minor for line in lines if line.amount), 0)
    request = SpendingRequest(
        project=project,
        fund=project.fund,
        requester_id=staff.id,
        kind=asked.kind,
        status=RequestStatus.FILED,
        payee=payee,
        purpose=purpose,
        total_minor=total,
        currency=currency.value,
        filed_on=today,
        comment="",
    )
    files: list[tuple[str, bytes]] = []
    for position, (line, kind) in enumerate(
        ((line, kind) for line, kind in zip(asked.lines, kinds, strict=True) if _given(line)),
        start=1,
    ):
        assert line.amount is not None  # checked above
        assert line.spent_on is not None
        path = None
        if kind is not None and line.receipt:
            digest = hashlib.sha256(line.receipt).hexdigest()
            path = f"requests/{today.year}/{digest}.{kind.extension}"
            files.append((path, line.receipt))
        request.lines.append(
            SpendingLine(
                position=position,
                category=line.category.strip(),
                description=" ".join(line.description.split()) or line.category.strip(),
                spent_on=line.spent_on,
                amount_minor=line.amount.minor,
                receipt_path=path,
                receipt_type=kind.content_type if kind is not None else None,
            )
        )
    session.add(request)
    session.flush()
    audit.record(
        session,
        staff,
        "spending.filed",
        ("spending_request", request.id),
        after=_state(request),
    )
    tell_requester(
        session, request, "filed", f"{request.number} is filed: {project.name} will decide."
    )
    for path, data in files:  # the files last: whatever refused the request has by now
        store(receipts_dir, path, data)
    return request


def _given(line: LineAsked) -> bool:
    """Whether a line of the form was filled in at all (a blank row is no line)."""
    return bool(
        line.category.strip()
        or line.description.strip()
        or line.amount is not None
        or line.spent_on is not None
        or line.receipt
    )


def _line_problems(
    line: LineAsked, n: int, currency: Currency, policy: SpendingPolicy, today: date
) -> tuple[list[Problem], uploads.Kind | None]:
    problems: list[Problem] = []
    try:
        check_category(line.category)
    except ExpenseRefused as refused:
        problems.append(Problem("category", str(refused), n))
    if len(" ".join(line.description.split())) > DESCRIPTION_LIMIT:
        problems.append(
            Problem("description", f"A description is at most {DESCRIPTION_LIMIT} characters.", n)
        )
    if line.amount is None:
        problems.append(Problem("amount", "Give the amount spent.", n))
    elif line.amount.currency is not currency:
        problems.append(Problem("amount", f"The fund is kept in {currency}.", n))
    elif line.amount.minor <= 0:
        problems.append(Problem("amount", "An amount is more than zero.", n))
    if line.spent_on is None:
        problems.append(Problem("spent_on", "Give the day the money was spent.", n))
    elif line.spent_on > today:
        problems.append(Problem("spent_on", "Ask to be paid back once you have spent it.", n))
    elif line.spent_on < today - timedelta(days=policy.max_age_days):
        problems.append(
            Problem(
                "spent_on",
                f"This was spent on {line.spent_on.isoformat()}: requests must come within "
                f"{policy.max_age_days} days of the expense. Ask the sponsor's staff.",
                n,
            )
        )
    kind = None
    if line.receipt:
        try:
            kind = check_invoice(line.receipt, "receipt")  # the rules of staff's invoices
        except ExpenseRefused as refused:
            problems.append(Problem("receipt", str(refused), n))
    elif needs_receipt(line, policy):
        why = (
            "lodging needs its receipt, whatever it cost"
            if is_lodging(line.category)
            else f"a line of {policy.receipt_from.format()} or more needs its receipt"
        )
        problems.append(Problem("receipt", f"Attach the receipt: {why}.", n))
    return problems, kind


# -- deciding -----------------------------------------------------------------------------


def endorse(
    session: Session, staff: Staff, request: SpendingRequest, *, approve: bool, comment: str
) -> SpendingRequest:
    """The project's decision, by one of its treasurers other than the requester."""
    if not decides_for_project(staff, request.project_id):
        raise NotYours("Only the project's treasurer decides for it.")
    if staff.id == request.requester_id:
        raise NotYours("Nobody approves their own request: the sponsor's staff will decide it.")
    _must_be(request, RequestStatus.FILED)
    comment = _comment(comment, needed=not approve)
    before = _state(request)
    request.decided_at, request.comment = clock.now(), comment
    if approve:
        request.status = RequestStatus.ENDORSED
        request.endorsed_by, request.endorsed_at = staff.id, request.decided_at
    else:
        request.status, request.rejected_by = RequestStatus.REJECTED, staff.id
    session.flush()
    audit.record(
        session,
        staff,
        "spending.endorsed" if approve else "spending.rejected",
        ("spending_request", request.id),
        before=before,
        after=_state(request),
    )
    name = request.project.name
    tell_requester(
        session,
        request,
        request.status.value,
        f"{name} approved {request.number}; the sponsor's staff decide next."
        if approve
        else f"{name} did not approve {request.number}.",
    )
    return request


def sponsor_may_decide(request: SpendingRequest, treasurers: frozenset[int]) -> bool:
    """Whether the sponsor's staff decide it now: once the project endorsed it, or at once
    when the requester is a treasurer of the project (``treasurers``: their user ids)."""
    if request.status is RequestStatus.ENDORSED:
        return True
    return request.status is RequestStatus.FILED and request.requester_id in treasurers


def approve(
    session: Session,
    staff: Staff,
    request: SpendingRequest,
    *,
    policy: SpendingPolicy,
    books: Books,
    tz: ZoneInfo,
) -> SpendingRequest:
    """The sponsor's approval: books the request as payable, once; or, above the policy's
    threshold, the first of two approvals. Raises RequestRefused or NotYours."""
    _sponsor_checks(session, staff, request)
    before = _state(request)
    if _needs_two(request, policy) and request.first_approved_by is None:
        request.first_approved_by = staff.id
        session.flush()
        audit.record(
            session,
            staff,
            "spending.first-approval",
            ("spending_request", request.id),
            before=before,
            after=_state(request),
        )
        return request
    if request.first_approved_by == staff.id:
        raise RequestRefused(
            [Problem("decision", "A second person must approve a request of this size.")]
        )
    project = request.project
    session.refresh(project, with_for_update=True)  # one commitment of a fund at a time
    currency = Currency(request.currency)
    left = available(session, books, request.fund, currency)
    if request.total > left:
        raise RequestRefused(
            [
                Problem(
                    "decision",
                    f"The {project.name} fund holds {left.format()}, counting what is "
                    f"approved and not yet paid; it cannot commit {request.total.format()}.",
                )
            ]
        )
    opened = opened_on(session, accounts.donations(request.fund))
    if opened is None:
        raise RequestRefused(
            [Problem("decision", f"The books have no accounts for {project.name} yet.")]
        )
    today = clock.today(tz)
    payable = accounts.payable(request.fund)
    open_accounts(session, sorted({line.account for line in request.lines}), opened)
    open_accounts(session, [payable], opened)
    postings = [Posting(line.account, line.amount) for line in request.lines]
    record(
        session,
        Transaction(
            ref=request.ref,
            date=today,
            payee=request.payee,
            narration=f"{request.number}: {request.purpose}",
            postings=(*postings, Posting(payable, -request.total)),
            meta={"request": request.number},
        ),
    )
    request.status, request.approved_by, request.approved_on = (
        RequestStatus.APPROVED,
        staff.id,
        today,
    )
    request.decided_at = clock.now()
    session.flush()
    audit.record(
        session,
        staff,
        "spending.approved",
        ("spending_request", request.id),
        before=before,
        after=_state(request),
    )
    tell_requester(
        session,
        request,
        "approved",
        f"{request.number} is approved for {request.total.format()}; "
        "you will hear again when it is paid.",
    )
    return request


def reject(
    session: Session, staff: Staff, request: SpendingRequest, *, comment: str
) -> SpendingRequest:
    """The sponsor's rejection, with the reason."""
    _sponsor_checks(session, staff, request)
    comment = _comment(comment, needed=True)
    before = _state(request)
    request.status, request.rejected_by = RequestStatus.REJECTED, staff.id
    request.decided_at, request.comment = clock.now(), comment
    session.flush()
    audit.record(
        session,
        staff,
        "spending.rejected",
        ("spending_request", request.id),
        before=before,
        after=_state(request),
    )
    tell_requester(session, request, "rejected", f"{request.number} was not approved.")
    return request


def _sponsor_checks(session: Session, staff: Staff, request: SpendingRequest) -> None:
    if not can_change(staff, Area.SPENDING):
        raise NotYours("Only admins and bookkeepers decide for the sponsor.")
    if staff.id == request.requester_id:
        raise NotYours("Nobody approves their own request: another of the staff must.")
    if not sponsor_may_decide(request, treasurer_ids(session, request.project_id)):
        raise RequestRefused(
            [
                Problem(
                    "decision",
                    f"{request.number} is {request.status.value}: "
                    + (
                        "the project's treasurer decides it first."
                        if request.status is RequestStatus.FILED
                        else "there is nothing left to decide."
                    ),
                )
            ]
        )


def _needs_two(request: SpendingRequest, policy: SpendingPolicy) -> bool:
    threshold = policy.two_approvals_above
    return request.total.currency is not threshold.currency or request.total > threshold


def _must_be(request: SpendingRequest, status: RequestStatus) -> None:
    if request.status is not status:
        raise RequestRefused(
            [
                Problem(
                    "decision",
                    f"{request.number} is {request.status.value}: there is nothing to decide.",
                )
            ]
        )


def _comment(text: str, *, needed: bool) -> str:
    comment = text.strip()
    if needed and not comment:
        raise RequestRefused([Problem("comment", "Say why, for the requester.")])
    if len(comment) > COMMENT_LIMIT:
        raise RequestRefused(
            [Problem("comment", f"A comment is at most {COMMENT_LIMIT} characters.")]
        )
    return comment


# -- reading ------------------------------------------------------------------------------


def treasurer_ids(session: Session, project_id: int) -> frozenset[int]:
    from conservancy.staff.models import Role, StaffRole

    return frozenset(
        session.scalars(
            select(StaffRole.user_id).where(
                StaffRole.role == Role.TREASURER, StaffRole.project_id == project_id
            )
        )
    )


def requests_for(session: Session, staff: Staff, project: Project) -> list[SpendingRequest]:
    """The project's requests ``staff`` may see: every one for its treasurers and the
    sponsor's staff, their own for a member. Newest first."""
    query = (
        select(SpendingRequest)
        .where(SpendingRequest.project_id == project.id)
        .options(selectinload(SpendingRequest.lines), selectinload(SpendingRequest.requester))
        .order_by(SpendingRequest.id.desc())
    )
    if not can_see_project(staff, project):
        query = query.where(SpendingRequest.requester_id == staff.id)
    return list(session.scalars(query))


def get_request(
    session: Session, staff: Staff, project: Project, request_id: int
) -> SpendingRequest:
    """One request of the project, if ``staff`` may see it; NotFound otherwise (another's
    request is as absent to a member as one that does not exist)."""
    found = session.get(SpendingRequest, request_id)
    if found is None or found.project_id != project.id:
        raise NotFound("There is no such request.")
    if found.requester_id != staff.id and not can_see_project(staff, project):
        raise NotFound("There is no such request.")
    return found


def awaiting_sponsor(session: Session) -> list[SpendingRequest]:
    """Requests the sponsor's staff decide now, oldest first."""
    candidates = session.scalars(
        select(SpendingRequest)
        .where(SpendingRequest.status.in_([RequestStatus.FILED, RequestStatus.ENDORSED]))
        .options(selectinload(SpendingRequest.project), selectinload(SpendingRequest.lines))
        .order_by(SpendingRequest.id)
    )
    treasurers: dict[int, frozenset[int]] = {}  # by project: asked once each
    waiting = []
    for request in candidates:
        if request.project_id not in treasurers:
            treasurers[request.project_id] = treasurer_ids(session, request.project_id)
        if sponsor_may_decide(request, treasurers[request.project_id]):
            waiting.append(request)
    return waiting


def committed(session: Session, project: Project) -> Money:
    """What the fund has approved and not yet paid."""
    currency = Currency(project.currency)
    total = sum(
        session.scalars(
            select(SpendingRequest.total_minor).where(
                SpendingRequest.project_id == project.id,
                SpendingRequest.status == RequestStatus.APPROVED,
                SpendingRequest.currency == currency.value,
            )
        ),
        0,
    )
    return Money.from_minor(total, currency)


@dataclass(frozen=True)
class Summary:
    """A project's requests at a glance, for its treasurer's dashboard."""

    filed: int  # waiting for the project's decision
    endorsed: int  # waiting for the sponsor's
    committed: Money  # approved, not yet paid


def summary(session: Session, project: Project) -> Summary:
    rows = session.execute(
        select(SpendingRequest.status, func.count())
        .where(SpendingRequest.project_id == project.id)
        .group_by(SpendingRequest.status)
    ).all()
    counts: dict[RequestStatus, int] = {row[0]: row[1] for row in rows}
    return Summary(
        filed=counts.get(RequestStatus.FILED, 0),
        endorsed=counts.get(RequestStatus.ENDORSED, 0),
        committed=committed(session, project),
    )


def _state(request: SpendingRequest) -> dict[str, object]:
    """What the audit log keeps of a request: no file contents, no bank details."""
    return {
        "number": request.number,
        "fund": request.fund,
        "status": request.status.value,
        "kind": request.kind.value,
        "payee": request.payee,
        "total": str(request.total),
        "lines": len(request.lines),
        "comment": request.comment,
    }


def tell_requester(session: Session, request: SpendingRequest, step: str, first_line: str) -> None:
    """Mail the requester what happened (once per request and step)."""
    requester = session.get(StaffUser, request.requester_id)
    if requester is None:
        return
    body = [first_line, ""]
    body.append(f"Request: {request.number}, {request.kind.value}, to {request.payee}")
    body.append(f"Project: {request.project.name}")
    body.append(f"Total: {request.total.format()}")
    body.append(f"Purpose: {request.purpose}")
    if request.comment:
        body += ["", f"Comment: {request.comment}"]
    queue(
        session,
        key=f"spending-{request.id}-{step}",
        to_address=requester.email,
        to_name=requester.name,
        subject=f"{request.number} ({request.project.name}): {step}",
        body="\n".join(body) + "\n",
    )
