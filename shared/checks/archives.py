"""Archive integrity and structure: each ``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz``/``.zip``
artifact is read to the end, in a stream, and its layout checked.

Blockers:

* the archive cannot be read to the end: truncated or corrupt data, overlapping zip
  entries, encrypted members, data after the end of a tar;
* a limit of ``policy.archive`` is passed (uncompressed size, member count, compression
  ratio, folder depth): reading stops there;
* an absolute path, a ``..`` segment, a link pointing out of the root folder (or an
  absolute link), a device file or FIFO;
* not exactly one root folder, or a source archive whose root folder is not named after
  the archive (``foo-1.0-src.tar.gz`` may hold ``foo-1.0-src/`` or ``foo-1.0/``);
* an archive with no file.

Warnings: a name stored twice; a binary archive with several roots. Each problem kind
is one result (with up to :data:`EXAMPLES` example paths and the count), so a hostile
archive of 100,000 bad members gives a handful of results. The pass result gives the
member count and uncompressed size. The reading itself is
:func:`shared.checks.archive_reader.index_archive`, shared with the other checks.
"""

from __future__ import annotations

import posixpath
import re
from collections import defaultdict
from dataclasses import dataclass, field

from shared.checks.archive_reader import (
    ArchiveIndex,
    ArchiveLimitExceeded,
    MemberInfo,
    MemberType,
    index_archive,
)
from shared.checks.artifacts import archive_format, expected_roots, is_source_archive
from shared.checks.base import CheckInputs, Recorder, Scope

CHECK_ID = "archives"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ("archive",)
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

EXAMPLES = 10

_DRIVE_RE = re.compile(r"^[A-Za-z]:")


@dataclass
class _Problem:
    message: str
    blocker: bool = True
    examples: list[str] = field(default_factory=list)
    count: int = 0

    def add(self, name: str) -> None:
        self.count += 1
        if len(self.examples) < EXAMPLES:
            self.examples.append(name[:300])


def _segments(raw: str) -> list[str]:
    return [s for s in re.split(r"[/\\]", raw) if s]


def _is_absolute(raw: str) -> bool:
    return raw.startswith(("/", "\\")) or bool(_DRIVE_RE.match(raw))


def _resolve(base: str, target: str, links: frozenset[str]) -> str | None:
    """``target`` resolved from the folder ``base``, segment by segment; ``None`` if the
    walk passes through another link (whose own target could lead anywhere) or above the top."""
    parts = [p for p in base.split("/") if p]
    segments = [s for s in target.replace("\\", "/").split("/") if s and s != "."]
    for i, segment in enumerate(segments):
        if segment == "..":
            if not parts:
                return None
            parts.pop()
        else:
            parts.append(segment)
        if i < len(segments) - 1 and "/".join(parts) in links:
            return None
    return "/".join(parts)


def _link_escapes(member: MemberInfo, links: frozenset[str]) -> bool:
    """True when a link's target is absolute, resolves outside the member's root folder,
    or goes through another symbolic link."""
    target = member.linkname
    if not target or _is_absolute(target):
        return True
    parts = member.parts
    root = parts[0] if len(parts) > 1 else ""
    base = "" if member.type is MemberType.HARDLINK else posixpath.dirname(member.name)
    resolved = _resolve(base, target, links)
    if resolved is None:
        return True
    if root:
        return resolved != root and not resolved.startswith(root + "/")
    return False


_KINDS = {
    "absolute": "absolute paths",
    "dotdot": "'..' path segments",
    "link_out": "links pointing out of the root folder",
    "device": "device files or FIFOs",
    "duplicate": "names stored more than once",
}


