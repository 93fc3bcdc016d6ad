"""The dialog that moves a release to its vote: where the candidate's source is, its notes."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from desktop.theme import MUTED_TEXT
from desktop.viewmodels.vote_start import VoteStartDraft, vote_start_problem


class VoteStartDialog(QDialog):
    """Asks for the optional source tag or commit, source URL and release notes of a vote."""

    def __init__(self, project: str, version: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Start the vote")
        self.setMinimumWidth(560)
        intro = QLabel(
            f"Start the release vote on <b>{project} {version}</b>: the agent mails the "
            "[VOTE] to the dev list, with the candidate page and what you give here."
        )
        intro.setWordWrap(True)
        self.ref_edit = QLineEdit()
        self.ref_edit.setPlaceholderText("e.g. v1.2.0-rc1, or the commit id")
        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText(
            "e.g. https://github.com/apache/acme/releases/tag/v1.2.0-rc1"
        )
        self.notes_edit = QLineEdit()
        self.notes_edit.setPlaceholderText(
            "e.g. https://acme.apache.org/changes/1.2.0 (else the CHANGES file of the release)"
        )
        form = QFormLayout()
        form.addRow("Source tag or commit:", self.ref_edit)
        form.addRow("Source URL:", self.url_edit)
        form.addRow("Release notes:", self.notes_edit)
        hint = QLabel("All three are optional; each goes into the [VOTE] mail.")
        hint.setStyleSheet(f"color: {MUTED_TEXT};")
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c62828;")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Start the vote")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(form)
        layout.addWidget(hint)
        layout.addWidget(self.problem)
        layout.addWidget(self.buttons)
        for edit in (self.ref_edit, self.url_edit, self.notes_edit):
            edit.textChanged.connect(self._validate)
        self._validate()

    @property
    def draft(self) -> VoteStartDraft:
        return VoteStartDraft(
            source_ref=self.ref_edit.text(),
            source_url=self.url_edit.text(),
            release_notes_url=self.notes_edit.text(),
        )

    def _validate(self) -> None:
        problem = vote_start_problem(self.draft)
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(not problem)
