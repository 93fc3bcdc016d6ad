"""Writing files that must never be half-written or readable by others.

The habit comes from wallets: write to a temporary file in the same folder whose
permissions are set *before* any byte is written, flush and fsync it, then
``os.replace`` it over the target (atomic on POSIX and Windows), then fsync the
folder so the rename itself survives a crash.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed; the folder itself gets mode 0700."""
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, PRIVATE_DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, readable and writable by the owner only."""
    directory = ensure_private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        # mkstemp already creates the file 0600; say so explicitly, before writing.
        if hasattr(os, "fchmod"):
            os.fchmod(fd, PRIVATE_FILE_MODE)
        else:  # pragma: no cover - Windows before Python 3.13
            os.chmod(tmp, PRIVATE_FILE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    _fsync_dir(directory)


def _fsync_dir(directory: Path) -> None:
    if os.name != "posix":  # pragma: no cover - folders cannot be opened on Windows
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
