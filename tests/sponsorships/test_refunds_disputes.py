"""Issue 8: a card-paid invoice refunded or disputed is booked as a gift's would be.

Every webhook is delivered twice and in shuffled order, so a refund's or a dispute's
event may come before the payment's: each Stripe money object is booked once all the same.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask
from sqlalchemy import func, select

from conservancy.kernel import clock
from conservancy.ledger.check import check_books
from conservancy.ledger.models import LedgerOutbox
from conservancy.mail.models import MailMessage
from conservancy.money import Currency, Money
from conservancy.runtime import Runtime
from conservancy.staff.models import AuditEntry
from conservancy.standin import StandIn
from tests.admin.pages import error_by, send, signed_in
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    entries_by_ref,
    ledger_refs,
    postings,
    run_cli,
    settle_webhooks,
    standin_state,
    stripe_client,
    stripe_env,
    webhook_mode,
)
from tests.sponsorships.sponsors import gold_level, invoice, pay_by_card, signed_up

D = Decimal
INCOME = "Income:Twisted:Sponsorships"
FEES = "Expenses:Twisted:Sponsorship-Fees"
FEE_INCOME = "Income:General:Sponsorship-Fees"
DISPUTE_FEES = "Expenses:Twisted:Dispute-Fees"
STRIPE = "Assets:Stripe"
RECEIVABLE = "Assets:Receivable:Sponsorships"


def _paid(rt: Runtime, standin: StandIn) -> tuple[str, str, D]:
    """An invoice paid by card, every webhook from now on twice and shuffled.
    Returns its number, its charge and Stripe's fee."""
    webhook_mode(standin, duplicate=True, shuffle=True, fail_first=False)
    number = signed_up(rt, gold_level(rt))
    pay_by_card(rt, standin, number)
    settle_webhooks(rt, standin)
    paid = invoice(rt, number)
    assert paid.charge_id is not None
    assert paid.fee_minor is not None
    return number, paid.charge_id, D(paid.fee_minor) / 100


def _balances(rt: Runtime) -> dict[str, D]:
    books = rt.books.load()
    return {
        account: books.account_balance(account)
        for account in (RECEIVABLE, INCOME, FEES, FEE_INCOME, DISPUTE_FEES, STRIPE)
    }


def _clean(rt: Runtime, standin: StandIn) -> None:
    """Each ref once, the books balanced, `ledger check` and `stripe reconcile` clean."""
    assert set(ledger_refs(rt).values()) == {1}
    assert check_books(rt.ledger).problems == []
    env = stripe_env(rt.settings, standin)
    checked = run_cli(env, "ledger", "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    day = clock.today(rt.settings.timezone).isoformat()
    reconciled = run_cli(env, "stripe", "reconcile", "--from", day, "--to", day)
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr


def _notices(rt: Runtime, number: str) -> list[str]:
    with rt.sessions() as session:
        return list(
            session.scalars(
                select(MailMessage.body)
                .where(MailMessage.key.like(f"sponsorship-adjustment-{number}-%"))
                .order_by(MailMessage.id)
            )
        )


def test_partial_refund_takes_back_its_share_of_income_and_of_the_sponsorship_fee(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    number, charge, fee = _paid(rt, standin)
    refund = stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 400000})
    settle_webhooks(rt, standin)

    entry = entries_by_ref(rt)[f"stripe-{refund.id}"]
    assert entry.meta["stripe-id"] == refund.id
    assert entry.meta["invoice"] == number
    assert postings(entry) == {STRIPE: D("-4000.00"), INCOME: D("4000.00")}
    assert postings(entries_by_ref(rt)[f"stripe-{refund.id}/sponsorship-fee"]) == {
        FEES: D("-400.00"),
        FEE_INCOME: D("400.00"),
    }
    assert _balances(rt) == {
        RECEIVABLE: D(0),
        INCOME: D("-6000.00"),
        FEES: D("600.00"),
        FEE_INCOME: D("-600.00"),
        DISPUTE_FEES: D(0),
        STRIPE: D("6000.00") - fee,  # Stripe's fee is not returned
    }
    assert invoice(rt, number).kept.minor == 600000
    _clean(rt, standin)
    (notice,) = _notices(rt, number)
    assert "now stands at $6,000.00" in notice
    assert "the deductible part is $5,500.00" in notice


