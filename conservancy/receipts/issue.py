"""Which receipts a gift has, kept in step with what stands of it, and their PDFs.

:func:`reconcile` runs in the transaction that settles, refunds or disputes a
gift. It compares what still stands of the gift (its amount less refunds and
disputed money not reinstated) with the receipt that stands for it, and
issues what the difference calls for (SPEC section 8):

* no receipt yet                         a receipt
* the standing receipt's amount is wrong a voiding notice for it, and, if
                                         something still stands, a replacement
                                         receipt for that, naming it
* everything voided, money reinstated    a replacement naming the last receipt

It depends only on the gift's current figures, never on which event came
first, so events in any order, or twice, issue the same receipts once. Each
receipt's e-mail is queued in the same transaction.

:func:`render_pending` runs after the commit: it draws each receipt that has
no PDF yet and stores it under the receipts directory as an immutable file
(written aside, then linked into place; an existing file is never replaced).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, object_session, sessionmaker

from conservancy.donations.models import (
    Donation,
    Gift,
    OfflineGift,
    OfflineMethod,
    Visibility,
)
from conservancy.kernel import clock
from conservancy.mail.outbox import queue
from conservancy.money import Currency, Money
from conservancy.projects.models import Sponsor
from conservancy.receipts import document
from conservancy.receipts.models import Receipt, ReceiptKind
from conservancy.receipts.service import record_receipt

log = logging.getLogger(__name__)


# -- in the transaction ---------------------------------------------------------


def benefits_of(gift: Gift) -> tuple[document.Benefit, ...]:
    """What the donor got back with this payment: the thank-you gift goes with the first."""
    donation = gift.donation
    value = donation.benefit_value
    if donation.benefit_description is None or value is None:
        return ()
    if donation.gifts and donation.gifts[0].id != gift.id:
        return ()
    return (document.Benefit(donation.benefit_description, value),)


def standing(receipts: Iterable[Receipt]) -> Receipt | None:
    """The receipt that stands for a gift: its latest receipt or replacement not voided."""
    chain = sorted(receipts, key=lambda r: r.id)
    voided = {r.replaces_id for r in chain if r.kind is ReceiptKind.VOIDING}
    live = [r for r in chain if r.kind is not ReceiptKind.VOIDING and r.id not in voided]
    return live[-1] if live else None


def standing_receipts(session: Session, gift_ids: Iterable[int]) -> dict[int, Receipt]:
    """The standing receipt of each of the gifts that has one."""
    ids = list(gift_ids)
    by_gift: dict[int, list[Receipt]] = {}
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(Receipt).where(Receipt.gift_id.in_(ids[start : start + 500])))
        for row in rows:
            by_gift.setdefault(row.gift_id, []).append(row)
    found = {gift_id: standing(rows) for gift_id, rows in by_gift.items()}
    return {gift_id: r for gift_id, r in found.items() if r is not None}


def reconcile(
    session: Session, gift: Gift, tz: ZoneInfo, reason: str, *, new_gift: bool = False
) -> list[Receipt]:
    """Issue what makes the gift's receipts match what stands of it; returns what was issued.

    ``reason`` words a voiding notice or replacement: "refund", "dispute".
    Call it after the gift's figures are updated, in the same transaction. ``new_gift``:
    the gift was added in this transaction, so it has no receipt to look for.
    """
    receipts = (
        []
        if new_gift
        else list(
            session.scalars(select(Receipt).where(Receipt.gift_id == gift.id).order_by(Receipt.id))
        )
    )
    current = standing(receipts)
    currency = Currency(gift.currency)
    stands = gift.remaining
    had = current.amount if current is not None else Money.zero(currency)
    if had == stands:
        return []
    issued_at = max(clock.now(), clock.as_utc(gift.settled_at))
    benefits = benefits_of(gift)
    issued: list[Receipt] = []
    if current is not None:
        issued.append(
            record_receipt(
                session,
                gift,
                kind=ReceiptKind.VOIDING,
                amount=current.amount,
                deductible=Money.zero(currency),
                issued_at=issued_at,
                tz=tz,
                replaces=current,
                reason=reason,
                settled=current.settled,
            )
        )
    if stands.minor > 0:
        last = current or (receipts[-1] if receipts else None)
        if last is not None and last.kind is ReceiptKind.VOIDING:
            last = last.replaces
        issued.append(
            record_receipt(
                session,
                gift,
                kind=ReceiptKind.REPLACEMENT if last is not None else ReceiptKind.RECEIPT,
                amount=stands,
                deductible=document.deductible_amount(stands, benefits, gift.settled_on.year),
                issued_at=issued_at,
                tz=tz,
                replaces=last,
                reason=reason if last is not None else None,
                settled=gift.settled_standing if gift.converted else None,
            )
        )
    # One mail for one change: when a replacement follows the voiding notice, its mail (and
    # the receipt itself) says the old receipt is void; the notice is in the donor portal.
    replacing = any(r.kind is ReceiptKind.REPLACEMENT for r in issued)
    for receipt in issued:
        if not (replacing and receipt.kind is ReceiptKind.VOIDING):
            _queue_mail(session, gift, receipt)
    return issued


_SUBJECTS = {
    ReceiptKind.RECEIPT: "Your donation receipt {number}",
    ReceiptKind.VOIDING: "Receipt {replaces} is void",
    ReceiptKind.REPLACEMENT: "Your replacement receipt {number}",
}


def receipt_meta(issued: Iterable[Receipt]) -> dict[str, str]:
    """The ``receipt`` metadata of a gift's entry: the number of the receipt just issued
    for it (none when nothing was issued, as for a gift that was already receipted)."""
    numbers = [r.number for r in issued if r.kind is ReceiptKind.RECEIPT]
    return {"receipt": numbers[0]} if numbers else {}


def _queue_mail(session: Session, gift: Gift, receipt: Receipt) -> None:
    donation = gift.donation
    if donation.donor.email is None:
        return  # a cheque without an address: staff download the PDF and post it
    project = donation.project.name
    amount = receipt.amount.format()
    if receipt.settled is not None:
        amount += f" ({receipt.settled.format()} USD)"
    replaces = receipt.replaces.number if receipt.replaces is not None else ""
    subject = _SUBJECTS[receipt.kind]
    if _given(gift).get("gift_kind") == "daf":
        subject = _GRANT_SUBJECTS[receipt.kind]
        text = _grant_mail_text(receipt, project, amount, replaces)
    elif receipt.kind is ReceiptKind.RECEIPT:
        text = (
            f"Thank you for your gift of {amount} for {project}.\n\n"
            f"Your receipt {receipt.number} is attached. Please keep it for your tax records."
        )
        if donation.recurring:
            text += (
                f"\n\nThis gift recurs: {donation.total.format()} is taken "
                f"{donation.frequency.every} until you "
                "stop it, and each payment has its own receipt. To change the amount or "
                "cancel, sign in to the donor portal with this e-mail address."
            )
    elif receipt.kind is ReceiptKind.VOIDING:
        text = (
            f"After a {receipt.reason or 'change'} of {amount}, nothing of your gift for "
            f"{project} stands, so receipt {replaces} ({amount}) is void.\n\n"
            "The attached notice says so; please keep it with your tax records "
            "and do not use the voided receipt."
        )
    else:
        assert receipt.replaces is not None
        was = receipt.replaces.amount
        if receipt.amount < was:
            what = (
                f"After a {receipt.reason or 'change'} of {(was - receipt.amount).format()}, "
                f"your gift for {project} now stands at {amount}."
            )
        else:
            what = (
                f"After the {receipt.reason or 'change'}, your gift for {project} stands at "
                f"{amount}."
            )
        text = (
            f"{what} Attached is receipt {receipt.number}, which replaces receipt {replaces} "
            f"({was.format()}): that receipt is void, so please keep this one with your tax "
            "records instead."
        )
    body = (
        f"Dear {gift.donor_name},\n\n{text}\n\n"
        "You can see all your gifts and download your receipts from the donor portal "
        "(the address is below).\n"
    )
    queue(
        session,
        key=f"receipt-{receipt.number}",
        to_address=donation.donor.email,
        to_name=gift.donor_name,
        subject=subject.format(number=receipt.number, replaces=replaces),
        body=body,
        receipt=receipt,
        fresh=True,  # its number was taken in this transaction
    )


_GRANT_SUBJECTS = {
    ReceiptKind.RECEIPT: "Acknowledgement {number} of your grant",
    ReceiptKind.VOIDING: "Grant acknowledgement {replaces} is void",
    ReceiptKind.REPLACEMENT: "Your replacement grant acknowledgement {number}",
}


def _grant_mail_text(receipt: Receipt, project: str, amount: str, replaces: str) -> str:
    """A donor-advised fund's grant is acknowledged, never receipted: no mail about it
    speaks of a receipt or of tax records."""
    if receipt.kind is ReceiptKind.RECEIPT:
        return (
            f"Thank you for recommending a grant of {amount} for {project}.\n\n"
            f"Our acknowledgement {receipt.number} is attached. It is not a tax receipt: "
            "a grant from a donor-advised fund is not deductible again."
        )
    if receipt.kind is ReceiptKind.VOIDING:
        return (
            f"Because of a {receipt.reason or 'change'} on the grant for {project}, "
            f"our acknowledgement {replaces} ({amount}) is void.\n\n"
            "The attached notice says so."
        )
    return (
        f"The grant for {project} now stands at {amount}. Attached is acknowledgement "
        f"{receipt.number}, which replaces acknowledgement {replaces}: that one is void."
    )


# -- after the commit -----------------------------------------------------------


def describe_schedule(donation: Donation) -> str | None:
    return donation.frequency.value if donation.recurring else None


def document_for(receipt: Receipt, sponsor: Sponsor) -> document.ReceiptDocument:
    """The receipt's content, from what the database holds."""
    gift = receipt.gift
    donation = gift.donation
    benefits = benefits_of(gift) if receipt.kind is not ReceiptKind.VOIDING else ()
    return document.ReceiptDocument(
        kind=receipt.kind.value,
        number=receipt.number,
        issued_on=max(receipt.issued_on, gift.settled_on),
        sponsor=document.Sponsor.of(sponsor),
        # As given with the gift this receipt acknowledges (donations.donors).
        donor_name=gift.donor_name,
        donor_address=gift.donor_address,
        gift_on=gift.settled_on,
        amount=receipt.amount,
        project_name=donation.project.name,
        payment_method=gift.payment_method or "Online payment",
        benefits=benefits,
        schedule=describe_schedule(donation),
        replaces=receipt.replaces.number if receipt.replaces is not None else None,
        reason=receipt.reason,
        settled=receipt.settled,
        employer=donation.employer,
        dedication=donation.dedication,
        **_given(gift),
    )


