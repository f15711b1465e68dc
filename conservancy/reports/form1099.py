"""Form 1099-NEC figures of the year-end package: whom the sponsor paid for services.

A payee is reported for a calendar year when the sponsor paid them, that year, for work
(spending requests of the invoice kind, ``expenses.payments.for_services``) at least the
year's threshold (:func:`threshold`), added up across their requests and projects. What
is left out, and why:

* reimbursements under the accountable plan (``RequestKind.REIMBURSEMENT``): no income to
  the payee, so nothing to report;
* payees whose Form W-9 names a corporation (``expenses.models.CORPORATIONS``): the IRS's
  instructions for Form 1099-NEC say payments to corporations are generally not
  reportable;
* payments by card or through a payment platform, which the platform reports on Form
  1099-K. None is left out on that ground today: every request is paid by ACH, cheque or
  wire (``PayMethod``), which the sponsor itself reports.

A payment counts in the year of its ``paid_on`` (the day the run was marked paid, the date
of its entry in the books), in USD: requests in another currency are paid by hand, outside
the app's runs. Each request is one payment here, booked on its own as
``spending-<id>-paid``, even when an ACH credit paid several requests of the same payee.

The payee is the requester, known by their payment details and W-9 (``expenses.payees``):
their legal name, address and taxpayer identification number (TIN). The TIN is sealed; it
is opened only when the caller passes the payee keys (the ``report year-end`` command's
``--with-tins``), and is otherwise given as its last four digits, masked. A payee with no
W-9 on file (paid before W-9s were asked for) is listed all the same, and says so.

The tie-out: every payment for services of the year, reported or not, as the requests
hold them, against the same payments as the books hold them. A payment's entry touches no
fund account (``Liabilities:Payable:<Fund>`` against the bank), so neither the books'
transaction index nor the snapshot's monthly figures can tell it from a reimbursement's:
the books' side is read from the ledger outbox, each ``spending-<id>-paid`` entry dated in
the year and marked posted, with what it moved out of ``Liabilities:Payable``. That the
posted entries really are in the books is what ``ledger check`` holds. A payment marked in
the database but never posted, or dated in another year than its request says, shows here
as a difference.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from conservancy.expenses.models import (
    CORPORATIONS,
    PaymentDetails,
    RequestStatus,
    SpendingRequest,
)
from conservancy.expenses.payees import PayeeKeys, masked_tin
from conservancy.expenses.payments import for_services
from conservancy.ledger.entries import Transaction, loads
from conservancy.ledger.models import LedgerOutbox
from conservancy.money import Currency, Money

USD = Currency.USD
PAYABLE = "Liabilities:Payable:"  # accounts.payable(<fund>)
NO_W9 = "NO W-9 ON FILE"
TIE = (
    "Payments for services in the year (Form 1099-NEC, reported or not: database) against "
    "their entries in the books"
)
_PAID_REF = re.compile(r"^spending-(\d+)-paid$")
_CHUNK = 500


def _usd(minor: int) -> Money:
    return Money.from_minor(minor, USD)


# --- the threshold -----------------------------------------------------------------------

# IRC 6041(a)'s reporting threshold for payments for services, by the first payment year
# each amount applies to, each with its source. From INDEXED_FROM the amount is indexed
# for inflation every year: a year's figure is added here once the IRS publishes it, and
# never guessed before (threshold() marks such a year provisional).
THRESHOLDS: tuple[tuple[int, Money, str], ...] = (
    (  # every year through 2025
        1,
        Money(Decimal("600.00"), USD),
        "IRC 6041(a); Instructions for Forms 1099-MISC and 1099-NEC",
    ),
    (
        2026,
        Money(Decimal("2000.00"), USD),
        "One Big Beautiful Bill Act, Pub. L. 119-21, §70433, amending IRC 6041(a)",
    ),
)
INDEXED_FROM = 2027


@dataclass(frozen=True, slots=True)
class Threshold:
    """What a payee must be paid for services in ``year`` to be reported, and on what word."""

    year: int
    amount: Money
    source: str
    # The IRS has not published the year's inflation-adjusted figure: ``amount`` is the
    # latest one published, and the package says so.
    provisional: bool = False


def threshold(year: int) -> Threshold:
    """The Form 1099-NEC threshold for payments made in ``year``."""
    first, amount, source = max((row for row in THRESHOLDS if row[0] <= year), key=lambda r: r[0])
    if year >= INDEXED_FROM and first != year:
        return Threshold(
            year,
            amount,
            f"the {first} amount ({source}), pending the IRS's inflation-adjusted figure "
            f"for {year}",
            provisional=True,
        )
    return Threshold(year, amount, source)


# --- the payees ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NecPayee:
    """One payee reported on Form 1099-NEC: box 1 is ``total``."""

    legal_name: str
    tin_kind: str  # ssn or ein; "" with no W-9 on file
    tin: str  # in full when the keys opened it, else masked to its last four digits
    address: str
    total: Money
    requests: tuple[str, ...]  # REQ-<id>, each paid in the year: one payment each

    @property
    def payments(self) -> int:
        return len(self.requests)


@dataclass(frozen=True)
class Form1099Nec:
    """A year's Form 1099-NEC figures, and every payment for services they come from."""

    year: int
    threshold: Threshold
    payees: tuple[NecPayee, ...]  # reported, by name
    # Every payment for services in the year, reported or not (under the threshold, to a
    # corporation): what the tie-out sets against the books.
    services_total: Money
    services_payments: int
    tins_in_full: bool  # False: every TIN is masked

    @property
    def reported_total(self) -> Money:
        return _usd(sum(p.total.minor for p in self.payees))


