"""The task queue on SQLite: claim with a lease, heartbeat, complete, retry, reclaim, events."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from agent.db import models
from agent.db.models import utcnow
from agent.db.session import make_engine, make_session_factory, migrate, sqlite_url, transaction
from agent.engine import queue
from agent.engine.queue import LeaseLost, TaskNotFound
from shared.protocol import EventKind, TaskType

Factory = sessionmaker[Session]


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[Factory]:
    """A migrated SQLite database in a temp dir."""
    engine = make_engine(sqlite_url(tmp_path))
    migrate(engine)
    yield make_session_factory(engine)
    engine.dispose()


def add_task(
    factory: Factory,
    *,
    type: TaskType = TaskType.DIAGNOSTIC_EMIT,
    args: dict[str, Any] | None = None,
    project: str | None = "demo",
    version: str | None = "1.0.0",
    revision: int | None = None,
    **kwargs: Any,
) -> int:
    with transaction(factory) as session:
        task = queue.enqueue(
            session,
            type,
            project=project,
            version=version,
            revision=revision,
            args={"count": 1, "rate": 100.0} if args is None else args,
            created_by=kwargs.pop("created_by", "alice"),
            **kwargs,
        )
        return task.id


def task_row(factory: Factory, task_id: int) -> models.Task:
    with factory() as session:
        row = session.get(models.Task, task_id)
        assert row is not None
        return row


def task_events(factory: Factory, task_id: int) -> list[models.Event]:
    with factory() as session:
        return list(
            session.scalars(
                select(models.Event)
                .where(models.Event.task_id == task_id)
                .order_by(models.Event.id)
            )
        )


def kinds(factory: Factory, task_id: int) -> list[str]:
    return [e.kind for e in task_events(factory, task_id)]


def expire_lease(factory: Factory, task_id: int) -> None:
    """Move the lease into the past, as if its worker had stopped heartbeating."""
    with transaction(factory) as session:
        session.execute(
            update(models.Task)
            .where(models.Task.id == task_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )


def make_due(factory: Factory, task_id: int) -> None:
    """Bring a retry's ``available_at`` to now, as if the backoff had passed."""
    with transaction(factory) as session:
        session.execute(
            update(models.Task).where(models.Task.id == task_id).values(available_at=utcnow())
        )


def test_enqueue_claim_heartbeat_complete(factory: Factory) -> None:
    task_id = add_task(factory, revision=2, args={"count": 2, "rate": 5.0})
    assert task_row(factory, task_id).state == "queued"

    claimed = queue.claim(factory, owner="w1", lease_seconds=30)
    assert claimed is not None
    assert claimed == queue.ClaimedTask(
        id=task_id,
        type="diagnostic.emit",
        project="demo",
        version="1.0.0",
        revision=2,
        args={"count": 2, "rate": 5.0},
        attempt=1,
        max_attempts=3,
        timeout_seconds=3600,
    )
    row = task_row(factory, task_id)
    assert (row.state, row.lease_owner, row.attempts) == ("running", "w1", 1)
    assert row.started_at is not None and row.lease_expires_at is not None
    assert queue.claim(factory, owner="w2", lease_seconds=30) is None

    first_lease = row.lease_expires_at
    assert queue.heartbeat(factory, task_id, owner="w1", lease_seconds=120)
    lease = task_row(factory, task_id).lease_expires_at
    assert lease is not None and lease > first_lease

    queue.complete(factory, task_id, owner="w1", result={"ok": True})
    row = task_row(factory, task_id)
    assert (row.state, row.result, row.lease_owner, row.error) == (
        "succeeded",
        {"ok": True},
        None,
        None,
    )
    assert row.finished_at is not None

    events = task_events(factory, task_id)
    assert [e.kind for e in events] == ["task.queued", "task.started", "task.finished"]
    assert all((e.project, e.version, e.task_id) == ("demo", "1.0.0", task_id) for e in events)
    assert events[0].actor == "alice"
    assert events[1].data == {"attempt": 1, "owner": "w1"}
    finished = events[2].data
    assert finished["state"] == "succeeded"
    assert isinstance(finished["duration_ms"], int) and finished["duration_ms"] >= 0
    assert not queue.heartbeat(factory, task_id, owner="w1", lease_seconds=30)


def test_oldest_first_and_only_when_available(factory: Factory) -> None:
    first = add_task(factory)
    second = add_task(factory)
    later = add_task(factory)
    with transaction(factory) as session:
        session.execute(
            update(models.Task)
            .where(models.Task.id == later)
            .values(available_at=utcnow() + timedelta(hours=1))
        )
    got = [queue.claim(factory, owner="w", lease_seconds=30) for _ in range(3)]
    assert [t.id if t else None for t in got] == [first, second, None]


def test_retry_with_backoff_until_max_attempts(factory: Factory) -> None:
    task_id = add_task(factory, max_attempts=3)
    delays = []
    for attempt in (1, 2, 3):
        claimed = queue.claim(factory, owner=f"w{attempt}", lease_seconds=30)
        assert claimed is not None and claimed.attempt == attempt
        before = utcnow()
        queue.fail(factory, task_id, owner=f"w{attempt}", error=f"boom {attempt}")
        row = task_row(factory, task_id)
        if attempt < 3:
            assert row.state == "queued" and row.lease_owner is None
            delay = queue.retry_delay(attempt)
            delays.append(delay)
            assert row.available_at >= before + timedelta(seconds=delay - 0.01)
            # not claimable before its backoff has passed
            assert queue.claim(factory, owner="other", lease_seconds=30) is None
            make_due(factory, task_id)
    assert delays == [queue.RETRY_BASE_SECONDS, 2 * queue.RETRY_BASE_SECONDS]

    row = task_row(factory, task_id)
    assert (row.state, row.attempts, row.error) == ("failed", 3, "boom 3")
    events = task_events(factory, task_id)
    assert [e.kind for e in events] == [
        "task.queued",
        "task.started",
        "task.retry",
        "task.started",
        "task.retry",
        "task.started",
        "task.finished",
    ]
    retry = events[2].data
    assert retry["reason"] == "error" and retry["error"] == "boom 1" and retry["attempt"] == 1
    assert retry["delay_seconds"] == queue.RETRY_BASE_SECONDS
    assert events[-1].data["state"] == "failed" and events[-1].data["error"] == "boom 3"
    assert queue.claim(factory, owner="w", lease_seconds=30) is None


