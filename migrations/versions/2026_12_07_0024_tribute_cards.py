"""A gift's dedication may be sent as a card to the person it honours.

Issue 20, tribute gifts. Revision 0024 follows 0023 (next payment).

Reviewed by hand. donations.honoree_name and donations.honoree_email (both nullable): whom
the donor asked us to send a card about the dedication to, once the first payment is in
(conservancy.donations.tribute). Existing donations have none. Downgrading drops both.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("donations", sa.Column("honoree_name", sa.String(length=200), nullable=True))
    op.add_column("donations", sa.Column("honoree_email", sa.String(length=254), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0015: no table is copied.
    op.execute("ALTER TABLE donations DROP COLUMN honoree_email")
    op.execute("ALTER TABLE donations DROP COLUMN honoree_name")
