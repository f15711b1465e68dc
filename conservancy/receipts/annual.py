"""Annual giving statements: one per donor and calendar year, every gift and the deductible total.

:func:`issue_statements` is what ``conservancy receipts annual --year`` runs:

1. Who is due: donors with a gift settled in the year (``Gift.settled_on``, the
   sponsor's accounting date) and no statement row for that year yet. The row
   is the mark of a finished statement, so running the command again resumes
   an interrupted run.
2. Each statement's content is built here, in the parent, from a few batched
   queries per chunk of donors. A gift counts at what stands of it: the
   amount and deductible part of its standing receipt (SPEC section 8). A gift
   refunded in full is listed at zero under its voided receipt, so the donor
   sees every gift they made; a donor with nothing left standing gets no
   statement.
3. Worker processes (one per core) draw the PDFs and store them as
   ``statements/<year>/<donor ref>-<digest>.pdf`` under the receipts
   directory. A file is written once: one stored by a run that was killed
   before it recorded the row is kept and reused (see :func:`relative_path`).
4. As drawings come back, the parent records the statement rows and queues
   their e-mails, committing both together every few dozen, so an
   interruption loses at most one batch of rows, never a file and never a
   message. The mail goes out after the commit (``Runtime.deliver``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import re
import signal
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from datetime import time as midnight
from pathlib import Path
from typing import Any

from sqlalchemy import Exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, aliased, sessionmaker

from conservancy.donations.models import Donation, Donor, Gift, OfflineGift, OfflineMethod
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.mail.outbox import queue
from conservancy.money import Currency, Money
from conservancy.projects.models import Project
from conservancy.projects.service import get_sponsor
from conservancy.receipts import document
from conservancy.receipts.issue import standing, store
from conservancy.receipts.models import AnnualStatement, Receipt, ReceiptKind

log = logging.getLogger(__name__)

TEMPLATE = "documents/receipts/statement.html"
FIRST_YEAR = 1900
# Donors whose content is built at once (their ids fit any database's IN list).
CHUNK = 200
# Drawings handed to the pool ahead of the workers, per worker: enough to keep
# them busy (a second or so) while the parent builds the next chunk or records
# a batch, few enough to keep memory flat.
AHEAD = 16
_SAFE_REF = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


class StatementYearRefused(DomainError):
    """A year statements cannot be issued for (yet)."""


class NoSponsor(DomainError):
    """Nothing can be acknowledged before the sponsor is recorded."""


# -- the document (pure: what the PDF and its attachment say) ------------------


_RETURNED = {"refund": "refunded", "dispute": "disputed"}


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One gift as it stands: what was given, what stands of it, and what is deductible."""

    gift_on: date
    project_name: str
    # The receipt that stands for the gift; for a gift refunded in full, the receipt voided.
    receipt_number: str
    given: Money
    amount: Money
    deductible: Money
    # Why less stands than was given: "refund", "dispute".
    reason: str | None = None
    # For a gift in another currency: what stands of it in US dollars, at the gift's rate
    # (its standing receipt's figure). None for a gift in dollars.
    settled: Money | None = None
    # A gift of property (shares), as its receipt describes it: the statement states no
    # value for it, as its receipt does not (SPEC section 8); the donor values it.
    property_given: str | None = None

    @property
    def refunded_in_full(self) -> bool:
        return self.amount.minor == 0

    @property
    def usd_amount(self) -> Money:
        """What stands, in US dollars: the figure the year's total adds up (nothing for
        property, which the statement does not value)."""
        if self.property_given is not None:
            return Money.zero(Currency.USD)
        return self.settled if self.settled is not None else self.amount

    @property
    def usd_deductible(self) -> Money:
        """The deductible part in US dollars (a gift in another currency is deductible whole:
        thank-you gifts go with gifts in dollars only)."""
        if self.property_given is not None:
            return Money.zero(Currency.USD)
        return self.settled if self.settled is not None else self.deductible

    @property
    def not_deductible(self) -> Money:
        """The part of what stands that paid for goods or services received."""
        return self.amount - self.deductible

    @property
    def notes(self) -> tuple[str, ...]:
        returned = _RETURNED.get(self.reason or "", "returned")
        notes: list[str] = []
        if self.property_given is not None:
            return (
                f"Property given: {self.property_given}. No value is stated for it here, as on its "
                "receipt: its value for your return is yours to determine",
            )
        if self.refunded_in_full:
            notes.append(
                f"{self.given.format()} given, {returned} in full; "
                f"receipt {self.receipt_number} is void"
            )
        elif self.amount < self.given:
            notes.append(f"{self.given.format()} given, less {self.lost.format()} {returned}")
        if self.not_deductible:
            notes.append(
                f"Goods or services received in exchange: {self.not_deductible.format()} "
                "of this gift is not deductible"
            )
        return tuple(notes)

    @property
    def lost(self) -> Money:
        return self.given - self.amount


