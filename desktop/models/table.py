"""The one base of the desktop's flat tables: a list of rows and a tuple of column titles.

A subclass names its columns in :attr:`RowTableModel.COLUMNS` and writes ``data()``;
the base owns the row list, answers ``rowCount``/``columnCount``/``headerData`` and
changes the rows with the signals Qt's views and proxies expect (a reset, an
insert, or a ``dataChanged`` for a row replaced in place). Only the reset
(:meth:`RowTableModel.set_rows`) is public: the finer changes are protected, so each
subclass offers the ones that keep its own order or bound (``upsert``, ``append``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, Qt

RowT = TypeVar("RowT")
Index = QModelIndex | QPersistentModelIndex
"""What Qt passes as a model index (``data()`` and friends take either kind)."""


class RowTableModel(QAbstractTableModel, Generic[RowT]):
    """A table whose rows are the items of a list, one ``RowT`` per row."""

    COLUMNS: ClassVar[Sequence[str]] = ()
    """The horizontal header titles; their number is the column count."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._rows: list[RowT] = []

    def rows(self) -> list[RowT]:
        """A copy of every row, top to bottom."""
        return list(self._rows)

    def row_at(self, row: int) -> RowT:
        """The item shown in ``row`` (``IndexError`` past the end)."""
        return self._rows[row]

    def set_rows(self, rows: Iterable[RowT]) -> None:
        """Show ``rows`` instead of the current ones (a model reset)."""
        with self._resetting():
            self._rows = list(rows)

    def _replace_row(self, row: int, item: RowT) -> None:
        """Show ``item`` in ``row`` instead of what was there (``dataChanged`` for the row)."""
        self._rows[row] = item
        self._changed(row, row)

    def _insert_row(self, row: int, item: RowT) -> None:
        """Insert ``item`` so that it becomes ``row`` (``0 <= row <= rowCount()``)."""
        if not 0 <= row <= len(self._rows):
            raise IndexError(f"row {row} is outside 0..{len(self._rows)}")
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, item)
        self.endInsertRows()

    @contextmanager
    def _resetting(self) -> Iterator[None]:
        """Bracket a change of the rows and of any state ``data()`` reads as one reset."""
        self.beginResetModel()
        try:
            yield
        finally:
            self.endResetModel()

    def _changed(
        self,
        first: int,
        last: int,
        *,
        column: int | None = None,
        roles: Sequence[Qt.ItemDataRole] = (),
    ) -> None:
        """Emit ``dataChanged`` for rows ``first..last``: every column, or only ``column``."""
        if not self._rows:
            return
        left = 0 if column is None else column
        right = len(self.COLUMNS) - 1 if column is None else column
        self.dataChanged.emit(self.index(first, left), self.index(last, right), list(roles))

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self.COLUMNS)

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