def test_staff_refund_the_rest_from_the_invoice_page_never_more_than_was_paid(
    giving_runtime: Runtime, giving_app: Flask, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    number, charge, fee = _paid(rt, standin)
    stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 250000})
    settle_webhooks(rt, standin)
    client = signed_in(giving_app, rt, "bookkeeper")
    page = f"/admin/sponsorships/invoices/{number}"

    def counts() -> tuple[int, int]:
        with rt.sessions() as session:
            return (
                session.scalar(select(func.count()).select_from(LedgerOutbox)) or 0,
                session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
            )

    before = counts()
    too_much = send(
        client, page, f"{page}/refund", {"amount": "7500.01", "reason": "Cancelled", "confirm": "y"}
    )
    assert too_much.status_code == 400
    assert "Only $7,500.00" in error_by(too_much, "amount")
    no_reason = send(client, page, f"{page}/refund", {"amount": "10", "reason": "", "confirm": "y"})
    assert no_reason.status_code == 400
    assert "Say why" in error_by(no_reason, "reason")
    bad = send(client, page, f"{page}/refund", {"amount": "1.001", "reason": "x", "confirm": "y"})
    assert bad.status_code == 400
    assert "two decimals" in error_by(bad, "amount")
    unconfirmed = send(client, page, f"{page}/refund", {"amount": "10", "reason": "Cancelled"})
    assert unconfirmed.status_code == 400  # not in one click
    assert (
        error_by(unconfirmed, "confirm") == "Tick this to confirm the refund: it cannot be undone."
    )
    assert counts() == before

    shown = client.get(page)
    fields = {"amount": "7500.00", "reason": "Cancelled", "confirm": "y"}
    done = send(client, page, f"{page}/refund", fields, keep=shown)
    assert done.status_code == 303, done.text
    # The same form sent again (a double click) refunds once.
    twice = send(client, page, f"{page}/refund", fields, keep=shown)
    assert twice.status_code == 303
    assert "acted on once" in client.get(twice.location).text
    settle_webhooks(rt, standin)  # its own events find it booked
    assert _balances(rt) == {
        RECEIVABLE: D(0),
        INCOME: D(0),
        FEES: D(0),
        FEE_INCOME: D(0),
        DISPUTE_FEES: D(0),
        STRIPE: -fee,
    }
    assert invoice(rt, number).kept.minor == 0
    with rt.sessions() as session:
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "sponsorship_invoice.refunded")
        ).one()
        assert "Cancelled" in str(audited.after)
    _clean(rt, standin)
    notices = _notices(rt, number)
    assert len(notices) == 2
    assert "acknowledgement of invoice" in notices[-1]
    assert "is void" in notices[-1]
    # Nothing is left to refund: the form is gone, and a stale one is refused.
    assert "Refund through Stripe" not in client.get(page).text
    again = send(
        client,
        page,
        f"{page}/refund",
        {"amount": "1.00", "reason": "again", "confirm": "y"},
        keep=too_much,
    )
    assert again.status_code == 400
    assert "Only $0.00 of this payment remains" in again.text


def test_a_refund_stripe_refuses_tells_staff_stripes_words_and_not_to_try_again(
    giving_runtime: Runtime, giving_app: Flask, standin: StandIn, live: LiveServer
) -> None:
    """Refunded in full in Stripe's dashboard, and the webhook saying so is lost: Stripe
    refuses the staff's refund, and will refuse it again however often it is sent."""
    rt = giving_runtime
    number, charge, _ = _paid(rt, standin)
    delivering_to, standin.webhooks.url = standin.webhooks.url, None
    stripe_client(standin).v1.refunds.create({"charge": charge})
    standin.webhooks.url = delivering_to
    client = signed_in(giving_app, rt, "bookkeeper")
    page = f"/admin/sponsorships/invoices/{number}"

    refused = send(
        client, page, f"{page}/refund", {"amount": "100.00", "reason": "Cancelled", "confirm": "y"}
    )

    assert refused.status_code == 502
    text = refused.text.replace("&#39;", "'")
    assert "Stripe refused this, so nothing was refunded" in text
    assert f"Charge {charge} has already been refunded." in text
    assert "charge_already_refunded, request req_" in text
    assert "Trying again will get the same answer" in text
    assert "Try again" not in text.replace("Trying again", "")
    assert invoice(rt, number).kept.minor == 1_000_000


