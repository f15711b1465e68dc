"""Foundation: the sponsor, projects, donors, donations with their history, the ledger outbox.

Reviewed by hand. Money is integer minor units (SQLite would pass a Numeric
through a float). Enums are VARCHAR with no native type, so SQLite and
PostgreSQL hold the same schema and adding a state needs no ALTER TYPE.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "donors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donors")),
        sa.UniqueConstraint("email", name=op.f("uq_donors_email")),
        sa.UniqueConstraint("ref", name=op.f("uq_donors_ref")),
    )
    # Entries recorded with their money event, appended to the books after commit.
    # posted_at IS NULL means still to be written (see conservancy.ledger.outbox).
    op.create_table(
        "ledger_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("entry_on", sa.Date(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("posted_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_outbox")),
        sa.UniqueConstraint("ref", name=op.f("uq_ledger_outbox_ref")),
    )
    with op.batch_alter_table("ledger_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_outbox_posted_at"), ["posted_at"], unique=False)

    op.create_table(
        "projects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("fund", sa.String(length=64), nullable=False),
        sa.Column("fee_rate_bp", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("blurb", sa.Text(), nullable=False),
        sa.Column("logo_path", sa.String(length=300), nullable=True),
        sa.Column("primary_colour", sa.String(length=7), nullable=False),
        sa.Column("accent_colour", sa.String(length=7), nullable=False),
        sa.Column("suggested_amounts", sa.JSON(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "fee_rate_bp >= 0 AND fee_rate_bp <= 10000", name=op.f("ck_projects_fee_rate_range")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_projects")),
        sa.UniqueConstraint("fund", name=op.f("uq_projects_fund")),
        sa.UniqueConstraint("slug", name=op.f("uq_projects_slug")),
    )
    op.create_table(
        "sponsor",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("ein", sa.String(length=10), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("signatory_name", sa.String(length=200), nullable=True),
        sa.Column("signatory_title", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsor")),
    )
    op.create_table(
        "donations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column(
            "frequency",
            sa.Enum(
                "once",
                "weekly",
                "monthly",
                "yearly",
                name="frequency",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "visibility",
            sa.Enum(
                "public", "project", "anonymous", name="visibility", native_enum=False, length=20
            ),
            nullable=False,
        ),
        # The status history lives in donation_status_changes; this is the current one.
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "paid",
                "failed",
                "expired",
                "partially_refunded",
                "refunded",
                "disputed",
                "cancelled",
                name="donation_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("dedication", sa.String(length=500), nullable=True),
        sa.Column("cover_fees", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_donations_amount_positive")),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_donations_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_donations_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donations")),
    )
    op.create_table(
        "donation_status_changes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donation_id", sa.Integer(), nullable=False),
        sa.Column(
            "from_status",
            sa.Enum(
                "pending",
                "paid",
                "failed",
                "expired",
                "partially_refunded",
                "refunded",
                "disputed",
                "cancelled",
                name="donation_status",
                native_enum=False,
                length=20,
            ),
            nullable=True,
        ),
        sa.Column(
            "to_status",
            sa.Enum(
                "pending",
                "paid",
                "failed",
                "expired",
                "partially_refunded",
                "refunded",
                "disputed",
                "cancelled",
                name="donation_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["donation_id"],
            ["donations.id"],
            name=op.f("fk_donation_status_changes_donation_id_donations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_donation_status_changes")),
    )
    with op.batch_alter_table("donation_status_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_donation_status_changes_donation_id"), ["donation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("donation_status_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_donation_status_changes_donation_id"))

    op.drop_table("donation_status_changes")
    op.drop_table("donations")
    op.drop_table("sponsor")
    op.drop_table("projects")
    with op.batch_alter_table("ledger_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_outbox_posted_at"))

    op.drop_table("ledger_outbox")
    op.drop_table("donors")
