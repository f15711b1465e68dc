"""Offline gifts and refunds, expenses, ledger check runs, once-only forms.

Reviewed by hand. New tables start empty. A gift by cheque or wire has no
Stripe charge: gifts.charge_id and gifts.balance_transaction_id become
nullable (still unique; NULLs never collide), and offline_gifts says how the
money came. A cheque may come without an e-mail address: donors.email becomes
nullable (still unique). Existing rows keep their values. form_submissions.key
is unique: that is what makes a form that moves money act once. Every enum is a
VARCHAR like every enum here.

Downgrading is refused while offline gifts or donors without an e-mail address
exist: the older schema cannot hold them.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_METHOD = sa.Enum("cheque", "wire", name="offline_method", native_enum=False, length=20)


def upgrade() -> None:
    op.create_table(
        "form_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("result", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_form_submissions")),
        sa.UniqueConstraint("key", name=op.f("uq_form_submissions_key")),
    )

    op.create_table(
        "ledger_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("refs", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("problem_count", sa.Integer(), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_checks")),
    )
    with op.batch_alter_table("ledger_checks", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ledger_checks_ran_at"), ["ran_at"], unique=False)

    op.create_table(
        "expenses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("fund", sa.String(length=64), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=False),
        sa.Column("payee", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("paid_on", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("invoice_path", sa.String(length=300), nullable=False),
        sa.Column("invoice_sha256", sa.String(length=64), nullable=False),
        sa.Column("invoice_type", sa.String(length=40), nullable=False),
        sa.Column("invoice_size", sa.Integer(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_expenses_amount_positive")),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_expenses_project_id_projects")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_expenses")),
    )
    with op.batch_alter_table("expenses", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_expenses_project_id"), ["project_id"], unique=False)

    op.create_table(
        "offline_gifts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("method", _METHOD, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("received_on", sa.Date(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["gift_id"], ["gifts.id"], name=op.f("fk_offline_gifts_gift_id_gifts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_gifts")),
        sa.UniqueConstraint("gift_id", name=op.f("uq_offline_gifts_gift_id")),
    )

    op.create_table(
        "offline_refunds",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("gift_id", sa.Integer(), nullable=False),
        sa.Column("ref", sa.String(length=200), nullable=False),
        sa.Column("amount_minor", sa.BigInteger(), nullable=False),
        sa.Column("method", _METHOD, nullable=False),
        sa.Column("reference", sa.String(length=64), nullable=False),
        sa.Column("refunded_on", sa.Date(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("entered_by", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_minor > 0", name=op.f("ck_offline_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["gift_id"], ["gifts.id"], name=op.f("fk_offline_refunds_gift_id_gifts")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offline_refunds")),
        sa.UniqueConstraint("ref", name=op.f("uq_offline_refunds_ref")),
    )
    with op.batch_alter_table("offline_refunds", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_offline_refunds_gift_id"), ["gift_id"], unique=False)

    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=254), nullable=True)

    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.alter_column("charge_id", existing_type=sa.String(length=255), nullable=True)
        batch_op.alter_column(
            "balance_transaction_id", existing_type=sa.String(length=255), nullable=True
        )


def downgrade() -> None:
    bind = op.get_bind()
    offline = bind.execute(sa.text("SELECT count(*) FROM offline_gifts")).scalar()
    no_email = bind.execute(sa.text("SELECT count(*) FROM donors WHERE email IS NULL")).scalar()
    if offline or no_email:
        raise RuntimeError(
            f"cannot downgrade below 0006: {offline} offline gifts and {no_email} donors "
            "without an e-mail address would not fit the older schema"
        )
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.alter_column(
            "balance_transaction_id", existing_type=sa.String(length=255), nullable=False
        )
        batch_op.alter_column("charge_id", existing_type=sa.String(length=255), nullable=False)

    with op.batch_alter_table("donors", schema=None) as batch_op:
        batch_op.alter_column("email", existing_type=sa.String(length=254), nullable=False)

    with op.batch_alter_table("offline_refunds", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_offline_refunds_gift_id"))

    op.drop_table("offline_refunds")
    op.drop_table("offline_gifts")
    with op.batch_alter_table("expenses", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expenses_project_id"))

    op.drop_table("expenses")
    with op.batch_alter_table("ledger_checks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ledger_checks_ran_at"))

    op.drop_table("ledger_checks")
    op.drop_table("form_submissions")
