"""Donor text reaches the books as a harmless string (SPEC section 6).

Whatever a donor types as a name, message or dedication, once it is in an
entry's payee, narration or metadata and posted: the books still load without
errors, no directive was added (no account opened, no option changed, nothing
included), and the text reads back as the donor wrote it, with newlines and
other control or separator characters folded into single spaces.
"""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import hypothesis
import pytest
from beancount import loader
from beancount.core import data, getters
from hypothesis import strategies as st

from conservancy.infra.config import Settings
from conservancy.ledger.check import check_books
from conservancy.ledger.entries import MAX_TEXT, Transaction, clean_text
from conservancy.ledger.outbox import posted_refs, record
from conservancy.runtime import Runtime
from tests import factories
from tests.ledger.processes import run_cli

EVIL = "2020-01-01 open Assets:Evil"

# (what the donor typed, what the books must read back)
DONOR_TEXTS = [
    pytest.param(f'O\'Brien "Bob" \\ Co\n{EVIL}', f'O\'Brien "Bob" \\ Co {EVIL}', id="quotes"),
    pytest.param(f"Evil\n{EVIL}\\", f"Evil {EVIL}\\", id="backslash-at-end"),
    pytest.param(f'Evil\n{EVIL}"', f'Evil {EVIL}"', id="quote-at-end"),
    pytest.param(f'"\n{EVIL}\n"', f'" {EVIL} "', id="closing-and-opening-quote"),
    pytest.param(f'\\"\n{EVIL} ; "', f'\\" {EVIL} ; "', id="escaped-quote"),
    pytest.param(f"\\n{EVIL}", f"\\n{EVIL}", id="backslash-n-typed-out"),
    pytest.param(f"Tab\tSeparated\t\t{EVIL}", f"Tab Separated {EVIL}", id="tabs"),
    pytest.param(f"Nul\x00{EVIL}\x00", f"Nul {EVIL}", id="nul"),
    pytest.param(f"Line\u2028{EVIL}\u2029end", f"Line {EVIL} end", id="unicode-separators"),
    pytest.param(f"Windows\r\n{EVIL}\r\n", f"Windows {EVIL}", id="crlf"),
    pytest.param(f"Next\x85{EVIL}\x0b\x0c", f"Next {EVIL}", id="nel-vt-ff"),
    pytest.param("x" * 5000 + f"\n{EVIL}", "x" * MAX_TEXT, id="very-long"),
    pytest.param(
        f'\n\noption "operating_currency" "EUR"\ninclude "/etc/passwd"\n{EVIL}\n',
        f'option "operating_currency" "EUR" include "/etc/passwd" {EVIL}',
        id="option-and-include",
    ),
    pytest.param("Zoë 中文 😀", "Zoë 中文 😀", id="plain-unicode"),
]

_refs = itertools.count(1)


def donor_gift(text: str, ref: str | None = None) -> Transaction:
    """A gift whose payee, narration and entity metadata are all the donor's text."""
    base = factories.gift("unused")
    return Transaction(
        ref=ref or f"donor-{next(_refs)}",
        date=base.date,
        payee=text,
        narration=text,
        meta={"entity": text, "income-type": "Donations"},
        postings=base.postings,
    )


def load(rt: Runtime) -> tuple[list[data.Directive], list[Any], dict[str, Any]]:
    entries, errors, options = loader.load_file(str(rt.ledger.main))
    return entries, errors, options


def by_ref(entries: list[data.Directive], ref: str) -> data.Transaction:
    [entry] = [e for e in entries if e.meta.get("ref") == ref]
    assert isinstance(entry, data.Transaction)
    return entry


def opened(entries: list[data.Directive]) -> set[str]:
    return {e.account for e in entries if isinstance(e, data.Open)}


def post(rt: Runtime, *entries: Transaction) -> None:
    with rt.sessions() as session:
        for entry in entries:
            record(session, entry)
        session.commit()
    rt.post_ledger()


