"""OS code signing of a release's files before its vote: Windows Authenticode and Apple.

A project opts in (its signing settings, PMC). The release manager (or a PMC member) starts
a run on a revision in phase ``compose``; the ``codesign`` task then, in a worker:

1. signs every file the settings select with the agent's active code-signing key —
   ``osslsigncode`` (Authenticode, SHA-256, the chain embedded, an RFC 3161 timestamp from
   the project's settings if set) for Windows; ``rcodesign`` (sign, then notarize and staple
   with the App Store Connect key from the vault) or the operator's remote signing host for
   Apple;
2. makes a **new revision**: the signed files replace the originals, their ``.asc`` files are
   removed (they no longer match: the release manager signs the new bytes with their own
   key — the desktop asks for it) and their ``.sha512`` / ``.sha256`` files are written anew;
3. writes a ``codesign`` attestation (each signed file, its digests before and after, the
   certificate) that goes into the release's bundle when its vote passes.

Where no tool can do it (macOS without rcodesign and without a signing host), the run is
``manual``: its instructions say how to sign on a Mac and upload the result.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db import models
from agent.db.session import transaction
from agent.engine import queue
from agent.engine.events import append_event
from agent.provenance import signers
from agent.provenance.attest import sign_and_store
from agent.provenance.keys import SigningKey, signing_key
from agent.store import (
    Conflict,
    NotFound,
    Principal,
    Store,
    add_blob_row,
    project_for,
    project_row,
    release_row,
    require_manager,
    revision_row,
)
from shared.errors import ValidationError
from shared.lifecycle import Phase
from shared.protocol import EventKind, RevisionCreate, Role, TaskType
from shared.protocol.provenance import (
    CodesignFile,
    CodesignOut,
    CodesignStart,
    SigningSettings,
)
from shared.provenance.statement import subject

__all__ = [
    "get_settings",
    "list_runs",
    "put_settings",
    "run_codesign",
    "start",
]

CODESIGN_TIMEOUT = 3 * 3600
MANUAL_MACOS = """\
No macOS signing tool is set up on this agent (rcodesign is not installed and no remote
signing host is configured). Sign these files on a Mac with the project's Developer ID:

  codesign --sign "Developer ID Application: …" --options runtime --timestamp FILE
  xcrun notarytool submit FILE --keychain-profile PROFILE --wait
  xcrun stapler staple FILE

(for a .pkg: productsign --sign "Developer ID Installer: …" IN.pkg OUT.pkg), then upload the
signed files as a new revision of the release, with their new .asc and .sha512 files.
The agent's operator can do this for every release instead: install rcodesign
(apple-codesign) on the agent host, or configure macos_signing_url (docs/provenance.md).
"""


def _matches(path: str, globs: list[str]) -> bool:
    from agent.distribute.channels.base import matches  # noqa: PLC0415 - one glob rule

    return matches(path, globs)


def get_settings(session: Session, project: str) -> SigningSettings:
    row = session.get(models.ProjectSigning, project_row(session, project).id)
    return SigningSettings.model_validate(row.settings if row is not None else {})


def put_settings(
    session: Session, principal: Principal, project: str, body: SigningSettings
) -> SigningSettings:
    """Replace the project's OS signing settings (PMC); records the change."""
    row = project_for(session, principal, project, Role.PMC, what="changing OS signing")
    if body.windows.timestamp_url and not body.windows.timestamp_url.startswith(
        ("http://", "https://")
    ):
        raise ValidationError("the timestamp server is an http:// or https:// URL")
    found = session.get(models.ProjectSigning, row.id)
    if found is None:
        found = models.ProjectSigning(project_id=row.id, settings={}, updated_by=principal.name)
        session.add(found)
    found.settings = body.model_dump(mode="json")
    found.updated_by = principal.name
    found.updated_at = datetime.now(UTC)
    session.flush()
    append_event(
        session,
        EventKind.SIGNING_SETTINGS_CHANGED,
        actor=principal.name,
        project=project,
        data={"windows": body.windows.enabled, "macos": body.macos.enabled},
    )
    return body


def _out(session: Session, run: models.CodesignRun) -> CodesignOut:
    release = session.get(models.Release, run.release_id)
    assert release is not None
    source = session.get(models.Revision, run.from_revision_id)
    target = session.get(models.Revision, run.to_revision_id) if run.to_revision_id else None
    files = [CodesignFile.model_validate(f) for f in run.files]
    return CodesignOut(
        id=run.id,
        project=release.project.key,
        version=release.version,
        kind=run.kind,
        state=run.state,
        from_revision=source.number if source is not None else 0,
        to_revision=target.number if target is not None else None,
        method=run.method,
        files=files,
        instructions=run.instructions,
        error=run.error,
        key_fingerprint=run.key_fingerprint,
        started_by=run.started_by,
        created_at=run.created_at,
        finished_at=run.finished_at,
        resign=[f.path for f in files if f.state == "signed"],
    )


