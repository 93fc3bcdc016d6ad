"""The upload dialog: choose files, optionally sign and checksum them here first, watch each
one's progress and the total, cancel."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_size
from desktop.viewmodels.upload import UploadViewModel
from desktop.views.style import heading
from shared.protocol import Revision

_PERMILLE = 1000


def _permille(sent: int, total: int) -> int:
    return _PERMILLE if total <= 0 else min(_PERMILLE, sent * _PERMILLE // total)


class UploadDialog(QDialog):
    """Renders an :class:`UploadViewModel`; Cancel stops the upload (no revision is made)."""

    def __init__(self, vm: UploadViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self.setWindowTitle(f"Upload files — {vm.project} {vm.version}")
        self.resize(720, 420)

        self._bars: list[QProgressBar] = []
        layout = QVBoxLayout(self)
        layout.addLayout(self._build_tools())
        layout.addWidget(self._build_file_list(), 1)
        self.message_edit = QLineEdit()
        self.message_edit.setPlaceholderText("Note for the new revision (optional)")
        layout.addWidget(self.message_edit)
        layout.addWidget(self._build_sign_box())
        layout.addLayout(self._build_totals())
        layout.addLayout(self._build_buttons())

        vm.files_changed.connect(self._render_files)
        vm.file_progress.connect(self._file_progress)
        vm.overall_progress.connect(self._overall_progress)
        vm.running_changed.connect(self._running_changed)
        vm.finished.connect(self._finished)
        vm.failed.connect(self._failed)
        vm.cancelled.connect(self._cancelled)
        vm.stage_changed.connect(self._stage_changed)
        self._render_files()
        self._running_changed(False)

    def _build_tools(self) -> QHBoxLayout:
        self.add_button = QPushButton("Add files…")
        self.add_button.clicked.connect(self._add_files)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self._remove_selected)
        tools = QHBoxLayout()
        vm = self._vm
        tools.addWidget(heading(f"Into a new revision of {vm.project} {vm.version}", scale=1.1))
        tools.addStretch(1)
        tools.addWidget(self.add_button)
        tools.addWidget(self.remove_button)
        return tools

    def _build_file_list(self) -> QTreeWidget:
        self.file_list = QTreeWidget()
        self.file_list.setHeaderLabels(["File", "Size", "Progress"])
        self.file_list.setRootIsDecorated(False)
        self.file_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        header = self.file_list.header()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.resizeSection(2, 200)
        header.setStretchLastSection(False)
        return self.file_list

    def _build_sign_box(self) -> QCheckBox:
        self.sign_box = QCheckBox("Sign and checksum the artifacts here before upload")
        key = self._vm.signing_key
        if key is None:
            self.sign_box.setEnabled(False)
            self.sign_box.setToolTip("log in with a key to sign")
        else:
            self.sign_box.setToolTip(
                f"Each artifact gets <name>.asc (detached, armored, SHA-512) made with your key "
                f"{key[-16:]} and <name>.sha512, written beside it and uploaded with it"
            )
        return self.sign_box

    def _build_totals(self) -> QHBoxLayout:
        self.overall = QProgressBar()
        self.overall.setRange(0, _PERMILLE)
        self.overall.setValue(0)
        self.overall.setFormat("%p%")
        self.overall_label = QLabel()
        totals = QHBoxLayout()
        totals.addWidget(QLabel("Overall:"))
        totals.addWidget(self.overall, 1)
        totals.addWidget(self.overall_label)
        return totals

    def _build_buttons(self) -> QHBoxLayout:
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.upload_button = QPushButton("Upload")
        self.upload_button.setDefault(True)
        self.upload_button.clicked.connect(self._start)
        self.cancel_button = QPushButton("Cancel upload")
        self.cancel_button.clicked.connect(self._vm.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addWidget(self.status, 1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.close_button)
        buttons.addWidget(self.upload_button)
        return buttons

    # --- user actions ---------------------------------------------------------------------------

    def _add_files(self) -> None:
        names, _ = QFileDialog.getOpenFileNames(
            self, "Choose the release's files", "", "All files (*)"
        )
        self.add_paths([Path(name) for name in names])

    def add_paths(self, paths: list[Path]) -> None:
        """Add files (what the file picker returns)."""
        problems = self._vm.add_files(paths)
        self.status.setText("\n".join(problems))
        self.status.setStyleSheet("color: #c62828;" if problems else "")

    def _remove_selected(self) -> None:
        rows = [self.file_list.indexOfTopLevelItem(i) for i in self.file_list.selectedItems()]
        self._vm.remove(rows)

    def _start(self) -> None:
        self._vm.message = self.message_edit.text().strip()
        self._vm.sign_first = self.sign_box.isChecked()
        passphrase = None
        if self._vm.sign_first and self._vm.needs_passphrase():
            text, ok = QInputDialog.getText(
                self,
                "Passphrase",
                "Passphrase of your signing key:",
                QLineEdit.EchoMode.Password,
            )
            if not ok:
                return
            passphrase = text
        self.status.setText("Uploading…")
        self.status.setStyleSheet("")
        self._vm.start(passphrase=passphrase)

    def reject(self) -> None:
        """Closing the dialog while uploading cancels the upload."""
        self._vm.cancel()
        super().reject()

    # --- rendering ------------------------------------------------------------------------------

    def _render_files(self) -> None:
        self.file_list.clear()
        self._bars = []
        for item in self._vm.items:
            row = QTreeWidgetItem([item.name, human_size(item.size), ""])
            row.setToolTip(0, str(item.path))
            row.setTextAlignment(1, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.file_list.addTopLevelItem(row)
            bar = QProgressBar()
            bar.setRange(0, _PERMILLE)
            bar.setValue(_permille(item.sent, item.size))
            bar.setFormat("%p%")
            self.file_list.setItemWidget(row, 2, bar)
            self._bars.append(bar)
        total = self._vm.total
        self.overall_label.setText(f"{human_size(self._vm.sent)} of {human_size(total)}")
        self.upload_button.setEnabled(bool(self._vm.items) and not self._vm.running)

    def _file_progress(self, row: int, sent: int, total: int) -> None:
        if 0 <= row < len(self._bars):
            self._bars[row].setValue(_permille(sent, total))

    def _overall_progress(self, sent: int, total: int) -> None:
        self.overall.setValue(_permille(sent, total))
        self.overall_label.setText(f"{human_size(sent)} of {human_size(total)}")

    def _stage_changed(self, stage: str) -> None:
        if stage == "signing":
            self.status.setText("Signing and checksumming on this computer…")
            self.cancel_button.setText("Cancel")
        else:
            self.status.setText("Uploading…")
            self.cancel_button.setText("Cancel upload")

    def _running_changed(self, running: bool) -> None:
        self.sign_box.setEnabled(not running and self._vm.can_sign)
        self.cancel_button.setVisible(running)
        self.add_button.setEnabled(not running)
        self.remove_button.setEnabled(not running)
        self.message_edit.setEnabled(not running)
        self.upload_button.setEnabled(not running and bool(self._vm.items))

    def _finished(self, revision: Revision) -> None:
        self.status.setText(f"Done: revision {revision.number} holds {len(revision.files)} files.")
        self.status.setStyleSheet("color: #2e7d32;")
        self.upload_button.setEnabled(False)
        self.close_button.setDefault(True)

    def _failed(self, text: str) -> None:
        self.status.setText(f"Upload failed: {text.splitlines()[0]}")
        self.status.setStyleSheet("color: #c62828;")

    def _cancelled(self) -> None:
        self.status.setText("Upload cancelled; no revision was made.")
        self.status.setStyleSheet("color: #ef6c00;")
