"""The agent's vault: secrets encrypted at rest with a key the operator provides.

Registry credentials (and, later, the automation keys) are stored encrypted with
AES-256-GCM; the name a secret is stored under is its associated data, so a ciphertext
copied under another name does not decrypt. The key (32 random bytes, base64) comes from,
in this order:

1. the environment variable ``ATR_VAULT_KEY``;
2. the file ``vault_key_file`` names (mode 0600 or stricter);
3. ``$CREDENTIALS_DIRECTORY/atr-vault-key`` — systemd's ``LoadCredential=atr-vault-key:PATH``
   (or ``LoadCredentialEncrypted=``) puts it there for the service only;
4. otherwise ``DATA_DIR/vault.key``, made on first use (the embedded default; a warning
   says to move it out of the data dir for production).

Plain secrets exist only in the worker that uses them, never in an answer, a log line or
an event. ``atr-agent vault new-key`` prints a new key.
"""

from __future__ import annotations

import base64
import binascii
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.errors import AtrError

__all__ = ["Vault", "VaultError", "new_key"]

log = logging.getLogger(__name__)

ENV_KEY = "ATR_VAULT_KEY"
CREDENTIAL_NAME = "atr-vault-key"
_PREFIX = "v1."


class VaultError(AtrError):
    """The vault's key is missing or unusable, or a secret does not decrypt with it."""


def new_key() -> str:
    """A new vault key: 32 random bytes, URL-safe base64."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _parse_key(text: str, where: str) -> bytes:
    try:
        key = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 32:
        raise VaultError(
            f"the vault key from {where} is not 32 bytes of base64",
            hint="make one with 'atr-agent vault new-key'",
        )
    return key


def _read_key_file(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        text = path.read_text("ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise VaultError(f"cannot read the vault key file {path}: {exc}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise VaultError(
            f"the vault key file {path} may be read by others (mode {stat.filemode(mode)})",
            hint=f"chmod 600 {path}",
        )
    return _parse_key(text, str(path))


def _create_exclusive(path: Path, data: bytes) -> bool:
    """Write a new owner-only file, unless it exists (two processes may race: one wins)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    return True


@dataclass(frozen=True)
class Vault:
    """Encrypts and decrypts secrets with the operator's key."""

    key: bytes
    source: str

    @classmethod
    def open(cls, *, data_dir: Path, key_file: Path | None = None) -> Vault:
        """The vault with the key from the first source the module docstring lists."""
        env = os.environ.get(ENV_KEY)
        if env:
            return cls(_parse_key(env, f"${ENV_KEY}"), f"${ENV_KEY}")
        if key_file is not None:
            return cls(_read_key_file(key_file), str(key_file))
        systemd = os.environ.get("CREDENTIALS_DIRECTORY")
        if systemd and (Path(systemd) / CREDENTIAL_NAME).is_file():
            path = Path(systemd) / CREDENTIAL_NAME
            return cls(_parse_key(path.read_text("ascii"), str(path)), str(path))
        path = data_dir / "vault.key"
        if _create_exclusive(path, new_key().encode() + b"\n"):
            log.warning(
                "made a vault key in %s; for production keep it outside the data dir "
                "(vault_key_file, $%s or systemd LoadCredential=%s:…)",
                path,
                ENV_KEY,
                CREDENTIAL_NAME,
            )
        return cls(_read_key_file(path), str(path))

    def encrypt(self, plain: bytes, *, name: str) -> str:
        """The ciphertext of ``plain`` stored under ``name`` (its associated data)."""
        nonce = secrets.token_bytes(12)
        sealed = AESGCM(self.key).encrypt(nonce, plain, name.encode())
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def decrypt(self, token: str, *, name: str) -> bytes:
        """The secret stored under ``name``; :class:`VaultError` if it does not decrypt."""
        if not token.startswith(_PREFIX):
            raise VaultError(f"the secret '{name}' is not in a format this agent knows")
        try:
            raw = base64.urlsafe_b64decode(token[len(_PREFIX) :].encode())
            return AESGCM(self.key).decrypt(raw[:12], raw[12:], name.encode())
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise VaultError(
                f"the secret '{name}' does not decrypt with the vault key from {self.source}",
                hint="the key changed since it was stored: set the secret again",
            ) from exc
