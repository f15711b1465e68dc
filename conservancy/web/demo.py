"""Demo only: the books as they stand, so a newcomer sees their gift land in the ledger."""

from __future__ import annotations

from flask import Blueprint, render_template

from conservancy import clock
from conservancy.ledger.books import BooksLoading
from conservancy.projects.service import active_projects, get_sponsor
from conservancy.web.context import db, runtime

bp = Blueprint("demo", __name__)
TAIL_BYTES = 12_000


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
        "demo/books.html",
        sponsor=get_sponsor(session),
        balances=balances,
        tail=tail,
        ledger_path=rt.ledger.root.resolve(),
    ), 200
