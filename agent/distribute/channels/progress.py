"""Upload progress, reported often enough for a progress bar and no more.

Each report becomes a ``task.progress`` event: a 1 GB upload read in 64 KiB pieces
would write 16,000 of them. :class:`Progress` passes one on at each hundredth of the
file (at least every :data:`STEP_MIN` bytes apart) and always the last one.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["STEP_MIN", "Progress"]

STEP_MIN = 1 << 20


class Progress:
    """Reports ``(path, done, total)`` to ``report`` in about a hundred steps."""

    def __init__(self, report: Callable[[str, int, int], None], path: str, total: int) -> None:
        self._report = report
        self._path = path
        self._total = total
        self._step = max(STEP_MIN, total // 100)
        self._last = -1

    def __call__(self, done: int) -> None:
        if done == self._last:
            return
        if done >= self._total or done - self._last >= self._step or done < self._last:
            self._last = done
            self._report(self._path, done, self._total)
