"""License headers of the files in each source archive: Apache RAT's rules in Python.

Every regular file gets a verdict from :func:`shared.checks.header_rules.judge`
(its first 50 lines, normalised to letters and digits, against the Apache header,
``SPDX-License-Identifier`` tags and the other license families). Files matched by
``.rat-excludes`` at the archive root or by ``policy.license_header_excludes`` are
excluded. Results:

* per file (at most :data:`MAX_FILE_RESULTS`, worst first): **blocker** for a source
  file with no license header and for a Category X license (GPL family…);
  **warning** for a Category B license (CDDL, MPL, EPL: binary-only) and for an SPDX
  tag no category lists; **note** for another approved family (MIT, BSD…:
  third-party code, which LICENSE should mention);
* one summary result for the archive with the counts of every kind
  (``data.counts``) and how many per-file results were left out (``data.omitted``).
  It repeats no per-file result, so each can be ignored on its own: it is a blocker
  (or warning) only for findings left out past the bound, else a note when files
  were reported and a pass when none were.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections import Counter
from collections.abc import Iterable

from shared.checks.base import CheckInputs, Recorder, Scope, Status
from shared.checks.header_rules import HeaderKind
from shared.checks.source_scan import ScannedFile, SourceScan, member_result_path, scan_for_check

__all__ = [
    "CHECK_ID",
    "CHECK_VERSION",
    "MAX_FILE_RESULTS",
    "SCOPE",
    "ExcludeRules",
    "check_scan",
    "run",
]

CHECK_ID = "license_headers"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT

MAX_FILE_RESULTS = 200
"""Per-file results recorded for one archive at most (the summary counts them all)."""
RAT_EXCLUDES = ".rat-excludes"

_STATUS_OF_KIND = {
    HeaderKind.MISSING: Status.BLOCKER,
    HeaderKind.UNAPPROVED: Status.BLOCKER,
    HeaderKind.CATEGORY_B: Status.WARNING,
    HeaderKind.UNRECOGNISED: Status.WARNING,
    HeaderKind.APPROVED: Status.NOTE,
}
_MESSAGES = {
    HeaderKind.MISSING: "no license header",
    HeaderKind.UNAPPROVED: "a Category X license ({license}): it cannot be in an ASF release",
    HeaderKind.CATEGORY_B: "a Category B license ({license}): allowed in binary form only",
    HeaderKind.UNRECOGNISED: "an SPDX license no category lists ({license})",
    HeaderKind.APPROVED: "third-party code under {license}: LICENSE should say so",
}


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


def _kind(file: ScannedFile, excludes: ExcludeRules) -> HeaderKind:
    if file.verdict.kind in (HeaderKind.NOTICE, HeaderKind.BINARY):
        return file.verdict.kind
    if excludes.matches(file.relpath) or posixpath.basename(file.relpath) == RAT_EXCLUDES:
        return HeaderKind.EXCLUDED
    return file.verdict.kind


def _rules(scan: SourceScan, project_excludes: Iterable[str]) -> ExcludeRules:
    rat = scan.root_files.get(RAT_EXCLUDES)
    rat_lines = rat.decode("utf-8", errors="replace").splitlines() if rat is not None else []
    return ExcludeRules([*rat_lines, *project_excludes])


_SUMMARY_ORDER = (
    HeaderKind.APACHE,
    HeaderKind.APPROVED,
    HeaderKind.CATEGORY_B,
    HeaderKind.UNAPPROVED,
    HeaderKind.UNRECOGNISED,
    HeaderKind.MISSING,
    HeaderKind.GENERATED,
    HeaderKind.EMPTY,
    HeaderKind.DATA,
    HeaderKind.NOTICE,
    HeaderKind.BINARY,
    HeaderKind.EXCLUDED,
)


def check_scan(
    scan: SourceScan, *, artifact: str, excludes: Iterable[str], recorder: Recorder
) -> None:
    """Record per-file results and the summary for one scanned archive."""
    rules = _rules(scan, excludes)
    counts: Counter[HeaderKind] = Counter()
    findings: list[tuple[Status, ScannedFile, HeaderKind]] = []
    for file in scan.files:
        kind = _kind(file, rules)
        counts[kind] += 1
        status = _STATUS_OF_KIND.get(kind)
        if status is not None:
            findings.append((status, file, kind))
    findings.sort(key=lambda f: f[0].rank)  # stable: worst first, archive order within
    for status, file, kind in findings[:MAX_FILE_RESULTS]:
        license_ = file.verdict.license or ""
        recorder.record(
            status,
            member_result_path(artifact, file.relpath),
            f"{file.relpath}: {_MESSAGES[kind].format(license=license_)}",
            member=file.relpath,
            kind=kind.value,
            license=file.verdict.license,
        )
    summary_status = _summary_status(findings)
    bad = counts[HeaderKind.MISSING] + counts[HeaderKind.UNAPPROVED]
    checked = counts[HeaderKind.APACHE] + counts[HeaderKind.APPROVED] + bad
    message = (
        f"{counts[HeaderKind.APACHE]:,} files with the Apache header, "
        f"{counts[HeaderKind.MISSING]:,} without a license header, "
        f"{counts[HeaderKind.UNAPPROVED]:,} under a Category X license "
        f"({checked:,} checked; {counts[HeaderKind.GENERATED]:,} generated, "
        f"{counts[HeaderKind.EMPTY]:,} empty, "
        f"{counts[HeaderKind.BINARY]:,} binary, {counts[HeaderKind.EXCLUDED]:,} excluded)"
    )
    recorder.record(
        summary_status,
        artifact,
        message,
        counts={kind.value: counts[kind] for kind in _SUMMARY_ORDER},
        omitted=max(len(findings) - MAX_FILE_RESULTS, 0),
        excludes=list(rules.patterns),
    )


def _summary_status(findings: list[tuple[Status, ScannedFile, HeaderKind]]) -> Status:
    """The summary repeats no per-file result (each can be ignored on its own): it carries
    the worst status of the findings left out past the bound; otherwise it is a note when
    files were reported, a pass when none were."""
    omitted = findings[MAX_FILE_RESULTS:]
    worst = min((f[0] for f in omitted), key=lambda s: s.rank, default=Status.PASS)
    if worst in (Status.BLOCKER, Status.WARNING):
        return worst
    serious = any(f[0] in (Status.BLOCKER, Status.WARNING) for f in findings)
    return Status.NOTE if serious else Status.PASS


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Check the license headers of the files in the source archive ``artifact``."""
    scan = scan_for_check(inputs, recorder, artifact=artifact)
    if scan is None or artifact is None:
        return
    check_scan(
        scan, artifact=artifact, excludes=inputs.policy.license_header_excludes, recorder=recorder
    )
