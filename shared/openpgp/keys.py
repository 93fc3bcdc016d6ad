"""pgpy keys: generate, load, describe, sign.

pgpy 0.6 does not check revocation; verification therefore goes through
:mod:`shared.openpgp.gnupg`. This module only makes and describes keys and signs.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import (
        CompressionAlgorithm,
        HashAlgorithm,
        KeyFlags,
        PubKeyAlgorithm,
        SymmetricKeyAlgorithm,
    )

from shared.challenge import NOTATION_NAME
from shared.errors import OpenPGPError

_ALGORITHM_NAMES = {
    PubKeyAlgorithm.RSAEncryptOrSign: "RSA",
    PubKeyAlgorithm.RSAEncrypt: "RSA",
    PubKeyAlgorithm.RSASign: "RSA",
    PubKeyAlgorithm.DSA: "DSA",
    PubKeyAlgorithm.ElGamal: "ElGamal",
    PubKeyAlgorithm.ECDSA: "ECDSA",
    PubKeyAlgorithm.ECDH: "ECDH",
    PubKeyAlgorithm.EdDSA: "EdDSA",
}


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """What people and policies need to know of a public key."""

    fingerprint: str
    """40 upper-case hex characters, no spaces."""
    algorithm: str
    bits: int | None
    user_ids: tuple[str, ...]
    created_at: datetime
    expires_at: datetime | None

    @property
    def emails(self) -> tuple[str, ...]:
        out = []
        for uid in self.user_ids:
            if "<" in uid and uid.endswith(">"):
                out.append(uid[uid.rindex("<") + 1 : -1].strip().lower())
        return tuple(out)


def load_key(armored: str) -> pgpy.PGPKey:
    """Load one ASCII-armored key (public or secret); raise :class:`OpenPGPError` if unreadable."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            key, _ = pgpy.PGPKey.from_blob(armored)
    except (ValueError, TypeError, NotImplementedError, IndexError, KeyError) as exc:
        raise OpenPGPError(f"cannot read the OpenPGP key: {exc}") from exc
    if not isinstance(key, pgpy.PGPKey):
        raise OpenPGPError("the text does not hold an OpenPGP key")
    return key


def _uid_text(uid: pgpy.PGPUID) -> str:
    if uid.email:
        return f"{uid.name} <{uid.email}>" if uid.name else f"<{uid.email}>"
    return str(uid.name)


def key_info(key: pgpy.PGPKey | str) -> KeyInfo:
    """Describe a key given as a pgpy key or as armored text."""
    if isinstance(key, str):
        key = load_key(key)
    size = key.key_size
    bits = size if isinstance(size, int) else getattr(size, "key_size", None)
    created = key.created
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    expires = key.expires_at
    if expires is not None and expires.tzinfo is None:
        expires = expires.replace(tzinfo=UTC)
    return KeyInfo(
        fingerprint=str(key.fingerprint).replace(" ", "").upper(),
        algorithm=_ALGORITHM_NAMES.get(key.key_algorithm, str(key.key_algorithm.name)),
        bits=bits,
        user_ids=tuple(_uid_text(uid) for uid in key.userids),
        created_at=created,
        expires_at=expires,
    )


def generate_key(name: str, email: str, *, bits: int = 4096) -> pgpy.PGPKey:
    """A new RSA signing key with one user id ``name <email>``, not yet protected."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key = pgpy.PGPKey.new(PubKeyAlgorithm.RSAEncryptOrSign, bits)
        uid = pgpy.PGPUID.new(name, email=email)
        key.add_uid(
            uid,
            usage={KeyFlags.Sign, KeyFlags.Certify},
            hashes=[HashAlgorithm.SHA512, HashAlgorithm.SHA256],
            ciphers=[SymmetricKeyAlgorithm.AES256],
            compression=[CompressionAlgorithm.Uncompressed],
        )
    return key


def protect(key: pgpy.PGPKey, passphrase: str) -> None:
    """Encrypt the secret key material with ``passphrase`` (AES-256, SHA-256 S2K)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        key.protect(passphrase, SymmetricKeyAlgorithm.AES256, HashAlgorithm.SHA256)


def public_armor(key: pgpy.PGPKey) -> str:
    """The ASCII-armored public half of ``key``."""
    return str(key.pubkey if not key.is_public else key)


def _sign(key: pgpy.PGPKey, subject: Any, passphrase: str | None, **prefs: Any) -> str:
    """Sign ``subject`` with ``key`` (unlocking it with ``passphrase``), SHA-512, armored."""
    if key.is_public:
        raise OpenPGPError("a public key cannot sign; load the secret key")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if key.is_protected:
            if passphrase is None:
                raise OpenPGPError("the key is protected; a passphrase is needed to sign")
            try:
                with key.unlock(passphrase):
                    sig = key.sign(subject, hash=HashAlgorithm.SHA512, **prefs)
            except pgpy.errors.PGPDecryptionError as exc:
                raise OpenPGPError("wrong passphrase for the key") from exc
        else:
            sig = key.sign(subject, hash=HashAlgorithm.SHA512, **prefs)
    return str(sig)


def sign_detached(key: pgpy.PGPKey, data: bytes, *, passphrase: str | None = None) -> str:
    """An ASCII-armored detached binary-mode signature of ``data`` with SHA-512."""
    return _sign(key, data, passphrase)


def sign_challenge(
    key: pgpy.PGPKey, text: str, *, purpose: str, passphrase: str | None = None
) -> str:
    """An ASCII-armored detached **text** signature (class 0x01) of a challenge ``text``
    with the notation ``purpose@atr.apache.org=<purpose>`` (:mod:`shared.challenge`), as
    ``gpg --textmode --detach-sign --sig-notation`` makes it."""
    message = pgpy.PGPMessage.new(text, cleartext=True)
    return _sign(key, message, passphrase, notation={NOTATION_NAME: purpose})
