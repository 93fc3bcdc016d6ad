"""KEYS files, read block by block.

A project's KEYS file is years of ``gpg --list-sigs`` listings and ASCII-armored
public key blocks appended by hand. Real ones contain blocks no library reads
(PGP 2.x version 3 keys), damaged armor, secret keys pasted by mistake and
listings without a key. :func:`parse_keys` never raises for any of that: it cuts
the text into armored blocks and describes each one, with the reason it cannot be
used when it cannot. Only the usable blocks are given to GnuPG.

Each block's packets are walked here (no cryptography, just the framing of RFC
4880/9580) to learn the key versions and the primary keys' fingerprints, so a
key GnuPG later fails to import can be traced back to its block.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

__all__ = ["KeyBlock", "KeysFile", "parse_keys", "parse_keys_texts"]

_BEGIN = "-----BEGIN PGP "
_END = "-----END PGP "
_PUBLIC = "PUBLIC KEY BLOCK-----"
_PRIVATE = "PRIVATE KEY BLOCK-----"

_TAG_SIGNATURE = 2
_TAG_SECRET_KEY = 5
_TAG_PUBLIC_KEY = 6
_TAG_SECRET_SUBKEY = 7
_TAG_PUBLIC_SUBKEY = 14

_V4 = 4


@dataclass(frozen=True, slots=True)
class KeyBlock:
    """One armored block of a KEYS file."""

    number: int
    """1-based position among the blocks of the input."""
    line: int
    """1-based line where the block starts."""
    armored: str
    fingerprints: tuple[str, ...]
    """Fingerprints of the primary keys in the block (upper-case hex; 40 characters for v4 keys)."""
    versions: tuple[int, ...]
    """Key packet versions of those primary keys."""
    problem: str | None = None
    """Why the block cannot be used (``None``: it can be given to GnuPG)."""

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def label(self) -> str:
        """How to name the block to people: ``block 3 (line 120)``."""
        return f"block {self.number} (line {self.line})"


@dataclass(frozen=True, slots=True)
class KeysFile:
    """Every block found, usable or not, in input order."""

    blocks: tuple[KeyBlock, ...]

    @property
    def usable(self) -> tuple[KeyBlock, ...]:
        return tuple(b for b in self.blocks if b.usable)

    @property
    def skipped(self) -> tuple[KeyBlock, ...]:
        return tuple(b for b in self.blocks if not b.usable)

    def armored_keys(self) -> tuple[str, ...]:
        """The usable blocks' armored text, ready for :mod:`shared.openpgp.gnupg`."""
        return tuple(b.armored for b in self.usable)


class _PacketError(ValueError):
    pass


_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB
"""The OpenPGP armor checksum's initial value and generator polynomial (x^24 included)."""


def _clmul(value: int, small: int) -> int:
    """The carry-less (GF(2) polynomial) product of ``value`` and ``small``."""
    product = 0
    shift = 0
    while small:
        if small & 1:
            product ^= value << shift
        small >>= 1
        shift += 1
    return product


def _crc24_reduce(value: int) -> int:
    """``value`` modulo the CRC-24 polynomial, a bit at a time (for short values)."""
    size = value.bit_length()
    while size > 24:
        value ^= _CRC24_POLY << (size - 25)
        size = value.bit_length()
    return value


def _crc24_powers() -> tuple[tuple[int, ...], ...]:
    """For each k, the bits set in x^(2^k) modulo the polynomial."""
    power = 2  # x
    powers = []
    for _ in range(64):
        powers.append(tuple(i for i in range(24) if power >> i & 1))
        power = _crc24_reduce(_clmul(power, power))
    return tuple(powers)


_CRC24_POWERS = _crc24_powers()


def _crc24(data: bytes) -> int:
    """The OpenPGP armor checksum (RFC 4880 6.1) of ``data``.

    The CRC of n bits is the remainder of INIT·x^n + DATA·x^24 by the polynomial P, over
    GF(2). Python's integers hold that polynomial whole, and the remainder is folded down
    by halves: V = H·x^m + L (m = 2^k) has the remainder of H·(x^m mod P) + L, a product
    of H by a constant of 24 bits (a few shifts and xors of whole integers, in C). A
    byte-at-a-time loop in Python was 0.03 s of a cold ``atr check`` on a KEYS file of
    300 KB; this is 20 times faster, with the same result for every input."""
    value = (_CRC24_INIT << (8 * len(data))) ^ (int.from_bytes(data, "big") << 24)
    size = value.bit_length()
    while size > 48:
        k = (size - 1).bit_length() - 1  # 2^k < size: the high part is the shorter
        half = 1 << k
        high = value >> half
        value &= (1 << half) - 1
        for shift in _CRC24_POWERS[k]:
            value ^= high << shift
        size = value.bit_length()
    return _crc24_reduce(value)


def _split_armor(lines: list[str]) -> tuple[str, str | None] | None:
    """(base64 body, checksum) of an armored block's lines, or None if it has no body."""
    body: list[str] = []
    checksum: str | None = None
    in_headers = True
    for raw in lines[1:-1]:
        line = raw.strip()
        if in_headers:
            if not line:
                in_headers = False
                continue
            if ": " in line or line.endswith(":"):
                continue
            in_headers = False
        if not line:
            continue
        if line.startswith("=") and len(line) == 5:
            checksum = line[1:]
            continue
        body.append(line)
    if not body:
        return None
    return "".join(body), checksum


