"""Gifts in EUR, GBP and CAD, from the form through the stand-in's hosted checkout and its
webhooks to the books, the receipts and the donor portal.

The stand-in converts each charge into its US dollar balance at its demo rate, as a
US Stripe account does; the books keep those dollars, with the donor's own amount
beside each income posting. A refund or dispute at another day's rate takes the
income back at the gift's rate and books the difference as an exchange difference,
so that nothing is left over anywhere: every fund in dollars, every entry balanced
to the cent, and the funds together equal to the dollars Stripe holds.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from beancount.core import data
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from conservancy.donations.models import Donation, Gift
from conservancy.donations.service import refund_gift
from conservancy.kernel import clock
from conservancy.ledger import accounts
from conservancy.money import Currency, Money
from conservancy.receipts.models import Receipt, ReceiptKind
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from conservancy.standin.exchange import DEMO_RATES
from tests import factories
from tests.admin.books import assert_books_clean
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    control,
    donation,
    entries_by_ref,
    give,
    post,
    run_cli,
    settle_webhooks,
    standin_state,
    stripe_client,
    stripe_env,
)
from tests.giving.test_donate_form import VALID, token, written
from tests.portal.donor import sign_in
from tests.receipts.pdfs import WEASYPRINT_PROBLEM, pdf_text

D = Decimal
EUR, GBP, CAD = Currency.EUR, Currency.GBP, Currency.CAD


@pytest.fixture
def rt(giving_runtime: Runtime, live: LiveServer) -> Runtime:
    """The giving runtime with Twisted (10% sponsorship fee), webhooks delivered to it."""
    with giving_runtime.sessions() as session:
        factories.project(session)
        session.commit()
    giving_runtime.post_ledger()
    return giving_runtime


@pytest.fixture
def client(rt: Runtime, giving_app: Flask) -> FlaskClient:
    return giving_app.test_client()


def at_rate(amount: str, rate: Decimal) -> Decimal:
    """``amount`` converted at ``rate`` and rounded to the cent, half-up (Stripe's way)."""
    return (D(amount) * rate).quantize(D("0.01"), rounding=ROUND_HALF_UP)


def set_rate(standin: StandIn, currency: Currency, rate: str) -> None:
    rates = control(standin, "exchange_rates", **{currency.value.lower(): rate})
    assert rates[currency.value.lower()] == rate


def gift_of(rt: Runtime, donation_id: int) -> Gift:
    [gift] = donation(rt, donation_id).gifts
    return gift


def txn_of(standin: StandIn, source: str) -> dict[str, Any]:
    """The stand-in's balance transaction made by a charge, refund or dispute."""
    [txn] = [t for t in standin_state(standin)["balance_transactions"] if t["source"] == source]
    return txn


def usd_at_stripe(standin: StandIn) -> Decimal:
    """What the stand-in's balance holds: the sum of its balance transactions' ``net``."""
    state = standin_state(standin)
    assert set(state["balance"]) == {"usd"}, "every movement settles in US dollars"
    return D(state["balance"]["usd"]) / 100


def funds(rt: Runtime) -> dict[str, Decimal]:
    snapshot = rt.books.load()
    return {name: snapshot.fund_balance(name).amount for name in ("Twisted", "General")}


def income_posting(txn: data.Transaction, fund: str = "Twisted") -> data.Posting:
    [posting] = [p for p in txn.postings if p.account == accounts.donations(fund)]
    return posting


def amounts(txn: data.Transaction) -> dict[str, Decimal]:
    found: dict[str, Decimal] = {}
    for p in txn.postings:
        assert p.units is not None
        assert p.units.currency == "USD", "the books keep dollars"
        assert p.price is None
        assert p.cost is None
        found[p.account] = found.get(p.account, D(0)) + D(p.units.number)
    return found


def donor_amount(posting: data.Posting) -> tuple[Decimal, str]:
    given = posting.meta["donor-amount"]
    return D(given.number), str(given.currency)


def staff_refund(rt: Runtime, gift_id: int, amount: Money) -> str:
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        row = refund_gift(
            session, rt.gateway, gift, amount, reason="asked", tz=rt.settings.timezone
        )
        session.commit()
        refund_id = row.stripe_refund_id
    rt.post_ledger()
    return refund_id


def receipts_of(rt: Runtime, gift_id: int) -> list[Receipt]:
    with rt.sessions() as session:
        rows = list(
            session.scalars(select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id))
        )
        session.expunge_all()
        return rows


