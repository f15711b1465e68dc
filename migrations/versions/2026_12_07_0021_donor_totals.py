"""The treasurer's donors page reads donor_totals: a row per donor and project, kept as the
gifts change, instead of adding up every gift of the project at each request.

Issue 19 (the donors page at a million transactions). Revision 0021 follows 0020 (the
Stripe inbox).

Reviewed by hand. donor_totals has one row per project, donor and whether the gifts were
made anonymously, while it holds a gift; it is filled here from the gifts already settled,
with the same SQL the application keeps it with (conservancy.donations.models.recount).
donations gains an index on (donor_id, project_id): counting one donor's gifts to a project
again, as each of their gifts settles, read every donation of the project without it
(settling a gift took twice as long at a million transactions). Downgrading drops both:
nothing is lost, the totals are counted from the gifts.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_donations_donor", "donations", ["donor_id", "project_id"])
    op.create_table(
        "donor_totals",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("donor_id", sa.Integer(), nullable=False),
        sa.Column("anonymous", sa.Boolean(), nullable=False),
        sa.Column("gifts", sa.Integer(), nullable=False),
        sa.Column("given_minor", sa.BigInteger(), nullable=False),
        sa.Column("first_on", sa.Date(), nullable=False),
        sa.Column("last_on", sa.Date(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["donor_id"], ["donors.id"], name=op.f("fk_donor_totals_donor_id_donors")
        ),
        sa.ForeignKeyConstraint(
            ["project_id"], ["projects.id"], name=op.f("fk_donor_totals_project_id_projects")
        ),
        sa.PrimaryKeyConstraint(
            "project_id", "donor_id", "anonymous", name=op.f("pk_donor_totals")
        ),
    )
    op.create_index(
        "ix_donor_totals_page",
        "donor_totals",
        ["project_id", "anonymous", "given_minor", "donor_id"],
    )
    op.execute(
        "INSERT INTO donor_totals (project_id, donor_id, anonymous, gifts, given_minor,"
        " first_on, last_on, public)"
        " SELECT d.project_id, d.donor_id, d.visibility = 'anonymous',"
        " COUNT(g.id), SUM(g.project_settled_minor - g.reversed_settled_minor),"
        " MIN(g.settled_on), MAX(g.settled_on),"
        " MAX(CASE WHEN d.visibility = 'public' THEN 1 ELSE 0 END) = 1"
        " FROM gifts g JOIN donations d ON d.id = g.donation_id"
        " GROUP BY d.project_id, d.donor_id, d.visibility = 'anonymous'"
    )


def downgrade() -> None:
    op.drop_index("ix_donor_totals_page", table_name="donor_totals")
    op.drop_table("donor_totals")
    op.drop_index("ix_donations_donor", table_name="donations")
