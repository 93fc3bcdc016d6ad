"""The fast archive index (decompression in a second thread, plain tar headers read without
tarfile) gives what the careful reading gives: the same members, heads and errors."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import tarfile
import tracemalloc
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.checks import archive_reader, inflate
from shared.checks.archive_reader import (
    CACHE_BUDGET,
    HEAD_BYTES,
    ArchiveError,
    MemberInfo,
    _collect,
    _index_fast,
    index_archive,
    iter_members,
)
from shared.checks.artifacts import archive_format
from shared.checks.policy import ArchiveLimits
from tests.unit.checks import hostile

ROOT = "foo-1.0"
Found = tuple[list[MemberInfo], dict[int, bytes], ArchiveError | None]


def _fast(path: Path, limits: ArchiveLimits | None = None) -> Found:
    """The fast reading, its error (any exception) in the place of an ArchiveError."""
    fmt = archive_format(path.name)
    assert fmt is not None
    try:
        infos, heads = _index_fast(
            path, fmt, limits or ArchiveLimits(), head_bytes=HEAD_BYTES, budget=CACHE_BUDGET
        )
    except Exception as exc:
        return [], {}, ArchiveError(str(exc), code="fast")
    return infos, heads, None


def _careful(path: Path, limits: ArchiveLimits | None = None) -> Found:
    return _collect(
        iter_members(path, limits or ArchiveLimits()), head_bytes=HEAD_BYTES, budget=CACHE_BUDGET
    )


def _info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def _tar_bytes(entries: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in entries:
            info.size = len(data) if info.isreg() else info.size
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def _shapes() -> list[tuple[tarfile.TarInfo, bytes]]:
    long_name = f"{ROOT}/" + "/".join(["a-rather-long-folder-name"] * 8) + "/File.java"
    return [
        (_info(f"{ROOT}/", tarfile.DIRTYPE), b""),
        (_info(f"{ROOT}/LICENSE"), b"Apache License\n" * 100),
        (_info(f"{ROOT}/big.bin"), os.urandom(300_000)),
        (_info(f"{ROOT}/empty"), b""),
        (_info(f"{ROOT}/exact"), b"x" * 1024),
        (_info(long_name), b"class File {}\n"),
        (_info(f"{ROOT}/héllo-wörld.txt"), b"non-ASCII name\n"),
        (_info(f"{ROOT}/link", tarfile.SYMTYPE, linkname="LICENSE"), b""),
        (_info(f"{ROOT}/hard", tarfile.LNKTYPE, linkname=f"{ROOT}/LICENSE"), b""),
        (_info(f"{ROOT}/fifo", tarfile.FIFOTYPE), b""),
        (_info(f"{ROOT}/dev", tarfile.CHRTYPE, devmajor=1, devminor=3), b""),
        (_info(f"./{ROOT}//odd//name/"), b""),
        (_info("/etc/passwd"), b"root:x:0:0\n"),
        (_info(f"{ROOT}/../escape"), b"out\n"),
        (_info(f"{ROOT}/exec.sh", mode=0o755), b"#!/bin/sh\n"),
        (_info(f"{ROOT}/uid", uid=3_000_000_000, gid=7), b"large uid: base-256\n"),
    ]


COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {
    "tar.gz": gzip.compress,
    "tar.bz2": bz2.compress,
    "tar.xz": lzma.compress,
}


@pytest.fixture(params=["isal", "zlib"])
def gzip_inflater(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The threaded reader's gzip inflater: ISA-L's (a dependency where it has wheels), or
    zlib's, which it falls back to elsewhere; both must read and refuse alike."""
    if request.param == "zlib":
        monkeypatch.setattr(inflate, "_GZIP", zlib)
    else:
        assert inflate._GZIP.__name__ == "isal.isal_zlib"
    return str(request.param)


