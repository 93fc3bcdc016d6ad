"""One look at a source archive, shared by the license, header, compiled-code and SBOM checks.

:func:`scan_archive` reads what those checks need from an archive, in memory and
bounded: the header verdict and compiled-code kind of every regular file (from
its first bytes), the full text of the notice files at the archive's root
(LICENSE, NOTICE, DISCLAIMER, ``.rat-excludes``) and the bytes of every package
manifest (``pom.xml``, ``package.json``, ``Cargo.lock``…). It builds on
:func:`shared.checks.archive_reader.index_archive` (whose cached heads usually hold
everything) and adds at most one more streaming pass for what the index did not
keep. The result is remembered for the same unchanged file and limits, so the
four checks of one artifact cost one pass in a process.

:func:`scan_members` is the same logic over in-memory ``(path, bytes)`` pairs.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shared.checks import sbom_worker
from shared.checks.archive_reader import (
    ArchiveError,
    ArchiveUnreadable,
    MemberType,
    index_archive,
    iter_members,
)
from shared.checks.artifacts import is_source_archive
from shared.checks.base import CheckInputs, Recorder
from shared.checks.file_kinds import compiled_kind
from shared.checks.header_rules import HEAD_BYTES, FileVerdict, judge
from shared.checks.policy import ArchiveLimits
from shared.sbom.manifests import is_manifest

__all__ = [
    "MANIFEST_BUDGET",
    "MANIFEST_MAX_BYTES",
    "ROOT_FILE_MAX_BYTES",
    "ScannedFile",
    "SourceScan",
    "clear_scan_cache",
    "is_root_notice_name",
    "member_result_path",
    "scan_archive",
    "scan_for_check",
    "scan_members",
]

ROOT_FILE_MAX_BYTES = 1 << 20
"""LICENSE, NOTICE and friends are read up to this size (the rest is not needed)."""
MANIFEST_MAX_BYTES = 16 << 20
"""A manifest larger than this is not parsed (reported as skipped)."""
MANIFEST_BUDGET = 64 << 20
"""Total manifest bytes kept for one archive; manifests past it are reported as skipped."""

_ROOT_NOTICE_STEMS = ("license", "licence", "notice", "disclaimer", "disclaimer-wip")
_ROOT_NOTICE_SUFFIXES = ("", ".txt", ".md")


def is_root_notice_name(name: str) -> bool:
    """True for names the LICENSE/NOTICE check reads at the archive root (any case): LICENSE,
    NOTICE, DISCLAIMER, DISCLAIMER-WIP, optionally ``.txt``/``.md``; and ``.rat-excludes``."""
    lower = name.lower()
    if lower == ".rat-excludes":
        return True
    return any(
        lower == stem + suffix for stem in _ROOT_NOTICE_STEMS for suffix in _ROOT_NOTICE_SUFFIXES
    )


def member_result_path(artifact: str, relpath: str) -> str:
    """The result path naming a file inside an artifact: ``foo-1.0.tar.gz!/src/a.c``."""
    return f"{artifact}!/{relpath}" if relpath else artifact


@dataclass(frozen=True, slots=True)
class ScannedFile:
    """One regular file of the archive: where it is and what its first bytes say."""

    relpath: str
    """Path below the archive's root folder."""
    size: int
    verdict: FileVerdict
    compiled: str | None
    """What compiled code it is, or ``None``."""


@dataclass
class SourceScan:
    """What the source checks need from one archive."""

    files: list[ScannedFile] = field(default_factory=list)
    root_files: dict[str, bytes] = field(default_factory=dict)
    """Root-level notice files and ``.rat-excludes`` (name → bytes, at most ROOT_FILE_MAX_BYTES)."""
    manifests: dict[str, bytes] = field(default_factory=dict)
    """Manifest relpath → bytes."""
    skipped_manifests: dict[str, str] = field(default_factory=dict)
    """Manifest relpath → why it was not read (too large, over the budget)."""
    roots: tuple[str, ...] = ()
    """The archive's top-level folders ('' for files stored at the top level)."""
    error: str | None = None
    """Why reading stopped before the end (the results cover what was read), or ``None``."""
    members_read: int = 0


def _is_root_level(relpath: str) -> bool:
    return "/" not in relpath


class _Builder:
    """Accumulates a :class:`SourceScan` one file at a time."""

    def __init__(self) -> None:
        self.scan = SourceScan()
        self.manifest_bytes = 0

    def wants_full(self, relpath: str, size: int) -> int | None:
        """How many bytes of this file to keep whole (``None``: only its head)."""
        if _is_root_level(relpath) and is_root_notice_name(relpath):
            return ROOT_FILE_MAX_BYTES
        if is_manifest(relpath):
            sbom_worker.prepare()  # an SBOM worker, if atr check started one, gets ready for it
            if size > MANIFEST_MAX_BYTES:
                self.scan.skipped_manifests[relpath] = (
                    f"{size:,} bytes, more than the {MANIFEST_MAX_BYTES:,} read for a manifest"
                )
                return None
            if self.manifest_bytes + size > MANIFEST_BUDGET:
                self.scan.skipped_manifests[relpath] = (
                    f"the {MANIFEST_BUDGET:,} bytes read for manifests of one archive are used up"
                )
                return None
            self.manifest_bytes += size
            return MANIFEST_MAX_BYTES
        return None

    def add_file(self, relpath: str, size: int, head: bytes) -> None:
        self.scan.files.append(
            ScannedFile(relpath, size, judge(relpath, head), compiled_kind(relpath, head))
        )

    def keep(self, relpath: str, data: bytes) -> None:
        if _is_root_level(relpath) and is_root_notice_name(relpath):
            # Two members with one name (possible in a tar) keep the first; the LICENSE
            # check counts names through ``files``.
            self.scan.root_files.setdefault(relpath, data[:ROOT_FILE_MAX_BYTES])
        elif is_manifest(relpath):
            self.scan.manifests.setdefault(relpath, data)


