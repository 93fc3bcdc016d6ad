"""The provenance screens: a release's attestations, and the agent's automation keys.

:class:`AttestationsWindow` shows what the agent attested about a release and whether each
attestation verifies *on this computer*: who voted (each ballot, binding or not, how it was
cast, which key signed it), which checks ran (with the ignore rules and their reasons), who
signed each artifact, which agent key signed the attestation; and the files the agent signed
for Windows or macOS, with the button that signs them again with the user's key.

:class:`AutomationKeysWindow` lists the agent's keys with their expiry (a banner when one
expires within 30 days, and the agent's own alarms as they come), and lets admins rotate or
revoke them. :func:`install_provenance_menu` adds both to the main window's menu.
"""

from __future__ import annotations

import asyncio
import json
from html import escape
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableView,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.models.provenance import (
    AttestationsModel,
    AutomationKeysModel,
    BallotsModel,
    ChecksModel,
    SignersModel,
)
from desktop.theme import FAILED_EVENT_COLOUR, MUTED_TEXT, monospace_font
from desktop.viewmodels.provenance import AttestationsViewModel, AutomationKeysViewModel
from desktop.viewmodels.upload import UploadViewModel
from desktop.views.style import heading, row_table
from desktop.views.upload_dialog import UploadDialog
from shared.protocol import Event
from shared.protocol.provenance import CodesignOut

if TYPE_CHECKING:
    from desktop.views.main_window import MainWindow

__all__ = [
    "AttestationsWindow",
    "AutomationKeysWindow",
    "ProvenanceMenu",
    "install_provenance_menu",
]

BANNER = f"color: white; background: {FAILED_EVENT_COLOUR}; padding: 6px 10px; border-radius: 4px;"


def _stretch(table: QTableView, column: int) -> None:
    header = table.horizontalHeader()
    header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    header.setSectionResizeMode(column, QHeaderView.ResizeMode.Stretch)


