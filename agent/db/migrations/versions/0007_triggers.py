"""triggers: trusted publishers, trigger settings and deliveries, the dist watcher, OIDC
grants, imported releases (build facts go to 0006's revision_builds)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "trusted_publishers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("issuer", sa.String(length=500), nullable=False),
        sa.Column("repository", sa.String(length=200), nullable=False),
        sa.Column("workflow", sa.String(length=200), nullable=False),
        sa.Column("refs", sa.JSON(), nullable=False),
        sa.Column("environment", sa.String(length=200), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("project_id", "issuer", "repository", "workflow", "environment"),
    )
    with op.batch_alter_table("trusted_publishers", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_trusted_publishers_project_id"), ["project_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_trusted_publishers_repository"), ["repository"], unique=False
        )
    op.create_table(
        "trigger_settings",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("git_url", sa.Text(), nullable=True),
        sa.Column("tag_pattern", sa.String(length=200), nullable=False),
        sa.Column("archive_name", sa.String(length=200), nullable=False),
        sa.Column("release_manager", sa.String(length=64), nullable=True),
        sa.Column("watch_dist", sa.Boolean(), nullable=False),
        sa.Column("webhook_secret", sa.Text(), nullable=True),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "trigger_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("delivery", sa.String(length=200), nullable=False),
        sa.Column("identity", sa.String(length=500), nullable=True),
        sa.Column("project", sa.String(length=64), nullable=True),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("received_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source", "delivery"),
        sa.UniqueConstraint("source", "identity"),
    )
    op.create_table(
        "svn_watch",
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("last_revision", sa.Integer(), nullable=False),
        sa.Column("checked_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("url"),
    )
    op.create_table(
        "oidc_grants",
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("publisher_id", sa.Integer(), nullable=False),
        sa.Column("project", sa.String(length=64), nullable=False),
        sa.Column("jti", sa.String(length=200), nullable=False),
        sa.Column("claims", sa.JSON(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["token_id"], ["api_tokens.id"]),
        sa.ForeignKeyConstraint(["publisher_id"], ["trusted_publishers.id"]),
        sa.PrimaryKeyConstraint("token_id"),
        sa.UniqueConstraint("jti"),
    )
    op.create_table(
        "imported_releases",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("source_url", sa.Text(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("svn_revision", sa.Integer(), nullable=False),
        sa.Column("released_at", _TZ, nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("imported_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("release_id"),
    )


def downgrade() -> None:
    op.drop_table("imported_releases")
    op.drop_table("oidc_grants")
    op.drop_table("svn_watch")
    op.drop_table("trigger_deliveries")
    op.drop_table("trigger_settings")
    with op.batch_alter_table("trusted_publishers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_trusted_publishers_repository"))
        batch_op.drop_index(batch_op.f("ix_trusted_publishers_project_id"))
    op.drop_table("trusted_publishers")
