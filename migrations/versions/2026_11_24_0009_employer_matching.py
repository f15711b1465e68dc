"""Employer matching: the employer a donor names for a matching gift, and the link from a
matching gift to the gift it matches.

Reviewed by hand. donations.employer is the donor's private detail for their
employer's matching-gift programme: it stays in the database (receipt, portal,
staff pages), never in the books. gifts.matches_gift_id links the company's
matching gift to the original gift; both columns are nullable, so every row
before this revision is unchanged.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("employer", sa.String(length=200), nullable=True))
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("matches_gift_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_gifts_matches_gift_id"), ["matches_gift_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_gifts_matches_gift_id_gifts"), "gifts", ["matches_gift_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_gifts_matches_gift_id_gifts"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_gifts_matches_gift_id"))
        batch_op.drop_column("matches_gift_id")
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_column("employer")
