"""Staff sign-in: failures per account and client address; room for sealed TOTP secrets.

Issue 16, findings 5 and 9.

Reviewed by hand. staff_sign_in_failures gains address_hash, a keyed hash of the
client's address, and an index on (email_hash, address_hash, at) for the count per
account and address; locked_until goes (delays are computed from the failures). The
rows already there keep a NULL address: they count for the account only, and are
forgotten within a day.

staff_users.totp_secret and totp_pending_secret widen from VARCHAR(64) to
VARCHAR(255), for a Fernet token (140 characters for a 160-bit secret). This
migration encrypts nothing: it has no key, and never should. Secrets already stored
stay plain base32 until ``conservancy user rotate-totp-key`` seals them all, or their
user's next sign-in with a code seals theirs (the application reads both). On
SQLite the widening is a new column, a copy of the values, the old column dropped
and the new one renamed: staff_users is referenced by foreign keys that are
enforced, so it must not be copied whole (as batch mode would).

Only ADD COLUMN, DROP COLUMN of an unindexed column, RENAME COLUMN and CREATE INDEX:
on SQLite (3.35 or later) none copies a table. Downgrading forgets sealed secrets
(the code before cannot read them, and they no longer fit): those users enrol again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


SECRETS = ("totp_secret", "totp_pending_secret")


def _retype(width: int) -> None:
    # Column names from SECRETS above: no input reaches these statements.
    if op.get_bind().dialect.name == "sqlite":
        for column in SECRETS:
            op.execute(f"ALTER TABLE staff_users ADD COLUMN {column}_new VARCHAR({width})")
            op.execute(f"UPDATE staff_users SET {column}_new = {column}")  # noqa: S608
            op.execute(f"ALTER TABLE staff_users DROP COLUMN {column}")
            op.execute(f"ALTER TABLE staff_users RENAME COLUMN {column}_new TO {column}")
    else:
        for column in SECRETS:
            op.alter_column("staff_users", column, type_=sa.String(length=width))


def upgrade() -> None:
    _retype(255)
    op.add_column(
        "staff_sign_in_failures", sa.Column("address_hash", sa.String(length=64), nullable=True)
    )
    op.create_index(
        "ix_staff_sign_in_failures_email_client_at",
        "staff_sign_in_failures",
        ["email_hash", "address_hash", "at"],
        unique=False,
    )
    op.execute("ALTER TABLE staff_sign_in_failures DROP COLUMN locked_until")


def downgrade() -> None:
    for column in SECRETS:
        op.execute(f"UPDATE staff_users SET {column} = NULL WHERE length({column}) > 64")  # noqa: S608
    op.execute("UPDATE staff_users SET totp_last_step = NULL WHERE totp_secret IS NULL")
    _retype(64)
    op.drop_index("ix_staff_sign_in_failures_email_client_at", "staff_sign_in_failures")
    op.execute("ALTER TABLE staff_sign_in_failures DROP COLUMN address_hash")
    op.add_column(
        "staff_sign_in_failures",
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
    )
