"""Corporate sponsorships: levels per project with their benefits, the companies that
sponsor, and their invoices, numbered without gaps per year (``INV-2026-0001``).

Reviewed by hand. Amounts are integer minor units. An invoice copies its level's
benefits (description, fair market value) as JSON when it is issued, so that its
acknowledgement says what was promised then. sponsorship_invoice_counters holds each
year's last number, bumped in the issuing transaction (sponsorships.numbering).
mail_outbox gains a generic attachment (a file under the receipts directory) for the
invoice and acknowledgement PDFs. New tables and nullable columns only: nothing
before this revision changes.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sponsorship_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("annual_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("annual_minor > 0", name=op.f("ck_sponsorship_levels_annual_positive")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_sponsorship_levels_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship_levels")),
        sa.UniqueConstraint("project_id", "name", name=op.f("uq_sponsorship_levels_project_id")),
    )
    op.create_index(op.f("ix_sponsorship_levels_project_id"), "sponsorship_levels", ["project_id"])
    op.create_table(
        "sponsorship_benefits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("value_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint(
            "value_minor >= 0", name=op.f("ck_sponsorship_benefits_value_not_negative")
        ),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["sponsorship_levels.id"],
            name=op.f("fk_sponsorship_benefits_level_id_sponsorship_levels"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship_benefits")),
    )
    op.create_index(op.f("ix_sponsorship_benefits_level_id"), "sponsorship_benefits", ["level_id"])
    op.create_table(
        "corporate_sponsors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=40), nullable=False),
        sa.Column("company_name", sa.String(length=200), nullable=False),
        sa.Column("contact_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corporate_sponsors")),
        sa.UniqueConstraint("ref", name=op.f("uq_corporate_sponsors_ref")),
    )
    op.create_index(op.f("ix_corporate_sponsors_email"), "corporate_sponsors", ["email"])
    op.create_table(
        "sponsorship_invoice_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_sponsorship_invoice_counters")),
    )
    op.create_table(
        "sponsorship_invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column("corporate_sponsor_id", sa.Integer(), nullable=False),
        sa.Column("level_id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("level_name", sa.String(length=100), nullable=False),
        sa.Column("fund", sa.String(length=64), nullable=False),
        sa.Column("fee_rate_bp", sa.Integer(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("benefits", sa.JSON(), nullable=False),
        sa.Column("benefits_minor", sa.BigInteger(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "paid",
                "void",
                name="sponsorship_invoice_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column(
            "paid_by",
            sa.Enum(
                "card", "ach", "cheque", name="sponsorship_paid_by", native_enum=False, length=20
            ),
            nullable=True,
        ),
        sa.Column("paid_on", sa.Date(), nullable=True),
        sa.Column("checkout_session_id", sa.String(length=255), nullable=True),
        sa.Column("charge_id", sa.String(length=255), nullable=True),
        sa.Column("balance_transaction_id", sa.String(length=255), nullable=True),
        sa.Column("fee_minor", sa.BigInteger(), nullable=True),
        sa.Column("payment_reference", sa.String(length=100), nullable=True),
        sa.Column("reminder_step", sa.Integer(), nullable=False),
        sa.Column("pdf_path", sa.String(length=300), nullable=True),
        sa.Column("acknowledgement_pdf_path", sa.String(length=300), nullable=True),
        sa.CheckConstraint(
            "amount_minor > 0", name=op.f("ck_sponsorship_invoices_amount_positive")
        ),
        sa.CheckConstraint(
            "benefits_minor >= 0 AND benefits_minor <= amount_minor",
            name=op.f("ck_sponsorship_invoices_benefits_range"),
        ),
        sa.CheckConstraint(
            "due_on >= issued_on", name=op.f("ck_sponsorship_invoices_due_after_issue")
        ),
        sa.CheckConstraint("sequence > 0", name=op.f("ck_sponsorship_invoices_sequence_positive")),
        sa.ForeignKeyConstraint(
            ["corporate_sponsor_id"],
            ["corporate_sponsors.id"],
            name=op.f("fk_sponsorship_invoices_corporate_sponsor_id_corporate_sponsors"),
        ),
        sa.ForeignKeyConstraint(
            ["level_id"],
            ["sponsorship_levels.id"],
            name=op.f("fk_sponsorship_invoices_level_id_sponsorship_levels"),
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_sponsorship_invoices_project_id_projects"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship_invoices")),
        sa.UniqueConstraint(
            "balance_transaction_id",
            name=op.f("uq_sponsorship_invoices_balance_transaction_id"),
        ),
        sa.UniqueConstraint("charge_id", name=op.f("uq_sponsorship_invoices_charge_id")),
        sa.UniqueConstraint("number", name=op.f("uq_sponsorship_invoices_number")),
        sa.UniqueConstraint("year", "sequence", name=op.f("uq_sponsorship_invoices_year")),
    )
    for column in ("corporate_sponsor_id", "level_id", "project_id", "due_on", "status"):
        op.create_index(op.f(f"ix_sponsorship_invoices_{column}"), "sponsorship_invoices", [column])
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attachment_path", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("attachment_name", sa.String(length=100), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_column("attachment_name")
        batch_op.drop_column("attachment_path")
    for column in ("status", "due_on", "project_id", "level_id", "corporate_sponsor_id"):
        op.drop_index(op.f(f"ix_sponsorship_invoices_{column}"), table_name="sponsorship_invoices")
    op.drop_table("sponsorship_invoices")
    op.drop_table("sponsorship_invoice_counters")
    op.drop_index(op.f("ix_corporate_sponsors_email"), table_name="corporate_sponsors")
    op.drop_table("corporate_sponsors")
    op.drop_index(op.f("ix_sponsorship_benefits_level_id"), table_name="sponsorship_benefits")
    op.drop_table("sponsorship_benefits")
    op.drop_index(op.f("ix_sponsorship_levels_project_id"), table_name="sponsorship_levels")
    op.drop_table("sponsorship_levels")
