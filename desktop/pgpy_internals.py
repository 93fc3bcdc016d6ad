"""Every use of pgpy's private internals, in one place.

pgpy 0.6 has no public API for three things the desktop needs:

* :func:`key_flags` — what a key or subkey may do (sign, certify, encrypt), to pick
  the key that signs an artifact (``PGPKey._get_key_flags``);
* :func:`private_key` — an unlocked key's secret material as a ``cryptography``
  private key, to sign a digest computed in chunks (``PGPKey._key.keymaterial``);
* :func:`install_streaming_s2k` — a passphrase-to-key derivation that feeds the
  iterated S2K input to the hash in blocks instead of building it whole (about
  130 MB per unlock in pgpy 0.6), by replacing ``String2Key.derive_key``.

pgpy is pinned below 0.7 in ``pyproject.toml``; :data:`TESTED_PGPY` is the series
this module was checked against, and ``tests/desktop/test_pgpy_internals.py`` runs
each function on keys GnuPG made and protected, so a pgpy release that moves these
internals fails there first. The S2K replacement is installed only on a tested
pgpy whose ``derive_key`` is still the function this module knows; otherwise pgpy
keeps its own (correct, memory-hungry) derivation.
"""

from __future__ import annotations

import logging
import math
import warnings
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _dist_version
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import KeyFlags, String2KeyType
    from pgpy.packet.fields import String2Key

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from shared.errors import OpenPGPError

__all__ = [
    "TESTED_PGPY",
    "PrivateKey",
    "derive_key",
    "install_streaming_s2k",
    "key_flags",
    "original_derive_key",
    "pgpy_version",
    "private_key",
    "streaming_s2k_installed",
]

log = logging.getLogger(__name__)

TESTED_PGPY = "0.6."
"""The pgpy release series whose internals this module uses (``pyproject.toml`` pins it)."""

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
"""The secret key types :func:`private_key` returns."""

_BLOCK = 64 * 1024
_ORIGINAL_DERIVE = String2Key.derive_key


def pgpy_version() -> str:
    """The installed pgpy's version (``"unknown"`` if its metadata is missing)."""
    try:
        return _dist_version("pgpy")
    except PackageNotFoundError:  # pragma: no cover - pgpy is a dependency
        return "unknown"


def key_flags(key: pgpy.PGPKey) -> set[KeyFlags]:
    """What ``key`` (a primary key or a subkey) may do, from its self-signatures.

    An empty set when the key carries no key-flags subpacket (old keys): callers then
    decide from the key's position (a primary key without flags may sign).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return set(key._get_key_flags())
        except (AttributeError, StopIteration, KeyError, ValueError):
            return set()


def private_key(key: pgpy.PGPKey) -> PrivateKey:
    """The secret material of an *unlocked* pgpy key as a ``cryptography`` private key."""
    if key.is_public:
        raise OpenPGPError("a public key has no secret material; load the secret key")
    if not key.is_unlocked:
        raise OpenPGPError("the key is protected; unlock it with its passphrase first")
    try:
        material = key._key.keymaterial.__privkey__()
    except AttributeError as exc:  # a pgpy that moved its internals
        raise OpenPGPError(
            f"cannot read the secret key material with pgpy {pgpy_version()}",
            hint=f"the desktop was tested with pgpy {TESTED_PGPY}x; install that version",
        ) from exc
    if not isinstance(
        material, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise OpenPGPError(f"cannot sign with a {type(material).__name__}")
    return material


def derive_key(s2k: Any, passphrase: str | bytes) -> bytes:
    """The symmetric key ``s2k`` derives from ``passphrase``: what pgpy's own
    ``String2Key.derive_key`` returns, with the iterated input hashed in blocks."""
    hpass = passphrase if isinstance(passphrase, bytes) else passphrase.encode("utf-8")
    hsalt = bytes(s2k.salt) if s2k.specifier >= String2KeyType.Salted else b""
    unit = hsalt + hpass
    if not unit:
        return bytes(_ORIGINAL_DERIVE(s2k, passphrase))
    count = len(unit)
    if s2k.specifier == String2KeyType.Iterated and s2k.count > len(unit):
        count = s2k.count
    block = unit * max(1, _BLOCK // len(unit))  # whole repetitions: blocks continue the pattern
    keylen = s2k.encalg.key_size
    contexts = math.ceil(keylen / (s2k.halg.digest_size * 8))
    digests = []
    for i in range(contexts):
        hasher = s2k.halg.hasher
        hasher.update(b"\x00" * i)
        left = count
        while left >= len(block):
            hasher.update(block)
            left -= len(block)
        hasher.update(block[:left])
        digests.append(hasher.digest())
    return b"".join(digests)[: keylen // 8]


def original_derive_key(s2k: Any, passphrase: str | bytes) -> bytes:
    """pgpy's own derivation (the tests compare the two)."""
    return bytes(_ORIGINAL_DERIVE(s2k, passphrase))


def streaming_s2k_installed() -> bool:
    """Whether pgpy derives keys with :func:`derive_key` now."""
    return String2Key.derive_key is derive_key


def install_streaming_s2k() -> bool:
    """Make pgpy derive keys with :func:`derive_key` (idempotent). Returns whether it did.

    Only on a pgpy of the tested series whose ``derive_key`` is the function found at
    import; otherwise pgpy is left alone and a warning says unlocking costs more memory.
    """
    if streaming_s2k_installed():
        return True
    version = pgpy_version()
    if not version.startswith(TESTED_PGPY) or String2Key.derive_key is not _ORIGINAL_DERIVE:
        log.warning(
            "pgpy %s is not the tested %sx: keeping pgpy's own key derivation "
            "(each key unlock briefly takes about 130 MB)",
            version,
            TESTED_PGPY,
        )
        return False
    String2Key.derive_key = derive_key
    return True
