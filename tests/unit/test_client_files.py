"""ChunkReader, the upload body: read once, in chunks, and closed on every way out."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from shared.client._files import ChunkReader
from shared.errors import ClientError


def reader_for(path: Path, *, chunk_size: int = 4) -> ChunkReader:
    return ChunkReader(path, size=path.stat().st_size, chunk_size=chunk_size)


async def test_reads_the_file_in_chunks_and_closes_it_at_the_end(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"0123456789")
    reader = reader_for(source)
    chunks = [chunk async for chunk in reader]
    assert chunks == [b"0123", b"4567", b"89"]
    assert reader.closed and reader.sha256 == hashlib.sha256(b"0123456789").hexdigest()


async def test_aclose_half_way_closes_the_file_and_ends_the_iteration(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"0123456789")
    reader = reader_for(source)
    iterator = aiter(reader)
    assert await anext(iterator) == b"0123"
    assert not reader.closed
    await reader.aclose()
    assert reader.closed
    with pytest.raises(StopAsyncIteration):
        await anext(iterator)
    await reader.aclose()  # idempotent
    assert reader.sent == 4


async def test_a_reader_streams_its_file_only_once(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    reader = reader_for(source)
    assert [chunk async for chunk in reader] == [b"abc"]
    with pytest.raises(ClientError, match="streams its file once"):
        aiter(reader)


async def test_a_file_that_shrinks_is_refused_and_closed(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(bytes(100_000))
    reader = reader_for(source, chunk_size=4096)
    iterator = aiter(reader)
    assert len(await anext(iterator)) == 4096
    source.write_bytes(bytes(10_000))  # truncated under the reader
    with pytest.raises(ClientError, match="shrank"):
        async for _ in iterator:
            pass
    assert reader.closed


async def test_a_file_that_cannot_be_opened_is_a_client_error(tmp_path: Path):
    source = tmp_path / "a.bin"
    source.write_bytes(b"abc")
    reader = reader_for(source)
    source.unlink()
    with pytest.raises(ClientError, match="cannot read"):
        await anext(aiter(reader))
    assert reader.closed
