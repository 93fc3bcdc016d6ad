"""One long step at a time: the behaviour the connect, keys and votes screens share.

A screen's step (generate a key, publish it, verify a candidate, cast a ballot…)
runs as a job on the qasync loop; a newer step cancels the one still running;
while one runs the screen is *busy* and says what it is doing; a failure is
reported once, as text, through :attr:`StepViewModel.failed`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from PySide6.QtCore import QObject, Signal

from desktop.jobs import Jobs
from desktop.session import describe_error

T = TypeVar("T")


class StepViewModel(QObject):
    """Base of a screen's view-model that runs one long step at a time."""

    busy_changed = Signal(bool, str)
    """whether a step runs, and what it is (for a "working…" indicator)"""
    failed = Signal(str)
    """diagnostics of a failed step"""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._jobs = Jobs(self._failed)
        self._busy = ""

    @property
    def busy(self) -> str:
        """What runs now ("" when idle)."""
        return self._busy

    def _start(self, coro: Coroutine[Any, Any, T], what: str) -> asyncio.Task[T]:
        """Run ``coro`` as the screen's step, cancelling a step still running."""
        task = self._jobs.start(coro, key="step")
        self._set_busy(what)

        def done(_finished: asyncio.Task[T]) -> None:
            if self._jobs.running("step") is None:  # not replaced by a newer step
                self._set_busy("")
                self._step_finished()

        task.add_done_callback(done)
        return task

    def _step_finished(self) -> None:
        """Called when the last step ended; a screen may refresh what depended on it."""

    def _set_busy(self, what: str) -> None:
        self._busy = what
        self.busy_changed.emit(bool(what), what)

    def _failed(self, error: BaseException) -> None:
        self.failed.emit(describe_error(error))
