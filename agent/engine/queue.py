"""The task queue: a ``tasks`` table that workers claim with a lease and heartbeat.

A task goes ``queued`` → ``running`` → ``succeeded`` | ``failed``. :func:`claim`
takes the oldest queued task whose ``available_at`` has come, or a running one
whose lease expired (its worker died). Only the lease owner may
:func:`heartbeat`, :func:`complete`, :func:`fail` or :func:`release` a task, so a
worker that lost its lease can never overwrite the new owner's result: those
calls raise :class:`LeaseLost` (``heartbeat`` returns ``False``). A task moved
out of ``running`` by someone else (``cancelled``) also ends its lease: the
worker sees it at its next heartbeat and stops.

On PostgreSQL a claim locks the row with ``FOR UPDATE SKIP LOCKED`` so agents
never wait for each other; on SQLite the engine's ``BEGIN IMMEDIATE`` serializes
writers. Every state change records its event (through
:func:`agent.engine.events.append_event`) in the same transaction, and every
event about a task carries its project, version and task id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from agent.db import models
from agent.db.models import utcnow
from agent.db.session import transaction
from agent.engine.events import append_event
from shared.errors import AtrError
from shared.protocol import EventKind, TaskState, TaskType

RETRY_BASE_SECONDS = 5.0
"""Delay before the second attempt; it doubles with each further attempt."""
RETRY_MAX_SECONDS = 600.0
"""Longest delay between two attempts."""
LOG_LEVELS = frozenset({"debug", "info", "warning", "error"})

_RECLAIM_SCAN_LIMIT = 100


class LeaseLost(AtrError):
    """The worker no longer holds the task's lease: another worker took it, or it finished."""

    def __init__(self, task_id: int, owner: str) -> None:
        super().__init__(f"task {task_id} is no longer leased to {owner}")
        self.task_id = task_id
        self.owner = owner


class TaskNotFound(AtrError):
    """No task has the given id."""

    def __init__(self, task_id: int) -> None:
        super().__init__(f"there is no task {task_id}")
        self.task_id = task_id


@dataclass(frozen=True)
class ClaimedTask:
    """What a worker needs to run a task it claimed: a snapshot, detached from any session."""

    id: int
    type: str
    project: str | None
    version: str | None
    revision: int | None
    args: dict[str, Any]
    attempt: int
    max_attempts: int
    timeout_seconds: int


def retry_delay(attempt: int, *, base: float = RETRY_BASE_SECONDS) -> float:
    """Seconds to wait after failed attempt number ``attempt`` (1-based): exponential, capped."""
    return float(min(base * 2 ** max(attempt - 1, 0), RETRY_MAX_SECONDS))


def _event(
    session: Session,
    kind: EventKind,
    task: models.Task,
    data: dict[str, Any],
    *,
    actor: str | None = None,
) -> None:
    append_event(
        session,
        kind,
        actor=actor,
        project=task.project,
        version=task.version,
        task_id=task.id,
        data=data,
    )


def _duration_ms(task: models.Task, now: datetime) -> int | None:
    if task.started_at is None:
        return None
    return max(int((now - task.started_at).total_seconds() * 1000), 0)


def enqueue(
    session: Session,
    type: TaskType,
    *,
    project: str | None,
    version: str | None,
    revision: int | None,
    args: dict[str, Any],
    created_by: str | None,
    max_attempts: int = 3,
    timeout_seconds: int = 3600,
) -> models.Task:
    """Add a queued task and its ``task.queued`` event to ``session``'s transaction."""
    if max_attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if timeout_seconds < 1:
        raise ValueError("timeout_seconds must be at least 1")
    task = models.Task(
        type=type.value,
        state=TaskState.QUEUED.value,
        project=project,
        version=version,
        revision=revision,
        args=dict(args),
        attempts=0,
        max_attempts=max_attempts,
        timeout_seconds=timeout_seconds,
        available_at=utcnow(),
        created_by=created_by,
    )
    session.add(task)
    session.flush()
    _event(
        session,
        EventKind.TASK_QUEUED,
        task,
        {"type": task.type, "revision": revision, "max_attempts": max_attempts},
        actor=created_by,
    )
    return task


