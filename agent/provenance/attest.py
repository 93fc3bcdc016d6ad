"""Writing a release's attestations, and reading them back.

When a vote passes, the phase cascade (:mod:`agent.phases`) queues an ``attest`` task; the
worker then (:func:`write_for_vote`):

1. makes the SBOM of each artifact that names the release, its signers and the vote
   (:mod:`agent.provenance.sbom`) and stores it as a blob;
2. writes, each in a DSSE envelope signed with the active attestation key, the **release**
   statement (in-toto's release predicate, with the checks, signers and SBOM digests), the
   **vote** statement (every round and ballot) and, when a trusted CI build was recorded for
   the revision, the **SLSA provenance v1** statement;
3. stores the bundle ``<project>-<version>.intoto.jsonl`` (the code-signing attestations of
   the release's earlier revisions, then these) as a blob.

The SBOMs and the bundle are *provenance files* of the release: the distribution plan adds
them to the dist repository's files (:func:`agent.distribute.plan.compute_plan`), so they go
out with the release and the plan the release manager signs covers their digests.

When the distribution is verified, a **distribution** statement (the signed approval of the
plan, every channel's files and URLs, the bundle that went with them) is written too
(:func:`write_for_distribution`). It cannot be in the bundle that was distributed (it is
about that distribution); the agent serves it with the others (API, download page).

Both are idempotent: a retried task finds what an earlier attempt wrote and adds nothing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db import models
from agent.db.session import transaction
from agent.engine.events import append_event
from agent.provenance import predicates
from agent.provenance.keys import key_out, signing_key
from agent.provenance.sbom import release_sbom
from agent.store import NotFound, add_blob_row, release_row
from agent.votes.candidate import SBOM_SUFFIX, candidate_artifacts
from shared.errors import AtrError, ValidationError
from shared.protocol import EventKind, TaskState, TaskType
from shared.protocol.provenance import AttestationOut, ReleaseAttestations
from shared.provenance.dsse import AttestationInvalid, bundle_text, sign_statement, verify_envelope
from shared.provenance.keys import PublishedKey
from shared.provenance.statement import BUNDLE_SUFFIX, PREDICATE_TYPES, statement

__all__ = [
    "VOTE_TRIGGER",
    "bundle_name",
    "bundle_of",
    "pending_attestation",
    "release_attestations",
    "sign_and_store",
    "write_for_distribution",
    "write_for_vote",
]

VOTE_TRIGGER = "vote passed"
DISTRIBUTION_TRIGGER = "distribution verified"
ATR_SBOM_SUFFIX = ".atr.cdx.json"


def bundle_name(project: str, version: str) -> str:
    """The bundle's file name: ``<project>-<version>.intoto.jsonl``."""
    return f"{project}-{version}{BUNDLE_SUFFIX}"


def _passed_vote(session: Session, release: models.Release) -> models.Vote | None:
    return session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id, models.Vote.state == "passed")
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()


def _written(session: Session, release_id: int, trigger: str, **where: Any) -> bool:
    query = select(models.Attestation.id).where(
        models.Attestation.release_id == release_id, models.Attestation.trigger == trigger
    )
    for name, value in where.items():
        query = query.where(getattr(models.Attestation, name) == value)
    return session.scalar(query.limit(1)) is not None


