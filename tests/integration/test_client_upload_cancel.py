"""A cancelled upload against a real agent: the file is closed at once, nothing is stored,
and no async generator is left to be finalized half-way (which Python reports as an
unraisable ``RuntimeError: async generator ignored GeneratorExit``)."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.client import AgentClient
from shared.protocol import BlobInfo
from tests.support.agent import AgentProcess

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning"),
]

CHUNK = 64 * 1024


@contextlib.contextmanager
def loop_without_asyncgen_hooks() -> Iterator[None]:
    """Async generators first iterated inside are finalized by the garbage collector, not
    by the event loop: so it is on qasync's loop, which the desktop runs the client on."""
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
    try:
        yield
    finally:
        sys.set_asyncgen_hooks(*hooks)


def open_files() -> set[str]:
    """What this process has open (Linux: /proc/self/fd)."""
    out: set[str] = set()
    for fd in Path("/proc/self/fd").iterdir():
        with contextlib.suppress(OSError):
            out.add(os.readlink(fd))
    return out


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc/self/fd")
async def test_cancelled_upload_closes_the_file_and_stores_nothing(
    agent: AgentProcess, tmp_path: Path
):
    big = tmp_path / "apache-acme-lib-9.0.0-src.tar.gz"
    big.write_bytes(os.urandom(8 * 1024 * 1024))
    digest = hashlib.sha256(big.read_bytes()).hexdigest()
    sent: list[int] = []
    async with AgentClient(agent.url, token=agent.committer_token, timeout=30) as client:
        with loop_without_asyncgen_hooks():
            uploads: list[asyncio.Task[BlobInfo]] = []

            def cancel_after_the_first_chunk(done: int, _total: int) -> None:
                sent.append(done)
                if done > 0 and len(sent) == 2:
                    uploads[0].cancel()

            uploads.append(
                asyncio.create_task(
                    client.upload_blob(big, progress=cancel_after_the_first_chunk, chunk_size=CHUNK)
                )
            )
            with pytest.raises(asyncio.CancelledError):
                await uploads[0]
            # The file is closed by the time the cancellation reaches the caller...
            assert str(big) not in open_files()
            uploads.clear()
            gc.collect()  # ...and nothing is left for the collector to finalize
        assert 0 < sent[-1] < big.stat().st_size
        with agent.client(agent.committer_token) as http:
            assert http.get(f"/blobs/{digest}").status_code == 404  # nothing was stored

        # The same file uploads whole afterwards.
        info = await client.upload_blob(big, chunk_size=CHUNK)
    assert (info.sha256, info.size) == (digest, big.stat().st_size)
    assert str(big) not in open_files()
