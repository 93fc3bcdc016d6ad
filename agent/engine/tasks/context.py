"""What a task handler gets: its task, a way to report, the blob store and read access."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.engine import queue
from agent.engine.queue import ClaimedTask
from shared.errors import AtrError


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
    """Handed to every handler. ``factory`` is for reads; writes go through ``log``/``progress``."""

    task: ClaimedTask
    factory: sessionmaker[Session]
    blobs: BlobStore

    def log(self, message: str, *, level: str = "info", data: dict[str, Any] | None = None) -> None:
        """Record one ``task.log`` line for this task."""
        queue.log(
            self.factory,
            self.task.id,
            message,
            level=level,
            project=self.task.project,
            version=self.task.version,
            data=data,
        )

    def progress(self, done: int, total: int | None) -> None:
        """Record a ``task.progress`` event: ``done`` of ``total`` units."""
        queue.progress(
            self.factory,
            self.task.id,
            done=done,
            total=total,
            project=self.task.project,
            version=self.task.version,
        )
