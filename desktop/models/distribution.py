"""A distribution as item models: the plan to sign, the channels with their files' live states
and upload progress (a two-level tree), the manual-step checklist and the project's channels.

They are filled by :class:`desktop.viewmodels.distribution.DistributionViewModel` from the
agent's :class:`~shared.protocol.distribute.DistributionStatus`, its ``distribution.step``
events and the ``task.progress`` events of the channels' tasks; they never do I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, Qt, Signal
from PySide6.QtGui import QColor

from desktop.format import human_size, local_time, short_hash
from desktop.models.table import Index, RowTableModel
from desktop.theme import MUTED_TEXT, STEP_STATE_COLOURS, monospace_font
from shared.protocol.distribute import (
    ChannelKind,
    ChannelOut,
    ChannelSettings,
    DistributionPlan,
    PlannedFile,
    StepOut,
    StepState,
)

ProgressRole = Qt.ItemDataRole.UserRole + 40
"""On the Progress column of a running row: ``(done, total)``; ``(0, 0)`` when the channel
reports no byte progress (a busy bar); ``None`` on other rows."""
StateRole = Qt.ItemDataRole.UserRole + 41
"""The row's :class:`StepState` value (``"running"``…)."""

_NO_PROGRESS = (0, 0)


def channel_label(name: str, kind: ChannelKind) -> str:
    """``dist (svn)``; a channel named after its kind is just ``pypi``."""
    return name if name == kind.value else f"{name} ({kind.value})"


def first_line(text: str | None, *, limit: int = 160) -> str:
    """The first line of an error text, shortened for a table cell."""
    if not text:
        return ""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


# --- the plan -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanRow:
    """One file going to one channel."""

    channel: str
    kind: ChannelKind
    file: PlannedFile


