"""The sponsor's year-end package (SPEC section 8): what its tax preparer and auditor need.

One calendar year, all in US dollars, read from the books' transaction index
(``ledger.index``) and never from a load of the ledger, so the same package is
a command (``conservancy report year-end``) and a download for staff:

* **contributions** by fund and income type: what every income account on Form
  990 Part VIII line 1 (``reports.form990``) received, refunds and lost disputes
  taken off. The sponsorship fee a project pays the sponsor
  (``Income:General:Sponsorship-Fees``) moves money between funds and is nobody's
  contribution; it appears in the roll-forward. Beside each amount, the part of it
  that paid for benefits given back to donors and corporate sponsors (their fair
  market value): income, but no contribution.
* **Form 990 Part VIII**: every income account's revenue by line (``reports.form990``).
* **Schedule A Part II**: the public support test over the year and the four before it
  (``reports.schedule_a``), each read as this year is; a closed year the books given do
  not hold is "not read" (the command passes the full history's books).
* **Form 990 Part IX**: every expense by line and column, and by project
  (``reports.part_ix``).
* Part VIII and Part IX beside the prior year's. The basis of the figures (accrual) is
  stated on the PDF and in the package's ``README.txt``, which also names the sponsor, the
  year, whether it is a draft, the day prepared and what each file is; every CSV begins
  with its header row (a draft's with one ``# DRAFT`` line above it).
* **Schedule B**: contributors whose contributions in the year total
  5,000.00 or more (the general rule; the special rule's line can be higher,
  ``form990.schedule_b_threshold``), summed across projects, gift kinds and ways of paying
  (offline gifts included), refunds taken off. The books know a contributor
  by the ``entity`` each of their entries carries; the database gives the
  name and address behind it: a donor's, or a corporate sponsor's company
  name and billing address.

Corporate sponsorships (``sponsorships.books``). The sponsor keeps its books on
the accrual method: issuing an invoice books the receivable and the fund's
income at once, paid or not, and a void takes it back on the day of the void.
The payment, by card or cheque, only turns the receivable into money and moves
no income. Form 990 reports contributions by the organisation's method of
accounting, and Schedule B follows Part VIII: a contribution is reported in
the year it is recognised as revenue, so an invoice counts in the year it was
issued, whenever it is paid (an unconditional promise to give, recognised when
made), and its void, refunds and lost disputes count in their own years, as a
gift's refund does. What counts toward the company's Schedule B total is only
the deductible part, as its acknowledgement states it (the payment less the
fair market value of the benefits, the IRS token-item rule applied): the rest
is the price of what it received. When money goes back, the deductible part
goes first, as the sponsor's adjustment notice tells the company: of what
stands of the payment, ``max(0, standing - benefits)`` is deductible, and a
year counts that figure at its end less that figure at its start. The
standing at the start of a year is 0 for an invoice issued in the year; for an
older one it is what the database says stands now, less what the books moved
on it since the year began (a closed year's history is not needed for it).
* each fund's **roll-forward**: opening balance, contributions (its income on Part
  VIII line 1), other income (interest, program service revenue), sponsorship
  fees, card and dispute fees, other expenses, transfers through
  ``Equity:Net-Assets:<Fund>``, closing balance.
* the **written acknowledgements**: every single gift of 250.00 or more, with
  the receipt that acknowledged it (a gift without one is flagged).
* every **refund and dispute** booked in the year.
* **Form 1099-NEC**: each payee paid for services in the year at or above the year's
  threshold, reimbursements and corporations left out (``reports.form1099``, which says
  why and where each threshold comes from); their taxpayer identification numbers masked
  unless the caller passes the payee keys (the command's ``--with-tins``).
* the **tie-out**: each total set against the same figure reached another
  way, with the difference, which must be 0.00 everywhere:

  - each fund's contributions by type (index) against the snapshot's yearly
    income of the fund (figures the snapshot keeps by month, built apart);
  - every contributor's total plus the benefits given to sponsors plus
    entries without a contributor against all contributions (one read per
    transaction against one sum per account);
  - each fund's closing balance from the roll-forward against the snapshot's
    balance at the end of the year;
  - the gifts the database holds as settled in the year against the gift
    entries in the books (a gift recorded but never posted shows here);
  - the sponsorship invoices the database holds as issued, and as voided, in
    the year against their entries in the books; and what stands of each
    invoice issued in the year (its amount, nothing once voided, less what
    went back) against the income the books hold for it;
  - postings to fund accounts in another currency than USD, which no total
    here counts: there must be none;
  - every payment for services of the year (Form 1099-NEC's, reported or not) as the
    spending requests hold them against their payment entries posted to the books.

A donor's identity is the sponsor's, for exactly these duties: this package is
for its staff and preparer, never for a project's treasurer.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import TextIO

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from conservancy.donations.models import Donation, Donor, Gift, OfflineGift, OfflineMethod
from conservancy.expenses.payees import PayeeKeys
from conservancy.infra.config import ScheduleBRule
from conservancy.kernel.errors import DomainError
from conservancy.ledger import accounts, years
from conservancy.ledger.index import IndexView, PeriodEntry, TransactionIndex
from conservancy.ledger.snapshot import Snapshot
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.receipts.document import Benefit, Sponsor, exchange_value
from conservancy.receipts.models import Receipt, ReceiptKind
from conservancy.reports import form990, form1099, schedule_a
from conservancy.reports import part_ix as ix
from conservancy.reports.form990 import PartVIII
from conservancy.reports.form1099 import Form1099Nec
from conservancy.reports.output import write_whole
from conservancy.reports.part_ix import PartIX
from conservancy.reports.statement import SPONSORSHIP_FEES, spreadsheet_text
from conservancy.sponsorships import books as sponsorship_books
from conservancy.sponsorships.models import CorporateSponsor, InvoiceStatus, SponsorshipInvoice

USD = Currency.USD
SCHEDULE_B_LINE = Money.from_minor(500_000, USD)  # 5,000.00
ACKNOWLEDGEMENT_LINE = Money.from_minor(25_000, USD)  # 250.00: one gift
PROCESSING_KINDS = frozenset({"Payment-Processing", "Dispute-Fees"})
SPONSORSHIPS = "Sponsorships"  # Income:<Fund>:Sponsorships, a sponsorship invoice's income
FIRST_YEAR, LAST_YEAR = 1900, 9998
SUPPORT_YEARS = schedule_a.YEARS  # Schedule A Part II: the year and the four before it
REVENUE_TIE = (
    "Part VIII total revenue (line 12), plus income between the sponsor's own funds, "
    "against every income account of the books"
)
PART_IX_TIE = (
    "Part IX line 25, plus sponsorship fees between the sponsor's own funds, against every "
    "expense account of the books"
)
SUPPORT_TIE = (
    "Schedule A Part II line 1 for {year} (each contributor's total, and entries naming "
    "none) against Part VIII line 1h"
)
# Later than any entry the books hold: the end of the read for what moved after a year.
LATER_THAN_ANY = date(3000, 12, 31)


class BadYear(DomainError):
    pass


def _usd(minor: int) -> Money:
    return Money.from_minor(minor, USD)


@dataclass(frozen=True, slots=True)
class Contribution:
    fund: str
    project: str
    income_type: str  # the account's last part: Donations, Sponsorships, Grants
    amount: Money
    # Of ``amount``, what paid for benefits given back to corporate sponsors (their fair
    # market value): income, but nobody's contribution, so not on Schedule B.
    benefits: Money


@dataclass(frozen=True, slots=True)
class RollForward:
    fund: str
    project: str
    opening: Money
    # Income on Part VIII line 1 (the fund's contributions.csv rows, benefits' value
    # included), and the rest of its income: interest, program service revenue, sales.
    contributions: Money
    other_income: Money
    sponsorship_fees: Money  # paid (a project: negative) or received (General: positive)
    processing_fees: Money  # card and dispute fees, negative
    other_expenses: Money  # negative
    transfers: Money  # through Equity:Net-Assets:<Fund>
    closing: Money

    @property
    def movements(self) -> Money:
        return (
            self.contributions
            + self.other_income
            + self.sponsorship_fees
            + self.processing_fees
            + self.other_expenses
            + self.transfers
        )


@dataclass(frozen=True, slots=True)
class Contributor:
    entity: str
    name: str
    address: str
    gifts: int
    total: Money  # contributions in the year, refunds and disputes taken off


@dataclass(frozen=True, slots=True)
class NoncashGift:
    """A gift of property (Schedule B Part II): stock, at the amount its sale realised."""

    entity: str
    name: str
    description: str
    day: date
    value: Money
    ref: str


@dataclass(frozen=True, slots=True)
class Acknowledged:
    day: date
    entity: str
    name: str
    address: str
    projects: str
    amount: Money
    receipt: str | None  # None: no receipt was issued for it
    ref: str


@dataclass(frozen=True, slots=True)
class Reversal:
    day: date
    kind: str  # refund, dispute
    description: str
    entity: str | None
    name: str
    projects: str
    amount: Money  # money back to the donor; negative when it came back again
    gift: str  # the ref of the gift reversed
    ref: str


@dataclass(frozen=True, slots=True)
class TieLine:
    what: str
    package: str
    books: str
    difference: str
    ok: bool

    @classmethod
    def money(cls, what: str, package: Money, books: Money) -> TieLine:
        diff = package - books
        return cls(what, package.format(), books.format(), diff.format(), not diff)

    @classmethod
    def count(cls, what: str, package: int, books: int) -> TieLine:
        return cls(what, f"{package:,}", f"{books:,}", f"{package - books:,}", package == books)


@dataclass(frozen=True)
class YearEnd:
    year: int
    contributions: tuple[Contribution, ...]
    roll_forward: tuple[RollForward, ...]
    schedule_b: tuple[Contributor, ...]
    acknowledgements: tuple[Acknowledged, ...]
    reversals: tuple[Reversal, ...]
    tie_out: tuple[TieLine, ...]
    contributors: int  # everyone with a contribution in the year, under the line or not
    part_viii: PartVIII
    schedule_b_rule: ScheduleBRule
    schedule_b_threshold: Money
    noncash: tuple[NoncashGift, ...]  # every gift of property in the year (line 1g)
    schedule_a: schedule_a.ScheduleA  # Part II, the public support test
    part_ix: PartIX  # functional expenses
    fund_names: dict[str, str]  # each fund's project, by fund
    form_1099_nec: Form1099Nec  # payees paid for services, to report
    # The year before, for comparison; None when these books do not hold it (closed).
    prior_part_viii: PartVIII | None = None
    prior_part_ix: PartIX | None = None

    @property
    def schedule_b_noncash(self) -> tuple[NoncashGift, ...]:
        """Schedule B Part II: the noncash gifts of the contributors Part I lists."""
        listed = {c.entity for c in self.schedule_b}
        return tuple(g for g in self.noncash if g.entity in listed)

    @property
    def revenue_tie(self) -> TieLine:
        """Part VIII against the books' income: the line the Part VIII page shows."""
        return next(line for line in self.tie_out if line.what == REVENUE_TIE)

    @property
    def prior_year(self) -> int:
        return self.year - 1

    def part_viii_compared(self) -> list[tuple[form990.PartVIIILine, Money | None]]:
        """Each line of Part VIII, with the prior year's amount (None: not read). A line
        only the prior year has is shown with nothing this year."""
        prior = self.prior_part_viii
        had = {v.line for v in prior.lines} if prior is not None else set()
        shown = {v.line: v for v in self.part_viii.lines}
        return [
            (
                shown.get(line)
                or form990.PartVIIILine(line, form990.LABELS[line], _usd(0), (), memo=False),
                prior.amount(line) if prior is not None else None,
            )
            for line in form990.LINE_ORDER
            if line in shown or line in had
        ]

    def part_ix_compared(self) -> list[tuple[ix.LineRow, Money | None]]:
        """Each line of Part IX with the prior year's column (A) (None: not read)."""
        prior = self.prior_part_ix
        had = {row.line for row in prior.lines} if prior is not None else set()
        shown = {row.line: row for row in self.part_ix.lines}
        order = [*accounts.PART_IX_LINES, ix.TOTAL]
        return [
            (
                shown.get(line) or ix.LineRow(line, accounts.PART_IX_LINES[line], ix.Columns(), ()),
                _usd(prior.line(line).total) if prior is not None else None,
            )
            for line in order
            if line in shown or line in had
        ]

    @property
    def part_ix_tie(self) -> TieLine:
        """Part IX against the books' expenses: the line the Part IX page shows."""
        return next(line for line in self.tie_out if line.what == PART_IX_TIE)

    @property
    def schedule_b_rule_wording(self) -> str:
        return form990.rule_wording(self.schedule_b_rule, self.schedule_b_threshold)

    @property
    def first_day(self) -> date:
        return date(self.year, 1, 1)

    @property
    def last_day(self) -> date:
        return date(self.year, 12, 31)

    @property
    def contributions_total(self) -> Money:
        return _usd(sum(c.amount.minor for c in self.contributions))

    @property
    def benefits_total(self) -> Money:
        """Of the contributions, what paid for benefits given back to donors and sponsors."""
        return _usd(sum(c.benefits.minor for c in self.contributions))

    @property
    def schedule_b_total(self) -> Money:
        return _usd(sum(c.total.minor for c in self.schedule_b))

    @property
    def reversals_total(self) -> Money:
        return _usd(sum(r.amount.minor for r in self.reversals))

    @property
    def ties_out(self) -> bool:
        return all(line.ok for line in self.tie_out)

    @property
    def differences(self) -> list[TieLine]:
        return [line for line in self.tie_out if not line.ok]


