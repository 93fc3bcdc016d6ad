"""Archives built by the tests: well-formed ones and hostile ones.

Every builder writes one file and returns its path. Hostile archives are made the
way an attacker would: by writing the bytes the format allows, not by asking a
careful library to refuse them.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import tarfile
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path

TarEntry = tuple[str, bytes] | tarfile.TarInfo


def write_tar(path: Path, entries: Iterable[TarEntry], *, mode: str = "w:gz") -> Path:
    """A tar archive of ``(name, content)`` pairs (regular files) and ready TarInfos."""
    with tarfile.open(path, mode) as tar:
        for entry in entries:
            if isinstance(entry, tarfile.TarInfo):
                tar.addfile(entry)
                continue
            name, content = entry
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 1_700_000_000
            tar.addfile(info, io.BytesIO(content))
    return path


def source_tree(root: str, files: int = 5) -> list[TarEntry]:
    """A small well-formed source release tree under ``root``."""
    entries: list[TarEntry] = [
        (f"{root}/LICENSE", b"Apache License\nVersion 2.0, January 2004\n"),
        (f"{root}/NOTICE", b"Apache Foo\nCopyright 2024 The Apache Software Foundation\n"),
    ]
    entries += [(f"{root}/src/mod{i}.py", f"print({i})\n".encode()) for i in range(files)]
    return entries


def link(name: str, target: str, *, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


def device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    info.devmajor, info.devminor = 1, 3
    return info


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def gzip_bomb(path: Path, root: str, size: int) -> Path:
    """A tar.gz holding one file of ``size`` zero bytes (compresses about 1000:1)."""
    with gzip.open(path, "wb", compresslevel=6) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        info = tarfile.TarInfo(f"{root}/zeros.bin")
        info.size = size
        tar.addfile(info, io.BufferedReader(_Zeros(size), 1 << 20))
    return path


def many_members(path: Path, root: str, count: int) -> Path:
    """A tar.gz of ``count`` one-byte files, from hand-made headers (tarfile is slow at this)."""
    template = tarfile.TarInfo(f"{root}/d0000/f0000000.txt")
    template.size = 1
    template.mtime = 0
    with gzip.open(path, "wb", compresslevel=1) as gz:
        buf = bytearray()
        for i in range(count):
            header = bytearray(template.tobuf(tarfile.USTAR_FORMAT))
            name = f"{root}/d{i // 1000:04d}/f{i:07d}.txt".encode()
            header[0:100] = name.ljust(100, b"\0")
            header[148:156] = b"        "
            checksum = sum(header)
            header[148:156] = f"{checksum:06o}\0 ".encode()
            buf += header + b"x" + bytes(511)
            if len(buf) > 1 << 20:
                gz.write(buf)
                buf.clear()
        buf += bytes(1024)
        gz.write(buf)
    return path


def truncated(source: Path, path: Path, *, keep: float = 0.5) -> Path:
    """The first ``keep`` fraction of ``source``'s bytes."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def corrupted(source: Path, path: Path) -> Path:
    """``source`` with a run of bytes in its middle overwritten."""
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(b ^ 0x5A for b in data[middle : middle + 16])
    path.write_bytes(bytes(data))
    return path


def write_zip(path: Path, files: Mapping[str, bytes], *, symlinks: Mapping[str, str] = {}) -> Path:
    """A zip of regular files and (unix) symbolic links."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in files.items():
            zf.writestr(name, content)
        for name, target in symlinks.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = 0o120777 << 16
            zf.writestr(info, target)
    return path


def _local_header(name: bytes, data: bytes, crc: int, size: int) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), size, len(name), 0
        )
        + name
    )


def _central(name: bytes, data_len: int, crc: int, size: int, offset: int) -> bytes:
    return (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            data_len,
            size,
            len(name),
            0,
            0,
            0,
            0,
            0,
            offset,
        )
        + name
    )


def overlapping_zip(path: Path, root: str, *, entries: int = 50, size: int = 10 << 20) -> Path:
    """The 'overlapping files' zip bomb: one deflated kernel of ``size`` zeros, and a central
    directory of ``entries`` names that all point at the same local header."""
    kernel = bytes(size)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = compressor.compress(kernel) + compressor.flush()
    crc = zlib.crc32(kernel)
    first = f"{root}/f0000".encode()
    local = _local_header(first, data, crc, size) + data
    directory = b"".join(
        _central(f"{root}/f{i:04d}".encode() if i else first, len(data), crc, size, 0)
        for i in range(entries)
    )
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, entries, entries, len(directory), len(local), 0
    )
    path.write_bytes(local + directory + end)
    return path


def overlapping_zip_chain(path: Path, root: str) -> Path:
    """Two real entries where the first one's compressed size claims the second's bytes."""
    write_zip(path, {f"{root}/a.txt": os.urandom(2000), f"{root}/b.txt": os.urandom(2000)})
    raw = bytearray(path.read_bytes())
    start_dir = raw.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack("<I", raw[start_dir + 16 : start_dir + 20])[0]
    # central directory entry of a.txt: compressed size at +20
    (old,) = struct.unpack("<I", raw[cd_offset + 20 : cd_offset + 24])
    raw[cd_offset + 20 : cd_offset + 24] = struct.pack("<I", old + 100)
    path.write_bytes(bytes(raw))
    return path
