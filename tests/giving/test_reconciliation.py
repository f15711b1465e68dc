"""The books against Stripe's own records, after an untidy run of everything.

The stand-in delivers every webhook twice, in shuffled order, each failing
its first try. Through it go a few hundred gifts (one-time and monthly, over
three projects with different fee rates, some anonymous, some with an extra
gift to General, some covering the card fee), renewals (one declined), refunds
from staff and from Stripe's dashboard (partial and full), disputes won and
lost, and two payouts. Then every figure in the books is compared, to the
cent, with sums computed here from nothing but the stand-in's records (its
charges, refunds, disputes, payouts and balance transactions), the fee rate
of each project and the extra gifts this test chose.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from conservancy.donations.models import DonationStatus, Frequency, Gift, Visibility
from conservancy.donations.service import refund_gift
from conservancy.ledger import accounts
from conservancy.receipts.issue import standing_receipts
from conservancy.receipts.models import Receipt
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import LiveServer
from tests.giving.flows import (
    DECLINED_CARD,
    control,
    donation,
    give,
    ledger_refs,
    ledger_transactions,
    outbox_refs,
    posting_sum,
    run_cli,
    standin_state,
    stripe_client,
    stripe_env,
    usd,
    webhook_mode,
)

# slug, name (= fund), sponsorship fee rate in basis points
PROJECTS = (("twisted", "Twisted", 1000), ("pypy", "PyPy", 750), ("sage", "Sage", 500))
RATES = {slug: rate for slug, _, rate in PROJECTS}
FUNDS = {slug: name for slug, name, _ in PROJECTS}
GIFTS = 200
BATCH = 25  # gifts given between waits for the stand-in's webhooks


@dataclass(frozen=True)
class Plan:
    """What this test asked for: which project, and how much extra to General (cents)."""

    slug: str
    extra_minor: int
    frequency: Frequency


@dataclass
class Expected:
    """Figures computed from the stand-in's records alone, in cents."""

    accounts: Counter[str] = field(default_factory=Counter)
    funds: Counter[str] = field(default_factory=Counter)


