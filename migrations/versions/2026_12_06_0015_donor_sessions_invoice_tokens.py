"""Donor sessions kept on the server.

Reviewed by hand. donor_sessions holds one row per browser signed in to the donor
portal: the sha256 of the id its cookie carries, when it began and expires, and when
the donor signed out. Signing out ends the row, so a copy of the cookie no longer signs
in (before, the cookie alone was the session, good for 12 hours whatever happened).
No rows are carried over: browsers signed in before this simply sign in again.

Revision ID: 0015
Revises: 0013
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "donor_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("id_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_donor_sessions_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donor_sessions")),
        sa.UniqueConstraint("id_hash", name=op.f("uq_donor_sessions_id_hash")),
    )
    op.create_index(op.f("ix_donor_sessions_donor_id"), "donor_sessions", ["donor_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_donor_sessions_donor_id"), table_name="donor_sessions")
    op.drop_table("donor_sessions")
