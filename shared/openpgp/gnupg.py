"""Signature verification with GnuPG in a throwaway home.

Each call imports the given public keys into a fresh temporary home, runs
``gpg --verify`` with ``--status-fd`` and reads the machine-readable status
lines (GnuPG's ``doc/DETAILS``). GnuPG streams the data file, so a 1 GB
artifact is never read into memory, and it honours revocation and expiry.

The status lines are read here rather than through python-gnupg's ``Verify``
object because a detached ``.asc`` may hold several signatures and each is
reported on its own: python-gnupg keeps only the last signature's state.

:class:`Keyring` keeps one throwaway home open for several verifications and
lists the imported keys as GnuPG sees them (``--with-colons``): algorithm, size,
curve, capabilities, revocation and expiry of the primary key and each subkey.
Inside :func:`shared_keyrings`, :meth:`Keyring.for_blocks` makes one keyring per
distinct set of blocks and hands it to every caller (the keys and signatures checks
of one run import a project's KEYS once, not once each).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from urllib.parse import unquote

from shared.errors import OpenPGPError
from shared.openpgp.keysfile import KeyBlock

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
    hash_algorithm: int | None = None
    """OpenPGP hash algorithm id of the signature (2 SHA-1, 8 SHA-256, 10 SHA-512, …)."""
    sig_class: str | None = None
    """The signature class in hex: ``00`` binary document, ``01`` canonical text, …"""
    notations: dict[str, str] = field(default_factory=dict)
    """The signature's notations, name → value."""
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
        if _may_have_daemons(home):
            subprocess.run(
                ["gpgconf", "--homedir", str(home), "--kill", "all"],
                capture_output=True,
                check=False,
                timeout=30,
            )
        shutil.rmtree(home, ignore_errors=True)


def _may_have_daemons(home: Path) -> bool:
    """Whether a gpg-agent or dirmngr may run for ``home``. Verification never starts one
    (``--no-autostart``); their sockets live in the home unless ``/run/user/<uid>/gnupg``
    exists, in which case they are looked for by ``gpgconf`` itself."""
    if any(home.glob("S.*")):
        return True
    return Path(f"/run/user/{os.getuid()}/gnupg").exists()