@dataclass(frozen=True, slots=True)
class Total:
    currency: Currency
    amount: Money
    deductible: Money


@dataclass(frozen=True, slots=True)
class StatementDocument:
    year: int
    issued_on: date
    sponsor: document.Sponsor
    donor_ref: str
    donor_name: str
    donor_address: str | None
    lines: tuple[StatementLine, ...]

    def __post_init__(self) -> None:
        if not self.lines:
            raise document.ReceiptError("a statement lists at least one gift")
        if self.issued_on.year <= self.year:
            raise document.ReceiptError(f"a statement for {self.year} is issued after it ends")
        for line in self.lines:
            if line.gift_on.year != self.year:
                raise document.ReceiptError(f"a gift of {line.gift_on} is not of {self.year}")
            if not line.amount.currency == line.given.currency == line.deductible.currency:
                raise document.ReceiptError("a gift's amounts must share its currency")
            if not Money.zero(line.amount.currency) <= line.deductible <= line.amount:
                raise document.ReceiptError("a gift's deductible part is from zero to its amount")
            if line.settled is not None and (
                line.settled.currency is not Currency.USD or line.deductible != line.amount
            ):
                raise document.ReceiptError(
                    "a gift in another currency is valued in US dollars and deductible whole"
                )
        # Never printed on a statement, as on a receipt: an SSN or a card number.
        for label, text in (
            ("donor name", self.donor_name),
            ("donor address", self.donor_address),
            *(("project name", line.project_name) for line in self.lines),
        ):
            document._refuse_identifiers(label, text)

    @property
    def title(self) -> str:
        return f"Giving statement {self.year}"

    @property
    def totals(self) -> tuple[Total, ...]:
        """What stands and what is deductible: one total, in US dollars.

        Every line counts in US dollars, so the year has one total, in dollars. A US
        donor deducts dollars, and the IRS values a contribution in another currency at
        its dollar value on the day it was made: here, the dollars Stripe converted it
        into that day, the sponsor's own income from it. An auditor tying the statement
        to the books finds the same figures, and a total per currency would add euros to
        nobody's return. Each line still shows the gift in the donor's currency beside its
        dollars, so the donor can match it to their card statement.
        """
        amount = deductible = 0
        for line in self.lines:
            amount += line.usd_amount.minor
            deductible += line.usd_deductible.minor
        usd = Currency.USD
        return (Total(usd, Money.from_minor(amount, usd), Money.from_minor(deductible, usd)),)

    @property
    def any_converted(self) -> bool:
        return any(line.settled is not None for line in self.lines)

    @property
    def gift_count(self) -> int:
        return len(self.lines)

    @property
    def project_names(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(line.project_name for line in self.lines))

    @property
    def any_refunded(self) -> bool:
        return any(line.amount < line.given for line in self.lines)

    @property
    def purpose_statement(self) -> str:
        """The sponsor is the donee with variance power (see ReceiptDocument.purpose_statement)."""
        sponsor = self.sponsor.legal_name
        names = self.project_names
        work = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
        projects = (
            "one of its fiscally sponsored projects"
            if len(names) == 1
            else "which are among its fiscally sponsored projects"
        )
        these, each = (
            ("This gift was", "it") if len(self.lines) == 1 else ("These gifts were", "each gift")
        )
        return (
            f"{these} made to {sponsor} to support the work of {work}, {projects}. "
            f"{sponsor} has full discretion and control over the use of all contributed funds "
            f"and uses {each} for the benefit of the project it was designated for, in "
            f"keeping with its charitable purposes."
        )

    @property
    def goods_and_services_statement(self) -> str:
        """The quid-pro-quo wording over the year's gifts; never "fully deductible"."""
        with_goods = [line for line in self.lines if line.not_deductible]
        if not with_goods:
            return "No goods or services were provided in exchange for these contributions."
        text = (
            "For the gifts so noted, you received goods or services in exchange; their "
            "good-faith estimated value is on each gift's receipt, and only the amount of the "
            "gift in excess of it is deductible for federal income tax purposes (the Deductible "
            "column)."
        )
        if len(with_goods) < len(self.lines):
            text += " No goods or services were provided in exchange for your other gifts."
        return text

    @property
    def refund_statement(self) -> str | None:
        if not self.any_refunded:
            return None
        return (
            "Amounts are what stands after refunds and disputes: a gift returned in part is "
            "listed at what remains, under its replacement receipt; a gift returned in full, "
            "at zero, its receipt void."
        )

    @property
    def keep_for_records(self) -> str:
        return "Keep this statement for your tax records."

    def totals_minor(self) -> dict[str, dict[str, int]]:
        """The totals as the AnnualStatement row keeps them: minor units per currency."""
        return {
            t.currency.value: {"amount": t.amount.minor, "deductible": t.deductible.minor}
            for t in self.totals
        }

    def data(self) -> dict[str, Any]:
        """The machine-readable copy embedded in the PDF as ``statement.json``.

        Amounts are strings (exact decimals), as in a receipt's.
        """
        return {
            "kind": "annual-statement",
            "year": self.year,
            "issued_on": self.issued_on.isoformat(),
            "sponsor_ein": self.sponsor.ein,
            "donor": self.donor_ref,
            "gifts": [
                {
                    "on": line.gift_on.isoformat(),
                    "project": line.project_name,
                    "receipt": line.receipt_number,
                    "currency": line.amount.currency.value,
                    **(
                        {"property": line.property_given, "amount": None, "deductible": None}
                        if line.property_given is not None
                        else {
                            "given": str(line.given.amount),
                            "amount": str(line.amount.amount),
                            "deductible": str(line.deductible.amount),
                        }
                    ),
                    "void": line.refunded_in_full,
                    # A gift in another currency also names its US dollar figures.
                    **(
                        {
                            "usd_amount": str(line.usd_amount.amount),
                            "usd_deductible": str(line.usd_deductible.amount),
                        }
                        if line.settled is not None
                        else {}
                    ),
                }
                for line in self.lines
            ],
            "totals": {
                t.currency.value: {
                    "amount": str(t.amount.amount),
                    "deductible": str(t.deductible.amount),
                }
                for t in self.totals
            },
        }