def test_a_refund_the_bank_sends_back_is_undone_and_staff_can_refund_again(
    giving_runtime: Runtime, giving_app: Flask, standin: StandIn, live: LiveServer
) -> None:
    """The sponsor's card was closed, so the refund came back: the money is ours again,
    the books say so once, the sponsor is told the acknowledgement stands in full, and a
    new refund from the invoice page is a new refund at Stripe, not the failed one."""
    rt = giving_runtime
    number, _, fee = _paid(rt, standin)
    client = signed_in(giving_app, rt, "bookkeeper")
    page = f"/admin/sponsorships/invoices/{number}"
    fields = {"amount": "2000.00", "reason": "Conference cancelled", "confirm": "y"}
    assert send(client, page, f"{page}/refund", fields).status_code == 303
    settle_webhooks(rt, standin)
    (first,) = standin_state(standin)["refunds"]
    assert invoice(rt, number).kept.minor == 800000

    control(standin, f"refunds/{first['id']}/fail")
    settle_webhooks(rt, standin)

    (failure,) = standin_state(standin)["refunds"][0:1]
    back = entries_by_ref(rt)[f"stripe-{failure['failure_balance_transaction']}"]
    assert back.narration == f"Refund failed: {number}"
    assert back.meta["stripe-id"] == first["id"]
    assert postings(back) == {STRIPE: D("2000.00"), INCOME: D("-2000.00")}
    assert _balances(rt) == {
        RECEIVABLE: D(0),
        INCOME: D("-10000.00"),
        FEES: D("1000.00"),
        FEE_INCOME: D("-1000.00"),
        DISPUTE_FEES: D(0),
        STRIPE: D("10000.00") - fee,
    }
    assert invoice(rt, number).kept.minor == 1000000
    _clean(rt, standin)
    refunded, returned = _notices(rt, number)
    assert "now stands at $8,000.00" in refunded
    assert "now stands at $10,000.00" in returned
    assert "the deductible part is $9,500.00" in returned

    # Staff refund the same amount again: Stripe makes a second refund.
    assert send(client, page, f"{page}/refund", fields).status_code == 303
    settle_webhooks(rt, standin)
    refunds = standin_state(standin)["refunds"]
    assert sorted(r["status"] for r in refunds) == ["failed", "succeeded"]
    assert invoice(rt, number).kept.minor == 800000
    assert _balances(rt)[INCOME] == D("-8000.00")
    _clean(rt, standin)


def test_lost_dispute_takes_the_income_back_and_books_the_dispute_fee_to_the_fund(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    _, charge, fee = _paid(rt, standin)
    dispute = control(standin, f"charges/{charge}/dispute")
    settle_webhooks(rt, standin)
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="lost")["status"] == "lost"
    settle_webhooks(rt, standin)

    withdrawn = dispute["balance_transactions"][0]["id"]
    entry = entries_by_ref(rt)[f"stripe-{withdrawn}"]
    assert entry.meta["stripe-id"] == dispute["id"]
    assert postings(entry) == {
        STRIPE: D("-10015.00"),
        DISPUTE_FEES: D("15.00"),
        INCOME: D("10000.00"),
    }
    assert _balances(rt) == {
        RECEIVABLE: D(0),
        INCOME: D(0),
        FEES: D(0),
        FEE_INCOME: D(0),
        DISPUTE_FEES: D("15.00"),
        STRIPE: -fee - D("15.00"),
    }
    # The card's fee and the dispute's are the fund's loss; the sponsorship fee went back.
    assert rt.books.load().fund_balance("Twisted") == Money(-fee - D("15.00"), Currency.USD)
    _clean(rt, standin)