def check_year(year: int) -> int:
    if not FIRST_YEAR <= year <= LAST_YEAR:
        raise BadYear(f"{year} is not a year the books can hold")
    return year


def is_contribution(account: str) -> bool:
    """Income on Part VIII line 1 by the account's name alone (``form990.is_contribution``
    also reads the metadata on its open)."""
    return form990.is_contribution(account, {})


# --- gathering ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Invoice:
    """What the package needs of a USD sponsorship invoice (``sponsorships.models``)."""

    number: str
    entity: str  # the corporate sponsor's ref, as its entries carry it
    fund: str
    issued_on: date
    voided_on: date | None
    paid: bool
    # What stands of it now, as the database has it, in minor units: its amount (nothing
    # once voided) less the income card refunds and disputes took back. The books hold
    # the same in Income:<Fund>:Sponsorships.
    standing: int
    # The fair market value of its benefits that its acknowledgement takes off the
    # payment (0 when they are only token items), in minor units.
    exchange: int

    def deductible(self, standing: int) -> int:
        """What of ``standing`` is deductible: the deductible part goes back first."""
        return max(0, standing - self.exchange)


@dataclass
class _Sponsorships:
    """The year's sponsorship invoices, found by the refs of the entries that move their
    income: the issue, the void, and the card payment that refunds and disputes name."""

    first: date
    by_number: dict[str, _Invoice] = field(default_factory=dict)
    by_ref: dict[str, _Invoice] = field(default_factory=dict)
    issues: set[str] = field(default_factory=set)
    voids: set[str] = field(default_factory=set)
    by_gift: dict[str, _Invoice] = field(default_factory=dict)
    moved: dict[str, int] = field(default_factory=lambda: defaultdict(int))  # the year's
    moved_later: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def of(self, entry: PeriodEntry) -> _Invoice | None:
        if entry.gift is not None:
            return self.by_gift.get(entry.gift)
        return self.by_ref.get(entry.ref or "")

    def issued_in_year(self) -> list[_Invoice]:
        return [i for i in self.by_number.values() if i.issued_on >= self.first]

    def split(self, invoice: _Invoice) -> tuple[int, int]:
        """The year's income of ``invoice`` as (deductible part, benefits' part)."""
        moved = self.moved.get(invoice.number, 0)
        if invoice.issued_on >= self.first:
            start = 0  # nothing is booked before the issue
        else:
            start = invoice.standing - moved - self.moved_later.get(invoice.number, 0)
        deductible = invoice.deductible(start + moved) - invoice.deductible(start)
        return deductible, moved - deductible


