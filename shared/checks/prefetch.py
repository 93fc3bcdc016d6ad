"""Start the slow, check-independent parts of ``atr check`` first, in the background.

Before ``atr check`` imports the checks (0.2 s of a cold process), :func:`prefetching` sets
off, on the machine's other core:

* the SBOM worker process (:mod:`shared.checks.sbom_worker`), when there is a source archive;
* the import of the KEYS into the GnuPG keyring the keys and signatures checks share
  (:func:`shared.openpgp.gnupg.shared_keyrings`: they find it made, or being made);
* the decompression of the first tar archive (:func:`shared.checks.inflate.prefetch`: the
  archive index reads the blocks already inflated);
* the digests of the artifacts that the checksums and SBOM checks ask for
  (:func:`shared.checks.digests.file_digests` remembers them).

Each piece only fills a cache the checks look in (by the file's identity, or the KEYS
blocks themselves); a check that finds nothing there, or something else, does its own
work as it would without a prefetch. So the results are those of the checks alone.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.checks import inflate, sbom_worker
from shared.checks.artifacts import (
    ArchiveFormat,
    archive_format,
    companions,
    find_artifacts,
    is_source_archive,
    release_files,
)
from shared.checks.digests import file_digests
from shared.openpgp.gnupg import Keyring, shared_keyrings
from shared.openpgp.keysfile import parse_keys_texts

__all__ = ["prefetching"]

MAX_KEYS_FILE_BYTES = 16 * 1024 * 1024
"""As :data:`shared.checks.runner.MAX_KEYS_FILE_BYTES`: a larger file is left to the runner."""
_SBOM_ALGORITHMS = frozenset({"sha256", "sha512"})
"""As :data:`shared.checks.checksums.SBOM_ALGORITHMS`."""
_TAR_FORMATS = frozenset({ArchiveFormat.TAR_GZ, ArchiveFormat.TAR_BZ2, ArchiveFormat.TAR_XZ})


def _keys_blocks_import(keys_file: Path) -> None:
    """Make the shared keyring of ``keys_file``'s usable blocks (as the checks will ask)."""
    with contextlib.suppress(OSError):
        if keys_file.stat().st_size > MAX_KEYS_FILE_BYTES:
            return
        text = keys_file.read_bytes().decode("utf-8", "replace")
        usable = parse_keys_texts((text,)).usable
        if usable:
            with Keyring.for_blocks(usable):
                pass


def _digests(files: dict[str, Path], artifacts: list[str]) -> None:
    for artifact in artifacts:
        algorithms = {
            algorithm
            for algorithm in companions(artifact, files).checksums.values()
            if algorithm != "md5"
        }
        if is_source_archive(artifact):
            algorithms |= _SBOM_ALGORITHMS
        if algorithms:
            with contextlib.suppress(OSError):
                file_digests(files[artifact], algorithms)


def _in_background(target: object, *args: object) -> threading.Thread:
    context = contextvars.copy_context()  # the shared keyrings of the caller
    thread = threading.Thread(
        target=context.run, args=(target, *args), name="atr-prefetch", daemon=True
    )
    thread.start()
    return thread


@contextmanager
def prefetching(directory: Path, keys_file: Path | None) -> Iterator[None]:
    """Set off the background work for checking the release in ``directory`` (with
    ``keys_file``, else ``directory/KEYS``); inside, :func:`shared.checks.runner.run_checks`
    finds its results. Everything started is stopped on exit."""
    with shared_keyrings():
        threads: list[threading.Thread] = []
        try:
            files = release_files(directory) if directory.is_dir() else {}
        except OSError:
            files = {}
        if keys_file is None and "KEYS" in files:
            keys_file = files.pop("KEYS")
        artifacts = find_artifacts(files)
        if any(is_source_archive(a) for a in artifacts):
            sbom_worker.start()
        if keys_file is not None:
            threads.append(_in_background(_keys_blocks_import, keys_file))
        tars = [a for a in artifacts if archive_format(a) in _TAR_FORMATS]
        if tars:
            inflate.prefetch(files[tars[0]])
        threads.append(_in_background(_digests, files, artifacts))
        try:
            yield
        finally:
            inflate.drop_prefetched()
            for thread in threads:
                thread.join()
            sbom_worker.stop()
