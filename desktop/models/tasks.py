"""The tasks of a release: id, type, state (coloured), attempts, duration."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor

from desktop.format import human_duration, local_time
from desktop.models.table import Index, RowTableModel
from desktop.theme import monospace_font, task_state_colour
from shared.protocol import Task, TaskState

COLUMNS = ("ID", "Type", "State", "Attempts", "Duration", "Started", "Result")
ID, TYPE, STATE, ATTEMPTS, DURATION, STARTED, RESULT = range(7)
TaskRole = Qt.ItemDataRole.UserRole + 1


def task_duration(task: Task, *, now: datetime | None = None) -> float | None:
    """Seconds the task ran (so far, when running); ``None`` before it started."""
    if task.started_at is None:
        return None
    end = task.finished_at or now or datetime.now(UTC)
    start = task.started_at
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    if end.tzinfo is None:
        end = end.replace(tzinfo=UTC)
    return (end - start).total_seconds()


def task_summary(task: Task) -> str:
    """One line about the task's outcome: its error, or a few result fields."""
    if task.error:
        return task.error.splitlines()[0]
    if not task.result:
        return ""
    parts = []
    for key, value in task.result.items():
        if isinstance(value, str | int | float | bool):
            parts.append(f"{key}={value}")
        elif isinstance(value, list | dict):
            parts.append(f"{key}: {len(value)}")
    return ", ".join(parts)


class TasksModel(RowTableModel[Task]):
    """Tasks newest first; :meth:`upsert` updates one row in place."""

    COLUMNS = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._font = monospace_font()

    def set_tasks(self, tasks: list[Task]) -> None:
        self.set_rows(sorted(tasks, key=lambda t: t.id, reverse=True))

    def upsert(self, task: Task) -> None:
        """Replace the row of ``task.id`` or insert it at its place (newest first)."""
        for row, existing in enumerate(self._rows):
            if existing.id == task.id:
                self._replace_row(row, task)
                return
        row = next((i for i, t in enumerate(self._rows) if t.id < task.id), len(self._rows))
        self._insert_row(row, task)

    def tasks(self) -> list[Task]:
        return self.rows()

    def task_at(self, row: int) -> Task:
        return self.row_at(row)

    def refresh_durations(self) -> None:
        """Repaint the duration of running tasks (called by a view timer)."""
        for row, task in enumerate(self._rows):
            if task.state is TaskState.RUNNING:
                self._changed(row, row, column=DURATION, roles=[Qt.ItemDataRole.DisplayRole])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        task = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return _DISPLAY[column](task)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(task, column)
        if role == TaskRole:
            return task
        return self._style(task, role, column)

    @staticmethod
    def _tooltip(task: Task, column: int) -> str | None:
        if column == RESULT and (task.error or task.result):
            return task.error or str(task.result)
        if column == STARTED and task.started_at:
            return local_time(task.started_at, with_date=True)
        return None

    def _style(self, task: Task, role: int, column: int) -> Any:
        if column == STATE and role == Qt.ItemDataRole.ForegroundRole:
            return task_state_colour(task.state)
        if column == STATE and role == Qt.ItemDataRole.BackgroundRole:
            colour = QColor(task_state_colour(task.state))
            colour.setAlpha(28)
            return colour
        if role == Qt.ItemDataRole.FontRole and column in (ID, DURATION):
            return self._font
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (ID, ATTEMPTS, DURATION):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


def _duration_text(task: Task) -> str:
    seconds = task_duration(task)
    return "" if seconds is None else human_duration(seconds)


_DISPLAY: dict[int, Callable[[Task], str]] = {
    ID: lambda t: f"#{t.id}",
    TYPE: lambda t: t.type.value,
    STATE: lambda t: t.state.value,
    ATTEMPTS: lambda t: f"{t.attempts}/{t.max_attempts}",
    DURATION: _duration_text,
    STARTED: lambda t: local_time(t.started_at, with_date=True) if t.started_at else "",
    RESULT: task_summary,
}
