"""Signing release artifacts on this computer: ``<file>.asc`` and ``<file>.sha512``, streamed.

An artifact is read once, in chunks of :data:`CHUNK` bytes, and never held in
memory whole: each chunk goes into the SHA-512 that becomes the ``.sha512`` file
and into the signature's hash (:mod:`desktop.sigpacket` for keys held by the
desktop; for keys in the user's GnuPG keyring the chunks are piped to ``gpg``,
see :mod:`desktop.gnupg_backend`). Progress is reported after every chunk and a
``threading.Event`` cancels between chunks. Both outputs are written atomically
beside the artifact (or into ``out_dir``): whole, or not at all.

The ``.sha512`` file has the ``sha512sum`` format, ``<hash>  <name>\\n``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from desktop.errors import DesktopError
from shared.atomicfile import PUBLIC_FILE, write_atomic

CHUNK = 1 << 20
"""Bytes read at a time: memory use stays flat whatever the file's size."""

Progress = Callable[[int, int], None]
"""``progress(done, total)`` in bytes."""


class SigningCancelled(DesktopError):
    """The user cancelled signing; nothing was written."""


class SigningFailed(DesktopError):
    """An artifact cannot be read, signed or its outputs written."""


@dataclass(frozen=True, slots=True)
class SignedArtifact:
    """An artifact with its detached signature and checksum files."""

    path: Path
    signature: Path
    """``<name>.asc``"""
    checksum: Path
    """``<name>.sha512``"""
    sha512: str
    size: int
    fingerprint: str
    """The primary key that signed."""


@dataclass(frozen=True, slots=True)
class Signature:
    """What a backend returns for one file: the armored signature and the data's SHA-512."""

    armored: str
    sha512: str
    size: int


def checksum_line(sha512: str, name: str) -> str:
    """One ``sha512sum`` line: ``<hash>  <name>``."""
    return f"{sha512}  {name}\n"


def read_chunks(
    path: Path, *, progress: Progress | None = None, cancel: threading.Event | None = None
) -> Iterator[memoryview]:
    """The bytes of ``path`` in chunks of :data:`CHUNK` (one reused buffer; use each chunk
    before asking for the next). Raises :class:`SigningCancelled` when ``cancel`` is set."""
    try:
        total = path.stat().st_size
        handle = path.open("rb")
    except OSError as exc:
        raise SigningFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    done = 0
    with handle:
        if progress is not None:
            progress(0, total)
        while True:
            if cancel is not None and cancel.is_set():
                raise SigningCancelled(f"signing {path.name} was cancelled")
            try:
                n = handle.readinto(buffer)
            except OSError as exc:
                raise SigningFailed(f"cannot read {path}: {exc.strerror or exc}") from exc
            if not n:
                break
            yield view[:n]
            done += n
            if progress is not None:
                progress(done, max(total, done))


def output_paths(path: Path, out_dir: Path | None = None) -> tuple[Path, Path]:
    """Where ``<name>.asc`` and ``<name>.sha512`` go: beside the file, or in ``out_dir``."""
    folder = out_dir if out_dir is not None else path.parent
    return folder / f"{path.name}.asc", folder / f"{path.name}.sha512"


def write_outputs(
    path: Path, signature: Signature, *, fingerprint: str, out_dir: Path | None = None
) -> SignedArtifact:
    """Write the signature and checksum files of ``path``; both or neither."""
    asc, sha = output_paths(path, out_dir)
    try:
        write_atomic(asc, signature.armored, mode=PUBLIC_FILE)
        try:
            write_atomic(sha, checksum_line(signature.sha512, path.name), mode=PUBLIC_FILE)
        except BaseException:
            asc.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise SigningFailed(
            f"cannot write the signature of {path.name} into {asc.parent}: {exc.strerror or exc}",
            hint="choose a folder you may write to",
        ) from exc
    return SignedArtifact(
        path=path,
        signature=asc,
        checksum=sha,
        sha512=signature.sha512,
        size=signature.size,
        fingerprint=fingerprint,
    )


def is_signature_or_checksum(name: str) -> bool:
    """Whether a file name is itself a signature or checksum (not an artifact to sign)."""
    return name.lower().endswith((".asc", ".sig", ".sha512", ".sha256", ".sha1", ".md5"))
