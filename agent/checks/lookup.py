"""Finding the project, release and revision a check request names (404 otherwise)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from agent.db import models
from agent.store import NotFound

__all__ = ["project_row", "release_row", "revision_row"]


def project_row(session: Session, key: str) -> models.Project:
    """The project ``key``."""
    row = session.scalar(select(models.Project).where(models.Project.key == key))
    if row is None:
        raise NotFound(f"no project '{key}'", hint="check the key against the project list")
    return row


def release_row(session: Session, project: str, version: str) -> models.Release:
    """The release ``project`` ``version``."""
    row = session.scalar(
        select(models.Release)
        .join(models.Project, models.Release.project_id == models.Project.id)
        .where(models.Project.key == project, models.Release.version == version)
    )
    if row is None:
        project_row(session, project)
        raise NotFound(f"project '{project}' has no release '{version}'")
    return row


def revision_row(
    session: Session, project: str, version: str, number: int | None
) -> models.Revision:
    """Revision ``number`` of the release (``None``: its latest)."""
    release = release_row(session, project, version)
    if number is None:
        number = session.scalar(
            select(func.max(models.Revision.number)).where(models.Revision.release_id == release.id)
        )
        if number is None:
            raise NotFound(
                f"release {project} {version} has no revision yet",
                hint="upload files and create a revision first",
            )
    row = session.scalar(
        select(models.Revision).where(
            models.Revision.release_id == release.id, models.Revision.number == number
        )
    )
    if row is None:
        raise NotFound(f"release {project} {version} has no revision {number}")
    return row
