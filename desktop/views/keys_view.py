"""The keys screen: my keys (this computer), a project's KEYS, publish, revoke, export.

Widgets only: every action goes to :class:`~desktop.viewmodels.keys.KeysViewModel`.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop.keystore import REVOCATION_REASONS, RevocationReasonName, StoredKey
from desktop.models.keys import KEY_STATE_COLOURS, KEY_STATE_TEXT, KeyRole, grouped_fingerprint
from desktop.theme import MUTED_TEXT
from desktop.viewmodels.keys import KeysViewModel
from desktop.views.style import heading, row_table
from shared.errors import AtrError

_REASON_CODES: tuple[RevocationReasonName, ...] = ("compromised", "superseded", "retired", "none")
ERROR_COLOUR = "#c62828"
OK_COLOUR = "#2e7d32"


def state_legend() -> QLabel:
    """A one-line legend of the key state colours."""
    parts = [
        f"<span style='color:{KEY_STATE_COLOURS[s]}'>&#9679;</span> {KEY_STATE_TEXT[s]}"
        for s in ("valid", "expiring", "expired", "revoked")
    ]
    label = QLabel("&nbsp;&nbsp;&nbsp;".join(parts))
    label.setStyleSheet(f"color: {MUTED_TEXT};")
    return label


class KeysView(QWidget):
    """Renders a :class:`KeysViewModel`."""

    def __init__(self, vm: KeysViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_mine())
        splitter.addWidget(self._build_project())
        splitter.setChildrenCollapsible(False)
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([200, 400])
        layout = QVBoxLayout(self)
        layout.addWidget(splitter, 1)
        layout.addLayout(self._build_status())

        vm.projects_changed.connect(self._projects_changed)
        vm.project_changed.connect(self._project_changed)
        vm.busy_changed.connect(self._busy_changed)
        # bound methods, not lambdas: Qt drops them with this window; the view-model stays
        vm.message.connect(self._note)
        vm.failed.connect(self._failure)
        self._kept: str | None = None
        vm.my_keys.modelAboutToBeReset.connect(self._keep_selection)
        vm.my_keys.modelReset.connect(self._keys_reset)
        vm.my_keys.dataChanged.connect(self._update_buttons)
        vm.project_keys.modelReset.connect(self._update_buttons)
        self._projects_changed(vm.projects())
        self._project_changed(vm.project or "")
        self._busy_changed(bool(vm.busy), vm.busy)
        self._keys_reset()

    # --- building -------------------------------------------------------------------------------

    def _build_mine(self) -> QGroupBox:
        box = QGroupBox("My keys — on this computer")
        self.mine = row_table()
        self.mine.setModel(self.vm.my_keys)
        header = self.mine.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.mine.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())

        self.publish_button = QPushButton("Publish to project")
        self.publish_button.clicked.connect(self._publish)
        self.revoke_button = QPushButton("Revoke…")
        self.revoke_button.setStyleSheet(f"QPushButton:enabled {{ color: {ERROR_COLOUR}; }}")
        self.revoke_button.clicked.connect(self._revoke)
        self.export_public_button = QPushButton("Export public key…")
        self.export_public_button.clicked.connect(self._export_public)
        self.export_secret_button = QPushButton("Export secret key…")
        self.export_secret_button.clicked.connect(self._export_secret)
        self.gnupg_button = QPushButton("Use a GnuPG key…")
        self.gnupg_button.setToolTip(
            "Sign with a key of your own GnuPG keyring (a smartcard too); its secret stays there"
        )
        self.gnupg_button.clicked.connect(self.open_gnupg_dialog)
        buttons = QHBoxLayout()
        for button in (self.publish_button, self.revoke_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        for button in (self.export_public_button, self.export_secret_button, self.gnupg_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(box)
        layout.addWidget(self.mine, 1)
        layout.addLayout(buttons)
        return box

    def _build_project(self) -> QGroupBox:
        box = QGroupBox("Project keys — the KEYS file voters and users verify against")
        self.project_combo = QComboBox()
        self.project_combo.setMinimumWidth(180)
        self.project_combo.currentTextChanged.connect(
            lambda text: self.vm.select_project(text or None)
        )
        self.keys_url = QLabel()
        self.keys_url.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.keys_url.setOpenExternalLinks(True)
        top = QHBoxLayout()
        top.addWidget(QLabel("Project:"))
        top.addWidget(self.project_combo)
        top.addSpacing(12)
        top.addWidget(self.keys_url, 1)
        top.addWidget(state_legend())

        self.theirs = row_table()
        self.theirs.setModel(self.vm.project_keys)
        header = self.theirs.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        self.empty_label = QLabel()
        self.empty_label.setStyleSheet(f"color: {MUTED_TEXT};")
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.theirs, 1)
        layout.addWidget(self.empty_label)
        self.vm.project_keys.modelReset.connect(self._project_keys_reset)
        return box

    def _build_status(self) -> QHBoxLayout:
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(160)
        self.busy.setTextVisible(False)
        self.busy.hide()
        row = QHBoxLayout()
        row.addWidget(self.status, 1)
        row.addWidget(self.busy)
        return row

    # --- state ----------------------------------------------------------------------------------

    def selected_key(self) -> StoredKey | None:
        index = self.mine.currentIndex()
        if not index.isValid():
            return None
        key = self.vm.my_keys.data(index, KeyRole)
        return key if isinstance(key, StoredKey) else None

    def select_key(self, fingerprint: str) -> None:
        row = self.vm.my_keys.row_of(fingerprint)
        if row >= 0:
            self.mine.selectRow(row)

    def _keep_selection(self) -> None:
        key = self.selected_key()
        self._kept = key.fingerprint if key else None

    def _keys_reset(self) -> None:
        """Select the same key again after a reload (else the login key, else the first)."""
        model = self.vm.my_keys
        if model.rowCount():
            wanted = self._kept or self.vm.session.key_fingerprint
            row = model.row_of(wanted) if wanted else -1
            self.mine.selectRow(max(row, 0))
        self._update_buttons()

    def _update_buttons(self, *_signal_args: object) -> None:
        key = self.selected_key()
        fingerprint = key.fingerprint if key else None
        project = self.vm.project or "project"
        self.publish_button.setText(f"Publish my key to {project}")
        publish_problem = self.vm.publish_problem(fingerprint)
        self.publish_button.setEnabled(not publish_problem and not self.vm.busy)
        self.publish_button.setToolTip(
            publish_problem or f"Add this public key to the KEYS file of {project}"
        )
        revoke_problem = self.vm.revoke_problem(fingerprint)
        self.revoke_button.setEnabled(not revoke_problem and not self.vm.busy)
        self.revoke_button.setToolTip(
            revoke_problem or "Make a revocation signature here and send it to your projects"
        )
        for button in (self.export_public_button, self.export_secret_button):
            button.setEnabled(key is not None)
        self.export_secret_button.setEnabled(key is not None and key.backend == "pgpy")

    def _projects_changed(self, projects: list[str]) -> None:
        current = self.vm.project
        self.project_combo.blockSignals(True)
        self.project_combo.clear()
        self.project_combo.addItems(projects)
        if current in projects:
            self.project_combo.setCurrentText(current)
        self.project_combo.blockSignals(False)
        self._update_buttons()

    def _project_changed(self, project: str) -> None:
        if project and self.project_combo.currentText() != project:
            self.project_combo.setCurrentText(project)
        url = self.vm.keys_url
        self.keys_url.setText(f"<a href='{url}'>{url}</a>" if url else "")
        self._update_buttons()

    def _project_keys_reset(self) -> None:
        count = self.vm.project_keys.rowCount()
        project = self.vm.project
        if project is None:
            self.empty_label.setText("You are not a committer of any project on this agent.")
        elif count == 0:
            self.empty_label.setText(f"No keys in the KEYS file of {project} yet.")
        else:
            revoked = sum(1 for k in self.vm.project_keys.entries() if k.state == "revoked")
            note = f", {revoked} revoked (kept for the releases they signed)" if revoked else ""
            self.empty_label.setText(f"{count} key{'s' if count != 1 else ''}{note}.")
        self._update_buttons()

    def _busy_changed(self, busy: bool, what: str) -> None:
        self.busy.setVisible(busy)
        if busy:
            self._show_status(what, "")
        self._update_buttons()

    def _note(self, text: str) -> None:
        self._show_status(text, OK_COLOUR)

    def _failure(self, text: str) -> None:
        self._show_status(text, ERROR_COLOUR)

    def _show_status(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};" if colour else "")

    # --- actions --------------------------------------------------------------------------------

    def _publish(self) -> None:
        key = self.selected_key()
        if key is not None:
            self.vm.publish(key.fingerprint)

    def _revoke(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        dialog = RevokeDialog(
            key, needs_passphrase=self.vm.needs_passphrase(key.fingerprint), parent=self
        )

        def done(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                self.vm.revoke(
                    key.fingerprint,
                    reason=dialog.reason,
                    comment=dialog.comment,
                    passphrase=dialog.passphrase,
                )

        dialog.finished.connect(done)
        dialog.open()
        self.revoke_dialog = dialog

    def _export_public(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        name, _ = QFileDialog.getSaveFileName(
            self, "Export the public key", f"{key.fingerprint[-16:]}.pub.asc", "Keys (*.asc)"
        )
        if name:
            self.vm.export_public(key.fingerprint, Path(name))

    def _export_secret(self) -> None:
        key = self.selected_key()
        if key is None:
            return
        passphrase = None
        if not key.protected:
            text, ok = QInputDialog.getText(
                self,
                "Protect the exported key",
                "This key has no passphrase here. Passphrase to protect the exported copy:",
                QLineEdit.EchoMode.Password,
            )
            if not ok or not text:
                return
            passphrase = text
        name, _ = QFileDialog.getSaveFileName(
            self, "Export the secret key", f"{key.fingerprint[-16:]}.secret.asc", "Keys (*.asc)"
        )
        if name:
            self.vm.export_secret(key.fingerprint, Path(name), passphrase=passphrase)

    def open_gnupg_dialog(self) -> GnupgKeyDialog:
        dialog = GnupgKeyDialog(self.vm, parent=self)
        dialog.open()
        self.gnupg_dialog = dialog
        return dialog


class RevokeDialog(QDialog):
    """Confirm a revocation: why, an optional comment, the passphrase when one is needed."""

    def __init__(
        self, key: StoredKey, *, needs_passphrase: bool, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Revoke key")
        self.setMinimumWidth(520)
        uid = key.info.user_ids[0] if key.info.user_ids else key.fingerprint
        warning = QLabel(
            f"<b>Revoke {uid}?</b><br><span style='font-family:monospace'>"
            f"{grouped_fingerprint(key.fingerprint)}</span><br><br>"
            "A revocation signature is made on this computer and sent to every project whose "
            "KEYS hold this key. The key stays in KEYS, marked revoked: its new signatures "
            "will fail the checks, and releases it signed are flagged. "
            "<b>This cannot be undone.</b>"
        )
        warning.setWordWrap(True)
        self.reason_combo = QComboBox()
        for code in _REASON_CODES:
            self.reason_combo.addItem(REVOCATION_REASONS[code], code)
        self.comment_edit = QPlainTextEdit()
        self.comment_edit.setPlaceholderText("e.g. laptop stolen on 2026-05-01; new key ABCD…")
        self.comment_edit.setFixedHeight(70)
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        form = QFormLayout()
        form.addRow("Reason:", self.reason_combo)
        form.addRow("Comment:", self.comment_edit)
        if needs_passphrase:
            form.addRow("Passphrase:", self.passphrase_edit)
        self._needs_passphrase = needs_passphrase
        if key.backend == "gnupg":
            note = QLabel("GnuPG asks for the key's passphrase or PIN itself.")
            note.setStyleSheet(f"color: {MUTED_TEXT};")
            form.addRow("", note)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.revoke_button = buttons.addButton("Revoke key", QDialogButtonBox.ButtonRole.AcceptRole)
        self.revoke_button.setStyleSheet(f"color: white; background: {ERROR_COLOUR};")
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.passphrase_edit.textChanged.connect(self._update)
        layout = QVBoxLayout(self)
        layout.addWidget(warning)
        layout.addLayout(form)
        layout.addWidget(buttons)
        self._update()

    def _update(self) -> None:
        self.revoke_button.setEnabled(
            not self._needs_passphrase or bool(self.passphrase_edit.text())
        )

    @property
    def reason(self) -> RevocationReasonName:
        return _REASON_CODES[max(self.reason_combo.currentIndex(), 0)]

    @property
    def comment(self) -> str:
        return self.comment_edit.toPlainText().strip()

    @property
    def passphrase(self) -> str | None:
        return self.passphrase_edit.text() if self._needs_passphrase else None


class GnupgKeyDialog(QDialog):
    """Pick a key of the user's GnuPG keyring to sign with."""

    def __init__(self, vm: KeysViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self.setWindowTitle("Use a key from GnuPG")
        self.setMinimumWidth(560)
        intro = QLabel(
            "The desktop signs with <b>gpg</b>; the secret key (or your smartcard) stays with "
            "GnuPG, which asks for the passphrase or PIN itself."
        )
        intro.setWordWrap(True)
        self.home_edit = QLineEdit()
        self.home_edit.setPlaceholderText("GnuPG's default ($GNUPGHOME or ~/.gnupg)")
        self.list_button = QPushButton("List keys")
        self.list_button.clicked.connect(self.list_keys)
        home_row = QHBoxLayout()
        home_row.addWidget(QLabel("GnuPG home:"))
        home_row.addWidget(self.home_edit, 1)
        home_row.addWidget(self.list_button)
        self.keys_list = QListWidget()
        self.keys_list.itemSelectionChanged.connect(self._update)
        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(f"color: {ERROR_COLOUR};")
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.use_button = buttons.addButton("Use this key", QDialogButtonBox.ButtonRole.AcceptRole)
        buttons.accepted.connect(self._use)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(home_row)
        layout.addWidget(self.keys_list, 1)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)
        self.list_keys()

    @property
    def home(self) -> Path | None:
        text = self.home_edit.text().strip()
        return Path(text).expanduser() if text else None

    def list_keys(self) -> None:
        self.keys_list.clear()
        self.problem.setText("")
        try:
            keys = self._vm.gnupg_keys(self.home)
        except AtrError as exc:
            self.problem.setText(exc.diagnostics())
            keys = []
        for key in keys:
            uid = key.info.user_ids[0] if key.info.user_ids else "(no user id)"
            card = f" — on card {key.card}" if key.card else ""
            item = QListWidgetItem(
                f"{uid}\n{grouped_fingerprint(key.fingerprint)}  "
                f"{key.info.algorithm} {key.info.bits or ''}{card}"
            )
            item.setData(Qt.ItemDataRole.UserRole, key.fingerprint)
            self.keys_list.addItem(item)
        if not keys and not self.problem.text():
            self.problem.setText("GnuPG has no secret key to sign with here (or all are added).")
        self._update()

    def _update(self) -> None:
        self.use_button.setEnabled(bool(self.keys_list.selectedItems()))

    def _use(self) -> None:
        items = self.keys_list.selectedItems()
        if items:
            self._vm.add_gnupg_key(str(items[0].data(Qt.ItemDataRole.UserRole)), self.home)
            self.accept()


class KeysWindow(QDialog):
    """The keys screen in a window of its own (Keys → Keys and signing…)."""

    def __init__(self, vm: KeysViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Keys and signing")
        self.setModal(False)
        self.resize(1180, 720)
        self.view = KeysView(vm)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("Keys and signing"))
        layout.addWidget(self.view, 1)
        vm.refresh()
