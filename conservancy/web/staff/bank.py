"""The bank reconciliation page: statements uploaded, lines matched, proposals decided.

Admins, bookkeepers and auditors read it (area BOOKS); admins and bookkeepers upload a
statement, book a proposed line (as proposed, or with the account and words they
choose) and match again after entering what the bank shows. Each change is one POST
with its CSRF token, audited by the service; the page then shows the result (303).
The books' side is read from the transaction index and the ledger outbox, never by
loading the ledger. The same as ``conservancy bank import|lines|confirm``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.file import FileField
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from wtforms import SelectField, StringField  # type: ignore[import-untyped]

from conservancy.background.jobs import Job
from conservancy.bank import service
from conservancy.bank.matching import entry_key
from conservancy.bank.models import BankLine, BankStatement, LineStatus
from conservancy.bank.service import ImportResult, ProposalRefused
from conservancy.bank.statement import StatementRefused
from conservancy.infra.config import BankAccount, Environment
from conservancy.kernel import clock
from conservancy.kernel.errors import DomainError
from conservancy.ledger import years
from conservancy.ledger.books import BooksLoading
from conservancy.ledger.index import BankEntry
from conservancy.ledger.snapshot import Snapshot
from conservancy.projects.service import get_sponsor
from conservancy.staff.permissions import Area, Staff, can_change
from conservancy.web.auth import current_user, require_area
from conservancy.web.context import db, never_cached, runtime
from conservancy.web.forms import PlainTextForm
from conservancy.web.staff.admin import SECTIONS, Section

bp = Blueprint("admin_bank", __name__, url_prefix="/admin")
log = logging.getLogger(__name__)

SECTIONS.append(
    Section(
        "Bank reconciliation",
        "admin_bank.page",
        Area.BOOKS,
        "Import the bank's statements, match them to the books, assert the balances.",
    )
)

bp.after_request(never_cached)

# How many matched lines the page lists (newest first), how many waiting lines (oldest
# first: decide those, then the next), and how many entries each is offered to match.
RECENT = 50
WAITING_SHOWN = 100
CANDIDATES_SHOWN = 5


def _strip(value: object) -> object:
    return value.strip() if isinstance(value, str) else value


class UploadForm(PlainTextForm):
    account = SelectField("Bank account")
    statement = FileField("Statement file")


class MatchForm(PlainTextForm):
    """A waiting line matched by hand: the key of the entry chosen."""

    entry = StringField("The entry in the books", filters=[_strip])


class ConfirmForm(PlainTextForm):
    """One waiting line's decision: the entry's other account and what it says."""

    account = StringField("Other account", filters=[_strip])
    narration = StringField("Narration", filters=[_strip])


def _banks() -> tuple[BankAccount, ...]:
    return runtime().settings.bank_accounts


def _upload_form(*, submitted: bool = False) -> UploadForm:
    """The upload form: as sent (``submitted``), or empty."""
    form = UploadForm() if submitted else UploadForm(formdata=None)
    form.account.choices = [(b.account, b.account) for b in _banks()]
    return form


@bp.get("/bank")
@require_area(Area.BOOKS)
def page(staff: Staff) -> ResponseReturnValue:
    return _page(staff, _upload_form())


@bp.post("/bank/import")
@require_area(Area.BOOKS, change=True)
def upload(staff: Staff) -> ResponseReturnValue:
    form = _upload_form(submitted=True)
    if not form.validate_on_submit():
        return _page(staff, form), 400
    sent = form.statement.data
    data = sent.read() if sent is not None and hasattr(sent, "read") else b""
    if not data:
        form.statement.errors.append("Choose the statement file: OFX, QFX, CSV or camt.053 XML.")
        return _page(staff, form), 400
    session, rt = db(), runtime()
    try:
        bank = service.bank_account(_banks(), form.account.data)
        rt.books.current()  # catches the index up with the books' files
        result = service.import_statement(
            session,
            rt.books.index,
            bank,
            data,
            file_name=getattr(sent, "filename", None) or "statement",
            actor=staff,
            today=_today(),
            open_from=years.first_open_day(rt.ledger),
        )
        session.commit()
    except StatementRefused as exc:
        session.rollback()
        form.statement.errors.append(str(exc))
        return _page(staff, form), 400
    except BooksLoading:
        session.rollback()
        form.statement.errors.append("The books are being loaded: try again in a minute.")
        return _page(staff, form), 503
    except IntegrityError:
        session.rollback()
        form.statement.errors.append(
            "Another import for this account ran at the same moment: send the file again."
        )
        return _page(staff, form), 409
    _post()
    flash(_summary(result))
    return redirect(url_for(".page"), code=303)


def _summary(result: ImportResult) -> str:
    st = result.statement
    if result.already:
        return f"That statement was imported on {st.imported_at:%Y-%m-%d}; nothing was written."
    words = [
        f"Imported {st.starts_on} to {st.ends_on} for {st.account}: {st.lines_total} lines, "
        f"{result.new_lines} new, {result.matched} matched to the books, "
        f"{result.proposed} waiting for a decision."
    ]
    words += [
        f"Asserted {s.closing.format() if s.closing else ''} at the end of {s.ends_on}."
        for s in result.asserted
    ]
    words += result.notes
    return " ".join(words)


@bp.post("/bank/lines/<int:line_id>")
@require_area(Area.BOOKS, change=True)
def confirm(staff: Staff, line_id: int) -> ResponseReturnValue:
    """Book a waiting line as proposed, or with the account and words the bookkeeper chose."""
    form = ConfirmForm()

    def book(line: BankLine, snapshot: Snapshot) -> str:
        entry = service.confirm(
            db(),
            runtime().books.index,
            line.id,
            account=form.account.data or "",
            narration=form.narration.data or "",
            actor=staff,
            open_accounts_now=service.accounts_in(snapshot),
        )
        return f"Booked {entry.date} {entry.postings[0].amount.format()} to {form.account.data}."

    def field_of(name: str | None) -> Any:
        return form.narration if name == "narration" else form.account

    return _decide(staff, line_id, form, {"rows": {line_id: form}}, book, field_of)


@bp.post("/bank/lines/<int:line_id>/match")
@require_area(Area.BOOKS, change=True)
def match(staff: Staff, line_id: int) -> ResponseReturnValue:
    """Match a waiting line to the entry of the books the bookkeeper chose."""
    form = MatchForm()

    def matched(line: BankLine, _snapshot: Snapshot) -> str:
        service.match_to(db(), runtime().books.index, line.id, form.entry.data or "", actor=staff)
        return f"Matched the {line.booked_on} line of {line.amount.format()} to {form.entry.data}."

    return _decide(
        staff, line_id, form, {"matching": {line_id: form}}, matched, lambda _name: form.entry
    )


def _decide(
    staff: Staff,
    line_id: int,
    form: PlainTextForm,
    shown: dict[str, Any],
    act: Callable[[BankLine, Snapshot], str],
    field_of: Callable[[str | None], Any],
) -> ResponseReturnValue:
    """A bookkeeper's decision on one waiting line: ``act`` makes it (given the books'
    snapshot) and says what it did; then every balance that now can be is asserted, in
    the same transaction. A refusal is shown by its field in the line's form (``field_of``
    a refusal's field name, None for the form's first), the form given to ``_page`` again
    as ``shown``."""
    session, rt = db(), runtime()
    line = session.get(BankLine, line_id)
    if line is None:
        return _page(staff, _upload_form(), notice="There is no such statement line."), 404
    if not form.validate_on_submit():
        return _page(staff, _upload_form(), **shown), 400
    try:
        snapshot = rt.books.current()  # and the index caught up with the books' files
        done = [act(line, snapshot)]
        asserted, notes = service.assert_balances(
            session, rt.books.index, line.account, today=_today()
        )
        session.commit()
    except ProposalRefused as exc:
        session.rollback()
        field_of(exc.field).errors.append(str(exc))
        return _page(staff, _upload_form(), **shown), 400
    except BooksLoading:
        session.rollback()
        field_of(None).errors.append("The books are being loaded: try again in a minute.")
        return _page(staff, _upload_form(), **shown), 503
    except (DomainError, IntegrityError) as exc:
        session.rollback()
        message = str(exc) if isinstance(exc, DomainError) else "Decided at the same moment."
        return _page(staff, _upload_form(), notice=message), 409
    _post()
    done += [f"Asserted the balance at the end of {s.ends_on}." for s in asserted]
    flash(" ".join(done + notes))
    return redirect(url_for(".page", _anchor="waiting"), code=303)


@bp.post("/bank/lines/<int:line_id>/unmatch")
@require_area(Area.BOOKS, change=True)
def unmatch(staff: Staff, line_id: int) -> ResponseReturnValue:
    """Undo a wrong match: the line waits for a decision again."""
    form = PlainTextForm()
    if not form.validate_on_submit():
        return _page(staff, _upload_form(), notice="The form expired: try again."), 400
    session = db()
    try:
        line = service.unmatch(session, line_id, actor=staff)
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _page(staff, _upload_form(), notice=str(exc)), exc.http_status
    flash(
        f"The match of the {line.booked_on} line of {line.amount.format()} is undone: "
        "it waits for a decision below."
    )
    return redirect(url_for(".page", _anchor="waiting"), code=303)


@bp.post("/bank/rematch")
@require_area(Area.BOOKS, change=True)
def rematch(staff: Staff) -> ResponseReturnValue:
    """Match waiting lines again: after staff have entered what the bank shows."""
    form = PlainTextForm()
    if not form.validate_on_submit():
        return _page(staff, _upload_form(), notice="The form expired: try again."), 400
    session, rt = db(), runtime()
    try:
        rt.books.current()
        counts = []
        for bank in _banks():
            matched = service.rematch(session, rt.books.index, bank.account)
            asserted, _notes = service.assert_balances(
                session, rt.books.index, bank.account, today=_today()
            )
            counts.append((bank.account, matched, len(asserted)))
        session.commit()
    except BooksLoading:
        session.rollback()
        return _page(staff, _upload_form(), notice="The books are being loaded."), 503
    except IntegrityError:
        session.rollback()
        return _page(staff, _upload_form(), notice="Matched at the same moment."), 409
    _post()
    flash(
        " ".join(
            f"{account}: {matched} matched, {asserted} balances asserted."
            for account, matched, asserted in counts
        )
    )
    return redirect(url_for(".page"), code=303)


def _today() -> date:
    return clock.today(runtime().settings.timezone)


def _post() -> None:
    try:
        runtime().jobs.enqueue(Job.POST_LEDGER)
    except Exception:
        log.exception("posting to the books failed; 'conservancy ledger sync' retries")


class AccountView:
    """What the page shows of one bank account."""

    def __init__(
        self,
        bank: BankAccount,
        rows: dict[int, ConfirmForm],
        matching: dict[int, MatchForm],
    ) -> None:
        session, rt = db(), runtime()
        self.account = bank.account
        self.through: date | None = service.reconciled_through(session, bank.account)
        self.waiting_count = service.waiting_count(session, bank.account)
        self.waiting = service.waiting_lines(session, bank.account, limit=WAITING_SHOWN)
        self.forms = {line.id: rows.get(line.id) or _proposal_form(line) for line in self.waiting}
        self.match_forms = {
            line.id: matching.get(line.id) or MatchForm(formdata=None) for line in self.waiting
        }
        self.candidates: dict[int, list[tuple[str, BankEntry]]] = {}
        with contextlib.suppress(BooksLoading):
            offered = service.candidates(session, rt.books.index, self.waiting)
            self.candidates = {
                line_id: [(entry_key(e), e) for e in entries[:CANDIDATES_SHOWN]]
                for line_id, entries in offered.items()
            }
        self.statements = list(
            session.scalars(
                select(BankStatement)
                .where(BankStatement.account == bank.account)
                .order_by(BankStatement.ends_on.desc(), BankStatement.id.desc())
            )
        )
        self.recent = list(
            session.scalars(
                select(BankLine)
                .where(BankLine.account == bank.account, BankLine.status != LineStatus.PROPOSED)
                .order_by(BankLine.booked_on.desc(), BankLine.id.desc())
                .limit(RECENT)
            )
        )
        # The oldest statement not yet asserted, reconciled: what stands between the
        # bank's closing balance and the books'.
        self.reconciliation: service.Reconciliation | None = None
        pending = [
            s
            for s in self.statements
            if not s.asserted
            and s.closing is not None
            and (self.through is None or s.ends_on > self.through)
        ]
        if pending:
            with contextlib.suppress(BooksLoading):
                self.reconciliation = service.reconcile(session, rt.books.index, pending[-1])


def _proposal_form(line: BankLine) -> ConfirmForm:
    form = ConfirmForm(formdata=None)
    form.account.data, form.narration.data = line.proposed_account, line.proposed_narration
    return form


def _page(
    staff: Staff,
    form: UploadForm,
    *,
    rows: dict[int, ConfirmForm] | None = None,
    matching: dict[int, MatchForm] | None = None,
    notice: str | None = None,
) -> str:
    try:
        known = sorted(service.accounts_in(runtime().books.current()))
    except BooksLoading:
        known = []
    return render_template(
        "staff/admin/bank.html",
        sponsor=get_sponsor(db()),
        staff=current_user(),
        form=form,
        accounts=[AccountView(bank, rows or {}, matching or {}) for bank in _banks()],
        known_accounts=[a for a in known if not a.startswith("Assets:Bank:")],
        may_change=can_change(staff, Area.BOOKS),
        notice=notice,
        multiple=len(_banks()) > 1,
        demo=runtime().settings.env is Environment.DEMO,
        request_path=request.path,
    )
