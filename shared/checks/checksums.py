"""Checksums: each artifact's ``.sha512`` / ``.sha256``, in the formats people really publish.

Read formats (hex in upper or lower case, CRLF or LF)::

    <hash>  <name>                       sha512sum / shasum
    <hash> *<name>                       the same in binary mode
    SHA512 (<name>) = <hash>             BSD tags (also SHA2-512(<name>)= <hash> from openssl)
    <name>: E7C22B99 4C59D9CF ...        gpg --print-md, hex groups over several lines
            F94AAE41 EDDA2C2B ...
    <hash>                               the bare digest

Results for an artifact: a blocker when the digest does not match, when a ``.md5``
is published, or when there is no ``.sha512`` or ``.sha256`` at all; a warning for
``.sha1`` / ``.sha`` files; a pass for each digest that matches. The artifact is
hashed once, in 1 MiB chunks, for every algorithm needed.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from shared.checks.artifacts import companions, is_source_archive
from shared.checks.base import CheckInputs, Recorder, Scope
from shared.checks.digests import file_digests, hash_file
from shared.errors import ValidationError

__all__ = [
    "CHECK_ID",
    "CHECK_VERSION",
    "POLICY_FIELDS",
    "SCOPE",
    "ChecksumEntry",
    "ChecksumFormatError",
    "hash_file",
    "parse_checksum_file",
    "run",
]

CHECK_ID = "checksums"
CHECK_VERSION = 1
SCOPE = Scope.ARTIFACT
POLICY_FIELDS: tuple[str, ...] = ()
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

CHUNK = 1 << 20
SBOM_ALGORITHMS = frozenset({"sha256", "sha512"})
"""The digests the SBOM of a source archive records (:mod:`shared.checks.sbom`)."""
MAX_CHECKSUM_FILE_BYTES = 64 * 1024

_HEX_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64, "sha512": 128}
_NAMES = {"md5": "MD5", "sha1": "SHA-1", "sha256": "SHA-256", "sha512": "SHA-512"}
_BSD_ALGORITHMS = {
    "md5": "md5",
    "sha1": "sha1",
    "sha-1": "sha1",
    "sha256": "sha256",
    "sha-256": "sha256",
    "sha2-256": "sha256",
    "sha512": "sha512",
    "sha-512": "sha512",
    "sha2-512": "sha512",
}

_BSD_RE = re.compile(r"^([A-Za-z0-9-]+)\s*\((.+)\)\s*=\s*([0-9A-Fa-f]+)$")
_GNU_RE = re.compile(r"^\\?([0-9A-Fa-f]{32,128})[ \t]+\*?(.+)$")
# Hex groups separated by required whitespace: unambiguous, so matching stays linear.
_HEX_GROUPS = r"[0-9A-Fa-f]+(?:[ \t]+[0-9A-Fa-f]+)*"
_PRINT_MD_RE = re.compile(rf"^([^:]+):[ \t]*({_HEX_GROUPS})[ \t]*$")
_BARE_RE = re.compile(rf"^{_HEX_GROUPS}$")


class ChecksumFormatError(ValidationError):
    """A checksum file in no format this check reads."""


@dataclass(frozen=True, slots=True)
class ChecksumEntry:
    """One digest read from a checksum file."""

    digest: str
    """Lower-case hex."""
    name: str | None
    """The file name the line gives (``None`` for a bare digest)."""
    algorithm: str | None = None
    """The algorithm a BSD tag declares (``None``: not declared)."""


def _clean_name(name: str) -> str:
    name = name.strip()
    while name.startswith("./"):
        name = name[2:]
    return name


def _parse_lines(lines: list[str]) -> list[ChecksumEntry] | None:
    """Lines in the BSD or GNU formats (one entry per line), or None if they are not."""
    entries: list[ChecksumEntry] = []
    for line in lines:
        bsd = _BSD_RE.match(line)
        if bsd:
            algorithm = _BSD_ALGORITHMS.get(bsd.group(1).lower())
            if algorithm is None:
                raise ChecksumFormatError(f"unknown hash algorithm {bsd.group(1)!r}")
            entries.append(
                ChecksumEntry(bsd.group(3).lower(), _clean_name(bsd.group(2)), algorithm)
            )
            continue
        gnu = _GNU_RE.match(line)
        if gnu and not _PRINT_MD_RE.match(line):
            name = gnu.group(2)
            if line.startswith("\\"):  # GNU escapes \\ and \n in names and marks the line
                name = name.replace("\\n", "\n").replace("\\\\", "\\")
            entries.append(ChecksumEntry(gnu.group(1).lower(), _clean_name(name)))
            continue
        return None
    return entries


def _parse_print_md(lines: list[str]) -> list[ChecksumEntry] | None:
    """GnuPG's ``--print-md`` layout: ``name: HEX HEX`` and indented continuation lines."""
    entries: list[ChecksumEntry] = []
    name: str | None = None
    groups: list[str] = []
    for raw in lines:
        if raw[:1].isspace() and name is not None:
            if not _BARE_RE.match(raw.strip()):
                return None
            groups.append(raw.strip())
            continue
        match = _PRINT_MD_RE.match(raw)
        if not match:
            return None
        if name is not None:
            entries.append(ChecksumEntry("".join("".join(groups).split()).lower(), name))
        name, groups = _clean_name(match.group(1)), [match.group(2)]
    if name is not None:
        entries.append(ChecksumEntry("".join("".join(groups).split()).lower(), name))
    return entries


