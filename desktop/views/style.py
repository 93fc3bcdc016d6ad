"""Small visual helpers shared by the screens: badges, headings, the app-wide style sheet."""

from __future__ import annotations

from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QLabel, QTableView, QWidget

from desktop.theme import CONNECTION_COLOURS, PHASE_COLOURS
from shared.lifecycle import Phase

APP_STYLE = """
QTableView, QTreeView { gridline-color: #e0e0e0; }
QTreeView::item { padding: 2px 0; }
QHeaderView::section { padding: 3px 6px; font-weight: 600; }
QGroupBox { font-weight: 600; margin-top: 10px; }
QGroupBox::title { subcontrol-origin: margin; left: 6px; padding: 0 3px; }
QPushButton[transition="true"] { padding: 3px 10px; }
QStatusBar QLabel { padding: 0 6px; }
"""


def badge_style(colour: str) -> str:
    return (
        f"background-color: {colour}; color: white; border-radius: 4px;"
        " padding: 2px 10px; font-weight: bold;"
    )


def set_phase_badge(label: QLabel, phase: Phase | None) -> None:
    """Show ``phase`` as a coloured badge (hidden for ``None``)."""
    if phase is None:
        label.hide()
        return
    label.setText(phase.value.upper())
    label.setStyleSheet(badge_style(PHASE_COLOURS[phase]))
    label.setToolTip(f"phase: {phase.value}")
    label.show()


def connection_text(state: str) -> str:
    """Rich text: a coloured dot and the connection state."""
    colour = CONNECTION_COLOURS.get(state, "#9e9e9e")
    return f'<span style="color:{colour}">&#9679;</span> {state}'


def heading(text: str, *, scale: float = 1.35, parent: QWidget | None = None) -> QLabel:
    """A bold label larger than body text."""
    label = QLabel(text, parent)
    font = QFont(label.font())
    font.setBold(True)
    size = font.pointSizeF()
    if size > 0:
        font.setPointSizeF(size * scale)
    label.setFont(font)
    return label


def row_table(
    *,
    selection: QAbstractItemView.SelectionMode = QAbstractItemView.SelectionMode.SingleSelection,
    parent: QWidget | None = None,
) -> QTableView:
    """A read-only table of rows, as every screen shows them: whole rows selected, alternating
    colours, no grid, no wrapping, no row numbers."""
    table = QTableView(parent)
    table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    table.setSelectionMode(selection)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setAlternatingRowColors(True)
    table.setShowGrid(False)
    table.setWordWrap(False)
    table.verticalHeader().hide()
    table.horizontalHeader().setHighlightSections(False)
    return table
