"""Signature verification with GnuPG in a throwaway home.

Each call imports the given public keys into a fresh temporary home, runs
``gpg --verify`` with ``--status-fd`` and reads the machine-readable status
lines (GnuPG's ``doc/DETAILS``). GnuPG streams the data file, so a 1 GB
artifact is never read into memory, and it honours revocation and expiry.

The status lines are read here rather than through python-gnupg's ``Verify``
object because a detached ``.asc`` may hold several signatures and each is
reported on its own: python-gnupg keeps only the last signature's state.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from shared.errors import OpenPGPError

GPG = os.environ.get("ATR_GPG", "gpg")
_TIMEOUT = 600


class SignatureStatus(StrEnum):
    GOOD = "good"
    BAD = "bad"
    EXPIRED_KEY = "expired_key"
    REVOKED_KEY = "revoked_key"
    EXPIRED_SIGNATURE = "expired_signature"
    NO_PUBLIC_KEY = "no_public_key"
    ERROR = "error"


@dataclass(slots=True)
class SignatureResult:
    """One signature found in a detached signature file."""

    status: SignatureStatus = SignatureStatus.ERROR
    key_id: str = ""
    fingerprint: str | None = None
    """Fingerprint of the signing (sub)key, 40 upper-case hex characters."""
    primary_fingerprint: str | None = None
    """Fingerprint of the primary key the signing key belongs to."""
    user_id: str = ""
    created: int | None = None
    pubkey_algorithm: int | None = None
    detail: list[str] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.status is SignatureStatus.GOOD


@contextmanager
def throwaway_home() -> Iterator[Path]:
    """A private GnuPG home that is removed, with its gpg-agent, on exit."""
    home = Path(tempfile.mkdtemp(prefix="atr-gpg-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        subprocess.run(
            ["gpgconf", "--homedir", str(home), "--kill", "all"],
            capture_output=True,
            check=False,
            timeout=30,
        )
        shutil.rmtree(home, ignore_errors=True)


def import_keys(home: Path, armored_keys: Iterable[str]) -> None:
    """Import public keys into ``home``; unreadable ones are left out by GnuPG itself."""
    payload = "\n".join(armored_keys).encode()
    if not payload.strip():
        return
    subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--quiet", "--import"],
        input=payload,
        capture_output=True,
        check=False,
        timeout=_TIMEOUT,
    )


def verify_detached(
    data: bytes | Path, signature: str | bytes, public_keys: Iterable[str]
) -> list[SignatureResult]:
    """Verify the detached ``signature`` of ``data`` (bytes, or a file streamed by GnuPG)
    against ``public_keys`` only. Returns one result per signature found; an empty list
    means the signature file held no signature GnuPG could read."""
    sig_bytes = signature.encode() if isinstance(signature, str) else signature
    with throwaway_home() as home:
        import_keys(home, public_keys)
        sig_path = home / "signature.asc"
        sig_path.write_bytes(sig_bytes)
        if isinstance(data, Path):
            data_path = data
        else:
            data_path = home / "data"
            data_path.write_bytes(data)
        try:
            proc = subprocess.run(
                [
                    GPG,
                    "--homedir",
                    str(home),
                    "--batch",
                    "--no-auto-key-retrieve",
                    "--trust-model",
                    "always",
                    "--status-fd",
                    "1",
                    "--verify",
                    str(sig_path),
                    str(data_path),
                ],
                capture_output=True,
                check=False,
                timeout=_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OpenPGPError(f"cannot run GnuPG to verify: {exc}") from exc
        return parse_status(proc.stdout.decode("utf-8", "replace"))


_STATUS_BY_KEYWORD = {
    "GOODSIG": SignatureStatus.GOOD,
    "BADSIG": SignatureStatus.BAD,
    "EXPSIG": SignatureStatus.EXPIRED_SIGNATURE,
    "EXPKEYSIG": SignatureStatus.EXPIRED_KEY,
    "REVKEYSIG": SignatureStatus.REVOKED_KEY,
}


def parse_status(text: str) -> list[SignatureResult]:
    """Read ``--status-fd`` output into one result per ``NEWSIG`` block."""
    results: list[SignatureResult] = []
    current: SignatureResult | None = None
    for line in text.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        keyword, _, rest = line[len("[GNUPG:] ") :].partition(" ")
        if keyword == "NEWSIG":
            current = SignatureResult()
            results.append(current)
            continue
        if current is None:
            continue
        args = rest.split(" ")
        if keyword in _STATUS_BY_KEYWORD:
            current.status = _STATUS_BY_KEYWORD[keyword]
            current.key_id = args[0]
            current.user_id = rest.partition(" ")[2]
        elif keyword == "ERRSIG":
            current.key_id = args[0]
            current.pubkey_algorithm = int(args[1]) if args[1].isdigit() else None
            current.status = (
                SignatureStatus.NO_PUBLIC_KEY
                if len(args) > 5 and args[5] == "9"
                else SignatureStatus.ERROR
            )
            if len(args) > 6 and args[6] != "-":
                current.fingerprint = args[6].upper()
        elif keyword == "VALIDSIG":
            current.fingerprint = args[0].upper()
            current.created = int(args[2]) if args[2].isdigit() else None
            current.pubkey_algorithm = int(args[6]) if len(args) > 6 and args[6].isdigit() else None
            current.primary_fingerprint = args[9].upper() if len(args) > 9 else args[0].upper()
        elif keyword in ("KEYREVOKED", "KEYEXPIRED", "SIGEXPIRED", "NO_PUBKEY"):
            current.detail.append(keyword)
    return results
