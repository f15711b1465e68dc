"""Sponsorship invoices voided, refunded and disputed.

Reviewed by hand. void_reason and voided_on say why and when staff voided an open
invoice (the audit log keeps who). reversed_minor is what refunds and disputes took
back of a card payment so far (a won dispute gives it back); reversals are booked by
the cumulative rule, so each needs the total before it. Existing rows get 0: no
invoice was refunded before this revision.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sponsorship_invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("void_reason", sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column("voided_on", sa.Date(), nullable=True))
        batch_op.add_column(
            sa.Column("reversed_minor", sa.BigInteger(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("sponsorship_invoices", schema=None) as batch_op:
        batch_op.alter_column("reversed_minor", server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("sponsorship_invoices", schema=None) as batch_op:
        batch_op.drop_column("reversed_minor")
        batch_op.drop_column("voided_on")
        batch_op.drop_column("void_reason")
