"""A close killed at any step either leaves books that add up to the same fund balances,
or books whose loader and ``ledger check`` say plainly that a close was interrupted;
running the close again finishes it, writing each closing entry and the opening
balances exactly once.

The close is a real process (``tests/ledger/crashing_close.py``) that SIGKILLs
itself at a named step: those of ``conservancy.ledger.close``, and those of the
outbox while it posts the closing entries.
"""

from __future__ import annotations

import signal
from decimal import Decimal

import pytest

from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger import snapshot as snap
from conservancy.ledger import years
from conservancy.ledger.close import SWITCHING
from conservancy.runtime import Runtime
from tests.ledger import closing
from tests.ledger.processes import run_cli, run_helper
from tests.ledger.test_close import close, fund_totals
from tests.saved_books import saved_books

pytestmark = pytest.mark.slow

# Each step, and what main.beancount is there: the books as they were before the close
# ("old"), as they are after it ("new"), or possibly neither ("half": their loader
# must refuse them).
STEPS = {
    "started": "old",  # the journal: from here the year's file only takes closing entries
    "wrote-entry": "old",  # the outbox, part-way through appending the closing entries
    "appended": "old",
    "marked": "old",
    "recorded": "old",
    "posted": "old",
    "prepared": "old",  # the opening written aside, the year's file linked into app/closed/
    "switching": "half",
    "unlinked-opening": "half",
    "unlinked-year": "half",  # the year gone from app/, the opening not yet there
    "renamed": "half",
    "history": "new",
    "history-written": "new",
}
CLOSING_REFS = ("close-2026-General", "close-2026-Inkscape", "close-2026-Twisted", "opening-2027")


@pytest.fixture(autouse=True)
def march_2027(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(clock, "today", lambda tz: closing.TODAY)


@saved_books
def built(rt: Runtime) -> None:
    closing.build_books(rt)


@pytest.fixture
def ready(built: Runtime) -> tuple[Runtime, dict[str, Decimal]]:
    """The books, their funds' balances, and the staff's 2026 entries moved into closed/
    (from which main.beancount misses them until the close carries them)."""
    runtime = built
    funds = closing.fund_balances(closing.beancount_load(str(runtime.ledger.main)))
    closing.move_to_closed(runtime)
    return runtime, funds


def ref_counts(rt: Runtime) -> dict[str, int]:
    """How many times each ref of the close is written in the application's files."""
    text = "".join(
        p.read_bytes().decode("utf-8", "replace")
        for p in (rt.ledger.root / "app").rglob("*.beancount")
    )
    return {ref: text.count(f'ref: "{ref}"') for ref in CLOSING_REFS}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_close_killed_at_any_step_is_finished_by_running_it_again(
    ready: tuple[Runtime, dict[str, Decimal]], settings: Settings, step: str
) -> None:
    rt, funds = ready
    loaded = closing.fund_balances(closing.beancount_load(str(rt.ledger.main)))

    died = run_helper(settings, "crashing_close", step)

    assert died.returncode == -signal.SIGKILL, f"exit {died.returncode}: {died.stderr}"
    journal = years.read_close_journal(rt.ledger)
    assert journal is not None
    assert journal["year"] == 2026
    if STEPS[step] == "half":
        assert journal["step"] == SWITCHING
        with pytest.raises(years.CloseInterrupted, match="a close of 2026 was interrupted"):
            snap.build(rt.ledger)
    else:
        expected = loaded if STEPS[step] == "old" else funds
        assert closing.fund_balances(closing.beancount_load(str(rt.ledger.main))) == expected
        assert fund_totals(snap.build(rt.ledger)) == expected
    checked = run_cli(settings, "ledger", "check")
    assert checked.returncode == 1
    assert (
        "ledger: a close of 2026 was interrupted ("
        f"{journal['step']}): run 'conservancy ledger close --year 2026' again"
    ) in checked.stdout.splitlines()

    done = close(settings)

    assert done.exit_code == 0, done.output
    assert done.output.startswith(
        f"finished the close of 2026 that was interrupted ({journal['step']})"
    )
    assert ref_counts(rt) == dict.fromkeys(CLOSING_REFS, 1)
    assert not years.close_journal(rt.ledger).exists()
    assert closing.fund_balances(closing.beancount_load(str(rt.ledger.main))) == funds
    history = str(rt.ledger.as_history().main)
    assert closing.fund_balances(closing.beancount_load(history)) == funds
    for args in (("ledger", "check"), ("ledger", "check", "--history")):
        checked = run_cli(settings, *args)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    assert sorted(p.name for p in (rt.ledger.root / "app").iterdir()) == [
        "2027.beancount",
        "accounts.beancount",
        "closed",
        "opening-2027.beancount",
    ]
