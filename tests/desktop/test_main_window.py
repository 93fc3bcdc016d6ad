"""The windows against a real agent (offscreen): login dialog, main window, upload dialog, app."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QDialog, QInputDialog

from desktop.app import DesktopApp, Options, parse_args
from desktop.keystore import Keystore
from desktop.models.releases import TreeNode
from desktop.session import CONNECTED, Session
from desktop.settings import Settings
from desktop.viewmodels.login import LoginViewModel
from desktop.viewmodels.main import MainViewModel
from desktop.views.login_dialog import LoginDialog
from desktop.views.main_window import MainWindow
from shared.lifecycle import Phase
from shared.openpgp import key_info
from shared.protocol import EventKind, TaskState
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess, free_port
from tests.support.keys import user_key

PROJECT = "acme-lib"


def _log_rows(vm: MainViewModel, kind: EventKind) -> int:
    return sum(1 for e in vm.events.events() if e.kind is kind)


def test_login_dialog_then_main_window_with_live_log(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.committer, tmp_path / "home")
    settings = Settings(tmp_path / "home" / "settings.json")
    session = Session(keystore)
    login_vm = LoginViewModel(session=session, keystore=keystore, settings=settings)
    vm = MainViewModel(session)

    dialog = LoginDialog(login_vm)
    qtbot.addWidget(dialog)
    dialog.show()
    assert dialog.agent_combo.currentText() == "http://127.0.0.1:8765"  # the local default
    dialog.agent_combo.setEditText(agent.url)
    dialog.user_edit.setText("bob")
    dialog.key_combo.setCurrentIndex(dialog.key_combo.findData(fingerprint))
    assert dialog.passphrase_edit.isEnabled() and dialog.remember_check.isEnabled()
    dialog.passphrase_edit.setText(PASSPHRASE)
    dialog.remember_check.setChecked(True)
    dialog.connect_button.click()
    qloop.wait_until(lambda: dialog.result() == QDialog.DialogCode.Accepted, what="the login")
    assert dialog.user is not None and dialog.user.name == "bob"
    assert settings.last.url == agent.url and settings.last.key == fingerprint
    assert keystore.remembered_passphrase(fingerprint) == PASSPHRASE

    window = MainWindow(vm)
    qtbot.addWidget(window)
    window.show()
    qloop.wait_until(lambda: vm.tree.project_keys() == ["acme-lib", "globex-app"], what="tree")
    qloop.wait_until(lambda: session.state == CONNECTED, what="the stream")
    assert "connected" in window.connection_label.text()
    assert window.agent_label.text().endswith(f" {agent.url}")
    assert window.user_label.text().endswith(" bob")
    assert "committer of acme" in window.account_label.text()
    assert window.key_label.text().replace(" ", "") == fingerprint
    assert window.tree.model().rowCount() == 2
    assert not window.upload_action.isEnabled()  # nothing selected yet

    # a new release: selected at once, shown with its phase and transitions
    qloop.run(vm.create_release(PROJECT, "5.0.0"))
    qloop.wait_until(lambda: vm.release is not None, what="the release panel")
    assert vm.selection == TreeNode(PROJECT, "5.0.0")
    assert window.panel.title.text() == "acme-lib 5.0.0"
    assert window.panel.phase_badge.text() == "COMPOSE"
    buttons = window.panel.transition_buttons()
    assert list(buttons) == [Phase.CHECKS] and buttons[Phase.CHECKS].isEnabled()
    assert window.upload_action.isEnabled() and not window.inventory_action.isEnabled()
    assert window.tree.currentIndex() == vm.tree.index_of(TreeNode(PROJECT, "5.0.0"))

    # upload two files through the dialog: per-file and overall progress reach 100 %
    upload = window.open_upload()
    assert upload is not None
    files = [tmp_path / "acme-lib-5.0.0-src.tar.gz", tmp_path / "NOTICE"]
    files[0].write_bytes(os.urandom(2 * 1024 * 1024 + 7))
    files[1].write_text("Acme\nCopyright The Apache Software Foundation\n")
    upload.add_paths(files)
    upload.add_paths([files[1]])  # the same name twice is refused, not added
    assert "already in the list" in upload.status.text()
    assert upload.file_list.topLevelItemCount() == 2
    upload.upload_button.click()
    qloop.wait_until(lambda: "Done" in upload.status.text(), what="the upload")
    assert [bar.value() for bar in upload._bars] == [1000, 1000]
    assert upload.overall.value() == 1000
    qloop.wait_until(lambda: vm.files.rowCount() == 2, what="the files table")
    assert window.panel.revision_combo.currentText().startswith("r1 · 2 files")
    assert window.inventory_action.isEnabled()

    # inventory: the task row turns succeeded and the worker's lines reach the log pane
    window.panel.inventory_button.click()
    qloop.wait_until(
        lambda: any(t.state is TaskState.SUCCEEDED for t in vm.tasks.tasks()),
        what="the inventory task to succeed",
    )
    qloop.wait_until(lambda: _log_rows(vm, EventKind.TASK_LOG) > 0, what="log lines")
    log = window.log
    log.filter_edit.setText("task.log")
    assert vm.event_filter.rowCount() == _log_rows(vm, EventKind.TASK_LOG)
    assert "of" in log.count_label.text()
    log.filter_edit.clear()
    assert vm.event_filter.rowCount() == vm.events.rowCount()

    assert window.errors.messages == []

    # the login key's public half can be exported (for the project's KEYS file)
    exported = tmp_path / "bob.pub.asc"
    assert vm.export_public_key(exported)
    assert key_info(exported.read_text()).fingerprint == fingerprint
    assert "PRIVATE" not in exported.read_text()
    assert not vm.export_public_key(tmp_path / "missing-dir" / "x.asc")
    assert len(window.errors.messages) == 1 and "cannot write" in window.errors.messages[0]
    assert window.errors.dialog is not None  # shown in the one error dialog

    # a committer may ask for checks; from there, only compose is theirs, the rest the PMC's
    window.panel.transition_buttons()[Phase.CHECKS].click()  # asks for a reason first
    reason_dialog = window.findChild(QInputDialog)
    assert reason_dialog is not None and "to 'checks'" in reason_dialog.labelText()
    reason_dialog.setTextValue("files complete")
    reason_dialog.accept()
    qloop.wait_until(lambda: window.panel.phase_badge.text() == "CHECKS", what="the new phase")
    qloop.wait_until(
        lambda: any(
            e.kind is EventKind.PHASE_CHANGED and e.data.get("reason") == "files complete"
            for e in vm.events.events()
        ),
        what="the phase change in the event pane",
    )
    buttons = window.panel.transition_buttons()
    assert {p: b.isEnabled() for p, b in buttons.items()} == {
        Phase.COMPOSE: True,
        Phase.CANDIDATE: False,
        Phase.FAILED: False,
    }
    assert "needs the pmc role" in buttons[Phase.CANDIDATE].toolTip()
    assert not window.upload_action.isEnabled()  # files change only in compose
    tree_phase = vm.tree.index_of(TreeNode(PROJECT, "5.0.0")).siblingAtColumn(1).data()
    assert tree_phase == "checks"

    # selecting a project shows the placeholder again
    window.select_node(TreeNode("globex-app"))
    assert vm.release is None and not window.upload_action.isEnabled()
    window.close()
    qloop.run(session.aclose())


def test_app_auto_login_with_a_key_file(
    agent: AgentProcess, qloop: QtLoop, tmp_path: Path, desktop_home: Path
) -> None:
    key_file = agent.pmc.key.write_secret(tmp_path / "alice-secret.asc")
    keystore = Keystore.default()
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    finished: list[bool] = []
    desktop.finished.connect(lambda: finished.append(True))

    desktop.start(parse_args(["--agent", agent.url, "--user", "alice", "--key", str(key_file),
                              "--auto-login"]))  # fmt: skip
    qloop.wait_until(lambda: desktop.window is not None, what="the main window")
    assert desktop.login_dialog is None
    window = desktop.window
    assert window is not None and window.isVisible()
    qloop.wait_until(lambda: "acme-lib" in desktop.main_vm.tree.project_keys(), what="projects")
    # the key file was used, not copied into the keystore
    assert not keystore.directory.exists() or not any(keystore.directory.iterdir())
    assert Settings.load().last.user == "alice"

    window.close()
    assert finished == [True]
    qloop.run(desktop.aclose())


def test_app_shows_the_login_dialog_when_auto_login_fails(
    qloop: QtLoop, qtbot: Any, tmp_path: Path, desktop_home: Path
) -> None:
    key_file = user_key("alice").write_secret(tmp_path / "alice-secret.asc")
    nowhere = f"http://127.0.0.1:{free_port()}"
    desktop = DesktopApp(keystore=Keystore.default(), settings=Settings.load())
    desktop.start(Options(agent=nowhere, user="alice", key=key_file, auto_login=True))
    qloop.wait_until(lambda: desktop.login_dialog is not None, what="the login dialog")
    dialog = desktop.login_dialog
    assert dialog is not None
    qtbot.addWidget(dialog)
    assert "cannot reach the agent" in dialog.status.text()
    assert dialog.agent_combo.currentText() == nowhere
    assert dialog.user_edit.text() == "alice"
    assert dialog.fingerprint == user_key("alice").fingerprint
    assert "this session only" in dialog.key_combo.currentText()
    assert not dialog.passphrase_edit.isEnabled()  # the demo-style key has no passphrase
    assert desktop.window is None
    dialog.reject()
    qloop.run(desktop.aclose())


def test_login_dialog_generates_a_key_off_the_gui_thread(
    qloop: QtLoop, qtbot: Any, tmp_path: Path, desktop_home: Path
) -> None:
    keystore = Keystore.default()
    session = Session(keystore)
    vm = LoginViewModel(session=session, keystore=keystore, settings=Settings.load())
    dialog = LoginDialog(vm)
    qtbot.addWidget(dialog)
    busy: list[tuple[bool, str]] = []
    vm.busy_changed.connect(lambda b, what: busy.append((b, what)))

    task = vm.generate_key(
        name="Rel Eng", email="releng@apache.org", passphrase="pw", remember=True, bits=2048
    )
    assert dialog.busy_bar.isVisibleTo(dialog) and not dialog.connect_button.isEnabled()
    key = qloop.run(task)
    assert busy[0] == (True, "Generating an RSA-2048 key…") and busy[-1] == (False, "")
    assert dialog.fingerprint == key.fingerprint
    assert keystore.remembered_passphrase(key.fingerprint) == "pw"
    assert "remembered" in dialog.passphrase_edit.placeholderText()
    assert dialog.connect_button.isEnabled()

    # a bad user name is refused before anything is sent
    failures: list[str] = []
    vm.failed.connect(failures.append)
    qloop.run(
        _quietly(vm.login(url="http://127.0.0.1:1", user="Not Valid", fingerprint=key.fingerprint))
    )
    assert failures and "not a valid user name" in failures[0]
    assert "not a valid user name" in dialog.status.text()


async def _quietly(task: Any) -> None:
    try:
        await task
    except Exception:
        return
