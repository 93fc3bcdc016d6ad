"""License headers of the files in each source archive: the ASF's policy, or Apache RAT's rules.

Every regular file gets a verdict from :func:`shared.checks.header_rules.judge`
(its first 50 lines, normalised to letters and digits, against the Apache header,
``SPDX-License-Identifier`` tags, the other license families, build tools' GPL
exceptions and generators' markers). Files matched by ``.rat-excludes`` at the
archive root or by ``policy.license_header_excludes`` are excluded. The policy's
``license_header_mode`` turns verdicts into statuses:

* ``asf`` (the default) follows the ASF's source-header policy: source files
  *should* carry the header, so a source file without one is a **warning**
  (``policy.license_header_missing`` can make it a blocker or a note); generated
  files, build-system and tooling files, files that cannot hold a comment, and GPL
  files with a build tool's special exception (``config.guess``, ``ltmain.sh``,
  Bison parsers) are counted, not reported one by one;
* ``rat`` follows Apache RAT as a build runs it: RAT's default excludes apply, and
  every other file needs an approved license header, else a **blocker**.

In both modes a Category X license (GPL family without an exception, BSD with the
advertising clause…) is a **blocker**, a Category B license (CDDL, MPL, EPL: binary
only) or an SPDX tag no category lists a **warning**, another approved family (MIT,
BSD…: third-party code, which LICENSE should mention) a **note**.

Results: first one summary for the archive — ``data.counts`` (every kind),
``data.reasons`` (the files reported, by reason and status) and ``data.folders``
(where they are: the few folders that hold them, with a glob for an exclude) — a
note when files are reported, a pass when none are; then the per-file results.
Every blocker is recorded; warnings and notes at most :data:`MAX_FILE_RESULTS`
(``data.omitted`` says how many more the counts hold). A bound on what is listed
never changes a verdict.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from shared.checks.base import CheckInputs, Recorder, Scope, Status
from shared.checks.header_rules import HeaderKind
from shared.checks.policy import Policy
from shared.checks.source_scan import ScannedFile, SourceScan, member_result_path, scan_for_check

__all__ = [
    "CHECK_ID",
    "CHECK_VERSION",
    "MAX_FILE_RESULTS",
    "RAT_DEFAULT_EXCLUDES",
    "SCOPE",
    "ExcludeRules",
    "HeaderRules",
    "check_scan",
    "folder_summary",
    "run",
]

CHECK_ID = "license_headers"
CHECK_VERSION = 2
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = (
    "archive",
    "license_header_excludes",
    "license_header_mode",
    "license_header_missing",
)
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

MAX_FILE_RESULTS = 200
"""Warnings and notes recorded per archive at most (every blocker is; the summary counts all)."""
MAX_FOLDERS = 12
"""Folders named in the summary at most."""
RAT_EXCLUDES = ".rat-excludes"

RAT_DEFAULT_EXCLUDES: tuple[str, ...] = (
    # editors' backup and lock files
    "*~",
    "#*#",
    ".#*",
    "%*%",
    "._*",
    ".DS_Store",
    # version control
    ".git/",
    ".gitignore",
    ".gitattributes",
    ".gitmodules",
    ".gitkeep",
    ".svn/",
    "CVS/",
    ".cvsignore",
    ".hg/",
    ".hgignore",
    ".hgtags",
    ".bzr/",
    ".bzrignore",
    "RCS/",
    "SCCS/",
    "_darcs/",
    ".arch-ids/",
    "vssver.scc",
    # Maven
    "target/",
    ".mvn/",
    ".repository/",
    "release.properties",
    "pom.xml.releaseBackup",
    "pom.xml.tag",
    "build.log",
    "cobertura.ser",
    # Eclipse and IntelliJ IDEA
    ".classpath",
    ".project",
    ".settings/",
    "*.iml",
    "*.ipr",
    "*.iws",
    ".idea/",
)
"""What RAT's Maven plugin leaves out unless told otherwise (its SCM, Maven, Eclipse and
IDEA defaults), in ``.rat-excludes`` syntax; applied in ``rat`` mode."""


class ExcludeRules:
    """Glob patterns of files exempt from the header check (``.rat-excludes`` syntax).

    One pattern per line; ``#`` starts a comment. A pattern without ``/`` matches a
    file name or any folder name on the path (``*.json``, ``target``); one with ``/``
    matches the path from the archive root (``src/gen/*``, ``docs/**``, ``**/*.svg``);
    a trailing ``/`` names a folder and everything below it.
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[str] = []
        for raw in patterns:
            line = raw.strip()
            if line and not line.startswith("#"):
                self.patterns.append(line.removeprefix("./").lstrip("/"))

    @classmethod
    def parse(cls, text: str) -> ExcludeRules:
        """Rules from the text of a ``.rat-excludes`` file."""
        return cls(text.splitlines())

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def matches(self, relpath: str) -> bool:
        """True if the archive-relative ``relpath`` is excluded."""
        return any(self._match(pattern, relpath) for pattern in self.patterns)

    @staticmethod
    def _match(pattern: str, relpath: str) -> bool:
        folder = pattern.endswith("/")
        pattern = pattern.rstrip("/")
        if not pattern:
            return False
        parts = relpath.split("/")
        if "/" not in pattern:
            names = parts[:-1] if folder else parts
            return any(fnmatch.fnmatchcase(name, pattern) for name in names)
        candidates = {pattern}
        if pattern.startswith("**/"):
            candidates.add(pattern[3:])
        for candidate in candidates:
            # The path itself, or any folder above it (a pattern naming a folder).
            prefixes = ["/".join(parts[:i]) for i in range(1, len(parts))]
            targets = prefixes if folder else [relpath, *prefixes]
            if any(fnmatch.fnmatchcase(target, candidate) for target in targets):
                return True
        return False


