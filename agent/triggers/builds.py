"""Build facts of a revision: how its artifacts were made, for provenance (issue 8).

A revision gets one ``revision_builds`` row when it was built by someone the agent can
name precisely:

* ``github-oidc`` — uploaded with a token a workflow run exchanged for its OIDC token: the
  facts are the token's verified claims (repository, workflow file and ref, commit, run id,
  run attempt, the runner environment, the event that started it);
* ``webhook`` — built by this agent from a pushed tag: repository URL, tag, commit, tree,
  the archive's name and SHA-512, the builder (this agent's version);
* ``svn`` — taken from a release.toml commit to dist/dev: repository URL and revision.

The first two name a build, so the row also gets its :class:`BuildRecord`
(:func:`slsa_record`), from which the release's SLSA provenance attestation is made once
its vote passes (agent.provenance.attest). A dist/dev commit names no build: it has facts
only. ``revision.build_recorded`` events carry the same facts; ``GET
…/revisions/{n}/build`` answers them (agent.api.provenance). Documented in
docs/triggers.md ("Build facts for provenance").
"""

from __future__ import annotations

from typing import Any

import pydantic
from sqlalchemy.orm import Session

from agent.db import models
from agent.engine.events import append_event
from agent.store import Principal
from shared.protocol import EventKind
from shared.protocol.provenance import BuildRecord

__all__ = ["TAG_ARCHIVE_BUILD_TYPE", "record_build", "record_from_token", "slsa_record"]

GITHUB = "https://github.com"
TAG_ARCHIVE_BUILD_TYPE = "https://atr.apache.org/buildtypes/tag-archive/v1"
"""This agent's own build: the source archive of a pushed tag, made reproducibly."""
_AGENT_BUILDER = "https://atr.apache.org/builders/"


def slsa_record(source: str, builder: str, facts: dict[str, Any]) -> dict[str, Any] | None:
    """The :class:`BuildRecord` (as JSON) of a trigger's verified ``facts``, or ``None`` when
    they name no build SLSA can describe (a dist/dev commit, missing claims)."""
    if source == "github-oidc":
        repo = str(facts.get("repository") or "")
        workflow_ref = str(facts.get("job_workflow_ref") or facts.get("workflow_ref") or "")
        run_id = str(facts.get("run_id") or "")
        run_url = f"{GITHUB}/{repo}/actions/runs/{run_id}" if repo and run_id else ""
        if facts.get("run_attempt") and run_url:
            run_url += f"/attempts/{facts['run_attempt']}"
        fields: dict[str, Any] = {
            "builder_id": f"{GITHUB}/{workflow_ref}",
            "repository": f"{GITHUB}/{repo}",
            "ref": str(facts.get("ref") or ""),
            "commit": str(facts.get("sha") or ""),
            "workflow": workflow_ref.split("@", 1)[0].removeprefix(f"{repo}/"),
            "run_id": run_id,
            "run_url": run_url,
            "trigger": str(facts.get("event_name") or ""),
        }
        if not (repo and workflow_ref):
            return None
    elif source == "webhook":
        fields = {
            "builder_id": _AGENT_BUILDER + builder.replace(" ", "@"),
            "build_type": TAG_ARCHIVE_BUILD_TYPE,
            "repository": str(facts.get("git_url") or facts.get("repository") or ""),
            "ref": f"refs/tags/{facts.get('tag', '')}",
            "commit": str(facts.get("commit") or ""),
            "trigger": "push",
            "parameters": {
                key: str(facts[key]) for key in ("archive", "tree", "pusher") if facts.get(key)
            },
        }
    else:
        return None
    try:
        return BuildRecord.model_validate(fields).model_dump(mode="json")
    except pydantic.ValidationError:
        return None


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
        models.RevisionBuild(
            revision_id=revision.id,
            source=source,
            record=slsa_record(source, builder, facts),
            facts={"builder": builder, **facts},
            recorded_by=actor,
        )
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
