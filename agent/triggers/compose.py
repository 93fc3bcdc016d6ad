"""A release and its revision from what a trigger brought, and the request to sign it.

:func:`compose_revision` is shared by the tag-push and dist/dev triggers: it creates the
release if needed (managed by the project's configured release manager), brings it back to
``compose`` if an earlier candidate of it stopped at ``checks``, ``candidate``, ``staged``
or ``failed``, creates a revision of exactly the given files (its checks are queued by
:func:`agent.phases.create_revision`), records the build facts and asks the release
manager to sign the artifacts that have no signature yet (``release.signatures_requested``:
the desktop shows it as a notification and a "waiting for you" item).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent import phases
from agent.db import models
from agent.engine.events import append_event
from agent.store import (
    Conflict,
    PmcWriter,
    Principal,
    Store,
    project_row,
    release_row,
    revision_row,
)
from agent.triggers.builds import record_build
from agent.triggers.common import release_manager_of
from shared import protocol as p
from shared.lifecycle import Phase
from shared.protocol import EventKind
from shared.votes import is_artifact

__all__ = ["BACK_TO_COMPOSE", "compose_revision", "request_signatures", "unsigned_artifacts"]

BACK_TO_COMPOSE = frozenset({Phase.CHECKS, Phase.CANDIDATE, Phase.STAGED, Phase.FAILED})
"""Phases a trigger may bring a release back from, to take a new candidate."""


def unsigned_artifacts(paths: list[str]) -> list[str]:
    """The artifacts among ``paths`` that have no ``.asc`` beside them."""
    present = set(paths)
    return [path for path in paths if is_artifact(path) and f"{path}.asc" not in present]


def request_signatures(
    session: Session, revision: models.Revision, *, source: str, delivery: str, actor: str
) -> list[str]:
    """Ask the release manager to sign the revision's unsigned artifacts (if any)."""
    release = revision.release
    unsigned = unsigned_artifacts([f.path for f in revision.files])
    if not unsigned:
        return []
    append_event(
        session,
        EventKind.SIGNATURES_REQUESTED,
        actor=actor,
        project=release.project.key,
        version=release.version,
        data={
            "revision": revision.number,
            "release_manager": release_manager_of(session, release),
            "files": unsigned,
            "source": source,
            "delivery": delivery,
        },
    )
    return unsigned


def _bring_back(session: Session, principal: Principal, release: models.Release, why: str) -> None:
    phase = Phase(release.phase)
    if phase is Phase.COMPOSE:
        return
    if phase not in BACK_TO_COMPOSE:
        raise Conflict(
            f"release {release.project.key} {release.version} is in phase '{phase}': a trigger "
            "cannot give it a new candidate",
            hint="use a new version for a new release",
        )
    writer = PmcWriter(session, principal, release.project)
    phases.transition_as(writer, release.version, p.TransitionRequest(to=Phase.COMPOSE, reason=why))


def compose_revision(
    session: Session,
    principal: Principal,
    *,
    project: str,
    version: str,
    files: Mapping[str, p.BlobInfo],
    message: str,
    release_manager: str | None,
    source: str,
    delivery: str,
    build: tuple[str, dict[str, Any]] | None,
) -> p.Revision:
    """Create (or reuse) ``project`` ``version`` and a revision of exactly ``files``.

    ``build``: (builder, facts) recorded as the revision's build. The blobs must be in the
    blob store; their rows are recorded here.
    """
    store = Store(session, principal)
    uploader = store.as_uploader()
    for path, info in files.items():
        uploader.record_blob(info, filename=path.rsplit("/", 1)[-1])
    project_row(session, project)
    existing = session.scalar(
        select(models.Release)
        .join(models.Project)
        .where(models.Project.key == project, models.Release.version == version)
    )
    if existing is None:
        store.as_committer(project).create_release(p.ReleaseCreate(version=version))
        release = release_row(session, project, version)
        if release_manager is not None and session.scalar(
            select(models.User.id).where(models.User.name == release_manager)
        ):
            release.created_by = release_manager
    else:
        release = release_row(session, project, version, lock=True)
        _bring_back(session, principal, release, f"a new candidate from {source} {delivery}")
    body = p.RevisionCreate(
        files={path: info.sha256 for path, info in files.items()}, message=message
    )
    out = phases.create_revision(store, project, version, body)
    row = revision_row(session, release, out.number)
    if build is not None:
        builder, facts = build
        record_build(
            session, row, source=source, builder=builder, facts=facts, actor=principal.name
        )
    request_signatures(session, row, source=source, delivery=delivery, actor=principal.name)
    return out
