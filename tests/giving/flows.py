"""Giving through the stand-in as a donor would, without the form (the form has its own tests)."""

from __future__ import annotations

import hashlib
import hmac
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import stripe
from beancount import loader
from beancount.core import data
from sqlalchemy import select

from conservancy.donations.models import Donation, Frequency, Visibility
from conservancy.donations.service import DonationRequest, begin_checkout, record_donation
from conservancy.infra.config import Settings
from conservancy.kernel import clock
from conservancy.ledger.models import LedgerOutbox
from conservancy.money import Currency, Money
from conservancy.payments.gateway import Event
from conservancy.payments.stripe_gateway import StripeGateway
from conservancy.projects.models import Project
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests.cli import invoke
from tests.environment import settings_env
from tests.giving.conftest import SECRET_KEY, WEBHOOK_SECRET

GOOD_CARD = "4242424242424242"
REPO = Path(__file__).resolve().parents[2]
CONSERVANCY = Path(sys.executable).parent / "conservancy"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def post(url: str, **fields: str) -> int:
    """POST a form; answers the status without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    data = urllib.parse.urlencode(fields).encode()
    try:
        with opener.open(urllib.request.Request(url, data=data, method="POST"), timeout=30) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def usd(text: str) -> Money:
    return Money(Decimal(text), Currency.USD)


def start_checkout(
    rt: Runtime,
    amount: str,
    *,
    slug: str = "twisted",
    frequency: Frequency = Frequency.ONCE,
    name: str = "Ada Lovelace",
    email: str = "ada@example.org",
    address: str | None = None,
    visibility: Visibility = Visibility.PUBLIC,
    extra_general: str | None = None,
    cover_fees: bool = False,
    currency: Currency = Currency.USD,
) -> tuple[int, str]:
    """Record a donation and start its checkout, as the form does. Returns (donation id,
    checkout session id). Amounts are in ``currency``."""
    with rt.sessions() as session:
        project = session.scalars(select(Project).where(Project.slug == slug)).one()
        donation = record_donation(
            session,
            project,
            DonationRequest(
                amount=Money(Decimal(amount), currency),
                frequency=frequency,
                name=name,
                email=email,
                address=address,
                visibility=visibility,
                cover_fees=cover_fees,
                extra_general=Money(Decimal(extra_general), currency) if extra_general else None,
            ),
            maximum=rt.settings.max_donation,
            today=clock.today(rt.settings.timezone),
        )
        session.commit()
        checkout = begin_checkout(
            session,
            rt.gateway,
            donation,
            base_url=rt.settings.base_url,
            sponsor_name="Test Sponsor",
        )
        session.commit()
        return donation.id, checkout.id


def give(
    rt: Runtime,
    standin: StandIn,
    amount: str,
    *,
    card: str = GOOD_CARD,
    bank_account: str | None = None,
    **donation: Any,
) -> int:
    """Start a checkout (``start_checkout``'s options) and pay on the stand-in, by card or
    from ``bank_account`` (a debit that settles later). Returns the donation id."""
    donation_id, checkout_id = start_checkout(rt, amount, **donation)
    paid_with = {"account_number": bank_account} if bank_account else {"card_number": card}
    status = post(f"{standin.url}/_standin/checkout/{checkout_id}/pay", **paid_with)
    assert status == 303, f"paying answered {status}"
    return donation_id


def settle_webhooks(rt: Runtime, standin: StandIn) -> None:
    """Until the stand-in's webhooks are delivered and what they stored is settled and
    posted (the webhook only stores: payments.inbox)."""
    assert standin.wait_for_webhooks(30), "the stand-in still has webhooks to deliver"
    assert rt.settler.wait_idle(30), "the settler is still settling"
    rt.post_ledger()


def donation(rt: Runtime, donation_id: int) -> Donation:
    with rt.sessions() as session:
        found = session.get(Donation, donation_id)
        assert found is not None
        _ = found.gifts, found.history
        return found


# -- the stand-in's control addresses, its API and its own records --------------------

DECLINED_CARD = "4000000000000002"


def control(standin: StandIn, path: str, **fields: str) -> dict[str, Any]:
    """POST to a ``/_standin/`` control address; answers its JSON (asserting a 200)."""
    data = urllib.parse.urlencode(fields).encode()
    request = urllib.request.Request(f"{standin.url}/_standin/{path}", data=data, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            body: dict[str, Any] = json.loads(answer.read())
            return body
    except urllib.error.HTTPError as exc:
        raise AssertionError(f"{path} answered {exc.code}: {exc.read().decode()}") from None


def webhook_mode(
    standin: StandIn, *, duplicate: bool, shuffle: bool, fail_first: bool
) -> dict[str, Any]:
    """POST /_standin/webhooks/mode: how webhooks are delivered from now on."""
    return control(
        standin,
        "webhooks/mode",
        duplicate=str(int(duplicate)),
        shuffle=str(int(shuffle)),
        fail_first=str(int(fail_first)),
    )


def standin_state(standin: StandIn) -> dict[str, Any]:
    """GET /_standin/state: the stand-in's own charges, refunds, disputes, payouts and
    balance transactions, as a test would see them from outside."""
    with urllib.request.urlopen(f"{standin.url}/_standin/state", timeout=30) as answer:
        state: dict[str, Any] = json.loads(answer.read())
        return state


def stripe_client(standin: StandIn) -> stripe.StripeClient:
    """Stripe's own client on the stand-in: what staff would do in Stripe's dashboard."""
    return stripe.StripeClient(SECRET_KEY, base_addresses={"api": standin.url})


def standin_events(standin: StandIn, *types: str) -> list[Event]:
    """Every event the stand-in emitted (of ``types``, if given), oldest first, as our
    gateway reads them from ``/v1/events``."""
    gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, standin.url)
    return [
        event
        for event in gateway.events_since(datetime(2000, 1, 1, tzinfo=UTC))
        if not types or event.type in types
    ]


def raw_events(standin: StandIn) -> list[dict[str, Any]]:
    """The stand-in's events as Stripe sends them (JSON objects), oldest first."""
    found: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        fields: dict[str, str | int] = {"limit": 100}
        if after:
            fields["starting_after"] = after
        query = urllib.parse.urlencode(fields)
        request = urllib.request.Request(
            f"{standin.url}/v1/events?{query}", headers={"Authorization": f"Bearer {SECRET_KEY}"}
        )
        with urllib.request.urlopen(request, timeout=30) as answer:
            page = json.loads(answer.read())
        found.extend(page["data"])
        if not page["has_more"]:
            return found[::-1]
        after = page["data"][-1]["id"]


# -- signing webhooks as Stripe does ----------------------------------------------------


def signature(payload: bytes, *, secret: str = WEBHOOK_SECRET, at: int | None = None) -> str:
    """Stripe's header: ``t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<payload>">``."""
    timestamp = int(time.time()) if at is None else at
    digest = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    return f"t={timestamp},v1={digest}"


# -- the books, loaded with Beancount ------------------------------------------------------


def ledger_entries(rt: Runtime) -> list[data.Directive]:
    """Every directive in the books, loaded with Beancount's own loader (which must not
    complain)."""
    entries, errors, _ = loader.load_file(str(rt.ledger.main))
    assert errors == [], errors
    return list(entries)


def ledger_transactions(rt: Runtime) -> list[data.Transaction]:
    """Every transaction in the books."""
    return [e for e in ledger_entries(rt) if isinstance(e, data.Transaction)]


def ledger_refs(rt: Runtime) -> Counter[str]:
    """How often each ``ref`` appears in the books (on any directive)."""
    return Counter(str(e.meta["ref"]) for e in ledger_entries(rt) if "ref" in (e.meta or {}))


def entries_by_ref(rt: Runtime) -> dict[str, data.Transaction]:
    """The books' transactions by their ``ref`` (which check_books keeps unique)."""
    return {str(t.meta["ref"]): t for t in ledger_transactions(rt) if "ref" in t.meta}


def units(posting: data.Posting) -> Decimal:
    """A posting's amount (our entries spell out every amount, in USD)."""
    assert posting.units is not None
    assert posting.units.number is not None
    return Decimal(posting.units.number)


def postings(txn: data.Transaction) -> dict[str, Decimal]:
    """A transaction's postings as account -> amount (summed per account)."""
    found: dict[str, Decimal] = {}
    for p in txn.postings:
        found[p.account] = found.get(p.account, Decimal(0)) + units(p)
    return found


def posting_sum(txn: data.Transaction, account: str) -> Decimal:
    return sum((units(p) for p in txn.postings if p.account == account), Decimal(0))


def books_digest(rt: Runtime) -> str:
    """A digest of every byte of the books (the .beancount files; not the snapshot cache),
    and of whether an append's journal is waiting."""
    digest = hashlib.sha256()
    for path in sorted(rt.ledger.root.rglob("*.beancount")):
        digest.update(str(path).encode() + b"\0" + path.read_bytes())
    digest.update(b"journal" if rt.ledger.journal.exists() else b"")
    return digest.hexdigest()


def outbox_refs(rt: Runtime) -> list[str]:
    with rt.sessions() as session:
        return list(session.scalars(select(LedgerOutbox.ref).order_by(LedgerOutbox.id)))


def stripe_env(settings: Settings, standin: StandIn) -> dict[str, str]:
    """The environment a ``conservancy`` subprocess needs to reach the same database,
    books and stand-in."""
    return {
        **settings_env(settings),
        "CONSERVANCY_STRIPE_SECRET_KEY": SECRET_KEY,
        "CONSERVANCY_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "CONSERVANCY_STRIPE_API_BASE": standin.url,
    }


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The ``conservancy`` command with ``env``'s settings, in this process (tests/cli.py)."""
    done = invoke(env, *args)
    assert "Traceback" not in done.stderr, done.stderr
    return done