def _run(args: list[str], *, what: str, stdin: bytes | None = None, check: bool = False) -> bytes:
    """Run ``gpg`` with ``args``; return its stdout. Raises OpenPGPError if it cannot run
    (``check``: or if it fails, with GnuPG's own last words)."""
    try:
        proc = subprocess.run(
            [GPG, *args],
            input=stdin,
            capture_output=True,
            check=False,
            timeout=_TIMEOUT,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise OpenPGPError(
            f"cannot run GnuPG to {what}: {exc}",
            hint="install GnuPG 2.2 or later, or point ATR_GPG at its gpg program",
        ) from exc
    if check and proc.returncode != 0:
        lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise OpenPGPError(f"GnuPG could not {what}: {lines[-1] if lines else 'no reason given'}")
    return proc.stdout


def import_keys(home: Path, armored_keys: Iterable[str]) -> None:
    """Import public keys into ``home``; unreadable ones are left out by GnuPG itself."""
    payload = "\n".join(armored_keys).encode()
    if not payload.strip():
        return
    _run(
        ["--homedir", str(home), "--batch", "--no-autostart", "--quiet", "--import"],
        what="import keys",
        stdin=payload,
    )


@dataclass(frozen=True, slots=True)
class GpgSubkey:
    """A primary key or subkey as GnuPG lists it."""

    fingerprint: str
    """40 upper-case hex characters."""
    algorithm: int
    """OpenPGP public-key algorithm id (see :func:`shared.openpgp.policy.algorithm_name`)."""
    bits: int | None
    curve: str | None
    created: datetime | None
    expires: datetime | None
    validity: str
    """GnuPG's validity letter: ``r`` revoked, ``e`` expired, ``i`` invalid, ``d`` disabled…"""
    capabilities: str
    """GnuPG's usage letters: ``s`` sign, ``c`` certify, ``e`` encrypt, ``a`` authenticate."""

    @property
    def revoked(self) -> bool:
        return self.validity == "r"

    @property
    def expired(self) -> bool:
        return self.validity == "e"

    @property
    def can_sign(self) -> bool:
        return "s" in self.capabilities  # lower case: this key itself; upper: the whole key


@dataclass(frozen=True, slots=True)
class GpgKey:
    """A public key with its subkeys and user ids, as GnuPG lists it."""

    primary: GpgSubkey
    subkeys: tuple[GpgSubkey, ...]
    user_ids: tuple[str, ...]
    """User ids that are not revoked (all of them for a revoked key)."""

    @property
    def fingerprint(self) -> str:
        return self.primary.fingerprint

    def find(self, fingerprint: str) -> GpgSubkey | None:
        """The primary key or subkey with ``fingerprint``."""
        fingerprint = fingerprint.upper()
        for key in (self.primary, *self.subkeys):
            if key.fingerprint == fingerprint:
                return key
        return None


def colon_text(text: str) -> str:
    """A text field of a ``--with-colons`` listing, GnuPG's ``\\xHH`` escaping undone."""
    if "\\x" not in text:
        return text
    raw = bytearray()
    i = 0
    while i < len(text):
        if text.startswith("\\x", i) and i + 4 <= len(text):
            try:
                raw.append(int(text[i + 2 : i + 4], 16))
                i += 4
                continue
            except ValueError:
                pass
        raw += text[i].encode()
        i += 1
    return raw.decode("utf-8", "replace")


def colon_time(text: str) -> datetime | None:
    """A time field of a ``--with-colons`` listing (seconds since the epoch; empty: none)."""
    if not text.isdigit():
        return None
    return datetime.fromtimestamp(int(text), UTC)


def _colon_key(fields: list[str]) -> GpgSubkey:
    fields = fields + [""] * (18 - len(fields))
    return GpgSubkey(
        fingerprint="",
        algorithm=int(fields[3]) if fields[3].isdigit() else 0,
        bits=int(fields[2]) if fields[2].isdigit() and int(fields[2]) > 0 else None,
        curve=fields[16] or None,
        created=colon_time(fields[5]),
        expires=colon_time(fields[6]),
        validity=fields[1],
        capabilities=fields[11],
    )


def parse_colons(text: str) -> list[GpgKey]:
    """Read ``gpg --with-colons --list-keys`` output into keys (GnuPG's ``doc/DETAILS``)."""
    keys: list[GpgKey] = []
    primary: GpgSubkey | None = None
    subkeys: list[GpgSubkey] = []
    uids: list[str] = []
    pending: GpgSubkey | None = None  # the pub/sub record waiting for its fpr line

    def flush() -> None:
        if primary is not None and primary.fingerprint:
            keys.append(GpgKey(primary, tuple(subkeys), tuple(uids)))

    for line in text.splitlines():
        fields = line.split(":")
        record = fields[0]
        if record == "pub":
            flush()
            primary, subkeys, uids = None, [], []
            pending = _colon_key(fields)
        elif record == "sub":
            pending = _colon_key(fields)
        elif record == "fpr" and pending is not None and len(fields) > 9:
            found = dataclasses.replace(pending, fingerprint=fields[9].upper())
            if primary is None:
                primary = found
            else:
                subkeys.append(found)
            pending = None
        elif record == "uid" and len(fields) > 9:
            # A revoked key shows every user id as revoked: keep them to name the key.
            key_revoked = pending is None and primary is not None and primary.revoked
            if fields[1] != "r" or key_revoked:
                uids.append(colon_text(fields[9]))
    flush()
    return keys


@dataclass(frozen=True, slots=True)
class KeyRevocation:
    """A primary key's revocation signature, as GnuPG lists it."""

    created: datetime | None
    reason_code: int | None
    """RFC 4880 5.2.3.23: 0 none given, 1 superseded, 2 compromised, 3 retired, 32 uid invalid."""
    comment: str

    @property
    def reason(self) -> str:
        """The reason for people: ``key compromised: stolen laptop``."""
        names = {1: "key superseded", 2: "key compromised", 3: "key retired"}
        name = names.get(self.reason_code or 0, "")
        return ": ".join(part for part in (name, self.comment) if part)


def parse_revocations(text: str) -> KeyRevocation | None:
    """The newest revocation of the primary key in ``gpg --with-colons --list-sigs`` output
    (``rev`` records between the ``pub`` and its first ``uid`` or ``sub``)."""
    newest: KeyRevocation | None = None
    in_primary = False
    for line in text.splitlines():
        fields = line.split(":")
        record = fields[0]
        if record == "pub":
            in_primary = True
        elif record in ("uid", "uat", "sub"):
            in_primary = False
        elif record == "rev" and in_primary:
            fields = fields + [""] * (21 - len(fields))
            sig_class, _, code = fields[10].partition(",")
            if not sig_class.startswith("20"):
                continue
            found = KeyRevocation(
                created=colon_time(fields[5]),
                reason_code=_hex(code),
                comment=colon_text(fields[20]),
            )
            if newest is None or (found.created or _EPOCH0) > (newest.created or _EPOCH0):
                newest = found
    return newest


_EPOCH0 = datetime.fromtimestamp(0, UTC)


def _hex(text: str) -> int | None:
    try:
        return int(text, 16) if text else None
    except ValueError:
        return None


class Keyring:
    """Public keys imported into a throwaway GnuPG home, for several verifications.

    Use :meth:`open`::

        with Keyring.open(armored_keys) as ring:
            ring.keys           # primary fingerprint → GpgKey, as GnuPG sees them
            ring.verify(path, signature_bytes)
    """

    def __init__(self, home: Path) -> None:
        self.home = home
        self._keys: dict[str, GpgKey] | None = None

    @classmethod
    @contextmanager
    def open(cls, armored_keys: Iterable[str] = ()) -> Iterator[Keyring]:
        """A keyring in a fresh home with ``armored_keys`` imported; removed on exit."""
        with throwaway_home() as home:
            ring = cls(home)
            ring.import_keys(armored_keys)
            yield ring

    @classmethod
    @contextmanager
    def for_blocks(cls, blocks: Sequence[KeyBlock]) -> Iterator[Keyring]:
        """A keyring with the usable blocks of a KEYS file, each imported if GnuPG can read it
        (see :meth:`import_blocks`); removed on exit.

        Inside :func:`shared_keyrings`, the keyring of the same blocks is made once and given
        to every caller (who must not import more keys into it); it is removed when that
        context ends."""
        pool = _POOL.get()
        if pool is not None:
            yield pool.for_blocks(blocks)
            return
        with throwaway_home() as home:
            ring = cls(home)
            ring.import_blocks(blocks)
            yield ring

    def import_keys(self, armored_keys: Iterable[str]) -> None:
        """Import more public keys (GnuPG leaves out the ones it cannot read)."""
        import_keys(self.home, armored_keys)
        self._keys = None

    def import_blocks(self, blocks: Sequence[KeyBlock]) -> None:
        """Import KEYS blocks robustly: all at once, then one at a time those whose keys are
        missing, since one malformed packet makes GnuPG drop the rest of its input."""
        usable = [b for b in blocks if b.usable]
        self.import_keys(b.armored for b in usable)
        missing = [b for b in usable if any(f not in self.keys for f in b.fingerprints)]
        for block in missing:
            self.import_keys([block.armored])

    @property
    def keys(self) -> Mapping[str, GpgKey]:
        """Primary fingerprint → key, for every key GnuPG holds in this home."""
        if self._keys is None:
            out = _run(
                [
                    "--homedir",
                    str(self.home),
                    "--batch",
                    "--no-autostart",
                    "--with-colons",
                    "--fixed-list-mode",
                    "--with-subkey-fingerprint",
                    "--trust-model",
                    "always",
                    "--list-keys",
                ],
                what="list keys",
            )
            self._keys = {k.fingerprint: k for k in parse_colons(out.decode("utf-8", "replace"))}
        return self._keys

    def export(self, fingerprint: str) -> str:
        """The ASCII-armored public key ``fingerprint`` as GnuPG holds it in this home: every
        signature it carries merged in, its revocation included ('' if there is no such key)."""
        out = _run(
            [
                "--homedir",
                str(self.home),
                "--batch",
                "--no-autostart",
                "--armor",
                "--export",
                "--",
                fingerprint.upper(),
            ],
            what="export a key",
        )
        return out.decode("ascii", "replace")

    def revocation(self, fingerprint: str) -> KeyRevocation | None:
        """The revocation of primary key ``fingerprint`` that GnuPG accepted (``None``: the key
        is not revoked, or not in this home)."""
        key = self.keys.get(fingerprint.upper())
        if key is None or not key.primary.revoked:
            return None
        out = _run(
            [
                "--homedir",
                str(self.home),
                "--batch",
                "--no-autostart",
                "--with-colons",
                "--fixed-list-mode",
                "--list-sigs",
                "--",
                fingerprint.upper(),
            ],
            what="list signatures",
        )
        found = parse_revocations(out.decode("utf-8", "replace"))
        return found or KeyRevocation(created=None, reason_code=None, comment="")

    def key_for(self, fingerprint: str) -> GpgKey | None:
        """The key whose primary key or a subkey has ``fingerprint``."""
        fingerprint = fingerprint.upper()
        found = self.keys.get(fingerprint)
        if found is not None:
            return found
        return next((k for k in self.keys.values() if k.find(fingerprint)), None)

    def verify(self, data: bytes | Path, signature: str | bytes) -> list[SignatureResult]:
        """Verify a detached signature of ``data`` (a file is streamed by GnuPG); one result
        per signature found (none: GnuPG found no signature it could read)."""
        sig_bytes = signature.encode() if isinstance(signature, str) else signature
        with tempfile.TemporaryDirectory(dir=self.home) as scratch:
            sig_path = Path(scratch) / "signature"
            sig_path.write_bytes(sig_bytes)
            if isinstance(data, Path):
                data_path = data
            else:
                data_path = Path(scratch) / "data"
                data_path.write_bytes(data)
            out = _run(
                [
                    "--homedir",
                    str(self.home),
                    "--batch",
                    "--no-autostart",
                    "--no-auto-key-retrieve",
                    "--trust-model",
                    "always",
                    "--status-fd",
                    "1",
                    "--verify",
                    "--",
                    str(sig_path),
                    str(data_path),
                ],
                what="verify",
            )
        return parse_status(out.decode("utf-8", "replace"))


class _KeyringPool:
    """The keyrings of one :func:`shared_keyrings` context, by the blocks imported."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._rings: dict[tuple[str, ...], Keyring] = {}
        self._lock = threading.Lock()

    def for_blocks(self, blocks: Sequence[KeyBlock]) -> Keyring:
        key = tuple(b.armored for b in blocks if b.usable)
        with self._lock:
            ring = self._rings.get(key)
            if ring is None:
                home = self._stack.enter_context(throwaway_home())
                ring = Keyring(home)
                ring.import_blocks(blocks)
                self._rings[key] = ring
            return ring

    def close(self) -> None:
        with self._lock:
            self._rings.clear()
            self._stack.close()


_POOL: ContextVar[_KeyringPool | None] = ContextVar("atr_keyring_pool", default=None)


@contextmanager
def shared_keyrings() -> Iterator[None]:
    """Share the keyrings :meth:`Keyring.for_blocks` makes in this context (this thread, or
    this task): one GnuPG home per distinct set of KEYS blocks, imported once and removed
    when the context ends. Nested uses share the outer context's keyrings."""
    if _POOL.get() is not None:
        yield
        return
    pool = _KeyringPool()
    token = _POOL.set(pool)
    try:
        yield
    finally:
        _POOL.reset(token)
        pool.close()


def sign_challenge_gpg(
    fingerprint: str, text: str, purpose: str, *, home: Path | None = None
) -> str:
    """The detached text signature of a checked challenge ``text`` (:mod:`shared.challenge`),
    made by the user's own GnuPG (``home``: its home; default GnuPG's), whose agent and
    pinentry ask for the passphrase or the smartcard's PIN."""
    from shared.challenge import NOTATION_NAME  # noqa: PLC0415 - challenge imports ids only

    args = ["--homedir", str(home)] if home is not None else []
    out = _run(
        [*args, "--batch", "--armor", "--textmode", "--digest-algo", "SHA512",
         "--local-user", fingerprint, "--sig-notation", f"{NOTATION_NAME}={purpose}",
         "--detach-sign", "--output", "-"],
        what="sign the challenge",
        stdin=text.encode("utf-8"),
        check=True,
    )  # fmt: skip
    return out.decode("ascii", "replace")


def verify_detached(
    data: bytes | Path, signature: str | bytes, public_keys: Iterable[str]
) -> list[SignatureResult]:
    """Verify the detached ``signature`` of ``data`` (bytes, or a file streamed by GnuPG)
    against ``public_keys`` only. Returns one result per signature found; an empty list
    means the signature file held no signature GnuPG could read."""
    with Keyring.open(public_keys) as ring:
        return ring.verify(data, signature)


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
    notation: str | None = None
    for line in text.splitlines():
        if not line.startswith("[GNUPG:] "):
            continue
        keyword, _, rest = line[len("[GNUPG:] ") :].partition(" ")
        if keyword == "NEWSIG":
            notation = None
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
            current.hash_algorithm = int(args[7]) if len(args) > 7 and args[7].isdigit() else None
            current.sig_class = args[8].lower() if len(args) > 8 else None
            current.primary_fingerprint = args[9].upper() if len(args) > 9 else args[0].upper()
        elif keyword == "NOTATION_NAME":
            notation = unquote(rest)
            current.notations[notation] = ""
        elif keyword == "NOTATION_DATA" and notation is not None:
            current.notations[notation] += unquote(rest)
        elif keyword in ("KEYREVOKED", "KEYEXPIRED", "SIGEXPIRED", "NO_PUBKEY"):
            current.detail.append(keyword)
    return results
