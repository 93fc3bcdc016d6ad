"""A 200 MB upload streams through the agent without growing its memory."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator

import psutil
import pytest

from tests.support.agent import AgentFactory

pytestmark = pytest.mark.integration

MIB = 1024 * 1024
SIZE = 200 * MIB
MAX_GROWTH = 50 * MIB


class Chunks:
    """200 MiB made chunk by chunk (never held whole), hashed as it is sent."""

    def __init__(self, total: int, chunk: int = MIB) -> None:
        self.total = total
        self.chunk = chunk
        self.sha256 = hashlib.sha256()
        self._block = os.urandom(chunk)

    def __iter__(self) -> Iterator[bytes]:
        sent = 0
        n = 0
        while sent < self.total:
            size = min(self.chunk, self.total - sent)
            data = n.to_bytes(8, "big") + self._block[8:size] if size > 8 else self._block[:size]
            self.sha256.update(data)
            sent += size
            n += 1
            yield data


class PeakRss:
    """Samples a process's resident memory in a thread and keeps the peak."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, self.process.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def test_200_mb_upload_keeps_agent_memory_flat(agent_factory: AgentFactory) -> None:
    agent = agent_factory(workers=0)
    with agent.client(agent.committer_token, timeout=300) as c:
        # Warm up (imports, thread pool, first request) before measuring.
        assert c.post("/uploads", content=b"warm-up" * 1000).status_code == 201
        before = psutil.Process(agent.pid).memory_info().rss
        body = Chunks(SIZE)
        with PeakRss(agent.pid) as rss:
            r = c.post(
                "/uploads",
                content=iter(body),
                headers={"Content-Length": str(SIZE), "X-Atr-Filename": "big.tar.gz"},
            )
        assert r.status_code == 201, r.text
        info = r.json()
        assert info["size"] == SIZE
        assert info["sha256"] == body.sha256.hexdigest()
        after = psutil.Process(agent.pid).memory_info().rss
        growth = rss.peak - before
        assert growth < MAX_GROWTH, (
            f"agent RSS grew by {growth / MIB:.1f} MiB during a {SIZE // MIB} MiB upload "
            f"(before {before / MIB:.1f}, peak {rss.peak / MIB:.1f}, after {after / MIB:.1f})"
        )
        blob = agent.data_dir / "blobs" / info["sha256"][:2] / info["sha256"][2:4] / info["sha256"]
        assert blob.stat().st_size == SIZE
        # The download streams back the same bytes.
        digest = hashlib.sha256()
        with c.stream("GET", f"/blobs/{info['sha256']}") as download:
            assert download.status_code == 200
            assert download.headers["content-length"] == str(SIZE)
            for chunk in download.iter_bytes(MIB):
                digest.update(chunk)
        assert digest.hexdigest() == info["sha256"]
        assert psutil.Process(agent.pid).memory_info().rss - before < MAX_GROWTH
