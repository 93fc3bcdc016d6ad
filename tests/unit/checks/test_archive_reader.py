"""The streaming archive reader: formats, Member API, shared index, limits, hostile data."""

from __future__ import annotations

import gzip
import os
import tarfile
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from shared.checks import archive_reader
from shared.checks.archive_reader import (
    ArchiveError,
    ArchiveLimitExceeded,
    ArchiveUnreadable,
    MemberType,
    index_archive,
    iter_members,
)
from shared.checks.policy import ArchiveLimits
from tests.unit.checks import hostile

ROOT = "foo-1.0"


@pytest.mark.parametrize(
    "mode,suffix", [("w:gz", "tar.gz"), ("w:bz2", "tar.bz2"), ("w:xz", "tar.xz")]
)
def test_tar_formats_stream_members_and_bytes(tmp_path: Path, mode: str, suffix: str) -> None:
    path = hostile.write_tar(tmp_path / f"{ROOT}.{suffix}", hostile.source_tree(ROOT), mode=mode)
    seen = {}
    for member in iter_members(path):
        assert member.type is MemberType.FILE
        seen[member.relpath] = member.read()
    assert seen["LICENSE"].startswith(b"Apache License")
    assert seen["src/mod3.py"] == b"print(3)\n"
    assert len(seen) == 7


def test_zip_members_with_types(tmp_path: Path) -> None:
    path = hostile.write_zip(
        tmp_path / f"{ROOT}.zip",
        {f"{ROOT}/": b"", f"{ROOT}/README": b"hello"},
        symlinks={f"{ROOT}/link": "README"},
    )
    members = {m.name: (m.type, m.info.linkname, m.read()) for m in iter_members(path)}
    assert members[ROOT][0] is MemberType.DIRECTORY
    assert members[f"{ROOT}/README"] == (MemberType.FILE, "", b"hello")
    assert members[f"{ROOT}/link"][:2] == (MemberType.SYMLINK, "README")


def test_member_bytes_in_parts_and_not_after_moving_on(tmp_path: Path) -> None:
    content = os.urandom(3 * archive_reader.CHUNK + 5)
    path = hostile.write_tar(tmp_path / "a.tar.gz", [(f"{ROOT}/big", content), (f"{ROOT}/x", b"x")])
    it = iter_members(path)
    first = next(it)
    assert first.read(10) == content[:10]
    assert first.read(20) == content[:20]
    assert b"".join(first.chunks()) == content
    next(it)
    with pytest.raises(ArchiveError, match="no longer be read"):
        first.read(1)


def test_member_info_paths(tmp_path: Path) -> None:
    path = hostile.write_tar(
        tmp_path / "a.tar.gz", [("./foo-1.0/src/a.c", b"a"), ("top.txt", b"t")]
    )
    infos = index_archive(path).members
    assert (infos[0].name, infos[0].top, infos[0].relpath, infos[0].depth) == (
        "foo-1.0/src/a.c",
        "foo-1.0",
        "src/a.c",
        3,
    )
    assert (infos[1].top, infos[1].relpath) == ("", "top.txt")


def test_index_is_remembered_and_reads_past_its_budget(tmp_path: Path) -> None:
    files = [(f"{ROOT}/f{i}", os.urandom(3000)) for i in range(6)]
    path = hostile.write_tar(tmp_path / "a.tar.gz", files)
    index = index_archive(path, head_bytes=1000, budget=2500)
    assert index is index_archive(path, head_bytes=1000, budget=2500)
    assert index.complete
    heads = [index.head(m) for m in index.members]
    assert heads[0] == files[0][1][:1000]
    assert heads[3] is None  # budget spent
    wanted = [index.members[0], index.members[4]]
    got = index.read(wanted)
    assert got[index.members[0]] == files[0][1]
    assert got[index.members[4]] == files[4][1]
    assert index.read([index.members[1]], max_bytes=500)[index.members[1]] == files[1][1][:500]