def scan_members(
    members: Iterable[tuple[str, bytes]], *, roots: tuple[str, ...] = ("",)
) -> SourceScan:
    """A :class:`SourceScan` of in-memory files given by root-relative path and content."""
    builder = _Builder()
    for relpath, data in members:
        builder.add_file(relpath, len(data), data[:HEAD_BYTES])
        if builder.wants_full(relpath, len(data)) is not None:
            builder.keep(relpath, data)
        builder.scan.members_read += 1
    builder.scan.roots = roots
    return builder.scan


def _scan_index(path: Path, limits: ArchiveLimits) -> SourceScan:
    index = index_archive(path, limits)
    builder = _Builder()
    builder.scan.roots = tuple(sorted(index.roots()))
    builder.scan.members_read = len(index.members)
    if index.error is not None:
        builder.scan.error = index.error.message
    need_head: set[int] = set()
    need_full: dict[int, int] = {}
    files = [m for m in index.members if m.type is MemberType.FILE]
    if index.error is not None and files and files[-1] is index.members[-1]:
        # Reading stopped inside the last member: a second pass would stop there too.
        files.pop()
    order: dict[str, int] = {}
    for info in files:
        relpath = info.relpath
        order[relpath] = info.index
        cap = builder.wants_full(relpath, info.size)
        head = index.head(info)
        if head is not None and len(head) < min(info.size, HEAD_BYTES):
            head = None  # the index's budget ran out inside this file: read it again
        if head is None:
            need_head.add(info.index)
        else:
            builder.add_file(relpath, info.size, head[:HEAD_BYTES])
        if cap is not None:
            if head is not None and len(head) >= min(info.size, cap):
                builder.keep(relpath, head[:cap])
            else:
                need_full[info.index] = cap
    if need_head or need_full:
        _second_pass(path, limits, builder, need_head, need_full)
    # Keep the reading order of the archive for the per-file results (a name stored twice
    # sorts at its last place).
    builder.scan.files.sort(key=lambda f: order.get(f.relpath, 0))
    return builder.scan


def _second_pass(
    path: Path,
    limits: ArchiveLimits,
    builder: _Builder,
    need_head: set[int],
    need_full: dict[int, int],
) -> None:
    """Stream the archive once more for heads the index did not keep and whole notices/manifests."""
    last = max([*need_head, *need_full])
    try:
        for member in iter_members(path, limits):
            index = member.info.index
            if index in need_head:
                builder.add_file(member.relpath, member.size, member.read(HEAD_BYTES))
            if index in need_full:
                builder.keep(member.relpath, member.read(need_full[index]))
            if index >= last:
                break
    except ArchiveError as exc:
        # The index saw the same error at the same place: keep what was read.
        if builder.scan.error is None:
            builder.scan.error = exc.message


_cache: OrderedDict[tuple[Any, ...], SourceScan] = OrderedDict()
_cache_lock = threading.Lock()
_CACHE_SIZE = 2


def clear_scan_cache() -> None:
    """Forget remembered scans (tests; a long-lived worker between releases)."""
    with _cache_lock:
        _cache.clear()


def scan_archive(path: Path, limits: ArchiveLimits | None = None) -> SourceScan:
    """Scan the source archive at ``path``; remembered for the same unchanged file and limits.

    Never raises for bad archive data (see :attr:`SourceScan.error`); raises
    :class:`shared.checks.archive_reader.ArchiveUnreadable` only when the file cannot
    be opened or is not an archive format the checks read.
    """
    limits = limits or ArchiveLimits()
    try:
        st = path.stat()
    except OSError as exc:
        raise ArchiveUnreadable(f"cannot open {path.name}: {exc.strerror}", code="io") from exc
    key = (
        os.path.realpath(path),
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        limits,
    )
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        scan = _scan_index(path, limits)
        _cache[key] = scan
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
        return scan


def scan_for_check(
    inputs: CheckInputs, recorder: Recorder, *, artifact: str | None
) -> SourceScan | None:
    """The scan of ``artifact`` for a source check, or ``None`` when there is nothing to check.

    Artifacts that are not source archives are skipped (``None``, nothing recorded). An
    archive that cannot be opened gets a blocker and ``None``; one that stops early is
    scanned as far as it reads, with a blocker saying so (each check covers what was read).
    """
    if artifact is None or not is_source_archive(artifact) or artifact not in inputs.files:
        return None
    try:
        scan = scan_archive(inputs.files[artifact], inputs.policy.archive)
    except ArchiveError as exc:
        recorder.blocker(artifact, f"the archive cannot be read: {exc.message}", code=exc.code)
        return None
    if scan.error is not None:
        recorder.blocker(
            artifact,
            f"the archive could not be read to the end ({scan.error}); "
            f"only the {scan.members_read:,} members read were checked",
        )
    return scan
