"""The name and postal address given with each donation and each gift.

Reviewed by hand. Issue 16, finding 1: the donation form found the donor by the
e-mail typed into it and overwrote their name and address before anything was paid.
Now donations.donor_name and donor_address keep what was given with the donation
(the donor's own change only when a gift of it settles), and gifts.donor_name and
donor_address what the gift's receipts and ledger entries name (donations.donors).

Every row before this revision takes its donor's details as they stand, which is
what its receipts were drawn from: a receipt's PDF is stored once and never drawn
again, so nothing already sent changes. The name columns are added nullable,
filled, then made NOT NULL, which works on SQLite (batch mode) and PostgreSQL alike.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("donor_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("donor_address", sa.Text(), nullable=True))
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("donor_name", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("donor_address", sa.Text(), nullable=True))
    # Correlated subqueries rather than UPDATE ... FROM, which older SQLite lacks.
    op.execute(
        "UPDATE donations SET "
        "donor_name = (SELECT name FROM donors WHERE donors.id = donations.donor_id), "
        "donor_address = (SELECT address FROM donors WHERE donors.id = donations.donor_id)"
    )
    op.execute(
        "UPDATE gifts SET "
        "donor_name = (SELECT donor_name FROM donations WHERE donations.id = gifts.donation_id), "
        "donor_address = "
        "(SELECT donor_address FROM donations WHERE donations.id = gifts.donation_id)"
    )
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.alter_column("donor_name", existing_type=sa.String(length=200), nullable=False)
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.alter_column("donor_name", existing_type=sa.String(length=200), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("donor_address")
        batch_op.drop_column("donor_name")
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_column("donor_address")
        batch_op.drop_column("donor_name")
