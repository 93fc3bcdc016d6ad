"""What a check run reads, and the hash of it that decides whether a run can be reused.

The runs of a revision are planned from its file names alone
(:func:`plan_runs`): one per release-scoped check, one per artifact-scoped check
and artifact. Each run reads a known set of inputs:

* **files** — every file of the revision for a release-scoped check; the
  artifact and its companions (``.asc``, ``.sig``, checksums, ``.cdx.json``) for
  an artifact-scoped one. Only those files are handed to the check, so it cannot
  depend on anything the hash does not cover.
* **policy** — the fields of the project's effective policy (:func:`effective_policy`)
  that the check reads (its module's ``POLICY_FIELDS``; every field but the ignore
  rules for a check that does not say), so a policy change makes stale only the runs
  it affects. Ignore rules are applied when results are read, never by a check.
* **keys** — the project's KEYS entries (``project_keys``) and the registered
  keys of its committee's members, for the checks that read keys (every check
  not listed in :data:`KEYLESS_CHECKS`, so a new check is safe by default).

:func:`input_hash` is the SHA-256 over all of it plus the check's id and
version, the project and the release version. Everything it needs is in the
database (a file's SHA-256 is its blob's address), so the hash of a planned run
is computed without reading a single file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.db import models
from shared.checks.artifacts import companions, find_artifacts
from shared.checks.base import CheckModule, Scope
from shared.checks.policy import Policy
from shared.errors import ValidationError

__all__ = [
    "KEYLESS_CHECKS",
    "HashBasis",
    "PlannedRun",
    "effective_policy",
    "hash_basis",
    "input_files",
    "input_hash",
    "key_set",
    "plan_runs",
    "policy_error",
    "run_hashes",
]

KEYLESS_CHECKS = frozenset(
    {"paths", "checksums", "archives", "license_notice", "license_headers", "compiled_code", "sbom"}
)
"""Checks known not to read ``CheckInputs.keys``: a key change does not rerun them."""


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One run a revision needs: a check, and its artifact ('' for a release-scoped check)."""

    check: CheckModule
    artifact: str

    @property
    def check_id(self) -> str:
        return self.check.CHECK_ID

    @property
    def key(self) -> tuple[str, str]:
        """``(check id, artifact)``: unique among a revision's runs."""
        return (self.check.CHECK_ID, self.artifact)


def plan_runs(paths: Iterable[str]) -> list[PlannedRun]:
    """The runs for a revision with these file paths, in registry order."""
    from shared.checks.registry import CHECKS  # noqa: PLC0415 - imported on first use

    artifacts = find_artifacts(paths)
    planned: list[PlannedRun] = []
    for check in CHECKS:
        if check.SCOPE is Scope.RELEASE:
            planned.append(PlannedRun(check, ""))
        else:
            planned.extend(PlannedRun(check, artifact) for artifact in artifacts)
    return planned


def input_files(run: PlannedRun, paths: Iterable[str]) -> list[str]:
    """The release paths ``run`` reads, sorted."""
    every = sorted(paths)
    if run.check.SCOPE is Scope.RELEASE:
        return every
    found = companions(run.artifact, every)
    chosen = {run.artifact, *found.signatures, *found.binary_signatures, *found.checksums}
    if found.sbom is not None:
        chosen.add(found.sbom)
    return sorted(p for p in chosen if p in set(every))


