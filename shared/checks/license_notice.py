"""LICENSE, NOTICE and DISCLAIMER at the root of each source archive.

* Exactly one LICENSE (``LICENSE``, ``LICENSE.txt``, ``LICENSE.md``, any case) at the
  root, beginning with the full Apache License 2.0 text through "END OF TERMS AND
  CONDITIONS" — compared word by word, so line wrapping, indentation and
  ``http``/``https`` do not matter; the appendix and third-party licenses may follow.
* Exactly one NOTICE with the ASF attribution sentence ("This product includes
  software developed at The Apache Software Foundation (http://www.apache.org/).",
  wrapped anyhow, ``https`` accepted) and a copyright line (``Copyright`` and a year).
  A NOTICE that credits "The Apache Software Foundation (http://www.apache.org/)" in
  other words gets a warning instead of a blocker.
* Podlings (``policy.podling``) also need ``DISCLAIMER`` or ``DISCLAIMER-WIP``.

A failure carries ``data.diff``: a unified diff of the first part that differs
from what is expected, for the desktop to show.
"""

from __future__ import annotations

import datetime
import difflib
import re
from dataclasses import dataclass
from importlib import resources

from shared.checks.base import CheckInputs, Recorder, Scope
from shared.checks.source_scan import SourceScan, member_result_path, scan_for_check

__all__ = [
    "CHECK_ID",
    "CHECK_VERSION",
    "SCOPE",
    "LicenseComparison",
    "NoticeFindings",
    "apache_license_text",
    "check_notice",
    "compare_license",
    "run",
]

CHECK_ID = "license_notice"
CHECK_VERSION = 2
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ("archive", "podling")
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

_CONTEXT = 3
_END_OF_TERMS = "END OF TERMS AND CONDITIONS"


def apache_license_text() -> str:
    """The canonical Apache License 2.0 text (with its appendix), as published by the ASF."""
    return resources.files("shared.checks").joinpath("data/apache-2.0.txt").read_text("utf-8")


_QUOTES = str.maketrans({"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'"})


def _tokens(text: str) -> list[tuple[str, int]]:
    """Words of ``text`` with their 0-based line numbers; ``https://`` read as ``http://``."""
    out: list[tuple[str, int]] = []
    for number, line in enumerate(text.translate(_QUOTES).splitlines()):
        for word in line.split():
            out.append((word.replace("https://", "http://"), number))
    return out


@dataclass(frozen=True, slots=True)
class LicenseComparison:
    """How a LICENSE text compares with the Apache License 2.0."""

    matches: bool
    line: int | None = None
    """1-based line of the LICENSE file where it departs (``None`` if it matches)."""
    expected: str | None = None
    """The words of the license expected there."""
    found: str | None = None
    """The words found there instead (empty if the file ends)."""
    diff: str | None = None
    """Unified diff of the first differing part."""
    appended: bool = False
    """True if more text follows the terms (the appendix, third-party licenses…)."""


def _window(lines: list[str], center: int) -> tuple[int, list[str]]:
    start = max(center - _CONTEXT, 0)
    return start, lines[start : center + _CONTEXT + 3]


def _diff(
    expected_lines: list[str],
    expected_at: int,
    actual_lines: list[str],
    actual_at: int,
    *,
    actual_name: str,
    expected_name: str,
) -> str:
    """A unified diff of two texts around the given 0-based lines, with true line numbers."""
    exp_start, exp = _window(expected_lines, expected_at)
    act_start, act = _window(actual_lines, actual_at)
    out: list[str] = []
    for line in difflib.unified_diff(exp, act, expected_name, actual_name, n=_CONTEXT, lineterm=""):
        hunk = re.match(r"^@@ -(\d+)(,\d+)? \+(\d+)(,\d+)? @@", line)
        if hunk is None:
            out.append(line)
            continue
        out.append(
            f"@@ -{int(hunk.group(1)) + exp_start}{hunk.group(2) or ''} "
            f"+{int(hunk.group(3)) + act_start}{hunk.group(4) or ''} @@"
        )
    return "\n".join(out)


