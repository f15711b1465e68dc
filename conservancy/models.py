"""Every mapped class, imported once so that Base.metadata knows the whole schema
(Alembic's ``check`` and autogenerate compare against it)."""

from conservancy.bank.models import BankLine, BankMatch, BankStatement
from conservancy.donations.models import (
    Dispute,
    Donation,
    DonationStatusChange,
    Donor,
    Gift,
    OfflineGift,
    OfflineRefund,
    Refund,
)
from conservancy.expenses.models import (
    Expense,
    PaymentDetails,
    PaymentRun,
    SpendingLine,
    SpendingRequest,
)
from conservancy.infra.db import Base
from conservancy.kernel.submissions import FormSubmission
from conservancy.ledger.models import LedgerCheck, LedgerOutbox
from conservancy.mail.models import MailMessage
from conservancy.payments.models import CheckoutAttempt, StripeEvent
from conservancy.portal.models import PortalToken
from conservancy.projects.models import Campaign, Project, Sponsor
from conservancy.receipts.models import AnnualStatement, Receipt, ReceiptCounter
from conservancy.sponsorships.models import (
    CorporateSponsor,
    InvoiceCounter,
    SponsorshipBenefit,
    SponsorshipInvoice,
    SponsorshipLevel,
    SponsorshipRequest,
    SponsorshipStatusChange,
)
from conservancy.staff.models import (
    AuditEntry,
    SignInFailure,
    StaffRole,
    StaffSession,
    StaffToken,
    StaffUser,
)

__all__ = [
    "AnnualStatement",
    "AuditEntry",
    "BankLine",
    "BankMatch",
    "BankStatement",
    "Base",
    "Campaign",
    "CheckoutAttempt",
    "CorporateSponsor",
    "Dispute",
    "Donation",
    "DonationStatusChange",
    "Donor",
    "Expense",
    "FormSubmission",
    "Gift",
    "InvoiceCounter",
    "LedgerCheck",
    "LedgerOutbox",
    "MailMessage",
    "OfflineGift",
    "OfflineRefund",
    "PaymentDetails",
    "PaymentRun",
    "PortalToken",
    "Project",
    "Receipt",
    "ReceiptCounter",
    "Refund",
    "SignInFailure",
    "SpendingLine",
    "SpendingRequest",
    "Sponsor",
    "SponsorshipBenefit",
    "SponsorshipInvoice",
    "SponsorshipLevel",
    "SponsorshipRequest",
    "SponsorshipStatusChange",
    "StaffRole",
    "StaffSession",
    "StaffToken",
    "StaffUser",
    "StripeEvent",
]
