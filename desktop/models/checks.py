"""The results of a revision's checks as a table, or a tree grouped by file or by check.

Rows are :class:`~shared.protocol.checks.CheckResultOut` objects; the view-model
decides which are shown (filters) and how they are grouped, then hands them here
with :meth:`ResultsModel.set_results`. Severity colours come from
:mod:`desktop.theme`; a result an ignore rule took out of the count is greyed and
struck through, with the rule's reason in its tooltip.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from PySide6.QtCore import QAbstractItemModel, QModelIndex, QObject, QPersistentModelIndex, Qt
from PySide6.QtGui import QColor, QFont

from desktop.theme import CHECK_STATUS_COLOURS, IGNORED_COLOUR
from shared.protocol.checks import CheckResultOut, CheckStatus

COLUMNS = ("Status", "Check", "Artifact", "Path", "Message")
STATUS, CHECK, ARTIFACT, PATH, MESSAGE = range(5)
STATUSES: tuple[CheckStatus, ...] = ("blocker", "warning", "note", "pass")
"""Every severity, worst first."""
STATUS_RANK: dict[str, int] = {status: rank for rank, status in enumerate(STATUSES)}

ResultRole = Qt.ItemDataRole.UserRole + 1
"""The :class:`CheckResultOut` of a row (``None`` for a group row)."""
SortRole = Qt.ItemDataRole.UserRole + 2
_Index = QModelIndex | QPersistentModelIndex
_GROUP = 0  # internalId of a top-level row; a child row's is its group's row + 1


class Grouping(StrEnum):
    """How the results table is arranged."""

    NONE = "none"
    FILE = "file"
    CHECK = "check"


ResultKey = tuple[str, str, str, str]
"""What identifies a result across reloads: check, artifact, path, message."""


def result_key(result: CheckResultOut) -> ResultKey:
    return (result.check, result.artifact, result.path, result.message)


def original_status(result: CheckResultOut) -> CheckStatus:
    """The severity the check gave, before any ignore rule."""
    return result.ignored.original_status if result.ignored is not None else result.status


def member_path(result: CheckResultOut) -> str:
    """The path shown in the table: below the archive for a member of the result's artifact."""
    prefix = f"{result.artifact}!/"
    if result.artifact and result.path.startswith(prefix):
        return result.path[len(prefix) :]
    return result.path


def status_label(result: CheckResultOut) -> str:
    if result.ignored is not None:
        return f"ignored {result.ignored.original_status}"
    return result.status


def ignored_text(result: CheckResultOut) -> str:
    """One sentence saying which rule ignored the result and why ('' if none did)."""
    ignored = result.ignored
    if ignored is None:
        return ""
    by = f" (set by {ignored.by})" if ignored.by else ""
    return (
        f"Ignored by rule {ignored.rule + 1} of the project's policy{by}: {ignored.reason}\n"
        f"It was a {ignored.original_status}; it does not count."
    )


@dataclass(frozen=True, slots=True)
class ResultGroup:
    """A group row: every shown result about one file, or of one check."""

    title: str
    results: tuple[CheckResultOut, ...]

    @property
    def worst(self) -> str:
        counted = [r.status for r in self.results if r.ignored is None]
        return min(counted, key=STATUS_RANK.__getitem__) if counted else "pass"

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = dict.fromkeys(STATUSES, 0)
        for result in self.results:
            if result.ignored is None:
                counts[result.status] += 1
        return counts

    def summary(self) -> str:
        counts = self.counts()
        parts = [f"{n} {status}" for status, n in counts.items() if n]
        ignored = sum(1 for r in self.results if r.ignored is not None)
        if ignored:
            parts.append(f"{ignored} ignored")
        return ", ".join(parts)


def group_results(results: Iterable[CheckResultOut], grouping: Grouping) -> list[ResultGroup]:
    """Results in groups by file (the result's path) or by check, in first-seen order."""
    groups: dict[str, list[CheckResultOut]] = {}
    for result in results:
        title = result.check if grouping is Grouping.CHECK else (result.path or "(the release)")
        groups.setdefault(title, []).append(result)
    return [ResultGroup(title, tuple(items)) for title, items in groups.items()]


