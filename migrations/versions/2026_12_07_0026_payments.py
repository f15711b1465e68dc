"""Paying spending requests: payees' details and W-9s, payment runs.

Issue 21. Revision 0026 follows 0025 (spending requests).

Reviewed by hand.
- payment_details, new and empty: one row per user who asks to be paid, with the W-9's
  data; the TIN and the bank account number are sealed (Fernet, CONSERVANCY_PAYEE_KEYS),
  with their last four digits beside them (conservancy.expenses.payees).
- payment_runs, new and empty.
- spending_requests gains payment_run_id, paid_on and cheque_number, all nullable: no
  request was paid before. On SQLite the table is copied (batch mode) to add the foreign key.
Downgrading drops them.

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_details",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("tax_class", sa.String(length=20), nullable=False),
        sa.Column("tin_kind", sa.String(length=3), nullable=False),
        sa.Column("tin_sealed", sa.Text(), nullable=False),
        sa.Column("tin_last4", sa.String(length=4), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("routing_number", sa.String(length=9), nullable=True),
        sa.Column("account_sealed", sa.Text(), nullable=True),
        sa.Column("account_last4", sa.String(length=4), nullable=True),
        sa.Column("account_type", sa.String(length=10), nullable=True),
        sa.Column("w9_certified_on", sa.Date(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["staff_users.id"], name=op.f("fk_payment_details_user_id_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_details")),
        sa.UniqueConstraint("user_id", name=op.f("uq_payment_details_user_id")),
    )
    op.create_table(
        "payment_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("method", sa.String(length=20), nullable=False),
        sa.Column("prepared_by", sa.Integer(), nullable=False),
        sa.Column("prepared_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("paid_by", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["prepared_by"],
            ["staff_users.id"],
            name=op.f("fk_payment_runs_prepared_by_staff_users"),
        ),
        sa.ForeignKeyConstraint(
            ["paid_by"], ["staff_users.id"], name=op.f("fk_payment_runs_paid_by_staff_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_runs")),
    )
    with op.batch_alter_table("spending_requests") as batch:
        batch.add_column(sa.Column("payment_run_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("paid_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("cheque_number", sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f("fk_spending_requests_payment_run_id_payment_runs"),
            "payment_runs",
            ["payment_run_id"],
            ["id"],
        )
        batch.create_index(op.f("ix_spending_requests_payment_run_id"), ["payment_run_id"])


def downgrade() -> None:
    with op.batch_alter_table("spending_requests") as batch:
        batch.drop_index(op.f("ix_spending_requests_payment_run_id"))
        batch.drop_constraint(
            op.f("fk_spending_requests_payment_run_id_payment_runs"), type_="foreignkey"
        )
        batch.drop_column("cheque_number")
        batch.drop_column("paid_on")
        batch.drop_column("payment_run_id")
    op.drop_table("payment_runs")
    op.drop_table("payment_details")