class AttestationsWindow(QDialog):
    """A release's attestations, verified here (see the module docstring)."""

    def __init__(self, vm: AttestationsViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setModal(False)
        self.resize(1240, 760)
        self.title = heading("Attestations")
        self.summary = QLabel()
        self.summary.setWordWrap(True)
        self.summary.setTextFormat(Qt.TextFormat.RichText)
        self.summary.setOpenExternalLinks(True)
        self.busy = QLabel()
        self.busy.setStyleSheet(f"color: {MUTED_TEXT}")

        self.attestations = AttestationsModel(self)
        self.table = row_table()
        self.table.setModel(self.attestations)
        _stretch(self.table, 4)
        self.table.selectionModel().currentRowChanged.connect(
            lambda current, _previous: vm.select(current.row())
        )

        self.tabs = QTabWidget()
        self.ballots = BallotsModel(self)
        self.checks = ChecksModel(self)
        self.signers = SignersModel(self)
        self.outcome = QLabel()
        self.ignored = QLabel()
        self.ignored.setWordWrap(True)
        self.statement = QPlainTextEdit()
        self.statement.setReadOnly(True)
        self.statement.setFont(monospace_font())
        self.codesign = QLabel()
        self.codesign.setWordWrap(True)
        self.resign_button = QPushButton("Sign the new files with my key…")
        self.resign_button.clicked.connect(self._resign)
        self.tabs.addTab(self._page(self.outcome, self._table(self.ballots, 5)), "Who voted")
        self.tabs.addTab(self._page(self._table(self.checks, 2), self.ignored), "Checks")
        self.tabs.addTab(self._page(self._table(self.signers, 2)), "Signers")
        self.tabs.addTab(self._page(self.codesign, self.resign_button), "OS signatures")
        self.tabs.addTab(self._page(self.statement), "Statement")

        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.table)
        split.addWidget(self.tabs)
        split.setSizes([150, 560])
        layout = QVBoxLayout(self)
        layout.addWidget(self.title)
        layout.addWidget(self.summary)
        layout.addWidget(split, 1)
        layout.addWidget(self.busy)

        vm.changed.connect(self._render)
        vm.selection_changed.connect(self._render_selection)
        vm.busy_changed.connect(
            lambda running, what: self.busy.setText(f"{what}…" if running else "")
        )
        vm.failed.connect(self._failed)
        self._render()

    def _table(self, model: BallotsModel | ChecksModel | SignersModel, stretch: int) -> QTableView:
        table = row_table()
        table.setModel(model)
        _stretch(table, stretch)
        return table

    @staticmethod
    def _page(*widgets: QWidget) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        for widget in widgets:
            layout.addWidget(widget, 1 if isinstance(widget, (QTableView, QPlainTextEdit)) else 0)
        if not any(isinstance(w, (QTableView, QPlainTextEdit)) for w in widgets):
            layout.addStretch(1)
        return page

    def _render(self) -> None:
        vm = self.vm
        name = f"{vm.project} {vm.version}" if vm.project else ""
        self.setWindowTitle(f"Attestations — {name}")
        self.title.setText(f"Attestations of {name}")
        link = (
            f' · bundle <a href="{escape(vm.bundle_url)}">{escape(vm.bundle_name)}</a>'
            if vm.rows
            else ""
        )
        colour = FAILED_EVENT_COLOUR if any(not r.valid for r in vm.rows) else MUTED_TEXT
        self.summary.setText(f"<span style='color:{colour}'>{escape(vm.summary)}</span>{link}")
        self.attestations.set_rows(vm.rows)
        if vm.rows and not self.table.currentIndex().isValid():
            self.table.selectRow(0)
        self._render_codesign()
        self._render_selection()

    def _render_selection(self) -> None:
        vm = self.vm
        self.ballots.set_rows(vm.ballots())
        self.checks.set_rows(vm.checks())
        self.signers.set_rows(vm.signers())
        outcome = vm.vote_outcome()
        self.outcome.setText(
            f"Outcome: <b>{escape(outcome)}</b>" if outcome else "No vote attested yet."
        )
        ignored = vm.ignored()
        self.ignored.setText(
            "Ignore rules applied: " + "; ".join(escape(i) for i in ignored)
            if ignored
            else "No ignore rule was applied."
        )
        chosen = vm.selected
        self.statement.setPlainText(
            json.dumps(chosen.statement, indent=2, ensure_ascii=False) if chosen else ""
        )

    def _render_codesign(self) -> None:
        runs = self.vm.runs
        if not runs:
            self.codesign.setText("The agent signed no file of this release for Windows or macOS.")
        else:
            lines = []
            for run in runs:
                files = ", ".join(f"{f.path} ({f.state})" for f in run.files)
                target = f" → revision {run.to_revision}" if run.to_revision else ""
                lines.append(
                    f"<b>{run.kind}</b> #{run.id} by {escape(run.method)}: {run.state}, revision "
                    f"{run.from_revision}{target}: {escape(files)}"
                    + (f"<br><i>{escape(run.error)}</i>" if run.error else "")
                    + (f"<pre>{escape(run.instructions)}</pre>" if run.instructions else "")
                )
            self.codesign.setText("<br>".join(lines))
        pending = self.vm.resign_run()
        self.resign_button.setVisible(pending is not None)
        if pending is not None:
            self.resign_button.setText(
                f"Sign {', '.join(pending.resign)} (revision {pending.to_revision}) with my key…"
            )

    def _resign(self) -> None:
        run = self.vm.resign_run()
        if run is not None:
            open_resign(self, self.vm, run)

    def _failed(self, text: str) -> None:
        self.busy.setText(f"<span style='color:{FAILED_EVENT_COLOUR}'>{escape(text)}</span>")


