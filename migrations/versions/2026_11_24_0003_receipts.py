"""Receipts: one row per receipt number issued, and a counter per calendar year.

Reviewed by hand. Numbers run without gaps per year (SPEC section 8): the
counter row is locked and bumped in the transaction that records the receipt
(conservancy.receipts.numbering), and (year, sequence) is unique as a second
guard. Receipts are never edited, so a voiding notice or a replacement is a
row of its own that names, by replaces_id, the receipt it voids or replaces.
The kind is a VARCHAR, like every enum here. No data to move: both tables
start empty.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # last_number is the last sequence issued in the year; the row is created on first use.
    op.create_table(
        "receipt_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_receipt_counters")),
    )
    op.create_table(
        "receipts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("year", sa.Integer(), nullable=False),
        sa.Column("sequence", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "receipt",
                "voiding",
                "replacement",
                name="receipt_kind",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("replaces_id", sa.Integer(), nullable=True),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("deductible_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("issued_on", sa.Date(), nullable=False),
        # Set once the PDF is rendered (after the commit that took the number).
        sa.Column("pdf_path", sa.String(length=300), nullable=True),
        sa.Column("pdf_sha256", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "(kind = 'receipt' AND replaces_id IS NULL)"
            " OR (kind <> 'receipt' AND replaces_id IS NOT NULL)",
            name=op.f("ck_receipts_replaces_matches_kind"),
        ),
        sa.CheckConstraint(
            "deductible_minor >= 0 AND deductible_minor <= amount_minor",
            name=op.f("ck_receipts_deductible_range"),
        ),
        sa.CheckConstraint("sequence > 0", name=op.f("ck_receipts_sequence_positive")),
        sa.ForeignKeyConstraint(["gift_id"], ["gifts.id"], name=op.f("fk_receipts_gift_id_gifts")),
        sa.ForeignKeyConstraint(
            ["replaces_id"], ["receipts.id"], name=op.f("fk_receipts_replaces_id_receipts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_receipts")),
        sa.UniqueConstraint("number", name=op.f("uq_receipts_number")),
        # Named by the convention's first column; it covers (year, sequence).
        sa.UniqueConstraint("year", "sequence", name=op.f("uq_receipts_year")),
    )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_receipts_gift_id"), ["gift_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_receipts_gift_id"))

    op.drop_table("receipts")
    op.drop_table("receipt_counters")
