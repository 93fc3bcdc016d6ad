"""All past releases: every release of an ASF-style dist folder recorded, checked and listed.

``atr-agent import-dist PROJECT --from …/dist/release/PROJECT [--dev …/dist/dev/PROJECT]``
(and ``POST /api/v1/projects/{key}/import-dist``, a task) reads the folders as the ASF
publishes them today:

* one listing (``svn ls -R --xml``) gives every file with its size and last commit;
* a release is found by a version **folder** at any depth (``1.2.3``, ``v9.0.85``,
  ``foo-2.4.1``, inside line folders such as ``2.x/`` or ``tomcat-9/``) or, in flat
  layouts, by the version in an **artifact's name** (``apache-foo-1.2.3-src.tar.gz``);
  signatures and checksums go with their artifact;
* the ``KEYS`` file at the project's root is imported into the project's keys (block by
  block, as ``atr keys import`` does) and every ``.asc`` is verified against it with GnuPG;
* checksums are read in every format people publish (``sha512sum``, BSD tags, GnuPG's
  ``--print-md`` layout over several lines, a bare digest) and compared; a release with
  only ``.md5`` / ``.sha1`` is recorded with what it has, and says so;
* each file is stored in the blob store (so the download page can serve it) and its
  SHA-512 kept.

A release of ``dist/release`` is recorded as ``announced`` (released on the date of its
artifacts' commit), a ``dist/dev`` candidate (``1.2.0-rc1``) as a release in ``checks``
whose checks run at once — unless that version is released already. Each becomes a
``release.imported`` event. A version the project already has (imported before, or made
by the agent) is left as it is: a second run adds only what is new.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent import phases
from agent.blobs import BlobStore
from agent.db import models
from agent.engine.events import append_event
from agent.keys.service import import_keys_file
from agent.store import Principal, Store, add_blob_row, project_row, release_row
from agent.triggers.svnread import SvnEntry, SvnReader
from shared import protocol as p
from shared.checks.artifacts import CHECKSUM_SUFFIXES, artifact_of
from shared.checks.checksums import ChecksumFormatError, hash_file, parse_checksum_file
from shared.errors import ValidationError
from shared.ids import check_version
from shared.lifecycle import Phase
from shared.openpgp.gnupg import Keyring, SignatureStatus
from shared.openpgp.keysfile import parse_keys
from shared.protocol import EventKind
from shared.protocol.keys import KeysImport
from shared.protocol.triggers import ImportedFile, ImportedRelease, ImportReport
from shared.votes import is_artifact

__all__ = ["Found", "find_releases", "import_dist"]

Sessions = Callable[[], AbstractContextManager[Session]]
Log = Callable[[str], None]

_VERSION = r"\d+(?:\.\d+)+(?:[-.+~]?(?:[A-Za-z]+\d*|\d+))*"
_FOLDER_RE = re.compile(rf"^(?:[A-Za-z][A-Za-z0-9_.-]*?[-_])?v?(?P<v>{_VERSION})$")
_NAME_VERSION = r"\d+(?:\.\d+)+(?:[-.](?:M|RC|rc|alpha|beta|Alpha|Beta|milestone|preview)\d*)?"
_NAME_RE = re.compile(rf"[-_]v?(?P<v>{_NAME_VERSION})(?=[-_.]|$)")
_RC_RE = re.compile(r"^(?P<v>.+?)[-_.]?(?:rc|RC|Rc)(?P<n>\d+)$")
_STRENGTH = ("sha512", "sha256", "sha1", "md5")
_IGNORED_NAMES = frozenset({"KEYS", "HEADER.html", "README.html", "README.txt", ".htaccess"})


@dataclass
class Found:
    """One release found in the listing: its version, where it sits, its files."""

    version: str
    folder: str
    """The release's folder below the project's root ('' for the root itself)."""
    files: dict[str, SvnEntry] = field(default_factory=dict)
    """path below the project's root → entry"""
    whole_folder: bool = False
    rc: int | None = None

    def release_path(self, path: str) -> str:
        """The file's path inside the release (relative to its folder)."""
        return path[len(self.folder) + 1 :] if self.folder else path


def _folder_version(part: str) -> str | None:
    match = _FOLDER_RE.match(part)
    return match.group("v") if match else None


def _name_version(name: str) -> str | None:
    found = _NAME_RE.findall(name)
    return found[-1] if found else None


def _split_rc(version: str) -> tuple[str, int | None]:
    match = _RC_RE.match(version)
    if match and re.search(r"\d$", match.group("v")):
        return match.group("v"), int(match.group("n"))
    return version, None


