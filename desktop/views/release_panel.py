"""The centre of the main window: one release — phase, transitions, files, tasks."""

from __future__ import annotations

from collections import Counter

from PySide6.QtCore import QSortFilterProxyModel, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QGuiApplication, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop.format import human_size, local_time
from desktop.models.files import SortRole
from desktop.theme import CHECK_STATUS_COLOURS, MUTED_TEXT, PHASE_COLOURS
from desktop.viewmodels.main import MainViewModel, TransitionChoice
from desktop.views.checks_view import ChecksView
from desktop.views.sbom_view import SbomView
from desktop.views.style import heading, row_table, set_phase_badge
from shared.lifecycle import Phase
from shared.protocol import Release, Revision

PLACEHOLDER = (
    "<p style='font-size:large'>Select a release on the left</p>"
    "<p>or create one with <b>Release → New release…</b> (Ctrl+N).</p>"
)


class ReleasePanel(QWidget):
    """Shows :attr:`MainViewModel.release` and forwards the user's actions to the view-model."""

    transition_requested = Signal(object)
    """the :class:`Phase` whose button was clicked (the window asks for a reason)"""
    upload_requested = Signal()
    distribution_requested = Signal()
    """Distribution…: the window opens the release's distribution screen"""

    def __init__(self, vm: MainViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self._stack = QStackedWidget()
        placeholder = QLabel(PLACEHOLDER)
        placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        placeholder.setStyleSheet("color: #757575;")
        self._stack.addWidget(placeholder)
        self._stack.addWidget(self._build_release())
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

        vm.release_shown.connect(self._show_release)
        vm.revisions_listed.connect(self._list_revisions)
        vm.revision_shown.connect(self._show_revision)
        vm.actions_changed.connect(self._update_actions)
        vm.selection_changed.connect(self._update_actions)
        self._tick = QTimer(self)
        self._tick.setInterval(1000)
        self._tick.timeout.connect(vm.tasks.refresh_durations)
        self._tick.start()
        self._show_release(None)

    # --- building -------------------------------------------------------------------------------

    def _build_release(self) -> QWidget:
        page = QWidget()
        self.title = heading("", scale=1.6)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.phase_badge = QLabel()
        self.details = QLabel()
        self.details.setStyleSheet("color: #616161;")
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addSpacing(8)
        header.addWidget(self.phase_badge)
        header.addStretch(1)
        header.addWidget(self.details)
        self.distribution_button = QPushButton("Distribution…")
        self.distribution_button.setToolTip(
            "The release's way out: staging, the signed plan, the channels, the announcement"
            " (Ctrl+D)"
        )
        self.distribution_button.clicked.connect(self.distribution_requested)
        header.addWidget(self.distribution_button)

        self.transitions_box = QHBoxLayout()
        self.transitions_label = QLabel("Move to:")
        self.transitions_box.addWidget(self.transitions_label)
        self.transitions_box.addStretch(1)
        self._transition_buttons: list[QPushButton] = []
        self._shown_choices: list[TransitionChoice] | None = None

        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_files())
        splitter.addWidget(self._build_tasks())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setChildrenCollapsible(False)

        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(splitter, "Files and tasks")
        self.checks_view = ChecksView(self._vm.checks)
        self.tabs.addTab(self.checks_view, "Checks")
        self.sbom_view = SbomView(self._vm.checks)
        self.tabs.addTab(self.sbom_view, "SBOM")
        self._vm.checks.report_changed.connect(self._title_checks_tab)

        layout = QVBoxLayout(page)
        layout.setContentsMargins(8, 6, 8, 0)
        layout.addLayout(header)
        layout.addLayout(self.transitions_box)
        layout.addWidget(self.tabs, 1)
        return page

    def _title_checks_tab(self) -> None:
        index = self.tabs.indexOf(self.checks_view)
        self.tabs.setTabText(index, self._vm.checks.tab_title())
        blocked = self._vm.checks.summary().blocked
        colour = (
            QColor(CHECK_STATUS_COLOURS["blocker"]) if blocked else QColor()
        )  # invalid: default
        self.tabs.tabBar().setTabTextColor(index, colour)

    def _build_files(self) -> QWidget:
        box = QGroupBox("Files")
        self.revision_combo = QComboBox()
        self.revision_combo.setMinimumContentsLength(28)
        self.revision_combo.activated.connect(self._revision_chosen)
        self.revision_info = QLabel()
        self.revision_info.setStyleSheet("color: #616161;")
        self.upload_button = QPushButton("Upload files…")
        self.upload_button.setToolTip("Upload files into a new revision (Ctrl+U)")
        self.upload_button.clicked.connect(self.upload_requested)
        top = QHBoxLayout()
        top.addWidget(QLabel("Revision:"))
        top.addWidget(self.revision_combo)
        top.addWidget(self.revision_info, 1)
        top.addWidget(self.upload_button)

        self.files_table = row_table()
        proxy = QSortFilterProxyModel(self)
        proxy.setSourceModel(self._vm.files)
        proxy.setSortRole(SortRole)
        self.files_table.setModel(proxy)
        self.files_table.setSortingEnabled(True)
        self.files_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.files_table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.files_table.setToolTip("Ctrl+C copies the full values of the selected cells")
        header = self.files_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2, 3):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self._files_proxy = proxy
        copy = QShortcut(QKeySequence.StandardKey.Copy, self.files_table)
        copy.setContext(Qt.ShortcutContext.WidgetShortcut)
        copy.activated.connect(self.copy_selected_files)
        self.files_empty = QLabel("No files yet: upload the release's artifacts.")
        self.files_empty.setStyleSheet("color: #757575; padding: 4px;")

        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.files_table)
        layout.addWidget(self.files_empty)
        return box

    def _build_tasks(self) -> QWidget:
        box = QGroupBox("Tasks")
        self.inventory_button = QPushButton("Start inventory")
        self.inventory_button.setToolTip(
            "Run the inventory task on the latest revision: size, SHA-512, archive members (Ctrl+I)"
        )
        self.inventory_button.clicked.connect(self._vm.start_inventory)
        self.tasks_summary = QLabel()
        self.tasks_summary.setStyleSheet(f"color: {MUTED_TEXT};")
        top = QHBoxLayout()
        top.addWidget(self.tasks_summary, 1)
        top.addWidget(self.inventory_button)
        self.tasks_table = row_table()
        self.tasks_table.setModel(self._vm.tasks)
        header = self.tasks_table.horizontalHeader()
        for column in range(6):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout = QVBoxLayout(box)
        layout.addLayout(top)
        layout.addWidget(self.tasks_table)
        model = self._vm.tasks
        for signal in (model.modelReset, model.rowsInserted, model.dataChanged):
            signal.connect(self._summarize_tasks)
        self._summarize_tasks()
        return box

    def _summarize_tasks(self, *_args: object) -> None:
        tasks = self._vm.tasks.tasks()
        if not tasks:
            self.tasks_summary.setText("No tasks yet: run the inventory once files are uploaded.")
            return
        counts = Counter(t.state.value for t in tasks)
        states = " · ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        self.tasks_summary.setText(f"{len(tasks)} task{'s' if len(tasks) != 1 else ''}: {states}")

    # --- rendering ------------------------------------------------------------------------------

    def _show_release(self, release: Release | None) -> None:
        node = self._vm.selection
        if release is not None:
            self.title.setText(f"{release.project} {release.version}")
            set_phase_badge(self.phase_badge, release.phase)
            self.details.setText(
                f"created by {release.created_by} · "
                f"updated {local_time(release.updated_at, with_date=True)}"
            )
        elif node is not None and node.is_release:  # selected, still loading
            self.title.setText(f"{node.project} {node.version}")
            set_phase_badge(self.phase_badge, None)
            self.details.setText("loading…")
        else:
            self._stack.setCurrentIndex(0)
            return
        self._stack.setCurrentIndex(1)
        self._update_actions()

    def _list_revisions(self, revisions: list[Revision]) -> None:
        self.revision_combo.clear()
        for revision in reversed(revisions):
            self.revision_combo.addItem(
                f"r{revision.number} · {len(revision.files)} files · {revision.created_by}",
                revision.number,
            )
        self.revision_combo.setEnabled(bool(revisions))
        if not revisions:
            self.revision_combo.addItem("no revision yet")

    def _show_revision(self, revision: Revision | None) -> None:
        has_files = revision is not None and bool(revision.files)
        self.files_table.setVisible(has_files)
        self.files_empty.setVisible(not has_files)
        if revision is None:
            self.revision_info.setText("")
            return
        index = self.revision_combo.findData(revision.number)
        if index >= 0:
            self.revision_combo.setCurrentIndex(index)
        total = human_size(sum(f.size for f in revision.files))
        message = f" — “{revision.message}”" if revision.message else ""
        self.revision_info.setText(
            f"{total} · {local_time(revision.created_at, with_date=True)}{message}"
        )

    def _revision_chosen(self, index: int) -> None:
        number = self.revision_combo.itemData(index)
        if isinstance(number, int):
            self._vm.show_revision(number)

    def _update_actions(self, *_signal_args: object) -> None:
        self.upload_button.setEnabled(self._vm.can_upload)
        self.inventory_button.setEnabled(self._vm.can_start_inventory)
        choices = self._vm.transitions()
        if choices == self._shown_choices:
            return  # unchanged: keep the buttons (no flicker, no lost focus)
        self._shown_choices = choices
        for button in self._transition_buttons:
            self.transitions_box.removeWidget(button)
            button.deleteLater()
        self._transition_buttons = []
        self.transitions_label.setText("Move to:" if choices else "")
        for position, choice in enumerate(choices, start=1):
            button = QPushButton(choice.phase.value)
            button.setProperty("transition", True)
            colour = PHASE_COLOURS[choice.phase]
            button.setStyleSheet(f"QPushButton:enabled {{ color: {colour}; font-weight: bold; }}")
            button.setEnabled(choice.permitted)
            button.setToolTip(
                f"Move the release to '{choice.phase.value}'" if choice.permitted else choice.reason
            )
            button.clicked.connect(
                lambda _checked=False, phase=choice.phase: self.transition_requested.emit(phase)
            )
            self.transitions_box.insertWidget(position, button)
            self._transition_buttons.append(button)

    def transition_buttons(self) -> dict[Phase, QPushButton]:
        """The transition buttons now shown, by target phase."""
        return {Phase(b.text()): b for b in self._transition_buttons}

    def copy_selected_files(self) -> None:
        """Put the full values of the selected file cells on the clipboard."""
        indexes = [self._files_proxy.mapToSource(i) for i in self.files_table.selectedIndexes()]
        text = self._vm.files.copy_text(indexes)
        if text:
            QGuiApplication.clipboard().setText(text)
