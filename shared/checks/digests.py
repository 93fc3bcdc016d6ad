"""Digests of release files, computed once per process for every check that needs them.

The checksums check compares an artifact with its ``.sha512``; the SBOM check puts the
same artifact's SHA-512 and SHA-256 into the SBOM. :func:`file_digests` reads the file
once for all the algorithms asked (in 1 MiB chunks; hashlib releases the GIL, so it runs
beside the archive checks) and remembers the digests for the same unchanged file: a
second caller asking for the same algorithms gets them without reading the file again,
and waits for a computation already under way instead of repeating it.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path

__all__ = ["CHUNK", "clear_digest_cache", "file_digests", "hash_file"]

CHUNK = 1 << 20
_CACHE_SIZE = 8

_cache: OrderedDict[tuple[object, ...], dict[str, str]] = OrderedDict()
_locks: dict[tuple[object, ...], threading.Lock] = {}
_cache_lock = threading.Lock()


def hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, reading it once in 1 MiB chunks."""
    hashers = {name: hashlib.new(name) for name in sorted(set(algorithms))}
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as handle:
        while True:
            count = handle.readinto(buffer)
            if not count:
                break
            for hasher in hashers.values():
                hasher.update(view[:count])
    return {name: h.hexdigest() for name, h in hashers.items()}


def clear_digest_cache() -> None:
    """Forget the remembered digests (tests; a long-lived worker between releases)."""
    with _cache_lock:
        _cache.clear()
        _locks.clear()


def _identity(path: Path) -> tuple[object, ...]:
    st = path.stat()
    return (os.path.realpath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def file_digests(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm (``hashlib`` names), remembered for the same
    unchanged file; the algorithms not yet known are computed in one pass."""
    wanted = set(algorithms)
    key = _identity(path)
    with _cache_lock:
        lock = _locks.setdefault(key, threading.Lock())
    with lock:
        with _cache_lock:
            known = dict(_cache.get(key, {}))
        missing = wanted - known.keys()
        if missing:
            known.update(hash_file(path, missing))
            with _cache_lock:
                _cache[key] = known
                _cache.move_to_end(key)
                while len(_cache) > _CACHE_SIZE:
                    old, _ = _cache.popitem(last=False)
                    _locks.pop(old, None)
    return {name: known[name] for name in sorted(wanted)}