def _decode(lines: list[str]) -> bytes:
    """The binary packets of an armored block; raises _PacketError with a reason for people."""
    split = _split_armor(lines)
    if split is None:
        raise _PacketError("the armor holds no data")
    body, checksum = split
    try:
        data = binascii.a2b_base64(body, strict_mode=True)
    except binascii.Error as exc:
        raise _PacketError(f"the armor is not valid base64 ({exc})") from exc
    if not data:
        raise _PacketError("the armor holds no data")
    if checksum is not None:
        try:
            expected = int.from_bytes(base64.b64decode(checksum, validate=True), "big")
        except (binascii.Error, ValueError) as exc:
            raise _PacketError("the armor checksum line is malformed") from exc
        if _crc24(data) != expected:
            raise _PacketError("the armor checksum does not match: the block is damaged")
    return data


def _packet_length(data: bytes, pos: int, new_format: bool, length_type: int) -> tuple[int, int]:
    """(body length, position of the body) after the tag octet at ``pos - 1``."""
    if not new_format:
        sizes = {0: 1, 1: 2, 2: 4}
        if length_type == 3:
            return len(data) - pos, pos
        size = sizes[length_type]
        if pos + size > len(data):
            raise _PacketError("a packet header is cut short")
        return int.from_bytes(data[pos : pos + size], "big"), pos + size
    if pos >= len(data):
        raise _PacketError("a packet header is cut short")
    first = data[pos]
    if first < 192:
        return first, pos + 1
    if first < 224:
        if pos + 1 >= len(data):
            raise _PacketError("a packet header is cut short")
        return ((first - 192) << 8) + data[pos + 1] + 192, pos + 2
    if first == 255:
        if pos + 5 > len(data):
            raise _PacketError("a packet header is cut short")
        return int.from_bytes(data[pos + 1 : pos + 5], "big"), pos + 5
    raise _PacketError("a key packet uses partial body lengths, which keys never do")


def _packets(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        octet = data[pos]
        if not octet & 0x80:
            raise _PacketError("the data is not OpenPGP packets")
        new_format = bool(octet & 0x40)
        tag = octet & 0x3F if new_format else (octet >> 2) & 0x0F
        length, start = _packet_length(data, pos + 1, new_format, octet & 0x03)
        end = start + length
        if end > len(data):
            raise _PacketError("a packet is cut short: the block is truncated")
        yield tag, data[start:end]
        pos = end


def _fingerprint(body: bytes) -> str | None:
    version = body[0]
    if version == _V4:
        # A v4 fingerprint is SHA-1 by definition (RFC 4880 12.2).
        digest = hashlib.sha1(b"\x99" + len(body).to_bytes(2, "big") + body, usedforsecurity=False)
        return digest.hexdigest().upper()
    if version in (5, 6):
        prefix = b"\x9a" if version == 5 else b"\x9b"
        return hashlib.sha256(prefix + len(body).to_bytes(4, "big") + body).hexdigest().upper()
    return None


def _scan(data: bytes) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """(fingerprints, versions) of the primary keys in ``data``; raises _PacketError."""
    fingerprints: list[str] = []
    versions: list[int] = []
    for tag, body in _packets(data):
        if tag in (_TAG_SECRET_KEY, _TAG_SECRET_SUBKEY):
            raise _PacketError("the block holds secret key material, which never belongs in KEYS")
        if tag != _TAG_PUBLIC_KEY:
            continue
        if not body:
            raise _PacketError("an empty key packet")
        versions.append(body[0])
        fpr = _fingerprint(body)
        if fpr is not None:
            fingerprints.append(fpr)
    if not versions:
        raise _PacketError("the block holds no public key")
    return tuple(fingerprints), tuple(versions)


def _version_problem(versions: tuple[int, ...]) -> str | None:
    old = [v for v in versions if v < _V4]
    if old:
        return (
            f"a PGP 2.x era key (version {old[0]} key packet) that no current OpenPGP library reads"
        )
    newer = [v for v in versions if v > _V4]
    if newer:
        return f"a version {newer[0]} key, which GnuPG 2.2 cannot read"
    return None


def _describe(number: int, line: int, lines: list[str]) -> KeyBlock:
    armored = "\n".join(lines) + "\n"
    if lines[0].strip().endswith(_PRIVATE):
        problem = "a secret key block: secret keys never belong in KEYS"
        return KeyBlock(number, line, armored, (), (), problem)
    if not lines[-1].strip().startswith(_END):
        return KeyBlock(number, line, armored, (), (), "the block has no END line: it is truncated")
    try:
        fprs, versions = _scan(_decode(lines))
    except _PacketError as exc:
        return KeyBlock(number, line, armored, (), (), str(exc))
    return KeyBlock(number, line, armored, fprs, versions, _version_problem(versions))


def _blocks(text: str) -> Iterator[tuple[int, list[str]]]:
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(_BEGIN) and stripped.endswith((_PUBLIC, _PRIVATE)):
            start = i
            block = [stripped]
            i += 1
            while i < len(lines):
                current = lines[i].strip()
                if current.startswith(_BEGIN):
                    break  # a new block begins before this one ended
                block.append(current)
                i += 1
                if current.startswith(_END):
                    break
            yield start + 1, block
            continue
        i += 1


def parse_keys(text: str) -> KeysFile:
    """Every armored key block of ``text`` (a KEYS file or a single key), described."""
    return parse_keys_texts([text])


def parse_keys_texts(texts: Iterable[str]) -> KeysFile:
    """The blocks of several texts (a KEYS file and registered keys), numbered in order.

    Remembered for the last few inputs: the keys and signatures checks of one release
    parse the same KEYS."""
    return _parse_cached(tuple(texts))


@functools.lru_cache(maxsize=4)
def _parse_cached(texts: tuple[str, ...]) -> KeysFile:
    blocks: list[KeyBlock] = []
    for text in texts:
        for line, lines in _blocks(text):
            blocks.append(_describe(len(blocks) + 1, line, lines))
    return KeysFile(tuple(blocks))