def find_releases(entries: list[SvnEntry], *, dev: bool = False) -> tuple[list[Found], list[str]]:
    """Group a recursive listing into releases; also the files that belong to none."""
    releases: dict[tuple[str, str], Found] = {}
    skipped: list[str] = []
    files = [e for e in entries if e.kind == "file"]
    folders = {e.path for e in entries if e.kind == "dir"}
    for entry in files:
        pure = PurePosixPath(entry.path)
        if pure.name in _IGNORED_NAMES:
            continue
        version = None
        folder = ""
        for depth in range(len(pure.parts) - 1, 0, -1):  # innermost version folder wins
            candidate = _folder_version(pure.parts[depth - 1])
            if candidate is not None:
                version, folder = candidate, "/".join(pure.parts[:depth])
                break
        whole = version is not None
        if version is None:
            owner = artifact_of(pure.name) or pure.name
            version = _name_version(owner)
            folder = str(pure.parent) if str(pure.parent) != "." else ""
        if version is None:
            skipped.append(f"{entry.path}: no version in its folder or name")
            continue
        rc: int | None = None
        if dev:
            version, rc = _split_rc(version)
        try:
            check_version(version)
        except ValidationError:
            skipped.append(f"{entry.path}: {version!r} is not a version")
            continue
        key = (folder, version)
        found = releases.setdefault(key, Found(version=version, folder=folder, rc=rc))
        found.whole_folder = whole and folder in folders | {""}
        found.files[entry.path] = entry
    out = [r for r in releases.values() if any(is_artifact(path) for path in r.files)]
    for r in releases.values():
        if r not in out:
            skipped.append(
                f"{r.folder or '.'} ({r.version}): no artifact, only signatures/checksums"
            )
    return sorted(out, key=lambda r: (r.folder, r.version)), skipped


# --- verification -------------------------------------------------------------------------------


def _signature(ring: Keyring | None, artifact: Path, asc: Path | None) -> tuple[str, str | None]:
    if asc is None:
        return "missing", None
    if ring is None:
        return SignatureStatus.NO_PUBLIC_KEY.value, None
    results = ring.verify(artifact, asc.read_bytes())
    if not results:
        return SignatureStatus.ERROR.value, None
    first = next((r for r in results if r.valid), results[0])
    return first.status.value, first.primary_fingerprint or first.fingerprint


def _checksum(artifact: Path, sums: dict[str, Path], name: str) -> str:
    """The strongest algorithm whose published digest matches; ``mismatch``; ``missing``."""
    if not sums:
        return "missing"
    wanted: dict[str, str] = {}
    for algorithm, path in sums.items():
        try:
            entries = parse_checksum_file(path.read_text("utf-8", "replace"))
        except ChecksumFormatError:
            continue
        entry = next(
            (e for e in entries if e.name and e.name.rsplit("/", 1)[-1] == name), entries[0]
        )
        wanted[algorithm] = entry.digest
    if not wanted:
        return "mismatch"
    actual = hash_file(artifact, set(wanted))
    matched = [a for a in _STRENGTH if a in wanted and wanted[a] == actual[a]]
    if len(matched) != len(wanted):
        return "mismatch"
    return matched[0]


def _signers(session: Session, project: models.Project, fingerprints: set[str]) -> dict[str, str]:
    """Fingerprint → a name for people: the user owning the key, else the key's user id."""
    names: dict[str, str] = {}
    for row in session.scalars(
        select(models.ProjectKey).where(
            models.ProjectKey.project_id == project.id,
            models.ProjectKey.fingerprint.in_(fingerprints),
        )
    ):
        owner = session.get(models.User, row.owner_user_id) if row.owner_user_id else None
        uid = row.user_ids[0] if row.user_ids else row.fingerprint
        names[row.fingerprint] = owner.name if owner else uid.split("<")[0].strip() or uid
    for user_key in session.scalars(
        select(models.UserKey).where(models.UserKey.fingerprint.in_(fingerprints))
    ):
        names[user_key.fingerprint] = user_key.user.name
    return names


# --- the import ---------------------------------------------------------------------------------


@dataclass
class _Context:
    project: str
    read: Sessions
    write: Sessions
    blobs: BlobStore
    principal: Principal
    log: Log
    work: Path


def _fetch(svn: SvnReader, url: str, found: Found, dest: Path) -> dict[str, Path]:
    """The release's files on disk: one export of its folder, or one cat per file."""
    local: dict[str, Path] = {}
    if found.whole_folder and found.folder:
        svn.run("export", "--force", "-q", f"{url}/{found.folder}", str(dest), what="export")
        for path in found.files:
            local[path] = dest / found.release_path(path)
    else:
        for path in found.files:
            target = dest / found.release_path(path)
            svn.cat(f"{url}/{path}", target)
            local[path] = target
    return local


