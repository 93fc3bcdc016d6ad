"""A window closed and deleted while its view-model lives on leaves no connection behind.

View-models outlive their windows (the keys and votes windows are opened again and
again; the session outlives the main window). A view that connected a lambda to a
view-model signal would be called after its widgets were deleted and fail with
"Internal C++ object already deleted"; views connect bound methods, which Qt drops
with the window.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import shiboken6
from PySide6.QtCore import QModelIndex
from PySide6.QtWidgets import QWidget

from desktop.keystore import Keystore
from desktop.session import Session
from desktop.viewmodels.distribution import DistributionViewModel
from desktop.viewmodels.keys import KeysViewModel
from desktop.viewmodels.main import MainViewModel
from desktop.viewmodels.policy import PolicyEditorViewModel
from desktop.viewmodels.votes import VotesViewModel
from desktop.views.distribution_view import DistributionWindow
from desktop.views.keys_view import KeysWindow
from desktop.views.main_window import MainWindow
from desktop.views.policy_editor import IgnoreRulesDialog
from desktop.views.votes_view import VotesWindow
from shared.protocol.distribute import DistributionSettings, DistributionStatus
from tests.desktop.conftest import QtLoop


def _delete(widget: QWidget) -> None:
    widget.close()
    shiboken6.delete(widget)
    assert not shiboken6.isValid(widget)


def test_signals_after_the_windows_are_gone_reach_no_dead_widget(
    qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    session = Session(Keystore(tmp_path / "keys"))
    main_vm = MainViewModel(session)
    keys_vm = KeysViewModel(session)
    votes_vm = VotesViewModel(session)
    policy_vm = PolicyEditorViewModel(session, project="acme-lib")

    windows: list[QWidget] = [
        MainWindow(main_vm),
        KeysWindow(keys_vm),
        VotesWindow(votes_vm),
        IgnoreRulesDialog(policy_vm),
    ]
    for window in windows:
        window.show()
    for window in windows:
        _delete(window)

    # pytest-qt fails the test on any exception raised in a slot
    session.error.emit("the agent went away")
    main_vm.status_message.emit("a note")
    main_vm.selection_changed.emit(None)
    main_vm.actions_changed.emit()
    keys_vm.message.emit("published")
    keys_vm.failed.emit("refused")
    keys_vm.my_keys.dataChanged.emit(QModelIndex(), QModelIndex())
    votes_vm.busy_changed.emit(True, "casting")
    votes_vm.message.emit("recorded")
    votes_vm.failed.emit("refused")
    policy_vm.saving_changed.emit(True)
    policy_vm.stale_changed.emit(True)
    qloop.settle()


def test_a_closed_distribution_window_leaves_no_slot_behind(
    qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    session = Session(Keystore(tmp_path / "keys"))
    vm = DistributionViewModel(session)
    window = DistributionWindow(vm)
    window.show()
    _delete(window)

    vm.status_shown.emit(None)
    vm.plan_shown.emit(None)
    vm.settings_shown.emit(DistributionSettings())
    vm.busy_changed.emit(True, "signing")
    vm.message.emit("approved")
    vm.failed.emit("refused")
    vm.channels.modelReset.emit()
    vm.channels.dataChanged.emit(QModelIndex(), QModelIndex())
    session.distribution_changed.emit(
        DistributionStatus(project="acme-lib", version="1.0.0", phase="passed")
    )
    qloop.settle()
