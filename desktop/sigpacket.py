"""OpenPGP v4 detached signatures made from a hash computed in chunks (RFC 4880 §5.2).

pgpy signs only bytes it holds in memory; a 1 GB artifact must not be. This module
builds the signature packet itself, so the data is hashed as a stream:

1. :class:`StreamSigner` is created for a pgpy secret key and a creation time; its
   hashed subpackets (creation time, issuer fingerprint) are fixed at once.
2. :meth:`StreamSigner.update` feeds the artifact's bytes, chunk by chunk, into one
   SHA-512 object.
3. :meth:`StreamSigner.finish` copies that object (the copy before the trailer is the
   artifact's plain SHA-512, the ``.sha512`` file's value), appends the signature's
   hashed part and the v4 trailer ``0x04 0xFF <length>`` (§5.2.4), and has
   ``cryptography`` sign the *digest* (RSA PKCS#1 v1.5 over a pre-hashed SHA-512,
   ECDSA pre-hashed, EdDSA over the digest as OpenPGP defines it). The secret key is
   unlocked only for this last step.

The packet: version 4, type 0x00 (binary document), the key's algorithm, SHA-512,
hashed subpackets *signature creation time* (2) and *issuer fingerprint* (33),
unhashed *issuer key id* (16), the digest's left 16 bits, the signature MPIs —
what ``gpg --detach-sign`` writes too. The packet is ASCII-armored with its CRC-24.
"""

from __future__ import annotations

import base64
import hashlib
import warnings
from datetime import UTC, datetime

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed, decode_dss_signature

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import pgpy
    from pgpy.constants import KeyFlags, PubKeyAlgorithm

from desktop.pgpy_internals import key_flags, private_key
from shared.errors import OpenPGPError

SIG_BINARY = 0x00
HASH_SHA512 = 10
_ALGORITHM_IDS = {
    PubKeyAlgorithm.RSAEncryptOrSign: 1,
    PubKeyAlgorithm.RSASign: 3,
    PubKeyAlgorithm.ECDSA: 19,
    PubKeyAlgorithm.EdDSA: 22,
}
_SUB_CREATED = 2
_SUB_ISSUER = 16
_SUB_ISSUER_FPR = 33


def _subpacket(kind: int, body: bytes) -> bytes:
    length = len(body) + 1
    if length >= 192:  # every subpacket here is short; one length octet is enough
        raise ValueError("subpacket too long")
    return bytes([length, kind]) + body


def _mpi(value: int) -> bytes:
    bits = value.bit_length()
    return bits.to_bytes(2, "big") + value.to_bytes((bits + 7) // 8, "big")


def _packet(tag: int, body: bytes) -> bytes:
    """A new-format packet header (RFC 4880 §4.2.2) and ``body``."""
    n = len(body)
    if n < 192:
        length = bytes([n])
    elif n < 8384:
        n -= 192
        length = bytes([(n >> 8) + 192, n & 0xFF])
    else:
        length = b"\xff" + n.to_bytes(4, "big")
    return bytes([0xC0 | tag]) + length + body


def _crc24(data: bytes) -> int:
    crc = 0xB704CE
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= 0x1864CFB
    return crc & 0xFFFFFF


def armor_signature(packet: bytes) -> str:
    """ASCII armor (RFC 4880 §6.2) of a signature packet."""
    body = base64.b64encode(packet).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    crc = base64.b64encode(_crc24(packet).to_bytes(3, "big")).decode("ascii")
    return "\n".join(
        ["-----BEGIN PGP SIGNATURE-----", "", *lines, f"={crc}", "-----END PGP SIGNATURE-----", ""]
    )


def signing_key(key: pgpy.PGPKey) -> pgpy.PGPKey:
    """The key that signs: the primary when it may sign, else its first signing subkey."""
    if key.is_public:
        raise OpenPGPError("a public key cannot sign; load the secret key")
    if KeyFlags.Sign in key_flags(key) or not key.subkeys:
        return key
    for sub in key.subkeys.values():
        if KeyFlags.Sign in key_flags(sub):
            return sub
    raise OpenPGPError("the key has no signing capability (neither the primary key nor a subkey)")


def _fingerprint_bytes(key: pgpy.PGPKey) -> bytes:
    return bytes.fromhex(str(key.fingerprint).replace(" ", ""))


class StreamSigner:
    """One detached SHA-512 signature over data given in chunks (see the module docstring)."""

    def __init__(self, key: pgpy.PGPKey, *, created: datetime | None = None) -> None:
        self._key = signing_key(key)
        algorithm = self._key.key_algorithm
        if algorithm not in _ALGORITHM_IDS:
            raise OpenPGPError(
                f"signing with {algorithm.name} keys is not supported here",
                hint="use an RSA, ECDSA or Ed25519 key, or the key through the GnuPG backend",
            )
        self._algorithm = _ALGORITHM_IDS[algorithm]
        when = created or datetime.now(UTC)
        fpr = _fingerprint_bytes(self._key)
        hashed = _subpacket(_SUB_CREATED, int(when.timestamp()).to_bytes(4, "big"))
        hashed += _subpacket(_SUB_ISSUER_FPR, b"\x04" + fpr)
        self._unhashed = _subpacket(_SUB_ISSUER, fpr[-8:])
        self._head = (
            bytes([4, SIG_BINARY, self._algorithm, HASH_SHA512])
            + len(hashed).to_bytes(2, "big")
            + hashed
        )
        self._hash = hashlib.sha512()
        self.size = 0

    @property
    def key_fingerprint(self) -> str:
        """The fingerprint of the (sub)key that signs, 40 upper-case hex characters."""
        return _fingerprint_bytes(self._key).hex().upper()

    def update(self, chunk: bytes | bytearray | memoryview) -> None:
        """Hash the next chunk of the data."""
        self._hash.update(chunk)
        self.size += len(chunk)

    def data_sha512(self) -> str:
        """The plain SHA-512 of the data given so far (hex)."""
        return self._hash.copy().hexdigest()

    def finish(self, key: pgpy.PGPKey | None = None) -> str:
        """The armored signature. ``key``: the same key, unlocked (default: the one given)."""
        signer = signing_key(key) if key is not None else self._key
        if _fingerprint_bytes(signer) != _fingerprint_bytes(self._key):
            raise OpenPGPError("finish() was given another key than the signer was made for")
        final = self._hash.copy()
        final.update(self._head)
        final.update(b"\x04\xff" + len(self._head).to_bytes(4, "big"))
        digest = final.digest()
        mpis = self._sign_digest(signer, digest)
        body = (
            self._head + len(self._unhashed).to_bytes(2, "big") + self._unhashed + digest[:2] + mpis
        )
        return armor_signature(_packet(2, body))

    def _sign_digest(self, key: pgpy.PGPKey, digest: bytes) -> bytes:
        private = private_key(key)
        prehashed = Prehashed(hashes.SHA512())
        if isinstance(private, rsa.RSAPrivateKey):
            value = private.sign(digest, padding.PKCS1v15(), prehashed)
            return _mpi(int.from_bytes(value, "big"))
        if isinstance(private, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(private.sign(digest, ec.ECDSA(prehashed)))
            return _mpi(r) + _mpi(s)
        if isinstance(private, ed25519.Ed25519PrivateKey):
            value = private.sign(digest)  # OpenPGP's EdDSA signs the hash digest
            return _mpi(int.from_bytes(value[:32], "big")) + _mpi(int.from_bytes(value[32:], "big"))
        raise OpenPGPError(f"cannot sign with a {type(private).__name__}")
