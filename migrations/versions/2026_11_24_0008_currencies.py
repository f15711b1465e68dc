"""Gifts in EUR, GBP and CAD: each gift keeps the US dollars that reached the sponsor.

Reviewed by hand. gifts.settled_minor is the charge's balance transaction
amount in US dollars (before Stripe's fee), project_settled_minor the
project's part of it, reversed_settled_minor the income taken back at the
gift's own rate, and exchange_rate Stripe's rate as text (None for a gift in
US dollars). receipts.settled_minor is a receipt's amount in US dollars at the
gift's rate, for a receipt in another currency.

Every gift before this revision is in US dollars, so its settled figures are
its own: settled = project + general, project_settled = project, reversed
settled = reversed. The columns are added nullable, filled, then made NOT NULL,
which works on SQLite (batch mode) and PostgreSQL alike.

Downgrading is refused while a gift in another currency exists: the older
schema cannot say what it settled as.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("project_settled_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("reversed_settled_minor", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("exchange_rate", sa.String(length=32), nullable=True))
    op.execute(
        "UPDATE gifts SET settled_minor = project_minor + general_minor, "
        "project_settled_minor = project_minor, reversed_settled_minor = reversed_minor"
    )
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.alter_column("settled_minor", existing_type=sa.BigInteger(), nullable=False)
        batch_op.alter_column(
            "project_settled_minor", existing_type=sa.BigInteger(), nullable=False
        )
        batch_op.alter_column(
            "reversed_settled_minor", existing_type=sa.BigInteger(), nullable=False
        )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("settled_minor", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    converted = op.get_bind().scalar(sa.text("SELECT count(*) FROM gifts WHERE currency <> 'USD'"))
    if converted:
        raise RuntimeError(
            f"{converted} gifts were made in another currency than USD; "
            "the schema before revision 0008 cannot hold them"
        )
    with op.batch_alter_table("receipts", schema=None) as batch_op:
        batch_op.drop_column("settled_minor")
    with op.batch_alter_table("gifts", schema=None) as batch_op:
        batch_op.drop_column("exchange_rate")
        batch_op.drop_column("reversed_settled_minor")
        batch_op.drop_column("project_settled_minor")
        batch_op.drop_column("settled_minor")