@pytest.mark.parametrize("suffix", sorted(COMPRESSORS))
@pytest.mark.parametrize(
    "fmt",
    [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT, tarfile.USTAR_FORMAT],
    ids=["gnu", "pax", "ustar"],
)
def test_the_fast_reading_gives_what_tarfile_gives(tmp_path: Path, suffix: str, fmt: int) -> None:
    entries = _shapes()
    if fmt == tarfile.USTAR_FORMAT:  # no long names, nor large numbers
        entries = [(i, d) for i, d in entries if len(i.name) < 100 and i.uid < 1 << 21]
    path = tmp_path / f"{ROOT}.{suffix}"
    path.write_bytes(COMPRESSORS[suffix](_tar_bytes(entries, fmt)))
    fast, careful = _fast(path), _careful(path)
    assert fast[2] is None and careful[2] is None
    assert fast == careful
    assert len(fast[0]) == len(entries)


def test_a_global_pax_header_and_several_gzip_members(tmp_path: Path, gzip_inflater: str) -> None:
    """git archive writes a global pax header first; pigz and cat make multi-member gzip."""
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "0123abcd"}
    ) as tar:
        for i in range(50):
            data = os.urandom(5000)
            info = _info(f"{ROOT}/f{i}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = out.getvalue()
    path = tmp_path / f"{ROOT}.tar.gz"
    path.write_bytes(gzip.compress(raw[:70_000]) + bytes(10) + gzip.compress(raw[70_000:]))
    assert _fast(path) == _careful(path)
    assert _fast(path)[2] is None


def test_a_global_pax_path_goes_through_tarfile(tmp_path: Path) -> None:
    out = io.BytesIO()
    global_headers = {"path": f"{ROOT}/renamed", "size": "3"}
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers=global_headers
    ) as tar:
        for i in range(3):
            info = _info(f"{ROOT}/f{i}")
            info.size = 3
            tar.addfile(info, io.BytesIO(b"abc"))
    path = tmp_path / f"{ROOT}.tar.gz"
    path.write_bytes(gzip.compress(out.getvalue()))
    fast, careful = _fast(path), _careful(path)
    assert fast == careful
    assert [m.name for m in fast[0]] == [f"{ROOT}/renamed"] * 3


def test_every_odd_archive_is_indexed_as_tarfile_reads_it(
    tmp_path: Path, gzip_inflater: str
) -> None:
    """Errors of the fast reading send index_archive to the careful one: same error, same
    members read before it."""
    good = hostile.write_tar(tmp_path / "good.tar.gz", [(f"{ROOT}/r", os.urandom(200_000))])
    cases = {
        "truncated": hostile.truncated(good, tmp_path / "t.tar.gz", keep=0.6),
        "corrupt": hostile.corrupted(good, tmp_path / "c.tar.gz"),
        "bomb": hostile.gzip_bomb(tmp_path / "b.tar.gz", ROOT, 50 << 20),
        "many": hostile.many_members(tmp_path / "m.tar.gz", ROOT, 2_000),
    }
    member = _info(f"{ROOT}/a")
    member.size = 1
    block = member.tobuf(tarfile.USTAR_FORMAT) + b"a" + bytes(511)
    for name, data in {
        "no_end": block,
        "trailing": block + bytes(1024) + b"payload" * 100,
        "garbage": block + b"\x01" * 512 + bytes(1024),
        "bad_checksum": block + block[:148] + b"0000000\0" + block[156:512] + bytes(1536),
    }.items():
        cases[name] = tmp_path / f"{name}.tar.gz"
        cases[name].write_bytes(gzip.compress(data))
    cases["after_gzip"] = tmp_path / "after.tar.gz"
    cases["after_gzip"].write_bytes(gzip.compress(block + bytes(1024)) + b"not gzip")
    cases["empty"] = tmp_path / "empty.tar.gz"
    cases["empty"].write_bytes(b"")
    limits = ArchiveLimits(max_members=1_000)
    for name, path in cases.items():
        archive_reader.clear_index_cache()
        index = index_archive(path, limits)
        members, heads, error = _careful(path, limits)
        assert index.members == tuple(members), name
        assert dict(index.heads) == heads, name
        assert (index.error is None) == (error is None), name
        if error is not None:
            assert index.error is not None
            assert (index.error.code, index.error.message) == (error.code, error.message), name


