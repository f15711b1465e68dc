"""Sponsorship invoices cover a period, and renew once a year.

Reviewed by hand. period_start and period_end are the year an invoice's sponsorship
covers; existing invoices get the year from their day of issue (what the invoices
said: "a year of the level"), computed here row by row so 29 February comes out the
same on SQLite and PostgreSQL. renews_invoice_id names the invoice a renewal continues,
under a unique index: each invoice is renewed once, however often
``conservancy sponsorships renew`` runs. renewal_stopped_at is when staff stopped a
sponsorship's renewal (the audit log keeps who); existing rows: not stopped.

Every change here is an ALTER TABLE ... ADD COLUMN or an index, never a batch copy of
the table: on SQLite a copy would drop sponsorship_invoices, which the rows of
sponsorship_requests and sponsorship_status_changes (0012) reference, and foreign keys
are enforced. So the period columns are added NOT NULL with a placeholder default that
every row is then given a real value over; PostgreSQL drops the default afterwards, SQLite
cannot without a copy and keeps it (the application always sets both columns).

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-24
"""

from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PLACEHOLDER = "2000-01-01"


def _year_from(start: date) -> date:
    try:
        return start.replace(year=start.year + 1) - timedelta(days=1)
    except ValueError:
        return date(start.year + 1, 2, 28)


def upgrade() -> None:
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    for name in ("period_start", "period_end"):
        op.add_column(
            "sponsorship_invoices",
            sa.Column(name, sa.Date(), nullable=False, server_default=PLACEHOLDER),
        )
    op.add_column(
        "sponsorship_invoices",
        sa.Column("renewal_stopped_at", sa.DateTime(timezone=True), nullable=True),
    )
    if sqlite:
        op.execute(
            "ALTER TABLE sponsorship_invoices ADD COLUMN renews_invoice_id INTEGER "
            "CONSTRAINT fk_sponsorship_invoices_renews_invoice_id_sponsorship_invoices "
            "REFERENCES sponsorship_invoices (id)"
        )
    else:
        op.add_column(
            "sponsorship_invoices", sa.Column("renews_invoice_id", sa.Integer(), nullable=True)
        )
        op.create_foreign_key(
            op.f("fk_sponsorship_invoices_renews_invoice_id_sponsorship_invoices"),
            "sponsorship_invoices",
            "sponsorship_invoices",
            ["renews_invoice_id"],
            ["id"],
        )
    op.create_index(
        op.f("ix_sponsorship_invoices_renews_invoice_id"),
        "sponsorship_invoices",
        ["renews_invoice_id"],
        unique=True,
    )
    op.create_index(
        op.f("ix_sponsorship_invoices_period_end"), "sponsorship_invoices", ["period_end"]
    )
    invoices = sa.table(
        "sponsorship_invoices",
        sa.column("id", sa.Integer()),
        sa.column("issued_on", sa.Date()),
        sa.column("period_start", sa.Date()),
        sa.column("period_end", sa.Date()),
    )
    for row in bind.execute(sa.select(invoices.c.id, invoices.c.issued_on)).all():
        bind.execute(
            invoices.update()
            .where(invoices.c.id == row.id)
            .values(period_start=row.issued_on, period_end=_year_from(row.issued_on))
        )
    if not sqlite:
        for name in ("period_start", "period_end"):
            op.alter_column("sponsorship_invoices", name, server_default=None)


def downgrade() -> None:
    op.drop_index(op.f("ix_sponsorship_invoices_period_end"), table_name="sponsorship_invoices")
    op.drop_index(
        op.f("ix_sponsorship_invoices_renews_invoice_id"), table_name="sponsorship_invoices"
    )
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(
            op.f("fk_sponsorship_invoices_renews_invoice_id_sponsorship_invoices"),
            "sponsorship_invoices",
            type_="foreignkey",
        )
    # SQLite (3.35 and later) drops a column with a REFERENCES clause in place.
    for name in ("renews_invoice_id", "renewal_stopped_at", "period_end", "period_start"):
        op.execute(f"ALTER TABLE sponsorship_invoices DROP COLUMN {name}")
