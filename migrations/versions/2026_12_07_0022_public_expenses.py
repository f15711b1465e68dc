"""A project may show the expenses it paid on its public page.

Issue 20, the public project page. Revision 0022 follows 0021 (donor totals).

Reviewed by hand. projects.public_expenses (NOT NULL, false for every project): whether
/projects/<slug> and the summary API list the expenses paid from the fund (date, payee,
category, amount). Off until staff turn it on for a project, which is audited. Downgrading
drops the column.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "projects",
        sa.Column("public_expenses", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    if op.get_bind().dialect.name != "sqlite":  # as in 0015: the application sets it
        op.alter_column("projects", "public_expenses", server_default=None)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0015: no table is copied.
    op.execute("ALTER TABLE projects DROP COLUMN public_expenses")
