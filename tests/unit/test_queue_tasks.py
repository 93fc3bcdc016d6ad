"""Task handlers run against a real SQLite database and blob store: inventory, diagnostic.emit."""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from agent.blobs import BlobStore
from agent.db import models
from agent.db.session import transaction
from agent.engine import queue
from agent.engine.tasks import InvalidTaskArgs, TaskContext, TaskError, run_task
from agent.engine.tasks.diagnostic import parse_args
from shared.protocol import TaskType
from tests.unit.test_queue import Factory, add_task, factory, task_events

__all__ = ["factory"]  # the fixture, imported for pytest


def _tar(mode: str, members: dict[str, bytes], *, with_dir: bool = True) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as archive:
        if with_dir:
            info = tarfile.TarInfo("demo-1.0.0")
            info.type = tarfile.DIRTYPE
            archive.addfile(info)
        for name, data in members.items():
            info = tarfile.TarInfo(f"demo-1.0.0/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def blobs(tmp_path: Path) -> BlobStore:
    return BlobStore(tmp_path / "blobs", max_size=64 * 1024 * 1024)


def make_release(
    factory: Factory, blobs: BlobStore, tmp_path: Path, revisions: list[dict[str, bytes]]
) -> None:
    """Project ``demo``, release ``1.0.0`` with one revision per dict of path → content."""
    with transaction(factory) as session:
        committee = models.Committee(name="demo", display_name="Demo")
        session.add(committee)
        session.flush()
        project = models.Project(key="demo", name="Demo", committee_id=committee.id)
        session.add(project)
        session.flush()
        release = models.Release(
            project_id=project.id, version="1.0.0", phase="compose", created_by="alice"
        )
        session.add(release)
        session.flush()
        for number, files in enumerate(revisions, start=1):
            revision = models.Revision(release_id=release.id, number=number, created_by="alice")
            session.add(revision)
            session.flush()
            for path, content in files.items():
                source = tmp_path / "upload.bin"
                source.write_bytes(content)
                info = blobs.put_file(source)
                if session.get(models.Blob, info.sha256) is None:
                    session.add(models.Blob(sha256=info.sha256, sha512=info.sha512, size=info.size))
                    session.flush()
                session.add(
                    models.RevisionFile(revision_id=revision.id, path=path, blob_sha256=info.sha256)
                )


def run_inventory(
    factory: Factory, blobs: BlobStore, *, revision: int | None = None, args: Any = None
) -> tuple[int, dict[str, Any]]:
    task_id = add_task(factory, type=TaskType.INVENTORY, args=args or {}, revision=revision)
    claimed = queue.claim(factory, owner="test", lease_seconds=30)
    assert claimed is not None and claimed.id == task_id
    return task_id, run_task(TaskContext(task=claimed, factory=factory, blobs=blobs))


def test_inventory_of_archives_and_plain_files(
    factory: Factory, blobs: BlobStore, tmp_path: Path
) -> None:
    big = os.urandom(300_000)  # incompressible, so a cut lands inside the data
    files = {
        "demo-1.0.0-src.tar.gz": _tar("w:gz", {"README": b"hi", "src/a.py": b"x = 1\n"}),
        "demo-1.0.0-bin.tgz": _tar("w:gz", {"a": b"a"}, with_dir=False),
        "demo-1.0.0.tar.bz2": _tar("w:bz2", {"a": b"a", "b": b"b"}),
        "demo-1.0.0.tar.xz": _tar("w:xz", {"a": b"a", "b": b"b", "c": b"c"}),
        "demo-1.0.0.tar": _tar("w", {"a": b"a"}),
        "demo-1.0.0.zip": _zip({"demo/README": b"hi", "demo/LICENSE": b"AL2", "demo/x": b""}),
        "truncated.tar.gz": _tar("w:gz", {"big": big})[:150_000],
        "truncated.tar": _tar("w", {"big": big})[:100_000],
        "corrupt.zip": b"PK\x03\x04 this is not really a zip file",
        "demo-1.0.0.tar.gz.sha512": b"abc  demo-1.0.0-src.tar.gz\n",
        "empty.txt": b"",
    }
    make_release(factory, blobs, tmp_path, [files])
    task_id, result = run_inventory(factory, blobs)

    by_path = {f["path"]: f for f in result["files"]}
    assert sorted(by_path) == sorted(files)
    for path, content in files.items():
        entry = by_path[path]
        assert entry["size"] == len(content), path
        assert entry["sha512"] == hashlib.sha512(content).hexdigest(), path
    assert result["total_size"] == sum(len(c) for c in files.values())

    members = {p: (f["members"], f["error"]) for p, f in by_path.items()}
    assert members["demo-1.0.0-src.tar.gz"] == (3, None)
    assert members["demo-1.0.0-bin.tgz"] == (1, None)
    assert members["demo-1.0.0.tar.bz2"] == (3, None)
    assert members["demo-1.0.0.tar.xz"] == (4, None)
    assert members["demo-1.0.0.tar"] == (2, None)
    assert members["demo-1.0.0.zip"] == (3, None)
    assert members["demo-1.0.0.tar.gz.sha512"] == (None, None)
    assert members["empty.txt"] == (None, None)
    for bad in ("truncated.tar.gz", "truncated.tar", "corrupt.zip"):
        assert members[bad][0] is None, bad
        assert "not a readable" in (members[bad][1] or ""), bad

    events = task_events(factory, task_id)
    logs = [e for e in events if e.kind == "task.log"]
    assert len(logs) == len(files)
    assert all(e.project == "demo" and e.version == "1.0.0" for e in events)
    warned = {e.data["message"].split(":")[0] for e in logs if e.data["level"] == "warning"}
    assert warned == {"truncated.tar.gz", "truncated.tar", "corrupt.zip"}
    progress = [e.data for e in events if e.kind == "task.progress"]
    assert progress[0] == {"done": 0, "total": len(files), "attempt": 1}
    assert progress[-1] == {"done": len(files), "total": len(files), "attempt": 1}


def test_inventory_picks_the_revision(factory: Factory, blobs: BlobStore, tmp_path: Path) -> None:
    make_release(factory, blobs, tmp_path, [{"a.txt": b"one"}, {"a.txt": b"one", "b.txt": b"2"}])
    _, latest = run_inventory(factory, blobs)
    assert [f["path"] for f in latest["files"]] == ["a.txt", "b.txt"]
    _, first = run_inventory(factory, blobs, revision=1)
    assert [f["path"] for f in first["files"]] == ["a.txt"]
    with pytest.raises(InvalidTaskArgs, match="no revision 7"):
        run_inventory(factory, blobs, revision=7)


def test_inventory_detects_an_altered_blob(
    factory: Factory, blobs: BlobStore, tmp_path: Path
) -> None:
    make_release(factory, blobs, tmp_path, [{"ok.txt": b"fine", "dist/app.tar.gz": b"original"}])
    path = blobs.path_for(hashlib.sha256(b"original").hexdigest())
    path.chmod(stat.S_IWUSR | stat.S_IRUSR)
    path.write_bytes(b"tampered")
    with pytest.raises(TaskError, match=r"dist/app\.tar\.gz") as err:
        run_inventory(factory, blobs)
    assert not err.value.retryable


def test_inventory_reports_a_missing_blob(
    factory: Factory, blobs: BlobStore, tmp_path: Path
) -> None:
    make_release(factory, blobs, tmp_path, [{"gone.txt": b"soon gone"}])
    blobs.path_for(hashlib.sha256(b"soon gone").hexdigest()).unlink()
    with pytest.raises(TaskError, match=r"gone\.txt.*missing"):
        run_inventory(factory, blobs)


def test_inventory_refuses_bad_input(factory: Factory, blobs: BlobStore) -> None:
    with pytest.raises(InvalidTaskArgs, match=r"no release demo 1\.0\.0"):
        run_inventory(factory, blobs)
    with pytest.raises(InvalidTaskArgs, match="no arguments"):
        run_inventory(factory, blobs, args={"deep": True})


def test_unknown_task_type_is_refused(factory: Factory, blobs: BlobStore) -> None:
    task = queue.ClaimedTask(
        id=1,
        type="no.such",
        project=None,
        version=None,
        revision=None,
        args={},
        attempt=1,
        max_attempts=1,
        timeout_seconds=10,
    )
    with pytest.raises(InvalidTaskArgs, match=r"no\.such"):
        run_task(TaskContext(task=task, factory=factory, blobs=blobs))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({}, "'count' must be an integer"),
        ({"count": "3", "rate": 1}, "'count' must be an integer"),
        ({"count": True, "rate": 1}, "'count' must be an integer"),
        ({"count": 0, "rate": 1}, "'count' must be 1 to"),
        ({"count": 1}, "'rate' must be a number"),
        ({"count": 1, "rate": 0}, "'rate' must be above 0"),
        ({"count": 1, "rate": -1.5}, "'rate' must be above 0"),
        ({"count": 1, "rate": 1, "payload_bytes": -1}, "'payload_bytes' must be 0 to"),
        ({"count": 1, "rate": 1, "payload_bytes": 1.5}, "'payload_bytes' must be an integer"),
        ({"count": 1, "rate": 1, "colour": "red"}, "unknown arguments"),
    ],
)
def test_diagnostic_emit_validates_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTaskArgs, match=message) as err:
        parse_args(args)
    assert not err.value.retryable


def test_diagnostic_emit_logs_count_lines(factory: Factory, blobs: BlobStore) -> None:
    task_id = add_task(factory, args={"count": 4, "rate": 1000, "payload_bytes": 10})
    claimed = queue.claim(factory, owner="test", lease_seconds=30)
    assert claimed is not None
    result = run_task(TaskContext(task=claimed, factory=factory, blobs=blobs))
    assert result["emitted"] == 4
    logs = [e.data for e in task_events(factory, task_id) if e.kind == "task.log"]
    assert [d["seq"] for d in logs] == [1, 2, 3, 4]
    assert logs[0]["message"] == "line 1/4 " + "x" * 10
