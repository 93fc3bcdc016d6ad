"""The user's local OpenPGP keys: generate, import, protect, sign, export.

Keys are stored as ASCII-armored, passphrase-protected secret keys (OpenPGP's
own S2K + AES-256 format), one file per key named by its fingerprint, under
``<data dir>/keys`` — written atomically with mode 0600 (see
:mod:`shared.atomicfile`). A passphrase goes to the OS keyring through
``keyring`` only when the user asks for it; a remembered passphrase is then
used to sign without asking.

Keys may also be *transient*: loaded from a file the user points at (for
example the demo key ``atr-agent demo`` writes) and held in memory only, never
copied into the keystore unprotected.

A key may instead live in the user's own **GnuPG** keyring (a smartcard
included): the keystore then keeps only a reference, ``<FINGERPRINT>.gnupg.json``
(which GnuPG home, and the key's description), and every signature is made by
``gpg`` (:mod:`desktop.gnupg_backend`); GnuPG's agent asks for the passphrase or
PIN. The backend is chosen per key: :attr:`StoredKey.backend`.

Artifacts are signed streaming (:meth:`Keystore.sign_file`, see
:mod:`desktop.signing`); ballots are clear-signed (:meth:`Keystore.clearsign`);
a key is revoked with a revocation signature made here
(:meth:`Keystore.revoke`), kept beside the key as ``<FINGERPRINT>.revocation.asc``.

All crypto goes through :mod:`shared.openpgp.keys`. Methods here block (key
generation takes seconds); the view-models run them off the GUI thread.
"""

from __future__ import annotations

import contextlib
import json
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import keyring
import keyring.errors

from desktop.errors import (
    KeyNotFound,
    KeyringUnavailable,
    KeystoreError,
    PassphraseRequired,
    WrongPassphrase,
)
from desktop.gnupg_backend import GnuPG
from desktop.paths import data_dir
from desktop.pgpy_internals import install_streaming_s2k
from desktop.signing import (
    Progress,
    Signature,
    SignedArtifact,
    read_chunks,
    write_outputs,
)
from desktop.sigpacket import StreamSigner
from shared.atomicfile import PRIVATE_DIR, PUBLIC_FILE, write_atomic
from shared.challenge import Challenge
from shared.errors import OpenPGPError, ValidationError
from shared.ids import check_fingerprint
from shared.openpgp.cleartext import clear_sign
from shared.openpgp.keys import (
    KeyInfo,
    generate_key,
    key_info,
    load_key,
    protect,
    public_armor,
    sign_challenge,
    sign_detached,
)

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import RevocationReason, SignatureType

install_streaming_s2k()  # unlocking a key no longer costs 130 MB (see desktop.pgpy_internals)

KEYRING_SERVICE = "atr-desktop"
DEFAULT_BITS = 4096
MIN_BITS = 2048
_CHECK_DATA = b"atr-desktop passphrase check"
_KEYRING_HINT = (
    "install or unlock an OS keyring (Secret Service, KWallet, macOS Keychain, "
    "Windows Credential Locker), or leave 'remember' unchecked"
)
_GNUPG_SUFFIX = ".gnupg.json"
_REVOCATION_SUFFIX = ".revocation.asc"

Backend = Literal["pgpy", "gnupg"]
RevocationReasonName = Literal["none", "compromised", "superseded", "retired"]
REVOCATION_REASONS: dict[str, str] = {
    "compromised": "Key has been compromised",
    "superseded": "Key is superseded by a new key",
    "retired": "Key is no longer used",
    "none": "No reason given",
}
"""The reasons a user may pick when revoking, with their text for people."""
_PGPY_REASONS = {
    "none": RevocationReason.NotSpecified,
    "compromised": RevocationReason.Compromised,
    "superseded": RevocationReason.Superseded,
    "retired": RevocationReason.Retired,
}


