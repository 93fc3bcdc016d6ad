"""Read ``.tar.gz``/``.tgz``/``.tar.bz2``/``.tar.xz``/``.zip`` archives in a stream.

Nothing is extracted to disk.

Two ways in:

* :func:`iter_members` — the streaming primitive. It yields one :class:`Member`
  at a time; the member's bytes can be read (:meth:`Member.read`,
  :meth:`Member.chunks`) only until the next member is asked for. Whatever the
  caller does not read is still decompressed and verified (gzip/bz2/xz CRCs, zip
  CRC-32s), so an archive that was iterated to the end was read to the end.
* :func:`index_archive` — one pass, remembered: every member's metadata plus the
  first :data:`HEAD_BYTES` of each regular file (within a memory budget). Several
  checks of one artifact share the same pass, so the archive is decompressed once
  per process (the index of the last few archives is cached by file identity).
  :meth:`ArchiveIndex.read` returns members' bytes from the cache, with one more
  streaming pass only for what the cache does not hold.

Limits (:class:`shared.checks.policy.ArchiveLimits`) are enforced while reading:
member count, total uncompressed bytes, compression ratio and path depth. Past a
limit, or on corrupt data, an :class:`ArchiveError` is raised with a ``code`` and
a sentence for people; memory stays bounded (1 MiB chunks) and the time is bounded
by the uncompressed-size and ratio limits.

Example::

    for member in iter_members(path, policy.archive):
        if member.type is MemberType.FILE and member.relpath == "LICENSE":
            text = member.read(1 << 20)

    index = index_archive(path, policy.archive)
    if index.error is not None: ...          # read stopped early: why
    for info in index.members: ...           # MemberInfo: name, relpath, type, size
    head = index.head(info)                  # first HEAD_BYTES, or None if not cached
"""

from __future__ import annotations

import bz2
import gzip
import io
import logging
import lzma
import os
import stat
import struct
import tarfile
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, cast

from shared.checks.artifacts import ArchiveFormat, archive_format
from shared.checks.inflate import ThreadedInflate, take_prefetched
from shared.checks.policy import ArchiveLimits
from shared.errors import AtrError

__all__ = [
    "CHUNK",
    "HEAD_BYTES",
    "RATIO_FLOOR_BYTES",
    "ArchiveError",
    "ArchiveIndex",
    "ArchiveLimitExceeded",
    "ArchiveUnreadable",
    "Member",
    "MemberInfo",
    "MemberType",
    "clear_index_cache",
    "index_archive",
    "iter_members",
]

CHUNK = 1 << 20
"""Bytes read at a time."""
HEAD_BYTES = 64 * 1024
"""Bytes of each regular file that :func:`index_archive` keeps (enough for 50 lines of a header)."""
CACHE_BUDGET = 64 * 1024 * 1024
"""Total bytes of file heads one :class:`ArchiveIndex` keeps; later members are not cached."""
MAX_HEADER_BYTES = 16 * 1024 * 1024
"""The largest tar extended header (pax, GNU long name) accepted: it is read into memory."""
RATIO_FLOOR_BYTES = 1 << 20
"""The compression-ratio limit applies once this many bytes are uncompressed: tiny archives
(a tar of one short file is mostly zero padding) have large ratios that mean nothing."""
_INDEX_CACHE_SIZE = 2

log = logging.getLogger(__name__)


