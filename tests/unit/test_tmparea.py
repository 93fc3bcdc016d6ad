"""The agent's temporary area: swept of dead processes' leftovers at start, and bounded."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from agent.blobs import BlobStore
from agent.tmparea import TempArea, TempAreaFull, sweep, usage_bytes

ROOT = Path(__file__).resolve().parents[2]

_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from agent.tmparea import TempArea
    area = TempArea.open(Path(sys.argv[1]))
    (area.folder / "blob-x.part").write_bytes(b"u" * 5000)
    (area.folder / "check-1").mkdir()
    (area.folder / "check-1" / "a.tar.gz").symlink_to("/etc/hostname")
    print(area.folder, flush=True)
    time.sleep(600)
    """
)


def _holder(root: Path) -> tuple[subprocess.Popen[str], Path]:
    """Another process with its own folder in ``root``, holding files in it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(root)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    folder = Path(proc.stdout.readline().strip())
    return proc, folder


def test_a_killed_processs_leftovers_are_swept_and_a_live_ones_kept(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    alive, alive_folder = _holder(root)
    killed, killed_folder = _holder(root)
    try:
        killed.send_signal(signal.SIGKILL)  # kill -9: nothing of its own cleanup runs
        killed.wait(10)
        # what older agents left directly in tmp/ (their layout had no folder per process)
        (root / "blob-abc.part").write_bytes(b"x" * 117)
        (root / "check-zz").mkdir()
        (root / "check-zz" / "apache-x.tar.gz").symlink_to("/etc/hostname")
        assert killed_folder.is_dir() and (killed_folder / "blob-x.part").exists()

        area = TempArea.open(root)  # the agent (or a worker) starting

        left = sorted(p.name for p in root.iterdir())
        assert left == sorted(
            [
                alive_folder.name,
                alive_folder.name + ".lock",
                area.folder.name,
                area.folder.name + ".lock",
            ]
        )
        assert (alive_folder / "blob-x.part").read_bytes() == b"u" * 5000
        area.close()
        assert sorted(p.name for p in root.iterdir()) == sorted(
            [alive_folder.name, alive_folder.name + ".lock"]
        )
    finally:
        alive.kill()
        alive.wait(10)
    assert sweep(root).entries == 1  # the holder is dead now: its folder and lock go
    assert list(root.iterdir()) == []


def test_usage_counts_files_not_the_blobs_links_point_to(tmp_path: Path) -> None:
    big = tmp_path / "blob"
    big.write_bytes(b"b" * 10_000)
    root = tmp_path / "tmp"
    (root / "p" / "check-1").mkdir(parents=True)
    (root / "p" / "check-1" / "link").symlink_to(big)
    (root / "p" / "blob-1.part").write_bytes(b"x" * 300)
    assert usage_bytes(root) == 300


async def _chunks(total: int, size: int = 1 << 20) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        n = min(size, total - sent)
        sent += n
        yield b"z" * n
        await asyncio.sleep(0)


async def test_uploads_are_refused_once_the_area_is_full(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs", max_size=10 << 20, tmp_max_bytes=3 << 20)
    other = store.tmp_dir.parent / "p-someone-else"  # another upload in progress
    other.mkdir()
    (other / "blob-1.part").write_bytes(b"o" * (2 << 20))

    with pytest.raises(TempAreaFull) as refused:
        await store.put_stream(_chunks(2 << 20), size_hint=2 << 20)
    assert "temporary area is full" in refused.value.message
    assert "tmp_max_bytes" in (refused.value.hint or "")
    info = await store.put_stream(_chunks(1 << 20), size_hint=1 << 20)  # what fits is stored
    assert info.size == 1 << 20
    assert list(store.tmp_dir.iterdir()) == []


async def test_a_growing_upload_stops_when_the_area_fills_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("agent.blobs.ROOM_CHECK_BYTES", 1 << 20)
    store = BlobStore(tmp_path / "blobs", max_size=100 << 20, tmp_max_bytes=8 << 20)
    # announced as small, but it keeps coming: the area's bound still holds
    with pytest.raises(TempAreaFull):
        await store.put_stream(_chunks(20 << 20), size_hint=1)
    assert list(store.tmp_dir.iterdir()) == []


def test_the_area_is_opened_on_first_use_and_given_back(tmp_path: Path) -> None:
    leftover = tmp_path / "tmp" / "blob-old.part"
    leftover.parent.mkdir()
    leftover.write_bytes(b"left by a kill -9")
    store = BlobStore(tmp_path / "blobs", max_size=1 << 20)
    assert leftover.exists()  # reading blobs (the CLI) touches nothing
    folder = store.open_tmp().folder
    assert not leftover.exists() and folder.is_dir()
    store.close()
    store.close()
    assert list((tmp_path / "tmp").iterdir()) == []


def test_sweeps_between_claims_never_take_a_live_processs_folder(tmp_path: Path) -> None:
    root = tmp_path / "tmp"
    areas = [TempArea.open(root) for _ in range(5)]
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        sweep(root)
        fresh = TempArea.open(root)
        assert fresh.folder.is_dir()
        areas.append(fresh)
    assert all(a.folder.is_dir() for a in areas)
    for area in areas:
        area.close()
    assert os.listdir(root) == []
