"""defects: a vote's source reference and links, its thread in the list archive; who a
project's [VOTE] mail comes from

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("source_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("release_notes_url", sa.String(length=2048), nullable=True))
        batch_op.add_column(sa.Column("thread_url", sa.String(length=2048), nullable=True))

    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "vote_mail_from", sa.String(length=16), server_default="agent", nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("projects", schema=None) as batch_op:
        batch_op.drop_column("vote_mail_from")

    with op.batch_alter_table("votes", schema=None) as batch_op:
        batch_op.drop_column("thread_url")
        batch_op.drop_column("release_notes_url")
        batch_op.drop_column("source_url")
        batch_op.drop_column("source_ref")
