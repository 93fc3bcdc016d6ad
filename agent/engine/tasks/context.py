"""What a task handler gets: its task, a way to report, the blob store and read access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.engine import queue
from agent.engine.queue import ClaimedTask
from agent.engine.task_events import DirectEvents, TaskEvent, TaskEvents
from shared.errors import AtrError
from shared.protocol import EventKind


class TaskError(AtrError):
    """A handler's failure, told in a sentence. ``retryable=False`` when a retry cannot help."""

    def __init__(self, message: str, *, retryable: bool = True, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class InvalidTaskArgs(TaskError):
    """The task's arguments (or the release it names) do not fit its type: never retried."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, retryable=False, hint=hint)


@dataclass(frozen=True)
class TaskContext:
    """Handed to every handler. ``factory`` is for reads; writes go through ``log``/``progress``.

    Every ``task.log`` and ``task.progress`` event carries ``attempt``: a task retried after
    a crash or a timeout logs again, and clients tell a retry's lines from duplicates by it.

    ``events`` is where those go: a worker passes its :class:`GroupedEvents` writer;
    without one each event is written before the call returns.
    """

    task: ClaimedTask
    factory: sessionmaker[Session]
    blobs: BlobStore
    events: TaskEvents | None = None
    settings: Settings | None = None
    """The agent's settings (handlers that publish need them); ``None`` in bare tests."""

    def log(self, message: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        """Record one ``task.log`` line for this task (marked with the attempt it belongs to)."""
        if level not in queue.LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {sorted(queue.LOG_LEVELS)}")
        self._add(
            EventKind.TASK_LOG,
            {**(data or {}), "level": level, "message": message, "attempt": self.task.attempt},
        )

    def progress(self, done: int, total: int | None, *, path: str | None = None) -> None:
        """Record a ``task.progress`` event: ``done`` of ``total`` units (of file ``path``), in
        this attempt."""
        data: dict[str, Any] = {"done": done, "total": total, "attempt": self.task.attempt}
        if path is not None:
            data["path"] = path
        self._add(EventKind.TASK_PROGRESS, data)

    def _add(self, kind: EventKind, data: dict[str, Any]) -> None:
        sink = self.events
        if sink is None:
            sink = DirectEvents(
                self.factory,
                task_id=self.task.id,
                project=self.task.project,
                version=self.task.version,
            )
        sink.add(TaskEvent(kind, data))