def test_truncated_gzip_is_refused(tmp_path: Path) -> None:
    good = hostile.write_tar(tmp_path / "good.tar.gz", [(f"{ROOT}/r", os.urandom(200_000))])
    bad = hostile.truncated(good, tmp_path / "bad.tar.gz", keep=0.6)
    with pytest.raises(ArchiveUnreadable) as caught:
        for _ in iter_members(bad):
            pass
    assert caught.value.code == "truncated"
    index = index_archive(bad)
    assert index.error is not None and index.error.code == "truncated"


def test_truncated_after_the_last_member_is_refused(tmp_path: Path) -> None:
    """A gzip stream cut just before its trailer: every member is there, the CRC is not."""
    good = hostile.write_tar(tmp_path / "good.tar.gz", hostile.source_tree(ROOT))
    data = good.read_bytes()
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(data[:-6])
    assert index_archive(bad).error.code == "truncated"  # type: ignore[union-attr]


def test_corrupt_gzip_data_is_refused(tmp_path: Path) -> None:
    good = hostile.write_tar(tmp_path / "good.tar.gz", [(f"{ROOT}/r", os.urandom(200_000))])
    bad = hostile.corrupted(good, tmp_path / "bad.tar.gz")
    error = index_archive(bad).error
    assert isinstance(error, ArchiveUnreadable)
    assert error.code in ("corrupt", "truncated")


def test_tar_without_end_marker_and_with_trailing_data(tmp_path: Path) -> None:
    info = tarfile.TarInfo(f"{ROOT}/a")
    info.size = 1
    member = info.tobuf(tarfile.USTAR_FORMAT) + b"a" + bytes(511)
    no_end = tmp_path / "noend.tar.gz"
    no_end.write_bytes(gzip.compress(member))
    assert index_archive(no_end).error.code == "truncated"  # type: ignore[union-attr]
    trailing = tmp_path / "trailing.tar.gz"
    trailing.write_bytes(gzip.compress(member + bytes(1024) + b"hidden payload" * 100))
    assert index_archive(trailing).error.code == "trailing_data"  # type: ignore[union-attr]
    garbage = tmp_path / "garbage.tar.gz"
    garbage.write_bytes(gzip.compress(member + b"\x01" * 512 + bytes(1024)))
    assert index_archive(garbage).error.code == "corrupt"  # type: ignore[union-attr]


def test_zip_crc_error_is_found_even_when_nobody_reads_the_member(tmp_path: Path) -> None:
    path = tmp_path / "a.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(f"{ROOT}/a", b"A" * 5000)
    raw = bytearray(path.read_bytes())
    at = raw.find(b"A" * 100)
    raw[at + 50] = ord("B")
    path.write_bytes(bytes(raw))
    with pytest.raises(ArchiveUnreadable) as caught:
        for _ in iter_members(path):
            pass
    assert caught.value.code == "corrupt"
    assert "CRC" in str(caught.value)


def test_compression_bomb_stops_early_with_bounded_memory(tmp_path: Path) -> None:
    bomb = hostile.gzip_bomb(tmp_path / "bomb.tar.gz", ROOT, 300 << 20)
    assert bomb.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(ArchiveLimitExceeded) as caught:
            for member in iter_members(bomb):
                for _ in member.chunks():
                    pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.code == "max_ratio"
    assert caught.value.value > 100
    assert peak < 16 << 20


def test_declared_sizes_count_against_the_limit(tmp_path: Path) -> None:
    path = hostile.write_tar(tmp_path / "a.tar.gz", [(f"{ROOT}/r", os.urandom(600_000))])
    limits = ArchiveLimits(max_uncompressed_bytes=500_000)
    error = index_archive(path, limits).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert error.code == "max_uncompressed_bytes"
    zpath = hostile.write_zip(tmp_path / "a.zip", {f"{ROOT}/r": os.urandom(600_000)})
    assert index_archive(zpath, limits).error.code == "max_uncompressed_bytes"  # type: ignore[union-attr]


