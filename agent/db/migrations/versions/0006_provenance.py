"""provenance: automation keys, attestations, the files added to a release after its vote,
build records, a project's OS signing settings and code-signing runs

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UTC_DT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "automation_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("use", sa.String(length=16), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("public_pem", sa.Text(), nullable=False),
        sa.Column("certificate_pem", sa.Text(), nullable=True),
        sa.Column("csr_pem", sa.Text(), nullable=True),
        sa.Column("private_ciphertext", sa.Text(), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=True),
        sa.Column("issuer", sa.String(length=400), nullable=True),
        sa.Column("serial", sa.String(length=80), nullable=True),
        sa.Column("self_signed", sa.Boolean(), nullable=False),
        sa.Column("not_before", UTC_DT, nullable=True),
        sa.Column("not_after", UTC_DT, nullable=True),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("activated_at", UTC_DT, nullable=True),
        sa.Column("retired_at", UTC_DT, nullable=True),
        sa.Column("revoked_at", UTC_DT, nullable=True),
        sa.Column("revocation_reason", sa.Text(), nullable=True),
        sa.Column("alarms", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("fingerprint"),
    )
    op.create_index(
        "ux_automation_keys_active_use",
        "automation_keys",
        ["use"],
        unique=True,
        sqlite_where=sa.text("state = 'active'"),
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_table(
        "attestations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("predicate_type", sa.String(length=200), nullable=False),
        sa.Column("trigger", sa.String(length=64), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("distribution_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.ForeignKeyConstraint(["revision_id"], ["revisions.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_attestations_release_id", "attestations", ["release_id"])
    op.create_table(
        "provenance_files",
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.String(length=1024), nullable=False),
        sa.Column("blob_sha256", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(["blob_sha256"], ["blobs.sha256"]),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("release_id", "path"),
    )
    op.create_table(
        "revision_builds",
        sa.Column("revision_id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=32), nullable=False),
        sa.Column("record", sa.JSON(), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(["revision_id"], ["revisions.id"]),
        sa.PrimaryKeyConstraint("revision_id"),
    )
    op.create_table(
        "project_signing",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", UTC_DT, nullable=False),
        sa.ForeignKeyConstraint(["project_id"], ["projects.id"]),
        sa.PrimaryKeyConstraint("project_id"),
    )
    op.create_table(
        "codesign_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("release_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("from_revision_id", sa.Integer(), nullable=False),
        sa.Column("to_revision_id", sa.Integer(), nullable=True),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("instructions", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("key_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("task_id", sa.BigInteger(), nullable=True),
        sa.Column("started_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DT, nullable=False),
        sa.Column("finished_at", UTC_DT, nullable=True),
        sa.ForeignKeyConstraint(["from_revision_id"], ["revisions.id"]),
        sa.ForeignKeyConstraint(["release_id"], ["releases.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_codesign_runs_release_id", "codesign_runs", ["release_id"])


def downgrade() -> None:
    op.drop_index("ix_codesign_runs_release_id", table_name="codesign_runs")
    op.drop_table("codesign_runs")
    op.drop_table("project_signing")
    op.drop_table("revision_builds")
    op.drop_table("provenance_files")
    op.drop_index("ix_attestations_release_id", table_name="attestations")
    op.drop_table("attestations")
    op.drop_index("ux_automation_keys_active_use", table_name="automation_keys")
    op.drop_table("automation_keys")