@dataclass(frozen=True, slots=True)
class StoredKey:
    """A secret key the desktop can sign with."""

    info: KeyInfo
    protected: bool
    """Whether the secret material needs a passphrase."""
    path: Path | None
    """The keystore file; ``None`` for a transient key held in memory."""
    source: Path | None = None
    """For a transient key: the file it was loaded from."""
    backend: Backend = "pgpy"
    """``pgpy``: the secret key is in the keystore; ``gnupg``: it stays in GnuPG."""
    gnupg_home: Path | None = None
    """For the GnuPG backend: the GnuPG home (``None``: GnuPG's default)."""
    card: str | None = None
    """For the GnuPG backend: the serial number of the smartcard holding the key."""
    revocation: Path | None = None
    """The revocation made on this computer (the public key with its revocation), if any."""

    @property
    def fingerprint(self) -> str:
        return self.info.fingerprint

    @property
    def transient(self) -> bool:
        return self.path is None

    @property
    def revoked(self) -> bool:
        """Whether the key was revoked from this computer."""
        return self.revocation is not None

    @property
    def backend_label(self) -> str:
        """``keystore``, ``keystore (this run only)``, ``GnuPG`` or ``GnuPG (card …)``."""
        if self.backend == "gnupg":
            return f"GnuPG (card {self.card})" if self.card else "GnuPG"
        return "keystore (this run only)" if self.transient else "keystore"

    @property
    def label(self) -> str:
        """One line for people: the first user id, algorithm, size and short fingerprint."""
        uid = self.info.user_ids[0] if self.info.user_ids else "(no user id)"
        bits = f"{self.info.bits}" if self.info.bits else ""
        return f"{uid} — {self.info.algorithm}{bits} {self.fingerprint[-16:]}"