def _sponsorships(session: Session, first: date, last: date) -> _Sponsorships:
    """Every USD invoice issued by ``last`` (a later one has no entry in the year)."""
    found = _Sponsorships(first)
    rows = session.execute(
        select(SponsorshipInvoice, CorporateSponsor.ref)
        .join(CorporateSponsor, CorporateSponsor.id == SponsorshipInvoice.corporate_sponsor_id)
        .where(SponsorshipInvoice.issued_on <= last, SponsorshipInvoice.currency == USD.value)
    )
    for row, entity in rows:
        amount = row.amount
        benefits = tuple(
            Benefit(str(description), _usd(int(value))) for description, value in row.benefits
        )
        tax_year = (row.paid_on or row.issued_on).year  # the acknowledgement's
        # The income card refunds and disputes took back: never more than the payment (a
        # dispute of the whole charge after a refund takes the rest as a dispute loss).
        taken = min(max(row.reversed_minor, 0), amount.minor)
        invoice = _Invoice(
            number=row.number,
            entity=entity,
            fund=row.fund,
            issued_on=row.issued_on,
            voided_on=row.voided_on,
            paid=row.status is InvoiceStatus.PAID,
            standing=(0 if row.status is InvoiceStatus.VOID else amount.minor) - taken,
            exchange=exchange_value(amount, benefits, tax_year).minor,
        )
        found.by_number[row.number] = invoice
        found.by_ref[row.ref] = found.by_ref[sponsorship_books.void_ref(row)] = invoice
        found.issues.add(row.ref)
        found.voids.add(sponsorship_books.void_ref(row))
        if (payment := sponsorship_books.payment_ref(row)) is not None:
            found.by_gift[payment] = invoice
    return found


@dataclass(frozen=True, slots=True)
class _GiftBenefit:
    """A USD gift of the year that came with a thank-you item worth more than a token."""

    fund: str  # the project's: the item is the project's thank-you
    exchange: int  # the item's fair market value the receipt takes off, in cents


def _gift_benefits(session: Session, first: date, last: date) -> dict[str, _GiftBenefit]:
    """By gift ref: the gifts settled in the year whose donors got something back. The
    thank-you goes with a donation's first payment only (``receipts.issue.benefits_of``)."""
    found: dict[str, _GiftBenefit] = {}
    # The first payment of each donation (an alias: not the outer query's gift).
    earlier = aliased(Gift)
    first_payments = select(func.min(earlier.id)).group_by(earlier.donation_id)
    rows = session.execute(
        select(Gift, Donation)
        .join(Donation, Donation.id == Gift.donation_id)
        .where(
            Gift.settled_on >= first,
            Gift.settled_on <= last,
            Gift.currency == USD.value,
            Donation.benefit_value_minor.is_not(None),
            Donation.benefit_description.is_not(None),
            Gift.id.in_(first_payments),
        )
    )
    for gift, donation in rows:
        if donation.benefit_value is None:
            continue
        paid = _usd(gift.project_minor + gift.general_minor)
        benefits = (Benefit(str(donation.benefit_description), donation.benefit_value),)
        exchange = exchange_value(paid, benefits, gift.settled_on.year).minor
        if exchange > 0:
            found[gift.ref] = _GiftBenefit(gift.fund, exchange)
    return found


def _noncash(session: Session, first: date, last: date) -> list[tuple[str, NoncashGift]]:
    """Gifts of stock settled in the year, with their donor's ref (Schedule B Part II)."""
    rows = session.execute(
        select(Gift, OfflineGift, Donor.ref, Donor.name)
        .join(OfflineGift, OfflineGift.gift_id == Gift.id)
        .join(Donation, Donation.id == Gift.donation_id)
        .join(Donor, Donor.id == Donation.donor_id)
        .where(
            OfflineGift.method == OfflineMethod.STOCK,
            Gift.settled_on >= first,
            Gift.settled_on <= last,
            Gift.currency == USD.value,
        )
        .order_by(Gift.settled_on, Gift.id)
    )
    return [
        (
            entity,
            NoncashGift(
                entity=entity,
                name=name,
                description=offline.reference,
                day=gift.settled_on,
                value=_usd(gift.project_minor + gift.general_minor),
                ref=gift.ref,
            ),
        )
        for gift, offline, entity, name in rows
    ]


