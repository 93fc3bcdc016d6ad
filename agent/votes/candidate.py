"""What the ``[VOTE]`` mail and the candidate page say about a revision under vote.

For each artifact (a file that is not a signature, checksum, SBOM or a document such
as README, NOTICE or CHANGES): its size and
SHA-512, which signature and checksum files the revision has for it, and who signed
it — read from the results of the ``signatures`` check of the revision (the agent
verified each ``.asc`` with GnuPG against the project's keys), each signer with
whether their key is in the project's KEYS (and revoked there). Also the revision's
release notes: a ``CHANGES`` / ``RELEASE-NOTES`` / ``NEWS`` file at its top.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import quote

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from shared.checks.artifacts import FileKind, classify
from shared.votes import is_artifact

__all__ = [
    "SBOM_SUFFIX",
    "CandidateArtifact",
    "Signer",
    "candidate_artifacts",
    "file_url",
    "release_notes_files",
]

SBOM_SUFFIX = ".cdx.json"
"""The candidate page serves the SBOM the agent made for ``A`` at ``A.cdx.json``."""
SIGNATURES_CHECK = "signatures"
_NOTES = re.compile(
    r"^(CHANGES|CHANGELOG|CHANGE-LOG|RELEASE[-_ ]?NOTES|NEWS)([-_.][A-Za-z0-9._-]*)?$",
    re.IGNORECASE,
)

KeysState = Literal["in KEYS", "revoked in KEYS", "not in KEYS"]


@dataclass(frozen=True, slots=True)
class Signer:
    """Who made a good signature of an artifact, and their key's standing in KEYS."""

    fingerprint: str
    user_id: str
    keys: KeysState

    @property
    def spaced(self) -> str:
        """The fingerprint in groups of four, as ``gpg`` prints it."""
        return " ".join(self.fingerprint[i : i + 4] for i in range(0, len(self.fingerprint), 4))

    @property
    def in_keys(self) -> bool:
        return self.keys == "in KEYS"


@dataclass(frozen=True, slots=True)
class CandidateArtifact:
    """One artifact of the revision and what goes with it."""

    path: str
    size: int
    sha512: str
    signature: str | None
    """The path of its ``.asc``, if the revision has one."""
    checksum: str | None
    """The path of its ``.sha512`` (else ``.sha256``), if the revision has one."""
    sbom: bool
    """Whether an SBOM of it is served (``A.cdx.json``)."""
    signers: tuple[Signer, ...]


def file_url(base: str, path: str) -> str:
    """The URL of a release path below ``base`` (the candidate page's URL, or "")."""
    return base + quote(path, safe="/")


def _signers(session: Session, revision: models.Revision) -> dict[str, list[tuple[str, str]]]:
    """Artifact → (fingerprint, user id) of each verified signer, from the signatures check."""
    rows = session.execute(
        select(models.CheckRun.artifact, models.CheckResultRow.data)
        .join(models.CheckResultRow, models.CheckResultRow.run_id == models.CheckRun.id)
        .where(
            models.CheckRun.revision_id == revision.id,
            models.CheckRun.check_id == SIGNATURES_CHECK,
        )
    )
    found: dict[str, list[tuple[str, str]]] = {}
    for artifact, data in rows:
        if not isinstance(data, dict):
            continue
        user_ids = data.get("user_ids") or []
        who = str(user_ids[0]) if user_ids else ""
        for fingerprint in data.get("fingerprints") or []:
            pair = (str(fingerprint).upper(), who)
            found.setdefault(str(artifact), [])
            if pair not in found[str(artifact)]:
                found[str(artifact)].append(pair)
    return found


def _keys_state(session: Session, project: models.Project) -> dict[str, KeysState]:
    rows = session.execute(
        select(models.ProjectKey.fingerprint, models.ProjectKey.revoked_at).where(
            models.ProjectKey.project_id == project.id
        )
    )
    return {fpr.upper(): "revoked in KEYS" if revoked else "in KEYS" for fpr, revoked in rows}


def candidate_artifacts(session: Session, revision: models.Revision) -> list[CandidateArtifact]:
    """The revision's artifacts, with their signature, checksum, SBOM and signers."""
    files = {f.path: f for f in revision.files}
    project = revision.release.project
    sboms = set(
        session.scalars(
            select(models.RevisionSbom.artifact).where(
                models.RevisionSbom.revision_id == revision.id
            )
        )
    )
    signed = _signers(session, revision)
    keys = _keys_state(session, project)
    out = []
    for path, f in sorted(files.items()):
        if (
            not is_artifact(path)
            or path.endswith(SBOM_SUFFIX)
            or classify(path) is FileKind.DOCUMENT
        ):
            continue
        checksum = next((path + s for s in (".sha512", ".sha256") if path + s in files), None)
        out.append(
            CandidateArtifact(
                path=path,
                size=f.blob.size,
                sha512=f.blob.sha512,
                signature=path + ".asc" if path + ".asc" in files else None,
                checksum=checksum,
                sbom=path + SBOM_SUFFIX in files or path in sboms,
                signers=tuple(
                    Signer(fpr, who, keys.get(fpr, "not in KEYS"))
                    for fpr, who in signed.get(path, [])
                ),
            )
        )
    return out


def release_notes_files(revision: models.Revision) -> list[str]:
    """The revision's release notes: ``CHANGES``, ``RELEASE-NOTES``, ``NEWS``… at its top."""
    return sorted(
        f.path
        for f in revision.files
        if "/" not in f.path and _NOTES.match(f.path) and classify(f.path) is FileKind.DOCUMENT
    )
