"""What each file of a release is: an artifact, a signature, a checksum, or something else.

Every check agrees on one answer, given here from the file's release-relative
path alone (no file is opened)::

    apache-foo-1.0-src.tar.gz          ARTIFACT   (a source archive)
    apache-foo-1.0-src.tar.gz.asc      SIGNATURE  of apache-foo-1.0-src.tar.gz
    apache-foo-1.0-src.tar.gz.sha512   CHECKSUM   of apache-foo-1.0-src.tar.gz
    apache-foo-1.0-src.tar.gz.cdx.json SBOM       supplied for apache-foo-1.0-src.tar.gz
    KEYS                               KEYS
    README.txt, RELEASE-NOTES.html     DOCUMENT   (known companions of a release)
    anything else                      OTHER      (reported by the paths check)

A companion (signature, checksum, SBOM) belongs to the file whose path it
extends; :func:`companions` finds them for an artifact. Archive formats that the
archive checks read are told by :func:`archive_format`; the root folder a source
archive should unpack to by :func:`expected_roots`. :func:`release_files` lists a release
folder's files by those release paths.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

__all__ = [
    "ARCHIVE_SUFFIXES",
    "CHECKSUM_SUFFIXES",
    "ArchiveFormat",
    "Companions",
    "FileKind",
    "archive_format",
    "archive_stem",
    "artifact_of",
    "classify",
    "companions",
    "expected_roots",
    "find_artifacts",
    "is_source_archive",
]


class FileKind(StrEnum):
    """What a file of a release is."""

    ARTIFACT = "artifact"
    SIGNATURE = "signature"
    CHECKSUM = "checksum"
    SBOM = "sbom"
    KEYS = "keys"
    DOCUMENT = "document"
    OTHER = "other"


class ArchiveFormat(StrEnum):
    """Archive formats the archive checks read (in a stream, without extracting)."""

    TAR_GZ = "tar.gz"
    TAR_BZ2 = "tar.bz2"
    TAR_XZ = "tar.xz"
    ZIP = "zip"

    @property
    def is_tar(self) -> bool:
        return self is not ArchiveFormat.ZIP


ARCHIVE_SUFFIXES: Mapping[str, ArchiveFormat] = {
    ".tar.gz": ArchiveFormat.TAR_GZ,
    ".tgz": ArchiveFormat.TAR_GZ,
    ".tar.bz2": ArchiveFormat.TAR_BZ2,
    ".tar.xz": ArchiveFormat.TAR_XZ,
    ".zip": ArchiveFormat.ZIP,
}
"""Suffix (lower case) → format of the archives read by the archive checks."""

SIGNATURE_SUFFIXES = (".asc", ".sig")
"""``.asc``: the required ASCII-armored detached signature; ``.sig``: a forbidden binary one."""

CHECKSUM_SUFFIXES: Mapping[str, str] = {
    ".sha512": "sha512",
    ".sha256": "sha256",
    ".sha1": "sha1",
    ".sha": "sha1",
    ".md5": "md5",
}
"""Suffix → hash algorithm of the checksum files people publish (``.md5`` is refused,
``.sha1`` and ``.sha`` warned about)."""

SBOM_SUFFIX = ".cdx.json"

# Packages and installers that are artifacts besides the archives above.
_OTHER_ARTIFACT_SUFFIXES = (
    ".tar",
    ".tar.zst",
    ".tbz2",
    ".txz",
    ".7z",
    ".jar",
    ".war",
    ".ear",
    ".aar",
    ".nar",
    ".pom",
    ".whl",
    ".egg",
    ".gem",
    ".nupkg",
    ".crate",
    ".rpm",
    ".deb",
    ".apk",
    ".dmg",
    ".pkg",
    ".msi",
    ".exe",
    ".appimage",
    ".snap",
    ".vsix",
    ".xpi",
)

_DOCUMENT_NAMES = frozenset(
    {
        "readme",
        "changes",
        "changelog",
        "release-notes",
        "releasenotes",
        "news",
        "header",
        "footer",
        "notice",
        "license",
        "disclaimer",
        "disclaimer-wip",
    }
)
_DOCUMENT_SUFFIXES = ("", ".txt", ".md", ".html", ".htm", ".rst", ".adoc")

# Names marking a binary (convenience) archive rather than a source release.
_BINARY_MARKERS = ("-bin", "-binary", "-binaries", "-dist", "-runtime")
_SOURCE_VARIANTS = ("-source-release", "-src-release", "-sources", "-source", "-src")


def _lower_name(path: str) -> str:
    return posixpath.basename(path).lower()


def archive_format(path: str) -> ArchiveFormat | None:
    """The archive format of ``path`` by its name, or ``None`` if the checks do not read it."""
    name = _lower_name(path)
    for suffix, fmt in ARCHIVE_SUFFIXES.items():
        if name.endswith(suffix) and len(name) > len(suffix):
            return fmt
    return None


def archive_stem(path: str) -> str:
    """The file name without its archive suffix: ``foo-1.0-src.tar.gz`` → ``foo-1.0-src``."""
    name = posixpath.basename(path)
    lower = name.lower()
    for suffix in (*ARCHIVE_SUFFIXES, *_OTHER_ARTIFACT_SUFFIXES):
        if lower.endswith(suffix) and len(lower) > len(suffix):
            return name[: -len(suffix)]
    return name


def is_source_archive(path: str) -> bool:
    """True for an archive the checks read whose name does not mark it as a binary build.

    ``foo-1.0-src.tar.gz``, ``foo-1.0.tar.gz`` and ``foo-1.0-source-release.zip``
    are source archives; ``foo-1.0-bin.tar.gz`` is not, nor is a ``.jar``.
    """
    if archive_format(path) is None:
        return False
    stem = archive_stem(path).lower()
    return not any(
        stem.endswith(marker) or f"{marker}-" in stem or f"{marker}." in stem
        for marker in _BINARY_MARKERS
    )


def expected_roots(path: str) -> tuple[str, ...]:
    """Root folder names accepted for the archive ``path``: its stem, and the stem
    without a ``-src``/``-source``/``-sources``/``-source-release`` suffix."""
    stem = archive_stem(path)
    roots = [stem]
    lower = stem.lower()
    for variant in _SOURCE_VARIANTS:
        if lower.endswith(variant) and len(stem) > len(variant):
            roots.append(stem[: -len(variant)])
            break
    return tuple(roots)


def _companion_split(path: str) -> tuple[FileKind, str] | None:
    lower = path.lower()
    if lower.endswith(SBOM_SUFFIX) and len(path) > len(SBOM_SUFFIX):
        return FileKind.SBOM, path[: -len(SBOM_SUFFIX)]
    for suffix in SIGNATURE_SUFFIXES:
        if lower.endswith(suffix) and len(path) > len(suffix):
            return FileKind.SIGNATURE, path[: -len(suffix)]
    for suffix in CHECKSUM_SUFFIXES:
        if lower.endswith(suffix) and len(path) > len(suffix):
            return FileKind.CHECKSUM, path[: -len(suffix)]
    return None


def _is_artifact_name(name: str) -> bool:
    if name.startswith("."):
        return False
    return any(
        name.endswith(suffix) and len(name) > len(suffix)
        for suffix in (*ARCHIVE_SUFFIXES, *_OTHER_ARTIFACT_SUFFIXES)
    )


def _is_document_name(name: str) -> bool:
    for suffix in _DOCUMENT_SUFFIXES:
        if name.endswith(suffix) and name[: len(name) - len(suffix)] in _DOCUMENT_NAMES:
            return True
    return False


def classify(path: str) -> FileKind:
    """The kind of the release file at ``path`` (release-relative, '/'-separated)."""
    name = _lower_name(path)
    if name in ("keys", "keys.txt", "keys.asc"):
        return FileKind.KEYS
    if name.startswith("."):
        return FileKind.OTHER
    companion = _companion_split(posixpath.basename(path))
    if companion is not None:
        return companion[0]
    if _is_artifact_name(name):
        return FileKind.ARTIFACT
    if _is_document_name(name):
        return FileKind.DOCUMENT
    return FileKind.OTHER


def artifact_of(path: str) -> str | None:
    """For a signature, checksum or SBOM file, the path of the file it belongs to; else ``None``.

    The file need not exist: ``foo.tar.gz.asc`` → ``foo.tar.gz``.
    """
    if classify(path) not in (FileKind.SIGNATURE, FileKind.CHECKSUM, FileKind.SBOM):
        return None
    split = _companion_split(path)
    return split[1] if split is not None else None


def find_artifacts(paths: Iterable[str]) -> list[str]:
    """The artifacts among ``paths``, sorted."""
    return sorted(p for p in paths if classify(p) is FileKind.ARTIFACT)


@dataclass(frozen=True, slots=True)
class Companions:
    """The files that accompany one artifact, each list sorted."""

    signatures: tuple[str, ...]
    """``.asc`` files (the required kind)."""
    binary_signatures: tuple[str, ...]
    """``.sig`` files (forbidden)."""
    checksums: Mapping[str, str]
    """checksum file path → algorithm (``sha512``, ``sha256``, ``sha1``, ``md5``)."""
    sbom: str | None

    @property
    def strong_checksums(self) -> tuple[str, ...]:
        """The ``.sha512`` / ``.sha256`` files."""
        return tuple(p for p, alg in self.checksums.items() if alg in ("sha512", "sha256"))


def companions(artifact: str, paths: Iterable[str]) -> Companions:
    """The signature, checksum and SBOM files among ``paths`` that belong to ``artifact``."""
    signatures: list[str] = []
    binary: list[str] = []
    checksums: dict[str, str] = {}
    sbom: str | None = None
    prefix_len = len(artifact)
    for path in sorted(paths):
        if (
            len(path) <= prefix_len
            or not path.startswith(artifact)
            or artifact_of(path) != artifact
        ):
            continue
        suffix = path[prefix_len:].lower()
        if suffix == ".asc":
            signatures.append(path)
        elif suffix == ".sig":
            binary.append(path)
        elif suffix in CHECKSUM_SUFFIXES:
            checksums[path] = CHECKSUM_SUFFIXES[suffix]
        elif suffix == SBOM_SUFFIX:
            sbom = path
    return Companions(tuple(signatures), tuple(binary), checksums, sbom)


def release_files(directory: Path) -> dict[str, Path]:
    """The regular files under ``directory`` by release path (``/``-separated, relative),
    in sorted order; symbolic links to folders are not followed."""
    files: dict[str, Path] = {}
    for root, dirs, names in os.walk(directory, followlinks=False):
        dirs.sort()
        for name in sorted(names):
            path = Path(root, name)
            if path.is_file():
                files[path.relative_to(directory).as_posix()] = path
    return files