@dataclass
class _Tally:
    """What one pass over the year's contribution entries adds up."""

    sponsorships: _Sponsorships
    gift_benefits: dict[str, _GiftBenefit] = field(default_factory=dict)
    # What each gift with a benefit brought in the year, refunds taken off, and its donor.
    gift_standing: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gift_entity: dict[str, str] = field(default_factory=dict)
    by_entity: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gifts_of: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    without_entity: int = 0
    gift_entries: int = 0
    invoices_issued: int = 0
    invoices_voided: int = 0
    large: list[PeriodEntry] = field(default_factory=list)
    reversals: list[PeriodEntry] = field(default_factory=list)
    other_currency: int = 0
    # The fair market value of benefits given back to donors and corporate sponsors, by
    # income account: income, but no contribution (Part VIII puts it on its own line).
    exchange: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, entry: PeriodEntry) -> None:
        received = -sum(m for (_fund, cur), m in entry.amounts.items() if cur == USD.value)
        self.other_currency += sum(1 for _fund, cur in entry.amounts if cur != USD.value)
        if entry.gift is not None:  # a refund, a dispute, or its undoing: by the gift's donor
            self.reversals.append(entry)
        invoice = self.sponsorships.of(entry)
        if invoice is not None:
            # Its deductible part reaches the company's total once the year is read (settle).
            self.sponsorships.moved[invoice.number] += received
            if entry.ref in self.sponsorships.issues:
                self.invoices_issued += 1
                self.gifts_of[invoice.entity] += 1
                if received >= ACKNOWLEDGEMENT_LINE.minor:
                    self.large.append(entry)
            elif entry.ref in self.sponsorships.voids:
                self.invoices_voided += 1
            return
        if entry.entity is None:
            self.without_entity += received
            return
        self.by_entity[entry.entity] += received
        benefited = entry.gift if entry.gift is not None else entry.ref
        if benefited in self.gift_benefits:
            self.gift_standing[benefited] += received
            if entry.gift is None:
                self.gift_entity[benefited] = entry.entity
        if entry.gift is None and received > 0:
            self.gift_entries += 1
            self.gifts_of[entry.entity] += 1
            if received >= ACKNOWLEDGEMENT_LINE.minor:
                self.large.append(entry)

    def add_later(self, entry: PeriodEntry) -> None:
        """An entry after the year: only what it moved on an invoice matters."""
        invoice = self.sponsorships.of(entry)
        if invoice is not None:
            received = -sum(m for (_fund, cur), m in entry.amounts.items() if cur == USD.value)
            self.sponsorships.moved_later[invoice.number] += received

    def settle(self) -> None:
        """Each invoice's income of the year: its deductible part to the company, the
        rest to the benefits given back."""
        for invoice in self.sponsorships.by_number.values():
            deductible, exchange = self.sponsorships.split(invoice)
            if deductible or exchange:
                self.by_entity[invoice.entity] += deductible
                self.exchange[accounts.sponsorships(invoice.fund)] += exchange
        # A gift with a thank-you worth more than a token: the item's value is no
        # contribution. Money that goes back takes the deductible part first, as for an
        # invoice; a gift of an earlier year refunded in this one takes its refund off the
        # contribution alone.
        for ref, entity in self.gift_entity.items():
            benefit = self.gift_benefits[ref]
            exchange = min(max(self.gift_standing[ref], 0), benefit.exchange)
            if exchange:
                self.by_entity[entity] -= exchange
                self.exchange[accounts.donations(benefit.fund)] += exchange


def is_sponsorship_income(account: str) -> bool:
    return account.startswith("Income:") and accounts.kind_of(account) == SPONSORSHIPS


@dataclass(frozen=True)
class _Year:
    """One calendar year as the package reads it from the index."""

    year: int
    tally: _Tally  # its contributions, by contributor
    totals: dict[str, int]  # every fund account's USD postings summed, as booked
    part_viii: PartVIII
    noncash: list[tuple[str, NoncashGift]]
    # Contributions on line 1e (government grants), by contributor: a governmental unit's
    # support is not capped at 2% on Schedule A.
    government: dict[str, int]
    part_ix: PartIX


def _read_year(
    session: Session, view: IndexView, year: int, form_990: Mapping[str, Mapping[str, str]]
) -> _Year:
    first, last = date(year, 1, 1), date(year, 12, 31)

    def is_contribution(account: str) -> bool:
        return form990.is_contribution(account, form_990)

    def is_government(account: str) -> bool:
        return is_contribution(account) and form990.line_of(account, form_990) == "1e"

    tally = _Tally(_sponsorships(session, first, last), _gift_benefits(session, first, last))
    totals = view.account_totals(first, last)
    for entry in view.entries_posting_to(is_contribution, first, last):
        tally.add(entry)
    if tally.sponsorships.by_ref and last < LATER_THAN_ANY:
        later = last + timedelta(days=1)
        for entry in view.entries_posting_to(is_sponsorship_income, later, LATER_THAN_ANY):
            tally.add_later(entry)
    government: dict[str, int] = defaultdict(int)
    for entry in view.entries_posting_to(is_government, first, last):
        if entry.entity is not None:
            government[entry.entity] -= sum(
                m for (_fund, cur), m in entry.amounts.items() if cur == USD.value
            )
    tally.settle()
    usd_totals = {account: minor for (account, cur), minor in totals.items() if cur == USD.value}
    tally.other_currency += sum(1 for _account, cur in totals if cur != USD.value)
    noncash = _noncash(session, first, last)
    part_viii = form990.part_viii(
        {a: -minor for a, minor in usd_totals.items() if a.startswith("Income:")},
        tally.exchange,
        sum(gift.value.minor for _entity, gift in noncash),
        form_990,
    )
    functions = {
        (account, function): minor
        for (account, cur, function), minor in view.function_totals(first, last).items()
        if cur == USD.value
    }
    part_ix = ix.part_ix(
        {a: minor for a, minor in usd_totals.items() if a.startswith("Expenses:")},
        functions,
        form_990,
    )
    return _Year(year, tally, usd_totals, part_viii, noncash, dict(government), part_ix)


def _held_from(index: TransactionIndex) -> int | None:
    """The first year the index's books hold in full: None for the full history, or for
    day-to-day books of which no year is closed."""
    if index.files.history:
        return None
    opened = years.first_open_day(index.files)
    return None if opened is None else opened.year


def _schedule_a(session: Session, year: int, read: Mapping[int, _Year]) -> schedule_a.ScheduleA:
    """Schedule A Part II from the five years ending with ``year`` (those ``read`` holds)."""
    support = []
    by_entity: dict[str, int] = defaultdict(int)
    without_entity = 0
    for y in range(year - SUPPORT_YEARS + 1, year + 1):
        found = read.get(y)
        if found is None:
            support.append(schedule_a.SupportYear.unread(y))
            continue
        for entity, minor in found.tally.by_entity.items():
            by_entity[entity] += minor - found.government.get(entity, 0)
        without_entity += found.tally.without_entity
        support.append(
            schedule_a.SupportYear.of(
                y,
                contributions=sum(found.tally.by_entity.values()) + found.tally.without_entity,
                part_viii=found.part_viii,
            )
        )
    table = schedule_a.schedule_a(tuple(support), by_entity, without_entity)
    names = _donors(session, {c.entity for c in table.capped})
    return table.named(lambda entity: names.get(entity, _unknown(entity))[0])


