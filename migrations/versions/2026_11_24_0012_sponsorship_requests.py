"""Sponsorship requests waiting for staff, and the status history of requests and invoices.

Reviewed by hand. A company's sign-up on the public form is now a request
(sponsorship_requests): nothing is numbered or booked until staff approve it, which
issues the invoice (invoice_id, unique: one invoice per request); or staff decline it.
sponsorship_status_changes keeps every status change of a request or an invoice
(from, to, when, by whom, a note). Statuses are text, as every status column here.
Existing invoices get their history so far: issued at issued_at and, if no longer
open, one row for where they are now (this revision cannot say when that was, so it
is marked as carried over). New tables only: no existing row changes.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sponsorship_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("corporate_sponsor_id", sa.Integer(), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "approved",
                "declined",
                name="sponsorship_request_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decline_reason", sa.String(length=500), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["corporate_sponsor_id"],
            ["corporate_sponsors.id"],
            name=op.f("fk_sponsorship_requests_corporate_sponsor_id_corporate_sponsors"),
        ),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["sponsorship_levels.id"],
            name=op.f("fk_sponsorship_requests_level_id_sponsorship_levels"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_sponsorship_requests_project_id_projects"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["sponsorship_invoices.id"],
            name=op.f("fk_sponsorship_requests_invoice_id_sponsorship_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship_requests")),
        sa.UniqueConstraint("invoice_id", name=op.f("uq_sponsorship_requests_invoice_id")),
    )
    for column in ("corporate_sponsor_id", "level_id", "project_id", "status"):
        op.create_index(op.f(f"ix_sponsorship_requests_{column}"), "sponsorship_requests", [column])
    op.create_table(
        "sponsorship_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("invoice_id", sa.Integer(), nullable=True),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_by", sa.String(length=254), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "request_id IS NOT NULL OR invoice_id IS NOT NULL",
            name=op.f("ck_sponsorship_status_changes_names_request_or_invoice"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["sponsorship_requests.id"],
            name=op.f("fk_sponsorship_status_changes_request_id_sponsorship_requests"),
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["sponsorship_invoices.id"],
            name=op.f("fk_sponsorship_status_changes_invoice_id_sponsorship_invoices"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship_status_changes")),
    )
    for column in ("request_id", "invoice_id"):
        op.create_index(
            op.f(f"ix_sponsorship_status_changes_{column}"), "sponsorship_status_changes", [column]
        )
    # The history of invoices issued before this revision, from what their rows say.
    op.execute(
        "INSERT INTO sponsorship_status_changes "
        "(invoice_id, from_status, to_status, changed_at, changed_by, note) "
        "SELECT id, NULL, 'open', issued_at, 'before status history', 'issued' "
        "FROM sponsorship_invoices"
    )
    op.execute(
        "INSERT INTO sponsorship_status_changes "
        "(invoice_id, from_status, to_status, changed_at, changed_by, note) "
        "SELECT id, 'open', status, issued_at, 'before status history', "
        "'carried over: the day it changed is on the invoice' "
        "FROM sponsorship_invoices WHERE status <> 'open'"
    )


def downgrade() -> None:
    for column in ("invoice_id", "request_id"):
        op.drop_index(
            op.f(f"ix_sponsorship_status_changes_{column}"), table_name="sponsorship_status_changes"
        )
    op.drop_table("sponsorship_status_changes")
    for column in ("status", "project_id", "level_id", "corporate_sponsor_id"):
        op.drop_index(op.f(f"ix_sponsorship_requests_{column}"), table_name="sponsorship_requests")
    op.drop_table("sponsorship_requests")