def test_depth_limit(tmp_path: Path) -> None:
    deep = "/".join([ROOT, *[f"d{i}" for i in range(40)], "f"])
    path = hostile.write_tar(tmp_path / "a.tar.gz", [(deep, b"x")])
    error = index_archive(path).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert (error.code, error.value) == ("max_depth", 42)


def test_one_hundred_thousand_tiny_members_hit_the_member_limit(tmp_path: Path) -> None:
    path = hostile.many_members(tmp_path / "many.tar.gz", ROOT, 100_001)
    index = index_archive(path)
    assert isinstance(index.error, ArchiveLimitExceeded)
    assert index.error.code == "max_members"
    assert len(index.members) == 100_000


def test_zip_member_count_is_refused_before_reading(tmp_path: Path) -> None:
    path = hostile.write_zip(tmp_path / "a.zip", {f"{ROOT}/f{i}": b"" for i in range(30)})
    error = index_archive(path, ArchiveLimits(max_members=20)).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert (error.code, error.value) == ("max_members", 30)


def test_overlapping_zip_entries_are_refused(tmp_path: Path) -> None:
    shared_kernel = hostile.overlapping_zip(tmp_path / "bomb.zip", ROOT)
    error = index_archive(shared_kernel).error
    assert isinstance(error, ArchiveUnreadable)
    assert error.code == "overlapping_entries"
    chained = hostile.overlapping_zip_chain(tmp_path / "chain.zip", ROOT)
    assert index_archive(chained).error.code == "overlapping_entries"  # type: ignore[union-attr]


def test_not_an_archive_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArchiveUnreadable, match="not an archive"):
        index_archive(tmp_path / "a.jar")
    with pytest.raises(ArchiveUnreadable) as caught:
        index_archive(tmp_path / "missing.tar.gz")
    assert caught.value.code == "io"
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not a zip file at all")
    assert index_archive(junk).error.code == "corrupt"  # type: ignore[union-attr]


def test_zip_declared_count_is_refused_before_zipfile_reads_the_directory(tmp_path: Path) -> None:
    path = hostile.write_zip(tmp_path / "a.zip", {f"{ROOT}/a": b"a"})
    raw = bytearray(path.read_bytes())
    eocd = raw.rfind(b"PK\x05\x06")
    raw[eocd + 8 : eocd + 12] = (60_000).to_bytes(2, "little") * 2  # entries: here, total
    path.write_bytes(bytes(raw))
    error = index_archive(path, ArchiveLimits(max_members=1000)).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert error.value == 60_000


def test_zip64_member_count(tmp_path: Path) -> None:
    path = tmp_path / "many.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        info = zipfile.ZipInfo(f"{ROOT}/x")
        for i in range(70_000):
            info.filename = f"{ROOT}/f{i}"
            zf.writestr(info, b"")
    error = index_archive(path, ArchiveLimits(max_members=65_000)).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert error.value == 70_000
    # the zip64 record's count is the one read first (5 million claimed: refused at once)
    raw = bytearray(path.read_bytes())
    record = raw.rfind(b"PK\x06\x06")
    assert record > 0
    raw[record + 24 : record + 40] = (5_000_000).to_bytes(8, "little") * 2
    path.write_bytes(bytes(raw))
    error = index_archive(path).error
    assert isinstance(error, ArchiveLimitExceeded)
    assert error.value == 5_000_000


def test_huge_pax_header_is_refused_without_reading_it_into_memory(tmp_path: Path) -> None:
    size = 100 << 20
    header = tarfile.TarInfo("././@PaxHeader")
    header.type = tarfile.XHDTYPE
    header.size = size
    path = tmp_path / "pax.tar.gz"
    with gzip.open(path, "wb") as gz:
        gz.write(header.tobuf(tarfile.USTAR_FORMAT))
        for _ in range(size >> 20):
            gz.write(bytes(1 << 20))
    tracemalloc.start()
    try:
        error = index_archive(path).error
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(error, ArchiveUnreadable)
    assert "tar header of 104,857,600 bytes" in str(error)
    assert peak < 16 << 20