def parse_checksum_file(text: str) -> list[ChecksumEntry]:
    """Every digest in ``text``; raises :class:`ChecksumFormatError` if it is in no known format."""
    text = text.lstrip("\ufeff")
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    if not lines:
        raise ChecksumFormatError("the checksum file is empty")
    if all(_BARE_RE.match(line.strip()) for line in lines):
        return [ChecksumEntry("".join("".join(lines).split()).lower(), None)]
    for parser in (_parse_lines, _parse_print_md):
        entries = parser(lines)
        if entries:
            return entries
    raise ChecksumFormatError(f"no digest in a known format (first line: {lines[0][:80]!r})")


def _pick(entries: list[ChecksumEntry], artifact_name: str) -> tuple[ChecksumEntry, bool]:
    """The entry for the artifact, and whether the file names the artifact."""
    for entry in entries:
        if entry.name is not None and entry.name.rsplit("/", 1)[-1] == artifact_name:
            return entry, True
    first = entries[0]
    return first, first.name is None


def _read_entries(path: Path, checksum: str, recorder: Recorder) -> list[ChecksumEntry] | None:
    size = path.stat().st_size
    if size > MAX_CHECKSUM_FILE_BYTES:
        recorder.blocker(checksum, f"{size:,} bytes: too large to be a checksum file")
        return None
    try:
        return parse_checksum_file(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError:
        recorder.blocker(checksum, "not a text file: no checksum can be read from it")
    except ChecksumFormatError as exc:
        recorder.blocker(checksum, f"cannot read the checksum: {exc}")
    return None


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Check the checksum files of ``artifact``."""
    if artifact is None:
        return
    found = companions(artifact, inputs.files)
    if not found.strong_checksums:
        recorder.blocker(
            artifact,
            "no SHA-512 or SHA-256 checksum: publish a .sha512 (or .sha256) file",
            artifact=artifact,
        )
    wanted: dict[str, tuple[str, ChecksumEntry, bool]] = {}
    for checksum, algorithm in found.checksums.items():
        if algorithm == "md5":
            recorder.blocker(
                checksum, "MD5 checksums are not allowed: publish SHA-512", artifact=artifact
            )
            continue
        entries = _read_entries(inputs.files[checksum], checksum, recorder)
        if entries is None:
            continue
        entry, named = _pick(entries, artifact.rsplit("/", 1)[-1])
        if entry.algorithm is not None and entry.algorithm != algorithm:
            recorder.blocker(
                checksum,
                f"holds a {_NAMES[entry.algorithm]} digest but is named for {_NAMES[algorithm]}",
                artifact=artifact,
            )
            continue
        if len(entry.digest) != _HEX_LENGTHS[algorithm]:
            recorder.blocker(
                checksum,
                f"not a {_NAMES[algorithm]} digest: {len(entry.digest)} hex digits "
                f"instead of {_HEX_LENGTHS[algorithm]}",
                artifact=artifact,
            )
            continue
        wanted[checksum] = (algorithm, entry, named)
    if not wanted:
        return
    algorithms = {alg for alg, _, _ in wanted.values()}
    if is_source_archive(artifact):
        algorithms |= SBOM_ALGORITHMS  # the SBOM check's: one read of the file serves both
    actual = file_digests(inputs.files[artifact], algorithms)
    for checksum, (algorithm, entry, named) in wanted.items():
        _report(
            recorder,
            checksum=checksum,
            artifact=artifact,
            algorithm=algorithm,
            entry=entry,
            named=named,
            actual=actual[algorithm],
        )


def _report(
    recorder: Recorder,
    *,
    checksum: str,
    artifact: str,
    algorithm: str,
    entry: ChecksumEntry,
    named: bool,
    actual: str,
) -> None:
    label = _NAMES[algorithm]
    data = {"artifact": artifact, "algorithm": algorithm, "expected": entry.digest}
    if not secrets.compare_digest(entry.digest, actual):
        recorder.blocker(
            checksum,
            f"{label} MISMATCH: the artifact does not have the published digest",
            actual=actual,
            **data,
        )
        return
    if algorithm == "sha1":
        recorder.warning(
            checksum, "SHA-1 matches, but SHA-1 is deprecated: publish SHA-512", **data
        )
        return
    if not named:
        recorder.warning(
            checksum,
            f"{label} matches, but the file names {entry.name!r}, not the artifact "
            "(a `sha512sum -c` would fail)",
            **data,
        )
        return
    recorder.passed(checksum, f"{label} matches", **data)
