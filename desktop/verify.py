"""Verifying a downloaded release candidate on this computer, before voting on it.

A voter's desktop downloads every file of the revision under vote into a folder,
then :func:`verify_candidate` checks each *artifact* (a file that is not a
signature or checksum, :func:`shared.votes.is_artifact`) the way the release policy
asks a PMC member to:

* the bytes on disk are the bytes the agent recorded (its SHA-512 in the revision);
* ``<artifact>.asc`` is a good detached signature by a key of the project's KEYS file
  (GnuPG in a throwaway home holding only those keys — revoked or expired keys fail);
* ``<artifact>.sha512`` (and ``.sha256`` if present) name the artifact's hash.

Everything is streamed: files are hashed in 1 MiB chunks (:func:`desktop.signing.read_chunks`)
and GnuPG reads the artifact itself. The outcome is one :class:`FileCheck` per file;
:attr:`Verification.reviewed` maps each artifact to the SHA-512 computed here — what a
ballot says the voter reviewed.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from desktop.signing import SigningFailed, read_chunks
from shared.checks.checksums import (
    MAX_CHECKSUM_FILE_BYTES,
    ChecksumFormatError,
    parse_checksum_file,
)
from shared.openpgp.gnupg import Keyring, SignatureResult, SignatureStatus
from shared.openpgp.keysfile import parse_keys
from shared.protocol import RevisionFile
from shared.votes import is_artifact

FileKind = Literal["artifact", "signature", "checksum"]
VerifyProgress = Callable[[str, int, int], None]
"""``progress(path, done, total)`` while a file is hashed."""

_STATUS_TEXT = {
    SignatureStatus.GOOD: "good signature",
    SignatureStatus.BAD: "BAD signature: the file does not match it",
    SignatureStatus.EXPIRED_KEY: "made by an expired key",
    SignatureStatus.REVOKED_KEY: "made by a REVOKED key",
    SignatureStatus.EXPIRED_SIGNATURE: "the signature has expired",
    SignatureStatus.NO_PUBLIC_KEY: "made by a key that is not in the project's KEYS",
    SignatureStatus.ERROR: "GnuPG could not check it",
}


@dataclass(slots=True)
class FileCheck:
    """What was found about one file of the candidate."""

    path: str
    kind: FileKind
    size: int
    sha512: str = ""
    """Computed on this computer ("" if the file could not be read)."""
    signature: str = ""
    """For an artifact: what its ``.asc`` showed, for people."""
    signer: str = ""
    """For an artifact with a good signature: the signer's user id and fingerprint."""
    checksum: str = ""
    """For an artifact: what its checksum files showed, for people."""
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(slots=True)
class Verification:
    """The candidate as verified here."""

    files: list[FileCheck]
    keys: int
    """How many keys of KEYS GnuPG could use."""

    @property
    def artifacts(self) -> list[FileCheck]:
        return [f for f in self.files if f.kind == "artifact"]

    @property
    def ok(self) -> bool:
        """At least one artifact, and every file passed."""
        return bool(self.artifacts) and all(f.ok for f in self.files)

    @property
    def problems(self) -> list[str]:
        return [f"{f.path}: {p}" for f in self.files for p in f.problems]

    @property
    def reviewed(self) -> dict[str, str]:
        """Artifact path → SHA-512 computed here (for the ballot)."""
        return {f.path: f.sha512 for f in self.artifacts if f.sha512}


def file_kind(path: str) -> FileKind:
    lower = path.lower()
    if is_artifact(path):
        return "artifact"
    return "signature" if lower.endswith((".asc", ".sig")) else "checksum"


def local_path(folder: Path, path: str) -> Path:
    """Where a release path is downloaded inside ``folder``."""
    return folder.joinpath(*PurePosixPath(path).parts)


def checksum_in(text: str, name: str) -> str | None:
    """The hash a checksum file gives for ``name``, read by the checks' own parser
    (:func:`shared.checks.checksums.parse_checksum_file`: ``sha512sum`` lines, BSD tags,
    GnuPG's ``--print-md`` layout, a bare hash): the entry naming ``name`` (in any folder),
    or the file's only digest when it names none. ``None`` when it gives none for ``name``."""
    try:
        entries = parse_checksum_file(text)
    except ChecksumFormatError:
        return None
    for entry in entries:
        if entry.name is not None and PurePosixPath(entry.name).name == name:
            return entry.digest
    if len(entries) == 1 and entries[0].name is None:
        return entries[0].digest  # a bare hash, as some projects publish
    return None