# -- gifts ---------------------------------------------------------------------------------


def test_gifts_in_eur_gbp_and_cad_are_booked_in_the_dollars_stripe_settled(
    rt: Runtime, standin: StandIn
) -> None:
    given = {EUR: "100.00", GBP: "50.00", CAD: "75.00"}
    ids = {c: give(rt, standin, amount, currency=c) for c, amount in given.items()}
    settle_webhooks(rt, standin)

    entries = entries_by_ref(rt)
    settled_total = D(0)
    for currency, amount in given.items():
        gift = gift_of(rt, ids[currency])
        txn = txn_of(standin, str(gift.charge_id))
        rate = DEMO_RATES[currency.value.lower()]
        settled = at_rate(amount, rate)
        # Stripe's balance transaction: dollars, with its rate.
        assert (txn["currency"], D(txn["amount"]) / 100) == ("usd", settled)
        assert D(str(txn["exchange_rate"])) == rate
        # The gift keeps both currencies.
        assert (gift.currency, gift.total) == (currency.value, Money(D(amount), currency))
        assert gift.settled == Money(settled, Currency.USD)
        assert gift.exchange_rate == str(rate)
        # The books: dollars Stripe settled, the donor's amount beside the income.
        entry = entries[gift.ref]
        fee, net = D(txn["fee"]) / 100, D(txn["net"]) / 100
        assert amounts(entry) == {
            accounts.STRIPE: net,
            accounts.payment_processing("Twisted"): fee,
            accounts.donations("Twisted"): -settled,
        }
        assert donor_amount(income_posting(entry)) == (-D(amount), currency.value)
        assert entry.meta["exchange-rate"] == str(rate)
        # The sponsorship fee is 10% of the dollars.
        fee_entry = entries[f"{gift.ref}/sponsorship-fee"]
        assert amounts(fee_entry)[accounts.sponsorship_fees("Twisted")] == at_rate(
            str(settled), D("0.10")
        )
        settled_total += settled

    assert_books_clean(rt)
    done = run_cli(stripe_env(rt.settings, standin), "ledger", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    # Every fund in dollars: together exactly what Stripe holds; Twisted's income, the
    # dollars settled.
    assert sum(funds(rt).values()) == usd_at_stripe(standin)
    assert rt.books.load().account_balance(accounts.donations("Twisted")) == -settled_total


def test_a_card_issued_abroad_pays_stripes_international_fee_too(
    rt: Runtime, standin: StandIn
) -> None:
    donation_id = give(rt, standin, "100.00", currency=EUR, card="4000002500000003")
    settle_webhooks(rt, standin)

    gift = gift_of(rt, donation_id)
    # 108.34 USD: 2.9% + 1% conversion + 1.5% international = 5.4%, 5.85; + 0.30.
    assert (gift.settled.amount, gift.fee_minor) == (D("108.34"), 615)
    assert sum(funds(rt).values()) == usd_at_stripe(standin) == D("102.19")
    assert_books_clean(rt)


# -- refunds and disputes at another day's rate ----------------------------------------------


def test_partial_refund_at_another_rate_books_the_exchange_difference_and_leaves_no_residual(
    rt: Runtime, standin: StandIn
) -> None:
    donation_id = give(rt, standin, "100.00", currency=EUR)
    settle_webhooks(rt, standin)
    gift = gift_of(rt, donation_id)
    assert gift.settled.amount == D("108.34")  # at 1.0834

    set_rate(standin, EUR, "1.12")  # the euro rose: giving 40.00 EUR back costs more dollars
    first = staff_refund(rt, gift.id, Money(D("40.00"), EUR))
    settle_webhooks(rt, standin)

    returned = -D(txn_of(standin, first)["amount"]) / 100
    assert returned == D("44.80")  # 40.00 EUR at the refund's own rate
    entries = entries_by_ref(rt)
    refund_entry = entries[f"stripe-{first}"]
    assert amounts(refund_entry) == {
        accounts.STRIPE: D("-44.80"),
        accounts.donations("Twisted"): D("43.34"),  # 40% of 108.34, at the gift's rate
        accounts.exchange_differences("Twisted"): D("1.46"),
    }
    assert donor_amount(income_posting(refund_entry)) == (D("40.00"), "EUR")
    assert refund_entry.meta["exchange-rate"] == "1.12"
    assert amounts(entries[f"stripe-{first}/sponsorship-fee"]) == {
        accounts.sponsorship_fees("Twisted"): D("-4.33"),  # 10.83 on 108.34 -> 6.50 on 65.00
        accounts.SPONSORSHIP_FEE_INCOME: D("4.33"),
    }
    assert_books_clean(rt)
    assert sum(funds(rt).values()) == usd_at_stripe(standin)

    # The rest goes back from Stripe's dashboard, the euro now lower: the fund gains.
    set_rate(standin, EUR, "1.05")
    stripe_client(standin).v1.refunds.create({"charge": str(gift.charge_id)})
    settle_webhooks(rt, standin)

    [rest] = [
        t
        for ref, t in entries_by_ref(rt).items()
        if ref.startswith("stripe-re_") and ref != f"stripe-{first}" and "/" not in ref
    ]
    assert amounts(rest) == {
        accounts.STRIPE: D("-63.00"),
        accounts.donations("Twisted"): D("65.00"),
        accounts.exchange_differences("Twisted"): D("-2.00"),
    }
    after = gift_of(rt, gift.donation_id)
    assert (after.remaining.minor, after.reversed_settled_minor) == (0, 10834)
    assert_books_clean(rt)
    books = rt.books.load()
    # Income taken back in full at the gift's rate, the sponsorship fee with it; the
    # fund is left with Stripe's fee and the exchange differences, as Stripe is.
    assert books.account_balance(accounts.donations("Twisted")) == 0
    assert books.account_balance(accounts.sponsorship_fees("Twisted")) == 0
    assert funds(rt) == {"Twisted": D("-3.99"), "General": D("0.00")}
    assert usd_at_stripe(standin) == D("-3.99")  # 103.81 in, 44.80 and 63.00 out
    # Stripe's reconciliation finds each of its dollar movements booked once, as it was.
    day = clock.today(rt.settings.timezone).isoformat()
    done = run_cli(
        stripe_env(rt.settings, standin), "stripe", "reconcile", "--from", day, "--to", day
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 balance transactions at Stripe, 3 booked once each for their amount" in done.stdout


def test_dispute_lost_and_won_at_other_rates_books_the_differences(
    rt: Runtime, standin: StandIn
) -> None:
    donation_id = give(rt, standin, "50.00", currency=GBP)
    settle_webhooks(rt, standin)
    gift = gift_of(rt, donation_id)
    assert gift.settled.amount == D("63.36")

    set_rate(standin, GBP, "1.30")
    dispute = control(standin, f"charges/{gift.charge_id}/dispute")
    settle_webhooks(rt, standin)
    set_rate(standin, GBP, "1.25")
    control(standin, f"disputes/{dispute['id']}/close", outcome="won")
    settle_webhooks(rt, standin)

    [withdrawn, reinstated] = sorted(
        (t for t in standin_state(standin)["balance_transactions"] if t["source"] == dispute["id"]),
        key=lambda t: t["amount"],
    )
    entries = entries_by_ref(rt)
    assert amounts(entries[f"stripe-{withdrawn['id']}"]) == {
        accounts.STRIPE: D("-80.00"),  # 65.00 at 1.30, and the 15.00 dispute fee
        accounts.dispute_fees("Twisted"): D("15.00"),
        accounts.donations("Twisted"): D("63.36"),
        accounts.exchange_differences("Twisted"): D("1.64"),
    }
    assert amounts(entries[f"stripe-{reinstated['id']}"]) == {
        accounts.STRIPE: D("77.50"),  # 62.50 at 1.25, and the fee back
        accounts.dispute_fees("Twisted"): D("-15.00"),
        accounts.donations("Twisted"): D("-63.36"),
        accounts.exchange_differences("Twisted"): D("0.86"),
    }
    assert_books_clean(rt)
    books = rt.books.load()
    assert books.account_balance(accounts.donations("Twisted")) == D("-63.36")
    assert sum(funds(rt).values()) == usd_at_stripe(standin)


def test_dispute_of_the_whole_gift_after_a_partial_refund_takes_back_no_more_than_the_gift(
    rt: Runtime, standin: StandIn
) -> None:
    """Issue 15: 100.00 EUR (108.34 USD), 40.00 EUR refunded, then all 100.00 EUR disputed
    and lost, each at its own day's rate. Income goes back only to what the gift brought
    in, the 40.00 EUR taken twice is a loss (at the gift's rate) until the lost dispute
    gives it back, and the rates' differences land where they always do."""
    donation_id = give(rt, standin, "100.00", currency=EUR)
    settle_webhooks(rt, standin)
    gift = gift_of(rt, donation_id)
    set_rate(standin, EUR, "1.12")
    refund = staff_refund(rt, gift.id, Money(D("40.00"), EUR))
    set_rate(standin, EUR, "1.10")
    dispute = control(standin, f"charges/{gift.charge_id}/dispute")
    settle_webhooks(rt, standin)
    set_rate(standin, EUR, "1.05")
    control(standin, f"disputes/{dispute['id']}/close", outcome="lost")
    settle_webhooks(rt, standin)

    [withdrawn, reinstated] = sorted(
        (t for t in standin_state(standin)["balance_transactions"] if t["source"] == dispute["id"]),
        key=lambda t: t["amount"],
    )
    entries = entries_by_ref(rt)
    losses = accounts.dispute_losses("Twisted")
    assert amounts(entries[f"stripe-{refund}"])[accounts.donations("Twisted")] == D("43.34")
    assert amounts(entries[f"stripe-{withdrawn['id']}"]) == {
        accounts.STRIPE: D("-125.00"),  # 100.00 EUR at 1.10, and the 15.00 fee
        accounts.dispute_fees("Twisted"): D("15.00"),
        accounts.donations("Twisted"): D("65.00"),  # the rest of 108.34
        losses: D("43.34"),  # 40.00 EUR at the gift's rate
        accounts.exchange_differences("Twisted"): D("1.66"),
    }
    assert amounts(entries[f"stripe-{reinstated['id']}"]) == {
        accounts.STRIPE: D("42.00"),  # 40.00 EUR at 1.05
        losses: D("-43.34"),
        accounts.exchange_differences("Twisted"): D("1.34"),
    }
    books = rt.books.load()
    assert books.account_balance(accounts.donations("Twisted")) == 0
    assert books.account_balance(accounts.sponsorship_fees("Twisted")) == 0
    assert books.account_balance(losses) == 0
    assert sum(funds(rt).values()) == usd_at_stripe(standin)
    assert gift_of(rt, donation_id).reversed_settled_minor == 10834
    assert_books_clean(rt)


# -- receipts and the portal --------------------------------------------------------------


@pytest.mark.skipif(WEASYPRINT_PROBLEM is not None, reason=WEASYPRINT_PROBLEM or "")
def test_the_receipt_states_the_donors_currency_and_the_dollars_received(
    rt: Runtime, standin: StandIn
) -> None:
    donation_id = give(rt, standin, "100.00", currency=EUR)
    settle_webhooks(rt, standin)
    gift = gift_of(rt, donation_id)
    set_rate(standin, EUR, "1.12")
    staff_refund(rt, gift.id, Money(D("40.00"), EUR))
    settle_webhooks(rt, standin)
    rt.deliver()

    receipt, voiding, replacement = receipts_of(rt, gift.id)
    assert [r.kind for r in (receipt, voiding, replacement)] == [
        ReceiptKind.RECEIPT,
        ReceiptKind.VOIDING,
        ReceiptKind.REPLACEMENT,
    ]

    def text(r: Receipt) -> str:
        assert r.pdf_path is not None
        return pdf_text((rt.settings.receipts_dir / r.pdf_path).read_bytes())

    first = text(receipt)
    assert "100.00 EUR" in first
    assert "received as $108.34 USD" in first
    assert "For US federal income tax purposes the value of your contribution is $108.34 USD" in (
        first
    )
    # What still stands after the refund, at the gift's rate (not the refund's).
    rest = text(replacement)
    assert "60.00 EUR" in rest
    assert "$65.00 USD" in rest
    assert "stated 100.00 EUR, which Test Sponsor, Inc. received as $108.34 USD" in text(voiding)


def test_the_donor_portal_shows_the_gift_in_the_donors_currency(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    give(rt, standin, "75.00", currency=CAD)
    settle_webhooks(rt, standin)

    page = sign_in(client, rt, "ada@example.org").text

    assert "75.00 CAD once" in page
    assert "received as $54.84 USD" in page


# -- the form ------------------------------------------------------------------------------


def test_the_form_drawn_in_euros_takes_the_gift_in_euros_to_checkout(
    rt: Runtime, standin: StandIn, client: FlaskClient
) -> None:
    page = client.get("/donate/twisted?currency=EUR")
    assert page.status_code == 200
    assert "25.00 EUR" in page.text
    assert "$25.00" not in page.text
    assert "Other amount (EUR)" in page.text

    answer = client.post(
        "/donate/twisted?currency=EUR",
        data={**VALID, "currency": "EUR", "csrf_token": token(client, "/donate/twisted")},
    )

    assert answer.status_code == 303
    with rt.sessions() as session:
        [made] = session.scalars(select(Donation)).all()
        assert (made.amount.amount, made.currency) == (D("25.00"), "EUR")
        session_id = made.checkout_session_id
    [checkout] = [s for s in standin.store.all("checkout.session") if s["id"] == session_id]
    assert (checkout["currency"], checkout["amount_total"]) == ("eur", 2500)
    assert post(f"{checkout['url']}/pay", card_number="4242424242424242") == 303
    settle_webhooks(rt, standin)
    assert gift_of(rt, made.id).settled.amount == at_rate("25.00", DEMO_RATES["eur"])


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"currency": "JPY"}, "currency", "Choose the currency of your gift: USD, EUR, GBP or CAD"),
        ({"currency": "EURO"}, "currency", "Choose the currency of your gift"),
        ({"currency": ""}, "currency", "Choose the currency of your gift"),
        ({"currency": "EUR", "amount": "0.99"}, "amount", "smallest gift we can take is 1.00 EUR"),
        (
            {"currency": "GBP", "amount": "100000.01"},
            "amount",
            "largest gift we take online is 100,000.00 GBP",
        ),
    ],
    ids=["unknown", "not-a-code", "empty", "below-minimum-in-eur", "above-maximum-in-gbp"],
)
def test_bad_currency_or_amount_in_it_is_refused_by_the_field_and_writes_nothing(
    rt: Runtime, client: FlaskClient, fields: dict[str, str], field: str, message: str
) -> None:
    before = written(rt)

    page = client.post(
        "/donate/twisted", data={**VALID, **fields, "csrf_token": token(client, "/donate/twisted")}
    )

    assert page.status_code == 400
    found = re.search(rf'<p class="field-error" id="{field}-error">(.*?)</p>', page.text, re.S)
    assert found
    assert message in found.group(1)
    assert written(rt) == before
