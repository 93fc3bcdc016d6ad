"""The predicates of a release's attestations, read from the database (no writes here).

Each function returns the JSON data of one predicate (see :mod:`shared.provenance.statement`
for the types and docs/provenance.md for every field), and :func:`subjects` the artifacts
every attestation of the release is about: the files voters voted on (not signatures,
checksums, SBOMs or documents), each by name, SHA-256 and SHA-512.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.checks.report import load_revision_checks
from agent.config import Settings
from agent.db import models
from agent.votes.candidate import candidate_artifacts
from shared.provenance.statement import subject

__all__ = [
    "distribution_predicate",
    "release_predicate",
    "slsa_predicate",
    "subjects",
    "vote_predicate",
]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def subjects(session: Session, revision: models.Revision) -> list[dict[str, Any]]:
    """The artifacts of ``revision`` as Statement subjects (name, sha256, sha512)."""
    sha256 = {f.path: f.blob_sha256 for f in revision.files}
    return [
        subject(a.path, sha256=sha256[a.path], sha512=a.sha512)
        for a in candidate_artifacts(session, revision)
    ]


def _release_manager(session: Session, release: models.Release) -> dict[str, Any]:
    user = session.scalars(
        select(models.User).where(models.User.name == release.created_by)
    ).first()
    out: dict[str, Any] = {"user": release.created_by}
    if user is not None:
        out["email"] = user.email
        names = [uid for key in user.keys for uid in key.user_ids]
        if names:
            out["name"] = names[0]
        out["fingerprints"] = [k.fingerprint for k in user.keys if k.revoked_at is None]
    return out


def _checks(session: Session, revision: models.Revision) -> dict[str, Any]:
    report = load_revision_checks(session, revision).to_wire()
    runs = [
        {
            "id": run.check,
            "version": run.check_version,
            "artifact": run.artifact or None,
            "state": run.state,
            "results": dict(run.summary),
            "reused": run.reused,
        }
        for run in report.runs
    ]
    ignored = [
        {
            "check": r.check,
            "path": r.path,
            "originalStatus": r.ignored.original_status,
            "rule": r.ignored.rule,
            "reason": r.ignored.reason,
            "ruleBy": r.ignored.by,
            "message": r.message,
        }
        for r in report.results
        if r.ignored is not None
    ]
    return {
        "revision": report.revision,
        "state": report.state,
        "summary": dict(report.summary),
        "blocked": report.blocked,
        "runs": runs,
        "ignored": ignored,
    }


def release_predicate(
    session: Session,
    settings: Settings,
    release: models.Release,
    revision: models.Revision,
    *,
    sboms: Sequence[dict[str, Any]],
    bundle_name: str,
    now: datetime,
) -> dict[str, Any]:
    """in-toto's release predicate (``purl``, ``packageId``), with the release's facts:
    who made it, who signed each artifact with which OpenPGP key, the checks and their
    ignore rules, the SBOMs."""
    from agent.keys.service import keys_file  # noqa: PLC0415 - a read of the keys resource

    project = release.project
    keys_text = keys_file(session, project.key)
    base = settings.effective_public_url
    artifacts = [
        {
            "name": a.path,
            "size": a.size,
            "signature": a.signature,
            "checksum": a.checksum,
            "signers": [
                {"fingerprint": s.fingerprint, "userId": s.user_id, "keys": s.keys}
                for s in a.signers
            ],
        }
        for a in candidate_artifacts(session, revision)
    ]
    return {
        "purl": f"pkg:generic/apache/{quote(project.key)}@{quote(release.version)}",
        "packageId": f"{base}/projects/{quote(project.key)}",
        "project": {
            "key": project.key,
            "name": project.name,
            "committee": project.committee.name,
            "podling": project.committee.podling,
        },
        "version": release.version,
        "revision": revision.number,
        "revisionCreatedAt": _iso(revision.created_at),
        "releaseManager": _release_manager(session, release),
        "artifacts": artifacts,
        "checks": _checks(session, revision),
        "policySha256": hashlib.sha256(
            json.dumps(project.policy or {}, sort_keys=True).encode()
        ).hexdigest(),
        "keys": {
            "url": f"{base}/projects/{quote(project.key)}/KEYS",
            "sha256": _sha256_text(keys_text),
        },
        "sboms": list(sboms),
        "attestationBundle": bundle_name,
        "agent": {"url": base},
        "writtenAt": now.isoformat(),
    }


def _ballots(vote: models.Vote) -> list[dict[str, Any]]:
    return [
        {
            "voter": b.voter,
            "binding": b.binding,
            "value": {1: "+1", 0: "0", -1: "-1"}.get(b.value, str(b.value)),
            "source": b.source,
            "fingerprint": b.fingerprint,
            "signedTextSha256": _sha256_text(b.signed_text) if b.signed_text else None,
            "messageId": b.message_id,
            "castAt": _iso(b.cast_at),
            "superseded": b.superseded,
            "comment": b.comment,
        }
        for b in vote.ballots
    ]


def vote_predicate(
    session: Session, release: models.Release, revision: models.Revision, *, now: datetime
) -> dict[str, Any]:
    """The vote (every round on this revision: the project's, and the Incubator's for a
    podling): thread, start and end, outcome, every ballot."""
    votes = list(
        session.scalars(
            select(models.Vote)
            .where(models.Vote.release_id == release.id, models.Vote.revision_id == revision.id)
            .order_by(models.Vote.id)
        )
    )
    rounds = []
    for vote in votes:
        tally = dict(vote.tally or {})
        rounds.append(
            {
                "round": vote.round,
                "list": vote.list_address,
                "security": vote.security,
                "thread": {"messageId": vote.thread_message_id, "url": vote.thread_url},
                "startedBy": vote.started_by,
                "startedAt": _iso(vote.started_at),
                "endsAt": _iso(vote.ends_at),
                "decidedAt": _iso(vote.decided_at),
                "outcome": vote.state,
                "reason": tally.get("reason"),
                "tally": {k: tally[k] for k in ("binding", "non_binding") if k in tally},
                "sourceRef": vote.source_ref,
                "sourceUrl": vote.source_url,
                "ballots": _ballots(vote),
            }
        )
    final = rounds[-1]["outcome"] if rounds else "none"
    return {
        "project": release.project.key,
        "version": release.version,
        "revision": revision.number,
        "outcome": final,
        "rounds": rounds,
        "rules": "at least 3 binding +1 and more binding +1 than binding -1; open at least "
        "72 hours (ASF release policy)",
        "writtenAt": now.isoformat(),
    }


def slsa_predicate(record: dict[str, Any], recorded_by: str) -> dict[str, Any]:
    """SLSA provenance v1 from a build record (shared.protocol.provenance.BuildRecord)."""
    workflow: dict[str, Any] = {"repository": record["repository"]}
    if record.get("ref"):
        workflow["ref"] = record["ref"]
    if record.get("workflow"):
        workflow["path"] = record["workflow"]
    source = record["repository"]
    uri = f"git+{source}@{record['ref']}" if record.get("ref") else f"git+{source}"
    metadata: dict[str, Any] = {}
    if record.get("run_url") or record.get("run_id"):
        metadata["invocationId"] = record.get("run_url") or record.get("run_id")
    if record.get("started_at"):
        metadata["startedOn"] = record["started_at"]
    if record.get("finished_at"):
        metadata["finishedOn"] = record["finished_at"]
    return {
        "buildDefinition": {
            "buildType": record["build_type"],
            "externalParameters": {"workflow": workflow, **dict(record.get("parameters") or {})},
            "internalParameters": {
                "trigger": record.get("trigger") or None,
                "recordedBy": recorded_by,
            },
            "resolvedDependencies": [{"uri": uri, "digest": {"gitCommit": record["commit"]}}],
        },
        "runDetails": {"builder": {"id": record["builder_id"]}, "metadata": metadata},
    }


def distribution_predicate(
    release: models.Release,
    revision: models.Revision,
    row: models.Distribution,
    *,
    bundle: dict[str, Any] | None,
    now: datetime,
) -> dict[str, Any]:
    """Where the release went: the signed approval of the plan, each channel's files with
    their URLs and verification, and the bundle that went with them."""
    channels: dict[str, dict[str, Any]] = {}
    manual: list[dict[str, Any]] = []
    for step in row.steps:
        if step.kind == "manual":
            manual.append({"step": step.target, "state": step.state})
            continue
        channel = channels.setdefault(
            step.channel, {"name": step.channel, "kind": step.kind, "files": []}
        )
        channel["files"].append(
            {
                "path": step.path,
                "sha512": step.sha512,
                "url": step.url,
                "uploaded": step.uploaded,
                "verifiedAt": _iso(step.verified_at),
            }
        )
    return {
        "project": release.project.key,
        "version": release.version,
        "revision": revision.number,
        "approval": {
            "planDigest": row.digest,
            "approvedBy": row.approved_by,
            "fingerprint": row.approved_fingerprint,
            "approvedAt": _iso(row.approved_at),
            "signed": row.approval_signed,
        },
        "channels": list(channels.values()),
        "manualSteps": manual,
        "distributedAt": _iso(row.dist_at),
        "verifiedAt": _iso(row.verified_at),
        "attestationBundle": bundle,
        "writtenAt": now.isoformat(),
    }