def year_end(
    session: Session,
    index: TransactionIndex,
    snapshot: Snapshot,
    year: int,
    *,
    rule: ScheduleBRule = ScheduleBRule.GENERAL,
    payee_keys: PayeeKeys | None = None,
) -> YearEnd:
    """The package for ``year``. ``snapshot`` is the books' current one (``Books.current``);
    ``rule``: the Schedule B rule the sponsor files under (``Settings.schedule_b_rule``);
    ``payee_keys``: open the Form 1099-NEC payees' TINs in full (None: masked)."""
    check_year(year)
    first, last = date(year, 1, 1), date(year, 12, 31)
    names = _fund_names(session)
    form_990 = snapshot.form_990

    def is_contribution(account: str) -> bool:
        return form990.is_contribution(account, form_990)

    with index.read() as view:
        funds = sorted(set(view.funds()) | {f for f in names if f != accounts.GENERAL})
        opening = {fund: view.balance_before(fund, first) for fund in funds}
        closing = {fund: view.balance_before(fund, last + timedelta(days=1)) for fund in funds}
        this = _read_year(session, view, year, form_990)
        held_from = _held_from(index)
        earlier = {
            y: _read_year(session, view, y, form_990)
            for y in range(year - SUPPORT_YEARS + 1, year)
            if held_from is None or y >= held_from
        }
    tally, usd_totals, part_viii, noncash = this.tally, this.totals, this.part_viii, this.noncash

    contributions = tuple(
        Contribution(
            fund,
            names.get(fund, fund),
            accounts.kind_of(account),
            _usd(-minor),
            _usd(tally.exchange.get(account, 0)),
        )
        for account, minor in sorted(usd_totals.items())
        if is_contribution(account)
        and (fund := accounts.fund_of(account)) is not None
        and (minor or tally.exchange.get(account, 0))
    )
    support = _schedule_a(session, year, {**earlier, year: this})
    prior = earlier.get(year - 1)
    threshold = form990.schedule_b_threshold(rule, part_viii.contributions)
    roll_forward = tuple(
        _roll_forward(
            fund, names.get(fund, fund), usd_totals, opening[fund], closing[fund], form_990
        )
        for fund in funds
    )
    donors = _donors(session, {*tally.by_entity, *(e.entity for e in tally.large if e.entity)})
    schedule_b = tuple(
        sorted(
            (
                Contributor(
                    entity,
                    *donors.get(entity, _unknown(entity)),
                    tally.gifts_of[entity],
                    _usd(minor),
                )
                for entity, minor in tally.by_entity.items()
                if minor >= threshold.minor
            ),
            key=lambda c: (-c.total.minor, c.name, c.entity),
        )
    )
    invoices = tally.sponsorships.by_ref
    large = [e for e in tally.large if (i := invoices.get(e.ref or "")) is None or i.paid]
    issued = _first_receipts(session, [e.ref for e in large if e.ref and e.ref not in invoices])
    acknowledgements = tuple(
        Acknowledged(
            day=e.date,
            entity=e.entity or "",
            name=donors.get(e.entity or "", _unknown(e.entity or ""))[0],
            address=donors.get(e.entity or "", _unknown(e.entity or ""))[1],
            projects=_projects(e, names),
            amount=_usd(-sum(m for (_f, cur), m in e.amounts.items() if cur == USD.value)),
            receipt=_acknowledged_by(e, invoices, issued),
            ref=e.ref or "",
        )
        for e in large
    )
    reversal_donors = _donors(session, {e.entity for e in tally.reversals if e.entity})
    reversals = tuple(
        Reversal(
            day=e.date,
            kind="dispute" if e.narration.lower().startswith("dispute") else "refund",
            description=e.narration,
            entity=e.entity,
            name=reversal_donors.get(e.entity or "", (e.payee or "", ""))[0],
            projects=_projects(e, names),
            amount=_usd(sum(m for (_f, cur), m in e.amounts.items() if cur == USD.value)),
            gift=e.gift or "",
            ref=e.ref or "",
        )
        for e in tally.reversals
    )
    nec = form1099.nec_payees(session, year, keys=payee_keys)
    tie_out = (
        *_tie_out(
            session, snapshot, year, funds, names, contributions, roll_forward, tally, part_viii
        ),
        TieLine.money(
            SUPPORT_TIE.format(year=year),
            support.years[-1].contributions_money,
            part_viii.contributions,
        ),
        *_part_ix_ties(snapshot, year, funds, this.part_ix),
        TieLine.money(form1099.TIE, nec.services_total, form1099.services_in_books(session, year)),
    )
    return YearEnd(
        year=year,
        contributions=contributions,
        roll_forward=roll_forward,
        schedule_b=schedule_b,
        acknowledgements=acknowledgements,
        reversals=reversals,
        tie_out=tie_out,
        contributors=sum(1 for minor in tally.by_entity.values() if minor > 0),
        part_viii=part_viii,
        schedule_b_rule=rule,
        schedule_b_threshold=threshold,
        noncash=tuple(gift for _entity, gift in noncash),
        schedule_a=support,
        part_ix=this.part_ix,
        fund_names=names,
        form_1099_nec=nec,
        prior_part_viii=prior.part_viii if prior is not None else None,
        prior_part_ix=prior.part_ix if prior is not None else None,
    )


def _acknowledged_by(
    entry: PeriodEntry, invoices: dict[str, _Invoice], receipts: dict[str, str]
) -> str | None:
    """A gift's first receipt; for a paid sponsorship invoice, its acknowledgement (which
    goes with the payment, and is named by the invoice's number)."""
    invoice = invoices.get(entry.ref or "")
    if invoice is not None:
        return f"acknowledgement of {invoice.number}"
    return receipts.get(entry.ref or "") or entry.receipt


def _fund_names(session: Session) -> dict[str, str]:
    names = {accounts.GENERAL: "General (the sponsor's own)"}
    for fund, name in session.execute(select(Project.fund, Project.name)):
        names[fund] = name
    return names


def _projects(entry: PeriodEntry, names: dict[str, str]) -> str:
    funds = sorted({fund for (fund, _cur), minor in entry.amounts.items() if minor})
    return ", ".join(names.get(fund, fund) for fund in funds)


def _unknown(entity: str) -> tuple[str, str]:
    """An entity in the books that no donor or corporate sponsor in the database carries
    (a hand-written entry)."""
    return (f"(not in the donor records: {entity})", "")


def _donors(session: Session, entities: Iterable[str]) -> dict[str, tuple[str, str]]:
    """Name and address by donor ref, or by corporate sponsor ref (the company's name and
    billing address), looked up a few hundred at a time."""
    wanted = sorted(entities)
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(wanted), 500):
        some = wanted[start : start + 500]
        for ref, name, address in session.execute(
            select(Donor.ref, Donor.name, Donor.address).where(Donor.ref.in_(some))
        ):
            found[ref] = (name, address or "")
        for ref, name, address in session.execute(
            select(
                CorporateSponsor.ref, CorporateSponsor.company_name, CorporateSponsor.address
            ).where(CorporateSponsor.ref.in_([r for r in some if r not in found]))
        ):
            found[ref] = (name, address or "")
    return found


def _first_receipts(session: Session, refs: Sequence[str]) -> dict[str, str]:
    """The receipt that first acknowledged each gift, by the gift's ref (the written
    acknowledgement the donor had at the time; later replacements do not change that)."""
    found: dict[str, str] = {}
    for start in range(0, len(refs), 500):
        rows = session.execute(
            select(Gift.ref, Receipt.number)
            .join(Receipt, Receipt.gift_id == Gift.id)
            .where(Gift.ref.in_(refs[start : start + 500]), Receipt.kind == ReceiptKind.RECEIPT)
        )
        for ref, number in rows:
            found.setdefault(ref, number)
    return found


