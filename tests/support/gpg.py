"""Real-GnuPG fixture factories: keys of many kinds, detached signatures, KEYS files.

Keys are made once per test session with ``gpg --batch --quick-gen-key`` (and
``--quick-add-key`` for signing subkeys) in one temporary home, without
passphrases, and the home's gpg-agent is killed at the end. Use the session
fixture ``gpg_factory`` (import it into a conftest or test module)::

    from tests.support.gpg import gpg_factory  # noqa: F401

    def test_x(gpg_factory, tmp_path):
        key = gpg_factory.key("rsa4096")
        asc = gpg_factory.sign(["rsa4096", "ed25519"], artifact)   # both signatures in one .asc
        keys_text = gpg_factory.keys_file(["rsa4096", "ed25519"])

Kinds (:data:`KINDS`): ``rsa4096``, ``rsa2048``, ``rsa1024``, ``ed25519``, ``dsa``,
``expired`` (Ed25519, made in 2020 and expired a day later), ``revoked`` (Ed25519 whose
exported public key carries its revocation), ``subkey`` (Ed25519 certify-only primary
with an RSA 3072 signing subkey), ``weak_subkey`` (the same with an RSA 1024 signing
subkey), ``outsider`` (Ed25519, for "a key not in KEYS").
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

GPG = os.environ.get("ATR_GPG", "gpg")
PAST = "20200101T000000!"
"""A frozen clock for the ``expired`` key: made and used on 1 January 2020, expired a day later."""

# kind → (algorithm, usage, expiry, subkey algorithm or None, faked time or None)
_SPECS: dict[str, tuple[str, str, str, str | None, str | None]] = {
    "rsa4096": ("rsa4096", "sign", "never", None, None),
    "rsa2048": ("rsa2048", "sign", "never", None, None),
    "rsa1024": ("rsa1024", "sign", "never", None, None),
    "ed25519": ("ed25519", "sign", "never", None, None),
    "dsa": ("dsa2048", "sign", "never", None, None),
    "expired": ("ed25519", "sign", "1d", None, PAST),
    "revoked": ("ed25519", "sign", "never", None, None),
    "subkey": ("ed25519", "cert", "never", "rsa3072", None),
    "weak_subkey": ("ed25519", "cert", "never", "rsa1024", None),
    "outsider": ("ed25519", "sign", "never", None, None),
}
KINDS = tuple(_SPECS)


@dataclass(frozen=True)
class TestKey:
    """A key made for the tests."""

    kind: str
    user_id: str
    fingerprint: str
    """Primary key fingerprint, 40 upper-case hex characters."""
    signing_fingerprint: str
    """The key that makes signatures: the signing subkey if there is one, else the primary."""
    public: str
    """ASCII-armored public key (with its revocation for ``revoked``)."""


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor(data: bytes, kind: str = "PUBLIC KEY BLOCK") -> str:
    """ASCII armor (RFC 4880 6.2) around ``data``, with its CRC-24 line."""
    body = base64.b64encode(data).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(_crc24(data).to_bytes(3, "big")).decode()
    return "\n".join(
        [f"-----BEGIN PGP {kind}-----", "", *lines, f"={crc}", f"-----END PGP {kind}-----", ""]
    )


def _mpi(value: int) -> bytes:
    return value.bit_length().to_bytes(2, "big") + value.to_bytes(
        (value.bit_length() + 7) // 8, "big"
    )


def pgp2_key_block(user_id: str = "Old Timer <old@example.org>") -> str:
    """A PGP 2.x era public key: a version 3 RSA key packet and a user id, armored.
    (The modulus is random: nothing will ever verify with it, and nothing reads it.)"""
    modulus = secrets.randbits(1024) | (1 << 1023) | 1
    body = bytes([3]) + (820_000_000).to_bytes(4, "big") + (0).to_bytes(2, "big") + bytes([1])
    body += _mpi(modulus) + _mpi(17)
    key_packet = bytes([0x99]) + len(body).to_bytes(2, "big") + body  # old format, tag 6
    uid = user_id.encode()
    uid_packet = bytes([0xB4, len(uid)]) + uid  # old format, tag 13, one-octet length
    return armor(key_packet + uid_packet)


def malformed_block() -> str:
    """A block whose armor and packet framing are fine but whose key is not: an 8-bit RSA
    modulus and a cut exponent MPI. GnuPG stops reading its whole input at such a packet."""
    body = bytes([4]) + (1_600_000_000).to_bytes(4, "big") + bytes([1]) + b"\x00\x08\xff\xff\xff"
    return armor(bytes([0x99]) + len(body).to_bytes(2, "big") + body)


def garbage_block() -> str:
    """An armored 'key' whose body is not base64 at all."""
    return (
        "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
        "This is not base64: somebody pasted an e-mail here!\n"
        "-----END PGP PUBLIC KEY BLOCK-----\n"
    )


def damaged_block(public: str) -> str:
    """``public`` with one base64 character changed, so its CRC-24 no longer matches."""
    lines = public.splitlines()
    for i, line in enumerate(lines):
        if i > 1 and len(line) > 20 and not line.startswith(("=", "-")):
            flipped = "A" if line[10] != "A" else "B"
            lines[i] = line[:10] + flipped + line[11:]
            break
    return "\n".join(lines) + "\n"


def truncated_block(public: str) -> str:
    """``public`` cut in its middle, without an END line."""
    lines = public.splitlines()
    return "\n".join(lines[: len(lines) // 2]) + "\n"


class GpgFactory:
    """Makes keys in one GnuPG home (each kind once) and signs with them."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._keys: dict[str, TestKey] = {}
        self._fillers: list[TestKey] = []

    def gpg(self, *args: str, faked_time: str | None = None, stdin: bytes | None = None) -> str:
        cmd = [GPG, "--homedir", str(self.home), "--batch", "--pinentry-mode", "loopback"]
        cmd += ["--passphrase", ""]
        if faked_time:
            cmd += ["--faked-system-time", faked_time]
        proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(
                f"gpg {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout.decode(errors="replace")

    def _fingerprints(self, user_id: str) -> list[str]:
        out = self.gpg("--with-colons", "--with-subkey-fingerprint", "--list-keys", f"={user_id}")
        return [line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")]

    def _make(self, kind: str, user_id: str) -> TestKey:
        algo, usage, expiry, sub, faked = _SPECS[kind]
        self.gpg("--quick-gen-key", user_id, algo, usage, expiry, faked_time=faked)
        primary = self._fingerprints(user_id)[0]
        signing = primary
        if sub is not None:
            self.gpg("--quick-add-key", primary, sub, "sign", "never")
            signing = self._fingerprints(user_id)[1]
        public = self.gpg("--armor", "--export", primary)
        if kind == "revoked":
            public = self._revoked_public(primary, public)
        return TestKey(kind, user_id, primary, signing, public)

    def _revoked_public(self, fingerprint: str, public: str) -> str:
        """The public key with its revocation applied, leaving the signing home untouched."""
        rev = (self.home / "openpgp-revocs.d" / f"{fingerprint}.rev").read_text()
        rev = rev.replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----"
        )
        other = Path(tempfile.mkdtemp(prefix="atr-test-rev-"))
        os.chmod(other, 0o700)
        try:
            helper = GpgFactory(other)
            helper.gpg("--import", stdin=public.encode())
            helper.gpg("--import", stdin=rev.encode())
            return helper.gpg("--armor", "--export", fingerprint)
        finally:
            kill_agent(other)
            shutil.rmtree(other, ignore_errors=True)

    def key(self, kind: str) -> TestKey:
        """The key of ``kind`` (made on first use)."""
        if kind not in self._keys:
            self._keys[kind] = self._make(kind, f"ATR Test {kind} <{kind}@example.org>")
        return self._keys[kind]

    def fillers(self, count: int) -> list[TestKey]:
        """``count`` more ordinary Ed25519 keys, as in a KEYS file of a long-lived project."""
        while len(self._fillers) < count:
            n = len(self._fillers) + 1
            uid = f"Committer {n:02d} <committer{n:02d}@example.org>"
            self.gpg("--quick-gen-key", uid, "ed25519", "sign", "never")
            fpr = self._fingerprints(uid)[0]
            public = self.gpg("--armor", "--export", fpr)
            self._fillers.append(TestKey("filler", uid, fpr, fpr, public))
        return self._fillers[:count]

    def sign(
        self,
        kinds: str | Sequence[str],
        data: Path,
        *,
        out: Path | None = None,
        armor: bool = True,
    ) -> Path:
        """A detached signature of ``data`` by one key or several (several signatures in one
        file); written to ``out`` (default ``data`` + ``.asc``, or ``.sig`` unarmored)."""
        kinds = [kinds] if isinstance(kinds, str) else list(kinds)
        keys = [self.key(k) for k in kinds]
        target = out or data.with_name(data.name + (".asc" if armor else ".sig"))
        args = ["--yes", "--detach-sign", "--digest-algo", "SHA512", "--output", str(target)]
        if armor:
            args.insert(0, "--armor")
        for key in keys:
            args += ["--local-user", key.signing_fingerprint + "!"]
        faked = PAST if any(k.kind == "expired" for k in keys) else None
        self.gpg(*args, str(data), faked_time=faked)
        return target

    def keys_file(self, kinds: Sequence[str], *, fillers: int = 0, broken: bool = False) -> str:
        """A KEYS file as projects keep them: a listing line above each armored key.

        ``fillers`` adds that many other committers' keys; ``broken`` mixes in blocks no
        library reads: a malformed key first (well framed: it reaches GnuPG, which then
        drops the rest of its input), a PGP 2.x key, non-base64 armor, a damaged CRC and a
        truncated block.
        """
        parts = [
            "This file contains the PGP keys of various developers.\n",
            "Users: gpg --import KEYS\n",
            "Developers: (gpg --list-sigs <you> && gpg --armor --export <you>) >> KEYS\n\n",
        ]
        keys = [self.key(k) for k in kinds] + self.fillers(fillers)
        if broken:
            parts.append(
                "pub   rsa8/00000000 2020-09-13\nuid   Broken\n\n" + malformed_block() + "\n"
            )
        for i, key in enumerate(keys):
            parts.append(f"pub   {key.fingerprint}\nuid   {key.user_id}\n\n{key.public}\n")
            if broken and i == 1:
                parts.append(
                    "pub   1024R/DEADBEEF 1996-01-01\nuid   Old Timer <old@example.org>\n\n"
                )
                parts.append(pgp2_key_block() + "\n")
            if broken and i == 2:
                parts.append(garbage_block() + "\n")
        if broken:
            spare = self.fillers(fillers + 2)[-2:]
            parts.append(damaged_block(spare[0].public) + "\n")
            parts.append(truncated_block(spare[1].public) + "\n")
        return "".join(parts)


def kill_agent(home: Path) -> None:
    subprocess.run(
        ["gpgconf", "--homedir", str(home), "--kill", "all"], capture_output=True, check=False
    )


@pytest.fixture(scope="session")
def gpg_factory() -> Iterator[GpgFactory]:
    """One GnuPG home for the whole test session; keys are made on first use."""
    home = Path(tempfile.mkdtemp(prefix="atr-test-gpg-"))  # short path: gpg-agent's socket
    os.chmod(home, 0o700)
    factory = GpgFactory(home)
    try:
        yield factory
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