def project_copy(receipt: Receipt, sponsor: Sponsor) -> document.ReceiptDocument:
    """A receipt as a project's treasurers may see it: the donor named only as they allowed
    the project to see them, without their postal address or employer, marked a copy.

    The donor's own receipt (its PDF under the receipts directory) is never shown to a
    project: it carries the address, which is the sponsor's to keep for its tax duties.
    """
    donation = receipt.gift.donation
    shown = donation.visibility in (Visibility.PUBLIC, Visibility.PROJECT)
    return replace(
        document_for(receipt, sponsor),
        donor_name=receipt.gift.donor_name if shown else "Anonymous",
        donor_address=None,
        employer=None,
        dedication=donation.dedication if shown else None,
        copy_for=donation.project.name,
    )


def _given(gift: Gift) -> dict[str, Any]:
    """For stock or a donor-advised fund's grant: its kind and what (or whose) it was."""
    if gift.charge_id is not None:
        return {}  # paid through Stripe: not an offline gift
    session = object_session(gift)
    offline = (
        session.scalar(select(OfflineGift).where(OfflineGift.gift_id == gift.id))
        if session is not None
        else None
    )
    if offline is None or offline.method not in (OfflineMethod.STOCK, OfflineMethod.DAF):
        return {}
    kind = "property" if offline.method is OfflineMethod.STOCK else "daf"
    return {"gift_kind": kind, "given": offline.reference}


