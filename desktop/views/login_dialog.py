"""The connect/login dialog, with its key-making sub-dialogs. Renders a :class:`LoginViewModel`."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop.keystore import StoredKey
from desktop.settings import AgentProfile
from desktop.viewmodels.login import LoginViewModel
from desktop.views.style import heading
from shared.protocol import User

REMEMBER_TEXT = "Remember the passphrase in the OS keyring"
INSECURE_TEXT = (
    "Plain http:// to another computer: the login and everything after it travel "
    "unencrypted. Use https://."
)
REMEMBER_TIP = (
    "Store the passphrase in the operating system's keyring so signing does not ask for it.\n"
    "Leave unchecked to type it each time."
)


class GenerateKeyDialog(QDialog):
    """Name, email and passphrase (twice) for a new RSA-4096 key."""

    def __init__(self, *, user: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Generate a new key")
        self.setMinimumWidth(440)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("Your full name")
        self.email_edit = QLineEdit(f"{user}@apache.org" if user else "")
        self.email_edit.setPlaceholderText("you@apache.org")
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.repeat_edit = QLineEdit()
        self.repeat_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_check = QCheckBox(REMEMBER_TEXT)
        self.remember_check.setToolTip(REMEMBER_TIP)
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c62828;")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Generate")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Name:", self.name_edit)
        form.addRow("Email:", self.email_edit)
        form.addRow("Passphrase:", self.passphrase_edit)
        form.addRow("Repeat:", self.repeat_edit)
        form.addRow("", self.remember_check)
        layout = QVBoxLayout(self)
        note = QLabel(
            "An RSA-4096 OpenPGP key is made on this computer and never leaves it; "
            "only its public half goes to the agent and the project's KEYS file. "
            "It takes a few seconds."
        )
        note.setWordWrap(True)
        layout.addWidget(note)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for edit in (self.name_edit, self.email_edit, self.passphrase_edit, self.repeat_edit):
            edit.textChanged.connect(self._validate)
        self._validate()

    def _validate(self) -> None:
        problem = ""
        if self.passphrase_edit.text() != self.repeat_edit.text():
            problem = "The passphrases differ."
        elif self.email_edit.text() and "@" not in self.email_edit.text():
            problem = "The email address needs an @."
        self.problem.setText(problem)
        ready = all(
            e.text().strip() for e in (self.name_edit, self.email_edit, self.passphrase_edit)
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(ready and not problem)


class PassphraseDialog(QDialog):
    """A passphrase (with the keyring checkbox), e.g. to protect an imported key."""

    def __init__(self, prompt: str, *, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Passphrase")
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_check = QCheckBox(REMEMBER_TEXT)
        self.remember_check.setToolTip(REMEMBER_TIP)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        label = QLabel(prompt)
        label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addWidget(label)
        layout.addWidget(self.passphrase_edit)
        layout.addWidget(self.remember_check)
        layout.addWidget(buttons)


class LoginDialog(QDialog):
    """Agent URL, user, key and passphrase; Connect logs in through the view-model."""

    def __init__(self, vm: LoginViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self.user: User | None = None
        self.setWindowTitle("Connect to an agent — atr-desktop")
        self.setMinimumWidth(560)

        layout = QVBoxLayout(self)
        layout.addWidget(heading("Log in with your OpenPGP key"))
        intro = QLabel(
            "The agent sends a one-time challenge; this computer signs it with your key. "
            "Your secret key never leaves this computer."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet("color: #616161;")
        layout.addWidget(intro)
        layout.addLayout(self._build_form())
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.buttons = QDialogButtonBox()
        self.connect_button = self.buttons.addButton(
            "Connect", QDialogButtonBox.ButtonRole.AcceptRole
        )
        self.connect_button.setDefault(True)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.connect_button.clicked.connect(self._connect)
        self.cancel_button.clicked.connect(self._cancel)
        layout.addWidget(self.busy_bar)
        layout.addWidget(self.status)
        layout.addWidget(self.buttons)

        vm.keys_changed.connect(self._render_keys)
        vm.key_added.connect(self._select_key)
        vm.busy_changed.connect(self._busy_changed)
        vm.failed.connect(self._failed)
        vm.succeeded.connect(self._succeeded)
        self._render_keys(vm.keys())
        self._apply_profile(vm.last)
        self._busy_changed(False, "")

    def _build_form(self) -> QFormLayout:
        self.agent_combo = QComboBox()
        self.agent_combo.setEditable(True)
        self.agent_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for profile in self._vm.profiles:
            self.agent_combo.addItem(
                f"{profile.url}" + (f"  ({profile.user})" if profile.user else ""), profile
            )
        self.agent_combo.activated.connect(self._profile_chosen)
        self.agent_combo.editTextChanged.connect(self._url_changed)
        self.insecure_label = QLabel(INSECURE_TEXT)
        self.insecure_label.setWordWrap(True)
        self.insecure_label.setStyleSheet("color: #c62828;")
        self.insecure_label.setVisible(False)
        self.user_edit = QLineEdit()
        self.user_edit.setPlaceholderText("your ASF id, e.g. alice")
        self.key_combo = QComboBox()
        self.key_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.key_combo.setMinimumContentsLength(36)
        self.key_combo.currentIndexChanged.connect(self._key_chosen)
        self.generate_button = QPushButton("Generate…")
        self.generate_button.setToolTip("Make a new RSA-4096 key on this computer")
        self.generate_button.clicked.connect(self._generate)
        self.import_button = QPushButton("Import…")
        self.import_button.setToolTip(
            "Import an ASCII-armored secret key (gpg --export-secret-keys --armor)"
        )
        self.import_button.clicked.connect(self._import)
        key_row = QHBoxLayout()
        key_row.addWidget(self.key_combo, 1)
        key_row.addWidget(self.generate_button)
        key_row.addWidget(self.import_button)
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.remember_check = QCheckBox(REMEMBER_TEXT)
        self.remember_check.setToolTip(REMEMBER_TIP)
        form = QFormLayout()
        form.addRow("Agent:", self.agent_combo)
        form.addRow("", self.insecure_label)
        form.addRow("User:", self.user_edit)
        form.addRow("Key:", key_row)
        form.addRow("Passphrase:", self.passphrase_edit)
        form.addRow("", self.remember_check)
        return form

    # --- rendering ------------------------------------------------------------------------------

    def _render_keys(self, keys: list[StoredKey]) -> None:
        current = self.fingerprint
        self.key_combo.blockSignals(True)
        self.key_combo.clear()
        for key in keys:
            label = key.label + (" (this session only)" if key.transient else "")
            self.key_combo.addItem(label, key.fingerprint)
            self.key_combo.setItemData(
                self.key_combo.count() - 1,
                f"{key.fingerprint}\n{key.source or key.path}",
                Qt.ItemDataRole.ToolTipRole,
            )
        if not keys:
            self.key_combo.addItem("No key yet — generate or import one", None)
        self.key_combo.blockSignals(False)
        self._select_fingerprint(current)

    def _select_key(self, key: StoredKey) -> None:
        self._select_fingerprint(key.fingerprint)
        self.status.setText(f"Key {key.fingerprint[-16:]} is ready.")
        self.status.setStyleSheet("color: #2e7d32;")

    def _select_fingerprint(self, fingerprint: str | None) -> None:
        index = self.key_combo.findData(fingerprint) if fingerprint else -1
        self.key_combo.setCurrentIndex(max(index, 0))
        self._key_chosen()

    def _apply_profile(self, profile: AgentProfile) -> None:
        self.agent_combo.setEditText(profile.url)
        self.user_edit.setText(profile.user)
        if profile.key:
            self._select_fingerprint(profile.key)

    def _url_changed(self, text: str) -> None:
        self.insecure_label.setVisible(self._vm.is_insecure(text))

    def _profile_chosen(self, index: int) -> None:
        profile = self.agent_combo.itemData(index)
        if isinstance(profile, AgentProfile):
            self._apply_profile(profile)

    def _key_chosen(self, *_args: object) -> None:
        fingerprint = self.fingerprint
        needs = self._vm.needs_passphrase(fingerprint)
        remembered = self._vm.is_remembered(fingerprint)
        self.passphrase_edit.setEnabled(needs)
        self.remember_check.setEnabled(needs)
        self.remember_check.setChecked(remembered)
        if remembered:
            self.passphrase_edit.setPlaceholderText("remembered in the OS keyring")
        elif fingerprint and not needs:
            self.passphrase_edit.setPlaceholderText("this key has no passphrase")
        else:
            self.passphrase_edit.setPlaceholderText("")
        self.passphrase_edit.clear()

    def _busy_changed(self, busy: bool, what: str) -> None:
        self.busy_bar.setVisible(busy)
        for widget in (
            self.agent_combo,
            self.user_edit,
            self.key_combo,
            self.generate_button,
            self.import_button,
            self.connect_button,
        ):
            widget.setEnabled(not busy)
        if busy:
            self.status.setText(what)
            self.status.setStyleSheet("")
        else:
            self._key_chosen()

    def _failed(self, text: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c62828;")

    def _succeeded(self, user: User) -> None:
        self.user = user
        self.accept()

    @property
    def fingerprint(self) -> str | None:
        value = self.key_combo.currentData()
        return value if isinstance(value, str) else None

    # --- actions --------------------------------------------------------------------------------

    def _connect(self) -> None:
        url = self.agent_combo.currentText()
        if self._vm.is_insecure(url) and not self._confirm_insecure(url):
            return
        self._vm.login(
            url=self.agent_combo.currentText(),
            user=self.user_edit.text(),
            fingerprint=self.fingerprint,
            passphrase=self.passphrase_edit.text(),
            remember=self.remember_check.isChecked() and self.passphrase_edit.isEnabled(),
        )

    def _confirm_insecure(self, url: str) -> bool:
        answer = QMessageBox.warning(
            self,
            "Unencrypted connection",
            f"{url.strip()} is reached over plain http:// on the network.\n\n"
            "Anyone on the way can read and change what the agent and this computer "
            "exchange, including the session token your login earns. Use https:// unless "
            "the agent runs on this computer.\n\nLog in anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            QMessageBox.StandardButton.No,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _cancel(self) -> None:
        if self._vm.busy:
            self._vm.cancel()
        else:
            self.reject()

    def reject(self) -> None:
        """Closing the dialog cancels a login or key step still running."""
        self._vm.cancel()
        super().reject()

    def _generate(self) -> None:
        dialog = GenerateKeyDialog(user=self.user_edit.text().strip(), parent=self)
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self._vm.generate_key(
            name=dialog.name_edit.text(),
            email=dialog.email_edit.text(),
            passphrase=dialog.passphrase_edit.text(),
            remember=dialog.remember_check.isChecked(),
        )

    def _import(self) -> None:
        name, _ = QFileDialog.getOpenFileName(
            self,
            "Import an armored secret key",
            "",
            "OpenPGP keys (*.asc *.key *.txt);;All files (*)",
        )
        if not name:
            return
        dialog = PassphraseDialog(
            "The key's passphrase (for a key without one: a new passphrase to protect it with).",
            parent=self,
        )
        if dialog.exec() != QDialog.DialogCode.Accepted:
            return
        self._vm.import_key(
            Path(name),
            passphrase=dialog.passphrase_edit.text(),
            remember=dialog.remember_check.isChecked(),
        )