def test_retry_delay_is_capped() -> None:
    assert queue.retry_delay(1) == queue.RETRY_BASE_SECONDS
    assert queue.retry_delay(4) == 8 * queue.RETRY_BASE_SECONDS
    assert queue.retry_delay(50) == queue.RETRY_MAX_SECONDS


def test_not_retryable_fails_at_once(factory: Factory) -> None:
    task_id = add_task(factory, max_attempts=5)
    assert queue.claim(factory, owner="w", lease_seconds=30) is not None
    queue.fail(factory, task_id, owner="w", error="bad args", retryable=False)
    row = task_row(factory, task_id)
    assert (row.state, row.attempts, row.error) == ("failed", 1, "bad args")
    assert kinds(factory, task_id)[-1] == "task.finished"


def test_expired_lease_is_reclaimed_and_the_old_owner_is_locked_out(factory: Factory) -> None:
    task_id = add_task(factory)
    assert queue.claim(factory, owner="dead", lease_seconds=30) is not None
    assert queue.claim(factory, owner="alive", lease_seconds=30) is None  # lease still valid
    expire_lease(factory, task_id)

    claimed = queue.claim(factory, owner="alive", lease_seconds=30)
    assert claimed is not None and claimed.id == task_id and claimed.attempt == 2
    retry = [e for e in task_events(factory, task_id) if e.kind == "task.retry"]
    assert len(retry) == 1
    assert retry[0].data["reason"] == "lease_expired"
    assert retry[0].data["previous_owner"] == "dead"
    assert (retry[0].project, retry[0].version) == ("demo", "1.0.0")

    # the worker that lost its lease can neither heartbeat nor report
    assert not queue.heartbeat(factory, task_id, owner="dead", lease_seconds=30)
    with pytest.raises(LeaseLost):
        queue.complete(factory, task_id, owner="dead", result={"stale": True})
    with pytest.raises(LeaseLost):
        queue.fail(factory, task_id, owner="dead", error="stale")
    row = task_row(factory, task_id)
    assert (row.state, row.lease_owner, row.result) == ("running", "alive", None)

    queue.complete(factory, task_id, owner="alive", result={"fresh": True})
    with pytest.raises(LeaseLost):
        queue.complete(factory, task_id, owner="dead", result={"stale": True})
    assert task_row(factory, task_id).result == {"fresh": True}
    assert kinds(factory, task_id).count("task.started") == 2


def test_expired_lease_without_attempts_left_fails(factory: Factory) -> None:
    task_id = add_task(factory, max_attempts=1)
    other = add_task(factory)
    assert queue.claim(factory, owner="dead", lease_seconds=30) is not None
    expire_lease(factory, task_id)
    claimed = queue.claim(factory, owner="alive", lease_seconds=30)
    assert claimed is not None and claimed.id == other  # went on to the next task
    row = task_row(factory, task_id)
    assert row.state == "failed" and "lost its lease" in (row.error or "")
    assert kinds(factory, task_id)[-1] == "task.finished"


def test_release_hands_back_without_counting_the_attempt(factory: Factory) -> None:
    task_id = add_task(factory)
    assert queue.claim(factory, owner="w1", lease_seconds=30) is not None
    with pytest.raises(LeaseLost):
        queue.release(factory, task_id, owner="w2", reason="not mine")
    queue.release(factory, task_id, owner="w1", reason="the worker was stopped")
    row = task_row(factory, task_id)
    assert (row.state, row.attempts, row.lease_owner) == ("queued", 0, None)
    claimed = queue.claim(factory, owner="w2", lease_seconds=30)
    assert claimed is not None and claimed.attempt == 1
    assert task_events(factory, task_id)[2].data["reason"] == "released"


def test_complete_of_an_unknown_task(factory: Factory) -> None:
    with pytest.raises(TaskNotFound):
        queue.complete(factory, 9999, owner="w", result={})


def test_enqueue_rejects_bad_limits(factory: Factory) -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        add_task(factory, max_attempts=0)
    with pytest.raises(ValueError, match="timeout"):
        add_task(factory, timeout_seconds=0)


def test_concurrent_claims_take_each_task_once(factory: Factory) -> None:
    ids = [add_task(factory) for _ in range(40)]
    taken: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def work(owner: str) -> None:
        mine = taken.setdefault(owner, [])
        try:
            while (task := queue.claim(factory, owner=owner, lease_seconds=30)) is not None:
                mine.append(task.id)
                queue.complete(factory, task.id, owner=owner, result={})
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    all_taken = sorted(i for got in taken.values() for i in got)
    assert all_taken == ids
    with factory() as session:
        started = session.scalars(
            select(models.Event.task_id).where(models.Event.kind == EventKind.TASK_STARTED.value)
        ).all()
    assert sorted(started) == ids
