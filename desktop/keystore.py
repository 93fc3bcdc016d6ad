"""The user's local OpenPGP keys: generate, import, protect, sign, export.

Keys are stored as ASCII-armored, passphrase-protected secret keys (OpenPGP's
own S2K + AES-256 format), one file per key named by its fingerprint, under
``<data dir>/keys`` — written atomically with mode 0600 (see
:mod:`desktop.securefile`). A passphrase goes to the OS keyring through
``keyring`` only when the user asks for it; a remembered passphrase is then
used to sign without asking.

Keys may also be *transient*: loaded from a file the user points at (for
example the demo key ``atr-agent demo`` writes) and held in memory only, never
copied into the keystore unprotected.

All crypto goes through :mod:`shared.openpgp.keys`. Methods here block (key
generation takes seconds); the view-models run them off the GUI thread.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keyring
import keyring.errors

from desktop.errors import (
    KeyNotFound,
    KeyringUnavailable,
    KeystoreError,
    PassphraseRequired,
    WrongPassphrase,
)
from desktop.paths import data_dir
from desktop.securefile import ensure_private_dir, write_private
from shared.errors import OpenPGPError, ValidationError
from shared.ids import check_fingerprint
from shared.openpgp.keys import (
    KeyInfo,
    generate_key,
    key_info,
    load_key,
    protect,
    public_armor,
    sign_detached,
)

KEYRING_SERVICE = "atr-desktop"
DEFAULT_BITS = 4096
MIN_BITS = 2048
_CHECK_DATA = b"atr-desktop passphrase check"
_KEYRING_HINT = (
    "install or unlock an OS keyring (Secret Service, KWallet, macOS Keychain, "
    "Windows Credential Locker), or leave 'remember' unchecked"
)


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

    @property
    def fingerprint(self) -> str:
        return self.info.fingerprint

    @property
    def transient(self) -> bool:
        return self.path is None

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
                try:
                    stored.append(self._describe(load_key(path.read_text("utf-8")), path))
                except (OpenPGPError, OSError, UnicodeDecodeError):
                    continue  # a stray or damaged file is not a key; get() reports it
        stored.sort(key=lambda k: (k.info.user_ids[:1], k.fingerprint))
        with self._lock:
            transient = [entry for entry, _ in self._transient.values()]
        return stored + transient

    def get(self, fingerprint: str) -> StoredKey:
        """The key with ``fingerprint``; raises :class:`KeyNotFound`."""
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
        """Remove a stored key (and its remembered passphrase) for good."""
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
        _, key = self._load(fingerprint)
        return public_armor(key)

    def export_public_to(self, fingerprint: str, path: Path) -> None:
        """Write the public key to ``path`` (it is public: normal permissions)."""
        path.write_text(self.export_public(fingerprint), encoding="utf-8")

    def check_passphrase(self, fingerprint: str, passphrase: str) -> None:
        """Raise :class:`WrongPassphrase` unless ``passphrase`` unlocks the key."""
        _, key = self._load(fingerprint)
        if key.is_protected:
            self._check_unlocks(key, passphrase)

    def needs_passphrase(self, fingerprint: str) -> bool:
        """Whether signing with the key would have to ask for a passphrase."""
        entry, _ = self._load(fingerprint)
        return entry.protected and self.remembered_passphrase(fingerprint) is None

    def sign(self, fingerprint: str, data: bytes, *, passphrase: str | None = None) -> str:
        """An armored detached signature of ``data``; without a passphrase, the remembered one."""
        _, key = self._load(fingerprint)
        if key.is_protected:
            if passphrase is None:
                passphrase = self.remembered_passphrase(fingerprint)
            if passphrase is None:
                raise PassphraseRequired(
                    f"the key {fingerprint[-16:]} is protected; enter its passphrase"
                )
            try:
                return sign_detached(key, data, passphrase=passphrase)
            except OpenPGPError as exc:
                raise WrongPassphrase(
                    f"the passphrase does not unlock the key {fingerprint[-16:]}"
                ) from exc
        return sign_detached(key, data)

    def signer(self, fingerprint: str, *, passphrase: str | None = None) -> Callable[[bytes], str]:
        """A ``sign(data) -> armored signature`` callable, as the agent client's login wants."""
        self.get(fingerprint)  # fail now, not in the middle of a login

        def sign(data: bytes) -> str:
            return self.sign(fingerprint, data, passphrase=passphrase)

        return sign

    # --- the OS keyring -------------------------------------------------------------------------

    def remember_passphrase(self, fingerprint: str, passphrase: str) -> None:
        """Check ``passphrase`` and keep it in the OS keyring (the user asked for it)."""
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
        return StoredKey(info=key_info(key), protected=bool(key.is_protected), path=path)

    def _store(self, key: Any) -> StoredKey:
        entry = self._describe(key, None)
        path = self._path(entry.fingerprint)
        ensure_private_dir(self._dir)
        write_private(path, str(key).encode("utf-8"))
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


def _read_key_file(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except FileNotFoundError:
        raise KeystoreError(f"no such key file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise KeystoreError(f"cannot read the key file {path}: {exc}") from exc
