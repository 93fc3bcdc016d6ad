"""``inventory``: for each file of a revision, its size, SHA-512 and archive member count.

Every blob is read once as a stream: the SHA-512 is recomputed and compared with
the one recorded at upload (a mismatch fails the task, naming the file). Tar
archives are counted while they stream through the hash (``tarfile`` mode
``r|*``); zip archives by their central directory. A corrupt archive is that
file's ``error`` in the result, not a failure of the task.
"""

from __future__ import annotations

import hashlib
import lzma
import secrets
import tarfile
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

from sqlalchemy import select

from agent.blobs import CHUNK_SIZE, BlobNotFound
from agent.db import models
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar.bz2", ".tar.xz", ".tar")
ZIP_SUFFIXES = (".zip",)

_DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    OSError,  # bz2 reports a corrupt stream as OSError
    ValueError,
)


@dataclass(frozen=True)
class _Entry:
    path: str
    sha256: str
    sha512: str
    size: int


class _HashingReader:
    """A read-only stream over a blob that hashes and counts every byte read through it.

    ``read()`` without a size returns at most one chunk: its only reader,
    ``tarfile`` in stream mode, always asks for a size.
    """

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.sha512 = hashlib.sha512()
        self.size = 0

    def read(self, n: int = -1) -> bytes:
        data = self._source.read(n if n is not None and n >= 0 else CHUNK_SIZE)
        self.sha512.update(data)
        self.size += len(data)
        return data

    def drain(self) -> None:
        while self.read(CHUNK_SIZE):
            pass


def _entries(ctx: TaskContext) -> list[_Entry]:
    task = ctx.task
    if task.project is None or task.version is None:
        raise InvalidTaskArgs("inventory needs a project and a version")
    with ctx.factory() as session:
        release_id = session.scalar(
            select(models.Release.id)
            .join(models.Project, models.Release.project_id == models.Project.id)
            .where(models.Project.key == task.project, models.Release.version == task.version)
        )
        if release_id is None:
            raise InvalidTaskArgs(f"there is no release {task.project} {task.version}")
        query = select(models.Revision).where(models.Revision.release_id == release_id)
        if task.revision is None:
            query = query.order_by(models.Revision.number.desc()).limit(1)
        else:
            query = query.where(models.Revision.number == task.revision)
        revision = session.scalars(query).first()
        if revision is None:
            which = "any revision" if task.revision is None else f"revision {task.revision}"
            raise InvalidTaskArgs(f"release {task.project} {task.version} has no {which}")
        rows = session.execute(
            select(
                models.RevisionFile.path, models.Blob.sha256, models.Blob.sha512, models.Blob.size
            )
            .join(models.Blob, models.RevisionFile.blob_sha256 == models.Blob.sha256)
            .where(models.RevisionFile.revision_id == revision.id)
            .order_by(models.RevisionFile.path)
        ).all()
    return [_Entry(path=r[0], sha256=r[1], sha512=r[2], size=r[3]) for r in rows]


def _count_tar(reader: _HashingReader) -> int:
    with tarfile.open(  # type: ignore[call-overload]
        fileobj=reader, mode="r|*", bufsize=CHUNK_SIZE
    ) as archive:
        return sum(1 for _ in archive)


def _count_zip(ctx: TaskContext, sha256: str) -> int:
    with ctx.blobs.open(sha256) as raw, zipfile.ZipFile(raw) as archive:
        return len(archive.infolist())


def _inspect(ctx: TaskContext, entry: _Entry) -> dict[str, Any]:
    name = entry.path.lower()
    members: int | None = None
    error: str | None = None
    try:
        with ctx.blobs.open(entry.sha256) as raw:
            reader = _HashingReader(raw)
            if name.endswith(TAR_SUFFIXES):
                try:
                    members = _count_tar(reader)
                except _DECOMPRESS_ERRORS as exc:
                    error = f"not a readable tar archive: {exc}"
            reader.drain()
    except BlobNotFound:
        raise TaskError(
            f"{entry.path}: its blob {entry.sha256} is missing from the blob store",
            retryable=False,
        ) from None
    digest = reader.sha512.hexdigest()
    if not secrets.compare_digest(digest, entry.sha512) or reader.size != entry.size:
        raise TaskError(
            f"{entry.path}: the stored blob does not match its recorded SHA-512 and size "
            f"(recorded {entry.sha512[:16]}…, {entry.size} bytes; "
            f"read {digest[:16]}…, {reader.size} bytes)",
            retryable=False,
            hint="the blob store was altered on disk; restore the file from a backup",
        )
    if name.endswith(ZIP_SUFFIXES):
        try:
            members = _count_zip(ctx, entry.sha256)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
            error = f"not a readable zip archive: {exc}"
    return {
        "path": entry.path,
        "size": reader.size,
        "sha512": digest,
        "members": members,
        "error": error,
    }


def run(ctx: TaskContext) -> dict[str, Any]:
    """Inventory every file of the task's revision (its latest when none is given)."""
    if ctx.task.args:
        raise InvalidTaskArgs(f"inventory takes no arguments, got {sorted(ctx.task.args)}")
    entries = _entries(ctx)
    files: list[dict[str, Any]] = []
    ctx.progress(0, len(entries))
    for done, entry in enumerate(entries, start=1):
        info = _inspect(ctx, entry)
        files.append(info)
        line = f"{entry.path}: {info['size']} bytes"
        if info["members"] is not None:
            line += f", {info['members']} archive members"
        if info["error"] is not None:
            line += f"; {info['error']}"
        ctx.log(line, level="warning" if info["error"] else "info")
        ctx.progress(done, len(entries))
    return {"files": files, "total_size": sum(f["size"] for f in files)}
