"""Spending requests: a project's members ask to be paid from its fund.

Issue 21. Revision 0025 follows 0024 (tribute cards).

Reviewed by hand.
- staff_roles: a member role names its project, as a treasurer's does; the check constraint
  treasurer_has_project now allows either. On SQLite the table is copied (batch mode), as
  SQLite cannot change a constraint in place; its rows are kept.
- spending_requests and spending_lines, new and empty (conservancy.expenses.models).
Downgrading drops both tables and restores the old constraint, which fails while a member
role exists: remove those first.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

NEW_RULE = "(role IN ('treasurer', 'member')) = (project_id IS NOT NULL)"
OLD_RULE = "(role = 'treasurer') = (project_id IS NOT NULL)"


def upgrade() -> None:
    with op.batch_alter_table("staff_roles") as batch:
        batch.drop_constraint("treasurer_has_project", type_="check")
        batch.create_check_constraint("treasurer_has_project", NEW_RULE)
    op.create_table(
        "spending_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fund", sa.String(length=64), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("payee", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("total_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("filed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("filed_on", sa.Date(), nullable=False),
        sa.Column("endorsed_by", sa.Integer(), nullable=True),
        sa.Column("endorsed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_on", sa.Date(), nullable=True),
        sa.Column("rejected_by", sa.Integer(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.CheckConstraint("total_minor > 0", name=op.f("ck_spending_requests_total_positive")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_spending_requests_project_id_projects")
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"],
            ["staff_users.id"],
            name=op.f("fk_spending_requests_requester_id_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["endorsed_by"],
            ["staff_users.id"],
            name=op.f("fk_spending_requests_endorsed_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["first_approved_by"],
            ["staff_users.id"],
            name=op.f("fk_spending_requests_first_approved_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"],
            ["staff_users.id"],
            name=op.f("fk_spending_requests_approved_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["rejected_by"],
            ["staff_users.id"],
            name=op.f("fk_spending_requests_rejected_by_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spending_requests")),
    )
    op.create_index(op.f("ix_spending_requests_project_id"), "spending_requests", ["project_id"])
    op.create_index(
        op.f("ix_spending_requests_requester_id"), "spending_requests", ["requester_id"]
    )
    op.create_index(op.f("ix_spending_requests_status"), "spending_requests", ["status"])
    op.create_table(
        "spending_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("spent_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("receipt_path", sa.String(length=300), nullable=True),
        sa.Column("receipt_type", sa.String(length=40), nullable=True),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_spending_lines_amount_positive")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["spending_requests.id"],
            name=op.f("fk_spending_lines_request_id_spending_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spending_lines")),
        sa.UniqueConstraint(
            "request_id", "position", name=op.f("uq_spending_lines_request_position")
        ),
    )
    op.create_index(op.f("ix_spending_lines_request_id"), "spending_lines", ["request_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_spending_lines_request_id"), table_name="spending_lines")
    op.drop_table("spending_lines")
    op.drop_index(op.f("ix_spending_requests_status"), table_name="spending_requests")
    op.drop_index(op.f("ix_spending_requests_requester_id"), table_name="spending_requests")
    op.drop_index(op.f("ix_spending_requests_project_id"), table_name="spending_requests")
    op.drop_table("spending_requests")
    with op.batch_alter_table("staff_roles") as batch:
        batch.drop_constraint("treasurer_has_project", type_="check")
        batch.create_check_constraint("treasurer_has_project", OLD_RULE)
