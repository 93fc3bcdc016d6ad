"""The ignore-rule editor: the project's rules, a dialog per rule, Save with a change reason.

Renders a :class:`~desktop.viewmodels.policy.PolicyEditorViewModel`. A rule's
OK button stays disabled until the rule is valid (a reason written; no rule that
could hide a signature or checksum blocker), with the problem said under the
form. Committers see the rules read-only: the edit buttons are disabled and say
why in their tooltip.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.ignore_rules import CHECK, MATCHES, NUMBER, PATH, REASON, STATUS, status_text
from desktop.theme import MUTED_TEXT, monospace_font
from desktop.viewmodels.policy import RULE_STATUSES, PolicyEditorViewModel, RuleDraft
from desktop.views.style import heading, row_table
from shared.errors import ValidationError

PROBLEM_STYLE = "color: #c62828;"
EXPLANATION = (
    "A rule takes the results of one check whose path matches a glob out of the count, for a "
    "written reason; the results stay in the report, greyed. The first rule that matches applies. "
    "Blockers of <b>signatures</b> and <b>checksums</b> can never be ignored."
)


class RuleDialog(QDialog):
    """Add or edit one rule; OK only once the view-model finds no problem."""

    def __init__(
        self,
        vm: PolicyEditorViewModel,
        draft: RuleDraft,
        *,
        editing: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vm = vm
        self._editing = editing
        self.setWindowTitle("Edit ignore rule" if editing is not None else "New ignore rule")
        self.resize(560, 360)

        self.check_combo = QComboBox()
        self.check_combo.setEditable(True)
        self.check_combo.addItems(vm.known_checks())
        self.check_combo.setEditText(draft.check)
        self.path_edit = QLineEdit(draft.path)
        self.path_edit.setFont(monospace_font())
        self.path_edit.setToolTip(
            "A glob on the result's path: * matches anything (also /), ? one character, "
            "[...] a set. A file inside an archive is <artifact>!/<path>."
        )
        self.status_combo = QComboBox()
        for status in RULE_STATUSES:
            self.status_combo.addItem(status_text(status), status)
        self.status_combo.setCurrentIndex(max(self.status_combo.findData(draft.status), 0))
        self.reason_edit = QPlainTextEdit(draft.reason)
        self.reason_edit.setPlaceholderText(
            "Why these results do not stop the release (required; shown beside each of them)"
        )
        self.reason_edit.setTabChangesFocus(True)
        form = QFormLayout()
        form.addRow("Check:", self.check_combo)
        form.addRow("Path glob:", self.path_edit)
        form.addRow("Status:", self.status_combo)
        form.addRow("Reason:", self.reason_edit)

        self.problem = QLabel()
        self.problem.setWordWrap(True)
        self.problem.setStyleSheet(PROBLEM_STYLE)
        self.matches = QLabel()
        self.matches.setStyleSheet(f"color: {MUTED_TEXT};")
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setText("Add rule" if editing is None else "Change rule")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)

        layout = QVBoxLayout(self)
        layout.addLayout(form, 1)
        layout.addWidget(self.matches)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)

        self.check_combo.editTextChanged.connect(self._validate)
        self.path_edit.textChanged.connect(self._validate)
        self.status_combo.currentIndexChanged.connect(self._validate)
        self.reason_edit.textChanged.connect(self._validate)
        self._validate()
        if draft.check and draft.path:
            self.reason_edit.setFocus()

    @property
    def draft(self) -> RuleDraft:
        return RuleDraft(
            check=self.check_combo.currentText(),
            path=self.path_edit.text(),
            status=self.status_combo.currentData(),
            reason=self.reason_edit.toPlainText(),
        )

    def _validate(self) -> None:
        draft = self.draft
        problem = self._vm.problem(draft, editing=self._editing)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.matches.setText(self._vm.match_note(draft))
        self.ok_button.setEnabled(not problem)
        self.ok_button.setToolTip(problem)

    def accept(self) -> None:
        try:
            if self._editing is None:
                self._vm.add(self.draft)
            else:
                self._vm.replace(self._editing, self.draft)
        except ValidationError as exc:  # the button is disabled then; a last guard
            self.problem.setText(exc.message)
            self.problem.show()
            return
        super().accept()


class IgnoreRulesDialog(QDialog):
    """The project's ignore rules; Save sends the whole policy with a change reason."""

    def __init__(
        self,
        vm: PolicyEditorViewModel,
        *,
        prefill: RuleDraft | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._vm = vm
        self._prefill = prefill
        self._reason_typed = False
        self.rule_dialog: RuleDialog | None = None
        self.setWindowTitle(f"Ignore rules — {vm.project}")
        self.resize(900, 460)

        self.updated = QLabel()
        self.updated.setStyleSheet(f"color: {MUTED_TEXT};")
        top = QHBoxLayout()
        top.addWidget(heading(f"Ignore rules of {vm.project}", scale=1.2))
        top.addStretch(1)
        top.addWidget(self.updated)
        explanation = QLabel(EXPLANATION)
        explanation.setWordWrap(True)
        self.read_only = QLabel(f"Read only: {vm.read_only_reason}.")
        self.read_only.setStyleSheet(
            "background-color: #fff8e1; color: #6d4c00; padding: 4px 8px;"
            " border: 1px solid #ffe082;"
        )
        self.read_only.setVisible(not vm.can_edit)
        self.stale = QLabel(
            "Someone else changed this policy while you were editing it: Save would overwrite "
            "their change, so it will be refused. Reload takes their version (your edits are lost)."
        )
        self.stale.setWordWrap(True)
        self.stale.setStyleSheet("color: #b71c1c;")
        self.reload_button = QPushButton("Reload")
        self.reload_button.clicked.connect(vm.reload)
        stale_row = QHBoxLayout()
        stale_row.addWidget(self.stale, 1)
        stale_row.addWidget(self.reload_button)

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(explanation)
        layout.addWidget(self.read_only)
        layout.addWidget(self._build_table(), 1)
        layout.addLayout(self._build_tools())
        layout.addLayout(stale_row)
        layout.addLayout(self._build_save())

        vm.rules_changed.connect(self._render)
        vm.loaded_changed.connect(self._loaded)
        vm.saving_changed.connect(self._render)  # bound methods: Qt drops them with the view
        vm.stale_changed.connect(self._render)
        vm.saved.connect(self._saved)
        self._render()
        if vm.loaded:
            self._loaded()

    def _build_table(self) -> QTableView:
        self.table = row_table()
        self.table.setModel(self._vm.rules)
        header = self.table.horizontalHeader()
        for column in (NUMBER, CHECK, PATH, STATUS, MATCHES):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(REASON, QHeaderView.ResizeMode.Stretch)
        self.table.doubleClicked.connect(lambda _index: self.edit_selected())
        self.table.selectionModel().selectionChanged.connect(lambda *_: self._render())
        return self.table

    def _build_tools(self) -> QHBoxLayout:
        self.add_button = QPushButton("Add…")
        self.add_button.clicked.connect(lambda: self.open_rule(RuleDraft()))
        self.edit_button = QPushButton("Edit…")
        self.edit_button.clicked.connect(self.edit_selected)
        self.remove_button = QPushButton("Remove")
        self.remove_button.clicked.connect(self.remove_selected)
        self.empty_note = QLabel("No ignore rule: every result counts.")
        self.empty_note.setStyleSheet(f"color: {MUTED_TEXT};")
        row = QHBoxLayout()
        row.addWidget(self.empty_note)
        row.addStretch(1)
        for button in (self.add_button, self.edit_button, self.remove_button):
            row.addWidget(button)
        return row

    def _build_save(self) -> QHBoxLayout:
        self.reason_edit = QLineEdit()
        self.reason_edit.setPlaceholderText("Why the policy changes (kept in the event log)")
        self.reason_edit.textEdited.connect(self._reason_edited)
        self.save_button = QPushButton("Save")
        self.save_button.setDefault(True)
        self.save_button.clicked.connect(self.save)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        row = QHBoxLayout()
        row.addWidget(QLabel("Change reason:"))
        row.addWidget(self.reason_edit, 1)
        row.addWidget(self.save_button)
        row.addWidget(self.close_button)
        return row

    # --- rendering ------------------------------------------------------------------------------

    def _selected_row(self) -> int | None:
        rows = self.table.selectionModel().selectedRows()
        return rows[0].row() if rows else None

    def _render(self, *_signal_args: object) -> None:
        vm = self._vm
        self.updated.setText(vm.updated_note)
        editable = vm.can_edit and vm.loaded and not vm.saving
        selected = self._selected_row() is not None
        tip = vm.read_only_reason
        self.add_button.setEnabled(editable)
        self.edit_button.setEnabled(editable and selected)
        self.remove_button.setEnabled(editable and selected)
        for button in (self.add_button, self.edit_button, self.remove_button):
            button.setToolTip(tip)
        self.reason_edit.setEnabled(vm.can_edit)
        if not self._reason_typed:
            self.reason_edit.setText(vm.default_change_reason())
        self.empty_note.setVisible(vm.loaded and vm.rules.rowCount() == 0)
        self.stale.setVisible(vm.stale)
        self.reload_button.setVisible(vm.stale)
        can_save = editable and vm.dirty and bool(self.reason_edit.text().strip())
        self.save_button.setEnabled(can_save)
        self.save_button.setText("Saving…" if vm.saving else "Save")
        self.save_button.setToolTip(tip or ("" if vm.dirty else "nothing changed"))
        self.close_button.setText("Discard and close" if vm.dirty else "Close")

    def _reason_edited(self, _text: str) -> None:
        self._reason_typed = True  # the user's words (even none) are no longer replaced
        self._render()

    def _loaded(self) -> None:
        self._render()
        if self._prefill is not None and self._vm.can_edit:
            draft, self._prefill = self._prefill, None
            self.open_rule(draft)

    def _saved(self) -> None:
        self._reason_typed = False
        self.accept()

    # --- actions --------------------------------------------------------------------------------

    def open_rule(self, draft: RuleDraft, *, editing: int | None = None) -> RuleDialog:
        dialog = RuleDialog(self._vm, draft, editing=editing, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: setattr(self, "rule_dialog", None))
        self.rule_dialog = dialog
        dialog.open()
        return dialog

    def edit_selected(self) -> RuleDialog | None:
        row = self._selected_row()
        if row is None or not self._vm.can_edit:
            return None
        return self.open_rule(RuleDraft.from_rule(self._vm.draft_rules()[row]), editing=row)

    def remove_selected(self) -> None:
        row = self._selected_row()
        if row is not None and self._vm.can_edit:
            self._vm.remove(row)

    def save(self) -> None:
        try:
            self._vm.save(self.reason_edit.text().strip())
        except ValidationError as exc:
            self._vm.report_problem(exc.diagnostics())

    def done(self, result: int) -> None:
        self._vm.close()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self._vm.close()
        super().closeEvent(event)
