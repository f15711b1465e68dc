"""``conservancy bank …``: the bank's statements imported, matched to the books, asserted."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from conservancy.bank.models import BankLine
    from conservancy.bank.service import ImportResult

# The largest statement file read; the formats refuse larger ones with a line of their own.
_MAX_READ = 10 * 1024 * 1024 + 1


@click.group()
def bank() -> None:
    """Bank reconciliation: import statements, decide what the books lack, assert balances."""


@bank.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--account",
    default="Assets:Bank:Checking",
    show_default=True,
    help="The bank account the statement is for (one of CONSERVANCY_BANK_ACCOUNTS).",
)
def import_(file: Path, account: str) -> None:
    """Import a statement (OFX/QFX, CSV or camt.053) for a bank account.

    Each line is matched to what the books already hold (payouts, cheques, payments);
    what is left is proposed for a bookkeeper ('conservancy bank lines', /admin/bank);
    each closing balance is asserted in the books once everything up to it is matched
    and the books agree. The same file, or the lines of an overlapping one, are never
    imported twice.
    """
    from sqlalchemy.exc import IntegrityError

    from conservancy.bank import service
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.ledger import years
    from conservancy.staff.audit import COMMAND_LINE

    with open_runtime() as rt:
        bank_account = service.bank_account(rt.settings.bank_accounts, account)
        try:
            with file.open("rb") as fh:
                data = fh.read(_MAX_READ)
        except OSError as exc:
            raise click.ClickException(f"cannot read {file}: {exc.strerror}") from None
        if not rt.ledger.exists():
            raise click.ClickException("no books yet: run 'conservancy init'")
        rt.post_ledger()  # what the database holds for the books is in them first
        rt.books.ready()  # and the index has read every file, staff files included
        with rt.sessions() as session:
            try:
                result = service.import_statement(
                    session,
                    rt.books.index,
                    bank_account,
                    data,
                    file_name=file.name,
                    actor=COMMAND_LINE,
                    today=clock.today(rt.settings.timezone),
                    open_from=years.first_open_day(rt.ledger),
                )
                session.commit()
            except IntegrityError:
                session.rollback()
                raise click.ClickException(
                    f"another import for {account} ran at the same moment: run this one again"
                ) from None
            _print_import(result, file.name)
            waiting = service.waiting_lines(session, account, limit=20)
            for line in waiting:
                click.echo(_line_text(line))
            through = service.reconciled_through(session, account)
        rt.post_ledger()
    click.echo(f"reconciled through: {through or 'not yet'}")


def _print_import(result: ImportResult, name: str) -> None:
    st = result.statement
    if result.already:
        click.echo(
            f"ok: {name} was imported for {st.account} before "
            f"({st.imported_at:%Y-%m-%d}); nothing written"
        )
    else:
        click.echo(
            f"imported: {name} for {st.account}, {st.starts_on} to {st.ends_on} ({st.format}): "
            f"{st.lines_total} lines, {result.new_lines} new"
            + (f", {result.seen_lines} imported before" if result.seen_lines else "")
        )
        click.echo(f"matched: {result.matched} lines to entries in the books")
    for statement in result.asserted:
        closing = statement.closing
        assert closing is not None
        click.echo(
            f"asserted: {statement.account} {closing.format()} at the end of "
            f"{statement.ends_on} (ref {statement.balance_ref})"
        )
    for note in result.notes:
        click.echo(f"not asserted: {note}")
    if result.proposed:
        click.echo(
            f"waiting: {result.proposed} lines for a decision "
            "('conservancy bank confirm LINE', or /admin/bank)"
        )


def _line_text(line: BankLine) -> str:
    proposal = line.proposed_account or "(choose an account)"
    return (
        f"  line {line.id}: {line.booked_on} {line.amount.format():>14}  "
        f"{line.text or '-'}  -> {proposal}"
    )


@bank.command("lines")
@click.option("--account", default="Assets:Bank:Checking", show_default=True)
def lines(account: str) -> None:
    """The lines waiting for a decision, with what each is proposed to be."""
    from conservancy.bank import service
    from conservancy.bank.matching import entry_key
    from conservancy.cli.common import open_runtime

    with open_runtime() as rt:
        service.bank_account(rt.settings.bank_accounts, account)
        rt.post_ledger()
        rt.books.ready()
        with rt.sessions() as session:
            waiting = service.waiting_lines(session, account)
            offered = service.candidates(session, rt.books.index, waiting)
            for line in waiting:
                click.echo(_line_text(line))
                for entry in offered[line.id][:5]:
                    words = " ".join(p for p in (entry.payee or "", entry.narration) if p)
                    click.echo(f"    or match it to {entry_key(entry)}: {entry.date} {words}")
            through = service.reconciled_through(session, account)
    click.echo(f"{len(waiting)} lines waiting; reconciled through: {through or 'not yet'}")


@bank.command("confirm")
@click.argument("line_id", type=int)
@click.option(
    "--to",
    "other",
    default=None,
    help="The entry's other account (default: the one proposed).",
)
@click.option("--narration", default=None, help="What the entry says (default: as proposed).")
def confirm(line_id: int, other: str | None, narration: str | None) -> None:
    """Book a waiting line: the bank account against the proposed (or given) account.
    Then asserts every closing balance that now can be."""
    from conservancy.bank import service
    from conservancy.bank.models import BankLine
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.kernel.errors import NotFound
    from conservancy.staff.audit import COMMAND_LINE

    with open_runtime() as rt:
        rt.post_ledger()
        snapshot = rt.books.ready()
        with rt.sessions() as session:
            line = session.get(BankLine, line_id)
            if line is None:
                raise NotFound(f"there is no bank statement line {line_id}")
            chosen = other if other is not None else line.proposed_account
            if not chosen:
                raise click.ClickException(
                    f"line {line_id} has no proposed account: give one with --to"
                )
            entry = service.confirm(
                session,
                rt.books.index,
                line_id,
                account=chosen,
                narration=narration if narration is not None else line.proposed_narration,
                actor=COMMAND_LINE,
                open_accounts_now=service.accounts_in(snapshot),
            )
            asserted, notes = service.assert_balances(
                session, rt.books.index, line.account, today=clock.today(rt.settings.timezone)
            )
            session.commit()
        rt.post_ledger()
    click.echo(f"booked: {entry.ref} {entry.date} {entry.postings[0].amount.format()} to {chosen}")
    for statement in asserted:
        closing = statement.closing
        assert closing is not None
        click.echo(
            f"asserted: {statement.account} {closing.format()} at the end of {statement.ends_on}"
        )
    for note in notes:
        click.echo(f"not asserted: {note}")


@bank.command("match")
@click.argument("line_id", type=int)
@click.argument("entry")
def match(line_id: int, entry: str) -> None:
    """Match a waiting line to an entry of the books ('bank lines' lists those it may be):
    after undoing a match the matcher got wrong."""
    from conservancy.bank import service
    from conservancy.cli.common import open_runtime
    from conservancy.kernel import clock
    from conservancy.staff.audit import COMMAND_LINE

    with open_runtime() as rt:
        rt.post_ledger()
        rt.books.ready()
        with rt.sessions() as session:
            line = service.match_to(session, rt.books.index, line_id, entry, actor=COMMAND_LINE)
            asserted, notes = service.assert_balances(
                session, rt.books.index, line.account, today=clock.today(rt.settings.timezone)
            )
            session.commit()
            click.echo(
                f"matched: line {line_id}, {line.booked_on} {line.amount.format()}, to {entry}"
            )
            for statement in asserted:
                click.echo(f"asserted: {statement.account} at the end of {statement.ends_on}")
            for note in notes:
                click.echo(f"not asserted: {note}")
        rt.post_ledger()


@bank.command("unmatch")
@click.argument("line_id", type=int)
def unmatch(line_id: int) -> None:
    """Undo a wrong match: the line waits for a decision again (see 'bank lines')."""
    from conservancy.bank import service
    from conservancy.cli.common import open_runtime
    from conservancy.staff.audit import COMMAND_LINE

    with open_runtime() as rt, rt.sessions() as session:
        line = service.unmatch(session, line_id, actor=COMMAND_LINE)
        session.commit()
        click.echo(f"unmatched: line {line_id}, {line.booked_on} {line.amount.format()}; it waits")
