"""Compiled code inside a source release.

A source release holds source: ``.class``, ``.jar``, ``.so``, ``.dll``, ``.exe``,
``.o``, ``.pyc``, ``.a``, ``.dylib``, ``.war``, ``.whl``… files — and any file whose
first bytes are an ELF, PE, Mach-O, Java class, WebAssembly or Python bytecode
header, whatever its name — are reported one by one (at most
:data:`MAX_FILE_RESULTS`) with the severity the project's policy chooses
(``policy.compiled_code``: ``blocker`` by default, or ``warning``), plus a summary
listing them all (``data.files``): a note, or of that severity when files were left
out of the per-file results.
"""

from __future__ import annotations

from shared.checks.base import CheckInputs, Recorder, Scope, Status
from shared.checks.source_scan import SourceScan, member_result_path, scan_for_check

__all__ = ["CHECK_ID", "CHECK_VERSION", "MAX_FILE_RESULTS", "SCOPE", "check_scan", "run"]

CHECK_ID = "compiled_code"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ("archive", "compiled_code")
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

MAX_FILE_RESULTS = 200
"""Per-file results recorded for one archive at most."""
MAX_LISTED = 5000
"""Files listed in the summary's ``data.files`` at most."""


def check_scan(scan: SourceScan, *, artifact: str, severity: Status, recorder: Recorder) -> None:
    """Record the compiled files of one scanned archive with ``severity``, and a summary."""
    found = [f for f in scan.files if f.compiled is not None]
    for file in found[:MAX_FILE_RESULTS]:
        recorder.record(
            severity,
            member_result_path(artifact, file.relpath),
            f"{file.relpath}: compiled code ({file.compiled}) in a source release",
            member=file.relpath,
            kind=file.compiled,
            size=file.size,
        )
    if not found:
        recorder.passed(artifact, f"no compiled code among {len(scan.files):,} files")
        return
    omitted = max(len(found) - MAX_FILE_RESULTS, 0)
    recorder.record(
        # Each listed file has its own result (ignorable on its own): the summary carries
        # the severity only for the files left out past the bound.
        severity if omitted else Status.NOTE,
        artifact,
        f"{len(found):,} compiled files in a source release",
        files=[{"path": f.relpath, "kind": f.compiled, "size": f.size} for f in found[:MAX_LISTED]],
        count=len(found),
        omitted=omitted,
    )


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Look for compiled code in the source archive ``artifact``."""
    scan = scan_for_check(inputs, recorder, artifact=artifact)
    if scan is None or artifact is None:
        return
    severity = Status.BLOCKER if inputs.policy.compiled_code == "blocker" else Status.WARNING
    check_scan(scan, artifact=artifact, severity=severity, recorder=recorder)