def list_runs(session: Session, project: str, version: str) -> list[CodesignOut]:
    release = release_row(session, project, version)
    runs = session.scalars(
        select(models.CodesignRun)
        .where(models.CodesignRun.release_id == release.id)
        .order_by(models.CodesignRun.id)
    )
    return [_out(session, r) for r in runs]


def _method(settings: Settings, kind: str) -> str:
    if kind == "windows":
        return "osslsigncode"
    if signers.tool_path(settings.rcodesign):
        return "rcodesign"
    if settings.macos_signing_url:
        return "remote"
    return "manual"


def start(
    session: Session, settings: Settings, principal: Principal, project: str, version: str,
    *, body: CodesignStart,
) -> CodesignOut:  # fmt: skip
    """Start signing the revision's Windows or macOS files (see the module docstring)."""
    release = release_row(session, project, version, lock=True)
    require_manager(principal, release, what="signing the release's files for an OS")
    if release.phase != Phase.COMPOSE.value:
        raise Conflict(
            f"release {project} {version} is in phase '{release.phase}'; files are signed for "
            "an OS in phase 'compose', before the checks and the vote",
            hint="move the release back to 'compose' first",
        )
    wanted = get_settings(session, project)
    chosen = wanted.windows if body.kind == "windows" else wanted.macos
    if not chosen.enabled:
        raise Conflict(
            f"project {project} does not sign its {body.kind} files",
            hint=f"a PMC member turns it on: atr codesign settings {project} --set FILE",
        )
    revision = revision_row(session, release, body.revision)
    paths = sorted(f.path for f in revision.files if _matches(f.path, chosen.files))
    if not paths:
        raise ValidationError(
            f"revision {revision.number} of {project} {version} has no file matching "
            f"{', '.join(chosen.files)}"
        )
    method = _method(settings, body.kind)
    key = None
    if method != "manual":
        fingerprint = wanted.windows.key if body.kind == "windows" else None
        key = signing_key(session, settings, "codesign", fingerprint=fingerprint)
    run = models.CodesignRun(
        release_id=release.id,
        kind=body.kind,
        state="manual" if method == "manual" else "queued",
        method=method,
        from_revision_id=revision.id,
        files=[
            CodesignFile(path=p, state="manual" if method == "manual" else "pending").model_dump(
                mode="json"
            )
            for p in paths
        ],
        instructions=MANUAL_MACOS if method == "manual" else "",
        key_fingerprint=key.fingerprint if key is not None else None,
        started_by=principal.name,
        created_at=datetime.now(UTC),
    )
    session.add(run)
    session.flush()
    append_event(
        session,
        EventKind.CODESIGN_STARTED,
        actor=principal.name,
        project=project,
        version=version,
        data={"run": run.id, "kind": body.kind, "method": method, "files": paths,
              "revision": revision.number},
    )  # fmt: skip
    if method != "manual":
        task = queue.enqueue(
            session, TaskType.CODESIGN, project=project, version=version,
            revision=revision.number, args={"run": run.id}, created_by=principal.name,
            max_attempts=3, timeout_seconds=CODESIGN_TIMEOUT,
        )  # fmt: skip
        run.task_id = task.id
        session.flush()
    return _out(session, run)


def _digests(path: Path) -> tuple[str, str]:
    sha256 = hashlib.sha256()
    sha512 = hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            sha256.update(chunk)
            sha512.update(chunk)
    return sha256.hexdigest(), sha512.hexdigest()


def _checksum_blob(blobs: BlobStore, workdir: Path, name: str, digest: str) -> tuple[str, str, int]:
    text = f"{digest}  {name}\n".encode()
    tmp = workdir / f"{name}.checksum"
    tmp.write_bytes(text)
    info = blobs.put_file(tmp)
    return info.sha256, info.sha512, info.size


