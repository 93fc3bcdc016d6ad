"""The live event/log pane: a filterable, auto-scrolling table of the agent's events."""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.models import EventFilterProxy, EventLogModel
from desktop.views.style import heading, row_table

_Index = QModelIndex | QPersistentModelIndex


class LogPane(QWidget):
    """Events newest at the bottom; follows new rows while scrolled to the bottom."""

    def __init__(
        self, model: EventLogModel, proxy: EventFilterProxy, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._model = model
        self._proxy = proxy

        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter events (Ctrl+F): kind, release, task, text…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(proxy.set_filter_text)
        self.auto_scroll = QCheckBox("Auto-scroll")
        self.auto_scroll.setChecked(True)
        self.auto_scroll.setToolTip("Follow new events as they arrive")
        self.count_label = QLabel()
        self.count_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.count_label.setMinimumWidth(150)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Clear the pane (Ctrl+L); the agent keeps every event")
        self.clear_button.clicked.connect(model.clear)

        self.table = row_table(selection=QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setModel(proxy)
        self.table.verticalHeader().setDefaultSectionSize(self.fontMetrics().height() + 6)
        header = self.table.horizontalHeader()
        header.setStretchLastSection(True)
        for column, width in enumerate((100, 150, 150, 60)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)

        top = QHBoxLayout()
        top.addWidget(heading("Live events", scale=1.1))
        top.addSpacing(12)
        top.addWidget(self.filter_edit, 1)
        top.addWidget(self.auto_scroll)
        top.addWidget(self.count_label)
        top.addWidget(self.clear_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addLayout(top)
        layout.addWidget(self.table)

        self._scroll_pending = False
        proxy.rowsInserted.connect(self._rows_inserted)
        for signal in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            signal.connect(self._update_count)
        for signal in (
            proxy.rowsInserted,
            proxy.rowsRemoved,
            proxy.modelReset,
            proxy.layoutChanged,
        ):
            signal.connect(self._update_count)
        self.table.verticalScrollBar().valueChanged.connect(self._scrolled)
        self._update_count()

    def focus_filter(self) -> None:
        self.filter_edit.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.filter_edit.selectAll()

    def _scrolled(self, value: int) -> None:
        # Scrolling up to read stops following; back at the bottom follows again.
        bar = self.table.verticalScrollBar()
        if not self._scroll_pending:
            self.auto_scroll.setChecked(value >= bar.maximum())

    def _rows_inserted(self, parent: _Index, first: int, last: int) -> None:
        if self.auto_scroll.isChecked() and not self._scroll_pending:
            self._scroll_pending = True
            QTimer.singleShot(0, self._scroll_to_bottom)

    def _scroll_to_bottom(self) -> None:
        self.table.scrollToBottom()
        self._scroll_pending = False

    def _update_count(self, *args: object) -> None:
        shown = self._proxy.rowCount()
        total = self._model.rowCount()
        text = f"{total:,} events" if shown == total else f"{shown:,} of {total:,} events"
        self.count_label.setText(text)
