"""Streaming file helpers for the client: chunked reads for uploads, atomic writes for downloads.

Blocking file calls run in a worker thread so a big file never stalls the event
loop, and no file is ever read whole into memory.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from shared.atomicfile import PRIVATE_FILE, AtomicFile
from shared.errors import ClientError, ValidationError


def check_readable_file(path: Path) -> int:
    """The size of ``path``; :class:`ValidationError` unless it is a readable regular file."""
    try:
        info = path.stat()
    except FileNotFoundError as exc:
        raise ValidationError(f"{path} does not exist") from exc
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror or exc}") from exc
    if not path.is_file():
        raise ValidationError(f"{path} is not a regular file")
    if not os.access(path, os.R_OK):
        raise ValidationError(f"cannot read {path}: permission denied")
    return info.st_size


class ChunkReader:
    """Reads exactly ``size`` bytes of a file in chunks, hashing them with SHA-256 on the way.

    Iterate it once (``async for chunk in reader``) to stream the file; afterwards
    :attr:`sha256` is the digest of what was sent. A file that shrinks or grows
    while it is read raises :class:`ClientError`, so a torn upload never looks whole.

    Its iterator is a plain object, not an async generator: the file is closed at
    its end, on an error, and by :meth:`aclose`, which whoever sends it calls when
    the send ends for any reason (a cancelled upload included). Nothing is left for
    the garbage collector to finalize, which for an async generator that awaits in
    its ``finally`` ends in ``RuntimeError: async generator ignored GeneratorExit``
    on loops without async-generator hooks (qasync, the desktop's loop).
    """

    def __init__(
        self,
        path: Path,
        *,
        size: int,
        chunk_size: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> None:
        if chunk_size < 1:
            raise ValidationError(f"chunk size must be positive, got {chunk_size}")
        self.path = path
        self.size = size
        self.chunk_size = chunk_size
        self.sent = 0
        self._progress = progress
        self._hash = hashlib.sha256()
        self._handle: BinaryIO | None = None
        self._started = False
        self._finished = False

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes read so far."""
        return self._hash.hexdigest()

    @property
    def closed(self) -> bool:
        """Whether the file is closed for good (the end was reached, or :meth:`aclose` ran)."""
        return self._finished and self._handle is None

    def __aiter__(self) -> _Chunks:
        if self._started:
            raise ClientError(
                f"{self.path} is already being sent; a ChunkReader streams its file once"
            )
        self._started = True
        return _Chunks(self)

    async def _next(self) -> bytes:
        """The next chunk; StopAsyncIteration after the last one or after :meth:`aclose`."""
        if self._finished:
            raise StopAsyncIteration
        try:
            handle = self._handle
            if handle is None:
                handle = self._handle = await self._open()
                if self._progress is not None:
                    self._progress(0, self.size)
            if self.sent >= self.size:
                if await asyncio.to_thread(handle.read, 1):
                    raise ClientError(f"{self.path} grew while it was being uploaded")
                await self.aclose()
                raise StopAsyncIteration
            want = min(self.chunk_size, self.size - self.sent)
            chunk = await asyncio.to_thread(handle.read, want)
            if not chunk:
                raise ClientError(f"{self.path} shrank while it was being uploaded")
        except ClientError:
            await self.aclose()
            raise
        self._hash.update(chunk)
        self.sent += len(chunk)
        if self._progress is not None:
            self._progress(self.sent, self.size)
        return chunk

    async def _open(self) -> BinaryIO:
        try:
            return await asyncio.to_thread(self.path.open, "rb")
        except OSError as exc:
            self._finished = True
            raise ClientError(f"cannot read {self.path}: {exc.strerror or exc}") from exc

    async def aclose(self) -> None:
        """Stop reading and close the file (idempotent; safe at any point of the iteration).

        The close runs in a worker thread; it waits there for a read still in
        progress, and finishes even if this call is itself cancelled.
        """
        self._finished = True
        handle, self._handle = self._handle, None
        if handle is not None:
            await asyncio.to_thread(handle.close)


class _Chunks:
    """The iterator of a :class:`ChunkReader` (the reader holds the state)."""

    __slots__ = ("_reader",)

    def __init__(self, reader: ChunkReader) -> None:
        self._reader = reader

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        return await self._reader._next()


class AtomicWriter:
    """Writes a file under a temporary name beside ``dest`` and renames it into place on commit
    (:class:`shared.atomicfile.AtomicFile`, its blocking calls in a worker thread).

    Use as an async context manager; if the block raises, the partial file is removed.
    """

    def __init__(self, dest: Path) -> None:
        self.dest = dest
        self._file = AtomicFile(dest, mode=PRIVATE_FILE, suffix=".part")
        self._handle: BinaryIO | None = None

    async def __aenter__(self) -> AtomicWriter:
        try:
            self._handle = await asyncio.to_thread(self._file.open)
        except OSError as exc:
            raise ClientError(f"cannot write {self.dest}: {exc.strerror or exc}") from exc
        return self

    async def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary file."""
        if self._handle is None:
            raise RuntimeError("AtomicWriter used outside its context")
        await asyncio.to_thread(self._handle.write, chunk)

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._handle is None:
            return
        self._handle = None
        finish = self._file.commit if exc_type is None else self._file.discard
        try:
            await asyncio.to_thread(finish)
        except OSError as err:
            raise ClientError(f"cannot write {self.dest}: {err.strerror or err}") from err
