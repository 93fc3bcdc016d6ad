"""Build facts of a revision: how its artifacts were made, for provenance (issue 8).

A revision gets one ``revision_builds`` row when it was built by someone the agent can
name precisely:

* ``github-oidc`` — uploaded with a token a workflow run exchanged for its OIDC token: the
  facts are the token's verified claims (repository, workflow file and ref, commit, run id,
  run attempt, the run's URL, the runner environment, the event that started it);
* ``webhook`` — built by this agent from a pushed tag: repository URL, tag, commit, tree,
  the archive's name and SHA-512, the builder (this agent's version);
* ``svn`` — taken from a release.toml commit to dist/dev: repository URL and revision.

:func:`build_facts` reads them back (an attestation's ``buildDefinition`` /
``runDetails``); ``revision.build_recorded`` events carry the same facts. Documented in
docs/triggers.md ("Build facts for provenance").
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from agent.store import Principal
from shared.protocol import EventKind

__all__ = ["build_facts", "record_build", "record_from_token"]


def record_build(
    session: Session,
    revision: models.Revision,
    *,
    source: str,
    builder: str,
    facts: dict[str, Any],
    actor: str,
) -> None:
    """Record how ``revision`` was built (once: a revision is immutable) and its event."""
    if session.get(models.RevisionBuild, revision.id) is not None:
        return
    session.add(
        models.RevisionBuild(revision_id=revision.id, source=source, builder=builder, facts=facts)
    )
    session.flush()
    append_event(
        session,
        EventKind.BUILD_RECORDED,
        actor=actor,
        project=revision.release.project.key,
        version=revision.release.version,
        data={"revision": revision.number, "source": source, "builder": builder, **facts},
    )


def _grant(session: Session, principal: Principal) -> models.OidcGrant | None:
    if principal.token_id is None:
        return None
    return session.get(models.OidcGrant, principal.token_id)


def record_from_token(session: Session, principal: Principal, revision: models.Revision) -> bool:
    """If ``principal`` acts through a token a workflow run got by trusted publishing, record
    the run as the revision's builder and ask the release manager to sign; ``True`` then."""
    grant = _grant(session, principal)
    if grant is None:
        return False
    claims = grant.claims
    builder = str(claims.get("job_workflow_ref") or claims.get("workflow_ref") or "")
    record_build(
        session,
        revision,
        source="github-oidc",
        builder=builder,
        facts={"publisher": grant.publisher_id, **claims},
        actor=principal.name,
    )
    from agent.triggers.compose import request_signatures  # noqa: PLC0415 - compose imports phases

    request_signatures(
        session,
        revision,
        source="github-oidc",
        delivery=str(claims.get("run_url") or grant.jti),
        actor=principal.name,
    )
    return True


def build_facts(session: Session, revision: models.Revision) -> dict[str, Any] | None:
    """What is known of how ``revision`` was built: ``{source, builder, facts}`` or ``None``."""
    row = session.get(models.RevisionBuild, revision.id)
    if row is None:
        return None
    return {"source": row.source, "builder": row.builder, "facts": dict(row.facts)}
