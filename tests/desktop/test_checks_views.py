"""The Checks and SBOM tabs and the ignore-rule editor, offscreen, fed reports built in the test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from desktop.keystore import Keystore
from desktop.models.checks import Grouping
from desktop.session import Session
from desktop.viewmodels.checks import ChecksViewModel
from desktop.viewmodels.policy import RuleDraft
from desktop.views.checks_view import ChecksView
from desktop.views.policy_editor import IgnoreRulesDialog, RuleDialog
from desktop.views.sbom_view import SbomView
from shared.protocol import Revision, Role
from shared.protocol.checks import PolicyOut
from tests.desktop.checks_data import PROJECT, SRC, VERSION, report
from tests.desktop.conftest import QtLoop

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
REVISION = Revision(
    project=PROJECT, version=VERSION, number=1, created_at=NOW, created_by="bob", message="",
    files=[],
)  # fmt: skip


@pytest.fixture
def session(qloop: QtLoop, keystore: Keystore) -> Session:
    return Session(keystore)


def _vm(session: Session, role: Role = Role.PMC) -> ChecksViewModel:
    vm = ChecksViewModel(session, role=lambda: role)
    vm.show_revision(REVISION)
    return vm


def _view(qtbot: Any, vm: ChecksViewModel) -> ChecksView:
    view = ChecksView(vm)
    qtbot.addWidget(view)
    view.resize(1100, 700)
    view.show()
    return view


def test_checks_view_summary_filters_and_detail(qtbot: Any, session: Session) -> None:
    vm = _vm(session)
    view = _view(qtbot, vm)
    assert view.empty.text() == "Loading the checks…" and view.banner.isHidden()

    session.checks_changed.emit(report(state="running", done_runs=2, items=[]))
    assert view.headline.text() == "Checks running: 2 of 7 done"
    assert view.progress.isVisibleTo(view) and view.progress.value() == 2
    assert "appear here as each check finishes" in view.empty.text()

    session.checks_changed.emit(report())
    assert [b.text() for b in view.status_buttons.values()] == [
        "3 blockers", "1 warning", "1 note", "4 passed",
    ]  # fmt: skip
    assert view.ignored_button.text() == "1 ignored"
    assert view.banner.isVisibleTo(view)
    assert "Blocked: 3 blockers — this release cannot go to vote" in view.banner.text()
    assert not view.progress.isVisibleTo(view)
    assert view.shown_label.text() == "6 of 10 shown"

    view.status_buttons["pass"].click()  # the toggles are the filter
    assert view.shown_label.text() == "10 of 10 shown"
    view.status_buttons["blocker"].click()
    assert vm.statuses == {"warning", "note", "pass"}
    view.filter_edit.setText("no such thing")
    assert view.empty.text() == "No result matches the filters."
    view.filter_edit.clear()
    view.status_buttons["blocker"].click()

    # the worst first; selecting one shows its detail; the diff is in the detail pane
    view.select_row(0)
    selected = vm.selected
    assert selected is not None and selected.status == "blocker"
    row = next(
        r for r in range(view.tree.model().rowCount())
        if "LICENSE" in (view.tree.model().index(r, 3).data() or "")
    )  # fmt: skip
    view.select_row(row)
    assert vm.selected is not None and vm.selected.check == "license_notice"
    html = view.detail.toHtml()
    assert "Grant of Copyleft License" in html and "Difference" in html
    assert view.ignore_button.isEnabled()

    # the signature blocker cannot be ignored: the button says why
    sig = next(
        r for r in range(view.tree.model().rowCount())
        if view.tree.model().index(r, 1).data() == "signatures"
        and view.tree.model().index(r, 0).data() == "blocker"
    )  # fmt: skip
    view.select_row(sig)
    assert not view.ignore_button.isEnabled()
    assert "can never be ignored" in view.ignore_button.toolTip()

    # a live reload keeps the selection and the detail
    session.checks_changed.emit(report())
    assert vm.selected is not None and vm.selected.check == "signatures"
    current = view.tree.currentIndex()
    assert current.isValid() and view.tree.model().index(current.row(), 1).data() == "signatures"

    view.grouping_combo.setCurrentIndex(2)
    assert vm.grouping is Grouping.CHECK and view.tree.rootIsDecorated()
    assert view.tree.isExpanded(view.tree.model().index(0, 0))


def test_ignore_this_result_prefills_a_rule_and_ok_needs_a_reason(
    qtbot: Any, session: Session
) -> None:
    vm = _vm(session)
    session.checks_changed.emit(report())
    view = _view(qtbot, vm)
    header = next(
        r for r in report().results if r.check == "license_headers" and r.status == "blocker"
    )
    vm.select(header)
    dialog = view.ignore_selected()
    assert isinstance(dialog, IgnoreRulesDialog)
    assert not dialog.add_button.isEnabled()  # the policy has not arrived yet
    assert dialog.rule_dialog is None
    session.policy_loaded.emit(PolicyOut(project=PROJECT, policy={}))
    rule = dialog.rule_dialog
    assert isinstance(rule, RuleDialog)
    assert rule.draft == RuleDraft("license_headers", f"{SRC}!/src/gen/Parser.java", "blocker", "")
    assert rule.matches.text() == "matches 1 result of revision 1"
    assert not rule.ok_button.isEnabled()
    assert "write the reason" in rule.problem.text()
    rule.reason_edit.setPlainText("   ")
    assert not rule.ok_button.isEnabled()
    rule.status_combo.setCurrentIndex(rule.status_combo.findData("warning"))
    rule.reason_edit.setPlainText("generated by JavaCC")
    assert rule.ok_button.isEnabled() and rule.problem.isHidden()
    assert rule.matches.text() == "matches no result of revision 1"
    rule.status_combo.setCurrentIndex(rule.status_combo.findData("blocker"))

    # a rule that could hide a signature blocker is refused with the reason
    rule.check_combo.setEditText("signatures")
    assert not rule.ok_button.isEnabled()
    assert "blockers of the signatures check can never be ignored" in rule.problem.text()
    rule.status_combo.setCurrentIndex(0)  # any status: its warnings and notes only
    assert rule.ok_button.isEnabled()
    assert "blockers of signatures still count" in rule.matches.text()
    rule.check_combo.setEditText("license_headers")
    rule.status_combo.setCurrentIndex(rule.status_combo.findData("blocker"))

    rule.ok_button.click()
    assert dialog.rule_dialog is None or not dialog.rule_dialog.isVisible()
    assert dialog.table.model().rowCount() == 1
    assert dialog.table.model().index(0, 0).data() == "1 *"  # unsaved
    assert dialog.reason_edit.text() == (
        f"ignore license_headers results on {SRC}!/src/gen/Parser.java: generated by JavaCC"
    )
    assert dialog.save_button.isEnabled()
    assert dialog.close_button.text() == "Discard and close"
    dialog.reason_edit.selectAll()
    qtbot.keyClick(dialog.reason_edit, Qt.Key.Key_Backspace)
    assert dialog.reason_edit.text() == ""
    assert not dialog.save_button.isEnabled()  # a change needs its reason
    dialog.reject()


def test_editor_is_read_only_for_committers(qtbot: Any, session: Session) -> None:
    vm = _vm(session, Role.COMMITTER)
    session.checks_changed.emit(report())
    view = _view(qtbot, vm)
    header = next(
        r for r in report().results if r.check == "license_headers" and r.status == "blocker"
    )
    vm.select(header)
    assert not view.ignore_button.isEnabled()
    assert view.ignore_button.toolTip() == (
        "changing the project's ignore rules needs the pmc role (you are committer)"
    )
    assert view.ignore_selected() is None
    assert view.rules_button.isEnabled()  # the rules can be read
    dialog = view.open_rules()
    assert dialog is not None
    session.policy_loaded.emit(
        PolicyOut(
            project=PROJECT,
            policy={"ignores": [{"check": "paths", "path": "*.docx", "reason": "Word notes"}]},
            updated_by="alice",
            updated_at=NOW,
        )
    )
    assert dialog.table.model().rowCount() == 1
    assert dialog.read_only.isVisibleTo(dialog) and "needs the pmc role" in dialog.read_only.text()
    dialog.table.selectRow(0)
    for button in (dialog.add_button, dialog.edit_button, dialog.remove_button):
        assert not button.isEnabled()
        assert "needs the pmc role" in button.toolTip()
    assert not dialog.save_button.isEnabled() and not dialog.reason_edit.isEnabled()
    assert dialog.edit_selected() is None
    dialog.reject()


def test_sbom_view_lists_components_and_enables_save(qtbot: Any, session: Session) -> None:
    vm = _vm(session)
    host = QWidget()
    qtbot.addWidget(host)
    view = SbomView(vm, host)
    view.resize(1000, 500)
    host.show()
    assert not view.save_button.isEnabled() and view.empty.isVisibleTo(host)
    session.checks_changed.emit(report())
    assert view.save_button.isEnabled() and view.table.isVisibleTo(host)
    assert view.artifact_combo.currentText() == SRC
    assert view.summary.text().startswith("5 components: 2 category A")
    model = view.table.model()
    assert [model.index(r, 3).data() for r in range(model.rowCount())] == [
        "X", "unknown", "B", "A", "A",
    ]  # fmt: skip
    view.filter_edit.setText("commons")
    assert model.rowCount() == 1 and model.index(0, 0).data() == "commons-io"
