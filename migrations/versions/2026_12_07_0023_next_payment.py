"""A recurring gift remembers its next payment's day.

Issue 20, the donor portal. Revision 0023 follows 0022 (public expenses).

Reviewed by hand. donations.next_payment_on (nullable): the day the service period of the
latest invoice Stripe reported paid ends, in the sponsor's time zone, which the portal shows
as the next payment. Gifts given once, and recurring gifts whose invoice was paid before
this, have none until their next invoice is paid. Downgrading drops the column.

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("donations", sa.Column("next_payment_on", sa.Date(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0015: no table is copied.
    op.execute("ALTER TABLE donations DROP COLUMN next_payment_on")
