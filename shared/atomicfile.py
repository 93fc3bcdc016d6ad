"""Files that appear whole or not at all: the one atomic-write helper of the product.

A file is written under a temporary name in the target's own folder (the same
filesystem, so the final rename is atomic), with its permissions set *before* the
first byte, flushed and fsynced, then ``os.replace``-d over the target, and the
folder fsynced so the rename itself survives a crash. A failure or an exception in
the ``with`` block removes the temporary file and leaves the old target untouched.

::

    write_atomic(path, data, mode=0o600)                 # bytes or text, in one call
    with AtomicFile(dest, mode=0o644) as out:            # streamed
        out.write(chunk)

The agent's secrets and mail outbox, the CLI's config, the desktop's keys, settings,
signatures and downloads all use it.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

__all__ = ["PRIVATE_DIR", "PRIVATE_FILE", "PUBLIC_FILE", "AtomicFile", "fsync_dir", "write_atomic"]

PRIVATE_FILE = 0o600
"""Readable and writable by the owner only: secrets, tokens, keys, settings."""
PUBLIC_FILE = 0o644
"""Readable by everyone: signatures, checksums, mail written to the outbox."""
PRIVATE_DIR = 0o700


def fsync_dir(directory: Path) -> None:
    """fsync a folder, so a rename in it is durable (nothing to do on Windows)."""
    if os.name != "posix":  # pragma: no cover - folders cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """A binary file written beside ``path`` and renamed over it when the block succeeds.

    ``mode`` is set on the temporary file before anything is written. ``suffix`` names
    the temporary file (``.<name>.<random><suffix>``) so leftovers are recognisable.
    """

    def __init__(self, path: Path, *, mode: int = PRIVATE_FILE, suffix: str = ".tmp") -> None:
        self.path = Path(path)
        self.mode = mode
        self._suffix = suffix
        self._handle: BinaryIO | None = None
        self._tmp: Path | None = None

    @property
    def temporary(self) -> Path | None:
        """The temporary file while the block runs."""
        return self._tmp

    def open(self) -> BinaryIO:
        """Create the temporary file (with its mode) and return its handle."""
        if self._handle is not None:
            raise RuntimeError(f"{self.path} is already being written")
        fd, name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=self._suffix
        )
        try:
            if hasattr(os, "fchmod"):
                os.fchmod(fd, self.mode)
            else:  # pragma: no cover - Windows before Python 3.13
                os.chmod(name, self.mode)
            handle = os.fdopen(fd, "wb")
        except BaseException:
            os.close(fd)
            Path(name).unlink(missing_ok=True)
            raise
        self._handle, self._tmp = handle, Path(name)
        return handle

    def commit(self) -> None:
        """Flush, fsync, rename over the target, fsync the folder."""
        handle, tmp = self._take()
        try:
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(tmp, self.path)
        except BaseException:
            handle.close()
            tmp.unlink(missing_ok=True)
            raise
        fsync_dir(self.path.parent)

    def discard(self) -> None:
        """Close and remove the temporary file; the target stays as it was (idempotent)."""
        if self._handle is None:
            return
        handle, tmp = self._take()
        with contextlib.suppress(OSError):
            handle.close()
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)

    def _take(self) -> tuple[BinaryIO, Path]:
        handle, tmp = self._handle, self._tmp
        if handle is None or tmp is None:
            raise RuntimeError(f"{self.path} is not being written")
        self._handle = self._tmp = None
        return handle, tmp

    def __enter__(self) -> BinaryIO:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomic(
    path: Path,
    data: bytes | str,
    *,
    mode: int = PRIVATE_FILE,
    make_dirs: bool = False,
    dir_mode: int | None = None,
) -> None:
    """Replace ``path`` with ``data`` (text is written as UTF-8) atomically.

    ``make_dirs`` creates the missing folders; ``dir_mode`` (e.g. :data:`PRIVATE_DIR`)
    is then set on the target's folder.
    """
    path = Path(path)
    if make_dirs:
        path.parent.mkdir(parents=True, exist_ok=True)
    if dir_mode is not None and os.name == "posix":
        os.chmod(path.parent, dir_mode)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with AtomicFile(path, mode=mode) as out:
        out.write(payload)