class Keystore:
    """The folder of the user's secret keys plus the OS keyring for remembered passphrases."""

    def __init__(self, directory: Path, *, keyring_service: str = KEYRING_SERVICE) -> None:
        self._dir = directory
        self._service = keyring_service
        self._transient: dict[str, tuple[StoredKey, Any]] = {}
        self._lock = threading.Lock()

    @classmethod
    def default(cls) -> Keystore:
        """The keystore under the desktop's data folder."""
        return cls(data_dir() / "keys")

    @property
    def directory(self) -> Path:
        return self._dir

    # --- listing --------------------------------------------------------------------------------

    def list_keys(self) -> list[StoredKey]:
        """Every key: stored ones sorted by first user id, then transient ones."""
        stored: list[StoredKey] = []
        if self._dir.is_dir():
            for path in sorted(self._dir.glob("*.asc")):
                if path.name.endswith(_REVOCATION_SUFFIX):
                    continue
                try:
                    stored.append(self._describe(load_key(path.read_text("utf-8")), path))
                except (OpenPGPError, OSError, UnicodeDecodeError):
                    continue  # a stray or damaged file is not a key; get() reports it
            for path in sorted(self._dir.glob(f"*{_GNUPG_SUFFIX}")):
                try:
                    stored.append(self._read_gnupg_ref(path))
                except KeystoreError:
                    continue
        stored.sort(key=lambda k: (k.info.user_ids[:1], k.fingerprint))
        with self._lock:
            transient = [entry for entry, _ in self._transient.values()]
        return stored + transient

    def get(self, fingerprint: str) -> StoredKey:
        """The key with ``fingerprint``; raises :class:`KeyNotFound`."""
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            return gnupg
        entry, _ = self._load(fingerprint)
        return entry

    # --- adding keys ----------------------------------------------------------------------------

    def generate(
        self, *, name: str, email: str, passphrase: str, bits: int = DEFAULT_BITS
    ) -> StoredKey:
        """Make a new RSA key (4096 bits unless told), protect it and store it. Takes seconds."""
        if not name.strip():
            raise ValidationError("a name is needed for the key's user id")
        if "@" not in email or any(c.isspace() for c in email.strip()):
            raise ValidationError(f"{email!r} is not an email address")
        if bits < MIN_BITS:
            raise ValidationError(f"RSA keys need at least {MIN_BITS} bits, not {bits}")
        self._require_passphrase(passphrase)
        key = generate_key(name.strip(), email.strip(), bits=bits)
        protect(key, passphrase)
        return self._store(key)

    def import_armored(self, armored: str, *, passphrase: str) -> StoredKey:
        """Store an ASCII-armored secret key.

        An unprotected key is protected with ``passphrase``; an already protected
        key must be unlocked by it (it keeps its own protection).
        """
        key = load_key(armored)
        if key.is_public:
            raise KeystoreError(
                "this is a public key; the desktop needs the secret key to sign",
                hint="export it with: gpg --export-secret-keys --armor <fingerprint>",
            )
        self._require_passphrase(passphrase)
        if key.is_protected:
            self._check_unlocks(key, passphrase)
        else:
            protect(key, passphrase)
        return self._store(key)

    def import_file(self, path: Path, *, passphrase: str) -> StoredKey:
        """:meth:`import_armored` of a file's text."""
        return self.import_armored(_read_key_file(path), passphrase=passphrase)

    def load_transient(self, path: Path) -> StoredKey:
        """Use the secret key in ``path`` without storing it (held in memory until exit)."""
        key = load_key(_read_key_file(path))
        if key.is_public:
            raise KeystoreError(f"{path} holds a public key; the desktop needs the secret key")
        entry = StoredKey(
            info=key_info(key), protected=bool(key.is_protected), path=None, source=path
        )
        with self._lock:
            self._transient[entry.fingerprint] = (entry, key)
        return entry

    def delete(self, fingerprint: str) -> None:
        """Remove a stored key (and its remembered passphrase) for good; for a GnuPG key,
        only the reference (the key stays in GnuPG)."""
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None and gnupg.path is not None:
            gnupg.path.unlink()
            return
        entry, _ = self._load(fingerprint)
        if entry.path is not None:
            entry.path.unlink()
        else:
            with self._lock:
                self._transient.pop(entry.fingerprint, None)
        with contextlib.suppress(KeyringUnavailable):  # nothing remembered without a keyring
            self.forget_passphrase(entry.fingerprint)

    # --- using keys -----------------------------------------------------------------------------

    def export_public(self, fingerprint: str) -> str:
        """The ASCII-armored public key, for the agent or the project's KEYS file."""
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            return GnuPG(gnupg.gnupg_home).export_public(gnupg.fingerprint)
        _, key = self._load(fingerprint)
        return public_armor(key)

    def export_public_to(self, fingerprint: str, path: Path) -> None:
        """Write the public key to ``path`` (it is public: normal permissions)."""
        path.write_text(self.export_public(fingerprint), encoding="utf-8")

    def export_secret(self, fingerprint: str, *, passphrase: str | None = None) -> str:
        """The ASCII-armored secret key, passphrase-protected.

        A stored key is protected already and exported as it is. A transient key
        without protection is protected with ``passphrase`` for the export (the key
        in memory stays as it was). A GnuPG key's secret part never leaves GnuPG.
        """
        if self._gnupg_entry(fingerprint) is not None:
            raise KeystoreError(
                "this key's secret part is in GnuPG (or on a card); the desktop cannot export it",
                hint="gpg --export-secret-keys --armor <fingerprint> exports it from GnuPG",
            )
        entry, key = self._load(fingerprint)
        if key.is_protected:
            return str(key)
        if not passphrase:
            raise PassphraseRequired(
                f"the key {entry.fingerprint[-16:]} is not protected; "
                "give a passphrase to protect the exported copy"
            )
        copy = load_key(str(key))
        protect(copy, passphrase)
        return str(copy)

    def export_secret_to(
        self, fingerprint: str, path: Path, *, passphrase: str | None = None
    ) -> None:
        """Write the protected secret key to ``path`` (mode 0600, atomically)."""
        write_atomic(path, self.export_secret(fingerprint, passphrase=passphrase))

    def check_passphrase(self, fingerprint: str, passphrase: str) -> None:
        """Raise :class:`WrongPassphrase` unless ``passphrase`` unlocks the key."""
        if self._gnupg_entry(fingerprint) is not None:
            return  # GnuPG's agent asks for it
        _, key = self._load(fingerprint)
        if key.is_protected:
            self._check_unlocks(key, passphrase)

    def needs_passphrase(self, fingerprint: str) -> bool:
        """Whether signing with the key would have to ask for a passphrase (never for GnuPG
        keys: GnuPG's own pinentry asks)."""
        entry = self.get(fingerprint)
        if entry.backend == "gnupg":
            return False
        return entry.protected and self.remembered_passphrase(fingerprint) is None

    def sign(self, fingerprint: str, data: bytes, *, passphrase: str | None = None) -> str:
        """An armored detached signature of ``data``; without a passphrase, the remembered one."""
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            return GnuPG(gnupg.gnupg_home).sign_detached(gnupg.fingerprint, data)
        _, key = self._load(fingerprint)
        secret = self._passphrase_for(key, passphrase)
        return self._with_passphrase_errors(
            key, lambda: sign_detached(key, data, passphrase=secret)
        )

    def sign_challenge(
        self, fingerprint: str, challenge: Challenge, *, passphrase: str | None = None
    ) -> str:
        """The detached text signature of a checked login (or token) challenge, marked with its
        purpose; without a passphrase, the remembered one (see :mod:`shared.challenge`)."""
        text, purpose = challenge.render(), challenge.purpose.value
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            return GnuPG(gnupg.gnupg_home).sign_challenge(gnupg.fingerprint, text, purpose)
        _, key = self._load(fingerprint)
        secret = self._passphrase_for(key, passphrase)
        return self._with_passphrase_errors(
            key, lambda: sign_challenge(key, text, purpose=purpose, passphrase=secret)
        )

    def sign_file(
        self,
        fingerprint: str,
        path: Path,
        *,
        passphrase: str | None = None,
        out_dir: Path | None = None,
        progress: Progress | None = None,
        cancel: threading.Event | None = None,
    ) -> SignedArtifact:
        """Sign an artifact streaming: write ``<name>.asc`` (detached, armored, SHA-512) and
        ``<name>.sha512`` beside it (or into ``out_dir``). Blocks; run it in a thread.

        The passphrase is checked *before* the file is read, so a wrong one fails at once.
        """
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            signature = GnuPG(gnupg.gnupg_home).sign_file(
                gnupg.fingerprint, path, progress=progress, cancel=cancel
            )
            return write_outputs(path, signature, fingerprint=gnupg.fingerprint, out_dir=out_dir)
        _, key = self._load(fingerprint)
        with self._unlock(key, passphrase):  # fail fast on a wrong passphrase
            pass
        signer = StreamSigner(key)
        for chunk in read_chunks(path, progress=progress, cancel=cancel):
            signer.update(chunk)
        with self._unlock(key, passphrase) as unlocked:
            armored = signer.finish(unlocked)
        signature = Signature(armored=armored, sha512=signer.data_sha512(), size=signer.size)
        fpr = key_info(key).fingerprint
        return write_outputs(path, signature, fingerprint=fpr, out_dir=out_dir)

    def clearsign(self, fingerprint: str, text: str, *, passphrase: str | None = None) -> str:
        """The clear-signed message of ``text`` (a ballot), as ``gpg --clearsign`` makes."""
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            return GnuPG(gnupg.gnupg_home).clearsign(gnupg.fingerprint, text)
        _, key = self._load(fingerprint)
        secret = self._passphrase_for(key, passphrase)
        return self._with_passphrase_errors(key, lambda: clear_sign(key, text, passphrase=secret))

    def revoke(
        self,
        fingerprint: str,
        *,
        reason: RevocationReasonName,
        comment: str = "",
        passphrase: str | None = None,
    ) -> str:
        """Make the key's revocation here and keep it beside the key; returns the armored
        public key carrying the revocation signature (what the agent's KEYS takes)."""
        if reason not in _PGPY_REASONS:
            raise ValidationError(f"unknown revocation reason {reason!r}")
        gnupg = self._gnupg_entry(fingerprint)
        if gnupg is not None:
            armored = GnuPG(gnupg.gnupg_home).revocation(
                gnupg.fingerprint, reason=reason, comment=comment
            )
        else:
            with self._unlocked(fingerprint, passphrase) as key:
                armored = _revoked_public(key, reason, comment)
        fpr = check_fingerprint(fingerprint)
        write_atomic(
            self._dir / f"{fpr}{_REVOCATION_SUFFIX}",
            armored,
            mode=PUBLIC_FILE,
            make_dirs=True,
            dir_mode=PRIVATE_DIR,
        )
        return armored

    def revocation(self, fingerprint: str) -> str | None:
        """The revocation made earlier on this computer (public key with it), if any."""
        path = self._dir / f"{check_fingerprint(fingerprint)}{_REVOCATION_SUFFIX}"
        try:
            return path.read_text("utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise KeystoreError(f"cannot read {path}: {exc}") from exc

    # --- the GnuPG backend ----------------------------------------------------------------------

    def gnupg_keys(self, home: Path | None = None) -> list[StoredKey]:
        """The keys GnuPG (in ``home``, default GnuPG's own) can sign with, not yet added."""
        gpg = GnuPG(home)
        return [
            StoredKey(
                info=found.info,
                protected=False,
                path=None,
                backend="gnupg",
                gnupg_home=home,
                card=found.card,
            )
            for found in gpg.secret_keys()
        ]

    def add_gnupg_key(self, fingerprint: str, *, home: Path | None = None) -> StoredKey:
        """Use a key of the user's GnuPG keyring (``home``: its GnuPG home; default GnuPG's
        own). Only a reference is stored: the secret part stays in GnuPG."""
        fpr = check_fingerprint(fingerprint)
        if self._path(fpr).exists():
            raise KeystoreError(
                f"the key {fpr[-16:]} is in the keystore already",
                hint="delete it from the keystore first to use GnuPG's copy instead",
            )
        found = GnuPG(home).secret_key(fpr)
        if not found.can_sign:
            raise KeystoreError(f"GnuPG cannot sign with the key {fpr[-16:]}")
        info = found.info
        ref = {
            "version": 1,
            "backend": "gnupg",
            "home": str(home) if home is not None else None,
            "fingerprint": fpr,
            "algorithm": info.algorithm,
            "bits": info.bits,
            "user_ids": list(info.user_ids),
            "created_at": info.created_at.isoformat(),
            "expires_at": info.expires_at.isoformat() if info.expires_at else None,
            "card": found.card,
        }
        path = self._dir / f"{fpr}{_GNUPG_SUFFIX}"
        write_atomic(path, json.dumps(ref, indent=2), make_dirs=True, dir_mode=PRIVATE_DIR)
        return self._read_gnupg_ref(path)

    def signer(
        self, fingerprint: str, *, passphrase: str | None = None
    ) -> Callable[[Challenge], str]:
        """A ``sign(challenge) -> armored signature`` callable, as the agent client's login
        wants (it passes only challenges it has checked)."""
        self.get(fingerprint)  # fail now, not in the middle of a login

        def sign(challenge: Challenge) -> str:
            return self.sign_challenge(fingerprint, challenge, passphrase=passphrase)

        return sign

    # --- the OS keyring -------------------------------------------------------------------------

    def remember_passphrase(self, fingerprint: str, passphrase: str) -> None:
        """Check ``passphrase`` and keep it in the OS keyring (the user asked for it)."""
        if self._gnupg_entry(fingerprint) is not None:
            raise KeystoreError(
                "GnuPG keeps this key's passphrase itself (its gpg-agent caches it)",
                hint="leave 'remember' unchecked for GnuPG keys",
            )
        self.check_passphrase(fingerprint, passphrase)
        try:
            keyring.set_password(self._service, _keyring_user(fingerprint), passphrase)
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"the OS keyring cannot store the passphrase: {exc}", hint=_KEYRING_HINT
            ) from exc

    def forget_passphrase(self, fingerprint: str) -> None:
        """Remove a remembered passphrase (no error when none was remembered)."""
        try:
            keyring.delete_password(self._service, _keyring_user(fingerprint))
        except keyring.errors.PasswordDeleteError:
            return
        except keyring.errors.KeyringError as exc:
            raise KeyringUnavailable(
                f"the OS keyring cannot be used: {exc}", hint=_KEYRING_HINT
            ) from exc

    def remembered_passphrase(self, fingerprint: str) -> str | None:
        """The passphrase kept in the OS keyring, or ``None`` (also when there is no keyring)."""
        try:
            value = keyring.get_password(self._service, _keyring_user(fingerprint))
        except keyring.errors.KeyringError:
            return None
        return value if isinstance(value, str) else None

    # --- internals ------------------------------------------------------------------------------

    def _path(self, fingerprint: str) -> Path:
        return self._dir / f"{fingerprint}.asc"

    def _describe(self, key: Any, path: Path | None) -> StoredKey:
        info = key_info(key)
        return StoredKey(
            info=info,
            protected=bool(key.is_protected),
            path=path,
            revocation=self._revocation_path(info.fingerprint),
        )

    def _revocation_path(self, fingerprint: str) -> Path | None:
        path = self._dir / f"{fingerprint}{_REVOCATION_SUFFIX}"
        return path if path.is_file() else None

    def _gnupg_entry(self, fingerprint: str) -> StoredKey | None:
        try:
            fpr = check_fingerprint(fingerprint)
        except ValidationError as exc:
            raise KeyNotFound(str(exc)) from exc
        path = self._dir / f"{fpr}{_GNUPG_SUFFIX}"
        return self._read_gnupg_ref(path) if path.is_file() else None

    def _read_gnupg_ref(self, path: Path) -> StoredKey:
        try:
            ref = json.loads(path.read_text("utf-8"))
            fpr = check_fingerprint(str(ref["fingerprint"]))
            info = KeyInfo(
                fingerprint=fpr,
                algorithm=str(ref["algorithm"]),
                bits=int(ref["bits"]) if ref.get("bits") else None,
                user_ids=tuple(str(u) for u in ref["user_ids"]),
                created_at=datetime.fromisoformat(ref["created_at"]),
                expires_at=_optional_time(ref.get("expires_at")),
            )
        except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
            raise KeystoreError(f"the GnuPG key reference {path} cannot be read: {exc}") from exc
        home = ref.get("home")
        return StoredKey(
            info=info,
            protected=False,
            path=path,
            backend="gnupg",
            gnupg_home=Path(home) if home else None,
            card=ref.get("card") or None,
            revocation=self._revocation_path(fpr),
        )

    def _store(self, key: Any) -> StoredKey:
        entry = self._describe(key, None)
        path = self._path(entry.fingerprint)
        write_atomic(path, str(key), make_dirs=True, dir_mode=PRIVATE_DIR)
        return StoredKey(info=entry.info, protected=entry.protected, path=path)

    def _load(self, fingerprint: str) -> tuple[StoredKey, Any]:
        try:
            fpr = check_fingerprint(fingerprint)
        except ValidationError as exc:
            raise KeyNotFound(str(exc)) from exc
        with self._lock:
            transient = self._transient.get(fpr)
        if transient is not None:
            return transient
        path = self._path(fpr)
        try:
            armored = path.read_text("utf-8")
        except FileNotFoundError:
            raise KeyNotFound(
                f"no key {fpr} in the keystore",
                hint="generate or import a key in the connect dialog",
            ) from None
        except OSError as exc:
            raise KeystoreError(f"cannot read the key file {path}: {exc}") from exc
        key = load_key(armored)
        return self._describe(key, path), key

    @contextlib.contextmanager
    def _unlocked(self, fingerprint: str, passphrase: str | None) -> Iterator[Any]:
        """The pgpy key, unlocked for the block (the remembered passphrase when none given)."""
        _, key = self._load(fingerprint)
        with self._unlock(key, passphrase) as unlocked:
            yield unlocked

    def _passphrase_for(self, key: Any, passphrase: str | None) -> str | None:
        """``passphrase``, else the remembered one, for a protected key (None if unprotected)."""
        if not key.is_protected:
            return None
        fingerprint = key_info(key).fingerprint
        if passphrase is None:
            passphrase = self.remembered_passphrase(fingerprint)
        if passphrase is None:
            raise PassphraseRequired(
                f"the key {fingerprint[-16:]} is protected; enter its passphrase"
            )
        return passphrase

    @staticmethod
    def _with_passphrase_errors(key: Any, sign: Callable[[], str]) -> str:
        """Run a facade signing call; its failure to unlock is a :class:`WrongPassphrase`."""
        try:
            return sign()
        except OpenPGPError as exc:
            if not key.is_protected:
                raise
            fingerprint = key_info(key).fingerprint
            raise WrongPassphrase(
                f"the passphrase does not unlock the key {fingerprint[-16:]}"
            ) from exc

    @contextlib.contextmanager
    def _unlock(self, key: Any, passphrase: str | None) -> Iterator[Any]:
        secret = self._passphrase_for(key, passphrase)
        if secret is None:
            yield key
            return
        fingerprint = key_info(key).fingerprint
        passphrase = secret
        with contextlib.ExitStack() as stack:
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    stack.enter_context(key.unlock(passphrase))
            except pgpy.errors.PGPDecryptionError as exc:
                raise WrongPassphrase(
                    f"the passphrase does not unlock the key {fingerprint[-16:]}"
                ) from exc
            yield key

    @staticmethod
    def _require_passphrase(passphrase: str) -> None:
        if not passphrase:
            raise ValidationError("a passphrase is needed to protect the key")

    @staticmethod
    def _check_unlocks(key: Any, passphrase: str) -> None:
        # The facade signs only after unlocking; a failed unlock is its "wrong passphrase".
        try:
            sign_detached(key, _CHECK_DATA, passphrase=passphrase)
        except OpenPGPError as exc:
            raise WrongPassphrase("the passphrase does not unlock this key") from exc


def _keyring_user(fingerprint: str) -> str:
    return f"openpgp:{fingerprint}"


def _optional_time(value: object) -> datetime | None:
    if not value:
        return None
    when = datetime.fromisoformat(str(value))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _revoked_public(key: Any, reason: str, comment: str) -> str:
    """The public key with a key revocation signature made by ``key`` (unlocked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        revocation = key.revoke(
            key,
            sigtype=SignatureType.KeyRevocation,
            reason=_PGPY_REASONS[reason],
            comment=comment.strip(),
        )
        public = key.pubkey
        public |= revocation
    return str(public)


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"no such key file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read the key file {path}: {exc}") from exc
