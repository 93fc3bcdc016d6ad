"""The "Waiting for you" window: one row per step waiting for the user, each with its button,
and the notification shown when a trigger asks the user to sign."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QIcon
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPushButton,
    QSystemTrayIcon,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.theme import MUTED_TEXT, PHASE_COLOURS
from desktop.viewmodels.waiting import WaitingViewModel, action_of
from shared.protocol.triggers import WaitingItem

COLUMNS = ("Release", "Phase", "Waiting for you", "Since", "")


class Notifier:
    """A desktop notification where the system has a tray; else none (the window says it)."""

    def __init__(self, parent: QWidget) -> None:
        self._tray: QSystemTrayIcon | None = None
        if QSystemTrayIcon.isSystemTrayAvailable():
            icon = parent.windowIcon() if not parent.windowIcon().isNull() else QIcon()
            self._tray = QSystemTrayIcon(icon, parent)
            self._tray.setToolTip("ATR release manager")
            self._tray.show()

    def show(self, title: str, text: str) -> bool:
        """Show a notification; whether the system could."""
        if self._tray is None:
            return False
        self._tray.showMessage(title, text, QSystemTrayIcon.MessageIcon.Information, 15000)
        return True


class WaitingWindow(QDialog):
    """Renders a :class:`WaitingViewModel`; every button goes back to it."""

    def __init__(self, vm: WaitingViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setWindowTitle("Waiting for you")
        self.setModal(False)
        self.resize(1100, 420)
        self.header = QLabel()
        self.header.setWordWrap(True)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setWordWrap(True)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.ResizeToContents)
        self.status = QLabel()
        self.status.setStyleSheet(f"color: {MUTED_TEXT}")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.clicked.connect(vm.refresh)
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.header)
        layout.addWidget(self.table, 1)
        layout.addLayout(bottom)
        self.buttons: list[QPushButton] = []
        vm.items_changed.connect(self._show)
        vm.busy_changed.connect(self._busy)
        vm.failed.connect(self._failed)
        vm.message.connect(self.status.setText)
        vm.copy_text.connect(self._copy)
        self._show(vm.items)

    def _show(self, items: list[WaitingItem]) -> None:
        count = len(items)
        self.header.setText(
            "<b>Nothing waits for you.</b>"
            if not count
            else f"<b>{count} step{'s' if count != 1 else ''} wait{'' if count != 1 else 's'} "
            "for you.</b> Each button does the step; signing happens on this computer, "
            "with your key."
        )
        self.table.setRowCount(count)
        self.buttons = []
        for row, item in enumerate(items):
            release = QTableWidgetItem(f"{item.project} {item.version}")
            phase = QTableWidgetItem(item.phase.value)
            phase.setForeground(Qt.GlobalColor.white)
            phase.setBackground(_colour(item))
            step = item.step
            text = f"{step.title}\n{step.detail}" if step.detail else step.title
            what = QTableWidgetItem(text)
            what.setToolTip(f"{escape(step.detail)}<br><code>{escape(step.command)}</code>")
            since = QTableWidgetItem(f"{item.since:%Y-%m-%d %H:%M}")
            for column, cell in enumerate((release, phase, what, since)):
                self.table.setItem(row, column, cell)
            action = action_of(item)
            button = QPushButton(action.label)
            button.setToolTip(action.tip)
            button.clicked.connect(lambda _checked=False, i=item: self._act(i))
            self.table.setCellWidget(row, 4, button)
            self.buttons.append(button)
        self.table.resizeRowsToContents()

    def _act(self, item: WaitingItem) -> None:
        passphrase = None
        if item.step.kind == "sign" and self.vm.needs_passphrase():
            text, ok = QInputDialog.getText(
                self,
                "Sign the artifacts",
                f"The passphrase of your key, to sign {item.project} {item.version}:",
                QLineEdit.EchoMode.Password,
            )
            if not ok:
                return
            passphrase = text
        self.vm.act(item, passphrase=passphrase)

    def _busy(self, busy: bool, what: str) -> None:
        for button in self.buttons:
            button.setEnabled(not busy)
        if busy:
            self.status.setText(f"{what}…")

    def _failed(self, text: str) -> None:
        self.status.setText(f"<span style='color:#c62828'>{escape(text)}</span>")

    def _copy(self, text: str) -> None:
        clipboard = QGuiApplication.clipboard()
        if clipboard is not None:
            clipboard.setText(text)


def _colour(item: WaitingItem) -> QColor:
    return QColor(PHASE_COLOURS[item.phase])