def _hash(
    path: Path,
    *,
    sha256: bool,
    progress: VerifyProgress | None,
    name: str,
    cancel: threading.Event | None,
) -> tuple[str, str]:
    digest512 = hashlib.sha512()
    digest256 = hashlib.sha256() if sha256 else None

    def report(done: int, total: int) -> None:
        if progress is not None:
            progress(name, done, total)

    for chunk in read_chunks(path, progress=report, cancel=cancel):
        digest512.update(chunk)
        if digest256 is not None:
            digest256.update(chunk)
    return digest512.hexdigest(), digest256.hexdigest() if digest256 else ""


def _signature_text(results: list[SignatureResult]) -> tuple[str, str, list[str]]:
    """(summary, signer, problems) for the signatures found in one ``.asc``."""
    if not results:
        return "no signature GnuPG could read", "", ["its .asc holds no readable signature"]
    problems = []
    signers = []
    for result in results:
        if result.valid:
            fpr = result.primary_fingerprint or result.fingerprint or result.key_id
            signers.append(f"{result.user_id} ({fpr})")
        else:
            problems.append(f"signature {_STATUS_TEXT[result.status]}")
    summary = _STATUS_TEXT[SignatureStatus.GOOD] if not problems else problems[0]
    return summary, "; ".join(signers), problems


def _check_checksums(check: FileCheck, folder: Path, present: set[str], sha256: str) -> None:
    found = []
    for suffix, expected in ((".sha512", check.sha512), (".sha256", sha256)):
        side = check.path + suffix
        if side not in present:
            continue
        try:
            with local_path(folder, side).open("rb") as handle:
                raw = handle.read(MAX_CHECKSUM_FILE_BYTES + 1)
        except OSError as exc:
            check.problems.append(f"cannot read {side}: {exc.strerror or exc}")
            continue
        if len(raw) > MAX_CHECKSUM_FILE_BYTES:
            check.problems.append(f"{side} is too large to be a checksum file")
            continue
        text = raw.decode("utf-8", errors="replace")
        listed = checksum_in(text, PurePosixPath(check.path).name)
        if listed is None:
            check.problems.append(f"{side} does not name {PurePosixPath(check.path).name}")
        elif not secrets.compare_digest(listed, expected):
            check.problems.append(f"{side} does not match the file")
        else:
            found.append(suffix[1:].upper().replace("SHA", "SHA-"))
    if found:
        check.checksum = " and ".join(found) + " match"
    elif not any(check.path + s in present for s in (".sha512", ".sha256")):
        check.checksum = "no checksum file"
        check.problems.append("no .sha512 or .sha256 file")
    else:
        check.checksum = "mismatch"


def verify_candidate(
    folder: Path,
    files: list[RevisionFile],
    keys_file: str,
    *,
    progress: VerifyProgress | None = None,
    cancel: threading.Event | None = None,
) -> Verification:
    """Verify the downloaded ``files`` of a revision (see the module docstring). Blocks."""
    present = {f.path for f in files}
    checks: list[FileCheck] = []
    blocks = parse_keys(keys_file).blocks
    with Keyring.for_blocks(blocks) as ring:
        key_count = len(ring.keys)
        for item in sorted(files, key=lambda f: f.path):
            check = FileCheck(path=item.path, kind=file_kind(item.path), size=item.size)
            checks.append(check)
            path = local_path(folder, item.path)
            wants_256 = check.kind == "artifact" and item.path + ".sha256" in present
            try:
                check.sha512, sha256 = _hash(
                    path, sha256=wants_256, progress=progress, name=item.path, cancel=cancel
                )
            except SigningFailed as exc:
                check.problems.append(f"cannot read the downloaded file: {exc}")
                continue
            if not secrets.compare_digest(check.sha512, item.sha512.lower()):
                check.problems.append("the download differs from the file the agent holds")
            if check.kind != "artifact":
                continue
            _check_checksums(check, folder, present, sha256)
            signature = item.path + ".asc"
            if signature not in present:
                check.signature = "no signature"
                check.problems.append("no .asc signature")
                continue
            try:
                armored = local_path(folder, signature).read_bytes()
            except OSError as exc:
                check.problems.append(f"cannot read {signature}: {exc.strerror or exc}")
                continue
            results = ring.verify(path, armored)
            check.signature, check.signer, problems = _signature_text(results)
            check.problems.extend(problems)
    return Verification(files=checks, keys=key_count)


def reviewed_matches(reviewed: Mapping[str, str], files: list[RevisionFile]) -> bool:
    """Whether every reviewed hash is the revision's (the verification is of this revision)."""
    recorded = {f.path: f.sha512.lower() for f in files}
    return all(recorded.get(path) == digest for path, digest in reviewed.items())