def open_resign(parent: QWidget, vm: AttestationsViewModel, run: CodesignOut) -> None:
    """Download what the agent signed, then the upload dialog that signs it with my key."""
    task = vm.resign(run)

    def done(finished: object) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        upload: UploadViewModel = task.result()
        dialog = UploadDialog(upload, parent=parent)
        dialog.sign_box.setChecked(upload.can_sign)
        dialog.message_edit.setText(upload.message)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()

    task.add_done_callback(done)


class AutomationKeysWindow(QDialog):
    """The agent's automation keys (see the module docstring)."""

    def __init__(self, vm: AutomationKeysViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self.setWindowTitle("The agent's automation keys")
        self.setModal(False)
        self.resize(1400, 460)
        self.banner = QLabel()
        self.banner.setStyleSheet(BANNER)
        self.banner.setWordWrap(True)
        self.model = AutomationKeysModel(self)
        self.table = row_table()
        self.table.setModel(self.model)
        _stretch(self.table, 3)
        self.table.selectionModel().currentRowChanged.connect(lambda *_: self._update_buttons())
        note = QLabel(
            "The agent signs attestations and OS code signatures with these keys; their private "
            "parts never leave the agent. Anyone verifies with the published file "
            "(/.well-known/atr/automation-keys.pem, or <code>atr attestation key</code>)."
        )
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED_TEXT}")
        self.generate_button = QPushButton("New attestation key")
        self.rotate_button = QPushButton("Rotate…")
        self.revoke_button = QPushButton("Revoke…")
        self.refresh_button = QPushButton("Refresh")
        self.generate_button.clicked.connect(self._generate)
        self.rotate_button.clicked.connect(self._rotate)
        self.revoke_button.clicked.connect(self._revoke)
        self.refresh_button.clicked.connect(self._refresh)
        self.status = QLabel()
        buttons = QHBoxLayout()
        for button in (self.generate_button, self.rotate_button, self.revoke_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.status)
        buttons.addWidget(self.refresh_button)
        layout = QVBoxLayout(self)
        layout.addWidget(heading("The agent's automation keys"))
        layout.addWidget(note)
        layout.addWidget(self.banner)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        vm.changed.connect(self._render)
        vm.alarm.connect(lambda _text: self._render())
        vm.busy_changed.connect(
            lambda running, what: self.status.setText(f"{what}…" if running else "")
        )
        vm.failed.connect(
            lambda text: self.status.setText(
                f"<span style='color:{FAILED_EVENT_COLOUR}'>{escape(text)}</span>"
            )
        )
        self._render()

    def _generate(self) -> None:
        self.vm.generate_attestation_key()

    def _refresh(self) -> None:
        self.vm.refresh()

    def _render(self) -> None:
        self.model.set_rows(self.vm.keys)
        warning = self.vm.warning()
        alarms = self.vm.alarms[-3:]
        text = "; ".join([*([warning] if warning else []), *alarms])
        self.banner.setText(text)
        self.banner.setVisible(bool(text))
        self._update_buttons()

    def _current(self) -> str | None:
        index = self.table.currentIndex()
        return self.model.row_at(index.row()).fingerprint if index.isValid() else None

    def _update_buttons(self) -> None:
        admin = self.vm.is_admin
        current = self._current()
        state = next((k.state for k in self.vm.keys if k.fingerprint == current), None)
        self.generate_button.setEnabled(admin)
        self.rotate_button.setEnabled(admin and state == "active")
        self.revoke_button.setEnabled(admin and state in ("active", "retired", "pending"))
        tip = "" if admin else "admins manage the agent's keys"
        for button in (self.generate_button, self.rotate_button, self.revoke_button):
            button.setToolTip(tip)

    def _rotate(self) -> None:
        fingerprint = self._current()
        if fingerprint is None:
            return
        answer = QMessageBox.question(
            self,
            "Rotate the key",
            f"Make a new key to replace {fingerprint[:16]}…?\nThe old key is retired: it stays "
            "published, and what it signed still verifies.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.vm.rotate(fingerprint)

    def _revoke(self) -> None:
        fingerprint = self._current()
        if fingerprint is None:
            return
        reason, ok = QInputDialog.getText(
            self,
            "Revoke the key",
            f"Why is {fingerprint[:16]}… revoked? (published with it; everything it signed is "
            "reported as signed by a revoked key)",
        )
        if ok and reason.strip():
            self.vm.revoke(fingerprint, reason.strip())


class ProvenanceMenu:
    """Provenance → Attestations… and Automation keys… of the main window; asks the release
    manager to sign again the files the agent signed for an OS."""

    def __init__(self, window: MainWindow) -> None:
        self.window = window
        session = window.vm.session
        self.attestations_vm = AttestationsViewModel(session, parent=window)
        self.keys_vm = AutomationKeysViewModel(session, parent=window)
        self.attestations_window: AttestationsWindow | None = None
        self.keys_window: AutomationKeysWindow | None = None
        self._loading: asyncio.Task[None] | None = None
        self._live_after = session.last_event_id or 0
        session.event_received.connect(self._on_event)
        self.attestations_action = window._action(
            "&Attestations…", self.open_attestations, "Ctrl+Shift+A",
            "The release's signed attestations, verified on this computer",
        )  # fmt: skip
        self.automation_keys_action = window._action(
            "Agent &automation keys…", self.open_keys, None,
            "The agent's attestation and code-signing keys",
        )  # fmt: skip
        menu = window.menuBar().addMenu("&Provenance")
        menu.addAction(self.attestations_action)
        menu.addAction(self.automation_keys_action)

    def open_attestations(self) -> AttestationsWindow | None:
        release = self.window.vm.release
        if release is None:
            self.window.statusBar().showMessage("Select a release first", 4000)
            return None
        self._loading = self.attestations_vm.load(release.project, release.version)
        if self.attestations_window is None:
            self.attestations_window = AttestationsWindow(self.attestations_vm, parent=self.window)
        self.attestations_window.show()
        self.attestations_window.raise_()
        return self.attestations_window

    def open_keys(self) -> AutomationKeysWindow:
        self.keys_vm.refresh()
        if self.keys_window is None:
            self.keys_window = AutomationKeysWindow(self.keys_vm, parent=self.window)
        self.keys_window.show()
        self.keys_window.raise_()
        return self.keys_window

    def _on_event(self, event: Event) -> None:
        """A live ``codesign.finished`` of a release this user manages, with files whose bytes
        changed: ask them to sign those files again."""
        if event.kind != "codesign.finished" or event.id <= self._live_after:
            return
        files = event.data.get("resign") or []
        release = self.window.vm.release
        user = self.window.vm.session.user
        if (
            not files
            or release is None
            or user is None
            or (release.project, release.version) != (event.project, event.version)
            or release.created_by != user.name
        ):
            return
        self._resign_asked([str(f) for f in files])

    def _resign_asked(self, files: list[str]) -> None:
        release = self.window.vm.release
        if release is None:
            return
        answer = QMessageBox.question(
            self.window,
            "Sign the files again",
            f"The agent signed {', '.join(files)} of {release.project} {release.version} for an "
            "OS: their bytes changed, so their OpenPGP signatures must be made again with your "
            "key. Sign them now?",
        )
        if answer != QMessageBox.StandardButton.Yes:
            return
        dialog = self.open_attestations()
        loading = self._loading
        if dialog is None or loading is None:
            return

        def loaded(_task: object) -> None:
            run = self.attestations_vm.resign_run()
            if run is not None:
                open_resign(dialog, self.attestations_vm, run)

        loading.add_done_callback(loaded)


def install_provenance_menu(window: MainWindow) -> ProvenanceMenu:
    """Add the Provenance menu to ``window`` (see :class:`ProvenanceMenu`)."""
    return ProvenanceMenu(window)