def _verify(found: Found, local: dict[str, Path], ring: Keyring | None) -> list[dict[str, Any]]:
    by_name = {found.release_path(path): local[path] for path in found.files}
    out = []
    for name, path in sorted(by_name.items()):
        if not is_artifact(name):
            continue
        sums = {
            alg: by_name[name + suffix]
            for suffix, alg in CHECKSUM_SUFFIXES.items()
            if name + suffix in by_name
        }
        status, signer = _signature(ring, path, by_name.get(name + ".asc"))
        out.append(
            {
                "path": name,
                "signature": status,
                "fingerprint": signer,
                "checksum": _checksum(path, sums, PurePosixPath(name).name),
            }
        )
    return out


def _store_release(
    ctx: _Context,
    found: Found,
    *,
    area: str,
    url: str,
    local: dict[str, Path],
    verified: list[dict[str, Any]],
) -> ImportedRelease | None:
    infos = {found.release_path(path): ctx.blobs.put_file(local[path]) for path in found.files}
    released = min(e.date for e in found.files.values())
    svn_revision = max(e.revision for e in found.files.values())
    with ctx.write() as session:
        project = project_row(session, ctx.project)
        exists = session.scalar(
            select(models.Release.id).where(
                models.Release.project_id == project.id, models.Release.version == found.version
            )
        )
        if exists is not None:
            return None  # made meanwhile (another import, a trigger)
        names = _signers(session, project, {v["fingerprint"] for v in verified if v["fingerprint"]})
        files = []
        for v in verified:
            info = infos[v["path"]]
            files.append(
                ImportedFile(
                    path=v["path"],
                    size=info.size,
                    sha512=info.sha512,
                    signature=v["signature"],
                    checksum=v["checksum"],
                    signer=names.get(v["fingerprint"] or "", v["fingerprint"]),
                )
            )
        for info in infos.values():
            add_blob_row(session, sha256=info.sha256, sha512=info.sha512, size=info.size)
        signer = next((f.signer for f in files if f.signature == "good" and f.signer), None)
        if area == "release":
            phase = _record_released(
                session,
                project,
                found=found,
                infos=infos,
                ctx=ctx,
                released=released,
                signer=signer,
            )
        else:
            phase = _record_candidate(session, ctx, found, infos)
        release = release_row(session, ctx.project, found.version)
        session.add(
            models.ImportedReleaseRow(
                release_id=release.id,
                area=area,
                source_url=url,
                path=found.folder or ".",
                svn_revision=svn_revision,
                released_at=released,
                files=[f.model_dump(mode="json") for f in files],
                imported_by=ctx.principal.name,
            )
        )
        out = ImportedRelease(
            version=found.version,
            area="release" if area == "release" else "dev",
            phase=phase,
            path=found.folder or ".",
            released_at=released,
            svn_revision=svn_revision,
            files=files,
        )
        append_event(
            session,
            EventKind.RELEASE_IMPORTED,
            actor=ctx.principal.name,
            project=ctx.project,
            version=found.version,
            data={
                "area": area,
                "source": f"{url}/{found.folder}" if found.folder else url,
                "svn_revision": svn_revision,
                "released_at": released.isoformat(),
                "files": len(infos),
                "signatures": {
                    s: sum(1 for f in files if f.signature == s)
                    for s in sorted({f.signature for f in files})
                },
                "checksums": {
                    c: sum(1 for f in files if f.checksum == c)
                    for c in sorted({f.checksum for f in files})
                },
                "signer": signer,
            },
        )
    return out


def _record_released(
    session: Session,
    project: models.Project,
    *,
    found: Found,
    infos: dict[str, p.BlobInfo],
    ctx: _Context,
    released: datetime,
    signer: str | None,
) -> Phase:
    """A published release: recorded as announced, as it was, with one revision."""
    release = models.Release(
        project_id=project.id,
        version=found.version,
        phase=Phase.ANNOUNCED.value,
        created_by=signer
        if signer and re.fullmatch(r"[a-z_][a-z0-9_.-]{0,63}", signer)
        else ctx.principal.name,
        created_at=released,
        updated_at=released,
    )
    session.add(release)
    session.flush()
    revision = models.Revision(
        release_id=release.id,
        number=1,
        message=f"imported from the dist repository ({found.folder or '.'})",
        created_by=ctx.principal.name,
        created_at=released,
    )
    session.add(revision)
    session.flush()
    for path, info in sorted(infos.items()):
        session.add(
            models.RevisionFile(revision_id=revision.id, path=path, blob_sha256=info.sha256)
        )
    session.flush()
    return Phase.ANNOUNCED