def test_the_fast_reading_leaves_what_it_does_not_decide_to_tarfile(tmp_path: Path) -> None:
    path = tmp_path / f"{ROOT}.tar.gz"
    path.write_bytes(gzip.compress(b"\0" * 10))
    found = _fast(path)[2]
    assert found is not None
    careful = _careful(path)[2]
    assert careful is not None
    assert index_archive(path).error.message == careful.message  # type: ignore[union-attr]
    bz = tmp_path / f"{ROOT}.tar.bz2"
    data = _tar_bytes([(_info(f"{ROOT}/a"), b"a")], tarfile.GNU_FORMAT)
    bz.write_bytes(bz2.compress(data) + bz2.compress(data))  # a second stream
    with pytest.raises(inflate.InflateUnsure):
        with bz.open("rb") as raw:
            stream = inflate.ThreadedInflate("bz2", raw)
            try:
                while stream.read(1 << 20):
                    pass
            finally:
                stream.close()
    assert index_archive(bz).members == tuple(_careful(bz)[0])


def test_threaded_inflate_matches_zlib_and_stops_early(tmp_path: Path, gzip_inflater: str) -> None:
    data = os.urandom(100_000) * 50
    path = tmp_path / "x.gz"
    path.write_bytes(gzip.compress(data, compresslevel=1))
    with path.open("rb") as raw:
        stream = inflate.ThreadedInflate("gz", raw)
        got = b"".join(iter(lambda: stream.read(123_457), b""))
        stream.close()
    assert got == zlib.decompress(path.read_bytes(), zlib.MAX_WBITS | 16)
    with path.open("rb") as raw:  # closed before the end: the thread stops
        stream = inflate.ThreadedInflate("gz", raw)
        assert stream.read(10) == data[:10]
        stream.close()


def test_the_fast_reading_keeps_memory_bounded(tmp_path: Path) -> None:
    bomb = hostile.gzip_bomb(tmp_path / "bomb.tar.gz", ROOT, 300 << 20)
    tracemalloc.start()
    try:
        index = index_archive(bomb)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert index.error is not None and index.error.code == "max_ratio"
    assert peak < 16 << 20


def test_header_numbers_are_remembered_as_parsed() -> None:
    """The remembered numeric fields are what _tar_number parses, refusals included, and the
    memory stays bounded."""
    from shared.checks import archive_reader  # noqa: PLC0415

    fields = [b"0000644\x00", b"0000644 ", b"  644\x00\x00\x00", b"\x80" + b"\x00" * 6 + b"\x07",
              b"\xff" * 8, b"12345670", b"0009\x00\x00\x00\x00", b"\x00" * 8, b"   \x00   ",
              b"00000001234\x00", b"abc\x00\x00\x00\x00\x00"]  # fmt: skip
    for _ in range(2):  # parsed, then remembered
        for field in fields:
            assert archive_reader._known_number(field) == archive_reader._tar_number(field)
    assert archive_reader._known_number(b"0009\x00\x00\x00\x00") is None
    for n in range(archive_reader._NUMBERS_KEPT + 10):
        archive_reader._known_number(f"{n:07o}\x00".encode())
    assert len(archive_reader._NUMBERS) <= archive_reader._NUMBERS_KEPT


def test_header_block_sums() -> None:
    """The Adler-32 sum of a header block is the plain byte sum, at its extremes too."""
    import os  # noqa: PLC0415

    from shared.checks.archive_reader import _block_sum  # noqa: PLC0415

    blocks = [bytes(512), b"\xff" * 512, b"\xff" * 256 + bytes(256), os.urandom(512)]
    blocks += [bytes([n % 256]) * 512 for n in range(0, 256, 17)]
    for block in blocks:
        assert _block_sum(block) == sum(block)