@dataclass(frozen=True, slots=True)
class HeaderRules:
    """What the policy makes of each kind of file: its status, or ``None`` (counted only)."""

    mode: str
    missing: Status
    excludes: ExcludeRules

    @classmethod
    def of(cls, policy: Policy, scan: SourceScan) -> HeaderRules:
        rat = scan.root_files.get(RAT_EXCLUDES)
        rat_lines = rat.decode("utf-8", errors="replace").splitlines() if rat is not None else []
        defaults = RAT_DEFAULT_EXCLUDES if policy.license_header_mode == "rat" else ()
        excludes = ExcludeRules([*defaults, *rat_lines, *policy.license_header_excludes])
        default_missing = "blocker" if policy.license_header_mode == "rat" else "warning"
        missing = Status(policy.license_header_missing or default_missing)
        return cls(policy.license_header_mode, missing, excludes)

    def kind(self, file: ScannedFile) -> HeaderKind:
        kind = file.verdict.kind
        if kind in (HeaderKind.NOTICE, HeaderKind.BINARY):
            return kind
        if self.excludes.matches(file.relpath) or posixpath.basename(file.relpath) == RAT_EXCLUDES:
            return HeaderKind.EXCLUDED
        return kind

    def status(self, kind: HeaderKind) -> Status | None:
        if kind is HeaderKind.MISSING:
            return self.missing
        if self.mode == "rat" and kind in _RAT_UNAPPROVED:
            return Status.BLOCKER
        return _STATUS_OF_KIND.get(kind)

    def message(self, kind: HeaderKind, license_: str | None) -> str:
        if self.mode == "rat" and kind in (HeaderKind.MISSING, HeaderKind.BUILD):
            return "no approved license header (RAT)"
        if self.mode == "rat" and kind in (HeaderKind.EXCEPTION, HeaderKind.UNRECOGNISED):
            return f"{license_}: not a license RAT approves (exclude it, as RAT users do)"
        return _MESSAGES[kind].format(license=license_ or "")


_STATUS_OF_KIND = {
    HeaderKind.UNAPPROVED: Status.BLOCKER,
    HeaderKind.CATEGORY_B: Status.WARNING,
    HeaderKind.UNRECOGNISED: Status.WARNING,
    HeaderKind.APPROVED: Status.NOTE,
}
_RAT_UNAPPROVED = frozenset({HeaderKind.BUILD, HeaderKind.EXCEPTION, HeaderKind.UNRECOGNISED})
_MESSAGES = {
    HeaderKind.MISSING: "no license header",
    HeaderKind.UNAPPROVED: "a Category X license ({license}): it cannot be in an ASF release",
    HeaderKind.CATEGORY_B: "a Category B license ({license}): allowed in binary form only",
    HeaderKind.UNRECOGNISED: "an SPDX license no category lists ({license})",
    HeaderKind.APPROVED: "third-party code under {license}: LICENSE should say so",
}

_SUMMARY_ORDER = (
    HeaderKind.APACHE,
    HeaderKind.APPROVED,
    HeaderKind.CATEGORY_B,
    HeaderKind.UNAPPROVED,
    HeaderKind.UNRECOGNISED,
    HeaderKind.MISSING,
    HeaderKind.EXCEPTION,
    HeaderKind.GENERATED,
    HeaderKind.BUILD,
    HeaderKind.EMPTY,
    HeaderKind.DATA,
    HeaderKind.NOTICE,
    HeaderKind.BINARY,
    HeaderKind.EXCLUDED,
)
_LABELS = {
    HeaderKind.APACHE: "with the Apache header",
    HeaderKind.APPROVED: "under another approved license",
    HeaderKind.CATEGORY_B: "under a Category B license",
    HeaderKind.UNAPPROVED: "under a Category X license",
    HeaderKind.UNRECOGNISED: "under an unlisted SPDX license",
    HeaderKind.MISSING: "source files without a header",
    HeaderKind.EXCEPTION: "GPL with a build tool's exception",
    HeaderKind.GENERATED: "generated",
    HeaderKind.BUILD: "build and tooling files",
    HeaderKind.EMPTY: "empty",
    HeaderKind.DATA: "data files",
    HeaderKind.NOTICE: "notices and documents",
    HeaderKind.BINARY: "binary",
    HeaderKind.EXCLUDED: "excluded",
}


