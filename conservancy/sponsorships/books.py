"""How a sponsorship invoice is booked (SPEC section 6).

Issuing the invoice books the receivable and the fund's income at once (the
sponsor owes it from that day), and the project's sponsorship fee on it, as on a
gift::

    Assets:Receivable:Sponsorships        10000.00 USD
    Income:Twisted:Sponsorships          -10000.00 USD

    Expenses:Twisted:Sponsorship-Fees      1000.00 USD
    Income:General:Sponsorship-Fees       -1000.00 USD

A payment clears the receivable: by card, into Stripe less its fee, which the fund
bears as it does for gifts; by cheque or ACH, into the bank::

    Assets:Stripe                           9970.30 USD
    Expenses:Twisted:Payment-Processing       29.70 USD
    Assets:Receivable:Sponsorships       -10000.00 USD
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from conservancy.donations.bookkeeping import GiftBooking, Part
from conservancy.ledger import accounts
from conservancy.ledger.entries import Posting, Transaction
from conservancy.money import Money
from conservancy.sponsorships.models import SponsorshipInvoice


def _meta(invoice: SponsorshipInvoice, **extra: str) -> dict[str, str]:
    return {
        **extra,
        "entity": invoice.corporate_sponsor.ref,
        "income-type": "Sponsorships",
        "invoice": invoice.number,
    }


def void_ref(invoice: SponsorshipInvoice) -> str:
    """The ref of the entry that takes a voided invoice's income back."""
    return f"{invoice.ref}/void"


def payment_ref(invoice: SponsorshipInvoice) -> str | None:
    """The ref of the card payment: refunds and disputes name it as the ``gift`` they
    reverse (``card_booking``). None until the card paid."""
    if invoice.balance_transaction_id is None:
        return None
    return f"stripe-{invoice.balance_transaction_id}"


def sponsorship_fee(invoice: SponsorshipInvoice) -> Money:
    return invoice.amount.times(Decimal(invoice.fee_rate_bp).scaleb(-4))


def issued(invoice: SponsorshipInvoice) -> list[Transaction]:
    """The receivable and the income, then the sponsorship fee (when the rate is not 0)."""
    narration = f"Sponsorship of {invoice.project.name} ({invoice.level_name}), {invoice.number}"
    entries = [
        Transaction(
            ref=invoice.ref,
            date=invoice.issued_on,
            payee=invoice.corporate_sponsor.company_name,
            narration=narration,
            postings=(
                Posting(accounts.RECEIVABLE_SPONSORSHIPS, invoice.amount),
                Posting(accounts.sponsorships(invoice.fund), -invoice.amount),
            ),
            meta=_meta(invoice),
        )
    ]
    fee = sponsorship_fee(invoice)
    if fee:
        entries.append(
            Transaction(
                ref=f"{invoice.ref}/sponsorship-fee",
                date=invoice.issued_on,
                narration=f"Sponsorship fee: {narration}",
                postings=(
                    Posting(accounts.sponsorship_fees(invoice.fund), fee),
                    Posting(accounts.SPONSORSHIP_FEE_INCOME, -fee),
                ),
                meta={"invoice": invoice.number},
            )
        )
    return entries


def paid_by_card(
    invoice: SponsorshipInvoice, *, ref: str, stripe_id: str, fee: Money, on: date
) -> Transaction:
    """The card payment reaching Stripe, less Stripe's fee."""
    postings = [Posting(accounts.STRIPE, invoice.amount - fee)]
    if fee:
        postings.append(Posting(accounts.payment_processing(invoice.fund), fee))
    postings.append(Posting(accounts.RECEIVABLE_SPONSORSHIPS, -invoice.amount))
    return Transaction(
        ref=ref,
        date=on,
        payee=invoice.corporate_sponsor.company_name,
        narration=f"Payment of {invoice.number} by card",
        postings=tuple(postings),
        meta=_meta(invoice, **{"stripe-id": stripe_id}),
    )


def paid_to_bank(invoice: SponsorshipInvoice, *, how: str) -> Transaction:
    """A cheque or transfer received at the bank."""
    assert invoice.paid_on is not None
    return Transaction(
        ref=f"{invoice.ref}/payment",
        date=invoice.paid_on,
        payee=invoice.corporate_sponsor.company_name,
        narration=f"Payment of {invoice.number} by {how}",
        postings=(
            Posting(accounts.CHECKING, invoice.amount),
            Posting(accounts.RECEIVABLE_SPONSORSHIPS, -invoice.amount),
        ),
        meta=_meta(invoice),
    )


def voided(invoice: SponsorshipInvoice, on: date) -> list[Transaction]:
    """An open invoice voided: its issue's entries reversed, the fee with the income.

    Refs ``<issue ref>/void`` and ``<issue ref>/void/sponsorship-fee``: a second void
    of the same invoice could only book the same refs, which the outbox refuses.
    """
    narration = f"Void of {invoice.number}: {invoice.void_reason or ''}".rstrip(": ")
    entries = [
        Transaction(
            ref=void_ref(invoice),
            date=on,
            payee=invoice.corporate_sponsor.company_name,
            narration=narration,
            postings=(
                Posting(accounts.RECEIVABLE_SPONSORSHIPS, -invoice.amount),
                Posting(accounts.sponsorships(invoice.fund), invoice.amount),
            ),
            meta=_meta(invoice),
        )
    ]
    fee = sponsorship_fee(invoice)
    if fee:
        entries.append(
            Transaction(
                ref=f"{invoice.ref}/void/sponsorship-fee",
                date=on,
                narration=f"Sponsorship fee: {narration}",
                postings=(
                    Posting(accounts.sponsorship_fees(invoice.fund), -fee),
                    Posting(accounts.SPONSORSHIP_FEE_INCOME, fee),
                ),
                meta={"invoice": invoice.number},
            )
        )
    return entries


def card_booking(invoice: SponsorshipInvoice) -> GiftBooking:
    """A card-paid invoice as the gift rules see it, so that its refunds and disputes are
    booked as a gift's are (donations.bookkeeping): income back by the cumulative rule,
    ``Income:<Fund>:Sponsorships`` instead of ``Donations``, and the sponsorship fee moved
    by the difference, which returns it to zero when everything went back."""
    ref = payment_ref(invoice)
    assert ref is not None
    return GiftBooking(
        ref=ref,
        parts=(Part(invoice.fund, invoice.amount, invoice.fee_rate_bp),),
        payee=invoice.corporate_sponsor.company_name,
        entity=invoice.corporate_sponsor.ref,
        narration=f"Sponsorship of {invoice.project.name} ({invoice.level_name}), {invoice.number}",
        income_type="Sponsorships",
        extra_meta=(("invoice", invoice.number),),
    )