def _scan(index: ArchiveIndex) -> dict[str, _Problem]:
    problems: dict[str, _Problem] = {}

    def add(kind: str, name: str, *, blocker: bool = True) -> None:
        if kind not in problems:
            problems[kind] = _Problem(_KINDS[kind], blocker)
        problems[kind].add(name)

    seen: dict[str, int] = defaultdict(int)
    links = frozenset(m.name for m in index.members if m.type is MemberType.SYMLINK)
    for member in index.members:
        raw = member.raw_name
        if _is_absolute(raw):
            add("absolute", raw)
        if ".." in _segments(raw):
            add("dotdot", raw)
        if member.type in (MemberType.SYMLINK, MemberType.HARDLINK) and _link_escapes(
            member, links
        ):
            add("link_out", f"{raw} -> {member.linkname}")
        if member.type in (MemberType.DEVICE, MemberType.FIFO):
            add("device", raw)
        seen[member.name] += 1
        if seen[member.name] == 2 and member.type is not MemberType.DIRECTORY:
            add("duplicate", raw, blocker=False)
    return problems


NPM_ROOT = "package"
NPM_MANIFEST = "package/package.json"
"""``npm pack`` puts every file of a package under ``package/``, whatever its name."""


def _check_root(index: ArchiveIndex, artifact: str, recorder: Recorder) -> bool:
    """Record the root folder problem if any; True when one was recorded as a blocker."""
    roots = index.roots()
    source = is_source_archive(artifact)
    if not any(m.type is MemberType.FILE for m in index.members):
        recorder.blocker(artifact, "the archive holds no file")
        return True
    if len(roots) != 1 or "" in roots:
        at_top = sorted(m.name for m in index.members if not m.top)[:EXAMPLES]
        shown = sorted(r for r in roots if r)[:EXAMPLES]
        message = f"not one root folder: {len(roots - {''})} top-level folder(s)" + (
            f" and {len(at_top)} file(s) at the top" if at_top else ""
        )
        if source:
            recorder.blocker(artifact, message, roots=shown, examples=at_top)
            return True
        recorder.warning(artifact, message, roots=shown, examples=at_top)
        return False
    (root,) = roots
    expected = expected_roots(artifact)
    if source and root == NPM_ROOT and any(m.name == NPM_MANIFEST for m in index.members):
        recorder.note(
            artifact,
            "an npm package tarball: its files are under package/, by npm's rule",
            root=root,
        )
        return False
    if source and root not in expected:
        recorder.blocker(
            artifact,
            f"the root folder {root!r} is not named after the archive "
            f"(expected {' or '.join(repr(e) for e in expected)})",
            root=root,
            expected=list(expected),
        )
        return True
    return False


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Read ``artifact`` to the end and check its layout."""
    if artifact is None:
        return
    if archive_format(artifact) is None:
        recorder.note(artifact, "not an archive format this check reads; layout not checked")
        return
    index = index_archive(inputs.files[artifact], inputs.policy.archive)
    blocked = False
    if index.error is not None:
        blocked = True
        data: dict[str, object] = {"code": index.error.code, "members_read": len(index.members)}
        if isinstance(index.error, ArchiveLimitExceeded):
            data.update(limit=index.error.limit, value=index.error.value)
        if index.error.member:
            data["member"] = index.error.member[:300]
        recorder.blocker(artifact, f"cannot be read to the end: {index.error}", **data)
    for kind, problem in _scan(index).items():
        message = f"{problem.count} {problem.message}: {', '.join(problem.examples[:3])}"
        record = recorder.blocker if problem.blocker else recorder.warning
        record(artifact, message, code=kind, count=problem.count, examples=problem.examples)
        blocked = blocked or problem.blocker
    if not isinstance(index.error, ArchiveLimitExceeded) and (index.members or not blocked):
        blocked = _check_root(index, artifact, recorder) or blocked
    if not blocked:
        roots = sorted(index.roots())
        recorder.passed(
            artifact,
            f"read to the end: {len(index.members):,} members, "
            f"{index.uncompressed_bytes:,} bytes, root folder {roots[0] if roots else '-'}",
            members=len(index.members),
            uncompressed_bytes=index.uncompressed_bytes,
            root=roots[0] if roots else "",
        )