def _store_blob(blobs: BlobStore, data: bytes) -> tuple[str, str, int]:
    fd, name = tempfile.mkstemp(dir=blobs.tmp_dir, prefix="provenance-", suffix=".tmp")
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        info = blobs.put_file(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return info.sha256, info.sha512, info.size


def sign_and_store(
    session: Session,
    settings: Settings,
    release: models.Release,
    revision: models.Revision,
    *,
    kind: str,
    subjects: list[dict[str, Any]],
    predicate: dict[str, Any],
    trigger: str,
    distribution_id: int | None = None,
    actor: str = "atr-agent",
) -> models.Attestation:
    """Sign a Statement with the active attestation key and record it (and its event)."""
    key = signing_key(session, settings, "attestation")
    envelope = sign_statement(statement(kind, subjects, predicate), key.private_key)
    row = models.Attestation(
        release_id=release.id,
        revision_id=revision.id,
        kind=kind,
        predicate_type=PREDICATE_TYPES[kind],
        trigger=trigger,
        key_fingerprint=key.fingerprint,
        envelope=envelope,
        distribution_id=distribution_id,
        created_at=datetime.now(UTC),
    )
    session.add(row)
    session.flush()
    append_event(
        session,
        EventKind.ATTESTATION_WRITTEN,
        actor=actor,
        project=release.project.key,
        version=release.version,
        data={
            "attestation_id": row.id,
            "kind": kind,
            "predicate_type": row.predicate_type,
            "key": key.fingerprint,
            "trigger": trigger,
            "revision": revision.number,
            "subjects": len(subjects),
        },
    )
    return row


@dataclass
class _VoteFacts:
    release_id: int
    revision_id: int
    project: str
    version: str
    revision: int
    revision_paths: set[str]
    sboms: list[tuple[str, str, list[tuple[str, str]]]] = field(default_factory=list)
    """(artifact, stored SBOM blob sha256, signers) of each artifact with an SBOM"""
    vote: dict[str, Any] = field(default_factory=dict)


def _vote_facts(session: Session, release_id: int) -> _VoteFacts | None:
    release = session.get(models.Release, release_id)
    if release is None:
        raise NotFound(f"release {release_id} is gone")
    vote = _passed_vote(session, release)
    if vote is None:
        raise ValidationError(
            f"release {release.project.key} {release.version} has no passed vote to attest"
        )
    revision = session.get(models.Revision, vote.revision_id)
    if revision is None:  # pragma: no cover - foreign key
        raise NotFound(f"the voted revision of release {release_id} is gone")
    if _written(session, release.id, VOTE_TRIGGER, revision_id=revision.id):
        return None
    stored = {
        artifact: sha256
        for artifact, sha256 in session.execute(
            select(models.RevisionSbom.artifact, models.RevisionSbom.blob_sha256).where(
                models.RevisionSbom.revision_id == revision.id
            )
        ).tuples()
    }
    facts = _VoteFacts(
        release_id=release.id,
        revision_id=revision.id,
        project=release.project.key,
        version=release.version,
        revision=revision.number,
        revision_paths={f.path for f in revision.files},
        vote={
            "outcome": vote.state,
            "binding": (vote.tally or {}).get("binding"),
            "non_binding": (vote.tally or {}).get("non_binding"),
            "thread": vote.thread_url or vote.thread_message_id,
            "decided_at": vote.decided_at.isoformat() if vote.decided_at else None,
        },
    )
    for artifact in candidate_artifacts(session, revision):
        if artifact.path in stored:
            signers = [(s.fingerprint, s.user_id) for s in artifact.signers]
            facts.sboms.append((artifact.path, stored[artifact.path], signers))
    return facts


def _sbom_path(artifact: str, taken: set[str]) -> str:
    path = artifact + SBOM_SUFFIX
    return path if path not in taken else artifact + ATR_SBOM_SUFFIX


def write_for_vote(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    settings: Settings,
    release_id: int,
    *,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """The attestations and release SBOMs of a passed vote (see the module docstring)."""
    with factory() as session:
        facts = _vote_facts(session, release_id)
    if facts is None:
        log("the attestations of this vote were written already")
        return {"written": 0}
    name = bundle_name(facts.project, facts.version)
    if name in facts.revision_paths:
        raise ValidationError(
            f"the release already has a file named {name}; the attestation bundle needs that name"
        )
    made: list[tuple[str, str, str, str, int]] = []  # path, artifact, sha256, sha512, size
    for artifact, sbom_sha256, signers in facts.sboms:
        text = blobs.path_for(sbom_sha256).read_text("utf-8")
        enriched = release_sbom(
            text, project=facts.project, version=facts.version, revision=facts.revision,
            signers=signers, vote=facts.vote, bundle_name=name,
            public_url=settings.effective_public_url,
        )  # fmt: skip
        sha256, sha512, size = _store_blob(blobs, enriched.encode("utf-8"))
        made.append((_sbom_path(artifact, facts.revision_paths), artifact, sha256, sha512, size))
        log(f"SBOM of {artifact} names the release and its vote ({size:,} bytes)")
    now = datetime.now(UTC)
    with transaction(factory) as session:
        release = session.get(models.Release, facts.release_id, with_for_update=True)
        revision = session.get(models.Revision, facts.revision_id)
        assert release is not None and revision is not None
        if _written(session, release.id, VOTE_TRIGGER, revision_id=revision.id):
            return {"written": 0}
        for path, _artifact, sha256, sha512, size in made:
            add_blob_row(session, sha256=sha256, sha512=sha512, size=size)
            _provenance_file(session, release, path, sha256, "sbom")
        subjects = predicates.subjects(session, revision)
        sboms = [
            {"name": path, "artifact": artifact, "digest": {"sha256": sha256, "sha512": sha512}}
            for path, artifact, sha256, sha512, _size in made
        ]
        rows = [
            sign_and_store(
                session, settings, release, revision, kind="release", subjects=subjects,
                predicate=predicates.release_predicate(
                    session, settings, release, revision, sboms=sboms, bundle_name=name, now=now
                ),
                trigger=VOTE_TRIGGER,
            ),
            sign_and_store(
                session, settings, release, revision, kind="vote", subjects=subjects,
                predicate=predicates.vote_predicate(session, release, revision, now=now),
                trigger=VOTE_TRIGGER,
            ),
        ]  # fmt: skip
        build = session.get(models.RevisionBuild, revision.id)
        if build is not None and build.record:
            rows.append(
                sign_and_store(
                    session, settings, release, revision, kind="slsa", subjects=subjects,
                    predicate=predicates.slsa_predicate(dict(build.record), build.recorded_by),
                    trigger=VOTE_TRIGGER,
                )
            )  # fmt: skip
        earlier = list(
            session.scalars(
                select(models.Attestation)
                .where(
                    models.Attestation.release_id == release.id,
                    models.Attestation.kind == "codesign",
                )
                .order_by(models.Attestation.id)
            )
        )
        text = bundle_text([r.envelope for r in [*earlier, *rows]])
        sha256, sha512, size = _store_blob(blobs, text.encode("utf-8"))
        add_blob_row(session, sha256=sha256, sha512=sha512, size=size)
        _provenance_file(session, release, name, sha256, "bundle")
        log(f"wrote {len(rows)} attestations; the bundle {name} holds {len(earlier) + len(rows)}")
    return {"written": len(rows), "bundle": name, "sboms": len(made), "bundle_sha256": sha256}


def _provenance_file(
    session: Session, release: models.Release, path: str, sha256: str, kind: str
) -> None:
    row = session.get(models.ProvenanceFile, (release.id, path))
    if row is None:
        session.add(
            models.ProvenanceFile(release_id=release.id, path=path, blob_sha256=sha256, kind=kind)
        )
    else:
        row.blob_sha256 = sha256
    session.flush()


def write_for_distribution(
    factory: sessionmaker[Session], settings: Settings, distribution_id: int,
    *, log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """The distribution statement of a verified production distribution."""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        row = session.get(models.Distribution, distribution_id)
        if row is None or row.kind != "production" or row.state != "verified":
            state = "gone" if row is None else f"{row.kind} {row.state}"
            log(f"distribution {distribution_id} is {state}: nothing to attest")
            return {"written": 0}
        release = session.get(models.Release, row.release_id, with_for_update=True)
        revision = session.get(models.Revision, row.revision_id)
        assert release is not None and revision is not None
        if _written(session, release.id, DISTRIBUTION_TRIGGER, distribution_id=row.id):
            return {"written": 0}
        bundle = bundle_of(session, release)
        described = None
        if bundle is not None:
            described = {
                "name": bundle.path,
                "digest": {"sha256": bundle.blob_sha256, "sha512": bundle.blob.sha512},
            }
        written = sign_and_store(
            session, settings, release, revision, kind="distribution",
            subjects=predicates.subjects(session, revision),
            predicate=predicates.distribution_predicate(
                release, revision, row, bundle=described, now=now
            ),
            trigger=DISTRIBUTION_TRIGGER, distribution_id=row.id,
        )  # fmt: skip
        log(f"wrote the distribution attestation {written.id}")
    return {"written": 1}


def bundle_of(session: Session, release: models.Release) -> models.ProvenanceFile | None:
    """The release's distributed bundle (written when its vote passed), if any."""
    return session.scalars(
        select(models.ProvenanceFile).where(
            models.ProvenanceFile.release_id == release.id,
            models.ProvenanceFile.kind == "bundle",
        )
    ).first()


def pending_attestation(session: Session, release: models.Release) -> models.Task | None:
    """An ``attest`` task of the release that is queued or running, if any."""
    return session.scalars(
        select(models.Task).where(
            models.Task.type == TaskType.ATTEST.value,
            models.Task.project == release.project.key,
            models.Task.version == release.version,
            models.Task.state.in_((TaskState.QUEUED.value, TaskState.RUNNING.value)),
        )
    ).first()


def _published(row: models.AutomationKey) -> PublishedKey:
    return PublishedKey(
        fingerprint=row.fingerprint,
        public_key=serialization.load_pem_public_key(row.public_pem.encode()),
        use=row.use,
        algorithm=row.algorithm,
        state=row.state,
        retired_at=row.retired_at,
        revoked_at=row.revoked_at,
        reason=row.revocation_reason or "",
        pem=row.public_pem,
    )


def _out(row: models.Attestation, keys: dict[str, models.AutomationKey]) -> AttestationOut:
    key = keys.get(row.key_fingerprint)
    valid = False
    problem: str | None = "the key that signed it is not known to this agent"
    statement_data: dict[str, Any] = {}
    if key is not None:
        try:
            verified = verify_envelope(row.envelope, [_published(key)])
            statement_data = verified.statement
            valid, problem = key.state != "revoked", None
            if key.state == "revoked":
                problem = (
                    f"signed by a revoked key (revoked {key.revoked_at:%Y-%m-%d}: "
                    f"{key.revocation_reason})"
                    if key.revoked_at
                    else "signed by a revoked key"
                )
        except (AttestationInvalid, AtrError) as exc:
            problem = exc.message
    return AttestationOut(
        id=row.id,
        kind=row.kind,
        predicate_type=row.predicate_type,
        written_at=row.created_at,
        trigger=row.trigger,
        key_fingerprint=row.key_fingerprint,
        key_state=key.state if key is not None else "revoked",
        valid=valid,
        problem=problem,
        subjects=[
            {"name": s["name"], "digest": s["digest"]} for s in statement_data.get("subject", [])
        ],
        statement=statement_data,
        envelope=row.envelope,
    )


def attestation_rows(session: Session, release: models.Release) -> list[models.Attestation]:
    return list(
        session.scalars(
            select(models.Attestation)
            .where(models.Attestation.release_id == release.id)
            .order_by(models.Attestation.id)
        )
    )


def release_attestations(
    session: Session, settings: Settings, project: str, version: str
) -> ReleaseAttestations:
    """Every attestation of a release, each verified now against the key that signed it."""
    release = release_row(session, project, version)
    rows = attestation_rows(session, release)
    fingerprints = {r.key_fingerprint for r in rows}
    keys = {
        k.fingerprint: k
        for k in session.scalars(
            select(models.AutomationKey).where(models.AutomationKey.fingerprint.in_(fingerprints))
        )
    }
    bundle = bundle_of(session, release)
    name = bundle.path if bundle is not None else bundle_name(project, version)
    distributed = False
    if bundle is not None:
        distributed = (
            session.scalar(
                select(models.DistributionStep.id)
                .join(models.Distribution)
                .where(
                    models.Distribution.release_id == release.id,
                    models.DistributionStep.path == bundle.path,
                    models.DistributionStep.state == "done",
                    models.DistributionStep.verified_at.is_not(None),
                )
                .limit(1)
            )
            is not None
        )
    return ReleaseAttestations(
        project=project,
        version=version,
        bundle_name=name,
        bundle_url=f"{settings.effective_public_url}/projects/{project}/attestations/{version}",
        distributed=distributed,
        attestations=[_out(r, keys) for r in rows],
        keys=[key_out(k) for k in keys.values()],
        pending=pending_attestation(session, release) is not None,
    )
