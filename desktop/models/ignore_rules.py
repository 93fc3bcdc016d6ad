"""The ignore rules of a project's check policy, as the editor lists them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Qt
from PySide6.QtGui import QColor, QFont

from desktop.models.table import Index, RowTableModel
from desktop.theme import MUTED_TEXT, monospace_font
from shared.checks.policy import IgnoreRule

COLUMNS = ("#", "Check", "Path glob", "Status", "Reason", "Matches")
NUMBER, CHECK, PATH, STATUS, REASON, MATCHES = range(6)
NEW_RULE_COLOUR = "#00796b"


@dataclass(frozen=True, slots=True)
class RuleRow:
    """A rule as shown: whether it is saved yet, how many results of the revision it hits."""

    rule: IgnoreRule
    unsaved: bool = False
    matches: int | None = None
    """Results of the revision on screen the rule matches (``None``: no report loaded)."""


def status_text(status: str | None) -> str:
    return status if status is not None else "any not passing"


class IgnoreRulesModel(RowTableModel[RuleRow]):
    """One row per rule, in policy order (the first matching rule wins)."""

    COLUMNS = COLUMNS

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._mono = monospace_font()
        self._italic = QFont()
        self._italic.setItalic(True)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row = self._rows[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            return self._display(index.row(), row, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if row.unsaved:
                return "Not saved yet: Save sends the policy to the agent"
            return row.rule.reason if column == REASON else None
        return self._style(row, column, role)

    def _style(self, row: RuleRow, column: int, role: int) -> Any:
        if role == Qt.ItemDataRole.FontRole:
            return self._mono if column == PATH else (self._italic if row.unsaved else None)
        if role == Qt.ItemDataRole.ForegroundRole:
            if row.unsaved:
                return QColor(NEW_RULE_COLOUR)
            return QColor(MUTED_TEXT) if column in (NUMBER, MATCHES) else None
        if role == Qt.ItemDataRole.TextAlignmentRole and column in (NUMBER, MATCHES):
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    @staticmethod
    def _display(number: int, row: RuleRow, column: int) -> str:
        rule = row.rule
        if column == NUMBER:
            return f"{number + 1}{' *' if row.unsaved else ''}"
        if column == CHECK:
            return rule.check
        if column == PATH:
            return rule.path
        if column == STATUS:
            return status_text(rule.status)
        if column == REASON:
            return rule.reason.splitlines()[0] if rule.reason else ""
        return "" if row.matches is None else str(row.matches)
