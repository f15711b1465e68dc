"""Mail outbox, portal sign-in tokens, annual statements, and thank-you gifts.

Reviewed by hand. New tables start empty. mail_outbox.key is unique so a
message is queued once; its status is a VARCHAR like every enum here.
portal_tokens keeps only a hash of each one-time token. annual_statements
has one row per donor and year, written once the PDF is on disk, which is
what makes `conservancy receipts annual` resumable. The new columns on
projects and donations are nullable: existing projects offer no thank-you
gift and existing donations came with none, which is what NULL says.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "annual_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("gift_count", sa.Integer(), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("pdf_path", sa.String(length=300), nullable=False),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_annual_statements_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_annual_statements")),
        sa.UniqueConstraint("donor_id", "year", name=op.f("uq_annual_statements_donor_id")),
    )
    with op.batch_alter_table("annual_statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_annual_statements_year"), ["year"], unique=False)

    op.create_table(
        "portal_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_portal_tokens_donor_id_donors")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_portal_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_portal_tokens_token_hash")),
    )
    with op.batch_alter_table("portal_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_portal_tokens_donor_id"), ["donor_id"], unique=False)

    op.create_table(
        "mail_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("receipt_id", sa.Integer(), nullable=True),
        sa.Column("statement_id", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "pending",
                "sending",
                "sent",
                "failed",
                name="mail_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["receipt_id"], ["receipts.id"], name=op.f("fk_mail_outbox_receipt_id_receipts")
        ),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["annual_statements.id"],
            name=op.f("fk_mail_outbox_statement_id_annual_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mail_outbox")),
        sa.UniqueConstraint("key", name=op.f("uq_mail_outbox_key")),
    )
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_mail_outbox_receipt_id"), ["receipt_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_mail_outbox_statement_id"), ["statement_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_mail_outbox_status"), ["status"], unique=False)

    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("benefit_description", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("benefit_value_minor", sa.BigInteger(), nullable=True))

    with op.batch_alter_table("gifts", schema=None) as batch_op:
        # NULL for gifts settled before: their receipts say "Online payment".
        batch_op.add_column(sa.Column("payment_method", sa.String(length=64), nullable=True))

    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("reason", sa.String(length=200), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("thank_you_description", sa.String(length=200), nullable=True)
        )
        batch_op.add_column(sa.Column("thank_you_value_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("thank_you_minimum_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("reason")

    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("payment_method")

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("thank_you_minimum_minor")
        batch_op.drop_column("thank_you_value_minor")
        batch_op.drop_column("thank_you_description")

    with op.batch_alter_table("donations", schema=None) as batch_op:
        batch_op.drop_column("benefit_value_minor")
        batch_op.drop_column("benefit_description")

    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_mail_outbox_status"))
        batch_op.drop_index(batch_op.f("ix_mail_outbox_statement_id"))
        batch_op.drop_index(batch_op.f("ix_mail_outbox_receipt_id"))

    op.drop_table("mail_outbox")
    with op.batch_alter_table("portal_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_portal_tokens_donor_id"))

    op.drop_table("portal_tokens")
    with op.batch_alter_table("annual_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_annual_statements_year"))

    op.drop_table("annual_statements")
