"""Staff sign-in: failures counted per account and client address (issue 16, finding 5).

Reviewed by hand. staff_sign_in_failures gains address_hash, a keyed hash of the
client's address, and an index on (email_hash, address_hash, at) for the count per
account and address; locked_until goes (delays are computed from the failures). The
rows already there keep a NULL address: they count for the account only, and are
forgotten within a day. Only ADD COLUMN, DROP COLUMN of an unindexed column and
CREATE INDEX: on SQLite (3.35 or later) none copies a table.

Revision ID: 0016
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "staff_sign_in_failures", sa.Column("address_hash", sa.String(length=64), nullable=True)
    )
    op.create_index(
        "ix_staff_sign_in_failures_email_client_at",
        "staff_sign_in_failures",
        ["email_hash", "address_hash", "at"],
        unique=False,
    )
    op.execute("ALTER TABLE staff_sign_in_failures DROP COLUMN locked_until")


def downgrade() -> None:
    op.drop_index("ix_staff_sign_in_failures_email_client_at", "staff_sign_in_failures")
    op.execute("ALTER TABLE staff_sign_in_failures DROP COLUMN address_hash")
    op.add_column(
        "staff_sign_in_failures",
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
