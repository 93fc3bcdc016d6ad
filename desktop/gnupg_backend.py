"""Keys in the user's own GnuPG keyring (smartcards included), used through ``gpg``.

The secret key never leaves GnuPG: the desktop runs ``gpg`` with the user's home
(``$GNUPGHOME``, ``~/.gnupg``, or a folder chosen per key) and GnuPG's own agent
asks for the passphrase or the card's PIN through its pinentry. Nothing here
stores a passphrase.

* :meth:`GnuPG.secret_keys` lists the keys GnuPG can sign with
  (``--list-secret-keys --with-colons``): a stub (secret part missing) is left out,
  a key on a card carries its serial number.
* :meth:`GnuPG.sign_file` pipes the artifact to ``gpg --detach-sign --armor`` in
  chunks while hashing it for the ``.sha512``, so a 1 GB file is read once and
  never held in memory.
* :meth:`GnuPG.clearsign` (ballots), :meth:`GnuPG.sign_detached` (login challenges),
  :meth:`GnuPG.export_public` and :meth:`GnuPG.revocation` (``--gen-revoke``
  answered through ``--command-fd``, returned merged into the public key).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from desktop.signing import Progress, Signature, read_chunks
from shared.challenge import NOTATION_NAME
from shared.errors import OpenPGPError
from shared.ids import check_fingerprint
from shared.openpgp.gnupg import colon_text, colon_time, throwaway_home
from shared.openpgp.keys import KeyInfo
from shared.openpgp.policy import algorithm_name

GPG = os.environ.get("ATR_GPG", "gpg")
_TIMEOUT = 120
_HINT = "install GnuPG 2.2 or later, or point ATR_GPG at its gpg program"

GPG_REVOCATION_CODES = {"none": 0, "compromised": 1, "superseded": 2, "retired": 3}
"""``gpg --gen-revoke``'s menu numbers (not RFC 4880's reason codes)."""


@dataclass(frozen=True, slots=True)
class GnupgSecretKey:
    """A key GnuPG holds the secret part of."""

    info: KeyInfo
    card: str | None
    """Serial number of the smartcard holding the signing key, if on a card."""
    can_sign: bool


def default_home() -> Path:
    """``$GNUPGHOME`` or ``~/.gnupg`` (what ``gpg`` itself uses)."""
    env = os.environ.get("GNUPGHOME")
    return Path(env) if env else Path.home() / ".gnupg"


@dataclass(slots=True)
class _Listing:
    """One ``sec`` record with what follows it, while reading a listing."""

    fields: list[str]
    fingerprint: str = ""
    uids: list[str] = field(default_factory=list)
    card: str | None = None
    sign_available: bool = False

    def note_secret(self, fields: list[str]) -> None:
        """Record whether this (sub)key can sign with its secret part present, and its card."""
        token = fields[14]
        if "s" in fields[11] and token != "#":
            self.sign_available = True
            if token not in ("", "+"):
                self.card = self.card or token

    def finish(self) -> GnupgSecretKey | None:
        fields = self.fields
        if not self.fingerprint or not self.sign_available:
            return None
        info = KeyInfo(
            fingerprint=self.fingerprint,
            algorithm=algorithm_name(int(fields[3])) if fields[3].isdigit() else "unknown",
            bits=int(fields[2]) if fields[2].isdigit() and int(fields[2]) > 0 else None,
            user_ids=tuple(self.uids),
            created_at=colon_time(fields[5]) or datetime.fromtimestamp(0, UTC),
            expires_at=colon_time(fields[6]),
        )
        return GnupgSecretKey(info=info, card=self.card, can_sign="S" in fields[11])


def parse_secret_listing(text: str) -> list[GnupgSecretKey]:
    """Read ``gpg --list-secret-keys --with-colons --fixed-list-mode`` output: the keys with
    a usable signing secret (stubs whose secret part is elsewhere are left out)."""
    listings: list[_Listing] = []
    fpr_for_primary = False
    for line in text.splitlines():
        fields = line.split(":")
        fields += [""] * (20 - len(fields))
        record = fields[0]
        if record == "sec":
            listings.append(_Listing(fields=fields))
            listings[-1].note_secret(fields)
            fpr_for_primary = True
        elif not listings:
            continue
        elif record == "ssb":
            listings[-1].note_secret(fields)
            fpr_for_primary = False
        elif record == "fpr" and fpr_for_primary:
            listings[-1].fingerprint = fields[9].upper()
            fpr_for_primary = False
        elif record == "uid" and fields[1] != "r":
            listings[-1].uids.append(colon_text(fields[9]))
    return [key for item in listings if (key := item.finish()) is not None]


class GnuPG:
    """The ``gpg`` program with one home (``None``: GnuPG's default, see :func:`default_home`)."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home

    def _env(self) -> Mapping[str, str]:
        env = dict(os.environ)
        if self.home is not None:
            env["GNUPGHOME"] = str(self.home)
        return env

    def _args(self, *args: str) -> list[str]:
        return [GPG, "--no-tty", "--yes", *args]

    def _run(self, *args: str, what: str, stdin: bytes | None = None) -> bytes:
        try:
            proc = subprocess.run(
                self._args(*args),
                input=stdin,
                capture_output=True,
                env=self._env(),
                check=False,
                timeout=_TIMEOUT,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise OpenPGPError(f"cannot run GnuPG to {what}: {exc}", hint=_HINT) from exc
        if proc.returncode != 0:
            raise OpenPGPError(
                f"GnuPG could not {what}: {_last_error(proc.stderr)}",
                hint="check the key in your GnuPG keyring (gpg --list-secret-keys)",
            )
        return proc.stdout

    # --- keys -----------------------------------------------------------------------------------

    def secret_keys(self) -> list[GnupgSecretKey]:
        """Keys whose secret part GnuPG holds (on disk or on a card)."""
        out = self._run(
            "--batch",
            "--with-colons",
            "--fixed-list-mode",
            "--list-secret-keys",
            what="list your secret keys",
        )
        return parse_secret_listing(out.decode("utf-8", "replace"))

    def secret_key(self, fingerprint: str) -> GnupgSecretKey:
        """The secret key with ``fingerprint``; :class:`OpenPGPError` if GnuPG has none."""
        fpr = check_fingerprint(fingerprint)
        for key in self.secret_keys():
            if key.info.fingerprint == fpr:
                return key
        raise OpenPGPError(
            f"GnuPG holds no secret key {fpr}" + (f" in {self.home}" if self.home else ""),
            hint="gpg --list-secret-keys shows the keys GnuPG can sign with",
        )

    def export_public(self, fingerprint: str) -> str:
        """The armored public key."""
        fpr = check_fingerprint(fingerprint)
        out = self._run("--batch", "--armor", "--export", fpr, what=f"export the key {fpr}")
        if b"BEGIN PGP PUBLIC KEY BLOCK" not in out:
            raise OpenPGPError(f"GnuPG has no public key {fpr}")
        return out.decode("ascii", "replace")

    # --- signing --------------------------------------------------------------------------------

    def _sign_args(self, fingerprint: str, mode: str) -> list[str]:
        return ["--batch", "--armor", "--digest-algo", "SHA512",
                "--local-user", check_fingerprint(fingerprint), mode, "--output", "-"]  # fmt: skip

    def sign_detached(self, fingerprint: str, data: bytes) -> str:
        """An armored detached signature of ``data`` (a login challenge)."""
        out = self._run(*self._sign_args(fingerprint, "--detach-sign"), what="sign", stdin=data)
        return out.decode("ascii", "replace")

    def sign_challenge(self, fingerprint: str, text: str, purpose: str) -> str:
        """A detached text signature of a login challenge with its purpose notation."""
        args = [
            *self._sign_args(fingerprint, "--detach-sign"),
            "--textmode",
            "--sig-notation",
            f"{NOTATION_NAME}={purpose}",
        ]
        out = self._run(*args, what="sign", stdin=text.encode("utf-8"))
        return out.decode("ascii", "replace")

    def clearsign(self, fingerprint: str, text: str) -> str:
        """The armored cleartext signature of ``text`` (a ballot)."""
        out = self._run(
            *self._sign_args(fingerprint, "--clearsign"), what="sign", stdin=text.encode("utf-8")
        )
        return out.decode("utf-8", "replace")

    def sign_file(
        self,
        fingerprint: str,
        path: Path,
        *,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> Signature:
        """Detached-sign ``path``: its chunks go to ``gpg``'s stdin and into a SHA-512."""
        args = self._args(*self._sign_args(fingerprint, "--detach-sign"))
        try:
            proc = subprocess.Popen(
                args,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=self._env(),
            )
        except OSError as exc:
            raise OpenPGPError(f"cannot run GnuPG to sign: {exc}", hint=_HINT) from exc
        drain = _Drain(proc)
        try:
            sha512, size = _feed(proc, read_chunks(path, progress=progress, cancel=cancel))
            proc.wait()
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            out, err = drain.join()
        if proc.returncode != 0 or b"BEGIN PGP SIGNATURE" not in out:
            raise OpenPGPError(f"GnuPG could not sign {path.name}: {_last_error(err)}")
        return Signature(armored=out.decode("ascii", "replace"), sha512=sha512, size=size)

    # --- revocation -----------------------------------------------------------------------------

    def revocation(self, fingerprint: str, *, reason: str, comment: str) -> str:
        """A revocation certificate made by ``gpg --gen-revoke``, merged into the public key
        (the armored public key carrying its revocation signature)."""
        fpr = check_fingerprint(fingerprint)
        if reason not in GPG_REVOCATION_CODES:
            raise OpenPGPError(f"unknown revocation reason {reason!r}")
        lines = [line.strip() for line in comment.splitlines() if line.strip()]
        answers = "\n".join(["y", str(GPG_REVOCATION_CODES[reason]), *lines, "", "y", ""])
        certificate = self._run(
            "--command-fd", "0", "--status-fd", "2", "--armor", "--gen-revoke", fpr,
            what=f"make a revocation certificate for {fpr}", stdin=answers.encode("utf-8"),
        )  # fmt: skip
        if b"BEGIN PGP PUBLIC KEY BLOCK" not in certificate:
            raise OpenPGPError("GnuPG made no revocation certificate")
        public = self.export_public(fpr)
        with throwaway_home() as home:
            scratch = GnuPG(home)
            scratch._run("--batch", "--import", what="import the key", stdin=public.encode())
            scratch._run("--batch", "--import", what="import the revocation", stdin=certificate)
            return scratch.export_public(fpr)


class _Drain:
    """Reads a process's stdout and stderr in threads, so neither pipe can fill up and block
    it while the artifact is written to its stdin."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._threads = [
            threading.Thread(target=_read_all, args=(proc.stdout, self._out), daemon=True),
            threading.Thread(target=_read_all, args=(proc.stderr, self._err), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def join(self) -> tuple[bytes, bytes]:
        for thread in self._threads:
            thread.join()
        return b"".join(self._out), b"".join(self._err)


def _read_all(stream: IO[bytes] | None, into: list[bytes]) -> None:
    if stream is None:  # pragma: no cover - always a pipe here
        return
    with stream:
        while chunk := stream.read(65536):
            into.append(chunk)


def _feed(proc: subprocess.Popen[bytes], chunks: Iterator[memoryview]) -> tuple[str, int]:
    """Write every chunk to ``proc``'s stdin while hashing it; close stdin after."""
    digest = hashlib.sha512()
    size = 0
    stdin = proc.stdin
    if stdin is None:  # pragma: no cover - always a pipe here
        raise OpenPGPError("gpg has no stdin")
    try:
        with stdin:
            for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                stdin.write(chunk)
    except BrokenPipeError:
        return digest.hexdigest(), size  # gpg stopped early: its exit code and stderr tell why
    return digest.hexdigest(), size


def _last_error(stderr: bytes) -> str:
    lines = [
        line.strip()
        for line in stderr.decode("utf-8", "replace").splitlines()
        if line.strip() and not line.startswith("[GNUPG:]")
    ]
    useful = [line for line in lines if "error" in line.lower() or "fail" in line.lower()]
    return (useful or lines or ["no message"])[-1]
