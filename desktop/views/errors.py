"""The one place errors are shown: a status-bar note and a (non-blocking) dialog."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QStatusBar, QWidget

STATUS_TIMEOUT_MS = 15_000


class ErrorPresenter:
    """Shows failures: the first line in the status bar, the whole text in one dialog.

    Errors arriving while the dialog is open are added to it, so a burst of
    failures makes one dialog, not a stack of them.
    """

    def __init__(self, parent: QWidget, status_bar: QStatusBar | None = None) -> None:
        self._parent = parent
        self._status = status_bar
        self._box: QMessageBox | None = None
        self._messages: list[str] = []

    @property
    def messages(self) -> list[str]:
        """Every error shown so far (newest last)."""
        return list(self._messages)

    @property
    def dialog(self) -> QMessageBox | None:
        return self._box if self._box is not None and self._box.isVisible() else None

    def show(self, text: str, *, title: str = "Something went wrong") -> None:
        self._messages.append(text)
        first, _, rest = text.partition("\n")
        if self._status is not None:
            self._status.showMessage(f"Error: {first}", STATUS_TIMEOUT_MS)
        box = self.dialog
        if box is not None:
            box.setInformativeText(f"{box.informativeText()}\n\n{text}".strip())
            return
        box = QMessageBox(self._parent)
        box.setIcon(QMessageBox.Icon.Warning)
        box.setWindowTitle(title)
        box.setText(first)
        box.setInformativeText(rest.strip())
        box.setStandardButtons(QMessageBox.StandardButton.Ok)
        self._box = box
        box.open()  # window-modal, does not block the event loop
