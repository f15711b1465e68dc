"""A settled gift gets its receipt, a refund or dispute its voiding notice, each mailed once."""

from __future__ import annotations

import email
import email.policy
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from beancount import loader
from beancount.core import data
from sqlalchemy import select

from conservancy.donations.models import Frequency
from conservancy.mail.models import MailMessage, MailStatus
from conservancy.receipts.models import Receipt, ReceiptKind
from conservancy.runtime import Runtime
from tests.factories import refund, settled_gift, usd, with_project
from tests.receipts.pdfs import WEASYPRINT_PROBLEM, pdf_text, requires_weasyprint


def _receipts(rt: Runtime, gift_id: int) -> list[Receipt]:
    with rt.sessions() as session:
        rows = session.scalars(
            select(Receipt).where(Receipt.gift_id == gift_id).order_by(Receipt.id)
        ).all()
        for row in rows:
            _ = row.replaces
        session.expunge_all()
        return list(rows)


def _mails(rt: Runtime) -> list[email.message.EmailMessage]:
    folder = rt.settings.outbox_dir
    return [
        email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
        for p in sorted(folder.glob("*.eml"))
    ]


def test_a_settled_gift_is_receipted_once_with_the_next_number(runtime: Runtime) -> None:
    rt = with_project(runtime)
    first = settled_gift(rt, email="ada@example.org")
    second = settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    [a], [b] = _receipts(rt, first), _receipts(rt, second)
    assert (a.number, b.number) == ("2026-000001", "2026-000002")
    assert a.kind is ReceiptKind.RECEIPT
    assert a.amount == usd("100.00")
    assert a.deductible == usd("100.00")


def test_a_gifts_entry_in_the_books_names_its_receipt(runtime: Runtime) -> None:
    """SPEC section 6: a donation entry carries ``receipt`` once issued; a refund's does not
    (its voiding notice is the database's), and the ledger still checks clean."""
    rt = with_project(runtime)
    gift_id = settled_gift(rt, email="ada@example.org")
    refund(rt, gift_id, "40.00", "re_ada")
    entries, errors, _options = loader.load_file(str(rt.ledger.main))
    assert not errors
    by_ref = {e.meta.get("ref"): e for e in entries if isinstance(e, data.Transaction)}
    [receipt] = [r for r in _receipts(rt, gift_id) if r.kind is ReceiptKind.RECEIPT]
    gift = next(e for ref, e in by_ref.items() if ref and ref.startswith("stripe-txn_"))
    assert gift.meta["receipt"] == receipt.number == "2026-000001"
    assert "receipt" not in by_ref["stripe-re_ada"].meta


