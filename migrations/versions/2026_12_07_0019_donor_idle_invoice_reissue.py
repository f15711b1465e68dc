"""Donor sessions end after a while without use; invoices printing the old pay address
are drawn again with the new one.

Issue 16, leftovers. Revision 0019 follows 0018 (security keys).

Reviewed by hand. donor_sessions.last_seen_at: when the session was last used (written
at most once a minute), from which it ends after CONSERVANCY_DONOR_IDLE_MINUTES. It is
nullable: sessions begun before this count their idle time from when they began.

sponsorship_invoices.pdf_reissue_due (NOT NULL, false for new rows): the invoice's
PDF may print the address made of its number (drawn before migration 0015 gave
invoices their tokens). The application
draws such an open invoice again, once, as a reissued copy that prints its token
address, and attaches that copy to what it sends from then on; the first PDF stays
where it is. Which PDFs were drawn before 0015 is recorded nowhere, so every invoice
already drawn is marked: one drawn since 0015 gets a reissued copy identical but for
the word "reissued", which does no harm. New invoices are drawn with the token address
and never marked. Downgrading drops both columns.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "donor_sessions", sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "sponsorship_invoices",
        sa.Column("pdf_reissue_due", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    invoices = sa.table("sponsorship_invoices", sa.column("pdf_path"), sa.column("pdf_reissue_due"))
    op.execute(
        invoices.update().where(invoices.c.pdf_path.is_not(None)).values(pdf_reissue_due=True)
    )
    if op.get_bind().dialect.name != "sqlite":  # as in 0015: the application sets it
        op.alter_column("sponsorship_invoices", "pdf_reissue_due", server_default=None)


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite 3.35 and later), as 0015: no table is copied.
    op.execute("ALTER TABLE sponsorship_invoices DROP COLUMN pdf_reissue_due")
    op.execute("ALTER TABLE donor_sessions DROP COLUMN last_seen_at")
