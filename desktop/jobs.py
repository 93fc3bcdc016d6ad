"""Coroutines started for the GUI: tracked, cancellable, their failures reported in one place.

The GUI never awaits: it asks the session (or a view-model) for something, which
starts a job on the qasync loop and returns its :class:`asyncio.Task` — a future
the caller may cancel (a "Cancel" button) or watch. Results come back as Qt
signals emitted by the job itself; a failure goes to the ``on_error`` callback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")


class Jobs:
    """A set of running coroutines; optionally one per ``key``, and coalesced refreshes."""

    def __init__(self, on_error: Callable[[BaseException], None]) -> None:
        self._on_error = on_error
        self._running: set[asyncio.Task[Any]] = set()
        self._keyed: dict[str, asyncio.Task[Any]] = {}
        self._dirty: set[str] = set()
        self._closed = False

    def start(
        self, coro: Coroutine[Any, Any, T], *, key: str | None = None, report: bool = True
    ) -> asyncio.Task[T]:
        """Run ``coro`` now; a job with the same ``key`` still running is cancelled first."""
        if self._closed:
            coro.close()
            raise RuntimeError("the jobs of a closed session cannot start")
        if key is not None:
            previous = self._keyed.pop(key, None)
            if previous is not None and not previous.done():
                previous.cancel()
        task = asyncio.ensure_future(coro)
        self._running.add(task)
        if key is not None:
            self._keyed[key] = task
        task.add_done_callback(lambda t: self._finished(t, key, report))
        return task

    def coalesce(self, key: str, factory: Callable[[], Awaitable[Any]]) -> None:
        """Run ``factory()`` unless a run for ``key`` is going; then run it once more after.

        A burst of events asking for the same refresh costs at most two requests.
        """
        if self._closed:
            return
        running = self._keyed.get(key)
        if running is not None and not running.done():
            self._dirty.add(key)
            return

        async def run() -> None:
            while True:
                self._dirty.discard(key)
                await factory()
                if key not in self._dirty:
                    return

        self.start(run(), key=key)

    def running(self, key: str) -> asyncio.Task[Any] | None:
        task = self._keyed.get(key)
        return task if task is not None and not task.done() else None

    def cancel(self, key: str) -> None:
        task = self._keyed.pop(key, None)
        if task is not None:
            task.cancel()

    def cancel_all(self) -> None:
        for task in list(self._running):
            task.cancel()
        self._dirty.clear()

    async def close(self) -> None:
        """Cancel every job and wait until they have all ended."""
        self._closed = True
        tasks = list(self._running)
        self.cancel_all()
        if tasks:  # a cancellation of close() itself still propagates
            await asyncio.gather(*tasks, return_exceptions=True)

    def __len__(self) -> int:
        return len(self._running)

    def _finished(self, task: asyncio.Task[Any], key: str | None, report: bool) -> None:
        self._running.discard(task)
        if key is not None and self._keyed.get(key) is task:
            del self._keyed[key]
        if task.cancelled():
            return
        error = task.exception()
        if error is not None and report:
            try:
                self._on_error(error)
            except Exception:  # the reporter must never take the loop down
                log.exception("error reporter failed")
