"""Every mapped class, imported once so that Base.metadata knows the whole schema
(Alembic's ``check`` and autogenerate compare against it)."""

from conservancy.db import Base
from conservancy.donations.models import (
    Dispute,
    Donation,
    DonationStatusChange,
    Donor,
    Gift,
    Refund,
)
from conservancy.ledger.models import LedgerOutbox
from conservancy.payments.models import CheckoutAttempt, StripeEvent
from conservancy.projects.models import Campaign, Project, Sponsor
from conservancy.receipts.models import Receipt, ReceiptCounter

__all__ = [
    "Base",
    "Campaign",
    "CheckoutAttempt",
    "Dispute",
    "Donation",
    "DonationStatusChange",
    "Donor",
    "Gift",
    "LedgerOutbox",
    "Project",
    "Receipt",
    "ReceiptCounter",
    "Refund",
    "Sponsor",
    "StripeEvent",
]