def statement_html(doc: StatementDocument) -> str:
    from conservancy.receipts.render import render_template

    return render_template(TEMPLATE, doc=doc)


def statement_pdf(doc: StatementDocument) -> bytes:
    """The statement as PDF/A-3a bytes, with its data attached as ``statement.json``."""
    from conservancy.receipts.render import render_pdf

    return render_pdf(
        statement_html(doc),
        data=_data_json(doc),
        name="statement.json",
        description=f"{doc.title} for {doc.donor_ref} (machine-readable)",
        stamp=datetime.combine(doc.issued_on, midnight(), tzinfo=UTC),
    )


def relative_path(doc: StatementDocument, donor_id: int) -> str:
    """Where a statement lives under the receipts directory.

    ``statements/2026/<donor ref>-<digest>.pdf``: the digest is of the
    statement's data, so a run that resumes after a kill reuses the file the
    killed run stored only if it says the same thing; had a refund changed
    the figures meanwhile, the new statement gets a file of its own (and the
    stale one is referred to by nothing).
    """
    name = doc.donor_ref if _SAFE_REF.fullmatch(doc.donor_ref) else f"donor-id-{donor_id}"
    compact = json.dumps(doc.data(), sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(compact.encode()).hexdigest()[:12]
    return f"statements/{doc.year}/{name}-{digest}.pdf"


def _data_json(doc: StatementDocument) -> str:
    return json.dumps(doc.data(), indent=2, sort_keys=True)


# -- what is due, from the database --------------------------------------------


def check_year(year: int, today: date) -> None:
    """Statements are for a year that has ended: issued early, they would miss its last gifts."""
    if year < FIRST_YEAR:
        raise StatementYearRefused(f"{year} is not a year of the books")
    if year >= today.year:
        raise StatementYearRefused(
            f"the year {year} has not ended yet; its statements can be issued "
            f"from January 1, {year + 1}"
        )


def _daf_grant() -> Exists:
    """The gift is a donor-advised fund's grant: the fund's gift, not its recommending
    donor's, so it is left out of their statement (donations.offline)."""
    return (
        select(OfflineGift.id)
        .where(OfflineGift.gift_id == Gift.id, OfflineGift.method == OfflineMethod.DAF)
        .exists()
    )


def due_donors(session: Session, year: int) -> list[int]:
    """Donors with a gift settled in ``year`` and no statement for it yet, by id."""
    issued = (
        select(AnnualStatement.id)
        .where(AnnualStatement.donor_id == Donation.donor_id, AnnualStatement.year == year)
        .exists()
    )
    return list(
        session.scalars(
            select(Donation.donor_id)
            .join(Gift, Gift.donation_id == Donation.id)
            .where(Gift.settled_on >= date(year, 1, 1), Gift.settled_on <= date(year, 12, 31))
            .where(~_daf_grant())
            .where(~issued)
            .distinct()
            .order_by(Donation.donor_id)
        )
    )


@dataclass(frozen=True, slots=True)
class Due:
    """A statement to draw, and what the parent needs to record it."""

    donor_id: int
    email: str | None  # None: a cheque donor without one; staff post the statement
    doc: StatementDocument

    @property
    def relative(self) -> str:
        return relative_path(self.doc, self.donor_id)


@dataclass(frozen=True, slots=True)
class Problem:
    donor_ref: str
    message: str

    def __str__(self) -> str:
        return f"{self.donor_ref}: {self.message}"


@dataclass
class Batch:
    due: list[Due] = field(default_factory=list)
    nothing_stands: int = 0
    problems: list[Problem] = field(default_factory=list)


def sponsor_of(session: Session) -> document.Sponsor:
    sponsor = get_sponsor(session)
    if sponsor is None:
        raise NoSponsor("no sponsor is recorded yet: run 'conservancy init' first")
    return document.Sponsor.of(sponsor)


def build_statements(
    session: Session,
    donor_ids: Sequence[int],
    year: int,
    *,
    issued_on: date,
    sponsor: document.Sponsor,
) -> Batch:
    """The statements of these donors for ``year``: three queries, whatever their number."""
    batch = Batch()
    donors = {d.id: d for d in session.scalars(select(Donor).where(Donor.id.in_(donor_ids)))}
    offline = aliased(OfflineGift)  # apart from the one _daf_grant() correlates
    gifts = session.execute(
        select(
            Gift.id,
            Gift.ref,
            Gift.settled_on,
            Gift.currency,
            Gift.project_minor + Gift.general_minor,
            Donation.donor_id,
            Project.name,
            offline.method,
            offline.reference,
        )
        .join(Donation, Gift.donation_id == Donation.id)
        .join(Project, Donation.project_id == Project.id)
        .outerjoin(offline, offline.gift_id == Gift.id)
        .where(Donation.donor_id.in_(donor_ids))
        .where(Gift.settled_on >= date(year, 1, 1), Gift.settled_on <= date(year, 12, 31))
        .where(~_daf_grant())
        .order_by(Donation.donor_id, Gift.settled_on, Gift.id)
    ).all()
    chains: dict[int, list[Receipt]] = {}
    for receipt in session.scalars(
        select(Receipt).where(Receipt.gift_id.in_([g[0] for g in gifts])).order_by(Receipt.id)
    ):
        chains.setdefault(receipt.gift_id, []).append(receipt)

    by_donor: dict[int, list[StatementLine]] = {}
    broken: dict[int, str] = {}
    for gift_id, gift_ref, settled_on, currency, given_minor, donor_id, project, how, what in gifts:
        line = _line(chains.get(gift_id, []), settled_on, project, Currency(currency), given_minor)
        if line is not None and how is OfflineMethod.STOCK:
            line = replace(line, property_given=what)
        if line is None:
            broken.setdefault(donor_id, f"gift {gift_ref} has no receipt")
        else:
            by_donor.setdefault(donor_id, []).append(line)

    for donor_id in donor_ids:
        donor = donors[donor_id]
        lines = by_donor.get(donor_id, [])
        if donor_id in broken:
            batch.problems.append(Problem(donor.ref, broken[donor_id]))
        elif not any(line.amount.minor for line in lines):
            batch.nothing_stands += 1
        else:
            try:
                doc = StatementDocument(
                    year=year,
                    issued_on=issued_on,
                    sponsor=sponsor,
                    donor_ref=donor.ref,
                    donor_name=donor.name,
                    donor_address=donor.address,
                    lines=tuple(lines),
                )
            except document.ReceiptError as exc:
                batch.problems.append(Problem(donor.ref, str(exc)))
                continue
            batch.due.append(Due(donor_id, donor.email, doc))
    return batch


def _line(
    chain: list[Receipt], on: date, project: str, currency: Currency, given_minor: int
) -> StatementLine | None:
    given = Money.from_minor(given_minor, currency)
    current = standing(chain)
    if current is not None:
        return StatementLine(
            gift_on=on,
            project_name=project,
            receipt_number=current.number,
            given=given,
            amount=current.amount,
            deductible=current.deductible,
            reason=current.reason,
            settled=current.settled,
        )
    # Refunded in full: name the last receipt that stood, and why it was voided.
    voided = [r for r in chain if r.kind is not ReceiptKind.VOIDING]
    notices = [r for r in chain if r.kind is ReceiptKind.VOIDING]
    if not voided:
        return None
    zero = Money.zero(currency)
    return StatementLine(
        gift_on=on,
        project_name=project,
        receipt_number=voided[-1].number,
        given=given,
        amount=zero,
        deductible=zero,
        reason=notices[-1].reason if notices else None,
        settled=Money.zero(Currency.USD) if currency is not Currency.USD else None,
    )


# -- drawing, in the workers ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stored:
    donor_id: int
    relative: str
    sha256: str


def draw(doc: StatementDocument, donor_id: int, folder: Path, relative: str) -> Stored:
    """Draw a statement and store its file (kept as it is if a killed run stored it)."""
    return Stored(donor_id, relative, store(folder, relative, statement_pdf(doc)))


def _worker_start() -> None:
    # Ctrl-C is the parent's to handle: it records what is done and stops the pool.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def pool_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a clean server that has WeasyPrint loaded already.

    Not plain fork: the parent holds database connections and perhaps threads,
    which a forked child must not inherit.
    """
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["conservancy.receipts.annual", "conservancy.receipts.render"])
    return context


def make_pool(jobs: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(jobs, mp_context=pool_context(), initializer=_worker_start)


def default_jobs() -> int:
    """The cores this process may use."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- the run --------------------------------------------------------------------


@dataclass(frozen=True)
class AnnualResult:
    year: int
    due: int  # donors with gifts in the year and no statement when the run began
    issued: int
    nothing_stands: int  # donors whose every gift of the year was returned in full
    already: int  # recorded meanwhile by another run
    problems: tuple[Problem, ...]


Progress = Callable[[int, int], None]


def issue_statements(
    sessions: sessionmaker[Session],
    folder: Path,
    year: int,
    *,
    today: date,
    jobs: int | None = None,
    batch: int = 50,
    progress: Progress | None = None,
) -> AnnualResult:
    """Issue the year's statements of every donor who has none; safe to run again.

    ``today`` is the date statements are issued on (the sponsor's time zone).
    ``progress(done, total)`` is called as each statement is drawn. Rows and
    mail are committed every ``batch`` statements (and at least every two
    seconds); on KeyboardInterrupt the statements already drawn are recorded
    before it propagates.
    """
    check_year(year, today)
    with sessions() as session:
        sponsor = sponsor_of(session)
        donor_ids = due_donors(session, year)
    run = _Run(sessions, folder, year, today, sponsor, batch, progress, len(donor_ids))
    if donor_ids:
        run.go(donor_ids, min(jobs or default_jobs(), len(donor_ids)))
    return AnnualResult(
        year=year,
        due=len(donor_ids),
        issued=run.issued,
        nothing_stands=run.nothing_stands,
        already=run.already,
        problems=tuple(run.problems),
    )


class _Run:
    """The state of one run: what is drawn, what is recorded, and the counts."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        folder: Path,
        year: int,
        today: date,
        sponsor: document.Sponsor,
        batch: int,
        progress: Progress | None,
        total: int,
    ) -> None:
        self.sessions = sessions
        self.folder = folder
        self.year = year
        self.today = today
        self.sponsor = sponsor
        self.batch = batch
        self.progress = progress
        self.total = total
        self.done = 0
        self.issued = self.nothing_stands = self.already = 0
        self.problems: list[Problem] = []
        self.drawn: list[tuple[Stored, Due]] = []
        self.last_commit = time.monotonic()

    def go(self, donor_ids: list[int], jobs: int) -> None:
        pool = make_pool(jobs)
        running: dict[Future[Stored], Due] = {}
        try:
            for due in self._due(donor_ids):
                while len(running) >= jobs * AHEAD:
                    self._collect(running)
                running[pool.submit(draw, due.doc, due.donor_id, self.folder, due.relative)] = due
            while running:
                self._collect(running)
            self._record()
        except BaseException:
            # Interrupted (Ctrl-C) or failed: let the workers finish what they hold,
            # then record every statement that is drawn, so that little is drawn again.
            pool.shutdown(wait=True, cancel_futures=True)
            for future, due in running.items():
                if future.done() and not future.cancelled() and future.exception() is None:
                    self.drawn.append((future.result(), due))
            self._record_anyway()
            raise
        pool.shutdown(wait=True)

    def _due(self, donor_ids: list[int]) -> Iterator[Due]:
        for start in range(0, len(donor_ids), CHUNK):
            chunk = donor_ids[start : start + CHUNK]
            with self.sessions() as session:
                built = build_statements(
                    session, chunk, self.year, issued_on=self.today, sponsor=self.sponsor
                )
            self.nothing_stands += built.nothing_stands
            for problem in built.problems:
                self._problem(problem)
            self._advance(built.nothing_stands + len(built.problems))
            yield from built.due

    def _collect(self, running: dict[Future[Stored], Due]) -> None:
        finished, _ = wait(running, return_when=FIRST_COMPLETED)
        for future in finished:
            due = running.pop(future)
            try:
                stored = future.result()
            except (document.ReceiptError, ValueError, OSError) as exc:
                self._problem(Problem(due.doc.donor_ref, f"cannot be drawn: {exc}"))
            else:
                self.drawn.append((stored, due))
            self._advance(1)
        if len(self.drawn) >= self.batch or time.monotonic() - self.last_commit > 2:
            self._record()

    def _problem(self, problem: Problem) -> None:
        # Returned with the result for the caller to show; logged for the record only.
        log.info(
            "statement %s for %s not issued: %s", self.year, problem.donor_ref, problem.message
        )
        self.problems.append(problem)

    def _advance(self, count: int) -> None:
        self.done += count
        if count and self.progress is not None:
            self.progress(self.done, self.total)

    def _record_anyway(self) -> None:
        try:
            self._record()
        except Exception as exc:
            log.error("recording the statements already drawn failed (%s); run again", exc)

    def _record(self) -> None:
        """Record the drawn statements and queue their mail, in one commit."""
        if not self.drawn:
            return
        for attempt in (1, 2):
            try:
                self._record_once()
                break
            except IntegrityError:
                # Another run recorded some of them first; the second pass skips those.
                if attempt == 2:
                    raise
        self.drawn = []
        self.last_commit = time.monotonic()

    def _record_once(self) -> None:
        already = 0
        now = clock.now()
        with self.sessions() as session:
            ids = [due.donor_id for _, due in self.drawn]
            recorded = set(
                session.scalars(
                    select(AnnualStatement.donor_id).where(
                        AnnualStatement.year == self.year, AnnualStatement.donor_id.in_(ids)
                    )
                )
            )
            rows: list[tuple[Due, AnnualStatement]] = []
            for stored, due in self.drawn:
                if due.donor_id in recorded:
                    already += 1
                    continue
                row = AnnualStatement(
                    donor_id=due.donor_id,
                    year=self.year,
                    gift_count=due.doc.gift_count,
                    totals=due.doc.totals_minor(),
                    issued_at=now,
                    pdf_path=stored.relative,
                    pdf_sha256=stored.sha256,
                )
                session.add(row)
                rows.append((due, row))
            session.flush()  # one INSERT for the batch; the mail rows name their ids
            for due, row in rows:
                _queue_mail(session, due, row)
            session.commit()
            issued = len(rows)
        self.issued += issued
        self.already += already


def _queue_mail(session: Session, due: Due, row: AnnualStatement) -> None:
    if due.email is None:
        return
    doc = due.doc
    deductible = " and ".join(t.deductible.format() for t in doc.totals)
    gifts = "gift" if doc.gift_count == 1 else f"{doc.gift_count} gifts"
    body = (
        f"Dear {doc.donor_name},\n\n"
        f"Thank you for your support in {doc.year}. Your giving statement is attached: it "
        f"lists your {gifts} to {doc.sponsor.legal_name} in {doc.year}, of which "
        f"{deductible} is deductible.\n\n"
        "Please keep it for your tax records. You can see all your gifts and download your "
        "receipts from the donor portal.\n"
    )
    queue(
        session,
        key=f"statement-{doc.year}-{doc.donor_ref}",
        to_address=due.email,
        to_name=doc.donor_name,
        subject=f"Your giving statement for {doc.year}",
        body=body,
        statement=row,
    )