def _roll_forward(
    fund: str,
    project: str,
    totals: dict[str, int],
    opening: Money,
    closing: Money,
    form_990: Mapping[str, Mapping[str, str]],
) -> RollForward:
    contributions = other_income = fees = processing = other = transfers = 0
    for account, minor in totals.items():
        if accounts.fund_of(account) != fund:
            continue
        kind = accounts.kind_of(account)
        if account == accounts.SPONSORSHIP_FEE_INCOME or (
            account.startswith("Expenses:") and kind == SPONSORSHIP_FEES
        ):
            fees -= minor
        elif form990.is_contribution(account, form_990):
            contributions -= minor
        elif account.startswith("Income:"):
            other_income -= minor
        elif account.startswith("Expenses:") and kind in PROCESSING_KINDS:
            processing -= minor
        elif account.startswith("Expenses:"):
            other -= minor
        else:
            transfers -= minor
    return RollForward(
        fund=fund,
        project=project,
        opening=opening,
        contributions=_usd(contributions),
        other_income=_usd(other_income),
        sponsorship_fees=_usd(fees),
        processing_fees=_usd(processing),
        other_expenses=_usd(other),
        transfers=_usd(transfers),
        closing=closing,
    )


def _tie_out(
    session: Session,
    snapshot: Snapshot,
    year: int,
    funds: Sequence[str],
    names: dict[str, str],
    contributions: Sequence[Contribution],
    roll_forward: Sequence[RollForward],
    tally: _Tally,
    part_viii: PartVIII,
) -> tuple[TieLine, ...]:
    lines = []
    by_fund: dict[str, int] = defaultdict(int)
    for c in contributions:
        by_fund[c.fund] += c.amount.minor
    all_income = 0
    for fund in funds:
        figures = snapshot.fund_year(fund, year, USD)
        all_income += sum(m.minor for m in figures.income.values())
        books = sum(
            m.minor
            for account, m in figures.income.items()
            if form990.is_contribution(account, snapshot.form_990)
        )
        lines.append(
            TieLine.money(
                f"Contributions to {names.get(fund, fund)}", _usd(by_fund[fund]), _usd(books)
            )
        )
    everyone = sum(tally.by_entity.values()) + sum(tally.exchange.values()) + tally.without_entity
    lines.append(
        TieLine.money(
            "Every contributor's total, plus benefits given to donors and sponsors and entries "
            "naming none, against all contributions",
            _usd(everyone),
            _usd(sum(by_fund.values())),
        )
    )
    lines.append(
        TieLine.count(
            "Income accounts with no Form 990 line (form-990-line on their open)",
            len(part_viii.unclassed),
            0,
        )
    )
    lines.append(
        TieLine.money(
            REVENUE_TIE,
            part_viii.total_revenue + part_viii.between_funds,
            _usd(all_income),
        )
    )
    lines.append(
        TieLine.money(
            "Part VIII line 1h, plus benefits given back, against all contributions",
            part_viii.contributions + _usd(sum(tally.exchange.values())),
            _usd(sum(by_fund.values())),
        )
    )
    for row in roll_forward:
        books_closing = snapshot.fund_figures(row.fund, "0000-01", f"{year:04d}-12", USD).change
        lines.append(
            TieLine.money(
                f"Closing balance of {row.project}: opening plus the year's movements",
                row.opening + row.movements,
                books_closing,
            )
        )
    settled = session.scalar(
        select(func.count(Gift.id)).where(
            Gift.settled_on >= date(year, 1, 1), Gift.settled_on <= date(year, 12, 31)
        )
    )
    lines.append(
        TieLine.count(
            "Gifts settled in the year (database) against gift entries in the books",
            int(settled or 0),
            tally.gift_entries,
        )
    )
    first, last = date(year, 1, 1), date(year, 12, 31)
    sponsorships = tally.sponsorships
    of_year = sponsorships.issued_in_year()
    lines.append(
        TieLine.count(
            "Sponsorship invoices issued in the year (database) against their entries in the books",
            len(of_year),
            tally.invoices_issued,
        )
    )
    voided = [
        i for i in sponsorships.by_number.values() if i.voided_on and first <= i.voided_on <= last
    ]
    lines.append(
        TieLine.count(
            "Sponsorship invoices voided in the year (database) against their entries in the books",
            len(voided),
            tally.invoices_voided,
        )
    )
    lines.append(
        TieLine.money(
            "What stands of the sponsorship invoices issued in the year (database) against "
            "their income in the books",
            _usd(sum(i.standing for i in of_year)),
            _usd(
                sum(
                    sponsorships.moved.get(i.number, 0) + sponsorships.moved_later.get(i.number, 0)
                    for i in of_year
                )
            ),
        )
    )
    lines.append(
        TieLine.count("Fund postings in a currency other than USD", tally.other_currency, 0)
    )
    return tuple(lines)


def _part_ix_ties(
    snapshot: Snapshot, year: int, funds: Sequence[str], part: PartIX
) -> tuple[TieLine, ...]:
    """Part IX against the books: every expense account's year, read from the snapshot's
    monthly figures (built apart from the index Part IX reads)."""
    books = sum(snapshot.fund_year(fund, year, USD).expenses_total.minor for fund in funds)
    columns = part.total
    return (
        TieLine.count(
            "Expense accounts with no Part IX function (function on their open)",
            len(part.unclassed),
            0,
        ),
        TieLine.money(
            PART_IX_TIE,
            _usd(columns.total) + part.between_funds,
            _usd(books),
        ),
        TieLine.money(
            "Part IX line 25 by project against line 25 by line",
            _usd(sum(part.of_fund(fund).total for fund in part.funds())),
            _usd(columns.total),
        ),
    )


# --- the files ---------------------------------------------------------------------

CSV_FILES = (
    "contributions.csv",
    "part-viii.csv",
    "schedule-b.csv",
    "schedule-b-noncash.csv",
    "schedule-a-part-ii.csv",
    "schedule-a-contributors.csv",
    "part-ix.csv",
    "part-ix-by-project.csv",
    "roll-forward.csv",
    "acknowledgements.csv",
    "refunds-disputes.csv",
    "1099-nec.csv",
    "tie-out.csv",
)


def unfinished(year: int, today: date) -> bool:
    """``year`` has not ended in the sponsor's time zone (``today``: ``clock.today``): its
    package is a draft, as ``ledger close`` and ``receipts annual`` refuse such a year."""
    return year >= today.year


def draft_notice(year: int, today: date) -> str | None:
    """What a draft says at the top of each CSV and page; None for a year that has ended.

    No comma, so a spreadsheet shows it whole in the first cell; it starts with ``# DRAFT``
    so a program can tell the line from the header and skip it.
    """
    if not unfinished(year, today):
        return None
    return (
        f"# DRAFT: {year} has not ended (prepared {today.isoformat()}); "
        "every figure here may still change"
    )


