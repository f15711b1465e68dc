"""Every mapped class, imported once so that Base.metadata knows the whole schema
(Alembic's ``check`` and autogenerate compare against it)."""

from conservancy.db import Base
from conservancy.donations.models import Donation, DonationStatusChange, Donor
from conservancy.ledger.models import LedgerOutbox
from conservancy.projects.models import Project, Sponsor

__all__ = [
    "Base",
    "Donation",
    "DonationStatusChange",
    "Donor",
    "LedgerOutbox",
    "Project",
    "Sponsor",
]