def _finish(
    factory: sessionmaker[Session], run_id: int, *, state: str, error: str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> None:  # fmt: skip
    with transaction(factory) as session:
        run = session.get(models.CodesignRun, run_id, with_for_update=True)
        if run is None:
            return
        run.state = state
        run.error = error
        run.finished_at = datetime.now(UTC)
        if files is not None:
            run.files = files
        release = session.get(models.Release, run.release_id)
        assert release is not None
        append_event(
            session,
            EventKind.CODESIGN_FINISHED,
            actor="atr-agent",
            project=release.project.key,
            version=release.version,
            data={"run": run.id, "kind": run.kind, "state": state, "error": error},
        )


@dataclass(frozen=True)
class _Job:
    """What a worker needs to sign one run's files, read once."""

    run_id: int
    kind: str
    method: str
    project: str
    version: str
    number: int
    wanted: SigningSettings
    key: SigningKey
    api_key: str | None
    token: str | None
    sources: dict[str, str]
    """release path → blob SHA-256 of the revision signed"""
    paths: list[str]


def _sign_one(job: _Job, settings: Settings, source: Path, target: Path, workdir: Path) -> str:
    run, wanted, key = job, job.wanted, job.key
    api_key, token = job.api_key, job.token
    if run.kind == "windows":
        return signers.authenticode(
            source, target, tool=settings.osslsigncode, key=key.private_key,
            certificate_pem=key.certificate_pem or "", workdir=workdir,
            description=wanted.windows.description, url=wanted.windows.url,
            timestamp_url=wanted.windows.timestamp_url,
        )  # fmt: skip
    if run.method == "rcodesign":
        return signers.apple_rcodesign(
            source, target, tool=settings.rcodesign, key=key.private_key,
            certificate_pem=key.certificate_pem or "", workdir=workdir,
            api_key_json=api_key if wanted.macos.notarize else None,
        )  # fmt: skip
    return signers.apple_remote(
        source, target, url=settings.macos_signing_url or "", token=token,
        notarize=wanted.macos.notarize,
    )  # fmt: skip


def _vault_secret(session: Session, settings: Settings, name: str | None) -> str | None:
    if not name:
        return None
    from agent.vault import Vault  # noqa: PLC0415

    row = session.get(models.Credential, name)
    if row is None:
        raise signers.SigningFailed(f"the vault has no credential {name!r}")
    vault = Vault.open(data_dir=settings.data_dir, key_file=settings.vault_key_file)
    return vault.decrypt(row.ciphertext, name=name).decode("utf-8")


def _load(factory: sessionmaker[Session], settings: Settings, run_id: int) -> _Job | None:
    with factory() as session:
        run = session.get(models.CodesignRun, run_id)
        if run is None:
            raise NotFound(f"code-signing run {run_id} is gone")
        if run.state in ("done", "failed", "manual"):
            return None
        release = session.get(models.Release, run.release_id)
        revision = session.get(models.Revision, run.from_revision_id)
        assert release is not None and revision is not None
        wanted = get_settings(session, release.project.key)
        notarize = run.kind == "macos" and run.method == "rcodesign" and wanted.macos.notarize
        return _Job(
            run_id=run.id,
            kind=run.kind,
            method=run.method,
            project=release.project.key,
            version=release.version,
            number=revision.number,
            wanted=wanted,
            key=signing_key(session, settings, "codesign", fingerprint=run.key_fingerprint),
            api_key=_vault_secret(session, settings, settings.apple_api_key_credential)
            if notarize
            else None,
            token=_vault_secret(session, settings, settings.macos_signing_credential)
            if run.method == "remote"
            else None,
            sources={f.path: f.blob_sha256 for f in revision.files},
            paths=[f["path"] for f in run.files],
        )


_Signed = dict[str, tuple[str, str, int, str, str]]
"""path → (sha256, sha512, size) after signing, (sha256, sha512) before"""


def _sign_all(
    job: _Job, blobs: BlobStore, settings: Settings, log: Callable[[str], None]
) -> tuple[_Signed, list[dict[str, Any]]]:
    workdir = blobs.tmp_dir
    signed: _Signed = {}
    files: list[dict[str, Any]] = []
    for path in job.paths:
        source = blobs.path_for(job.sources[path])
        target = workdir / f"signed-{job.run_id}-{Path(path).name}"
        before = _digests(source)
        log(f"signing {path} ({job.method})")
        try:
            _sign_one(job, settings, source, target, workdir)
            cert = job.key.certificate_pem
            if job.kind == "windows" and cert and signers.chain_is_rooted(cert):
                signers.authenticode_verify(
                    target, tool=settings.osslsigncode, certificate_pem=cert, workdir=workdir
                )
                log(f"{path}: osslsigncode verify: ok")
            info = blobs.put_file(target)
        finally:
            target.unlink(missing_ok=True)
        signed[path] = (info.sha256, info.sha512, info.size, before[0], before[1])
        files.append(
            CodesignFile(
                path=path, state="signed", sha512_before=before[1], sha512_after=info.sha512,
                message=f"signed with {job.key.fingerprint[:16]}…",
            ).model_dump(mode="json")
        )  # fmt: skip
    return signed, files


def _predicate(job: _Job, signed: _Signed, new_number: int) -> dict[str, Any]:
    cert = job.key.certificate_pem or ""
    leaf = cert.split("-----END CERTIFICATE-----")[0] + "-----END CERTIFICATE-----\n"
    return {
        "project": job.project,
        "version": job.version,
        "kind": job.kind,
        "method": job.method,
        "fromRevision": job.number,
        "toRevision": new_number,
        "certificate": {"fingerprint": job.key.fingerprint, "pem": leaf if cert else None},
        "timestampUrl": job.wanted.windows.timestamp_url if job.kind == "windows" else None,
        "files": [
            {
                "name": p,
                "before": {"sha256": v[3], "sha512": v[4]},
                "after": {"sha256": v[0], "sha512": v[1]},
            }
            for p, v in signed.items()
        ],
        "writtenAt": datetime.now(UTC).isoformat(),
    }


def _commit(
    factory: sessionmaker[Session], settings: Settings, job: _Job, signed: _Signed,
    *, checksums: dict[str, tuple[str, str, int]], files: list[dict[str, Any]],
) -> int | str:  # fmt: skip
    """The new revision, the attestation and the run's end, in one transaction: the new
    revision's number, or why it could not be made."""
    from agent.phases import create_revision  # noqa: PLC0415 - phases imports the checks

    with transaction(factory) as session:
        release = release_row(session, job.project, job.version, lock=True)
        if release.phase != Phase.COMPOSE.value:
            error = (
                f"the release moved to '{release.phase}' while its files were signed; move it "
                "back to 'compose' and sign again"
            )
            _fail_in(session, job.run_id, error, files)
            return error
        for sha256, sha512, size in [*(v[:3] for v in signed.values()), *checksums.values()]:
            add_blob_row(session, sha256=sha256, sha512=sha512, size=size)
        what = "Authenticode" if job.kind == "windows" else "Apple"
        body = RevisionCreate(
            base=job.number,
            files={p: v[0] for p, v in [*signed.items(), *checksums.items()]},
            remove=[p + ".asc" for p in signed if p + ".asc" in job.sources],
            message=f"{what} signatures by the agent (key {job.key.fingerprint[:16]}…) of "
            f"{', '.join(signed)}; sign them again with your OpenPGP key",
        )
        new = create_revision(Store(session, Principal.operator()), job.project, job.version, body)
        revision = revision_row(session, release, new.number)
        sign_and_store(
            session, settings, release, revision, kind="codesign",
            subjects=[subject(p, sha256=v[0], sha512=v[1]) for p, v in signed.items()],
            predicate=_predicate(job, signed, new.number), trigger="files signed for an OS",
        )  # fmt: skip
        row = session.get(models.CodesignRun, job.run_id, with_for_update=True)
        assert row is not None
        row.to_revision_id = revision.id
        row.state = "done"
        row.files = files
        row.finished_at = datetime.now(UTC)
        append_event(
            session, EventKind.CODESIGN_FINISHED, actor="atr-agent", project=job.project,
            version=job.version,
            data={"run": job.run_id, "kind": job.kind, "state": "done", "revision": new.number,
                  "resign": sorted(signed)},
        )  # fmt: skip
        return new.number


def run_codesign(
    factory: sessionmaker[Session], blobs: BlobStore, settings: Settings, run_id: int,
    *, log: Callable[[str], None],
) -> dict[str, Any]:  # fmt: skip
    """The ``codesign`` task's work (see the module docstring)."""
    job = _load(factory, settings, run_id)
    if job is None:
        return {"state": "finished before"}
    try:
        signed, files = _sign_all(job, blobs, settings, log)
    except signers.SigningFailed as exc:
        failed = [
            CodesignFile(path=p, state="failed", message=exc.message).model_dump(mode="json")
            for p in job.paths
        ]
        _finish(factory, run_id, state="failed", error=exc.message, files=failed)
        log(f"signing failed: {exc.message}")
        return {"state": "failed", "error": exc.message}
    checksums: dict[str, tuple[str, str, int]] = {}
    for path, (sha256, sha512, _size, _b256, _b512) in signed.items():
        for suffix, digest in ((".sha512", sha512), (".sha256", sha256)):
            if path + suffix in job.sources:  # written anew: the old one names the old bytes
                checksums[path + suffix] = _checksum_blob(
                    blobs, blobs.tmp_dir, Path(path).name, digest
                )
    outcome = _commit(factory, settings, job, signed, checksums=checksums, files=files)
    if isinstance(outcome, str):
        log(outcome)
        return {"state": "failed", "error": outcome}
    log(f"revision {outcome}: {len(signed)} signed file(s); their .asc must be made again")
    return {"state": "done", "revision": outcome, "signed": sorted(signed)}


def _fail_in(session: Session, run_id: int, error: str, files: list[dict[str, Any]]) -> None:
    row = session.get(models.CodesignRun, run_id)
    if row is None:
        return
    row.state = "failed"
    row.error = error
    row.files = files
    row.finished_at = datetime.now(UTC)
    release = session.get(models.Release, row.release_id)
    assert release is not None
    append_event(
        session, EventKind.CODESIGN_FINISHED, actor="atr-agent", project=release.project.key,
        version=release.version, data={"run": run_id, "kind": row.kind, "state": "failed",
                                       "error": error},
    )  # fmt: skip
