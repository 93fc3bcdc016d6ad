"""Real GnuPG for the desktop's signing tests: a user's own GnuPG home, and ``gpg --verify``.

::

    with user_gnupg_home("Dana Doe <dana@example.org>") as (home, fingerprint):
        ...                                # a GnuPG home holding one RSA signing key
    gpg_verify(public_armor, data_path, signature_path)   # → GnuPG's status lines, or raises
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

GPG = os.environ.get("ATR_GPG", "gpg")


def gpg(home: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> str:
    """Run ``gpg --homedir HOME --batch ARGS``; returns stdout + stderr."""
    proc = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase", "", *args],
        input=stdin,
        capture_output=True,
        check=False,
    )  # fmt: skip
    text = proc.stdout.decode(errors="replace") + proc.stderr.decode(errors="replace")
    if check and proc.returncode != 0:
        raise AssertionError(f"gpg {' '.join(args)} failed ({proc.returncode}):\n{text}")
    return text


def kill_agent(home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
    )


@contextlib.contextmanager
def scratch_home() -> Iterator[Path]:
    """A short-named private GnuPG home (gpg-agent's socket path must stay short)."""
    home = Path(tempfile.mkdtemp(prefix="atr-dt-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


@contextlib.contextmanager
def user_gnupg_home(
    uid: str = "Dana Doe <dana@example.org>", algorithm: str = "rsa3072"
) -> Iterator[tuple[Path, str]]:
    """A GnuPG home like a user's ``~/.gnupg`` with one signing key (no passphrase)."""
    with scratch_home() as home:
        gpg(home, "--quick-gen-key", uid, algorithm, "sign,cert", "never")
        listing = gpg(home, "--with-colons", "--list-secret-keys")
        fingerprint = next(
            line.split(":")[9] for line in listing.splitlines() if line.startswith("fpr:")
        )
        yield home, fingerprint


def gpg_verify(public: str, data: Path, signature: Path) -> str:
    """``gpg --verify`` in a fresh home holding only ``public``; raises unless the signature
    is good. Returns GnuPG's status lines."""
    with scratch_home() as home:
        gpg(home, "--import", stdin=public.encode())
        return gpg(home, "--status-fd", "1", "--verify", str(signature), str(data))


def gpg_verify_cleartext(public: str, signed: str) -> str:
    """``gpg --verify`` of a clear-signed message; raises unless good; returns the status."""
    with scratch_home() as home:
        gpg(home, "--import", stdin=public.encode())
        return gpg(home, "--status-fd", "1", "--verify", stdin=signed.encode())


def gpg_key_validity(public: str) -> str:
    """GnuPG's validity letter of the primary key after importing ``public`` (``r``: revoked)."""
    with scratch_home() as home:
        gpg(home, "--import", stdin=public.encode())
        listing = gpg(home, "--with-colons", "--list-keys")
        return next(line.split(":")[1] for line in listing.splitlines() if line.startswith("pub:"))
