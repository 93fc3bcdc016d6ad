"""The agent's temporary area, ``DATA_DIR/tmp``: cleaned at start, and bounded.

Uploads in progress (``blob-*.part``), the checks' link folders (``check-*/``) and
SBOMs waiting to be stored live here. A process killed with ``kill -9`` (or a
crashed worker) cannot remove its files, so:

* every process (the API, each worker, a CLI command) works in a folder of its own,
  ``tmp/p-<host>-<pid>-<random>/``, and holds an exclusive ``flock`` on
  ``tmp/p-<…>.lock`` for as long as it runs — the kernel drops the lock when the
  process dies, however it dies;
* :meth:`TempArea.open` (when a process starts) first sweeps the area: a folder whose
  lock it can take belongs to a dead process and is removed with its lock; anything
  else that is not a live process's folder (leftovers of older agents, a folder whose
  lock is gone) is removed too. Folders of live processes — other agents sharing the
  data dir, other workers — are left alone;
* the area is bounded: :meth:`TempArea.check_room` refuses (:class:`TempAreaFull`, HTTP
  503) an upload that would take the files of the whole area past ``max_bytes``, and
  a running upload re-checks as it grows. Symbolic links (the checks link blobs, never
  copy them) count for nothing.

``flock`` works across hosts on NFSv4 (Linux emulates it with POSIX locks), so several
agents sharing a data dir each keep their own folder and sweep only dead ones.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import secrets
import shutil
import socket
import stat
from dataclasses import dataclass
from pathlib import Path

from shared.errors import AtrError

__all__ = ["SweepReport", "TempArea", "TempAreaFull", "usage_bytes"]

log = logging.getLogger(__name__)

_PREFIX = "p-"
_LOCK = ".lock"


class TempAreaFull(AtrError):
    """The temporary area would pass its size limit (uploads in progress fill it)."""

    def __init__(self, *, used: int, wanted: int, limit: int) -> None:
        super().__init__(
            f"the agent's temporary area is full: uploads in progress hold {used:,} bytes, "
            f"{wanted:,} more would pass the limit of {limit:,} bytes",
            hint="try again when other uploads have finished, or ask the agent's operator "
            "to raise tmp_max_bytes",
        )
        self.used = used
        self.limit = limit


@dataclass(frozen=True, slots=True)
class SweepReport:
    """What a sweep removed."""

    entries: int
    bytes: int


def usage_bytes(root: Path) -> int:
    """The bytes of the regular files under ``root`` (symbolic links are not followed)."""
    total = 0
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except (FileNotFoundError, NotADirectoryError, PermissionError):
            continue
        for entry in entries:
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # removed while we looked
            if stat.S_ISDIR(info.st_mode):
                stack.append(Path(entry.path))
            elif stat.S_ISREG(info.st_mode):
                total += info.st_size
    return total


def _remove(path: Path) -> int:
    """Remove a file or folder; the bytes it held."""
    size = usage_bytes(path) if path.is_dir() and not path.is_symlink() else 0
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            size = path.lstat().st_size if stat.S_ISREG(path.lstat().st_mode) else 0
            path.unlink()
    except FileNotFoundError:
        return 0
    return size


def _try_lock(path: Path) -> int | None:
    """An fd holding the exclusive lock of ``path``, or None if a live process holds it."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    except BaseException:
        os.close(fd)
        raise
    return fd


class TempArea:
    """``root`` (``DATA_DIR/tmp``) and this process's own folder in it (see the module doc)."""

    def __init__(self, root: Path, folder: Path, lock_fd: int, *, max_bytes: int | None) -> None:
        self.root = root
        self.folder = folder
        """This process's folder: temporary files go here."""
        self.max_bytes = max_bytes
        self._lock_fd: int | None = lock_fd

    @classmethod
    def open(cls, root: Path, *, max_bytes: int | None = None) -> TempArea:
        """Sweep ``root`` of dead processes' leftovers, then take a folder for this process."""
        if max_bytes is not None and max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        root.mkdir(parents=True, exist_ok=True)
        report = sweep(root)
        if report.entries:
            log.info(
                "temporary area %s: removed %d leftover(s) of stopped processes (%s bytes)",
                root,
                report.entries,
                f"{report.bytes:,}",
            )
        folder, fd = _claim(root)
        return cls(root, folder, fd, max_bytes=max_bytes)

    def usage(self) -> int:
        """Bytes held by the whole area (every process's files)."""
        return usage_bytes(self.root)

    def check_room(self, wanted: int = 0) -> None:
        """Raise :class:`TempAreaFull` if the area holds more than ``max_bytes`` with
        ``wanted`` more bytes."""
        if self.max_bytes is None:
            return
        used = self.usage()
        if used + wanted > self.max_bytes:
            raise TempAreaFull(used=used, wanted=wanted, limit=self.max_bytes)

    def close(self) -> None:
        """Remove this process's folder and its lock (idempotent)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is None:
            return
        try:
            with contextlib.suppress(FileNotFoundError):
                shutil.rmtree(self.folder)
            with contextlib.suppress(FileNotFoundError):
                self.folder.with_name(self.folder.name + _LOCK).unlink()
        finally:
            os.close(fd)


def _claim(root: Path) -> tuple[Path, int]:
    """Create and lock a folder of this process (retrying if a sweep removed the lock first)."""
    host = "".join(c if c.isalnum() or c in "-_" else "_" for c in socket.gethostname())[:40]
    while True:
        name = f"{_PREFIX}{host}-{os.getpid()}-{secrets.token_hex(4)}"
        lock = root / (name + _LOCK)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            still_ours = os.fstat(fd).st_ino == os.stat(lock).st_ino
        except FileNotFoundError:
            still_ours = False
        if not still_ours:  # a sweep took the lock between our create and flock
            os.close(fd)
            continue
        folder = root / name
        folder.mkdir(mode=0o700)
        return folder, fd


def sweep(root: Path) -> SweepReport:
    """Remove everything under ``root`` that no live process owns (see the module doc)."""
    entries = removed = 0
    try:
        names = sorted(os.listdir(root))
    except FileNotFoundError:
        return SweepReport(0, 0)
    locks = {n for n in names if n.startswith(_PREFIX) and n.endswith(_LOCK)}
    for name in names:
        path = root / name
        if name in locks:
            fd = _try_lock(path)
            if fd is None:
                continue  # its process is alive
            try:
                folder = root / name[: -len(_LOCK)]
                if folder.exists():
                    removed += _remove(folder)
                path.unlink(missing_ok=True)
                entries += 1
            finally:
                os.close(fd)
        elif name + _LOCK in locks:
            continue  # a process's folder: handled with its lock
        else:
            removed += _remove(path)
            entries += 1
    return SweepReport(entries, removed)
