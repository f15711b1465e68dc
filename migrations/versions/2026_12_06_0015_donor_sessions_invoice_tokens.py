"""Donor sessions kept on the server; sponsorship invoices get an unguessable public token.

Reviewed by hand. donor_sessions holds one row per browser signed in to the donor
portal: the sha256 of the id its cookie carries, when it began and expires, and when
the donor signed out. Signing out ends the row, so a copy of the cookie no longer signs
in (before, the cookie alone was the session, good for 12 hours whatever happened).
No rows are carried over: browsers signed in before this simply sign in again.

sponsorship_invoices.public_token replaces the sequential number in an invoice's public
address (/donate/<slug>/sponsor/<token>). Existing invoices get a fresh random token
each, row by row, so their old numbered addresses stop working too (the sponsor's copy
of the invoice still names the number; staff can send the new address from the invoice's
page). As in 0013, the column is added NOT NULL with a placeholder default and no table
is copied (sponsorship_requests and sponsorship_status_changes reference it); PostgreSQL
then drops the default, SQLite keeps it (the application always sets the column). The
unique index is created only once every row has its own token.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
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

    bind = op.get_bind()
    op.add_column(
        "sponsorship_invoices",
        sa.Column("public_token", sa.String(length=64), nullable=False, server_default=""),
    )
    invoices = sa.table(
        "sponsorship_invoices", sa.column("id", sa.Integer()), sa.column("public_token")
    )
    for (invoice_id,) in bind.execute(sa.select(invoices.c.id)).all():
        bind.execute(
            invoices.update()
            .where(invoices.c.id == invoice_id)
            .values(public_token=secrets.token_urlsafe(24))
        )
    if bind.dialect.name != "sqlite":
        op.alter_column("sponsorship_invoices", "public_token", server_default=None)
    op.create_index(
        op.f("ix_sponsorship_invoices_public_token"),
        "sponsorship_invoices",
        ["public_token"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sponsorship_invoices_public_token"), table_name="sponsorship_invoices")
    op.execute("ALTER TABLE sponsorship_invoices DROP COLUMN public_token")
    op.drop_index(op.f("ix_donor_sessions_donor_id"), table_name="donor_sessions")
    op.drop_table("donor_sessions")
