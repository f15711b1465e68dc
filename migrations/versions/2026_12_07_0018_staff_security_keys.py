"""Staff security keys and passkeys (WebAuthn) as a second factor.

Issue 16, finding 10 (second half).

Reviewed by hand. Two new tables:

- staff_security_keys: one row per registered key, holding what verifying its
  signatures takes (its credential id, unique, and its COSE public key), its signature
  counter, the transports it said it uses, the name its owner gave it, and when it was
  added and last used. Nothing in it signs anything.
- staff_security_key_challenges: the random challenge a key must sign, one per user and
  purpose ("register", "sign-in"), with the time it expires; the answer that uses it
  deletes it.

Nothing existing changes. Downgrading drops both tables, and with them every key: users
whose only second factor was a key then sign in with their password alone until they set
up two-factor sign-in again (admins and bookkeepers are asked to at once).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_security_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("credential_id", sa.String(length=1400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("sign_count", sa.BigInteger(), nullable=False),
        sa.Column("transports", sa.JSON(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_security_keys_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_security_keys")),
        sa.UniqueConstraint("credential_id", name=op.f("uq_staff_security_keys_credential_id")),
    )
    op.create_index(
        op.f("ix_staff_security_keys_user_id"), "staff_security_keys", ["user_id"], unique=False
    )
    op.create_table(
        "staff_security_key_challenges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("challenge", sa.String(length=100), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["staff_users.id"],
            name=op.f("fk_staff_security_key_challenges_user_id_staff_users"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_staff_security_key_challenges")),
        sa.UniqueConstraint(
            "user_id", "purpose", name=op.f("uq_staff_security_key_challenges_user")
        ),
    )


def downgrade() -> None:
    op.drop_table("staff_security_key_challenges")
    op.drop_index(op.f("ix_staff_security_keys_user_id"), "staff_security_keys")
    op.drop_table("staff_security_keys")
