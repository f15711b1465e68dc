"""Staff recovery codes for two-factor sign-in.

Issue 16, finding 10 (first half).

Reviewed by hand. A new table, staff_recovery_codes: one row per single-use code,
holding only the code's sha256 (conservancy.staff.recovery), its user, when it was
made and when it was used. Users who already have two-factor on get no codes here
(the migration cannot show them any): they make theirs from /account/two-factor.
Downgrading drops the table and every code with it.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_recovery_codes_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_recovery_codes")),
        sa.UniqueConstraint("code_hash", name=op.f("uq_staff_recovery_codes_code_hash")),
    )
    op.create_index(
        op.f("ix_staff_recovery_codes_user_id"), "staff_recovery_codes", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_staff_recovery_codes_user_id"), "staff_recovery_codes")
    op.drop_table("staff_recovery_codes")