def test_a_thank_you_gift_lowers_the_deductible_amount(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift_id = settled_gift(rt, benefit=("Twisted t-shirt", "30.00"))
    [receipt] = _receipts(rt, gift_id)
    assert receipt.deductible == usd("70.00")
    if WEASYPRINT_PROBLEM is None:
        rt.deliver()
        text = pdf_text((rt.settings.receipts_dir / f"2026/{receipt.number}.pdf").read_bytes())
        assert "Twisted t-shirt (estimated value $30.00)" in text
        assert "Only the amount of your contribution in excess of that value, $70.00" in text
        assert "No goods or services" not in text


def test_a_full_refund_voids_the_receipt(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift_id = settled_gift(rt)
    refund(rt, gift_id, "100.00", "re_full")
    refund(rt, gift_id, "100.00", "re_full")  # the same refund again: nothing new
    original, voiding = _receipts(rt, gift_id)
    assert voiding.kind is ReceiptKind.VOIDING
    assert voiding.replaces_id == original.id
    assert voiding.number == "2026-000002"
    assert voiding.deductible_minor == 0
    assert voiding.reason == "refund"


def test_a_partial_refund_voids_and_replaces_with_what_stands(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift_id = settled_gift(rt, benefit=("Twisted t-shirt", "30.00"))
    refund(rt, gift_id, "40.00", "re_part")
    original, voiding, replacement = _receipts(rt, gift_id)
    assert voiding.kind is ReceiptKind.VOIDING
    assert voiding.replaces_id == original.id
    assert replacement.kind is ReceiptKind.REPLACEMENT
    assert replacement.replaces_id == original.id
    assert replacement.amount == usd("60.00")
    assert replacement.deductible == usd("30.00")  # still less the t-shirt
    refund(rt, gift_id, "60.00", "re_rest")
    *_, last = _receipts(rt, gift_id)
    assert last.kind is ReceiptKind.VOIDING
    assert last.replaces_id == replacement.id


@requires_weasyprint
def test_receipts_are_drawn_stored_and_mailed_once(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift_id = settled_gift(rt, name="Ada Lovelace", email="ada@example.org")
    refund(rt, gift_id, "25.00", "re_part")
    first = rt.deliver()
    again = rt.deliver()
    # Three documents (the receipt, the void notice, the replacement); two mails, since the
    # replacement's says the old receipt is void.
    assert (first.rendered, first.sent) == (3, 2)
    assert (again.rendered, again.sent) == (0, 0)

    receipts = _receipts(rt, gift_id)
    for receipt in receipts:
        assert receipt.pdf_path == f"2026/{receipt.number}.pdf"
        stored = rt.settings.receipts_dir / receipt.pdf_path
        assert stored.exists()
        assert not stored.stat().st_mode & 0o002
    replacement_text = pdf_text((rt.settings.receipts_dir / receipts[2].pdf_path).read_bytes())  # type: ignore[operator]
    assert "replaces receipt 2026-000001" in replacement_text
    assert "75.00" in replacement_text

    mails = _mails(rt)
    assert len(mails) == 2
    subjects = sorted(str(m["Subject"]) for m in mails)
    assert subjects == [
        "Your donation receipt 2026-000001",
        "Your replacement receipt 2026-000003",
    ]
    replaced = next(m for m in mails if "replacement" in str(m["Subject"]))
    said = " ".join(replaced.get_body(("plain",)).get_content().split())
    assert "After a refund of $25.00, your gift for Twisted now stands at $75.00." in said
    assert "replaces receipt 2026-000001 ($100.00): that receipt is void" in said
    for mail in mails:
        assert mail["To"].addresses[0].addr_spec == "ada@example.org"
        portal = f"Your gifts, receipts and statements: {rt.settings.base_url}/portal"
        assert portal in mail.get_body().get_content()
        [attachment] = list(mail.iter_attachments())
        assert attachment.get_content_type() == "application/pdf"
        assert attachment.get_content().startswith(b"%PDF")
    with rt.sessions() as session:
        statuses = set(session.scalars(select(MailMessage.status)))
    assert statuses == {MailStatus.SENT}


@requires_weasyprint
def test_a_stored_receipt_is_never_rewritten(runtime: Runtime) -> None:
    rt = with_project(runtime)
    gift_id = settled_gift(rt)
    [receipt] = _receipts(rt, gift_id)
    path = rt.settings.receipts_dir / "2026" / f"{receipt.number}.pdf"
    path.parent.mkdir(parents=True)
    path.write_bytes(b"%PDF- stored earlier by another worker")
    rt.deliver()
    assert path.read_bytes() == b"%PDF- stored earlier by another worker"
    [receipt] = _receipts(rt, gift_id)
    import hashlib

    assert receipt.pdf_sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_mail_waits_for_its_pdf(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> None:
    """A receipt that cannot be drawn is not mailed without its attachment."""
    import conservancy.receipts.render as render

    def broken(_doc: object) -> bytes:
        raise ValueError("cannot draw")

    monkeypatch.setattr(render, "render_receipt", broken)
    rt = with_project(runtime)
    settled_gift(rt)
    result = rt.deliver()
    assert (result.render_failed, result.sent) == (1, 0)
    assert not list(Path(rt.settings.outbox_dir).glob("*.eml"))


def test_fifty_gifts_settled_at_once_get_fifty_consecutive_numbers(runtime: Runtime) -> None:
    """Fifty webhooks' transactions settle at once, each numbering its gift's receipt."""
    rt = with_project(runtime)
    start = threading.Barrier(50)

    def give(n: int) -> int:
        start.wait()
        return settled_gift(rt, email=f"donor{n}@example.org", name=f"Donor {n}")

    with ThreadPoolExecutor(max_workers=50) as pool:
        gift_ids = list(pool.map(give, range(50)))
    with rt.sessions() as session:
        numbers = sorted(
            session.scalars(select(Receipt.number).where(Receipt.gift_id.in_(gift_ids)))
        )
    assert numbers == [f"2026-{n:06d}" for n in range(1, 51)]


def test_without_weasyprint_receipts_wait_but_other_mail_goes(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from conservancy.mail.outbox import queue

    monkeypatch.setitem(sys.modules, "conservancy.receipts.render", None)  # cannot import
    rt = with_project(runtime)
    settled_gift(rt)
    with rt.sessions() as session:
        queue(session, key="note-1", to_address="a@example.org", to_name="A", subject="S", body="B")
        session.commit()
    result = rt.deliver()
    assert (result.rendered, result.render_failed, result.sent) == (0, 1, 1)
    assert [p.name for p in rt.settings.outbox_dir.glob("*.eml")] == ["note-1.eml"]


def test_a_recurring_gifts_mail_says_it_recurs_and_how_to_change_it(runtime: Runtime) -> None:
    rt = with_project(runtime)
    settled_gift(rt, amount="10.00", frequency=Frequency.MONTHLY)
    settled_gift(rt, email="grace@example.org", name="Grace Hopper")
    with rt.sessions() as session:
        bodies = {
            m.to_address: " ".join(m.body.split()) for m in session.scalars(select(MailMessage))
        }
    assert (
        "This gift recurs: $10.00 is taken each month until you stop it"
        in bodies["ada@example.org"]
    )
    assert (
        "To change the amount or cancel, sign in to the donor portal" in bodies["ada@example.org"]
    )
    assert "recurs" not in bodies["grace@example.org"]  # a gift once says nothing of it
