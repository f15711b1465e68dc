# ruff: noqa: F811 - pytest fixtures imported from the giving tests, used by name
"""From the donor's payment to the receipt in their inbox, through Stripe's webhooks."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage

import pytest

from conservancy.donations.models import Frequency
from conservancy.runtime import Runtime
from conservancy.standin import StandIn
from tests import factories
from tests.giving.conftest import (  # noqa: F401 - the giving tests' fixtures
    LiveServer,
    giving_app,
    giving_runtime,
    giving_settings,
    live,
    standin,
)
from tests.giving.flows import give, settle_webhooks, standin_state, stripe_client
from tests.receipts.pdfs import pdf_text, requires_weasyprint

# Delivered by the courier's own thread after the webhook, as in the site.
pytestmark = [requires_weasyprint, pytest.mark.background_courier]


def _inbox(rt: Runtime) -> list[EmailMessage]:
    return [
        email.message_from_bytes(path.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for path in sorted(rt.settings.outbox_dir.glob("*.eml"))
    ]


def test_a_paid_gift_is_mailed_its_receipt_without_anyone_asking(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    rt.post_ledger()
    give(rt, standin, "25.00", frequency=Frequency.MONTHLY, name="Ada Lovelace")
    settle_webhooks(rt, standin)
    assert rt.courier.wait_idle(60)

    [mail] = _inbox(rt)
    assert mail["Subject"] == "Your donation receipt 2026-000001"
    [attachment] = list(mail.iter_attachments())
    assert attachment.get_filename() == "2026-000001.pdf"
    text = pdf_text(attachment.get_content())
    assert "Ada Lovelace" in text
    assert "$25.00" in text
    assert "monthly recurring gift" in text
    assert "No goods or services were provided in exchange for this contribution." in text
    assert "Card (Visa)" in text


def test_a_refund_at_stripe_mails_the_voiding_notice(
    giving_runtime: Runtime, standin: StandIn, live: LiveServer
) -> None:
    rt = giving_runtime
    with rt.sessions() as session:
        factories.project(session)
        session.commit()
    rt.post_ledger()
    donation_id = give(rt, standin, "40.00")
    settle_webhooks(rt, standin)
    charge = next(
        c["id"]
        for c in standin_state(standin)["charges"]
        if c["metadata"].get("donation_id") == str(donation_id)
    )
    stripe_client(standin).v1.refunds.create({"charge": charge})  # from Stripe's dashboard
    settle_webhooks(rt, standin)
    assert rt.courier.wait_idle(60)

    subjects = sorted(str(mail["Subject"]) for mail in _inbox(rt))
    assert subjects == ["Receipt 2026-000001 is void", "Your donation receipt 2026-000001"]
    voiding = next(m for m in _inbox(rt) if "void" in str(m["Subject"]))
    [attachment] = list(voiding.iter_attachments())
    text = pdf_text(attachment.get_content())
    assert "Notice of void receipt" in text
    assert "Receipt 2026-000001 for your gift of $40.00" in text