def problems(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        return [str(p) for p in check_books(rt.ledger, posted_refs(session)).problems]


@pytest.fixture
def twisted(runtime: Runtime) -> Runtime:
    return factories.with_project(runtime)


@pytest.mark.parametrize(("typed", "read_back"), DONOR_TEXTS)
def test_donor_text_is_written_as_one_harmless_string(
    twisted: Runtime, typed: str, read_back: str
) -> None:
    before, errors, _ = load(twisted)
    assert errors == []
    twisted.books.load()
    gift = donor_gift(typed, ref="gift-evil")

    post(twisted, gift)

    entries, errors, options = load(twisted)
    assert errors == []
    assert problems(twisted) == []
    assert len(entries) == len(before) + 1
    assert opened(entries) == opened(before)
    assert "Assets:Evil" not in getters.get_accounts(entries)
    assert options["operating_currency"] == ["USD"]
    entry = by_ref(entries, "gift-evil")
    assert (entry.payee, entry.narration, entry.meta["entity"]) == (read_back,) * 3
    # The pages' incremental reader, which parses only the appended tail, agrees.
    assert str(twisted.books.current().fund_balance("Twisted")) == "96.80 USD"


def test_donor_text_cannot_choose_a_metadata_key() -> None:
    with pytest.raises(ValueError, match="not an allowed metadata key"):
        Transaction(
            ref="gift-1",
            date=date(2026, 3, 1),
            narration="Gift",
            meta={f'entity: "x"\n{EVIL}\n  note': "x"},
            postings=factories.gift("gift-1").postings,
        )


def test_books_full_of_hostile_donor_text_pass_ledger_check(
    twisted: Runtime, settings: Settings
) -> None:
    texts = [param.values[0] for param in DONOR_TEXTS]
    with twisted.sessions() as session:
        for i, text in enumerate(texts):
            record(session, donor_gift(str(text), ref=f"hostile-{i}"))
        session.commit()

    synced = run_cli(settings, "ledger", "sync")
    checked = run_cli(settings, "ledger", "check")

    assert synced.returncode == 0, synced.stderr
    assert f"posted {len(texts)} entries" in synced.stdout
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"ok: {len(texts)} transactions" in checked.stdout


# Arbitrary text, with the pieces an attacker would reach for mixed in.
HOSTILE_PIECES = st.sampled_from(
    [
        '"',
        "\\",
        "\n",
        "\r\n",
        "\t",
        "\x00",
        "\x85",
        "\u2028",
        "\u202e",
        "\ufeff",
        "\ud800",
        ";",
        "*",
        "#tag",
        "^link",
        EVIL,
        'include "x"',
        '  key: "value"',
        "  Assets:Evil  1.00 USD",
    ]
)
DONOR_TEXT = st.lists(
    st.one_of(st.text(st.characters(codec=None), max_size=20), HOSTILE_PIECES), max_size=8
).map("".join)


@pytest.mark.slow
@hypothesis.settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture],
)
@hypothesis.given(payee=DONOR_TEXT, narration=DONOR_TEXT, entity=DONOR_TEXT)
def test_any_donor_text_posts_a_loadable_entry_that_reads_back_cleaned(
    twisted: Runtime, payee: str, narration: str, entity: str
) -> None:
    # The books grow by one entry per example; each has its own ref.
    gift = Transaction(
        ref=f"prop-{next(_refs)}",
        date=date(2026, 3, 1),
        payee=payee,
        narration=narration,
        meta={"entity": entity},
        postings=factories.gift("unused").postings,
    )

    post(twisted, gift)

    entries, errors, _ = load(twisted)
    assert errors == []
    # Every directive in the books is one the application recorded: none was injected.
    with twisted.sessions() as session:
        assert sorted(e.meta["ref"] for e in entries) == sorted(posted_refs(session))
    assert problems(twisted) == []
    entry = by_ref(entries, gift.ref)
    assert entry.payee == (clean_text(payee) or None)
    assert entry.narration == clean_text(narration)
    assert entry.meta["entity"] == clean_text(entity)
