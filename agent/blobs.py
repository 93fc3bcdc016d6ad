"""The blob store: immutable files addressed by their SHA-256 under the agent's data dir.

A blob lives at ``root/ab/cd/<sha256>``. Writing one streams the bytes into a
temporary file in this process's folder of the temporary area ``root/../tmp``
(:mod:`agent.tmparea`: the same filesystem, so the final ``os.replace`` is atomic;
swept of dead processes' leftovers at start, and bounded), hashing SHA-256 and
SHA-512 on the way, never holding the whole file in memory. A write that passes the
size limit, fills the temporary area or fails half-way leaves no file behind.
Finished blobs are read-only.

The database row (:class:`agent.db.models.Blob`) is written by the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import stat
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

from agent.tmparea import TempArea
from shared.errors import AtrError
from shared.ids import check_sha256
from shared.protocol import BlobInfo

CHUNK_SIZE = 1024 * 1024
"""Bytes gathered before one write (and one read when copying a local file)."""

DEFAULT_MAX_SIZE = 4 * 1024**3
"""The default blob size limit (4 GiB), as the agent's ``max_upload_bytes``."""

_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH
ROOM_CHECK_BYTES = 64 * 1024 * 1024
"""A write in progress checks again that the temporary area has room every this many bytes."""


class BlobTooLarge(AtrError):
    """An upload larger than the agent's blob size limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"the file is larger than the limit of {limit} bytes",
            hint="ask the agent's operator to raise the blob size limit",
        )
        self.limit = limit


class BlobNotFound(AtrError):
    """No blob with the given SHA-256 is stored."""

    def __init__(self, sha256: str) -> None:
        super().__init__(f"no blob with SHA-256 {sha256} is stored")
        self.sha256 = sha256


class _PendingBlob:
    """A temporary file being filled and hashed; finished into the store or discarded."""

    def __init__(self, tmp: TempArea, max_size: int, *, size_hint: int = 0) -> None:
        tmp.check_room(size_hint)
        fd, name = tempfile.mkstemp(dir=tmp.folder, prefix="blob-", suffix=".part")
        self.path = Path(name)
        self._file = os.fdopen(fd, "wb", buffering=0)
        self._sha256 = hashlib.sha256()
        self._sha512 = hashlib.sha512()
        self._max_size = max_size
        self._tmp = tmp
        self._next_room_check = ROOM_CHECK_BYTES
        self.size = 0

    def count(self, n: int) -> None:
        """Account for ``n`` more bytes before they are written; raise past the limit."""
        self.size += n
        if self.size > self._max_size:
            raise BlobTooLarge(self._max_size)

    def check_room(self) -> None:
        """Every :data:`ROOM_CHECK_BYTES`, check the temporary area is not over its limit
        (other uploads grow too). Runs in a worker thread: it walks the area."""
        if self.size >= self._next_room_check:
            self._next_room_check = self.size + ROOM_CHECK_BYTES
            self._tmp.check_room()

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Hash and write ``data`` (hashlib and file writes release the GIL on big buffers)."""
        self._sha256.update(data)
        self._sha512.update(data)
        view = memoryview(data)
        while view:
            view = view[self._file.write(view) :]

    def finish(self, store: BlobStore) -> BlobInfo:
        """fsync, then move the file into place (or drop it if the blob exists already)."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        sha256 = self._sha256.hexdigest()
        dest = store.path_for(sha256)
        if dest.exists():
            self.path.unlink()
        else:
            os.chmod(self.path, _READ_ONLY)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(self.path, dest)
            _fsync_dir(dest.parent)
        return BlobInfo(sha256=sha256, sha512=self._sha512.hexdigest(), size=self.size)

    def discard(self) -> None:
        """Close and delete the temporary file; safe to call more than once."""
        with contextlib.suppress(OSError):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class BlobStore:
    """Content-addressed, immutable files under ``root`` (``DATA_DIR/blobs``)."""

    def __init__(self, root: Path, *, max_size: int, tmp_max_bytes: int | None = None) -> None:
        """The store under ``root``; ``tmp_max_bytes`` bounds the temporary area
        ``root/../tmp``, which is opened on first use or by :meth:`open_tmp`."""
        if max_size < 0:
            raise ValueError("max_size must not be negative")
        self.root = root
        self.max_size = max_size
        self.tmp_max_bytes = tmp_max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp: TempArea | None = None
        self._tmp_lock = threading.Lock()

    def open_tmp(self) -> TempArea:
        """This process's folder of the temporary area, taken on first call after sweeping
        the area of dead processes' leftovers (:meth:`agent.tmparea.TempArea.open`). The
        agent and every worker call it when they start."""
        with self._tmp_lock:
            if self._tmp is None:
                self._tmp = TempArea.open(self.root.parent / "tmp", max_bytes=self.tmp_max_bytes)
            return self._tmp

    @property
    def tmp(self) -> TempArea:
        """This process's part of the temporary area (see :meth:`open_tmp`)."""
        return self.open_tmp()

    @property
    def tmp_dir(self) -> Path:
        """This process's folder of the temporary area."""
        return self.tmp.folder

    def close(self) -> None:
        """Give this process's temporary folder back (idempotent)."""
        with self._tmp_lock:
            tmp, self._tmp = self._tmp, None
        if tmp is not None:
            tmp.close()

    def path_for(self, sha256: str) -> Path:
        """Where the blob ``sha256`` lives: ``root/ab/cd/<sha256>``. Rejects a malformed digest."""
        digest = check_sha256(sha256)
        return self.root / digest[:2] / digest[2:4] / digest

    def exists(self, sha256: str) -> bool:
        """Whether the blob ``sha256`` is stored."""
        return self.path_for(sha256).is_file()

    async def put_stream(self, chunks: AsyncIterator[bytes], *, size_hint: int = 0) -> BlobInfo:
        """Store the bytes of ``chunks``; hashing and writing run in a worker thread.

        Raises :class:`BlobTooLarge` (leaving nothing behind) past ``max_size``, and
        :class:`~agent.tmparea.TempAreaFull` when the temporary area has no room for
        ``size_hint`` (the announced size) or fills up on the way.
        """
        pending = await asyncio.to_thread(
            _PendingBlob, self.tmp, self.max_size, size_hint=size_hint
        )
        buffer = bytearray()
        try:
            async for chunk in chunks:
                pending.count(len(chunk))
                buffer += chunk
                if len(buffer) >= CHUNK_SIZE:
                    await asyncio.to_thread(pending.write, bytes(buffer))
                    buffer.clear()
                    await asyncio.to_thread(pending.check_room)
            if buffer:
                await asyncio.to_thread(pending.write, bytes(buffer))
            return await asyncio.to_thread(pending.finish, self)
        except BaseException:
            pending.discard()
            raise

    def put_file(self, path: Path) -> BlobInfo:
        """Store a copy of the local file ``path`` (for the CLI and administration)."""
        pending = _PendingBlob(self.tmp, self.max_size, size_hint=path.stat().st_size)
        try:
            with path.open("rb") as source:
                while chunk := source.read(CHUNK_SIZE):
                    pending.count(len(chunk))
                    pending.write(chunk)
            return pending.finish(self)
        except BaseException:
            pending.discard()
            raise

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes, opened for reading. Raises :class:`BlobNotFound`."""
        try:
            return self.path_for(sha256).open("rb")
        except FileNotFoundError:
            raise BlobNotFound(sha256) from None