def policy_error(exc: PydanticValidationError, *, where: str = "policy") -> ValidationError:
    """A :class:`ValidationError` naming the first bad field of a policy document."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or "(document)"
    return ValidationError(
        f"the {where} is not valid: {field}: {first['msg']}",
        hint="see docs/checks.md for the policy's fields",
    )


def effective_policy(project: models.Project) -> Policy:
    """The project's stored policy; a podling committee's projects are always podlings."""
    try:
        policy = Policy.model_validate(project.policy or {})
    except PydanticValidationError as exc:
        raise policy_error(exc, where=f"stored policy of project '{project.key}'") from exc
    if project.committee.podling and not policy.podling:
        policy = policy.model_copy(update={"podling": True})
    return policy


def key_set(session: Session, project: models.Project) -> tuple[str, ...]:
    """The armored keys the project trusts: its KEYS entries and its committee members' keys.

    Sorted by fingerprint and without duplicates, so the same set always hashes alike.
    """
    by_fingerprint: dict[str, str] = {}
    for fingerprint, armored in session.execute(
        select(models.ProjectKey.fingerprint, models.ProjectKey.armored).where(
            models.ProjectKey.project_id == project.id
        )
    ):
        by_fingerprint[fingerprint] = armored.strip() + "\n"
    for fingerprint, armored in session.execute(
        select(models.UserKey.fingerprint, models.UserKey.armored)
        .join(models.Membership, models.Membership.user_id == models.UserKey.user_id)
        .where(models.Membership.committee_id == project.committee_id)
    ):
        # A KEYS entry wins: it carries the revocation once the key is revoked.
        by_fingerprint.setdefault(fingerprint, armored.strip() + "\n")
    return tuple(by_fingerprint[f] for f in sorted(by_fingerprint))


def _digest(data: Any) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class HashBasis:
    """What every run of one revision shares: project, version, policy, keys and files."""

    project: str
    version: str
    policy: Policy
    keys: tuple[str, ...]
    files: Mapping[str, str]
    """release path → SHA-256 of its blob"""

    @property
    def policy_digest(self) -> str:
        """SHA-256 of the policy without its ignore rules."""
        return _digest(self.policy.model_dump(mode="json", exclude={"ignores"}))

    def policy_digest_for(self, check: CheckModule) -> str:
        """SHA-256 of the policy fields ``check`` reads (:func:`policy_fields`)."""
        fields = policy_fields(check)
        if fields is None:
            return self.policy_digest
        return _digest(self.policy.model_dump(mode="json", include=set(fields)))

    @property
    def keys_digest(self) -> str:
        """SHA-256 over the SHA-256 of each armored key, in fingerprint order."""
        return _digest([hashlib.sha256(k.encode()).hexdigest() for k in self.keys])


def hash_basis(session: Session, revision: models.Revision) -> HashBasis:
    """The :class:`HashBasis` of ``revision`` as the database holds it now."""
    release = revision.release
    project = release.project
    rows = session.execute(
        select(models.RevisionFile.path, models.RevisionFile.blob_sha256).where(
            models.RevisionFile.revision_id == revision.id
        )
    )
    files = {path: sha256 for path, sha256 in rows}
    return HashBasis(
        project=project.key,
        version=release.version,
        policy=effective_policy(project),
        keys=key_set(session, project),
        files=files,
    )


def input_hash(run: PlannedRun, basis: HashBasis, *, policy_digest: str, keys_digest: str) -> str:
    """The SHA-256 naming everything ``run`` reads (see the module docstring).

    ``policy_digest`` and ``keys_digest`` are :attr:`HashBasis.policy_digest` and
    :attr:`HashBasis.keys_digest`, passed in so they are computed once per revision.
    """
    files = input_files(run, basis.files)
    return _digest(
        {
            "check": run.check.CHECK_ID,
            "check_version": run.check.CHECK_VERSION,
            "artifact": run.artifact,
            "project": basis.project,
            "version": basis.version,
            "files": {path: basis.files[path] for path in files},
            "policy": policy_digest,
            "keys": None if run.check.CHECK_ID in KEYLESS_CHECKS else keys_digest,
        }
    )


def policy_fields(check: CheckModule) -> tuple[str, ...] | None:
    """The policy fields ``check`` reads: its module's ``POLICY_FIELDS``, or ``None`` (every
    field but the ignore rules) for a check that does not declare them."""
    fields = getattr(check, "POLICY_FIELDS", None)
    return None if fields is None else tuple(fields)


def run_hashes(basis: HashBasis, runs: Iterable[PlannedRun]) -> dict[tuple[str, str], str]:
    """``(check id, artifact)`` → :func:`input_hash` for each of ``runs``."""
    keys_digest = basis.keys_digest
    digests: dict[str, str] = {}
    out: dict[tuple[str, str], str] = {}
    for run in runs:
        check_id = run.check.CHECK_ID
        if check_id not in digests:
            digests[check_id] = basis.policy_digest_for(run.check)
        out[run.key] = input_hash(
            run, basis, policy_digest=digests[check_id], keys_digest=keys_digest
        )
    return out