class ArchiveError(AtrError):
    """An archive that cannot be read to the end: ``code`` says why, ``member`` where."""

    def __init__(self, message: str, *, code: str, member: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.member = member


class ArchiveUnreadable(ArchiveError):
    """Corrupt, truncated, encrypted, hostile (overlapping zip entries) or unsupported data.

    ``code`` is one of ``truncated``, ``corrupt``, ``overlapping_entries``,
    ``encrypted``, ``unsupported``, ``trailing_data``, ``io``.
    """


class ArchiveLimitExceeded(ArchiveError):
    """A policy limit was passed; reading stopped there.

    ``code`` is one of ``max_members``, ``max_uncompressed_bytes``, ``max_ratio``,
    ``max_depth``; ``limit`` is the configured value and ``value`` what was seen.
    """

    def __init__(self, message: str, *, code: str, limit: float, value: float) -> None:
        super().__init__(message, code=code)
        self.limit = limit
        self.value = value


class MemberType(StrEnum):
    FILE = "file"
    DIRECTORY = "directory"
    SYMLINK = "symlink"
    HARDLINK = "hardlink"
    DEVICE = "device"
    FIFO = "fifo"
    OTHER = "other"


def _normalize(raw: str) -> str:
    name = raw.replace("//", "/")
    while "//" in name:
        name = name.replace("//", "/")
    while name.startswith("./"):
        name = name[2:]
    return name.rstrip("/")


@dataclass(frozen=True, slots=True)
class MemberInfo:
    """What an archive says about one member (nothing of its content)."""

    index: int
    """Position in reading order (0-based); unique, even when names repeat."""
    raw_name: str
    """The name exactly as stored (may be absolute or hold ``..``: the structure check looks)."""
    name: str
    """``raw_name`` without leading ``./``, doubled or trailing ``/``."""
    type: MemberType
    size: int
    """Uncompressed size in bytes (0 for non-files)."""
    linkname: str = ""
    """Target of a symbolic or hard link."""
    mode: int = 0

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(filter(None, self.name.split("/")))

    @property
    def depth(self) -> int:
        return len(self.parts)

    @property
    def top(self) -> str:
        """The first folder of the path: the archive's root folder in a well-formed release;
        ``''`` for a file stored at the top level."""
        parts = self.parts
        if len(parts) > 1 or (parts and self.type is MemberType.DIRECTORY):
            return parts[0]
        return ""

    @property
    def relpath(self) -> str:
        """The path below the root folder: ``foo-1.0/src/a.c`` → ``src/a.c``; the root
        itself → ``''``; a file stored at the top level → its name."""
        parts = self.parts
        if len(parts) > 1 or (parts and self.type is MemberType.DIRECTORY):  # self.top
            return "/".join(parts[1:])
        return "/".join(parts)


class Member:
    """A member being read by :func:`iter_members`; its bytes are readable only until the
    iterator moves on."""

    def __init__(
        self, info: MemberInfo, opener: Callable[[], IO[bytes]] | None, *, drain: bool = False
    ) -> None:
        self.info = info
        self._opener = opener
        self._drain = drain
        self._stream: IO[bytes] | None = None
        self._head = b""
        self._streamed = False
        self._closed = False

    # Convenience views of the info.
    @property
    def name(self) -> str:
        return self.info.name

    @property
    def relpath(self) -> str:
        return self.info.relpath

    @property
    def size(self) -> int:
        return self.info.size

    @property
    def type(self) -> MemberType:
        return self.info.type

    def _open(self) -> IO[bytes] | None:
        if self._closed:
            raise ArchiveError(
                f"{self.name}: the member can no longer be read (the iterator moved on)",
                code="closed",
                member=self.name,
            )
        if self._stream is None and self._opener is not None:
            self._stream = self._opener()
        return self._stream

    def read(self, max_bytes: int | None = None) -> bytes:
        """The member's bytes from its start, at most ``max_bytes`` (``None``: all of them).

        May be called again with a larger ``max_bytes``; not after :meth:`chunks`.
        Directories, links and special files read as ``b''``.
        """
        stream = self._open()
        if self._streamed:
            raise ArchiveError(f"{self.name}: already streamed", code="closed", member=self.name)
        if stream is None:
            return b""
        if max_bytes is not None and len(self._head) >= max_bytes:
            return self._head[:max_bytes]
        want = -1 if max_bytes is None else max_bytes - len(self._head)
        try:
            more = _read_exact(stream, want)
        except ArchiveError:
            raise
        except _DATA_ERRORS as exc:
            raise _translate(exc, self.name) from exc
        self._head += more
        return self._head

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The member's bytes in chunks of at most ``size`` (after what :meth:`read` returned)."""
        stream = self._open()
        if stream is None:
            return
        self._streamed = True
        if self._head:
            yield self._head
            self._head = b""
        while True:
            try:
                block = stream.read(size)
            except ArchiveError:
                raise
            except _DATA_ERRORS as exc:
                raise _translate(exc, self.name) from exc
            if not block:
                return
            yield block

    def _finish(self) -> None:
        """Read what the caller left (so CRCs are verified), then forbid further reads."""
        stream = self._stream
        if stream is None and self._drain and self._opener is not None and not self._closed:
            stream = self._opener()
        if stream is not None:
            while stream.read(CHUNK):
                pass
            stream.close()
        self._stream = None
        self._closed = True


def _read_exact(stream: IO[bytes], want: int) -> bytes:
    if want < 0:
        parts: list[bytes] = []
        while True:
            block = stream.read(CHUNK)
            if not block:
                return b"".join(parts)
            parts.append(block)
    buf = bytearray()
    while len(buf) < want:
        block = stream.read(min(CHUNK, want - len(buf)))
        if not block:
            break
        buf += block
    return bytes(buf)


class _Budget:
    """Counts members and bytes and raises when a limit is passed."""

    def __init__(self, limits: ArchiveLimits, compressed_size: int) -> None:
        self.limits = limits
        self.compressed = max(compressed_size, 1)
        self.members = 0
        self.uncompressed = 0
        self.declared = 0

    def add_member(self, info: MemberInfo) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveLimitExceeded(
                f"more than {self.limits.max_members:,} members: reading stopped there",
                code="max_members",
                limit=self.limits.max_members,
                value=self.members,
            )
        if info.depth > self.limits.max_depth:
            raise ArchiveLimitExceeded(
                f"{info.name[:200]}: {info.depth} folders deep, more than the limit of "
                f"{self.limits.max_depth}",
                code="max_depth",
                limit=self.limits.max_depth,
                value=info.depth,
            )
        self.declared += info.size
        self._check_size(self.declared)

    def add_bytes(self, count: int) -> None:
        self.uncompressed += count
        self._check_size(self.uncompressed)

    def _check_size(self, total: int) -> None:
        limit = self.limits.max_uncompressed_bytes
        if total > limit:
            raise ArchiveLimitExceeded(
                f"more than {limit:,} bytes uncompressed: reading stopped there",
                code="max_uncompressed_bytes",
                limit=limit,
                value=total,
            )
        ratio = total / self.compressed
        if total > RATIO_FLOOR_BYTES and ratio > self.limits.max_ratio:
            raise ArchiveLimitExceeded(
                f"compression ratio over {self.limits.max_ratio:g} ({total:,} bytes from "
                f"{self.compressed:,}): a compression bomb? Reading stopped there",
                code="max_ratio",
                limit=self.limits.max_ratio,
                value=ratio,
            )


class _ForwardReader(io.RawIOBase):
    """A decompressed stream that tarfile can 'seek' forward in (by reading), counted."""

    def __init__(self, stream: IO[bytes], budget: _Budget) -> None:
        super().__init__()
        self._stream = stream
        self._budget = budget
        self.pos = 0
        self.last = b""
        self._pushback = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            size = CHUNK
        if size > MAX_HEADER_BYTES:
            # Only tarfile asks for more than a chunk at once: the whole of a pax or GNU
            # long-name header. A hostile one could be gigabytes held in memory.
            raise ArchiveUnreadable(
                f"a tar header of {size:,} bytes at byte {self.pos:,}: refused as hostile",
                code="corrupt",
            )
        counted = 0  # bytes put back were counted when first read
        if self._pushback:
            data = self._pushback[:size]
            self._pushback = self._pushback[size:]
            if len(data) < size:
                more = self._stream.read(size - len(data))
                data += more
                counted = len(more)
        else:
            data = self._stream.read(size)
            counted = len(data)
        self.pos += len(data)
        self.last = data
        self._budget.add_bytes(counted)
        return data

    def unread(self, data: bytes) -> None:
        """Put back the bytes just read, to be read again (and counted once)."""
        self._pushback = data + self._pushback
        self.pos -= len(data)

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        target = offset if whence == io.SEEK_SET else self.pos + offset
        if whence not in (io.SEEK_SET, io.SEEK_CUR) or target < self.pos:
            raise ArchiveUnreadable(
                "the archive needs a backward seek, which a stream cannot do", code="unsupported"
            )
        while self.pos < target:
            if not self.read(min(CHUNK, target - self.pos)):
                break
        return self.pos

    def drain(self) -> tuple[int, bool]:
        """Read to the end; return (bytes read, whether they were all zero)."""
        total = 0
        zero = True
        while True:
            block = self.read(CHUNK)
            if not block:
                return total, zero
            total += len(block)
            if zero and block.count(0) != len(block):
                zero = False


def _decompressor(fmt: ArchiveFormat, raw: IO[bytes]) -> IO[bytes]:
    """A decompressing reader over ``raw`` (closed by the caller)."""
    if fmt is ArchiveFormat.TAR_GZ:
        return cast(IO[bytes], gzip.GzipFile(fileobj=raw, mode="rb"))
    if fmt is ArchiveFormat.TAR_BZ2:
        return cast(IO[bytes], bz2.BZ2File(raw, mode="rb"))
    return cast(IO[bytes], lzma.LZMAFile(raw, mode="rb"))


_DATA_ERRORS = (
    EOFError,
    zlib.error,
    lzma.LZMAError,
    tarfile.TarError,
    zipfile.BadZipFile,
    UnicodeDecodeError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
    struct.error,
)


def _translate(exc: BaseException, member: str | None) -> ArchiveUnreadable:
    where = f" (at {member[:200]})" if member else ""
    if isinstance(exc, EOFError):
        return ArchiveUnreadable(
            f"the archive is truncated: the compressed data ends too early{where}",
            code="truncated",
            member=member,
        )
    text = str(exc) or exc.__class__.__name__
    if isinstance(exc, zipfile.BadZipFile) and "CRC" in text:
        return ArchiveUnreadable(f"corrupt data: {text}{where}", code="corrupt", member=member)
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return ArchiveUnreadable(
            f"an encrypted member cannot be checked{where}", code="encrypted", member=member
        )
    if isinstance(exc, NotImplementedError):
        return ArchiveUnreadable(
            f"unsupported archive feature: {text}{where}", code="unsupported", member=member
        )
    if isinstance(exc, OSError) and not isinstance(exc, gzip.BadGzipFile) and exc.errno:
        return ArchiveUnreadable(f"cannot read the archive: {text}{where}", code="io")
    return ArchiveUnreadable(f"corrupt archive data: {text}{where}", code="corrupt", member=member)


def _tar_type(ti: tarfile.TarInfo) -> MemberType:
    tests = (
        (ti.isreg, MemberType.FILE),
        (ti.isdir, MemberType.DIRECTORY),
        (ti.issym, MemberType.SYMLINK),
        (ti.islnk, MemberType.HARDLINK),
        (ti.ischr, MemberType.DEVICE),
        (ti.isblk, MemberType.DEVICE),
        (ti.isfifo, MemberType.FIFO),
    )
    return next((kind for test, kind in tests if test()), MemberType.OTHER)


_TarEntry = tuple[str, MemberType, int, str, int, "Callable[[], IO[bytes]] | None"]
"""A tar member as the readers below give it: raw name, type, size, link target, mode, and
how to open a regular file's data when it is not next in the stream (``None``: it is)."""


def _tarfile_entry(
    tf: tarfile.TarFile, reader: _ForwardReader, ti: tarfile.TarInfo | None
) -> _TarEntry | None:
    """The entry of a member :mod:`tarfile` read (``None``: the end of the archive)."""
    if ti is None:
        return None
    tf.members.clear()  # type: ignore[attr-defined]  # else it keeps them all
    mtype = _tar_type(ti)
    opener = None
    if mtype is MemberType.FILE and (ti.issparse() or reader.pos != ti.offset_data):
        opener = _tar_opener(tf, ti)
    return ti.name, mtype, ti.size, ti.linkname, ti.mode, opener


_BLOCK = tarfile.BLOCKSIZE
_LEAN_TYPES: dict[int, MemberType] = {
    ord("0"): MemberType.FILE,
    0: MemberType.FILE,
    ord("7"): MemberType.FILE,
    ord("1"): MemberType.HARDLINK,
    ord("2"): MemberType.SYMLINK,
    ord("3"): MemberType.DEVICE,
    ord("4"): MemberType.DEVICE,
    ord("5"): MemberType.DIRECTORY,
    ord("6"): MemberType.FIFO,
}
"""The typeflags a plain header has (regular file, hard and symbolic link, device, folder,
FIFO, contiguous file), and their member type as :func:`_tar_type` gives it."""
_PAX_MEMBER_KEYS = frozenset(
    {"path", "linkpath", "size", "GNU.sparse.name", "GNU.sparse.size", "GNU.sparse.realsize"}
)
"""Global pax keys that :mod:`tarfile` applies to the name, link or size of later members."""
_NUMBER_FIELDS = (
    (100, 108),
    (108, 116),
    (116, 124),
    (124, 136),
    (136, 148),
    (329, 337),
    (337, 345),
)
"""mode, uid, gid, size, mtime, devmajor, devminor: tarfile refuses a header where one of
them is not a number."""


def _tar_number(field: bytes) -> int | None:
    """A numeric header field as :mod:`tarfile` reads it (octal text, or base-256 when the first
    byte is 0x80 or 0xff); ``None`` where tarfile would call the header invalid."""
    if field[0] in (0o200, 0o377):
        value = int.from_bytes(field[1:], "big")
        return value - 256 ** (len(field) - 1) if field[0] == 0o377 else value
    end = field.find(b"\0")
    if end != -1:
        field = field[:end]
    try:
        return int(field, 8)  # the usual field: octal digits (int() takes fewer forms than…)
    except ValueError:
        pass
    try:  # …tarfile's reading, for the rest: whitespace only, Unicode spaces around digits
        return int(field.decode("ascii").strip() or "0", 8)
    except ValueError:
        return None


def _block_sum(block: bytes) -> int:
    """``sum(block)`` of a 512-byte header, in C: zlib's Adler-32 of each half, whose low 16
    bits are 1 + the half's byte sum modulo 65,521, exact here (a half sums to 65,280 at
    most)."""
    return (zlib.adler32(block[:256]) & 0xFFFF) + (zlib.adler32(block[256:]) & 0xFFFF) - 2


_NUMBERS: dict[bytes, int | None] = {}
""":func:`_tar_number` of the fields seen: most headers of an archive share their mode,
owner, group, device and often time fields, so most are looked up, not parsed."""
_NUMBERS_KEPT = 4096


def _known_number(field: bytes) -> int | None:
    """:func:`_tar_number` of ``field``, remembered."""
    try:
        return _NUMBERS[field]
    except KeyError:
        pass
    value = _tar_number(field)
    if len(_NUMBERS) >= _NUMBERS_KEPT:
        _NUMBERS.clear()
    _NUMBERS[field] = value
    return value


def _tar_text(field: bytes, encoding: str, errors: str) -> str:
    end = field.find(b"\0")
    return field[: end if end != -1 else None].decode(encoding, errors)


def _plain_header(
    buf: bytes, encoding: str, errors: str
) -> tuple[str, MemberType, int, str, int] | None:
    """Name, type, size, link target and mode of a plain ustar/GNU header, as
    ``tarfile.TarInfo.frombuf`` and ``_proc_builtin`` make them; ``None`` for anything else
    (a pax or GNU long-name header, a sparse file, another typeflag, the end-of-archive
    block, a bad checksum or number field): :mod:`tarfile` reads those."""
    if len(buf) != _BLOCK:
        return None
    mtype = _LEAN_TYPES.get(buf[156])
    if mtype is None:
        return None
    numbers = [_known_number(buf[start:end]) for start, end in _NUMBER_FIELDS]
    mode, size = numbers[0], numbers[3]
    if mode is None or size is None or mode < 0 or size < 0 or None in numbers:
        return None
    checksum = _tar_number(buf[148:156])
    if checksum is None or checksum != 256 + _block_sum(buf) - sum(buf[148:156]):
        return None  # includes a zero block; tarfile also accepts a signed-char sum
    try:
        name = _tar_text(buf[0:100], encoding, errors)
        linkname = _tar_text(buf[157:257], encoding, errors)
        prefix = _tar_text(buf[345:500], encoding, errors)
    except UnicodeError:
        return None
    if buf[156] == 0 and name.endswith("/"):
        mtype = MemberType.DIRECTORY  # the old V7 way of storing a folder
    if mtype is MemberType.DIRECTORY:
        name = name.rstrip("/")
    if prefix:
        name = prefix + "/" + name
    if mtype is MemberType.DIRECTORY:
        name = name.rstrip("/")
    return name, mtype, size, linkname, mode


def _plain_entry(tf: tarfile.TarFile, reader: _ForwardReader) -> _TarEntry | None:
    """The next member read here when its header is a plain one, else ``None`` with the
    header put back for :mod:`tarfile` to read. Moves to the header as ``TarFile.next`` does
    and keeps ``tf.offset`` where tarfile would have it."""
    header = tf.offset
    if header != reader.pos:
        reader.seek(header - 1)
        if not reader.read(1):
            raise tarfile.ReadError("unexpected end of data")
    buf = reader.read(_BLOCK)
    plain = None
    if not tf.pax_headers or _PAX_MEMBER_KEYS.isdisjoint(tf.pax_headers):
        plain = _plain_header(buf, tf.encoding, tf.errors)
    if plain is None:
        reader.unread(buf)
        return None
    name, mtype, size, linkname, mode = plain
    if mtype is MemberType.FILE:
        blocks, remainder = divmod(size, _BLOCK)
        tf.offset = reader.pos + (blocks + (1 if remainder else 0)) * _BLOCK
    else:
        tf.offset = reader.pos
    return name, mtype, size, linkname, mode, None


_INFLATE_KINDS = {
    ArchiveFormat.TAR_GZ: "gz",
    ArchiveFormat.TAR_BZ2: "bz2",
    ArchiveFormat.TAR_XZ: "xz",
}


def _iter_tar(path: Path, fmt: ArchiveFormat, limits: ArchiveLimits) -> Iterator[Member]:
    size = path.stat().st_size
    budget = _Budget(limits, size)
    with open(path, "rb") as raw:
        decompressed = _decompressor(fmt, raw)
        reader = _ForwardReader(decompressed, budget)
        current: str | None = None
        try:
            tf = tarfile.TarFile(fileobj=reader, mode="r")
            index = 0
            while True:
                entry = _tarfile_entry(tf, reader, tf.next())
                if entry is None:
                    break
                name, mtype, member_size, linkname, mode, opener = entry
                current = name
                info = MemberInfo(
                    index=index,
                    raw_name=name,
                    name=_normalize(name),
                    type=mtype,
                    size=member_size if mtype is MemberType.FILE else 0,
                    linkname=linkname,
                    mode=mode,
                )
                index += 1
                budget.add_member(info)
                if mtype is MemberType.FILE and opener is None:
                    opener = _slice_opener(reader, member_size)
                member = Member(info, opener)
                yield member
                member._finish()
            current = None
            _check_tar_end(reader)
        except ArchiveError:
            raise
        except _DATA_ERRORS as exc:
            raise _translate(exc, current) from exc
        finally:
            decompressed.close()


def _index_fast(
    path: Path, fmt: ArchiveFormat, limits: ArchiveLimits, *, head_bytes: int, budget: int
) -> tuple[list[MemberInfo], dict[int, bytes]]:
    """The members and heads of a tar archive (what :func:`_collect` makes of
    :func:`iter_members`), read fast: decompressed in a second thread
    (:class:`~shared.checks.inflate.ThreadedInflate`, or the one :func:`shared.checks.inflate.
    prefetch` started), plain headers read here rather than by :mod:`tarfile`, each file's
    head read where it lies. Raises on anything it does not decide (an error, a limit): the
    caller then reads the archive the careful way, for the error to report."""
    accounting = _Budget(limits, path.stat().st_size)
    infos: list[MemberInfo] = []
    heads: dict[int, bytes] = {}
    left = budget
    taken = take_prefetched(path)
    with taken[0] if taken is not None else open(path, "rb") as raw:
        stream = taken[1] if taken is not None else ThreadedInflate(_INFLATE_KINDS[fmt], raw)
        try:
            reader = _ForwardReader(cast(IO[bytes], stream), accounting)
            tf = tarfile.TarFile(fileobj=reader, mode="r")
            entry = _tarfile_entry(tf, reader, tf.next())  # the first header: tarfile's own
            while entry is not None:
                name, mtype, size, linkname, mode, opener = entry
                info = MemberInfo(
                    len(infos),
                    name,
                    _normalize(name),
                    mtype,
                    size if mtype is MemberType.FILE else 0,
                    linkname,
                    mode,
                )
                accounting.add_member(info)
                infos.append(info)
                if mtype is MemberType.FILE and left > 0:
                    want = min(head_bytes, left, size)
                    if opener is None:  # the data is next in the stream
                        head = reader.read(want)
                        if len(head) != want:
                            raise EOFError("the tar data ends inside a member")
                    else:
                        member = Member(info, opener)
                        head = member.read(want)
                        member._finish()
                    heads[info.index] = head
                    left -= len(head)
                entry = _plain_entry(tf, reader)
                if entry is None:
                    entry = _tarfile_entry(tf, reader, tf.next())
            _check_tar_end(reader)
        finally:
            stream.close()
    return infos, heads


def _tar_opener(tf: tarfile.TarFile, ti: tarfile.TarInfo) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        stream = tf.extractfile(ti)
        if stream is None:  # pragma: no cover - only regular files get an opener
            raise ArchiveUnreadable(f"{ti.name}: not a regular file", code="unsupported")
        return stream

    return open_member


class _Slice(io.RawIOBase):
    """The next ``size`` bytes of the tar stream: a regular member's data, read in place."""

    def __init__(self, reader: _ForwardReader, size: int) -> None:
        super().__init__()
        self._reader = reader
        self._left = size

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        want = self._left if size is None or size < 0 else min(size, self._left)
        if want <= 0:
            return b""
        data = self._reader.read(min(want, CHUNK))
        if not data:
            raise EOFError("the tar data ends inside a member")
        self._left -= len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _slice_opener(reader: _ForwardReader, size: int) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        return cast(IO[bytes], _Slice(reader, size))

    return open_member


def _check_tar_end(reader: _ForwardReader) -> None:
    """After the last member: the end-of-archive block, then nothing but zeros."""
    last = reader.last
    if not last:
        raise ArchiveUnreadable(
            "the tar archive ends without its end-of-archive marker: it is truncated",
            code="truncated",
        )
    if last.count(0) != len(last):
        raise ArchiveUnreadable(
            f"invalid tar header at byte {reader.pos - len(last):,}: the archive is corrupt",
            code="corrupt",
        )
    trailing, zero = reader.drain()
    if not zero:
        raise ArchiveUnreadable(
            f"{trailing:,} bytes of data after the end of the tar archive", code="trailing_data"
        )


_LOCAL_HEADER = struct.Struct("<4sHHHHHIIIHH")
_LOCAL_MAGIC = b"PK\x03\x04"


def _zip_type(zi: zipfile.ZipInfo) -> tuple[MemberType, int]:
    mode = (zi.external_attr >> 16) & 0xFFFF if zi.create_system == 3 else 0
    if zi.is_dir():
        return MemberType.DIRECTORY, mode
    if mode:
        if stat.S_ISLNK(mode):
            return MemberType.SYMLINK, mode
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            return MemberType.DEVICE, mode
        if stat.S_ISFIFO(mode):
            return MemberType.FIFO, mode
        if stat.S_ISSOCK(mode):
            return MemberType.OTHER, mode
    return MemberType.FILE, mode


def _zip_layout(raw: IO[bytes], infos: list[zipfile.ZipInfo], start_dir: int) -> None:
    """Refuse entries whose data overlap (a zip bomb) or run into the central directory."""
    previous_end = 0
    previous_name = ""
    for zi in infos:
        if zi.header_offset < previous_end:
            raise ArchiveUnreadable(
                f"zip entries overlap: {zi.filename[:200]!r} starts inside {previous_name[:200]!r} "
                "(a zip bomb pattern)",
                code="overlapping_entries",
                member=zi.filename,
            )
        raw.seek(zi.header_offset)
        header = raw.read(_LOCAL_HEADER.size)
        if len(header) != _LOCAL_HEADER.size:
            raise ArchiveUnreadable(
                f"{zi.filename[:200]}: local header truncated", code="truncated", member=zi.filename
            )
        fields = _LOCAL_HEADER.unpack(header)
        if fields[0] != _LOCAL_MAGIC:
            raise ArchiveUnreadable(
                f"{zi.filename[:200]}: bad local header", code="corrupt", member=zi.filename
            )
        data_start = zi.header_offset + _LOCAL_HEADER.size + fields[9] + fields[10]
        end = data_start + zi.compress_size
        if zi.flag_bits & 0x08:
            end += 12  # data descriptor (at least)
        if end > start_dir:
            raise ArchiveUnreadable(
                f"{zi.filename[:200]}: data runs into the central directory "
                "(overlapping entries, a zip bomb pattern)",
                code="overlapping_entries",
                member=zi.filename,
            )
        previous_end, previous_name = end, zi.filename


_EOCD = struct.Struct("<4sHHHHIIH")
_ZIP64_LOCATOR = struct.Struct("<4sIQI")
_ZIP64_EOCD = struct.Struct("<4sQHHIIQQQQ")


def _zip_declared_count(raw: IO[bytes]) -> int | None:
    """The member count the end-of-central-directory record declares (zip64 aware), read
    before :mod:`zipfile` builds an object per member; ``None`` if there is no such record."""
    raw.seek(0, io.SEEK_END)
    size = raw.tell()
    tail_size = min(size, _EOCD.size + 0xFFFF)
    raw.seek(size - tail_size)
    tail = raw.read(tail_size)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or len(tail) - at < _EOCD.size:
        return None
    count = _EOCD.unpack_from(tail, at)[4]
    locator_at = at - _ZIP64_LOCATOR.size
    if count == 0xFFFF and locator_at >= 0 and tail[locator_at : locator_at + 4] == b"PK\x06\x07":
        offset = _ZIP64_LOCATOR.unpack_from(tail, locator_at)[2]
        raw.seek(offset)
        record = raw.read(_ZIP64_EOCD.size)
        if len(record) == _ZIP64_EOCD.size and record[:4] == b"PK\x06\x06":
            count = _ZIP64_EOCD.unpack(record)[7]
    return int(count)


def _check_zip_count(count: int | None, limits: ArchiveLimits) -> None:
    if count is not None and count > limits.max_members:
        raise ArchiveLimitExceeded(
            f"{count:,} members, more than the limit of {limits.max_members:,}",
            code="max_members",
            limit=limits.max_members,
            value=count,
        )


def _iter_zip(path: Path, limits: ArchiveLimits) -> Iterator[Member]:
    budget = _Budget(limits, path.stat().st_size)
    where: list[str] = []  # the member being read, for error messages
    try:
        with open(path, "rb") as raw:
            _check_zip_count(_zip_declared_count(raw), limits)
            raw.seek(0)
            with zipfile.ZipFile(raw) as zf:
                yield from _zip_members(raw, zf, budget, where)
    except ArchiveError:
        raise
    except _DATA_ERRORS as exc:
        raise _translate(exc, where[-1] if where else None) from exc


def _zip_members(
    raw: IO[bytes], zf: zipfile.ZipFile, budget: _Budget, where: list[str]
) -> Iterator[Member]:
    infos = sorted(zf.infolist(), key=lambda zi: zi.header_offset)
    _check_zip_count(len(infos), budget.limits)
    _zip_layout(raw, infos, zf.start_dir)
    budget._check_size(sum(zi.file_size for zi in infos))
    for index, zi in enumerate(infos):
        where.append(zi.filename)
        mtype, mode = _zip_type(zi)
        linkname = ""
        if mtype is MemberType.SYMLINK:
            with zf.open(zi) as handle:
                linkname = handle.read(4096).decode("utf-8", "replace")
        info = MemberInfo(
            index=index,
            raw_name=zi.filename,
            name=_normalize(zi.filename),
            type=mtype,
            size=zi.file_size if mtype is MemberType.FILE else 0,
            linkname=linkname,
            mode=mode,
        )
        budget.add_member(info)
        opener = _zip_opener(zf, zi, budget) if mtype is MemberType.FILE else None
        member = Member(info, opener, drain=True)
        yield member
        member._finish()
        where.pop()


def _zip_opener(
    zf: zipfile.ZipFile, zi: zipfile.ZipInfo, budget: _Budget
) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        return cast(IO[bytes], _CountingStream(zf.open(zi), budget))

    return open_member


class _CountingStream(io.RawIOBase):
    """A member stream whose bytes count against the archive's budget."""

    def __init__(self, stream: IO[bytes], budget: _Budget) -> None:
        super().__init__()
        self._stream = stream
        self._budget = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read(CHUNK if size is None or size < 0 else size)
        self._budget.add_bytes(len(data))
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def iter_members(path: Path, limits: ArchiveLimits | None = None) -> Iterator[Member]:
    """Stream the members of the archive at ``path`` (its format is told by its name).

    Raises :class:`ArchiveLimitExceeded` past a limit and :class:`ArchiveUnreadable`
    for corrupt, truncated or hostile data, after yielding the members read before.
    A :class:`Member`'s bytes can be read only while it is the current one.
    """
    limits = limits or ArchiveLimits()
    fmt = archive_format(path.name)
    if fmt is None:
        raise ArchiveUnreadable(
            f"{path.name} is not an archive format read here", code="unsupported"
        )
    try:
        if fmt is ArchiveFormat.ZIP:
            yield from _iter_zip(path, limits)
        else:
            yield from _iter_tar(path, fmt, limits)
    except FileNotFoundError as exc:
        raise ArchiveUnreadable(f"cannot open {path.name}: {exc.strerror}", code="io") from exc


@dataclass(frozen=True)
class ArchiveIndex:
    """One pass over an archive: every member's metadata and the heads of its files."""

    path: Path
    format: ArchiveFormat
    members: tuple[MemberInfo, ...]
    """Every member read, in order (up to the point where an error stopped reading)."""
    error: ArchiveError | None
    """Why reading stopped before the end, or ``None`` if the archive was read to the end."""
    compressed_bytes: int
    limits: ArchiveLimits
    head_bytes: int
    heads: Mapping[int, bytes] = field(repr=False)
    """member index → its first ``head_bytes`` bytes (all if smaller); absent over budget."""

    @property
    def complete(self) -> bool:
        """True when the archive was read to the end without error."""
        return self.error is None

    @property
    def uncompressed_bytes(self) -> int:
        return sum(m.size for m in self.members)

    def roots(self) -> set[str]:
        """The distinct top-level folders ('' stands for files stored at the top level)."""
        return {m.top for m in self.members if m.parts}

    def head(self, member: MemberInfo) -> bytes | None:
        """The cached first bytes of ``member`` (all of it when ``len(result) == member.size``),
        or ``None`` if the budget ran out before it."""
        return self.heads.get(member.index)

    def read(
        self, members: Iterable[MemberInfo], *, max_bytes: int | None = None
    ) -> dict[MemberInfo, bytes]:
        """The bytes of ``members`` (at most ``max_bytes`` each), from the cache where it holds
        enough and otherwise with one more streaming pass. Raises :class:`ArchiveError` if the
        archive stops before a wanted member."""
        out: dict[MemberInfo, bytes] = {}
        missing: dict[int, MemberInfo] = {}
        for info in members:
            cached = self.heads.get(info.index)
            enough = cached is not None and (
                len(cached) >= info.size or (max_bytes is not None and len(cached) >= max_bytes)
            )
            if cached is not None and enough:
                out[info] = cached if max_bytes is None else cached[:max_bytes]
            else:
                missing[info.index] = info
        if not missing:
            return out
        for member in iter_members(self.path, self.limits):
            wanted = missing.pop(member.info.index, None)
            if wanted is not None:
                out[wanted] = member.read(max_bytes)
            if not missing:
                break
        return out


_cache: OrderedDict[tuple[Any, ...], ArchiveIndex] = OrderedDict()
_cache_lock = threading.Lock()


def clear_index_cache() -> None:
    """Forget the remembered indexes (tests; a long-lived worker between releases)."""
    with _cache_lock:
        _cache.clear()


def index_archive(
    path: Path,
    limits: ArchiveLimits | None = None,
    *,
    head_bytes: int = HEAD_BYTES,
    budget: int = CACHE_BUDGET,
) -> ArchiveIndex:
    """Read the archive once and describe it; remembered for the same unchanged file and limits.

    Never raises for bad archive data: the error that stopped reading is in
    :attr:`ArchiveIndex.error`. Raises :class:`ArchiveUnreadable` (code ``io``) only
    when the file cannot be opened at all, and for a name that is not an archive.
    """
    limits = limits or ArchiveLimits()
    fmt = archive_format(path.name)
    if fmt is None:
        raise ArchiveUnreadable(
            f"{path.name} is not an archive format read here", code="unsupported"
        )
    try:
        st = path.stat()
    except OSError as exc:
        raise ArchiveUnreadable(f"cannot open {path.name}: {exc.strerror}", code="io") from exc
    key = (
        os.path.realpath(path),
        st.st_dev,
        st.st_ino,
        st.st_size,
        st.st_mtime_ns,
        limits,
        head_bytes,
        budget,
    )
    with _cache_lock:
        found = _cache.get(key)
        if found is not None:
            _cache.move_to_end(key)
            return found
        index = _build_index(
            path, fmt, limits, head_bytes=head_bytes, budget=budget, size=st.st_size
        )
        _cache[key] = index
        while len(_cache) > _INDEX_CACHE_SIZE:
            _cache.popitem(last=False)
        return index


def _collect(
    members: Iterator[Member], *, head_bytes: int, budget: int
) -> tuple[list[MemberInfo], dict[int, bytes], ArchiveError | None]:
    infos: list[MemberInfo] = []
    heads: dict[int, bytes] = {}
    left = budget
    error: ArchiveError | None = None
    try:
        for member in members:
            infos.append(member.info)
            if member.type is MemberType.FILE and left > 0:
                head = member.read(min(head_bytes, left))
                heads[member.info.index] = head
                left -= len(head)
    except ArchiveError as exc:
        error = exc
    return infos, heads, error


def _build_index(
    path: Path,
    fmt: ArchiveFormat,
    limits: ArchiveLimits,
    *,
    head_bytes: int,
    budget: int,
    size: int,
) -> ArchiveIndex:
    found: tuple[list[MemberInfo], dict[int, bytes], ArchiveError | None] | None = None
    if fmt in _INFLATE_KINDS:
        # The fast reading (decompression in a second thread, plain headers read here) for a
        # tar that reads to the end; anything else is read again by the standard file objects
        # and tarfile, whose error, and the members read before it, are the ones reported.
        try:
            infos, heads = _index_fast(path, fmt, limits, head_bytes=head_bytes, budget=budget)
            found = infos, heads, None
        except Exception:  # the careful reading below decides
            log.debug("fast reading of %s failed; reading it again", path.name, exc_info=True)
    if found is None:
        found = _collect(iter_members(path, limits), head_bytes=head_bytes, budget=budget)
    members, heads, error = found
    return ArchiveIndex(
        path=path,
        format=fmt,
        members=tuple(members),
        error=error,
        compressed_bytes=size,
        limits=limits,
        head_bytes=head_bytes,
        heads=heads,
    )