def relative_path(receipt: Receipt) -> str:
    """Where a receipt's PDF lives under the receipts directory: ``2026/2026-000123.pdf``."""
    return f"{receipt.year}/{receipt.number}.pdf"


def store(folder: Path, relative: str, data: bytes) -> str:
    """Write ``data`` to ``folder/relative`` whole, once; returns the stored file's sha256.

    If the file is there already (another worker stored it first), it is kept
    as it is and its own checksum is returned: a stored receipt is never rewritten.
    """
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".writing-", suffix=".pdf")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        try:
            os.link(tmp, target)
        except FileExistsError:
            data = target.read_bytes()
    finally:
        Path(tmp).unlink(missing_ok=True)
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class RenderResult:
    rendered: int
    failed: int


def render_pending(
    sessions: sessionmaker[Session],
    folder: Path,
    limit: int = 200,
    pause: Callable[[], None] | None = None,
) -> RenderResult:
    """Draw and store the PDFs of receipts that have none yet; ``pause`` before each."""
    rendered = failed = 0
    with sessions() as session:
        ids = session.scalars(
            select(Receipt.id).where(Receipt.pdf_path.is_(None)).order_by(Receipt.id).limit(limit)
        ).all()
    if not ids:
        return RenderResult(0, 0)
    try:
        from conservancy.receipts.render import render_receipt
    except (OSError, ImportError) as exc:
        # WeasyPrint's system libraries are missing: the receipts wait (and their
        # mail with them); mail that needs no PDF still goes.
        log.error("receipts cannot be drawn, WeasyPrint cannot load: %s", exc)
        return RenderResult(0, len(ids))
    for receipt_id in ids:
        if pause is not None:
            pause()
        number = f"id {receipt_id}"
        try:
            # Read in a short transaction and draw outside it: on SQLite a transaction
            # holds the writers' lock, and a PDF takes a tenth of a second or more.
            with sessions() as session:
                receipt = session.get(Receipt, receipt_id)
                sponsor = session.scalar(select(Sponsor).limit(1))
                if receipt is None or receipt.pdf_path is not None or sponsor is None:
                    continue
                number, relative = receipt.number, relative_path(receipt)
                content = document_for(receipt, sponsor)
            pdf = render_receipt(content)
        except (document.ReceiptError, ValueError) as exc:
            # A receipt that cannot be drawn (say, an SSN typed as a name)
            # waits for staff; the rest go on.
            log.error("receipt %s cannot be rendered: %s", number, exc)
            failed += 1
            continue
        digest = store(folder, relative, pdf)
        with sessions() as session:
            session.execute(
                update(Receipt)
                .where(Receipt.id == receipt_id, Receipt.pdf_path.is_(None))
                .values(pdf_path=relative, pdf_sha256=digest)
                .execution_options(synchronize_session=False)
            )
            session.commit()
        rendered += 1
    return RenderResult(rendered, failed)
