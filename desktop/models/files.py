"""A revision's files: path, human-readable size, SHA-512 (abbreviated; full value in tooltip)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QObject, Qt

from desktop.format import human_size, short_hash
from desktop.models.table import Index, RowTableModel
from desktop.theme import monospace_font
from shared.protocol import Revision, RevisionFile

COLUMNS = ("Path", "Size", "SHA-512", "SHA-256")
PATH, SIZE, SHA512, SHA256 = range(4)
FullValueRole = Qt.ItemDataRole.UserRole + 1
"""The unabbreviated value of a cell (what "copy" copies)."""
SortRole = Qt.ItemDataRole.UserRole + 2


class FilesModel(RowTableModel[RevisionFile]):
    """The files of one revision, by path."""

    COLUMNS = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._revision: Revision | None = None
        self._font = monospace_font()

    @property
    def revision(self) -> Revision | None:
        return self._revision

    def set_revision(self, revision: Revision | None) -> None:
        with self._resetting():
            self._revision = revision
            self._rows = sorted(revision.files, key=lambda f: f.path) if revision else []

    def file_at(self, row: int) -> RevisionFile:
        return self.row_at(row)

    def total_size(self) -> int:
        return sum(f.size for f in self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        item = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(item, column)
        if role == Qt.ItemDataRole.ToolTipRole and column == SIZE:
            return f"{item.size:,} bytes"
        if role in (FullValueRole, Qt.ItemDataRole.ToolTipRole):
            return self._full(item, column)
        if role == SortRole:
            return item.size if column == SIZE else self._full(item, column)
        return self._style(role, column)

    def _display(self, item: RevisionFile, column: int) -> str:
        if column == SIZE:
            return human_size(item.size)
        full = self._full(item, column)
        return short_hash(full) if column in (SHA512, SHA256) else full

    def _style(self, role: int, column: int) -> Any:
        if role == Qt.ItemDataRole.FontRole and column in (SHA512, SHA256):
            return self._font
        if role == Qt.ItemDataRole.TextAlignmentRole and column == SIZE:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _full(item: RevisionFile, column: int) -> str:
        if column == PATH:
            return item.path
        if column == SIZE:
            return str(item.size)
        if column == SHA512:
            return item.sha512
        return item.sha256

    def copy_text(self, indexes: Iterable[Index]) -> str:
        """Full values of the given cells: tab-separated per row, one row per line."""
        rows: dict[int, dict[int, str]] = {}
        for index in indexes:
            if index.isValid():
                rows.setdefault(index.row(), {})[index.column()] = self._full(
                    self._rows[index.row()], index.column()
                )
        return "\n".join(
            "\t".join(cells[c] for c in sorted(cells)) for _, cells in sorted(rows.items())
        )

    def checksum_lines(self) -> str:
        """``sha512sum``-style lines (``<hash>  <path>``) for every file."""
        return "".join(f"{f.sha512}  {f.path}\n" for f in self._rows)