def folder_summary(
    paths: Sequence[tuple[str, str]], *, max_folders: int = MAX_FOLDERS
) -> list[dict[str, Any]]:
    """Where the reported files are: ``(relpath, reason)`` pairs grouped into at most
    ``max_folders`` folders, most files first. Folders are opened from the top, the
    biggest first, as long as the count allows, so a folder of many files is named as
    deep as it goes. Each entry is ``{folder, files, reasons: {reason: n}, pattern}``;
    ``pattern`` is the exclude glob that covers the entry (``folder/**``, or ``folder/*``
    when its files are all directly in it; ``*`` or ``**`` at the top)."""
    groups: dict[tuple[str, ...], list[tuple[tuple[str, ...], str]]] = {(): []}
    for relpath, reason in paths:
        groups[()].append((tuple(relpath.split("/")[:-1]), reason))
    opened = True
    while opened:
        opened = False
        for key in sorted(groups, key=lambda k: -len(groups[k])):
            split: dict[tuple[str, ...], list[tuple[tuple[str, ...], str]]] = {}
            for item in groups[key]:
                folder = item[0]
                split.setdefault(
                    folder[: len(key) + 1] if len(folder) > len(key) else key, []
                ).append(item)
            if list(split) == [key] or len(groups) - 1 + len(split) > max_folders:
                continue
            del groups[key]
            groups.update(split)
            opened = True
            break
    entries: list[tuple[int, str, dict[str, Any]]] = []
    for key, items in groups.items():
        if not items:
            continue
        name = "/".join(key)
        deeper = any(len(f) > len(key) for f, _ in items)
        entry = {
            "folder": name,
            "files": len(items),
            "reasons": dict(Counter(reason for _, reason in items).most_common()),
            "pattern": (f"{name}/" if name else "") + ("**" if deeper else "*"),
        }
        entries.append((-len(items), name, entry))
    return [entry for _, _, entry in sorted(entries, key=lambda e: (e[0], e[1]))]


def check_scan(
    scan: SourceScan, *, artifact: str, policy: Policy | None = None, recorder: Recorder
) -> None:
    """Record the summary and the per-file results for one scanned archive."""
    rules = HeaderRules.of(policy or Policy(), scan)
    counts: Counter[HeaderKind] = Counter()
    findings: list[tuple[Status, ScannedFile, HeaderKind]] = []
    for file in scan.files:
        kind = rules.kind(file)
        counts[kind] += 1
        status = rules.status(kind)
        if status is not None:
            findings.append((status, file, kind))
    findings.sort(key=lambda f: f[0].rank)  # stable: worst first, archive order within
    blockers = [f for f in findings if f[0] is Status.BLOCKER]
    others = [f for f in findings if f[0] is not Status.BLOCKER]
    listed = blockers + others[:MAX_FILE_RESULTS]
    serious = [f for f in findings if f[0] in (Status.BLOCKER, Status.WARNING)]
    reasons = Counter(f"{kind.value}:{status.value}" for status, _, kind in findings)
    recorder.record(
        Status.NOTE if serious else Status.PASS,
        artifact,
        _summary_message(counts, serious),
        mode=rules.mode,
        missing_status=rules.missing.value,
        counts={kind.value: counts[kind] for kind in _SUMMARY_ORDER},
        reasons=[
            {"reason": key.split(":")[0], "status": key.split(":")[1], "files": n}
            for key, n in sorted(
                reasons.items(), key=lambda kv: (Status(kv[0].split(":")[1]).rank, -kv[1])
            )
        ],
        folders=folder_summary([(f.relpath, kind.value) for _, f, kind in serious]),
        omitted=len(findings) - len(listed),
        excludes=list(rules.excludes.patterns),
    )
    for status, file, kind in listed:
        recorder.record(
            status,
            member_result_path(artifact, file.relpath),
            f"{file.relpath}: {rules.message(kind, file.verdict.license)}",
            member=file.relpath,
            kind=kind.value,
            license=file.verdict.license,
        )


def _summary_message(
    counts: Counter[HeaderKind], serious: list[tuple[Status, ScannedFile, HeaderKind]]
) -> str:
    total = sum(counts.values())
    parts = [f"{counts[kind]:,} {_LABELS[kind]}" for kind in _SUMMARY_ORDER if counts[kind]]
    head = f"{total:,} files: " + ", ".join(parts)
    if not serious:
        return head
    worst = Counter(status.value for status, _, _ in serious)
    found = " and ".join(f"{n:,} {status}{'s' if n != 1 else ''}" for status, n in worst.items())
    return f"{head} — {found}, by folder in the details"


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Check the license headers of the files in the source archive ``artifact``."""
    scan = scan_for_check(inputs, recorder, artifact=artifact)
    if scan is None or artifact is None:
        return
    check_scan(scan, artifact=artifact, policy=inputs.policy, recorder=recorder)
