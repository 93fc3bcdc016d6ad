"""The create-release dialog: a project and a version, checked as they are typed."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from shared.errors import ValidationError
from shared.ids import check_version
from shared.protocol import Project


class CreateReleaseDialog(QDialog):
    """Asks for the project and version of a new release (phase ``compose``)."""

    def __init__(
        self, projects: list[Project], *, selected: str | None = None, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New release")
        self.setMinimumWidth(420)
        self.project_combo = QComboBox()
        for project in projects:
            label = (
                f"{project.key} — {project.name}" if project.name != project.key else project.key
            )
            self.project_combo.addItem(label, project.key)
        if selected is not None:
            index = self.project_combo.findData(selected)
            if index >= 0:
                self.project_combo.setCurrentIndex(index)
        self.version_edit = QLineEdit()
        self.version_edit.setPlaceholderText("e.g. 1.2.0 or 2.0.0-M1")
        self.problem = QLabel()
        self.problem.setStyleSheet("color: #c62828;")
        self.problem.setWordWrap(True)
        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Create")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Project:", self.project_combo)
        form.addRow("Version:", self.version_edit)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.problem)
        layout.addWidget(
            QLabel("The release starts in phase <b>compose</b>: upload its files next.")
        )
        layout.addWidget(self.buttons)
        self.version_edit.textChanged.connect(self._validate)
        self._validate()
        self.version_edit.setFocus()

    @property
    def project(self) -> str:
        return str(self.project_combo.currentData() or "")

    @property
    def version(self) -> str:
        return self.version_edit.text().strip()

    def _validate(self) -> None:
        ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        text = self.version
        problem = ""
        if not self.project:
            problem = "There is no project to create a release in."
        elif text:
            try:
                check_version(text)
            except ValidationError as exc:
                problem = exc.diagnostics()
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        ok_button.setEnabled(bool(text) and not problem)
