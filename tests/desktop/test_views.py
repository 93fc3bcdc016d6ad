"""Screens that need no agent: the create-release dialog, the error presenter, the log pane."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from PySide6.QtWidgets import QDialogButtonBox, QMainWindow, QWidget

from desktop.models import EventFilterProxy, EventLogModel
from desktop.views.create_release import CreateReleaseDialog
from desktop.views.errors import ErrorPresenter
from desktop.views.log_pane import LogPane
from shared.protocol import Event, EventKind, Project
from tests.desktop.conftest import QtLoop

PROJECTS = [
    Project(key="acme-lib", name="Acme Library", committee="acme"),
    Project(key="globex-app", name="Globex App", committee="globex"),
]


def test_create_release_dialog_checks_the_version(qtbot: Any) -> None:
    dialog = CreateReleaseDialog(PROJECTS, selected="globex-app")
    qtbot.addWidget(dialog)
    ok = dialog.buttons.button(QDialogButtonBox.StandardButton.Ok)
    assert dialog.project == "globex-app"
    assert not ok.isEnabled()  # no version yet

    dialog.version_edit.setText("1.0..0")
    assert not ok.isEnabled()
    assert "not a valid release version" in dialog.problem.text()

    dialog.version_edit.setText(" 2.0.0-M1 ")
    assert ok.isEnabled() and dialog.problem.text() == ""
    assert dialog.version == "2.0.0-M1"


def test_errors_go_to_the_status_bar_and_one_dialog(qtbot: Any) -> None:
    window = QMainWindow()
    qtbot.addWidget(window)
    presenter = ErrorPresenter(window, window.statusBar())
    presenter.show("cannot reach the agent\nHint: is it running?")
    presenter.show("second failure")
    assert window.statusBar().currentMessage() == "Error: second failure"
    dialog = presenter.dialog
    assert dialog is not None
    assert dialog.text() == "cannot reach the agent"
    assert "Hint: is it running?" in dialog.informativeText()
    assert "second failure" in dialog.informativeText()
    assert presenter.messages == ["cannot reach the agent\nHint: is it running?", "second failure"]


def _line(event_id: int) -> Event:
    return Event(
        id=event_id, at=datetime.now(UTC), kind=EventKind.TASK_LOG, project="acme-lib",
        version="1.0.0", task_id=1, data={"level": "info", "message": f"line {event_id}"},
    )  # fmt: skip


def test_log_pane_follows_new_events_until_scrolled_up(qloop: QtLoop, qtbot: Any) -> None:
    model = EventLogModel()
    proxy = EventFilterProxy()
    proxy.setSourceModel(model)
    host = QWidget()
    qtbot.addWidget(host)
    pane = LogPane(model, proxy, host)
    host.resize(900, 300)
    pane.resize(900, 300)
    host.show()
    bar = pane.table.verticalScrollBar()

    model.append(_line(i) for i in range(1, 201))
    qloop.settle(0.2)
    assert bar.maximum() > 0 and bar.value() == bar.maximum()
    assert pane.count_label.text() == "200 events"

    bar.setValue(0)  # the user scrolls up to read: following stops
    assert not pane.auto_scroll.isChecked()
    model.append([_line(201)])
    qloop.settle(0.2)
    assert bar.value() == 0

    pane.auto_scroll.setChecked(True)
    model.append([_line(202)])
    qloop.settle(0.2)
    assert bar.value() == bar.maximum()

    pane.filter_edit.setText("line 20")  # line 20, 200, 201, 202
    assert pane.count_label.text() == "4 of 202 events"
