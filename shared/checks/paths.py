"""Paths: the set of files of a release, by name (and, for small files, a look inside).

Run once per release. Blockers:

* no artifact at all, or no source archive among them;
* an artifact without its ``.asc`` signature or without a ``.sha512``/``.sha256`` checksum;
* a ``KEYS`` file among the release files (KEYS lives beside releases, not in one);
* dotfiles, editor and OS droppings (``.DS_Store``, ``Thumbs.db``, ``*~``, ``*.swp``, ``.#*``…);
* private keys: ``id_rsa`` and friends, ``*.key``, ``*.p12``/``*.pfx``, and any small file
  holding a PEM, OpenSSH or OpenPGP private key;
* a podling's artifact (``policy.podling``) without ``incubating`` in its name;
* a source archive whose name does not carry the release's version (release ``2.4.69``
  holding ``httpd-2.4.68.tar.gz``): the vote would be on other files than it says;
* a path that is not a clean relative path (``..``, control characters, not NFC).

Warnings: another artifact whose name does not carry the release's version; a
signature, checksum or SBOM whose artifact is missing. Notes: files of
unknown kind. Known documents (``README``, ``RELEASE-NOTES``…) pass.
"""

from __future__ import annotations

import fnmatch
import posixpath
import re

from shared.checks.artifacts import FileKind, artifact_of, classify, companions, is_source_archive
from shared.checks.base import CheckInputs, Recorder, Scope
from shared.errors import ValidationError
from shared.id_checks import check_relpath

CHECK_ID = "paths"
CHECK_VERSION = 2
SCOPE = Scope.RELEASE
POLICY_FIELDS: tuple[str, ...] = ("podling",)
"""The policy fields this check reads (the agent reruns it when one of them changes)."""

SNIFF_BYTES = 64 * 1024
"""Files up to this size (and the start of larger ones) are searched for private keys."""

_DROPPINGS = (
    ".ds_store",
    "thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "*~",
    "*.swp",
    "*.swo",
    ".#*",
    "#*#",
    "*.bak",
    "*.orig",
    "*.rej",
    "*.tmp",
    "__macosx",
    "._*",
)
_PRIVATE_KEY_NAMES = (
    "id_rsa",
    "id_dsa",
    "id_ecdsa",
    "id_ed25519",
    "id_ecdsa_sk",
    "id_ed25519_sk",
    "*.key",
    "*.p12",
    "*.pfx",
    "*.jks",
    "*.keystore",
    "secring.*",
    "*.kdbx",
)
_PRIVATE_MARKERS = (
    b"-----BEGIN PRIVATE KEY-----",
    b"-----BEGIN ENCRYPTED PRIVATE KEY-----",
    b"-----BEGIN RSA PRIVATE KEY-----",
    b"-----BEGIN DSA PRIVATE KEY-----",
    b"-----BEGIN EC PRIVATE KEY-----",
    b"-----BEGIN OPENSSH PRIVATE KEY-----",
    b"-----BEGIN PGP PRIVATE KEY BLOCK-----",
    b"PuTTY-User-Key-File-",
)


def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    lower = name.lower()
    return any(fnmatch.fnmatchcase(lower, p) for p in patterns)


def _private_key_content(inputs: CheckInputs, path: str) -> bool:
    try:
        with open(inputs.files[path], "rb") as handle:
            head = handle.read(SNIFF_BYTES)
    except OSError:
        return False
    return any(marker in head for marker in _PRIVATE_MARKERS)


def _check_name(inputs: CheckInputs, path: str, recorder: Recorder) -> bool:
    """Blockers a path earns by its name or content alone; True if it got one."""
    try:
        check_relpath(path)
    except ValidationError as exc:
        recorder.blocker(path, f"not a clean release path: {exc}")
        return True
    segments = path.split("/")
    name = segments[-1]
    if _matches(name, _PRIVATE_KEY_NAMES) or _private_key_content(inputs, path):
        recorder.blocker(path, "a private key: never publish it (and revoke or rotate it now)")
        return True
    if any(_matches(seg, _DROPPINGS) for seg in segments):
        recorder.blocker(path, "an editor or operating-system leftover: remove it")
        return True
    hidden = [seg for seg in segments if seg.startswith(".")]
    if hidden:
        recorder.blocker(path, f"a hidden file or folder ({hidden[0]}): remove it")
        return True
    return False


def _check_artifact(inputs: CheckInputs, artifact: str, recorder: Recorder) -> None:
    found = companions(artifact, inputs.files)
    missing = []
    if not found.signatures:
        missing.append("its .asc signature")
    if not found.strong_checksums:
        missing.append("a .sha512 or .sha256 checksum")
    if missing:
        recorder.blocker(artifact, f"the artifact lacks {' and '.join(missing)}", missing=missing)
    else:
        recorder.passed(artifact, "signature and checksum present")
    if inputs.policy.podling and "incubating" not in posixpath.basename(artifact).lower():
        recorder.blocker(artifact, "a podling's artifact must have 'incubating' in its name")


_UNKNOWN_VERSIONS = ("", "0")
"""What ``atr check`` passes when no artifact name gave it a version: nothing to compare."""


def names_version(name: str, version: str) -> bool:
    """True if the file name ``name`` carries ``version`` as a whole (``httpd-2.4.68.tar.gz``
    carries ``2.4.68``, not ``2.4.6`` nor ``2.4.69``)."""
    pattern = rf"(?<![0-9A-Za-z.]){re.escape(version)}(?!\.?[0-9])"
    return re.search(pattern, posixpath.basename(name), re.IGNORECASE) is not None


def _check_version(inputs: CheckInputs, artifact: str, recorder: Recorder) -> None:
    if inputs.version in _UNKNOWN_VERSIONS or names_version(artifact, inputs.version):
        return
    name = posixpath.basename(artifact)
    if is_source_archive(artifact):
        recorder.blocker(
            artifact,
            f"{name} does not carry the release's version {inputs.version}: "
            "the source archive of another version?",
            version=inputs.version,
        )
    else:
        recorder.warning(
            artifact,
            f"{name} does not carry the release's version {inputs.version}",
            version=inputs.version,
        )


def run(inputs: CheckInputs, recorder: Recorder, *, artifact: str | None) -> None:
    """Look at every file of the release."""
    kinds = {path: classify(path) for path in inputs.files}
    artifacts = sorted(p for p, k in kinds.items() if k is FileKind.ARTIFACT)
    if not artifacts:
        recorder.blocker("", "the release has no artifact (no archive or package found)")
    elif not any(is_source_archive(a) for a in artifacts):
        recorder.blocker(
            "",
            "no source archive (.tar.gz, .tgz, .tar.bz2, .tar.xz or .zip) among the artifacts: "
            "a release is a source release",
        )
    for path in sorted(inputs.files):
        if _check_name(inputs, path, recorder):
            continue
        kind = kinds[path]
        if kind is FileKind.ARTIFACT:
            _check_artifact(inputs, path, recorder)
            _check_version(inputs, path, recorder)
        elif kind is FileKind.KEYS:
            recorder.blocker(
                path,
                "a KEYS file among the release files: KEYS is published beside releases, "
                "not inside one",
            )
        elif kind in (FileKind.SIGNATURE, FileKind.CHECKSUM, FileKind.SBOM):
            owner = artifact_of(path)
            if owner not in inputs.files:
                recorder.warning(path, f"{kind.value} for {owner}, which is not in the release")
        elif kind is FileKind.DOCUMENT:
            recorder.passed(path, "a document of the release")
        else:
            recorder.note(path, "a file of unknown kind: neither an artifact nor a companion")
