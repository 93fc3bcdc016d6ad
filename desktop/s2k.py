"""pgpy's passphrase-to-key derivation without its 130 MB spike.

OpenPGP's iterated and salted S2K (RFC 4880 §3.7.1.3) hashes ``salt + passphrase``
repeated to ``count`` bytes — up to 65,011,712 bytes, the count GnuPG and pgpy
use. pgpy 0.6 builds that whole string in memory (and a copy of it), so every
unlock of a protected key briefly takes about 130 MB. :func:`install` replaces
``pgpy.packet.fields.String2Key.derive_key`` with :func:`derive_key`, which feeds
the same bytes to the hash in 64 KiB blocks: the same key, a flat memory use.
The keystore installs it when it is imported; ``tests/desktop/test_signing.py``
checks that both give the same keys.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from pgpy.constants import String2KeyType
    from pgpy.packet.fields import String2Key

_BLOCK = 64 * 1024
_ORIGINAL = String2Key.derive_key


def derive_key(s2k: Any, passphrase: str | bytes) -> bytes:
    """The symmetric key ``s2k`` derives from ``passphrase`` (what pgpy's own method returns)."""
    hpass = passphrase if isinstance(passphrase, bytes) else passphrase.encode("utf-8")
    hsalt = bytes(s2k.salt) if s2k.specifier >= String2KeyType.Salted else b""
    unit = hsalt + hpass
    if not unit:
        return bytes(_ORIGINAL(s2k, passphrase))
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


def install() -> None:
    """Make pgpy derive keys with :func:`derive_key` (idempotent)."""
    String2Key.derive_key = derive_key


def original(s2k: Any, passphrase: str | bytes) -> bytes:
    """pgpy's own derivation (for tests)."""
    return bytes(_ORIGINAL(s2k, passphrase))
