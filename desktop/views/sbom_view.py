"""The SBOM tab: per artifact, its components with their ASF license category, and Save SBOM…."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.sbom import (
    CATEGORY,
    LICENSE,
    NAME,
    SCOPE,
    VERSION,
    ComponentsFilter,
)
from desktop.theme import LICENSE_CATEGORY_COLOURS, MUTED_TEXT
from desktop.viewmodels.checks import ChecksViewModel
from desktop.views.style import row_table

EMPTY_TEXT = (
    "No SBOM yet. The sbom check builds a CycloneDX SBOM for each source archive of the "
    "revision from the manifests inside it (pom.xml, package.json, pyproject.toml, go.mod, "
    "Cargo.toml…); its components appear here when it has run."
)


LEGEND = {
    "A": "may be included",
    "B": "binary form only",
    "X": "never in a release",
    "unknown": "no license stated, or not in the ASF lists",
}


def legend_html() -> str:
    """The four categories as coloured words with a few words of meaning (tooltips say more)."""
    parts = []
    for category, meaning in LEGEND.items():
        colour = LICENSE_CATEGORY_COLOURS[category]
        parts.append(f"<span style='color:{colour}'><b>■ {category}</b></span> {meaning}")
    return "ASF license categories: &nbsp;" + " &nbsp;&nbsp; ".join(parts)


class SbomView(QWidget):
    """Renders the SBOM side of a :class:`ChecksViewModel`."""

    def __init__(self, vm: ChecksViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self._proxy = ComponentsFilter(self)
        self._proxy.setSourceModel(vm.components)
        top = self._build_top()
        self.legend = QLabel(legend_html())
        self.legend.setStyleSheet(f"color: {MUTED_TEXT};")
        self.legend.setWordWrap(True)
        self.empty = QLabel(EMPTY_TEXT)
        self.empty.setWordWrap(True)
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setStyleSheet(f"color: {MUTED_TEXT}; font-size: large; padding: 24px;")
        self._stack = QStackedWidget()
        self._stack.addWidget(self._build_table())
        self._stack.addWidget(self.empty)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(top)
        layout.addWidget(self._stack, 1)
        layout.addWidget(self.legend)

        vm.sbom_changed.connect(self._render)
        self._render()

    def _build_top(self) -> QHBoxLayout:
        self.artifact_combo = QComboBox()
        self.artifact_combo.setMinimumContentsLength(30)
        self.artifact_combo.activated.connect(self._artifact_chosen)
        self.summary = QLabel()
        self.summary.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter components…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.setMaximumWidth(260)
        self.filter_edit.textChanged.connect(self._proxy.set_filter_text)
        self.save_button = QPushButton("Save SBOM…")
        self.save_button.setToolTip("Download the CycloneDX JSON the agent stored for the artifact")
        self.save_button.clicked.connect(self.choose_and_save)
        top = QHBoxLayout()
        top.addWidget(QLabel("Artifact:"))
        top.addWidget(self.artifact_combo)
        top.addWidget(self.summary, 1)
        top.addWidget(self.filter_edit)
        top.addWidget(self.save_button)
        return top

    def _build_table(self) -> QTableView:
        self.table = row_table(selection=QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setModel(self._proxy)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(CATEGORY, Qt.SortOrder.AscendingOrder)
        header = self.table.horizontalHeader()
        for column, width in ((NAME, 240), (VERSION, 110), (LICENSE, 170), (CATEGORY, 90)):
            header.resizeSection(column, width)
        header.setSectionResizeMode(SCOPE, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        return self.table

    def _render(self) -> None:
        artifacts = self._vm.sbom_artifacts()
        shown = [self.artifact_combo.itemText(i) for i in range(self.artifact_combo.count())]
        if shown != artifacts:
            self.artifact_combo.clear()
            self.artifact_combo.addItems(artifacts)
        current = self._vm.sbom_artifact
        if current is not None:
            self.artifact_combo.setCurrentIndex(self.artifact_combo.findText(current))
        has_sbom = current is not None
        self.artifact_combo.setEnabled(bool(artifacts))
        self.save_button.setEnabled(has_sbom)
        self.filter_edit.setEnabled(has_sbom)
        self.summary.setText(self._vm.sbom_summary())
        self._stack.setCurrentWidget(self.table if has_sbom else self.empty)
        self.legend.setVisible(has_sbom)

    def _artifact_chosen(self, index: int) -> None:
        self._vm.show_sbom(self.artifact_combo.itemText(index) or None)

    def choose_and_save(self) -> None:
        artifact = self._vm.sbom_artifact
        if artifact is None:
            return
        name, _ = QFileDialog.getSaveFileName(
            self, f"Save the SBOM of {artifact}", f"{artifact}.cdx.json", "CycloneDX JSON (*.json)"
        )
        if name:
            self._vm.save_sbom(Path(name))
