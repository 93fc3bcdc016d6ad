"""Imported releases on the download page (agent.pages.downloads asks here).

A release recorded by ``import-dist`` has no distribution of its own: its files are those
of its one revision, as they were found in the dist repository. With ``dist_public_url``
set its links go where the public finds it (that URL's ``<project>/<folder>/<file>``);
otherwise the agent serves the files it stored.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.pages.page import PageArtifact
from shared.votes import is_artifact

__all__ = ["imported_entry", "imported_file"]


def _row(session: Session, release: models.Release) -> models.ImportedReleaseRow | None:
    row = session.get(models.ImportedReleaseRow, release.id)
    return row if row is not None and row.area == "release" else None


def _files(release: models.Release) -> dict[str, models.RevisionFile]:
    if not release.revisions:
        return {}
    return {f.path: f for f in release.revisions[-1].files}


def imported_entry(
    session: Session, settings: Settings, release: models.Release
) -> dict[str, Any] | None:
    """The download page's entry of an imported release (``None``: not imported)."""
    row = _row(session, release)
    if row is None:
        return None
    key = quote(release.project.key)
    if settings.dist_public_url:
        folder = "" if row.path in ("", ".") else quote(row.path, safe="/") + "/"
        base = f"{settings.dist_public_url.rstrip('/')}/{key}/{folder}"
    else:
        base = f"{settings.effective_public_url}/projects/{key}/downloads/{quote(release.version)}/"
    files = _files(release)

    def link(path: str) -> str | None:
        return base + quote(path, safe="/") if path in files else None

    artifacts = [
        PageArtifact(
            name=path,
            size=f.blob.size,
            sha512=f.blob.sha512,
            url=base + quote(path, safe="/"),
            asc_url=link(path + ".asc"),
            sha512_url=link(path + ".sha512"),
            sha256_url=link(path + ".sha256"),
            sbom_url=None,
        )
        for path, f in sorted(files.items())
        if is_artifact(path)
    ]
    return {
        "version": release.version,
        "announced": f"{row.released_at:%Y-%m-%d}",
        "order": row.released_at,
        "artifacts": artifacts,
        "channels": [],
        "attestations": None,  # released before this agent: nothing it could attest
        "url": base + quote(artifacts[0].name, safe="/") if artifacts else base,
    }


def imported_file(session: Session, release: models.Release, path: str) -> str | None:
    """The blob SHA-256 of ``path`` in an imported release (``None``: none such)."""
    if _row(session, release) is None:
        return None
    found = _files(release).get(path)
    return found.blob_sha256 if found is not None else None


def imported_versions(session: Session, project_id: int) -> set[str]:
    return set(
        session.scalars(
            select(models.Release.version)
            .join(models.ImportedReleaseRow)
            .where(models.Release.project_id == project_id)
        )
    )