def _claimable(session: Session, now: datetime) -> models.Task | None:
    query = (
        select(models.Task)
        .where(
            or_(
                and_(
                    models.Task.state == TaskState.QUEUED.value,
                    models.Task.available_at <= now,
                ),
                and_(
                    models.Task.state == TaskState.RUNNING.value,
                    models.Task.lease_expires_at < now,
                ),
            )
        )
        .order_by(models.Task.available_at, models.Task.id)
        .limit(1)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalars(query).first()


def _reclaim(session: Session, task: models.Task, now: datetime) -> bool:
    """Handle a running task whose lease expired. True if it may run again."""
    lost_owner = task.lease_owner
    if task.attempts >= task.max_attempts:
        error = f"the worker {lost_owner} lost its lease and no attempts are left"
        _finish_failed(session, task, now, error)
        return False
    _event(
        session,
        EventKind.TASK_RETRY,
        task,
        {
            "reason": "lease_expired",
            "attempt": task.attempts,
            "previous_owner": lost_owner,
            "error": f"the lease of worker {lost_owner} expired (the worker died or hung)",
        },
    )
    return True


def claim(
    factory: sessionmaker[Session], *, owner: str, lease_seconds: float
) -> ClaimedTask | None:
    """Lease the next runnable task to ``owner``, or return ``None`` if there is none."""
    with transaction(factory) as session:
        for _ in range(_RECLAIM_SCAN_LIMIT):
            now = utcnow()
            task = _claimable(session, now)
            if task is None:
                return None
            if task.state == TaskState.RUNNING.value and not _reclaim(session, task, now):
                continue
            task.state = TaskState.RUNNING.value
            task.lease_owner = owner
            task.lease_expires_at = now + timedelta(seconds=lease_seconds)
            task.attempts += 1
            task.started_at = now
            task.finished_at = None
            _event(
                session, EventKind.TASK_STARTED, task, {"attempt": task.attempts, "owner": owner}
            )
            return ClaimedTask(
                id=task.id,
                type=task.type,
                project=task.project,
                version=task.version,
                revision=task.revision,
                args=dict(task.args),
                attempt=task.attempts,
                max_attempts=task.max_attempts,
                timeout_seconds=task.timeout_seconds,
            )
    return None


def heartbeat(
    factory: sessionmaker[Session], task_id: int, *, owner: str, lease_seconds: float
) -> bool:
    """Extend ``owner``'s lease on a running task. ``False`` if the lease is no longer ours."""
    with transaction(factory) as session:
        result = session.execute(
            update(models.Task)
            .where(
                models.Task.id == task_id,
                models.Task.lease_owner == owner,
                models.Task.state == TaskState.RUNNING.value,
            )
            .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0) == 1)


def _owned(session: Session, task_id: int, owner: str) -> models.Task:
    query = select(models.Task).where(models.Task.id == task_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    task = session.scalars(query).first()
    if task is None:
        raise TaskNotFound(task_id)
    if task.state != TaskState.RUNNING.value or task.lease_owner != owner:
        raise LeaseLost(task_id, owner)
    return task


def _finish_failed(session: Session, task: models.Task, now: datetime, error: str) -> None:
    task.state = TaskState.FAILED.value
    task.error = error
    task.finished_at = now
    task.lease_owner = None
    task.lease_expires_at = None
    _event(
        session,
        EventKind.TASK_FINISHED,
        task,
        {
            "state": TaskState.FAILED.value,
            "error": error,
            "attempts": task.attempts,
            "duration_ms": _duration_ms(task, now),
        },
    )


def complete(
    factory: sessionmaker[Session], task_id: int, *, owner: str, result: dict[str, Any]
) -> None:
    """Record ``owner``'s task as succeeded with ``result``. Raises :class:`LeaseLost`."""
    with transaction(factory) as session:
        task = _owned(session, task_id, owner)
        now = utcnow()
        task.state = TaskState.SUCCEEDED.value
        task.result = result
        task.error = None
        task.finished_at = now
        task.lease_owner = None
        task.lease_expires_at = None
        _event(
            session,
            EventKind.TASK_FINISHED,
            task,
            {
                "state": TaskState.SUCCEEDED.value,
                "attempts": task.attempts,
                "duration_ms": _duration_ms(task, now),
            },
        )


def fail(
    factory: sessionmaker[Session],
    task_id: int,
    *,
    owner: str,
    error: str,
    retryable: bool = True,
    retry_base_seconds: float = RETRY_BASE_SECONDS,
) -> None:
    """Record a failed attempt of ``owner``'s task.

    While attempts remain (and the error is ``retryable``) the task is queued
    again after an exponential backoff (``task.retry`` event); otherwise it ends
    ``failed`` (``task.finished``). Raises :class:`LeaseLost`.
    """
    with transaction(factory) as session:
        task = _owned(session, task_id, owner)
        now = utcnow()
        if retryable and task.attempts < task.max_attempts:
            delay = retry_delay(task.attempts, base=retry_base_seconds)
            task.state = TaskState.QUEUED.value
            task.error = error
            task.available_at = now + timedelta(seconds=delay)
            task.lease_owner = None
            task.lease_expires_at = None
            _event(
                session,
                EventKind.TASK_RETRY,
                task,
                {
                    "reason": "error",
                    "attempt": task.attempts,
                    "error": error,
                    "delay_seconds": delay,
                    "duration_ms": _duration_ms(task, now),
                },
            )
        else:
            _finish_failed(session, task, now, error)


def release(factory: sessionmaker[Session], task_id: int, *, owner: str, reason: str) -> None:
    """Give ``owner``'s task back to the queue at once, not counting the attempt.

    Used by a worker that is told to stop in the middle of a task, so the task
    does not wait for the lease to expire. Raises :class:`LeaseLost`.
    """
    with transaction(factory) as session:
        task = _owned(session, task_id, owner)
        task.state = TaskState.QUEUED.value
        task.attempts = max(task.attempts - 1, 0)
        task.available_at = utcnow()
        task.lease_owner = None
        task.lease_expires_at = None
        _event(
            session,
            EventKind.TASK_RETRY,
            task,
            {"reason": "released", "attempt": task.attempts + 1, "owner": owner, "error": reason},
        )
