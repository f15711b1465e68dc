"""Paying approved spending requests, in runs: prepared, handed to the bank, marked paid.

A run takes approved requests not yet in a run, all paid one way (ACH, cheque or wire), each
requester's payment details saying so (conservancy.expenses.payees: a contractor is never
paid before their W-9). What goes to the bank: for ACH the NACHA file
(conservancy.expenses.nacha) from the sponsor's bank (CONSERVANCY_WIRE_*) to each payee's
account; for cheques a register with their numbers; for wires a sheet of instructions.

Marking the run paid books each request's payment once, ref ``spending-<id>-paid``:
``Liabilities:Payable:<Fund>`` against ``Assets:Bank:Checking``, on the day paid; the
requester is mailed. A run is marked paid once (its row locked), and a request is in one run.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from conservancy.expenses import nacha
from conservancy.expenses.models import (
    PaymentDetails,
    PaymentRun,
    PayMethod,
    RequestKind,
    RequestStatus,
    SpendingRequest,
    TaxClass,
)
from conservancy.expenses.payees import PayeeKeys, details_of
from conservancy.expenses.requests import NotYours, Problem, RequestRefused, tell_requester
from conservancy.infra.config import WireInstructions
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.ledger.outbox import record
from conservancy.money import Currency, Money
from conservancy.projects.service import get_sponsor
from conservancy.staff import audit
from conservancy.staff.permissions import Area, Staff, can_change


def due(session: Session) -> list[SpendingRequest]:
    """Approved requests in no run yet, oldest first."""
    return list(
        session.scalars(
            select(SpendingRequest)
            .where(
                SpendingRequest.status == RequestStatus.APPROVED,
                SpendingRequest.payment_run_id.is_(None),
            )
            .options(selectinload(SpendingRequest.project), selectinload(SpendingRequest.lines))
            .order_by(SpendingRequest.id)
        )
    )


def prepare_run(
    session: Session, staff: Staff, method: PayMethod, request_ids: list[int]
) -> PaymentRun:
    """A run of ``request_ids`` paid by ``method``; flushes. Raises RequestRefused naming
    each request that cannot go in it, writing nothing."""
    if not can_change(staff, Area.SPENDING):
        raise NotYours("Only admins and bookkeepers pay requests.")
    if not request_ids:
        raise RequestRefused([Problem("requests", "Choose the requests to pay.")])
    found = session.scalars(
        select(SpendingRequest)
        .where(SpendingRequest.id.in_(request_ids))
        .order_by(SpendingRequest.id)
        .with_for_update()
    ).all()
    problems: list[Problem] = []
    if len(found) != len(set(request_ids)):
        problems.append(Problem("requests", "One of the requests chosen does not exist."))
    for request in found:
        if request.status is not RequestStatus.APPROVED or request.payment_run_id is not None:
            problems.append(
                Problem("requests", f"{request.number} is not approved and waiting to be paid.")
            )
            continue
        if request.currency != Currency.USD.value:
            problems.append(
                Problem("requests", f"{request.number} is in {request.currency}: pay it by hand.")
            )
        details = details_of(session, request.requester_id)
        if details is None:
            problems.append(
                Problem(
                    "requests",
                    f"{request.number}: the requester has not given their payment details "
                    "and W-9 yet.",
                )
            )
        elif details.method is not method:
            problems.append(
                Problem(
                    "requests",
                    f"{request.number}: the requester is paid by {details.method.value}, "
                    f"not {method.value}.",
                )
            )
    if problems:
        raise RequestRefused(problems)
    run = PaymentRun(method=method, prepared_by=staff.id)
    session.add(run)
    session.flush()
    for request in found:
        request.payment_run_id = run.id
    session.flush()
    audit.record(
        session,
        staff,
        "payment-run.prepared",
        ("payment_run", run.id),
        after={"method": method.value, "requests": [r.number for r in found]},
    )
    return run


def mark_paid(
    session: Session,
    staff: Staff,
    run: PaymentRun,
    *,
    paid_on: date,
    tz: ZoneInfo,
    first_cheque: int | None = None,
) -> PaymentRun:
    """Book every request of the run as paid on ``paid_on``, once; cheques are numbered
    from ``first_cheque``. Raises RequestRefused, writing nothing."""
    if not can_change(staff, Area.SPENDING):
        raise NotYours("Only admins and bookkeepers pay requests.")
    session.refresh(run, with_for_update=True)  # two clicks of "paid" book it once
    if run.paid_on is not None:
        raise RequestRefused([Problem("run", f"{run.number} was marked paid already.")])
    if run.method is PayMethod.CHEQUE and (first_cheque is None or first_cheque <= 0):
        raise RequestRefused(
            [Problem("first_cheque", "Give the number of the first cheque written.")]
        )
    if not run.requests:
        raise RequestRefused([Problem("run", f"{run.number} holds no request.")])
    if paid_on > clock.today(tz):
        raise RequestRefused(
            [Problem("paid_on", "Mark a run paid once it is paid: not after today.")]
        )
    for n, request in enumerate(run.requests):
        if request.approved_on is not None and paid_on < request.approved_on:
            raise RequestRefused(
                [Problem("paid_on", f"{request.number} was approved after {paid_on}.")]
            )
        request.status, request.paid_on = RequestStatus.PAID, paid_on
        if first_cheque is not None and run.method is PayMethod.CHEQUE:
            request.cheque_number = first_cheque + n
        memo = f" cheque {request.cheque_number}" if request.cheque_number else ""
        record(
            session,
            Transaction(
                ref=request.paid_ref,
                date=paid_on,
                payee=request.payee,
                narration=f"{request.number} paid by {run.method.value}{memo}",
                postings=(
                    Posting(accounts.payable(request.fund), request.total),
                    Posting(accounts.CHECKING, -request.total),
                ),
                meta={"request": request.number, "payment-run": run.number},
            ),
        )
        tell_requester(
            session,
            request,
            "paid",
            f"{request.number} is paid: {request.total.format()} by {run.method.value}"
            f"{memo}, on {paid_on.isoformat()}.",
        )
    run.paid_on, run.paid_by = paid_on, staff.id
    session.flush()
    audit.record(
        session,
        staff,
        "payment-run.paid",
        ("payment_run", run.id),
        after={"paid_on": paid_on.isoformat(), "requests": [r.number for r in run.requests]},
    )
    return run


# -- what goes to the bank ----------------------------------------------------------------


def ach_file(
    session: Session,
    run: PaymentRun,
    *,
    keys: PayeeKeys,
    bank: WireInstructions | None,
    created_at: datetime,
    effective_on: date,
) -> str:
    """The run's NACHA file: one credit per requester (their requests added up), from the
    sponsor's bank. Raises RequestRefused when the sponsor's bank is not configured."""
    if run.method is not PayMethod.ACH:
        raise RequestRefused([Problem("run", f"{run.number} is not paid by ACH.")])
    sponsor = get_sponsor(session)
    if bank is None or sponsor is None:
        raise RequestRefused(
            [
                Problem(
                    "run",
                    "Set the sponsor's bank (CONSERVANCY_WIRE_BANK, _ROUTING_NUMBER and "
                    "_ACCOUNT_NUMBER) to write an ACH file.",
                )
            ]
        )
    originator = nacha.Originator(
        routing_number=bank.routing_number,
        bank_name=bank.bank.splitlines()[0] if bank.bank else "",
        company_name=sponsor.legal_name,
        company_id="1" + sponsor.ein.replace("-", ""),
    )
    credits = []
    for requester_id, requests in _by_requester(run).items():
        details = details_of(session, requester_id)
        assert details is not None  # checked when the run was prepared
        assert details.routing_number is not None
        assert details.account_sealed is not None
        credits.append(
            nacha.Credit(
                identification=requests[0].number if len(requests) == 1 else run.number,
                name=details.legal_name,
                payee=_payee_kind(details),
                routing_number=details.routing_number,
                account_number=keys.open(details.account_sealed),
                account_type=nacha.AccountType(details.account_type or "checking"),
                amount=sum(r.total_minor for r in requests),
            )
        )
    return nacha.ach_file(originator, credits, created_at=created_at, effective_on=effective_on)


def wire_instructions(session: Session, run: PaymentRun, *, keys: PayeeKeys) -> str:
    """The run's wires as the bookkeeper enters them at the bank: for each payee, the amount,
    their legal name and address, their bank's routing number and their whole account
    number, and the reference to quote (the request numbers)."""
    if run.method is not PayMethod.WIRE:
        raise RequestRefused([Problem("run", f"{run.number} is not paid by wire.")])
    blocks = [f"{run.number}: wires to send"]
    for requester_id, requests in _by_requester(run).items():
        details = details_of(session, requester_id)
        assert details is not None  # checked when the run was prepared
        amount = sum(r.total_minor for r in requests)
        account = keys.open(details.account_sealed) if details.account_sealed else "(none on file)"
        blocks.append(
            "\n".join(
                [
                    f"Amount: {Money.from_minor(amount, Currency.USD).format()} USD",
                    f"Beneficiary: {details.legal_name}",
                    *(f"  {line}" for line in details.address.splitlines()),
                    f"Routing number (ABA): {details.routing_number or '(none on file)'}",
                    f"Account number: {account}",
                    f"Reference: {', '.join(r.number for r in requests)}",
                ]
            )
        )
    return "\n\n".join(blocks) + "\n"


def register_csv(session: Session, run: PaymentRun) -> str:
    """The run as a list the bookkeeper works from: for cheques the register (number,
    payee, address, amount, memo), for wires and ACH the same with the account's last four
    digits. No whole account number is written here."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["run", "method", "cheque", "request", "project", "payee", "address", "account", "amount"]
    )
    for request in run.requests:
        details = details_of(session, request.requester_id)
        writer.writerow(
            [
                run.number,
                run.method.value,
                request.cheque_number or "",
                request.number,
                request.project.name,
                details.legal_name if details else request.payee,
                " / ".join(details.address.splitlines()) if details else "",
                f"ending {details.account_last4}" if details and details.account_last4 else "",
                str(request.total.amount),
            ]
        )
    return out.getvalue()


def _by_requester(run: PaymentRun) -> dict[int, list[SpendingRequest]]:
    grouped: dict[int, list[SpendingRequest]] = defaultdict(list)
    for request in run.requests:
        grouped[request.requester_id].append(request)
    return grouped


def _payee_kind(details: PaymentDetails) -> nacha.Payee:
    person = details.tax_class is TaxClass.INDIVIDUAL
    return nacha.Payee.PERSON if person else nacha.Payee.COMPANY


def for_services(request: SpendingRequest) -> bool:
    """Whether a payment is for work (an invoice), which Form 1099-NEC reports; a
    reimbursement under an accountable plan is not income, and is not reported."""
    return request.kind is RequestKind.INVOICE
