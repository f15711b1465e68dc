"""Bank reconciliation: statements imported, their lines, and what each matched.

Issue 22. Revision 0027 follows 0026 (payment runs).

Reviewed by hand. Three new, empty tables (conservancy.bank.models):
- bank_statements: one row per statement file imported for a bank account (unique by
  account and the file's SHA-256), with its period, balances and whether its closing
  balance has been asserted in the books.
- bank_lines: each line of the bank's statements once per account (unique by account and
  the bank's id or fingerprint), matched, proposed or booked.
- bank_matches: which entries of the books a line matched; an entry matches one line at
  most (unique by account and the entry's key).
Downgrading drops them.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bank_statements",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("format", sa.String(length=20), nullable=False),
        sa.Column("file_name", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("account_number", sa.String(length=64), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("opening_minor", sa.BigInteger(), nullable=True),
        sa.Column("closing_minor", sa.BigInteger(), nullable=True),
        sa.Column("lines_total", sa.Integer(), nullable=False),
        sa.Column("lines_new", sa.Integer(), nullable=False),
        sa.Column("asserted", sa.Boolean(), nullable=False),
        sa.Column("imported_by", sa.String(length=254), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_statements")),
        sa.UniqueConstraint("account", "sha256", name=op.f("uq_bank_statements_account")),
    )
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_statements_account"), ["account"], unique=False)

    op.create_table(
        "bank_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("bank_id", sa.String(length=100), nullable=False),
        sa.Column("statement_id", sa.Integer(), nullable=False),
        sa.Column("booked_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("payee", sa.String(length=200), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column("check_number", sa.String(length=20), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "matched",
                "proposed",
                "booked",
                name="bank_line_status",
                native_enum=False,
                length=20,
            ),
            nullable=False,
        ),
        sa.Column("proposed_account", sa.String(length=200), nullable=False),
        sa.Column("proposed_narration", sa.Text(), nullable=False),
        sa.Column("decided_by", sa.String(length=254), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount_minor <> 0", name=op.f("ck_bank_lines_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["statement_id"],
            ["bank_statements.id"],
            name=op.f("fk_bank_lines_statement_id_bank_statements"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_lines")),
        sa.UniqueConstraint("account", "bank_id", name=op.f("uq_bank_lines_account")),
    )
    with op.batch_alter_table("bank_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_bank_lines_statement_id"), ["statement_id"], unique=False
        )

    op.create_table(
        "bank_matches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("line_id", sa.Integer(), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("entry_key", sa.String(length=300), nullable=False),
        sa.Column("entry_on", sa.Date(), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("narration", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["line_id"], ["bank_lines.id"], name=op.f("fk_bank_matches_line_id_bank_lines")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bank_matches")),
        sa.UniqueConstraint("account", "entry_key", name=op.f("uq_bank_matches_account")),
    )
    with op.batch_alter_table("bank_matches", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_bank_matches_line_id"), ["line_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("bank_matches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_matches_line_id"))

    op.drop_table("bank_matches")
    with op.batch_alter_table("bank_lines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_lines_statement_id"))

    op.drop_table("bank_lines")
    with op.batch_alter_table("bank_statements", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_bank_statements_account"))

    op.drop_table("bank_statements")
