"""Reads for the API: a revision's check report and its stored SBOMs."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.report import load_revision_checks
from agent.db import models
from agent.store import NotFound, release_revision
from shared.protocol import BlobInfo
from shared.protocol.checks import CheckReport, SbomInfo

__all__ = ["get_report", "get_sbom", "list_sboms", "sbom_url"]


def get_report(session: Session, project: str, version: str, number: int | None) -> CheckReport:
    """The check report of a revision (``None``: the latest), with the current ignore rules."""
    revision = release_revision(session, project, version, number)
    return load_revision_checks(session, revision).to_wire()


def sbom_url(project: str, version: str, number: int, artifact: str) -> str:
    """The API path an SBOM is downloaded from."""
    return (
        f"/api/v1/projects/{quote(project, safe='')}/releases/{quote(version, safe='')}"
        f"/revisions/{number}/sboms/{quote(artifact, safe='/')}"
    )


def list_sboms(session: Session, project: str, version: str, number: int | None) -> list[SbomInfo]:
    """The SBOMs stored with a revision, one per source artifact, by artifact path."""
    revision = release_revision(session, project, version, number)
    rows = session.execute(
        select(models.RevisionSbom.artifact, models.Blob.sha256, models.Blob.size)
        .join(models.Blob, models.RevisionSbom.blob_sha256 == models.Blob.sha256)
        .where(models.RevisionSbom.revision_id == revision.id)
        .order_by(models.RevisionSbom.artifact)
    ).all()
    return [
        SbomInfo(
            artifact=artifact,
            sha256=sha256,
            size=size,
            url=sbom_url(project, version, revision.number, artifact),
        )
        for artifact, sha256, size in rows
    ]


def get_sbom(
    session: Session, project: str, version: str, number: int | None, artifact: str
) -> BlobInfo:
    """The blob of the SBOM stored for ``artifact`` in a revision."""
    revision = release_revision(session, project, version, number)
    row = session.get(models.RevisionSbom, (revision.id, artifact))
    if row is None:
        raise NotFound(
            f"revision {revision.number} of {project} {version} has no SBOM for {artifact!r}",
            hint="SBOMs are made for source archives by the sbom check; list them at .../sboms",
        )
    blob = session.get(models.Blob, row.blob_sha256)
    if blob is None:  # pragma: no cover - a foreign key keeps it
        raise NotFound(f"the SBOM blob {row.blob_sha256} is not recorded")
    return BlobInfo(sha256=blob.sha256, sha512=blob.sha512, size=blob.size)
