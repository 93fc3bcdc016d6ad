"""The live event/log pane's model: a bounded table of events, newest last."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

from PySide6.QtCore import QModelIndex, QObject, QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from desktop.format import human_duration, human_size, local_time
from desktop.models.table import Index, RowTableModel
from desktop.theme import EVENT_KIND_COLOURS, FAILED_EVENT_COLOUR, monospace_font
from shared.protocol import Event, EventKind

DEFAULT_MAX_ROWS = 10_000
COLUMNS = ("Time", "Kind", "Release", "Task", "Message")
EventRole = Qt.ItemDataRole.UserRole + 1


def _text(data: dict[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = data.get(key)
        if value is not None and value != "":
            return str(value)
    return None


def _rest(data: dict[str, Any], skip: Iterable[str] = ()) -> str:
    skipped = set(skip)
    parts = []
    for key, value in data.items():
        if key in skipped:
            continue
        shown = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def _attempt_mark(data: dict[str, Any]) -> str:
    """``[attempt 2] `` on a line of a retried attempt (a retry logs its lines again)."""
    attempt = data.get("attempt")
    return f"[attempt {attempt}] " if isinstance(attempt, int) and attempt > 1 else ""


def _task_log(event: Event) -> str:
    data = event.data
    line = _text(data, "message", "line", "text")
    level = (_text(data, "level") or "info").lower()
    text = line if line is not None else _rest(data, skip=("level", "attempt"))
    return _attempt_mark(data) + (text if level == "info" else f"[{level}] {text}")


def _task_progress(event: Event) -> str:
    done, total = event.data.get("done"), event.data.get("total")
    mark = _attempt_mark(event.data)
    if isinstance(done, int) and isinstance(total, int) and total > 0:
        return f"{mark}progress {done}/{total} ({100 * done // total}%)"
    if isinstance(done, int):
        return f"{mark}progress {done}"
    return _rest(event.data)


def _task_finished(event: Event) -> str:
    data = event.data
    state = _text(data, "state") or "finished"
    duration = data.get("duration_ms")
    took = f" in {human_duration(duration / 1000)}" if isinstance(duration, int | float) else ""
    error = _text(data, "error")
    return f"{state}{took}" + (f": {error}" if error else "")


def _task_retry(event: Event) -> str:
    error = _text(event.data, "error") or ""
    return f"retry after attempt {event.data.get('attempt', '?')} {error}".rstrip()


def _task_queued(event: Event) -> str:
    revision = event.data.get("revision")
    where = f" on revision {revision}" if revision is not None else ""
    return f"queued {_text(event.data, 'type') or 'task'}{where}"


def _task_started(event: Event) -> str:
    owner = _text(event.data, "owner")
    return f"started attempt {event.data.get('attempt', '?')}" + (f" on {owner}" if owner else "")


def _phase_changed(event: Event) -> str:
    data = event.data
    text = f"{_text(data, 'from') or '?'} → {_text(data, 'to') or '?'}"
    reason = _text(data, "reason")
    return f"{text} ({reason})" if reason else text


def _revision_created(event: Event) -> str:
    data = event.data
    text = f"revision {_text(data, 'number') or '?'}"
    files = data.get("files")
    if isinstance(files, int):
        text += f" with {files} file{'s' if files != 1 else ''}"
    message = _text(data, "message")
    return f"{text}: {message}" if message else text


def _release_created(event: Event) -> str:
    return f"release {event.project or '?'} {event.version or '?'} created"


def _blob_stored(event: Event) -> str:
    size = event.data.get("size")
    shown = human_size(size) if isinstance(size, int) else "?"
    return f"stored {_text(event.data, 'filename') or 'a blob'} ({shown})"


def _logged_in(event: Event) -> str:
    return f"{event.actor or _text(event.data, 'user') or '?'} logged in"


def _counts(summary: object) -> str:
    if not isinstance(summary, dict):
        return ""
    return ", ".join(f"{n} {status}" for status, n in summary.items() if isinstance(n, int) and n)


def _checks_queued(event: Event) -> str:
    data = event.data
    again = " again" if data.get("rerun") else ""
    reused = data.get("reused")
    reuse = f" ({reused} reused from earlier runs)" if isinstance(reused, int) and reused else ""
    revision, runs = data.get("revision", "?"), data.get("runs", "?")
    return f"checks queued{again} on revision {revision}: {runs} runs{reuse}"


def _check_finished(event: Event) -> str:
    data = event.data
    artifact = _text(data, "artifact")
    where = f" on {artifact}" if artifact else ""
    if data.get("state") == "error":
        return f"{_text(data, 'check') or 'a check'}{where} could not run: {_text(data, 'error') or '?'}"  # noqa: E501
    return (
        f"{_text(data, 'check') or 'a check'}{where}: {_counts(data.get('summary')) or 'no result'}"
    )


def _checks_done(event: Event) -> str:
    data = event.data
    text = f"checks of revision {data.get('revision', '?')} done: {_counts(data.get('summary'))}"
    ignored = data.get("ignored")
    if isinstance(ignored, int) and ignored:
        text += f", {ignored} ignored"
    return text + (" — blocked" if data.get("blocked") else "")


def _policy_changed(event: Event) -> str:
    data = event.data
    parts = [
        f"ignore {rule.get('check')} on {rule.get('path')}"
        for rule in data.get("ignores_added") or []
        if isinstance(rule, dict)
    ]
    parts += [
        f"stop ignoring {rule.get('check')} on {rule.get('path')}"
        for rule in data.get("ignores_removed") or []
        if isinstance(rule, dict)
    ]
    changed = data.get("changed")
    if isinstance(changed, dict) and changed:
        parts.append("changed " + ", ".join(changed))
    reason = _text(data, "reason")
    text = "policy: " + ("; ".join(parts) or "changed")
    return f"{text} ({reason})" if reason else text


def _sbom_stored(event: Event) -> str:
    size = event.data.get("size")
    shown = f" ({human_size(size)})" if isinstance(size, int) else ""
    return f"SBOM of {_text(event.data, 'artifact') or '?'} stored{shown}"


_DESCRIBE: dict[EventKind, Callable[[Event], str]] = {
    EventKind.TASK_LOG: _task_log,
    EventKind.TASK_PROGRESS: _task_progress,
    EventKind.TASK_FINISHED: _task_finished,
    EventKind.TASK_RETRY: _task_retry,
    EventKind.TASK_QUEUED: _task_queued,
    EventKind.TASK_STARTED: _task_started,
    EventKind.PHASE_CHANGED: _phase_changed,
    EventKind.REVISION_CREATED: _revision_created,
    EventKind.RELEASE_CREATED: _release_created,
    EventKind.BLOB_STORED: _blob_stored,
    EventKind.USER_LOGGED_IN: _logged_in,
    EventKind.CHECKS_QUEUED: _checks_queued,
    EventKind.CHECK_FINISHED: _check_finished,
    EventKind.CHECKS_DONE: _checks_done,
    EventKind.POLICY_CHANGED: _policy_changed,
    EventKind.SBOM_STORED: _sbom_stored,
}


def describe_event(event: Event) -> str:
    """One line for people about ``event``; other kinds show their data as ``key=value``."""
    describe = _DESCRIBE.get(event.kind)
    if describe is not None:
        return describe(event)
    return _rest(event.data) or event.kind.value


def _is_failure(event: Event) -> bool:
    if event.kind is EventKind.TASK_FINISHED:
        return str(event.data.get("state", "")) in ("failed", "cancelled")
    if event.kind is EventKind.TASK_LOG:
        return str(event.data.get("level", "")).lower() in ("error", "warning", "critical")
    if event.kind in (EventKind.CHECK_FINISHED, EventKind.CHECKS_DONE):
        return event.data.get("state") == "error" or bool(event.data.get("blocked"))
    return event.kind is EventKind.PHASE_CHANGED and event.data.get("to") == "failed"


class LogRow(NamedTuple):
    """One row of the log: the event and its line for people, described once."""

    event: Event
    message: str


class EventLogModel(RowTableModel[LogRow]):
    """At most ``max_rows`` events (the oldest fall off), one row each."""

    COLUMNS = COLUMNS

    def __init__(self, parent: QObject | None = None, *, max_rows: int = DEFAULT_MAX_ROWS) -> None:
        super().__init__(parent)
        if max_rows < 1:
            raise ValueError("max_rows must be positive")
        self._max = max_rows
        self._font = monospace_font()

    @property
    def max_rows(self) -> int:
        return self._max

    def event_at(self, row: int) -> Event:
        return self._rows[row].event

    def events(self) -> list[Event]:
        """Every event held, oldest first."""
        return [row.event for row in self._rows]

    def set_rows(self, rows: Iterable[LogRow]) -> None:
        """Show ``rows`` instead of the current ones: the last ``max_rows`` of them."""
        super().set_rows(list(rows)[-self._max :])

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        event, message = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._cell(event, message, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(event, message)
        if role == Qt.ItemDataRole.FontRole:
            return self._font if column in (0, 3, 4) else None
        if role == Qt.ItemDataRole.ForegroundRole:
            return self._foreground(event, column)
        return event if role == EventRole else None

    @staticmethod
    def _foreground(event: Event, column: int) -> QColor | None:
        if column not in (1, 4):
            return None
        if _is_failure(event):
            return QColor(FAILED_EVENT_COLOUR)
        colour = EVENT_KIND_COLOURS.get(event.kind)
        return QColor(colour) if colour and column == 1 else None

    @staticmethod
    def _cell(event: Event, message: str, column: int) -> str:
        if column == 0:
            return local_time(event.at)
        if column == 1:
            return event.kind.value
        if column == 2:
            return " ".join(x for x in (event.project, event.version) if x)
        if column == 3:
            return f"#{event.task_id}" if event.task_id is not None else ""
        return message

    @staticmethod
    def _tooltip(event: Event, message: str) -> str:
        details = json.dumps(event.data, indent=1, sort_keys=True, default=str)
        who = f" by {event.actor}" if event.actor else ""
        when = local_time(event.at, with_date=True)
        return f"event {event.id} at {when}{who}\n{message}\n{details}"

    def append(self, events: Iterable[Event]) -> None:
        """Add events at the bottom, dropping the oldest rows beyond the bound."""
        batch = [LogRow(event, describe_event(event)) for event in events]
        if not batch:
            return
        batch = batch[-self._max :]
        overflow = len(self._rows) + len(batch) - self._max
        if overflow > 0:
            self.beginRemoveRows(QModelIndex(), 0, overflow - 1)
            del self._rows[:overflow]
            self.endRemoveRows()
        first = len(self._rows)
        self.beginInsertRows(QModelIndex(), first, first + len(batch) - 1)
        self._rows.extend(batch)
        self.endInsertRows()

    def clear(self) -> None:
        self.set_rows(())


class EventFilterProxy(QSortFilterProxyModel):
    """Case-insensitive substring filter over every column of the log."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setFilterKeyColumn(-1)

    def set_filter_text(self, text: str) -> None:
        self.setFilterFixedString(text.strip())