BASIS = "accrual"
# The basis of every figure, as the PDF says "Basis: accrual"; README.txt states it. No CSV
# carries it: a final package's CSVs begin with their header (SPEC section 8).
BASIS_STATEMENT = (
    f"Basis: {BASIS} (sponsorship invoices count when issued and gifts when they settle; "
    "as the books are kept)"
)
README_NAME = "README.txt"
# What each CSV is, for README.txt: one line each, in CSV_FILES' order.
CSV_DESCRIPTIONS = {
    "contributions.csv": "contributions by project and income type (Form 990 Part VIII line 1), "
    "refunds and lost disputes taken off, with the value of benefits given back",
    "part-viii.csv": "Form 990 Part VIII: revenue by line, with the prior year",
    "schedule-b.csv": "Schedule B: contributors whose contributions in the year reach the "
    "threshold, with name, address and total",
    "schedule-b-noncash.csv": "Schedule B Part II: noncash gifts (gifts of stock)",
    "schedule-a-part-ii.csv": "Schedule A Part II: the public support test over the year and "
    "the four before it",
    "schedule-a-contributors.csv": "Schedule A: each contributor whose five-year total is above "
    "2% of total support, and the excess",
    "part-ix.csv": "Form 990 Part IX: functional expenses by line and column, with the prior "
    "year's total",
    "part-ix-by-project.csv": "Form 990 Part IX by project: each fund's expense accounts by column",
    "roll-forward.csv": "each fund's roll-forward: opening balance, contributions, other income, "
    "fees, expenses, transfers, closing balance",
    "acknowledgements.csv": "every single gift of 250.00 or more, with the receipt that "
    "acknowledged it",
    "refunds-disputes.csv": "every refund and dispute booked in the year",
    "1099-nec.csv": "Form 1099-NEC: each payee paid for services in the year at or above the "
    "threshold named above, with TIN, address, total and the requests paid; reimbursements "
    "and corporations left out",
    "tie-out.csv": "each total against the same figure reached another way, with the "
    "difference (0.00 when it ties)",
}
assert tuple(CSV_DESCRIPTIONS) == CSV_FILES


def package_name(year: int, today: date) -> str:
    """The package's folder and zip name: ``year-end-2026``, or ``year-end-2026-DRAFT``."""
    return f"year-end-{year}" + ("-DRAFT" if unfinished(year, today) else "")


def pdf_name(year: int) -> str:
    return f"year-end-{year}.pdf"


def _amount(money: Money) -> str:
    return str(money.amount)


def _prior(money: Money | None) -> str:
    """The prior year's figure; a closed year these books do not hold says so."""
    return "not read" if money is None else _amount(money)


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def csv_rows(package: YearEnd) -> Iterator[tuple[str, list[str], list[list[str]]]]:
    """Each CSV file of the package: its name, its header, its rows (text cells made safe)."""
    s = spreadsheet_text
    yield (
        "contributions.csv",
        ["fund", "project", "income_type", "amount", "currency", "benefits_value"],
        [
            [
                c.fund,
                s(c.project),
                c.income_type,
                _amount(c.amount),
                USD.value,
                _amount(c.benefits),
            ]
            for c in package.contributions
        ]
        + [
            [
                "",
                "Total",
                "",
                _amount(package.contributions_total),
                USD.value,
                _amount(package.benefits_total),
            ]
        ],
    )
    prior_viii = package.prior_part_viii
    yield (
        "part-viii.csv",
        ["line", "description", "amount", "prior_year", "currency", "accounts"],
        [
            [
                v.line,
                v.label,
                _amount(v.amount),
                _prior(before),
                USD.value,
                s("; ".join(v.accounts)),
            ]
            for v, before in package.part_viii_compared()
        ]
        + [
            [
                "",
                "Not revenue: sponsorship fees between the sponsor's own funds",
                _amount(package.part_viii.between_funds),
                _prior(prior_viii.between_funds if prior_viii is not None else None),
                USD.value,
                accounts.SPONSORSHIP_FEE_INCOME,
            ]
        ],
    )
    rule = package.schedule_b_rule.value
    threshold = _amount(package.schedule_b_threshold)
    yield (
        "schedule-b.csv",
        ["name", "address", "total", "currency", "gifts", "donor_ref", "rule", "threshold"],
        [
            [
                s(c.name),
                s(c.address),
                _amount(c.total),
                USD.value,
                str(c.gifts),
                c.entity,
                rule,
                threshold,
            ]
            for c in package.schedule_b
        ],
    )
    yield (
        "schedule-b-noncash.csv",
        ["name", "donor_ref", "description", "date", "value", "currency", "ref"],
        [
            [
                s(g.name),
                g.entity,
                s(g.description),
                g.day.isoformat(),
                _amount(g.value),
                USD.value,
                s(g.ref),
            ]
            for g in package.schedule_b_noncash
        ],
    )
    yield "schedule-a-part-ii.csv", *_schedule_a_rows(package.schedule_a)
    support = package.schedule_a
    unnamed = support.unnamed
    yield (
        "schedule-a-contributors.csv",
        ["name", "donor_ref", "five_year_total", "limit", "excess", "currency"],
        [
            [s(c.name), c.entity, *map(_amount, (c.total, support.cap, c.excess)), USD.value]
            for c in support.capped
        ]
        + [
            ["(entries naming no contributor: not capped)", "", _amount(unnamed), "", "", "USD"]
            for _ in range(1 if unnamed.minor else 0)
        ],
    )
    part, prior_ix = package.part_ix, package.prior_part_ix
    yield (
        "part-ix.csv",
        [
            "line",
            "description",
            "total",
            "program",
            "management",
            "fundraising",
            "prior_year_total",
            "currency",
            "accounts",
        ],
        [
            [
                row.line,
                row.label,
                *map(_amount, row.columns.money()),
                _prior(before),
                USD.value,
                s("; ".join(row.accounts)),
            ]
            for row, before in package.part_ix_compared()
        ]
        + [
            [
                "",
                "Not an expense: sponsorship fees between the sponsor's own funds",
                _amount(part.between_funds),
                "",
                "",
                "",
                _prior(prior_ix.between_funds if prior_ix is not None else None),
                USD.value,
                "Expenses:<Fund>:Sponsorship-Fees",
            ]
        ],
    )
    names = package.fund_names
    by_project = []
    for fund in part.funds():
        for row in part.accounts:
            if row.fund == fund:
                by_project.append(
                    [
                        fund,
                        s(names.get(fund, fund)),
                        row.account,
                        row.line,
                        *map(_amount, row.columns.money()),
                        USD.value,
                    ]
                )
        by_project.append(
            [
                fund,
                s(names.get(fund, fund)),
                "Total",
                "",
                *map(_amount, part.of_fund(fund).money()),
                USD.value,
            ]
        )
    yield (
        "part-ix-by-project.csv",
        [
            "fund",
            "project",
            "account",
            "line",
            "total",
            "program",
            "management",
            "fundraising",
            "currency",
        ],
        by_project,
    )
    yield (
        "roll-forward.csv",
        [
            "fund",
            "project",
            "opening",
            "contributions",
            "other_income",
            "sponsorship_fees",
            "processing_fees",
            "other_expenses",
            "transfers",
            "closing",
            "currency",
        ],
        [
            [
                r.fund,
                s(r.project),
                *(
                    _amount(m)
                    for m in (
                        r.opening,
                        r.contributions,
                        r.other_income,
                        r.sponsorship_fees,
                        r.processing_fees,
                        r.other_expenses,
                        r.transfers,
                        r.closing,
                    )
                ),
                USD.value,
            ]
            for r in package.roll_forward
        ],
    )
    yield (
        "acknowledgements.csv",
        ["date", "name", "address", "projects", "amount", "currency", "receipt", "ref"],
        [
            [
                a.day.isoformat(),
                s(a.name),
                s(a.address),
                s(a.projects),
                _amount(a.amount),
                USD.value,
                a.receipt or "NONE ISSUED",
                s(a.ref),
            ]
            for a in package.acknowledgements
        ],
    )
    yield (
        "refunds-disputes.csv",
        ["date", "kind", "description", "name", "projects", "amount", "currency", "gift", "ref"],
        [
            [
                r.day.isoformat(),
                r.kind,
                s(r.description),
                s(r.name),
                s(r.projects),
                _amount(r.amount),
                USD.value,
                s(r.gift),
                s(r.ref),
            ]
            for r in package.reversals
        ],
    )
    nec = package.form_1099_nec
    yield (
        "1099-nec.csv",
        [
            "name",
            "tin_kind",
            "tin",
            "address",
            "total",
            "currency",
            "payments",
            "requests",
            "threshold",
            "threshold_source",
        ],
        [
            [
                s(p.legal_name),
                p.tin_kind,
                p.tin,
                s(p.address),
                _amount(p.total),
                USD.value,
                str(p.payments),
                "; ".join(p.requests),
                _amount(nec.threshold.amount),
                s(nec.threshold.source),
            ]
            for p in nec.payees
        ],
    )
    yield (
        "tie-out.csv",
        ["check", "package", "books", "difference", "ties"],
        [
            [s(t.what), t.package, t.books, t.difference, "yes" if t.ok else "NO"]
            for t in package.tie_out
        ],
    )