class PlanModel(RowTableModel[PlanRow]):
    """Every file of the plan on every channel: channel, file, size, SHA-512, target URL."""

    COLUMNS = ("Channel", "File", "Size", "SHA-512", "Target")
    CHANNEL, FILE, SIZE, SHA512, TARGET = range(5)

    def set_plan(self, plan: DistributionPlan | None) -> None:
        rows = []
        for channel in plan.channels if plan is not None else []:
            rows += [PlanRow(channel.name, channel.kind, f) for f in channel.files]
        self.set_rows(rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                channel_label(row.channel, row.kind),
                row.file.path,
                human_size(row.file.size),
                short_hash(row.file.sha512, keep=24),
                row.file.target,
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {
                self.SHA512: f"SHA-512 {row.file.sha512}",
                self.SIZE: f"{row.file.size:,} bytes",
                self.TARGET: row.file.target,
            }.get(column)
        if role == Qt.ItemDataRole.FontRole and column == self.SHA512:
            return monospace_font()
        if role == Qt.ItemDataRole.TextAlignmentRole and column == self.SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None


# --- channels and their files ---------------------------------------------------------------


def _file_progress_text(step: StepOut, progress: tuple[int, int] | None) -> str:
    if step.state is StepState.RUNNING:
        if progress is None or progress[1] <= 0:
            return "publishing…"
        done, total = progress
        return f"{human_size(done)} of {human_size(total)}"
    if step.state is StepState.DONE:
        return "published, verified" if step.verified else "published, verifying…"
    if step.state is StepState.FAILED:
        tries = f" after {step.attempts} attempt{'s' if step.attempts != 1 else ''}"
        return "failed" + (tries if step.attempts else "")
    return "waiting"


def _channel_progress_text(channel: ChannelOut) -> str:
    files = channel.files
    published = sum(1 for f in files if f.state is StepState.DONE)
    verified = sum(1 for f in files if f.verified)
    failed = sum(1 for f in files if f.state is StepState.FAILED)
    text = f"{published} of {len(files)} published, {verified} verified"
    return text + (f", {failed} failed" if failed else "")


class ChannelsModel(QAbstractItemModel):
    """The distribution's channels (top level) and each one's files (children), with their
    state, upload progress, URL and the registry's error text. Manual steps are not here
    (:class:`ManualStepsModel`)."""

    COLUMNS = ("Channel / file", "State", "Progress", "Where", "Error")
    NAME, STATE, PROGRESS, WHERE, ERROR = range(5)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._channels: list[ChannelOut] = []
        self._progress: dict[tuple[str, str], tuple[int, int]] = {}

    # --- filling --------------------------------------------------------------------------

    def channels(self) -> list[ChannelOut]:
        return list(self._channels)

    def set_channels(self, channels: Iterable[ChannelOut]) -> None:
        """Show ``channels`` (manual steps left out). Same channels and files as before:
        the rows change in place (the view keeps its selection and expansion); else a reset."""
        new = [c for c in channels if c.kind is not ChannelKind.MANUAL]
        if _shape(new) == _shape(self._channels):
            self._channels = new
            for row, channel in enumerate(new):
                self._row_changed(row, None)
                if channel.files:
                    parent = self.index(row, 0)
                    self.dataChanged.emit(
                        self.index(0, 0, parent),
                        self.index(len(channel.files) - 1, len(self.COLUMNS) - 1, parent),
                    )
            return
        self.beginResetModel()
        self._channels = new
        self.endResetModel()

    def update_step(self, channel: str, step: StepOut) -> bool:
        """Show one file's new state (a ``distribution.step`` event) at once; False if the
        file is not shown (a reload brings it)."""
        for row, known in enumerate(self._channels):
            if known.name != channel:
                continue
            for position, file in enumerate(known.files):
                if file.path == step.path:
                    files = [*known.files]
                    files[position] = step
                    self._channels[row] = known.model_copy(update={"files": files})
                    self._row_changed(row, position)
                    self._row_changed(row, None)
                    return True
        return False

    def set_progress(self, channel: str, path: str, done: int, total: int) -> None:
        """Bytes of ``path`` sent to ``channel`` so far (a ``task.progress`` event)."""
        self._progress[(channel, path)] = (done, total)
        for row, known in enumerate(self._channels):
            if known.name == channel:
                for position, file in enumerate(known.files):
                    if file.path == path:
                        self._row_changed(row, position, column=self.PROGRESS)
                self._row_changed(row, None, column=self.PROGRESS)

    def clear_progress(self, channel: str | None = None) -> None:
        """Forget the upload progress (of one channel: it is tried again)."""
        self._progress = {
            key: value
            for key, value in self._progress.items()
            if channel is not None and key[0] != channel
        }
        for row, _known in enumerate(self._channels):
            self._row_changed(row, None, column=self.PROGRESS)

    def progress(self, channel: str, path: str) -> tuple[int, int] | None:
        return self._progress.get((channel, path))

    # --- reading ---------------------------------------------------------------------------

    def channel_at(self, index: Index) -> ChannelOut | None:
        """The channel of a row (a channel row, or a file row's channel)."""
        if not index.isValid():
            return None
        row = index.row() if index.internalId() == 0 else index.internalId() - 1
        return self._channels[row] if 0 <= row < len(self._channels) else None

    def step_at(self, index: Index) -> StepOut | None:
        """The file of a file row (``None`` for a channel row)."""
        if not index.isValid() or index.internalId() == 0:
            return None
        channel = self.channel_at(index)
        if channel is None or not 0 <= index.row() < len(channel.files):
            return None
        return channel.files[index.row()]

    def url_at(self, index: Index) -> str | None:
        """Where a row's file now is (a file row), or its channel's target (a channel row)."""
        channel = self.channel_at(index)
        if channel is None:
            return None
        if index.internalId() == 0:
            return channel.target or None
        step = self.step_at(index)
        return step.url if step is not None else None

    def has_errors(self) -> bool:
        """Some file shows a registry's error (the Error column has something to say)."""
        return any(f.error for c in self._channels for f in c.files)

    # --- QAbstractItemModel ----------------------------------------------------------------

    def index(self, row: int, column: int, parent: Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, 0)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, index: Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not index.isValid() or index.internalId() == 0:
            return QModelIndex()
        return self.createIndex(index.internalId() - 1, 0, 0)

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        if not parent.isValid():
            return len(self._channels)
        if parent.internalId() == 0 and parent.column() == 0:
            row = parent.row()
            return len(self._channels[row].files) if 0 <= row < len(self._channels) else 0
        return 0

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return len(self.COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if (
            orientation is Qt.Orientation.Horizontal
            and role == Qt.ItemDataRole.DisplayRole
            and 0 <= section < len(self.COLUMNS)
        ):
            return self.COLUMNS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        channel = self.channel_at(index)
        if channel is None:
            return None
        step = self.step_at(index)
        if index.internalId() != 0 and step is None:
            return None
        if step is None:
            return self._channel_data(channel, index.column(), role)
        return self._file_data(channel, step, index.column(), role)

    def _channel_data(self, channel: ChannelOut, column: int, role: int) -> Any:
        state = channel.state
        failing = next((f for f in channel.files if f.state is StepState.FAILED), None)
        error = failing.error if failing is not None else None
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                channel_label(channel.name, channel.kind),
                state.value,
                _channel_progress_text(channel),
                channel.target,
                first_line(error),
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {self.ERROR: error, self.WHERE: channel.target}.get(column)
        if role == Qt.ItemDataRole.ForegroundRole:
            return _state_colour(state, column)
        if role == ProgressRole and column == self.PROGRESS and state is StepState.RUNNING:
            files = channel.files
            return (sum(1 for f in files if f.state is StepState.DONE), len(files))
        return state.value if role == StateRole else None

    def _file_data(self, channel: ChannelOut, step: StepOut, column: int, role: int) -> Any:
        progress = self._progress.get((channel.name, step.path))
        if role == Qt.ItemDataRole.DisplayRole:
            return (
                step.path,
                step.state.value + (" ✔" if step.verified else ""),
                _file_progress_text(step, progress),
                step.url or "—",
                first_line(step.error),
            )[column]
        if role == Qt.ItemDataRole.ToolTipRole:
            return {
                self.ERROR: step.error,
                self.WHERE: step.url,
                self.STATE: _step_tooltip(step),
            }.get(column)
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.WHERE and not step.url:
                return QColor(MUTED_TEXT)
            return _state_colour(step.state, column)
        if role == ProgressRole and column == self.PROGRESS and step.state is StepState.RUNNING:
            return progress if progress is not None and progress[1] > 0 else _NO_PROGRESS
        return step.state.value if role == StateRole else None

    def _row_changed(self, row: int, position: int | None, *, column: int | None = None) -> None:
        if position is None:
            parent = QModelIndex()
            target = row
        else:
            parent = self.index(row, 0)
            target = position
        left = 0 if column is None else column
        right = len(self.COLUMNS) - 1 if column is None else column
        self.dataChanged.emit(self.index(target, left, parent), self.index(target, right, parent))


def _state_colour(state: StepState, column: int) -> QColor | None:
    """The State column in the state's colour, the Error column in the failure colour."""
    if column == ChannelsModel.STATE:
        return QColor(STEP_STATE_COLOURS[state])
    if column == ChannelsModel.ERROR:
        return QColor(STEP_STATE_COLOURS[StepState.FAILED])
    return None


def _step_tooltip(step: StepOut) -> str:
    when = f", {local_time(step.updated_at, with_date=True)}" if step.updated_at else ""
    verified = "; downloaded back, its SHA-512 matches" if step.verified else ""
    return f"{step.state.value}{when}{verified}"


def _shape(channels: list[ChannelOut]) -> list[tuple[str, list[str]]]:
    return [(c.name, [f.path for f in c.files]) for c in channels]


# --- manual steps ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ManualStep:
    """A step a person does for the release (``atr distribute done P V NUMBER``)."""

    number: int
    text: str
    done: bool
    updated_at: datetime | None = None


def manual_steps(channels: Iterable[ChannelOut]) -> list[ManualStep]:
    """The manual steps of a distribution's status, numbered from 1 in order."""
    steps: list[ManualStep] = []
    for channel in channels:
        if channel.kind is not ChannelKind.MANUAL:
            continue
        for file in channel.files:
            number = len(steps) + 1
            prefix = f"{number}. "
            text = file.path[len(prefix) :] if file.path.startswith(prefix) else file.path
            steps.append(ManualStep(number, text, file.state is StepState.DONE, file.updated_at))
    return steps


class ManualStepsModel(RowTableModel[ManualStep]):
    """The manual-step checklist: a checked box once a step is marked done. Checking a box
    asks for it (:attr:`mark_requested`); the box shows checked when the agent has it done."""

    COLUMNS = ("Step", "Done")
    STEP, DONE = range(2)

    mark_requested = Signal(int)
    """the number of the step the user checked"""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._editable = False

    def set_steps(self, steps: list[ManualStep], *, editable: bool) -> None:
        """Show ``steps``; the same number of steps again changes the rows in place (the
        view keeps its selection), else a reset."""
        if len(steps) == len(self._rows) and steps:
            self._rows = list(steps)
            self._editable = editable
            self._changed(0, len(steps) - 1)
            return
        with self._resetting():
            self._rows = list(steps)
            self._editable = editable

    def flags(self, index: Index) -> Qt.ItemFlag:
        flags = super().flags(index)
        if not index.isValid():
            return flags
        if index.column() == self.STEP and self._editable and not self._rows[index.row()].done:
            flags |= Qt.ItemFlag.ItemIsUserCheckable
        return flags

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        step = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{step.number}. {step.text}" if column == self.STEP else _done_text(step)
        if role == Qt.ItemDataRole.CheckStateRole and column == self.STEP:
            return Qt.CheckState.Checked if step.done else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ForegroundRole and column == self.DONE:
            return QColor(STEP_STATE_COLOURS["done" if step.done else "manual"])
        if role == Qt.ItemDataRole.ToolTipRole and column == self.STEP:
            return step.text
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:
        """A checked box asks the agent (through :attr:`mark_requested`); the row changes only
        when the agent's answer comes back, so the box never shows what is not so."""
        if (
            role == Qt.ItemDataRole.CheckStateRole
            and index.isValid()
            and index.column() == self.STEP
            and self.flags(index) & Qt.ItemFlag.ItemIsUserCheckable
            and _checked(value)
        ):
            self.mark_requested.emit(self._rows[index.row()].number)
        return False


def _done_text(step: ManualStep) -> str:
    if not step.done:
        return "to do"
    return f"done {local_time(step.updated_at, with_date=True)}" if step.updated_at else "done"


def _checked(value: Any) -> bool:
    if isinstance(value, Qt.CheckState):
        return value is Qt.CheckState.Checked
    return bool(value == Qt.CheckState.Checked.value)


# --- the project's channels -----------------------------------------------------------------


class ChannelSettingsModel(RowTableModel[ChannelSettings]):
    """A project's optional channels (the dist repository is always there, first)."""

    COLUMNS = ("Name", "Kind", "Files", "URL", "Staging URL", "Package", "Credential")
    NAME, KIND, FILES, URL, STAGING, PACKAGE, CREDENTIAL = range(7)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        channel = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            credential = channel.credential or "—"
            if channel.staging_credential:
                credential += f" (staging: {channel.staging_credential})"
            return (
                channel.name,
                channel.kind.value,
                ", ".join(channel.files),
                channel.url,
                channel.staging_url or "—",
                channel.package or "—",
                credential,
            )[index.column()]
        if role == Qt.ItemDataRole.ToolTipRole and channel.options:
            return "options: " + ", ".join(f"{k}={v}" for k, v in sorted(channel.options.items()))
        return None
