"""A project's hosted download page, and the files it serves.

Every announced release, the latest first, with its artifacts as published to the dist
repository (the files of the distribution plan the release manager signed): each with its
size, SHA-512, ``.asc``, ``.sha512`` and SBOM, the KEYS file and how to verify; the
releases' other channels; archived releases below, linked to the archive. Release
candidates are never listed.

Links go to ``dist_public_url`` (the public face of ``release/``) when the operator set
one, else to the agent itself: ``/projects/{key}/downloads/{version}/{path}`` serves the
file from the blob store (the bytes the dist repository holds, verified after publishing)
and ``{artifact}.cdx.json`` the SBOM the agent made for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute.plan import DIST_CHANNEL
from agent.pages.page import SBOM_SUFFIX, PageArtifact, render_template
from agent.provenance.pages import (
    AGENT_KEYS_PATH,
    attestation_keys,
    session_has_attestations,
)
from agent.store import NotFound, project_row, release_row
from agent.triggers.history import imported_entry, imported_file
from agent.votes.views import Links
from shared.lifecycle import Phase
from shared.provenance.statement import BUNDLE_SUFFIX
from shared.votes import is_artifact

__all__ = ["DownloadFile", "download_file", "render_downloads"]

LISTED = (Phase.ANNOUNCED.value, Phase.ARCHIVED.value)


@dataclass(frozen=True, slots=True)
class DownloadFile:
    """A file the download page may serve: its blob, or an artifact's SBOM blob."""

    sha256: str
    name: str


def _distribution(session: Session, release: models.Release) -> models.Distribution | None:
    return session.scalars(
        select(models.Distribution)
        .where(
            models.Distribution.release_id == release.id,
            models.Distribution.kind == "production",
            models.Distribution.state == "verified",
        )
        .order_by(models.Distribution.id.desc())
        .limit(1)
    ).first()


def _dist_files(row: models.Distribution) -> dict[str, dict[str, Any]]:
    for channel in row.plan.get("channels", []):
        if channel.get("name") == DIST_CHANNEL:
            return {f["path"]: f for f in channel.get("files", [])}
    return {}


def _base(settings: Settings, project: str, version: str) -> str:
    if settings.dist_public_url:
        return f"{settings.dist_public_url.rstrip('/')}/{quote(project)}/{quote(version)}/"
    return f"{settings.effective_public_url}/projects/{quote(project)}/downloads/{quote(version)}/"


def _artifacts(
    session: Session, settings: Settings, release: models.Release, row: models.Distribution
) -> list[PageArtifact]:
    files = _dist_files(row)
    base = _base(settings, release.project.key, release.version)
    sboms = set(
        session.scalars(
            select(models.RevisionSbom.artifact).where(
                models.RevisionSbom.revision_id == row.revision_id
            )
        )
    )

    def link(path: str) -> str | None:
        return base + quote(path, safe="/") if path in files else None

    return [
        PageArtifact(
            name=path,
            size=int(f["size"]),
            sha512=str(f["sha512"]),
            url=base + quote(path, safe="/"),
            asc_url=link(path + ".asc"),
            sha512_url=link(path + ".sha512"),
            sha256_url=link(path + ".sha256"),
            sbom_url=(
                f"{settings.effective_public_url}/projects/{quote(release.project.key)}"
                f"/downloads/{quote(release.version)}/{quote(path + SBOM_SUFFIX, safe='/')}"
            )
            if path in sboms
            else None,
        )
        for path, f in sorted(files.items())
        if is_artifact(path) and not path.endswith((SBOM_SUFFIX, BUNDLE_SUFFIX))
    ]


def _attestations_url(
    settings: Settings, release: models.Release, row: models.Distribution
) -> str | None:
    """Where the release's attestation bundle is: beside its files when it went with them
    (agent.provenance), else the agent's own copy (every attestation of the release)."""
    for path in _dist_files(row):
        if path.endswith(BUNDLE_SUFFIX):
            return _base(settings, release.project.key, release.version) + quote(path)
    if session_has_attestations(release):
        return (
            f"{settings.effective_public_url}/projects/{quote(release.project.key)}"
            f"/attestations/{quote(release.version)}"
        )
    return None