def half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded half-up, for numbers that are not negative."""
    assert numerator >= 0
    assert denominator > 0
    return (2 * numerator + denominator) // (2 * denominator)


def cents(value: Decimal) -> int:
    scaled = value * 100
    assert scaled == scaled.to_integral_value(), f"{value} is not a whole number of cents"
    return int(scaled)


def wait_for_webhooks(rt: Runtime, standin: StandIn) -> None:
    # Not a timing assertion: a guard so that a stuck delivery fails the test.
    assert standin.wait_for_webhooks(180), "the stand-in still has webhooks to deliver"
    assert rt.settler.wait_idle(180), "the settler is still settling"
    rt.post_ledger()


def gift_of(rt: Runtime, donation_id: int, index: int = 0) -> Gift:
    with rt.sessions() as session:
        gifts = session.scalars(
            select(Gift).where(Gift.donation_id == donation_id).order_by(Gift.id)
        ).all()
        assert len(gifts) > index, f"donation {donation_id} has {len(gifts)} gifts"
        return gifts[index]


def staff_refund(rt: Runtime, gift_id: int, amount: str) -> None:
    """A refund as staff make it: through the service, which books it at once."""
    with rt.sessions() as session:
        gift = session.get(Gift, gift_id)
        assert gift is not None
        refund_gift(
            session, rt.gateway, gift, usd(amount), reason="donor asked", tz=rt.settings.timezone
        )
        session.commit()
    rt.post_ledger()


def dashboard_refund(standin: StandIn, charge_id: str, amount_minor: int | None) -> None:
    """A refund made at Stripe directly: the application hears of it only by webhook."""
    params: dict[str, Any] = {"charge": charge_id}
    if amount_minor is not None:
        params["amount"] = amount_minor
    stripe_client(standin).v1.refunds.create(params)  # type: ignore[arg-type]


def money(minor: int) -> str:
    return f"{minor // 100}.{minor % 100:02d}"


def donation_of_charge(standin: StandIn, charge: dict[str, Any]) -> int:
    """Our donation id, as Stripe knows it: the payment's metadata, or for a
    subscription's charge, the subscription's metadata on its invoice."""
    found = (charge.get("metadata") or {}).get("donation_id")
    if found is None:
        client = stripe_client(standin)
        payments = client.v1.invoice_payments.list(
            {"payment": {"type": "payment_intent", "payment_intent": charge["payment_intent"]}}
        )
        invoice = client.v1.invoices.retrieve(str(payments.data[0].invoice))
        assert invoice.parent is not None
        assert invoice.parent.subscription_details is not None
        metadata = invoice.parent.subscription_details.metadata
        assert metadata is not None
        found = str(metadata["donation_id"])
    return int(found)


def expected_from_stripe(
    state: dict[str, Any], standin: StandIn, plans: dict[int, Plan]
) -> Expected:
    """The books as they must be, from the stand-in's records and this test's own choices."""
    txns = {t["id"]: t for t in state["balance_transactions"]}
    refunded: Counter[str] = Counter()
    for refund in state["refunds"]:
        assert refund["status"] == "succeeded"
        refunded[refund["charge"]] += refund["amount"]
    disputed: Counter[str] = Counter()
    dispute_fees: Counter[str] = Counter()
    for dispute in state["disputes"]:
        for txn in dispute["balance_transactions"]:
            disputed[dispute["charge"]] -= txn["amount"]
            dispute_fees[dispute["charge"]] += txn["fee"]

    want = Expected()
    for charge in state["charges"]:
        if charge["status"] != "succeeded":
            continue
        plan = plans[donation_of_charge(standin, charge)]
        fund, rate = FUNDS[plan.slug], RATES[plan.slug]
        total, extra = charge["amount"], plan.extra_minor
        project = total - extra
        card_fee = txns[charge["balance_transaction"]]["fee"]
        general_card_fee = half_up(card_fee * extra, total)
        reversed_ = refunded[charge["id"]] + disputed[charge["id"]]
        general_back = half_up(extra * reversed_, total)
        project_net = project - (reversed_ - general_back)
        general_net = extra - general_back
        sponsorship = half_up(rate * project_net, 10000)

        want.accounts[accounts.donations(fund)] -= project_net
        want.accounts[accounts.donations(accounts.GENERAL)] -= general_net
        want.accounts[accounts.payment_processing(fund)] += card_fee - general_card_fee
        want.accounts[accounts.payment_processing(accounts.GENERAL)] += general_card_fee
        want.accounts[accounts.sponsorship_fees(fund)] += sponsorship
        want.accounts[accounts.SPONSORSHIP_FEE_INCOME] -= sponsorship
        want.accounts[accounts.dispute_fees(fund)] += dispute_fees[charge["id"]]

        want.funds[fund] += project_net - (card_fee - general_card_fee)
        want.funds[fund] -= sponsorship + dispute_fees[charge["id"]]
        want.funds[accounts.GENERAL] += general_net - general_card_fee + sponsorship

    want.accounts[accounts.STRIPE] = sum(t["net"] for t in state["balance_transactions"])
    want.accounts[accounts.CHECKING] = sum(
        p["amount"] for p in state["payouts"] if p["status"] == "paid"
    )
    return want


def money_refs(state: dict[str, Any]) -> dict[str, tuple[str, int]]:
    """Each balance transaction's entry: its ref -> (its stripe-id, Assets:Stripe in cents).

    A charge's entry is named by its balance transaction; a refund's by the refund
    (SPEC section 6: the refund id is what staff look up); a dispute's movements
    and a payout by their balance transactions, each naming the dispute or payout.
    """
    refs: dict[str, tuple[str, int]] = {}
    for txn in state["balance_transactions"]:
        if txn["type"] == "refund":
            ref, stripe_id = f"stripe-{txn['source']}", txn["source"]
        elif txn["type"] == "charge":
            ref, stripe_id = f"stripe-{txn['id']}", txn["id"]
        else:
            assert txn["type"] in {"adjustment", "payout"}, txn["type"]
            ref, stripe_id = f"stripe-{txn['id']}", txn["source"]
        assert ref not in refs
        refs[ref] = (stripe_id, txn["net"])
    return refs


def give_all(rt: Runtime, standin: StandIn, numbers: range, rng: random.Random) -> dict[int, Plan]:
    """Gifts number ``numbers``: which project, how often, how much and how is by number."""
    plans: dict[int, Plan] = {}
    for i in numbers:
        slug = PROJECTS[i % len(PROJECTS)][0]
        frequency = Frequency.MONTHLY if i % 8 == 3 else Frequency.ONCE
        extra = rng.randint(100, 2500) if i % 5 == 2 else 0
        cover = i % 6 == 1
        amount = rng.randint(100, 40000)
        donation_id = give(
            rt,
            standin,
            money(amount),
            slug=slug,
            frequency=frequency,
            name=f"Donor {i % 60}",
            email=f"donor{i % 60}@example.org",
            visibility=Visibility.ANONYMOUS if i % 7 == 0 else Visibility.PUBLIC,
            extra_general=money(extra) if extra else None,
            cover_fees=cover,
        )
        plans[donation_id] = Plan(slug, extra, frequency)
        if (i + 1) % BATCH == 0:
            wait_for_webhooks(rt, standin)
    wait_for_webhooks(rt, standin)
    return plans


def pick(ids: Iterable[int], count: int, taken: set[int]) -> list[int]:
    chosen = [i for i in ids if i not in taken][:count]
    assert len(chosen) == count
    taken.update(chosen)
    return chosen


def test_books_equal_stripes_records_to_the_cent_after_duplicated_shuffled_failing_webhooks(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    # The receipts' numbers and amounts are checked below, from the database; their PDFs
    # and mail are not this test's subject (tests/receipts has them), and its courier,
    # never waited for, draws none (tests/courier.py).
    gifts = GIFTS
    with rt.sessions() as session:
        for slug, name, rate in PROJECTS:
            factories.project(session, slug=slug, name=name, fee_rate_bp=rate)
        session.commit()
    rt.post_ledger()
    assert webhook_mode(standin, duplicate=True, shuffle=True, fail_first=True) == {
        "duplicate": True,
        "shuffle": True,
        "fail_first": True,
    }
    rng = random.Random(20261124)

    last = gifts - gifts // 20  # the last few come after the second payout
    plans = give_all(rt, standin, range(gifts // 2), rng)
    assert control(standin, "payouts")["status"] == "paid"
    plans |= give_all(rt, standin, range(gifts // 2, last), rng)
    assert all(donation(rt, d).status is DonationStatus.PAID for d in plans)
    one_time = [d for d, p in plans.items() if p.frequency is Frequency.ONCE]
    monthly = [d for d, p in plans.items() if p.frequency is Frequency.MONTHLY]
    split = [d for d in one_time if plans[d].extra_minor]
    whole = [d for d in one_time if not plans[d].extra_minor]

    # Renewals: eight subscriptions renew, one of them twice; one renewal is declined,
    # books nothing, and its donation carries on and renews again.
    subscriptions = {d: donation(rt, d).stripe_subscription_id for d in monthly}
    for d in monthly[:8]:
        assert control(standin, f"subscriptions/{subscriptions[d]}/renew")["paid"] is True
    assert control(standin, f"subscriptions/{subscriptions[monthly[0]]}/renew")["paid"] is True
    declined = control(
        standin, f"subscriptions/{subscriptions[monthly[1]]}/renew", card_number=DECLINED_CARD
    )
    assert declined["paid"] is False
    wait_for_webhooks(rt, standin)
    declined_charge = (
        stripe_client(standin)
        .v1.payment_intents.retrieve(_intent_of_invoice(standin, declined["invoice"]["id"]))
        .latest_charge
    )
    assert donation(rt, monthly[1]).status is DonationStatus.PAID
    assert len(donation(rt, monthly[1]).gifts) == 2  # the first and the first renewal
    assert control(standin, f"subscriptions/{subscriptions[monthly[1]]}/renew")["paid"] is True
    wait_for_webhooks(rt, standin)
    assert len(donation(rt, monthly[0]).gifts) == 3
    assert len(donation(rt, monthly[1]).gifts) == 3

    # Refunds: twelve by staff, eight at Stripe directly (arriving only by webhook).
    taken: set[int] = set()
    thirds = pick(split, 1, taken)[0]  # three partial refunds that add up to the whole gift
    gift = gift_of(rt, thirds)
    third = gift.total.minor // 3
    for amount in (third, third, gift.total.minor - 2 * third):
        staff_refund(rt, gift.id, money(amount))
    twice = pick(whole, 1, taken)[0]  # two partial refunds, something left
    gift = gift_of(rt, twice)
    staff_refund(rt, gift.id, money(gift.total.minor // 4))
    staff_refund(rt, gift.id, "1.01")
    for d in [*pick(whole, 2, taken), *pick(split, 1, taken)]:  # full refunds
        gift = gift_of(rt, d)
        staff_refund(rt, gift.id, money(gift.total.minor))
    renewal = gift_of(rt, monthly[2], 1)  # a renewal's gift, refunded in full
    staff_refund(rt, renewal.id, money(renewal.total.minor))
    for d in [*pick(whole, 2, taken), *pick(split, 1, taken)]:  # partial refunds
        gift = gift_of(rt, d)
        staff_refund(rt, gift.id, money(max(gift.total.minor * 3 // 10, 1)))
    wait_for_webhooks(rt, standin)

    for d in [*pick(whole, 2, taken), *pick(split, 1, taken)]:
        dashboard_refund(standin, gift_of(rt, d).charge_id, None)
    for d in [*pick(whole, 3, taken), *pick(split, 1, taken)]:
        gift = gift_of(rt, d)
        dashboard_refund(standin, gift.charge_id, max(gift.total.minor * 2 // 5, 1))
    dashboard_refund(standin, gift_of(rt, twice).charge_id, 77)  # on top of staff's two
    wait_for_webhooks(rt, standin)
    assert control(standin, "payouts")["status"] == "paid"

    # Disputes: three won (one of them on a gift split with General), two lost
    # (one of them for part of the gift).
    disputes = [
        control(standin, f"charges/{gift_of(rt, d).charge_id}/dispute")
        for d in [*pick(whole, 2, taken), *pick(split, 1, taken), *pick(whole, 1, taken)]
    ]
    partial = gift_of(rt, pick(whole, 1, taken)[0])
    disputes.append(
        control(
            standin, f"charges/{partial.charge_id}/dispute", amount=str(partial.total.minor // 2)
        )
    )
    wait_for_webhooks(rt, standin)
    for dispute, outcome in zip(disputes, ("won", "won", "won", "lost", "lost"), strict=True):
        assert control(standin, f"disputes/{dispute['id']}/close", outcome=outcome)["status"] == (
            outcome
        )
    plans |= give_all(rt, standin, range(last, gifts), rng)

    # What the stand-in did, by its own records.
    state = standin_state(standin)
    assert len(state["refunds"]) == 20
    assert len(state["disputes"]) == 5
    assert len(state["payouts"]) == 2
    assert state["balance"]["usd"] > 0  # money is still at Stripe: Assets:Stripe is not zero
    log = standin.webhook_log()
    assert {entry["outcome"] for entry in log} == {"delivered"}
    assert all(entry["attempts"] >= 2 for entry in log)  # every first try failed
    assert set(Counter(entry["event_id"] for entry in log).values()) == {2}  # each twice

    # The books against it, account by account and fund by fund.
    want = expected_from_stripe(state, standin, plans)
    books = rt.books.load()
    for account, expected in sorted(want.accounts.items()):
        assert cents(books.account_balance(account)) == expected, account
    for fund, expected in sorted(want.funds.items()):
        assert books.fund_balance(fund).minor == expected, fund
    charge_fees = sum(t["fee"] for t in state["balance_transactions"] if t["type"] == "charge")
    dispute_fees = sum(t["fee"] for t in state["balance_transactions"] if t["type"] == "adjustment")
    assert dispute_fees == 15_00 * 2  # three won back, two kept
    by_account: Counter[str] = Counter()
    for account in books.accounts():
        by_account[account.split(":")[-1]] += cents(books.account_balance(account))
    assert by_account["Payment-Processing"] == charge_fees
    assert by_account["Dispute-Fees"] == dispute_fees

    # No gift for the declined renewal, on either side.
    with rt.sessions() as session:
        assert session.scalar(select(Gift).where(Gift.charge_id == declined_charge)) is None

    # Every entry once; each balance transaction in exactly one money entry.
    refs = ledger_refs(rt)
    assert refs.most_common(1)[0][1] == 1
    assert Counter(outbox_refs(rt)) == refs
    transactions = ledger_transactions(rt)
    expected_money = money_refs(state)
    found_money = {}
    for txn in transactions:
        ref = str(txn.meta.get("ref", ""))
        if ref.startswith("stripe-") and not ref.endswith("/sponsorship-fee"):
            found_money[ref] = (
                str(txn.meta["stripe-id"]),
                cents(posting_sum(txn, "Assets:Stripe")),
            )
    assert found_money == expected_money
    fee_refs = {r.removesuffix("/sponsorship-fee") for r in refs if r.endswith("/sponsorship-fee")}
    assert fee_refs <= set(expected_money)
    by_stripe_id = Counter(stripe_id for stripe_id, _ in found_money.values())
    assert all(
        by_stripe_id[t["id"]] == 1 for t in state["balance_transactions"] if t["type"] == "charge"
    )

    # The payee is the donor's name, or Anonymous when they asked not to be named.
    entries = {str(t.meta.get("ref")): t for t in transactions}
    with rt.sessions() as session:
        for gift in session.scalars(select(Gift)):
            anonymous = gift.donation.visibility is Visibility.ANONYMOUS
            payee = entries[gift.ref].payee
            assert payee == ("Anonymous" if anonymous else gift.donation.donor.name)

    # Every gift's standing receipt is for what stands of it after refunds and disputes;
    # a gift with nothing left has its receipts voided; every number was issued once.
    with rt.sessions() as session:
        gifts = list(session.scalars(select(Gift)))
        standing = standing_receipts(session, [g.id for g in gifts])
        for gift in gifts:
            if gift.remaining.minor:
                assert standing[gift.id].amount == gift.remaining, gift.ref
            else:
                assert gift.id not in standing, gift.ref
        numbers = sorted(session.scalars(select(Receipt.sequence)))
    assert numbers == list(range(1, len(numbers) + 1))
    assert len(numbers) > len(gifts)  # voiding notices and replacements too

    done = run_cli(stripe_env(rt.settings, standin), "ledger", "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("ok:")


def _intent_of_invoice(standin: StandIn, invoice_id: str) -> str:
    payments = stripe_client(standin).v1.invoice_payments.list({"invoice": invoice_id})
    intent = payments.data[0].payment.payment_intent
    assert intent is not None
    return str(intent if isinstance(intent, str) else intent.id)