def test_won_dispute_puts_the_invoice_back_as_it_was(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    number, charge, _ = _paid(rt, standin)
    before = _balances(rt)
    fund_before = rt.books.load().fund_balance("Twisted")
    dispute = control(standin, f"charges/{charge}/dispute")
    settle_webhooks(rt, standin)
    assert _balances(rt)[INCOME] == D(0)
    assert control(standin, f"disputes/{dispute['id']}/close", outcome="won")["status"] == "won"
    settle_webhooks(rt, standin)

    after = _balances(rt)
    assert after[INCOME] == D("-10000.00")
    assert after[FEES] == D("1000.00")
    assert after[RECEIVABLE] == D(0)
    assert {k: v for k, v in after.items() if k not in (STRIPE, DISPUTE_FEES)} == {
        k: v for k, v in before.items() if k not in (STRIPE, DISPUTE_FEES)
    }
    # What Stripe kept of the dispute fee, if anything, is the fund's cost, to the cent.
    assert after[STRIPE] - before[STRIPE] == -after[DISPUTE_FEES]
    assert rt.books.load().fund_balance("Twisted") == fund_before - Money(
        after[DISPUTE_FEES], Currency.USD
    )
    assert invoice(rt, number).kept.minor == 1_000_000
    _clean(rt, standin)


LOSSES = "Expenses:Twisted:Dispute-Losses"


@pytest.mark.parametrize("outcome", ["lost", "won"])
def test_dispute_of_the_whole_payment_after_a_partial_refund_takes_no_more_income_than_came_in(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer, outcome: str
) -> None:
    """Issue 15: 4,000.00 of the 10,000.00 refunded, then the whole 10,000.00 disputed.
    Stripe withdraws all of it: the 6,000.00 that stood goes back as income, the 4,000.00
    taken a second time is the fund's loss until Stripe gives it back (all of the
    dispute when won, the refunded part when lost). Each movement is booked once."""
    rt = giving_runtime
    number, charge, fee = _paid(rt, standin)
    refund = stripe_client(standin).v1.refunds.create({"charge": charge, "amount": 400000})
    dispute = control(standin, f"charges/{charge}/dispute", amount="1000000")
    closed = control(standin, f"disputes/{dispute['id']}/close", outcome=outcome)
    settle_webhooks(rt, standin)

    withdrawn, reinstated = closed["balance_transactions"]
    entries = entries_by_ref(rt)
    assert postings(entries[f"stripe-{refund.id}"]) == {STRIPE: D("-4000.00"), INCOME: D("4000.00")}
    assert postings(entries[f"stripe-{withdrawn['id']}"]) == {
        STRIPE: D("-10015.00"),
        DISPUTE_FEES: D("15.00"),
        INCOME: D("6000.00"),
        LOSSES: D("4000.00"),
    }
    assert postings(entries[f"stripe-{withdrawn['id']}/sponsorship-fee"]) == {
        FEES: D("-600.00"),
        FEE_INCOME: D("600.00"),
    }
    books = rt.books.load()
    if outcome == "won":
        assert postings(entries[f"stripe-{reinstated['id']}"]) == {
            STRIPE: D("10015.00"),
            DISPUTE_FEES: D("-15.00"),
            INCOME: D("-6000.00"),
            LOSSES: D("-4000.00"),
        }
        assert _balances(rt) == {
            RECEIVABLE: D(0),
            INCOME: D("-6000.00"),
            FEES: D("600.00"),
            FEE_INCOME: D("-600.00"),
            DISPUTE_FEES: D(0),
            STRIPE: D("6000.00") - fee,
        }
        assert invoice(rt, number).kept.minor == 600000
        assert "now stands at $6,000.00" in _notices(rt, number)[-1]
    else:
        assert postings(entries[f"stripe-{reinstated['id']}"]) == {
            STRIPE: D("4000.00"),
            LOSSES: D("-4000.00"),
        }
        assert f"stripe-{reinstated['id']}/sponsorship-fee" not in entries
        assert _balances(rt) == {
            RECEIVABLE: D(0),
            INCOME: D(0),
            FEES: D(0),
            FEE_INCOME: D(0),
            DISPUTE_FEES: D("15.00"),
            STRIPE: -fee - D("15.00"),
        }
        assert invoice(rt, number).kept.minor == 0
        assert "acknowledgement of invoice" in _notices(rt, number)[-1]
        assert "is void" in _notices(rt, number)[-1]
    assert books.account_balance(LOSSES) == D(0)
    # The fund holds at Stripe what Stripe holds: the books and Stripe's own balance agree.
    assert books.fund_balance("Twisted").amount + books.fund_balance("General").amount == (
        D(standin_state(standin)["balance"]["usd"]) / 100
    )
    _clean(rt, standin)
