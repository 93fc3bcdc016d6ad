"""Build records: the hook that turns a trusted CI build into SLSA provenance.

A trigger that verified a build records it (agent.triggers.builds: a workflow's OIDC
token, a pushed tag this agent built from) with the facts it verified and, where they
name a build, its :class:`BuildRecord`; an admin may record one through
``PUT …/revisions/{n}/build`` (:func:`record_build`). When the release's vote passes,
the ``attest`` task makes an SLSA provenance v1 statement of it
(:func:`agent.provenance.predicates.slsa_predicate`), signed with the agent's attestation
key: the agent vouches that *this trigger* recorded *this build* for the files that were
voted on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from agent.store import Forbidden, release_row, revision_row
from shared.lifecycle import Phase
from shared.protocol import EventKind
from shared.protocol.provenance import BuildRecord

__all__ = ["PUBLIC_PHASES", "record_build"]

PUBLIC_PHASES = frozenset(
    {Phase.PASSED.value, Phase.DISTRIBUTE.value, Phase.ANNOUNCED.value, Phase.ARCHIVED.value}
)
"""Phases after a passed vote: the attestations are written and public."""


def record_build(
    session: Session, project: str, version: str, number: int, body: BuildRecord, *, actor: str
) -> None:
    """Record ``body`` as the build of revision ``number`` (replacing an earlier record until
    the vote passed; then it is attested and can no longer change)."""
    release = release_row(session, project, version, lock=True)
    if release.phase in PUBLIC_PHASES:
        raise Forbidden(f"{project} {version} passed its vote: its build can no longer change")
    revision = revision_row(session, release, number)
    row = session.get(models.RevisionBuild, revision.id)
    if row is None:
        row = models.RevisionBuild(revision_id=revision.id, source="admin", recorded_by=actor)
        session.add(row)
    row.record = body.model_dump(mode="json")
    row.recorded_by = actor
    row.recorded_at = datetime.now(UTC)
    session.flush()
    append_event(
        session,
        EventKind.BUILD_RECORDED,
        actor=actor,
        project=project,
        version=version,
        data={"revision": number, "builder_id": body.builder_id, "commit": body.commit},
    )
