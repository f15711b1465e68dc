"""An index for what a project receives: its active recurring gifts, read from the index alone.

The treasurer's dashboard and the public summary count a project's patrons and
sum their gifts per week (conservancy.projects.giving). Without an index on
donations.project_id each look scanned every donation of every project: at a
million transactions, most of the dashboard's time (bench/dashboard.py). The
index names every column the query reads, so the table itself is not touched.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

COLUMNS = [
    "project_id",
    "frequency",
    "status",
    "currency",
    "visibility",
    "donor_id",
    "amount_minor",
]


def upgrade() -> None:
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.create_index("ix_donations_giving", COLUMNS, unique=False)


def downgrade() -> None:
    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_index("ix_donations_giving")
