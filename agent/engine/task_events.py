"""How a running task's log lines and progress reach the event log.

A handler calls :meth:`TaskContext.log` / :meth:`TaskContext.progress` from its own
thread; each call becomes one event. Two writers implement :class:`TaskEvents`:

* :class:`DirectEvents` writes each event in its own transaction, before the call
  returns (handlers run directly, as unit tests do).
* :class:`GroupedEvents`, used by worker processes, hands events to a writer thread
  that commits whatever has queued up in one transaction, at once, and again as soon
  as that commit is done — a group commit. An idle task's line is written at once; a
  task logging faster than one commit per line gets many lines per commit instead of
  falling behind (on PostgreSQL one commit per line held a worker to a few hundred
  lines a second). Each line stays its own event, in call order. At most
  :data:`MAX_PENDING` events wait: past that, the handler waits for the writer.

The worker closes the writer before it records the task's outcome, so every line of a
task comes before its ``task.finished`` / ``task.failed`` event.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agent.db.session import transaction
from agent.engine.events import append_events
from shared.protocol import EventKind

logger = logging.getLogger(__name__)

MAX_PENDING = 10_000
"""Events a task may have waiting for the writer before its next log call waits."""
MAX_BATCH = 1_000
"""Events written in one transaction at the most."""
RETRY_SECONDS = (0.1, 0.5, 2.0, 5.0)
"""Pauses between attempts when the database refuses a batch; then the batch is dropped."""
CLOSE_SECONDS = 30.0
"""How long closing waits for the writer to finish what is queued."""


@dataclass(frozen=True, slots=True)
class TaskEvent:
    """One ``task.log`` or ``task.progress`` event of a task, not yet written."""

    kind: EventKind
    data: dict[str, Any]


class TaskEvents(Protocol):
    """Where a task's events go."""

    def add(self, event: TaskEvent) -> None:
        """Record ``event`` (now, or soon and in order)."""

    def close(self) -> None:
        """Write everything still queued; later :meth:`add` calls are refused."""


@dataclass(frozen=True, slots=True)
class _Scope:
    """Where a task's events are written, and what each of them carries."""

    factory: sessionmaker[Session]
    task_id: int
    project: str | None
    version: str | None


def _write(scope: _Scope, events: Sequence[TaskEvent]) -> None:
    """Write ``events`` of the task in one transaction."""
    with transaction(scope.factory) as session:
        append_events(
            session,
            [(event.kind, event.data) for event in events],
            project=scope.project,
            version=scope.version,
            task_id=scope.task_id,
        )


class DirectEvents:
    """Each event in its own transaction, written before :meth:`add` returns."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        task_id: int,
        project: str | None,
        version: str | None,
    ) -> None:
        self._scope = _Scope(factory, task_id, project, version)

    def add(self, event: TaskEvent) -> None:
        _write(self._scope, [event])

    def close(self) -> None:
        """Nothing is queued."""


class GroupedEvents:
    """Events written by a writer thread, everything queued at once (see the module doc)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        task_id: int,
        project: str | None,
        version: str | None,
        max_pending: int = MAX_PENDING,
    ) -> None:
        self._scope = _Scope(factory, task_id, project, version)
        self._max_pending = max_pending
        self._pending: list[TaskEvent] = []
        self._changed = threading.Condition()
        self._closed = False
        self.written = 0
        """Events committed so far."""
        self.dropped = 0
        """Events given up after the database refused them :data:`RETRY_SECONDS` times."""
        self._thread = threading.Thread(
            target=self._run, name=f"task-{task_id}-events", daemon=True
        )
        self._thread.start()

    def add(self, event: TaskEvent) -> None:
        with self._changed:
            while len(self._pending) >= self._max_pending and not self._closed:
                self._changed.wait()
            if self._closed:
                raise RuntimeError(f"the events of task {self._scope.task_id} are closed")
            self._pending.append(event)
            self._changed.notify_all()

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        self._thread.join(CLOSE_SECONDS)
        if self._thread.is_alive():
            logger.error(
                "task %s: %d events were still being written when the task ended",
                self._scope.task_id,
                len(self._pending),
            )

    def _run(self) -> None:
        while True:
            with self._changed:
                while not self._pending and not self._closed:
                    self._changed.wait()
                if not self._pending:
                    return  # closed, and all written
                batch = self._pending[:MAX_BATCH]
                del self._pending[:MAX_BATCH]
                self._changed.notify_all()  # room for a handler waiting in add()
            self._write_with_retries(batch)

    def _write_with_retries(self, batch: list[TaskEvent]) -> None:
        for pause in (*RETRY_SECONDS, None):
            try:
                _write(self._scope, batch)
            except SQLAlchemyError as exc:
                if pause is None:
                    self.dropped += len(batch)
                    logger.error(
                        "task %s: %d log events could not be written and are lost: %s",
                        self._scope.task_id,
                        len(batch),
                        exc,
                    )
                    return
                logger.warning(
                    "task %s: writing %d events failed (retrying in %.1f s): %s",
                    self._scope.task_id,
                    len(batch),
                    pause,
                    exc,
                )
                time.sleep(pause)
            else:
                self.written += len(batch)
                return