def nec_payees(session: Session, year: int, *, keys: PayeeKeys | None) -> Form1099Nec:
    """The payees to report on Form 1099-NEC for ``year``; ``keys``: open their TINs in
    full (None: masked)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    paid = [
        request
        for request in session.scalars(
            select(SpendingRequest)
            .where(
                SpendingRequest.status == RequestStatus.PAID,
                SpendingRequest.paid_on >= first,
                SpendingRequest.paid_on <= last,
                SpendingRequest.currency == USD.value,
            )
            .order_by(SpendingRequest.id)
        )
        if for_services(request)
    ]
    by_payee: dict[int, list[SpendingRequest]] = defaultdict(list)
    for request in paid:
        by_payee[request.requester_id].append(request)
    line = threshold(year)
    details = _details(session, by_payee)
    payees = []
    for user_id, requests in by_payee.items():
        total = _usd(sum(r.total_minor for r in requests))
        found = details.get(user_id)
        if total < line.amount or (found is not None and found.tax_class in CORPORATIONS):
            continue
        numbers = tuple(r.number for r in requests)
        if found is None:
            payees.append(NecPayee(requests[-1].payee, "", NO_W9, "", total, numbers))
            continue
        payees.append(
            NecPayee(
                legal_name=found.legal_name,
                tin_kind=found.tin_kind,
                tin=_tin(found, keys),
                address=found.address,
                total=total,
                requests=numbers,
            )
        )
    return Form1099Nec(
        year=year,
        threshold=line,
        payees=tuple(sorted(payees, key=lambda p: (p.legal_name.casefold(), p.requests))),
        services_total=_usd(sum(r.total_minor for r in paid)),
        services_payments=len(paid),
        tins_in_full=keys is not None,
    )


def _details(session: Session, user_ids: Iterable[int]) -> dict[int, PaymentDetails]:
    wanted = sorted(user_ids)
    found: dict[int, PaymentDetails] = {}
    for start in range(0, len(wanted), _CHUNK):
        for row in session.scalars(
            select(PaymentDetails).where(PaymentDetails.user_id.in_(wanted[start : start + _CHUNK]))
        ):
            found[row.user_id] = row
    return found


def _tin(details: PaymentDetails, keys: PayeeKeys | None) -> str:
    """The TIN as the form writes it (123-45-6789, 12-3456789), or masked without keys."""
    if keys is None:
        return masked_tin(details)
    digits = keys.open(details.tin_sealed)
    if details.tin_kind == "ssn":
        return f"{digits[:3]}-{digits[3:5]}-{digits[5:]}"
    return f"{digits[:2]}-{digits[2:]}"


# --- the books' side -------------------------------------------------------------------------


def services_in_books(session: Session, year: int) -> Money:
    """What the payments for services dated in ``year`` moved out of
    ``Liabilities:Payable``, as their entries posted to the books have it (USD)."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    bodies: dict[int, str] = {}
    for ref, body in session.execute(
        select(LedgerOutbox.ref, LedgerOutbox.body).where(
            LedgerOutbox.ref.like("spending-%-paid"),
            LedgerOutbox.entry_on >= first,
            LedgerOutbox.entry_on <= last,
            LedgerOutbox.posted_at.is_not(None),
        )
    ):
        match = _PAID_REF.match(ref)
        if match is not None:
            bodies[int(match[1])] = body
    services = _services(session, sorted(bodies))
    total = 0
    for request_id in services:
        entry = loads(bodies[request_id])
        if isinstance(entry, Transaction):
            total += sum(
                p.amount.minor
                for p in entry.postings
                if p.account.startswith(PAYABLE) and p.amount.currency is USD
            )
    return _usd(total)


def _services(session: Session, request_ids: Sequence[int]) -> list[int]:
    """Of ``request_ids``, those of requests for services, whatever their status."""
    found = []
    for start in range(0, len(request_ids), _CHUNK):
        found += [
            r.id
            for r in session.scalars(
                select(SpendingRequest).where(
                    SpendingRequest.id.in_(request_ids[start : start + _CHUNK])
                )
            )
            if for_services(r)
        ]
    return found