def _when(row: models.Distribution) -> str:
    at = row.announced_at or row.verified_at
    return f"{at:%Y-%m-%d}" if at is not None else ""


def render_downloads(session: Session, settings: Settings, key: str, *, nonce: str) -> str:
    """The download page of project ``key`` (404 if there is no such project)."""
    project = project_row(session, key)
    releases = session.scalars(
        select(models.Release).where(
            models.Release.project_id == project.id, models.Release.phase.in_(LISTED)
        )
    )
    current: list[dict[str, Any]] = []
    older: list[dict[str, Any]] = []
    for release in releases:
        row = _distribution(session, release)
        if row is None:  # a release recorded from the dist repository (atr-agent import-dist)
            imported = imported_entry(session, settings, release)
            if imported is not None:
                (current if release.phase == Phase.ANNOUNCED.value else older).append(imported)
            continue
        artifacts = _artifacts(session, settings, release, row)
        entry: dict[str, Any] = {
            "attestations": _attestations_url(settings, release, row),
            "version": release.version,
            "announced": _when(row),
            "order": row.announced_at or row.verified_at,
            "artifacts": artifacts,
            "channels": [
                {"name": c["name"], "kind": c["kind"], "target": c.get("target", "")}
                for c in row.plan.get("channels", [])
                if c.get("name") != DIST_CHANNEL
            ],
        }
        if release.phase == Phase.ANNOUNCED.value:
            current.append(entry)
        else:
            entry["url"] = (
                f"{settings.archive_url.rstrip('/')}/{quote(project.key)}/"
                if settings.dist_public_url
                else _base(settings, project.key, release.version)
                + quote(artifacts[0].name if artifacts else "", safe="/")
            )
            older.append(entry)
    current.sort(key=lambda e: e["order"], reverse=True)
    older.sort(key=lambda e: e["order"], reverse=True)
    example = current[0]["artifacts"][0].name if current and current[0]["artifacts"] else "ARTIFACT"
    return render_template(
        "downloads.html.j2",
        agent_keys_url=f"{settings.effective_public_url}{AGENT_KEYS_PATH}",
        attestation_keys=attestation_keys(session),
        project_name=project.name,
        keys_url=Links(settings.effective_public_url).keys(project.key),
        current=current,
        older=older,
        example=example,
        nonce=nonce,
    )


def download_file(session: Session, key: str, version: str, path: str) -> DownloadFile:
    """The blob of ``path`` in the published release ``version`` (or the SBOM of an
    artifact, ``{artifact}.cdx.json``); 404 for anything that was not published."""
    release = release_row(session, key, version)
    row = _distribution(session, release) if release.phase in LISTED else None
    if row is None and release.phase in LISTED:
        found = imported_file(session, release, path)
        if found is not None:
            return DownloadFile(sha256=found, name=path.rsplit("/", 1)[-1])
    if row is None:
        raise NotFound(f"{key} {version} is not a published release")
    files = _dist_files(row)
    name = path.rsplit("/", 1)[-1]
    if path in files:
        found = session.scalar(
            select(models.RevisionFile.blob_sha256).where(
                models.RevisionFile.revision_id == row.revision_id,
                models.RevisionFile.path == path,
            )
        )
        if found is not None:
            return DownloadFile(sha256=found, name=name)
        added = session.scalar(  # the attestation bundle and release SBOMs (agent.provenance)
            select(models.ProvenanceFile.blob_sha256).where(
                models.ProvenanceFile.release_id == release.id, models.ProvenanceFile.path == path
            )
        )
        if added is not None:
            return DownloadFile(sha256=added, name=name)
    if path.endswith(SBOM_SUFFIX):
        sbom = session.scalar(
            select(models.RevisionSbom.blob_sha256).where(
                models.RevisionSbom.revision_id == row.revision_id,
                models.RevisionSbom.artifact == path[: -len(SBOM_SUFFIX)],
            )
        )
        if sbom is not None:
            return DownloadFile(sha256=sbom, name=name)
    raise NotFound(f"{key} {version} has no published file {path!r}")
