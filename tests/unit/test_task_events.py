"""A task's log lines and progress: written one by one, or grouped by a worker's writer thread.

Real SQLite; the grouped writer's commits are counted with an engine event.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, sqlite_url
from agent.engine import task_events
from agent.engine.queue import ClaimedTask
from agent.engine.task_events import GroupedEvents, TaskEvent
from agent.engine.tasks import TaskContext
from shared.protocol import EventKind

Factory = sessionmaker[Session]


@pytest.fixture
def engine_and_factory(tmp_path: Path) -> Iterator[tuple[Any, Factory]]:
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    yield engine, make_session_factory(engine)
    engine.dispose()


def _task(task_id: int = 7) -> ClaimedTask:
    return ClaimedTask(
        id=task_id, type="diagnostic.emit", project="demo", version="1.0.0", revision=None,
        args={}, attempt=1, max_attempts=3, timeout_seconds=60,
    )  # fmt: skip


def _events(factory: Factory) -> list[models.Event]:
    with factory() as session:
        return list(session.scalars(select(models.Event).order_by(models.Event.id)))


def _line(n: int) -> TaskEvent:
    return TaskEvent(EventKind.TASK_LOG, {"level": "info", "message": f"line {n}"})


def test_a_handler_without_a_writer_writes_each_event_at_once(
    engine_and_factory: tuple[Any, Factory], tmp_path: Path
) -> None:
    _, factory = engine_and_factory
    ctx = TaskContext(
        task=_task(), factory=factory, blobs=BlobStore(tmp_path / "blobs", max_size=1 << 20)
    )
    ctx.log("hello", level="warning", data={"seq": 1})
    assert [e.data for e in _events(factory)] == [
        {"seq": 1, "level": "warning", "message": "hello", "attempt": 1}
    ]
    ctx.progress(1, 4)
    last = _events(factory)[-1]
    assert (last.kind, last.data) == ("task.progress", {"done": 1, "total": 4, "attempt": 1})
    assert (last.project, last.version, last.task_id) == ("demo", "1.0.0", 7)
    with pytest.raises(ValueError, match="log level"):
        ctx.log("x", level="loud")


def test_grouped_events_keep_their_order_and_share_commits(
    engine_and_factory: tuple[Any, Factory], tmp_path: Path
) -> None:
    engine, factory = engine_and_factory
    commits = []
    event.listen(engine, "commit", lambda _conn: commits.append(1))
    writer = GroupedEvents(factory, task_id=7, project="demo", version="1.0.0")
    ctx = TaskContext(
        task=_task(),
        factory=factory,
        blobs=BlobStore(tmp_path / "blobs", max_size=1 << 20),
        events=writer,
    )
    for n in range(2000):
        ctx.log(f"line {n}")
    writer.close()
    rows = _events(factory)
    assert [r.data["message"] for r in rows] == [f"line {n}" for n in range(2000)]
    assert all((r.kind, r.task_id, r.project) == ("task.log", 7, "demo") for r in rows)
    assert writer.written == 2000 and writer.dropped == 0
    assert len(commits) < 2000  # lines logged while a commit ran went in the next one
    with pytest.raises(RuntimeError, match="closed"):
        writer.add(_line(0))


def test_a_handler_waits_when_too_many_events_are_pending(
    engine_and_factory: tuple[Any, Factory], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, factory = engine_and_factory
    gate = threading.Event()
    real_write = task_events._write
    most = [0]

    def slow_write(*args: Any, **kwargs: Any) -> None:
        gate.wait(30)
        real_write(*args, **kwargs)

    monkeypatch.setattr(task_events, "_write", slow_write)
    writer = GroupedEvents(factory, task_id=7, project="demo", version="1.0.0", max_pending=5)

    def handler() -> None:
        for n in range(50):
            writer.add(_line(n))
            most[0] = max(most[0], len(writer._pending))

    thread = threading.Thread(target=handler)
    thread.start()
    thread.join(0.5)
    assert thread.is_alive()  # held back: the writer is stuck and 5 are pending
    assert most[0] <= 5
    gate.set()
    thread.join(30)
    writer.close()
    assert [r.data["message"] for r in _events(factory)] == [f"line {n}" for n in range(50)]


def test_a_batch_the_database_refuses_is_retried(
    engine_and_factory: tuple[Any, Factory], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, factory = engine_and_factory
    real_write = task_events._write
    failures = [2]

    def flaky_write(*args: Any, **kwargs: Any) -> None:
        if failures[0]:
            failures[0] -= 1
            raise OperationalError("INSERT", {}, Exception("database is locked"))
        real_write(*args, **kwargs)

    monkeypatch.setattr(task_events, "_write", flaky_write)
    monkeypatch.setattr(task_events, "RETRY_SECONDS", (0.01, 0.01, 0.01))
    writer = GroupedEvents(factory, task_id=7, project="demo", version="1.0.0")
    writer.add(_line(1))
    writer.close()
    assert [r.data["message"] for r in _events(factory)] == ["line 1"]
    assert (writer.written, writer.dropped) == (1, 0)
