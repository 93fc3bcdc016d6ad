"""BlobStore: streamed writes, both hashes, the size limit, concurrent writers."""

from __future__ import annotations

import asyncio
import hashlib
import os
import stat
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.blobs import BlobNotFound, BlobStore, BlobTooLarge
from shared.errors import AtrError, ValidationError


def _store(tmp_path: Path, max_size: int = 10 * 1024 * 1024) -> BlobStore:
    return BlobStore(tmp_path / "data" / "blobs", max_size=max_size)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]
        await asyncio.sleep(0)


def _tmp_files(store: BlobStore) -> list[Path]:
    return list(store.tmp_dir.iterdir())


async def test_put_stream_hashes_and_places_the_blob(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = os.urandom(3 * 1024 * 1024 + 17)  # crosses the 1 MiB write buffer several times
    info = await store.put_stream(_chunks(data, 64 * 1024 + 3))

    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.sha512 == hashlib.sha512(data).hexdigest()
    assert info.size == len(data)
    path = store.path_for(info.sha256)
    assert path == store.root / info.sha256[:2] / info.sha256[2:4] / info.sha256
    assert path.read_bytes() == data
    assert store.exists(info.sha256)
    assert not stat.S_IMODE(path.stat().st_mode) & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert _tmp_files(store) == []
    with store.open(info.sha256) as fh:
        assert fh.read() == data


async def test_empty_blob(tmp_path: Path) -> None:
    store = _store(tmp_path)
    info = await store.put_stream(_chunks(b"", 1))
    assert info.size == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.path_for(info.sha256).read_bytes() == b""


async def test_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, max_size=1000)
    with pytest.raises(BlobTooLarge) as err:
        await store.put_stream(_chunks(b"a" * 1001, 100))
    assert isinstance(err.value, AtrError)
    assert "1000 bytes" in str(err.value)
    assert _tmp_files(store) == []
    assert not store.exists(hashlib.sha256(b"a" * 1001).hexdigest())
    assert list(store.root.iterdir()) == []
    # exactly at the limit is fine
    info = await store.put_stream(_chunks(b"a" * 1000, 300))
    assert info.size == 1000


def test_put_file_over_the_limit_leaves_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path, max_size=10)
    source = tmp_path / "big.bin"
    source.write_bytes(b"x" * 11)
    with pytest.raises(BlobTooLarge):
        store.put_file(source)
    assert _tmp_files(store) == []


async def test_a_failing_source_leaves_nothing(tmp_path: Path) -> None:
    store = _store(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        yield b"some bytes"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await store.put_stream(broken())
    assert _tmp_files(store) == []


def test_put_file_matches_put_stream(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = os.urandom(2 * 1024 * 1024 + 5)
    source = tmp_path / "artifact.tar.gz"
    source.write_bytes(data)
    info = store.put_file(source)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.sha512 == hashlib.sha512(data).hexdigest()
    assert info.size == len(data)
    again = asyncio.run(store.put_stream(_chunks(data, 1 << 20)))
    assert again == info
    assert _tmp_files(store) == []


async def test_concurrent_puts_of_the_same_content(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = os.urandom(1024 * 1024 + 1)
    infos = await asyncio.gather(*(store.put_stream(_chunks(data, 4096 + i)) for i in range(4)))
    assert len({i.sha256 for i in infos}) == 1
    assert store.path_for(infos[0].sha256).read_bytes() == data
    assert _tmp_files(store) == []


def test_concurrent_put_file_threads(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = os.urandom(512 * 1024)
    source = tmp_path / "same.bin"
    source.write_bytes(data)
    results: list[str] = []
    errors: list[BaseException] = []

    def put() -> None:
        try:
            results.append(store.put_file(source).sha256)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=put) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert results == [hashlib.sha256(data).hexdigest()] * 6
    assert store.path_for(results[0]).read_bytes() == data
    assert _tmp_files(store) == []


def test_open_missing_and_bad_digest(tmp_path: Path) -> None:
    store = _store(tmp_path)
    missing = "0" * 64
    assert not store.exists(missing)
    with pytest.raises(BlobNotFound) as err:
        store.open(missing)
    assert missing in str(err.value)
    with pytest.raises(ValidationError):
        store.path_for("../../etc/passwd")
    # an upper-case digest names the same blob
    assert store.path_for("A" * 64) == store.path_for("a" * 64)
