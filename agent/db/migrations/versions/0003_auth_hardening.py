"""auth hardening: revoked user keys, challenge purge and rate-limit indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 14:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("user_keys", schema=None) as batch_op:
        batch_op.add_column(sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("revocation_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.create_index("ix_login_challenges_user", ["user_name", "created_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_login_challenges_expires_at"), ["expires_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("login_challenges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_login_challenges_expires_at"))
        batch_op.drop_index("ix_login_challenges_user")
    with op.batch_alter_table("user_keys", schema=None) as batch_op:
        batch_op.drop_column("revocation_reason")
        batch_op.drop_column("revoked_at")
