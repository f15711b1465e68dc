"""Demo only: the books as they stand, and the mail that would have gone out.

A newcomer sees their gift land in the ledger, and can open their receipt's
e-mail (and the portal's sign-in link) without a mail server.
"""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

from flask import Blueprint, Response, render_template

from conservancy.bank import demo as demo_bank
from conservancy.bank.service import books_entries
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.ledger.books import BooksLoading
from conservancy.projects.service import active_projects, get_sponsor
from conservancy.web.context import db, runtime

bp = Blueprint("demo", __name__)
TAIL_BYTES = 12_000
MAIL_SHOWN = 30


@bp.get("/demo/books")
def books() -> tuple[str, int]:
    rt = runtime()
    session = db()
    year_file = rt.ledger.year_file(clock.today(rt.settings.timezone).year)
    tail = ""
    if year_file.exists():
        with year_file.open("rb") as fh:
            fh.seek(max(0, year_file.stat().st_size - TAIL_BYTES))
            text = fh.read().decode("utf-8", errors="replace")
        tail = text[text.find("\n\n") + 2 :] if len(text) >= TAIL_BYTES else text
    try:
        snapshot = rt.books.current()
    except BooksLoading:
        snapshot = None
    projects = active_projects(session)
    balances = {p.fund: snapshot.fund_balance(p.fund) for p in projects} if snapshot else {}
    if snapshot:
        balances["General"] = snapshot.fund_balance("General")
    return render_template(
        "public/demo/books.html",
        sponsor=get_sponsor(session),
        balances=balances,
        tail=tail,
        ledger_path=rt.ledger.root.resolve(),
    ), 200


@bp.get("/demo/bank-statement")
def bank_statement() -> Response | tuple[str, int]:
    """The statement the demo's bank would send for Assets:Bank:Checking, ending today: to
    download, then import at /admin/bank."""
    rt = runtime()
    today = clock.today(rt.settings.timezone)
    first = today - timedelta(days=demo_bank.DAYS - 1)
    try:
        rt.books.current()
        entries = books_entries(db(), rt.books.index, accounts.CHECKING, first, today)
        with rt.books.index.read() as view:
            opening = view.bank_balance_before(accounts.CHECKING, first)
    except BooksLoading:
        return "The books are being loaded: try again in a minute.", 503
    body = demo_bank.statement_ofx(opening, entries, today)
    return Response(
        body,
        mimetype="application/x-ofx",
        headers={"Content-Disposition": f'attachment; filename="demo-bank-{today}.ofx"'},
    )


@bp.get("/demo/mail")
def mail() -> tuple[str, int]:
    """The mail the demo would have sent (its .eml outbox), newest first, links clickable."""
    rt = runtime()
    messages = []
    folder = rt.settings.outbox_dir
    files = sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files[:MAIL_SHOWN]:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        body = message.get_body(preferencelist=("plain",))
        attachments = [part.get_filename() for part in message.iter_attachments()]
        messages.append(
            {
                "to": str(message["To"]),
                "subject": str(message["Subject"]),
                "date": str(message["Date"]),
                "body": body.get_content() if body is not None else "",
                "attachments": [name for name in attachments if name],
            }
        )
    return render_template(
        "public/demo/mail.html",
        sponsor=get_sponsor(db()),
        messages=messages,
        folder=folder.resolve(),
    ), 200
