"""Reconciliation with Stripe: ``conservancy stripe reconcile`` and ``/admin/reconcile``.

Stripe's balance transactions (the stand-in's) against the books' entries that
post to ``Assets:Stripe``: each booked exactly once, none extra, each payout in
the bank, the balances equal; then a ``balance`` assertion written once.

A balance is asserted only for a period that has ended, and everything here
happens today: where a test asserts, it moves the application's "today" to
tomorrow, after the gifts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from beancount.core import data
from click.testing import CliRunner, Result
from flask import Flask
from sqlalchemy import select

from conservancy.cli.stripe import stripe as stripe_commands
from conservancy.donations.models import Gift
from conservancy.donations.service import refund_gift
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.money import Money
from conservancy.payments import events
from conservancy.payments.reconcile import Kind
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from conservancy.standin import StandIn
from tests import factories
from tests.admin.pages import error_by, send, signed_in
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    give,
    ledger_entries,
    run_cli,
    settle_webhooks,
    standin_state,
    stripe_client,
    stripe_env,
    usd,
)

PROBLEM_PREFIXES = tuple(f"{kind.value}: " for kind in Kind)


def projects(rt: Runtime) -> None:
    with rt.sessions() as session:
        factories.project(session, fee_rate_bp=1000)
        factories.project(session, slug="sugar", name="Sugar Labs", fee_rate_bp=500)
        session.commit()
    rt.post_ledger()


def gift_of(rt: Runtime, donation_id: int) -> Gift:
    with rt.sessions() as session:
        return session.scalars(select(Gift).where(Gift.donation_id == donation_id)).one()


def today(rt: Runtime) -> date:
    return clock.today(rt.settings.timezone)


def period_args(first: date, last: date) -> list[str]:
    return ["--from", first.isoformat(), "--to", last.isoformat()]


def problem_lines(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith(PROBLEM_PREFIXES)]


def stripe_holds(standin: StandIn) -> Money:
    return Money.from_minor(standin_state(standin)["balance"]["usd"], "USD")


def balance_assertions(rt: Runtime) -> list[data.Balance]:
    return [e for e in ledger_entries(rt) if isinstance(e, data.Balance)]


def reconcile_in_process(
    rt: Runtime, standin: StandIn, *args: str, monkeypatch: pytest.MonkeyPatch, on: date
) -> Result:
    """The command run in this process on day ``on`` (the subprocess's clock cannot move)."""
    monkeypatch.setattr(clock, "today", lambda tz: on)
    return CliRunner(env=stripe_env(rt.settings, standin)).invoke(
        stripe_commands, ["reconcile", *args]
    )


def add_staff_file(rt: Runtime, text: str) -> Path:
    path = rt.ledger.root / "staff.beancount"
    path.write_text(text)
    with rt.ledger.main.open("a") as main:
        main.write('include "staff.beancount"\n')
    return path


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_gifts_refunds_a_dispute_and_a_payout_match_and_the_balance_is_asserted_once(
    giving_runtime: Runtime,
    standin: StandIn,
    live: LiveServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = giving_runtime
    projects(rt)
    first = give(rt, standin, "100.00")
    split = give(rt, standin, "250.00", extra_general="25.00")
    disputed = give(rt, standin, "60.00", slug="sugar")
    settle_webhooks(rt, standin)
    with rt.sessions() as session:  # staff refund part of a gift: booked at once
        gift = session.get(Gift, gift_of(rt, first).id)
        assert gift is not None
        refund_gift(
            session, rt.gateway, gift, usd("30.00"), reason="asked", tz=rt.settings.timezone
        )
        session.commit()
    rt.post_ledger()
    # A refund made in Stripe's dashboard: the books hear of it by webhook.
    stripe_client(standin).v1.refunds.create({"charge": gift_of(rt, split).charge_id})
    dispute = control(standin, f"charges/{gift_of(rt, disputed).charge_id}/dispute")
    settle_webhooks(rt, standin)
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="won")["status"] == "won"
    settle_webhooks(rt, standin)
    assert control(standin, "payouts")["status"] == "paid"
    give(rt, standin, "42.00")  # after the payout: Stripe holds it at the end
    settle_webhooks(rt, standin)
    day = today(rt)
    held = stripe_holds(standin)
    last = standin_state(standin)["balance_transactions"][-1]
    assert last["type"] == "charge"
    assert held == Money.from_minor(last["net"], "USD")  # what came in since the payout

    done = run_cli(
        stripe_env(rt.settings, standin),
        "stripe",
        "reconcile",
        *period_args(day - timedelta(1), day),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # 4 charges, 2 refunds, a dispute's withdrawal and reinstatement, a payout.
    assert "  9 balance transactions at Stripe, 9 booked once each for their amount" in done.stdout
    assert "  1 payouts, 1 of them deposited in the bank" in done.stdout
    assert (
        f"Assets:Stripe at the start of {day + timedelta(1)}: "
        f"Stripe {held.format()}, the books {held.format()}"
    ) in done.stdout
    assert problem_lines(done.stdout) == []
    assert done.stdout.rstrip().endswith("ok: Stripe and the books match")

    # Today has not ended: entries may still come, so nothing is asserted.
    refused = run_cli(
        stripe_env(rt.settings, standin), "stripe", "reconcile", "--to", day.isoformat(), "--assert"
    )
    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr.splitlines() == [
        f"error: {day} has not ended yet: a balance is asserted only for a period that has ended"
    ]
    assert balance_assertions(rt) == []

    # Tomorrow: written once, however often it is run.
    args = [*period_args(day - timedelta(1), day), "--assert"]
    tomorrow = day + timedelta(1)
    written = reconcile_in_process(rt, standin, *args, monkeypatch=monkeypatch, on=tomorrow)
    assert written.exit_code == 0, written.output
    assert (
        f"asserted: Assets:Stripe {held.format()} at the start of {tomorrow} "
        f"(ref reconciled-stripe-{tomorrow}-USD)"
    ) in written.output
    again = reconcile_in_process(rt, standin, *args, monkeypatch=monkeypatch, on=tomorrow)
    assert again.exit_code == 0, again.output
    assert f"ok: the balance on {tomorrow} was asserted before; nothing written" in again.output

    [assertion] = balance_assertions(rt)
    assert (assertion.date, assertion.account) == (tomorrow, accounts.STRIPE)
    assert (assertion.amount.number, assertion.amount.currency) == (held.amount, "USD")
    assert assertion.meta["ref"] == f"reconciled-stripe-{tomorrow}-USD"
    with rt.sessions() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "books.balance-asserted")
        ).all()
    assert [(a.actor, a.target_id) for a in audited] == [
        ("command line", f"reconciled-stripe-{tomorrow}-USD")
    ]
    checked = run_cli(stripe_env(rt.settings, standin), "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith("ok:")

    # From now on the books cannot quietly change what was at Stripe on that day.
    add_staff_file(
        rt,
        f'{day} * "Late correction"\n'
        "  Assets:Stripe          5.00 USD\n"
        "  Assets:Bank:Checking  -5.00 USD\n",
    )
    broken = run_cli(stripe_env(rt.settings, standin), "ledger", "check")
    assert broken.returncode == 1
    assert "Balance failed for 'Assets:Stripe'" in broken.stdout


def test_entries_in_a_staff_file_that_stripe_never_saw_are_flagged_one_line_each(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    projects(rt)
    give(rt, standin, "80.00")
    settle_webhooks(rt, standin)
    day = today(rt)
    staff = add_staff_file(
        rt,
        f'{day} * "Cash moved to Stripe by hand"\n'
        "  Assets:Stripe          12.00 USD\n"
        "  Assets:Bank:Checking  -12.00 USD\n"
        "\n"
        f'{day} * "Stripe fee, booked by hand"\n'
        '  stripe-id: "txn_byhand000000000000001"\n'
        "  Expenses:Twisted:Payment-Processing   3.00 USD\n"
        "  Assets:Stripe                        -3.00 USD\n",
    )

    done = run_cli(stripe_env(rt.settings, standin), "stripe", "reconcile", *period_args(day, day))
    assert done.returncode == 1
    by_hand, fee = line_of(staff, "Cash moved"), line_of(staff, "Stripe fee")
    assert problem_lines(done.stdout) == [
        f'not at Stripe: staff.beancount:{by_hand} ({day} "Cash moved to Stripe by hand", '
        "no ref or stripe-id) moves $12.00 at Assets:Stripe; Stripe has no balance "
        "transaction for it",
        f'not at Stripe: staff.beancount:{fee} ({day} "Stripe fee, booked by hand", '
        "stripe-id txn_byhand000000000000001) moves -$3.00 at Assets:Stripe; Stripe has no "
        "balance transaction for it",
        f"balance differs: Assets:Stripe at the start of {day + timedelta(1)}: Stripe holds "
        f"{stripe_holds(standin).format()}, the books "
        f"{(stripe_holds(standin) + usd('9.00')).format()}",
    ]
    assert "  1 balance transactions at Stripe, 1 booked once each for their amount" in (
        done.stdout
    )
    assert done.stderr.splitlines() == ["3 problems: Stripe and the books do not match"]


def test_a_charge_whose_webhook_never_came_is_flagged_until_stripe_sync_books_it(
    giving_runtime: Runtime, standin: StandIn
) -> None:
    rt = giving_runtime  # no app serving webhooks: Stripe's events go nowhere
    projects(rt)
    give(rt, standin, "55.00")
    [txn] = standin_state(standin)["balance_transactions"]
    day = today(rt)
    env = stripe_env(rt.settings, standin)

    done = run_cli(env, "stripe", "reconcile", *period_args(day, day))
    assert done.returncode == 1
    net = Money.from_minor(txn["net"], "USD")
    assert problem_lines(done.stdout) == [
        f"not booked: Stripe {txn['id']} (charge of {txn['source']}, {day}, {net.format()}) "
        "has no entry in the books",
        f"balance differs: Assets:Stripe at the start of {day + timedelta(1)}: "
        f"Stripe holds {net.format()}, the books $0.00",
    ]

    assert run_cli(env, "stripe", "sync").returncode == 0
    again = run_cli(env, "stripe", "reconcile", *period_args(day, day))
    assert again.returncode == 0, again.stdout + again.stderr
    assert problem_lines(again.stdout) == []


def test_the_page_shows_the_report_and_lets_a_bookkeeper_assert_once(
    giving_runtime: Runtime,
    giving_app: Flask,
    standin: StandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rt = giving_runtime  # no webhooks: the gift stays unbooked until events are synced
    projects(rt)
    give(rt, standin, "75.00")
    [txn] = standin_state(standin)["balance_transactions"]
    day = today(rt)
    report = f"/admin/reconcile?from={day}&to={day}"
    bookkeeper = signed_in(giving_app, rt, "bookkeeper")

    form = bookkeeper.get("/admin/reconcile")
    assert form.status_code == 200
    assert 'name="from"' in form.text
    assert "Assert the balance" not in form.text
    bad = bookkeeper.get(f"/admin/reconcile?from={day}&to=31/12/2026")
    assert bad.status_code == 400
    assert error_by(bad, "to") == "Give the date as year-month-day, such as 2026-03-05."

    unmatched = bookkeeper.get(report)
    assert unmatched.status_code == 200
    assert "2 problems: Stripe and the books do not match." in unmatched.text
    assert f"Stripe {txn['id']} (charge of {txn['source']}" in unmatched.text
    assert "has no entry in the books" in unmatched.text
    assert "the books $0.00" in unmatched.text
    assert "Assert the balance" not in unmatched.text

    events.sync(rt.sessions, rt.gateway, datetime(2000, 1, 1, tzinfo=UTC), rt.settings.timezone)
    rt.post_ledger()
    held = Money.from_minor(txn["net"], "USD")
    matched = bookkeeper.get(report)
    assert "Stripe and the books match." in matched.text
    assert f"Stripe {held.format()}, the books {held.format()}" in matched.text
    assert "The period has not ended" in matched.text
    assert "Assert the balance" not in matched.text
    early = send(bookkeeper, report, "/admin/reconcile", {"from": str(day), "to": str(day)})
    assert early.status_code == 400
    assert "has not ended yet" in error_by(early, "to")
    assert balance_assertions(rt) == []

    tomorrow = day + timedelta(1)
    monkeypatch.setattr(clock, "today", lambda tz: tomorrow)
    shown = bookkeeper.get(report)
    assert "Assert the balance" in shown.text
    sent = send(
        bookkeeper, report, "/admin/reconcile", {"from": str(day), "to": str(day)}, keep=shown
    )
    assert sent.status_code == 303
    assert "Asserted in the books: Assets:Stripe" in bookkeeper.get(sent.location).text
    twice = send(bookkeeper, report, "/admin/reconcile", {"from": str(day), "to": str(day)})
    assert twice.status_code == 303
    assert "was asserted before" in bookkeeper.get(twice.location).text
    [assertion] = balance_assertions(rt)
    assert (assertion.date, assertion.amount.number) == (tomorrow, held.amount)
    with rt.sessions() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "books.balance-asserted")
        ).all()
    assert [a.actor for a in audited] == ["bookkeeper@example.org"]

    auditor = signed_in(giving_app, rt, "auditor")
    read = auditor.get(report)
    assert read.status_code == 200
    assert "Stripe and the books match." in read.text
    assert "Assert the balance" not in read.text
    assert (
        send(auditor, report, "/admin/reconcile", {"from": str(day), "to": str(day)}).status_code
        == 403
    )
    treasurer = signed_in(giving_app, rt, "treasurer")
    assert treasurer.get(report).status_code == 404
    assert len(balance_assertions(rt)) == 1


def test_a_period_that_is_not_one_is_refused_in_one_line(
    giving_runtime: Runtime, standin: StandIn
) -> None:
    env = stripe_env(giving_runtime.settings, standin)
    backwards = run_cli(env, "stripe", "reconcile", "--from", "2026-03-31", "--to", "2026-03-01")
    assert backwards.returncode == 1
    assert (backwards.stdout + backwards.stderr).splitlines() == [
        "error: the period starts (2026-03-31) after it ends (2026-03-01)"
    ]
    garbled = run_cli(env, "stripe", "reconcile", "--to", "31/03/2026")
    assert garbled.returncode == 2
    [line] = (garbled.stdout + garbled.stderr).splitlines()
    assert line.startswith("error: ")
    assert "'--to': '31/03/2026'" in line
