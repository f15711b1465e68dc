"""Turning entries into Beancount text, with Beancount's own printer.

The printer escapes quotes and backslashes in every string it writes, so no
donor text can end a string early or add a directive; ``entries.clean_text``
has already folded newlines away.
"""

from __future__ import annotations

from beancount.core import amount, data
from beancount.parser import printer

from conservancy.ledger.entries import Balance, Entry, Open, Posting


def to_directive(entry: Entry) -> data.Directive:
    if isinstance(entry, Open):
        opened: dict[str, object] = {"ref": entry.ref, **dict(entry.meta)}
        return data.Open(opened, entry.date, entry.account, [], None)
    if isinstance(entry, Balance):
        units = amount.Amount(entry.amount.amount, entry.amount.currency.value)
        return data.Balance({"ref": entry.ref}, entry.date, entry.account, units, None, None)
    meta: dict[str, object] = {"ref": entry.ref, **entry.meta}
    postings = [
        data.Posting(
            p.account,
            amount.Amount(p.amount.amount, p.amount.currency.value),
            None,
            None,
            None,
            _posting_meta(p),
        )
        for p in entry.postings
    ]
    return data.Transaction(
        meta,
        entry.date,
        "*",
        entry.payee,
        entry.narration,
        frozenset(),
        frozenset(),
        postings,
    )


def _posting_meta(posting: Posting) -> dict[str, object] | None:
    """The donor's own amount, as a Beancount amount (``donor-amount: -100.00 EUR``)."""
    if posting.donor_amount is None:
        return None
    given = posting.donor_amount
    return {"donor-amount": amount.Amount(given.amount, given.currency.value)}


def render(entry: Entry) -> str:
    """One entry as text, followed by the blank line that ends every block."""
    text: str = printer.format_entry(to_directive(entry))
    return text.rstrip("\n") + "\n\n"
