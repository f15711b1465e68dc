"""The webhook only acknowledges: Stripe's events wait in stripe_inbox for a settler.

Issue 19. Revision 0020 follows 0019 (donor idle sessions).

Reviewed by hand. stripe_inbox holds each event received and not yet acted on (its
data.object as JSON, which may name the donor: the row is deleted when the event is
settled). due_at: when a settler may claim it next. stripe_events gains settled_at,
when the event was acted on (the ledger health page's settle rate); rows from before
this revision were acted on when they were received, so they take received_at.
Downgrading drops the table and the column; events still waiting in the inbox are
lost with it (`conservancy stripe sync` fetches them again from Stripe).

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "stripe_inbox",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("object_key", sa.String(length=255), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("object", sa.JSON(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("claimed_by", sa.String(length=100), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_inbox")),
    )
    op.create_index("ix_stripe_inbox_due_at", "stripe_inbox", ["due_at"])
    op.add_column(
        "stripe_events", sa.Column("settled_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.execute("UPDATE stripe_events SET settled_at = received_at")
    with op.batch_alter_table("stripe_events") as batch:
        batch.alter_column("settled_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_stripe_events_settled_at", "stripe_events", ["settled_at"])


def downgrade() -> None:
    op.drop_index("ix_stripe_events_settled_at", table_name="stripe_events")
    with op.batch_alter_table("stripe_events") as batch:
        batch.drop_column("settled_at")
    op.drop_index("ix_stripe_inbox_due_at", table_name="stripe_inbox")
    op.drop_table("stripe_inbox")