def compare_license(text: str, *, name: str = "LICENSE") -> LicenseComparison:
    """Compare a LICENSE file's text with the Apache License 2.0, word by word."""
    canonical = apache_license_text()
    required = canonical[: canonical.index(_END_OF_TERMS) + len(_END_OF_TERMS)]
    want = _tokens(required)
    got = _tokens(text.lstrip("\ufeff"))
    for index, (word, line) in enumerate(want):
        if index < len(got) and got[index][0] == word:
            continue
        got_line = got[index][1] if index < len(got) else (got[-1][1] + 1 if got else 0)
        actual_lines = text.lstrip("\ufeff").splitlines()
        return LicenseComparison(
            matches=False,
            line=got_line + 1,
            expected=" ".join(w for w, _ in want[index : index + 8]),
            found=" ".join(w for w, _ in got[index : index + 8]),
            diff=_diff(
                canonical.splitlines(),
                line,
                actual_lines,
                got_line,
                actual_name=name,
                expected_name="Apache License 2.0 (expected)",
            ),
        )
    return LicenseComparison(matches=True, appended=len(got) > len(want))


_ATTRIBUTION = re.compile(
    r"This\s+product\s+includes\s+software\s+developed\s+(?:at|by)\s+"
    r"The\s+Apache\s+Software\s+Foundation\s*\(\s*https?://www\.apache\.org/?\s*\)",
    re.IGNORECASE,
)
_CREDITS_ASF = re.compile(
    r"The\s+Apache\s+Software\s+Foundation\s*\(\s*https?://www\.apache\.org/?\s*\)",
    re.IGNORECASE,
)
_COPYRIGHT = re.compile(r"^\s*Copyright\b.*\b(?:19|20)\d{2}\b", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class NoticeFindings:
    """What a NOTICE file holds of what it must."""

    attribution: bool
    copyright: bool
    diff: str | None = None
    credits_asf: bool = False
    """The ASF is credited with its address, in words other than the standard sentence
    (Subversion and Serf: "…developed by many people, and distributed under Contributor
    License Agreements to The Apache Software Foundation (http://www.apache.org/)")."""
    """Unified diff from the expected opening of a NOTICE to this one's (if something lacks)."""


def expected_notice(project: str, *, year: int | None = None) -> str:
    """The opening a NOTICE file is expected to have."""
    year = year or datetime.datetime.now(tz=datetime.UTC).year
    title = project.replace("-", " ").title()
    return (
        f"Apache {title}\n"
        f"Copyright {year} The Apache Software Foundation\n"
        "\n"
        "This product includes software developed at\n"
        "The Apache Software Foundation (https://www.apache.org/).\n"
    )


def check_notice(text: str, *, project: str, name: str = "NOTICE") -> NoticeFindings:
    """Look for the ASF attribution sentence and a copyright line in a NOTICE text."""
    flat = " ".join(text.split())
    attribution = _ATTRIBUTION.search(flat) is not None
    copyright_ = _COPYRIGHT.search(text) is not None
    if attribution and copyright_:
        return NoticeFindings(True, True)
    expected = expected_notice(project).splitlines()
    actual = text.lstrip("\ufeff").splitlines()[: len(expected) + 3]
    diff = "\n".join(
        difflib.unified_diff(
            expected, actual, "NOTICE (expected opening)", name, n=_CONTEXT, lineterm=""
        )
    )
    credits = attribution or _CREDITS_ASF.search(flat) is not None
    return NoticeFindings(attribution, copyright_, diff, credits)


_LICENSE_NAMES = ("license", "license.txt", "license.md", "licence", "licence.txt", "licence.md")
_NOTICE_NAMES = ("notice", "notice.txt", "notice.md")
_DISCLAIMER_NAMES = (
    "disclaimer",
    "disclaimer.txt",
    "disclaimer-wip",
    "disclaimer-wip.txt",
    "disclaimer.md",
)


def _root_candidates(scan: SourceScan, names: tuple[str, ...]) -> list[str]:
    return [f.relpath for f in scan.files if "/" not in f.relpath and f.relpath.lower() in names]


def _text_of(scan: SourceScan, relpath: str) -> str:
    return scan.root_files.get(relpath, b"").decode("utf-8", errors="replace")


def _check_license(scan: SourceScan, artifact: str, recorder: Recorder) -> None:
    found = _root_candidates(scan, _LICENSE_NAMES)
    if not found:
        recorder.blocker(artifact, "no LICENSE file at the root of the archive", expected="LICENSE")
        return
    if len(found) > 1:
        recorder.blocker(
            artifact,
            f"{len(found)} LICENSE files at the root: exactly one is expected",
            files=found,
        )
        return
    relpath = found[0]
    where = member_result_path(artifact, relpath)
    comparison = compare_license(_text_of(scan, relpath), name=relpath)
    if comparison.matches:
        extra = "; more text follows it" if comparison.appended else ""
        recorder.passed(
            where,
            f"{relpath} begins with the Apache License 2.0{extra}",
            appended=comparison.appended,
        )
        return
    recorder.blocker(
        where,
        f"{relpath} does not begin with the Apache License 2.0: "
        f"it departs from it at line {comparison.line}",
        line=comparison.line,
        expected=comparison.expected,
        found=comparison.found,
        diff=comparison.diff,
    )


def _check_notice(scan: SourceScan, artifact: str, project: str, recorder: Recorder) -> None:
    found = _root_candidates(scan, _NOTICE_NAMES)
    if not found:
        recorder.blocker(
            artifact,
            "no NOTICE file at the root of the archive",
            diff=check_notice("", project=project).diff,
        )
        return
    if len(found) > 1:
        recorder.blocker(
            artifact, f"{len(found)} NOTICE files at the root: exactly one is expected", files=found
        )
        return
    relpath = found[0]
    where = member_result_path(artifact, relpath)
    findings = check_notice(_text_of(scan, relpath), project=project, name=relpath)
    missing = [
        what
        for what, ok in (
            ("the ASF attribution sentence", findings.attribution),
            ("a copyright line", findings.copyright),
        )
        if not ok
    ]
    if not missing:
        recorder.passed(where, f"{relpath} has the ASF attribution and a copyright line")
        return
    if missing == ["the ASF attribution sentence"] and findings.credits_asf:
        recorder.warning(
            where,
            f"{relpath} credits The Apache Software Foundation in its own words, not with the "
            'standard sentence "This product includes software developed at The Apache '
            'Software Foundation (http://www.apache.org/)."',
            attribution=False,
            credits_asf=True,
            copyright=True,
            diff=findings.diff,
        )
        return
    recorder.blocker(
        where,
        f"{relpath} lacks {' and '.join(missing)}",
        attribution=findings.attribution,
        copyright=findings.copyright,
        diff=findings.diff,
    )


def _check_disclaimer(scan: SourceScan, artifact: str, recorder: Recorder) -> None:
    found = _root_candidates(scan, _DISCLAIMER_NAMES)
    if not found:
        recorder.blocker(
            artifact,
            "no DISCLAIMER (or DISCLAIMER-WIP) at the root: podling releases need one",
            expected=["DISCLAIMER", "DISCLAIMER-WIP"],
        )
        return
    relpath = found[0]
    text = _text_of(scan, relpath)
    where = member_result_path(artifact, relpath)
    if "incubat" not in text.lower():
        recorder.warning(where, f"{relpath} does not mention the Apache Incubator")
        return
    recorder.passed(where, f"{relpath} is present")


def check_scan(
    scan: SourceScan, *, artifact: str, project: str, podling: bool, recorder: Recorder
) -> None:
    """Record the LICENSE, NOTICE (and, for podlings, DISCLAIMER) results of one scanned archive."""
    _check_license(scan, artifact, recorder)
    _check_notice(scan, artifact, project, recorder)
    if podling:
        _check_disclaimer(scan, artifact, recorder)


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Check LICENSE, NOTICE and DISCLAIMER in the source archive ``artifact``."""
    scan = scan_for_check(inputs, recorder, artifact=artifact)
    if scan is None or artifact is None:
        return
    check_scan(
        scan,
        artifact=artifact,
        project=inputs.project,
        podling=inputs.policy.podling,
        recorder=recorder,
    )