class ResultsModel(QAbstractItemModel):
    """A flat list of results, or groups of results (two levels) when grouped."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._grouping = Grouping.NONE
        self._flat: list[CheckResultOut] = []
        self._groups: list[ResultGroup] = []
        self._strike = QFont()
        self._strike.setStrikeOut(True)
        self._bold = QFont()
        self._bold.setBold(True)

    @property
    def grouping(self) -> Grouping:
        return self._grouping

    def set_results(self, results: Sequence[CheckResultOut], grouping: Grouping) -> None:
        self.beginResetModel()
        self._grouping = grouping
        self._flat = list(results)
        self._groups = group_results(results, grouping) if grouping is not Grouping.NONE else []
        self.endResetModel()

    def results(self) -> list[CheckResultOut]:
        """Every result held, in order."""
        return list(self._flat)

    def groups(self) -> list[ResultGroup]:
        return list(self._groups)

    def index_of(self, key: ResultKey) -> QModelIndex:
        """The index (column 0) of the result with ``key``, or an invalid index."""
        if self._grouping is Grouping.NONE:
            for row, result in enumerate(self._flat):
                if result_key(result) == key:
                    return self.index(row, 0)
            return QModelIndex()
        for group_row, group in enumerate(self._groups):
            for row, result in enumerate(group.results):
                if result_key(result) == key:
                    return self.index(row, 0, self.index(group_row, 0))
        return QModelIndex()

    # --- QAbstractItemModel -----------------------------------------------------------------------

    def index(self, row: int, column: int, parent: _Index = QModelIndex()) -> QModelIndex:  # noqa: B008
        if not self.hasIndex(row, column, parent):
            return QModelIndex()
        if not parent.isValid():
            return self.createIndex(row, column, _GROUP)
        return self.createIndex(row, column, parent.row() + 1)

    def parent(self, child: _Index = QModelIndex()) -> QModelIndex:  # type: ignore[override]  # noqa: B008
        if not child.isValid() or child.internalId() == _GROUP:
            return QModelIndex()
        return self.createIndex(child.internalId() - 1, 0, _GROUP)

    def rowCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        if parent.column() > 0:
            return 0
        if self._grouping is Grouping.NONE:
            return 0 if parent.isValid() else len(self._flat)
        if not parent.isValid():
            return len(self._groups)
        if parent.internalId() == _GROUP:
            return len(self._groups[parent.row()].results)
        return 0

    def columnCount(self, parent: _Index = QModelIndex()) -> int:  # noqa: B008
        return len(COLUMNS)

    def headerData(
        self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole
    ) -> Any:
        if orientation is Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def result_at(self, index: _Index) -> CheckResultOut | None:
        """The result of a row, ``None`` for a group row or an invalid index."""
        if not index.isValid():
            return None
        if self._grouping is Grouping.NONE:
            return self._flat[index.row()]
        if index.internalId() == _GROUP:
            return None
        return self._groups[index.internalId() - 1].results[index.row()]

    def group_at(self, index: _Index) -> ResultGroup | None:
        if not index.isValid() or self._grouping is Grouping.NONE:
            return None
        return self._groups[index.row()] if index.internalId() == _GROUP else None

    def data(self, index: _Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        result = self.result_at(index)
        if result is None:
            group = self.group_at(index)
            return None if group is None else self._group_data(group, index.column(), role)
        return self._result_data(result, index.column(), role)

    def _group_data(self, group: ResultGroup, column: int, role: int) -> Any:
        cells: dict[int, Any] = {
            Qt.ItemDataRole.DisplayRole: _GROUP_CELLS[column](group),
            Qt.ItemDataRole.FontRole: self._bold,
            Qt.ItemDataRole.ToolTipRole: f"{group.title}\n{group.summary()}",
            SortRole: f"{STATUS_RANK[group.worst]}\t{group.title}" if column == STATUS else "",
        }
        if column == STATUS:
            cells[Qt.ItemDataRole.ForegroundRole] = QColor(CHECK_STATUS_COLOURS[group.worst])
        return cells.get(role)

    def _result_data(self, result: CheckResultOut, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.DisplayRole:
            return _RESULT_CELLS[column](result)
        if role == ResultRole:
            return result
        if role == SortRole:
            return _SORT_KEYS[column](result)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(result, column)
        return self._style(result, column, role)

    def _style(self, result: CheckResultOut, column: int, role: int) -> Any:
        if result.ignored is not None:  # greyed and struck through: it does not count
            styles: dict[int, Any] = {
                Qt.ItemDataRole.ForegroundRole: QColor(IGNORED_COLOUR),
                Qt.ItemDataRole.FontRole: self._strike,
            }
            return styles.get(role)
        if column != STATUS:
            return None
        colour = QColor(CHECK_STATUS_COLOURS[result.status])
        if role == Qt.ItemDataRole.ForegroundRole:
            return colour
        if role == Qt.ItemDataRole.BackgroundRole:
            colour.setAlpha(30)
            return colour
        if role == Qt.ItemDataRole.FontRole and result.status == "blocker":
            return self._bold
        return None

    @staticmethod
    def _tooltip(result: CheckResultOut, column: int) -> str:
        if result.ignored is not None:
            return ignored_text(result)
        if column == PATH:
            return result.path or "(the release as a whole)"
        return result.message


def _first_line(text: str) -> str:
    return text.splitlines()[0] if text else ""


_RESULT_CELLS: tuple[Callable[[CheckResultOut], str], ...] = (
    status_label,
    lambda r: r.check,
    lambda r: r.artifact,
    member_path,
    lambda r: _first_line(r.message),
)
_GROUP_CELLS: tuple[Callable[[ResultGroup], str], ...] = (
    lambda g: g.worst,
    lambda g: g.title,
    lambda g: "",
    lambda g: "",
    lambda g: g.summary(),
)
_SORT_KEYS: tuple[Callable[[CheckResultOut], str], ...] = (
    # strings Qt compares itself: severity, ignored after counted, then path
    lambda r: f"{STATUS_RANK[original_status(r)]}{int(r.ignored is not None)}\t{r.path}",
    lambda r: f"{r.check}\t{r.path}",
    lambda r: f"{r.artifact}\t{r.path}",
    lambda r: r.path,
    lambda r: r.message,
)