def _record_candidate(
    session: Session, ctx: _Context, found: Found, infos: dict[str, p.BlobInfo]
) -> Phase:
    """A candidate of dist/dev: a release whose checks run now (the gate makes it a
    candidate when they pass)."""
    store = Store(session, ctx.principal)
    store.as_committer(ctx.project).create_release(p.ReleaseCreate(version=found.version))
    body = p.RevisionCreate(
        files={path: info.sha256 for path, info in infos.items()},
        message=f"imported from dist/dev ({found.folder}, rc{found.rc})"
        if found.rc is not None
        else f"imported from dist/dev ({found.folder})",
    )
    phases.create_revision(store, ctx.project, found.version, body)
    phases.transition(
        store,
        ctx.project,
        found.version,
        p.TransitionRequest(to=Phase.CHECKS, reason="imported candidate: check it"),
    )
    return Phase(release_row(session, ctx.project, found.version).phase)


def _known(read: Sessions, project: str) -> set[str]:
    with read() as session:
        row = project_row(session, project)
        return set(
            session.scalars(
                select(models.Release.version).where(models.Release.project_id == row.id)
            )
        )


def _import_keys(
    ctx: _Context, svn: SvnReader, url: str, entries: list[SvnEntry]
) -> tuple[int, str | None]:
    if not any(e.path == "KEYS" and e.kind == "file" for e in entries):
        return 0, None
    target = ctx.work / "KEYS"
    svn.cat(f"{url}/KEYS", target)
    text = target.read_text("utf-8", "replace")
    result = import_keys_file(
        ctx.project,
        KeysImport(keys_file=text),
        principal=ctx.principal,
        read=ctx.read,
        write=ctx.write,
        blob_path=ctx.blobs.path_for,
    )
    ctx.log(f"KEYS: {len(result.imported)} key(s) imported, {len(result.skipped)} block(s) skipped")
    return len(result.imported), text


def _area(
    ctx: _Context, svn: SvnReader, url: str, *, area: str, keys_text: str | None
) -> tuple[list[ImportedRelease], int, list[str]]:
    entries = svn.list_recursive(url)
    found, skipped = find_releases(entries, dev=area == "dev")
    known = _known(ctx.read, ctx.project)
    added: list[ImportedRelease] = []
    known_count = 0
    blocks = parse_keys(keys_text).blocks if keys_text else ()
    with Keyring.for_blocks(blocks) as ring:
        for release in found:
            if release.version in known:
                known_count += 1
                continue
            dest = ctx.work / area / release.version
            try:
                local = _fetch(svn, url, release, dest)
                verified = _verify(release, local, ring if keys_text else None)
                stored = _store_release(
                    ctx, release, area=area, url=url, local=local, verified=verified
                )
            finally:
                shutil.rmtree(dest, ignore_errors=True)
            if stored is None:
                known_count += 1
                continue
            known.add(release.version)
            added.append(stored)
            good = sum(1 for f in stored.files if f.signature == "good")
            ctx.log(
                f"{area} {release.version}: {len(release.files)} files, {good} of "
                f"{len(stored.files)} signature(s) good"
            )
    return added, known_count, skipped


def import_dist(
    *,
    project: str,
    release_url: str,
    dev_url: str | None,
    read: Sessions,
    write: Sessions,
    blobs: BlobStore,
    principal: Principal,
    log: Log,
) -> ImportReport:
    """Import ``release_url`` (and ``dev_url``) into ``project`` (see the module docstring)."""
    started = time.monotonic()
    with read() as session:
        project_row(session, project)
    work = blobs.tmp_dir / f"import-{project}-{time.time_ns()}"
    ctx = _Context(project, read, write, blobs, principal, log, work)
    added: list[ImportedRelease] = []
    known = 0
    skipped: list[str] = []
    try:
        with SvnReader() as svn:
            release_url = release_url.rstrip("/")
            entries = svn.list_recursive(release_url)
            keys_count, keys_text = _import_keys(ctx, svn, release_url, entries)
            for area, url in (("release", release_url), ("dev", dev_url)):
                if url is None:
                    continue
                more, count, why = _area(ctx, svn, url.rstrip("/"), area=area, keys_text=keys_text)
                added += more
                known += count
                skipped += [f"{area}: {reason}" for reason in why]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ImportReport(
        project=project,
        added=added,
        known=known,
        skipped=skipped,
        keys_imported=keys_count,
        seconds=round(time.monotonic() - started, 3),
    )