def _schedule_a_rows(
    support: schedule_a.ScheduleA,
) -> tuple[list[str], list[list[str]]]:
    """Schedule A Part II as the form lays it out: a column per year, then the total; the
    percentage and the tests below, in the total's column."""
    columns = [str(y.year) for y in support.years]
    blank = [""] * len(columns)

    def verdict(flag: bool) -> str:
        return _yes(flag) if support.complete else "incomplete"

    rows = [
        [
            line,
            label,
            *([_amount(m) for m in by_year] if by_year is not None else blank),
            _amount(total),
            USD.value,
        ]
        for line, label, by_year, total in support.rows()
    ]
    rows += [
        [
            "14",
            "Public support percentage (line 6 / line 11, (f))",
            *blank,
            (
                f"{support.percentage}%"
                if support.measured
                else ("none" if support.complete else "incomplete")
            ),
            "",
        ],
        ["16a", "33 1/3% support test met", *blank, verdict(support.meets_one_third), ""],
        [
            "17a",
            "Below 33 1/3% but 10% or more: the 10%-facts-and-circumstances test may apply",
            *blank,
            verdict(support.ten_percent and not support.meets_one_third),
            "",
        ],
    ]
    rows += [
        ["", f"NOT READ: {y} is closed; the command reads the full history", *blank, "", ""]
        for y in support.unread
    ]
    return ["line", "description", *columns, "total", "currency"], rows


def write_csv(rows: Sequence[Sequence[str]], header: Sequence[str], out: TextIO) -> None:
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows(rows)


def csv_files(package: YearEnd, *, prepared_on: date) -> Iterator[tuple[str, bytes]]:
    """Each CSV file of the package, named, as UTF-8. A final package's files begin with
    their header; a draft's with the draft notice, one line above the header."""
    import io

    notice = draft_notice(package.year, prepared_on)
    for name, header, rows in csv_rows(package):
        text = io.StringIO(newline="")
        if notice is not None:
            text.write(notice + "\r\n")  # the csv module's own line ending
        write_csv(rows, header, text)
        yield name, text.getvalue().encode("utf-8")


def pdf_bytes(package: YearEnd, sponsor: Sponsor, *, prepared_on: date) -> bytes:
    """The one-document summary: every section's totals, Schedule B and the tie-out; a
    draft says so at the head of every page, and across it."""
    from conservancy.receipts.render import draw_pdf, render_template

    return draw_pdf(
        render_template(
            "documents/reports/year_end.html",
            p=package,
            sponsor=sponsor,
            prepared_on=prepared_on,
            draft=unfinished(package.year, prepared_on),
        )
    )


def file_names(year: int) -> tuple[str, ...]:
    """Every file of the package, in the order README.txt lists them."""
    return (README_NAME, *CSV_FILES, pdf_name(year))


def readme_text(package: YearEnd, sponsor: Sponsor, *, prepared_on: date) -> str:
    """README.txt: who, which year, on what basis, whether a draft, when prepared, and one
    line per file saying what it is. Nothing in it but the package and ``prepared_on``."""
    year = package.year
    notice = draft_notice(year, prepared_on)
    described = {
        README_NAME: "this file",
        **CSV_DESCRIPTIONS,
        pdf_name(year): "the summary of every section, Schedule B and the tie-out, in one PDF",
    }
    names = file_names(year)
    width = max(map(len, names))
    lines = [
        f"Year-end package, {year}" + (" (DRAFT)" if notice else ""),
        "",
        f"Sponsor: {sponsor.legal_name} (EIN {sponsor.ein})",
        f"Year: {year} ({package.first_day.isoformat()} to {package.last_day.isoformat()}), "
        "amounts in USD",
        BASIS_STATEMENT,
        "Status: " + (notice.removeprefix("# ") if notice else f"final ({year} has ended)"),
        f"Prepared: {prepared_on.isoformat()}",
        "",
        *_nec_lines(package.form_1099_nec),
        "",
        "Each CSV begins with its header row"
        + (' (in this draft, below one line starting "# DRAFT")' if notice else "")
        + "; UTF-8, comma-separated.",
        "",
        "Files:",
        *(f"  {name.ljust(width)}  {described[name]}" for name in names),
    ]
    return "\n".join(lines) + "\n"


def _nec_lines(nec: Form1099Nec) -> list[str]:
    """README.txt on 1099-nec.csv: the threshold and its source, whether the figure is
    provisional, and whether the TINs are in full."""
    line = nec.threshold
    said = f"Form 1099-NEC threshold for payments made in {nec.year}: {line.amount.format()} " + (
        f"(PROVISIONAL: {line.source})" if line.provisional else f"({line.source})"
    )
    tins = (
        "Taxpayer identification numbers in 1099-nec.csv: in full; keep this package as "
        "confidential as the W-9s it comes from"
        if nec.tins_in_full
        else "Taxpayer identification numbers in 1099-nec.csv: masked to their last four "
        "digits (the command's --with-tins gives them in full)"
    )
    return [said, tins]


def package_files(
    package: YearEnd, sponsor: Sponsor, *, prepared_on: date
) -> Iterator[tuple[str, bytes]]:
    """Every file of the package, named as ``file_names`` names them, in that order: what
    the command writes and the staff page's zip holds."""
    yield README_NAME, readme_text(package, sponsor, prepared_on=prepared_on).encode("utf-8")
    yield from csv_files(package, prepared_on=prepared_on)
    yield pdf_name(package.year), pdf_bytes(package, sponsor, prepared_on=prepared_on)


def write_package(
    package: YearEnd, sponsor: Sponsor, folder: Path, *, prepared_on: date
) -> list[Path]:
    """README.txt, the CSVs and the PDF into ``folder``, each written whole under a
    temporary name first."""
    return [
        write_whole(folder / name, body)
        for name, body in package_files(package, sponsor, prepared_on=prepared_on)
    ]
