"""The Checks tab: summary bar and verdict, status toggles, the results, a result's detail.

Renders a :class:`~desktop.viewmodels.checks.ChecksViewModel`; every click goes
back to it. The ignore-rule editor opens from here (for the project, or pre-filled
from the selected result).
"""

from __future__ import annotations

from PySide6.QtCore import (
    QItemSelection,
    QModelIndex,
    QPersistentModelIndex,
    QPoint,
    QSortFilterProxyModel,
    Qt,
)
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMenu,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTextBrowser,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.checks import (
    ARTIFACT,
    CHECK,
    PATH,
    STATUS,
    STATUSES,
    Grouping,
    SortRole,
)
from desktop.theme import CHECK_STATUS_COLOURS, IGNORED_COLOUR, MUTED_TEXT
from desktop.viewmodels.checks import ChecksViewModel
from desktop.views.check_detail import result_html
from desktop.views.policy_editor import IgnoreRulesDialog
from shared.protocol.checks import CheckResultOut

_STATUS_WORDS = {"blocker": "blocker", "warning": "warning", "note": "note", "pass": "passed"}
_GROUPINGS = (
    ("No grouping", Grouping.NONE),
    ("Group by file", Grouping.FILE),
    ("Group by check", Grouping.CHECK),
)
BLOCKED_BANNER = "background-color: #fdecea; color: #b71c1c; border: 1px solid #ef9a9a;"
CLEAR_BANNER = "background-color: #e8f5e9; color: #1b5e20; border: 1px solid #a5d6a7;"
WARNING_BANNER = "background-color: #fff8e1; color: #8d5a00; border: 1px solid #ffd54f;"
INFO_BANNER = "background-color: #eef3f8; color: #263238; border: 1px solid #b0bec5;"
BANNER_STYLES = {
    "blocked": BLOCKED_BANNER,
    "clear": CLEAR_BANNER,
    "warning": WARNING_BANNER,
    "info": INFO_BANNER,
}
DETAIL_PLACEHOLDER = (
    f"<p style='color: {MUTED_TEXT};'>Select a result to see its detail: the message, the "
    "signers of a signature, the difference of a LICENSE or NOTICE, every data field.</p>"
)


def chip_style(colour: str) -> str:
    """A rounded toggle: outlined when off, filled with ``colour`` when on."""
    return (
        f"QPushButton {{ border: 1px solid {colour}; border-radius: 11px; padding: 3px 12px;"
        f" color: {colour}; background-color: white; font-weight: bold; }}"
        f" QPushButton:checked {{ background-color: {colour}; color: white; }}"
        f" QPushButton:disabled {{ border-color: #bdbdbd; color: #bdbdbd; }}"
    )


class MiddleElide(QStyledItemDelegate):
    """Elides in the middle: ``apache-acme…-src.tar.gz``, ``src/main/…/Parser.java``."""

    def initStyleOption(
        self, option: QStyleOptionViewItem, index: QModelIndex | QPersistentModelIndex
    ) -> None:
        super().initStyleOption(option, index)
        option.textElideMode = Qt.TextElideMode.ElideMiddle


class ResultsSortProxy(QSortFilterProxyModel):
    """Sorts the results (and the groups) by the model's :data:`SortRole`."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setSortRole(SortRole)
        self.setRecursiveFilteringEnabled(False)


class ChecksView(QWidget):
    """The checks of the revision shown in the release panel."""

    def __init__(self, vm: ChecksViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._vm = vm
        self.rules_dialog: IgnoreRulesDialog | None = None
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 6, 4, 4)
        layout.addLayout(self._build_summary())
        self.banner = QLabel()
        self.banner.setWordWrap(True)
        layout.addWidget(self.banner)
        self.header_summary = QLabel()
        self.header_summary.setWordWrap(True)
        self.header_summary.setStyleSheet(f"color: {MUTED_TEXT};")
        layout.addWidget(self.header_summary)
        layout.addLayout(self._build_filters())
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.addWidget(self._build_results())
        splitter.addWidget(self._build_detail())
        splitter.setStretchFactor(0, 1)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([260, 240])
        splitter.setChildrenCollapsible(False)
        self.splitter = splitter
        layout.addWidget(splitter, 1)

        vm.report_changed.connect(self._render_summary)
        vm.results_changed.connect(self._render_results)
        vm.detail_changed.connect(self._render_detail)
        vm.permissions_changed.connect(self._render_permissions)
        self._render_summary()
        self._render_results()
        self._render_detail(vm.selected)

    # --- building -------------------------------------------------------------------------------

    def _build_summary(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.status_buttons: dict[str, QPushButton] = {}
        for status in STATUSES:
            button = self._chip(CHECK_STATUS_COLOURS[status], status in self._vm.statuses)
            button.setToolTip(f"Show or hide the {_STATUS_WORDS[status]} results")
            button.toggled.connect(lambda on, status=status: self._vm.set_status_shown(status, on))
            self.status_buttons[status] = button
            row.addWidget(button)
        row.setSpacing(6)
        self.ignored_button = self._chip(IGNORED_COLOUR, self._vm.show_ignored)
        self.ignored_button.setToolTip(
            "Show or hide the results the project's ignore rules take out of the count"
        )
        self.ignored_button.toggled.connect(self._vm.set_show_ignored)
        row.addWidget(self.ignored_button)
        self.headline = QLabel()
        self.headline.setStyleSheet(f"color: {MUTED_TEXT};")
        self.headline.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.headline.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(100)
        self.progress.setTextVisible(False)
        self.progress.setMaximumHeight(12)
        self.rerun_button = QPushButton("Rerun")
        self.rerun_button.setToolTip(
            "Run again the checks whose inputs changed since they ran (policy, keys, a check)"
        )
        self.rerun_button.clicked.connect(lambda _checked=False: self._vm.rerun())
        self.rules_button = QPushButton("Ignore rules…")
        self.rules_button.setToolTip("The project's ignore rules: which results do not count, why")
        self.rules_button.clicked.connect(lambda _checked=False: self.open_rules())
        row.addWidget(self.headline, 1)
        row.addWidget(self.progress)
        row.addSpacing(8)
        row.addWidget(self.rerun_button)
        row.addWidget(self.rules_button)
        return row

    @staticmethod
    def _chip(colour: str, checked: bool) -> QPushButton:
        button = QPushButton()
        button.setCheckable(True)
        button.setChecked(checked)
        button.setStyleSheet(chip_style(colour))
        button.setCursor(Qt.CursorShape.PointingHandCursor)
        return button

    def _build_filters(self) -> QHBoxLayout:
        self.grouping_combo = QComboBox()
        for label, grouping in _GROUPINGS:
            self.grouping_combo.addItem(label, grouping)
        self.grouping_combo.currentIndexChanged.connect(
            lambda i: self._vm.set_grouping(_GROUPINGS[i][1])
        )
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("Filter results: check, file, message…")
        self.filter_edit.setClearButtonEnabled(True)
        self.filter_edit.textChanged.connect(self._vm.set_text_filter)
        self.shown_label = QLabel()
        self.shown_label.setStyleSheet(f"color: {MUTED_TEXT};")
        self.shown_label.setMinimumWidth(110)
        self.shown_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        row = QHBoxLayout()
        row.addWidget(self.filter_edit, 1)
        row.addWidget(self.grouping_combo)
        row.addWidget(self.shown_label)
        return row

    def _build_results(self) -> QWidget:
        self.tree = QTreeView()
        self._proxy = ResultsSortProxy(self)
        self._proxy.setSourceModel(self._vm.results)
        self.tree.setModel(self._proxy)
        self.tree.setSortingEnabled(True)
        self.tree.sortByColumn(STATUS, Qt.SortOrder.AscendingOrder)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setRootIsDecorated(False)
        self.tree.setAllColumnsShowFocus(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self._middle = MiddleElide(self.tree)
        for column in (ARTIFACT, PATH):  # the ends of a file name say most
            self.tree.setItemDelegateForColumn(column, self._middle)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._context_menu)
        header = self.tree.header()
        header.setStretchLastSection(True)
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        for column, width in ((STATUS, 120), (CHECK, 120), (ARTIFACT, 190), (PATH, 210)):
            header.resizeSection(column, width)
        header.setMinimumSectionSize(60)
        self.tree.selectionModel().selectionChanged.connect(self._selection_changed)

        self.empty = QLabel()
        self.empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty.setWordWrap(True)
        self.empty.setStyleSheet(f"color: {MUTED_TEXT}; font-size: large;")
        self._results_stack = QStackedWidget()
        self._results_stack.addWidget(self.tree)
        self._results_stack.addWidget(self.empty)
        return self._results_stack

    def _build_detail(self) -> QWidget:
        box = QWidget()
        self.detail = QTextBrowser()
        self.detail.setOpenLinks(False)
        self.detail.setPlaceholderText("")
        self.ignore_button = QPushButton("Ignore this result…")
        self.ignore_button.clicked.connect(self.ignore_selected)
        self.copy_button = QPushButton("Copy")
        self.copy_button.setToolTip("Copy the result (message and data) as text")
        self.copy_button.clicked.connect(self.copy_selected)
        top = QHBoxLayout()
        title = QLabel("<b>Detail</b>")
        top.addWidget(title)
        top.addStretch(1)
        top.addWidget(self.copy_button)
        top.addWidget(self.ignore_button)
        layout = QVBoxLayout(box)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.addLayout(top)
        layout.addWidget(self.detail, 1)
        return box

    # --- rendering ------------------------------------------------------------------------------

    def _render_summary(self) -> None:
        vm = self._vm
        summary = vm.summary()
        counts = vm.status_counts()
        for status, button in self.status_buttons.items():
            n = counts[status]
            word = _STATUS_WORDS[status]
            plural = "s" if n != 1 and status != "pass" else ""
            button.setText(f"{n} {word}{plural}")
        self.ignored_button.setText(f"{vm.ignored_count()} ignored")
        self.headline.setText(summary.headline)
        self.headline.setToolTip("\n".join(summary.run_errors))
        running = summary.state in ("pending", "running", "loading")
        self.progress.setVisible(running and summary.state != "loading")
        self.progress.setMaximum(max(summary.runs_total, 1))
        self.progress.setValue(summary.runs_done)
        banner = summary.banner
        self.banner.setVisible(bool(banner))
        if banner:
            style = BANNER_STYLES[summary.banner_tone]
            self.banner.setText(banner)
            self.banner.setStyleSheet(f"{style} padding: 3px 8px; font-weight: bold;")
        headers = vm.header_summaries()
        self.header_summary.setVisible(bool(headers))
        self.header_summary.setText("\n".join(headers))
        self._render_permissions()

    def _render_results(self) -> None:
        vm = self._vm
        grouped = vm.grouping is not Grouping.NONE
        self.tree.setRootIsDecorated(grouped)
        if grouped:
            self.tree.expandAll()
        shown = vm.shown_count()
        total = len(vm.report.results) if vm.report else 0
        self.shown_label.setText(f"{shown} of {total} shown" if total else "")
        if shown:
            self._results_stack.setCurrentWidget(self.tree)
        else:
            self.empty.setText(self._empty_text(total))
            self._results_stack.setCurrentWidget(self.empty)
        self._restore_selection()

    def _empty_text(self, total: int) -> str:
        summary = self._vm.summary()
        if summary.state == "none":
            return summary.headline
        if summary.state == "loading":
            return "Loading the checks…"
        if total == 0:
            return "No results yet: they appear here as each check finishes."
        return "No result matches the filters."

    def _restore_selection(self) -> None:
        selected = self._vm.selected
        if selected is None:
            return
        source = self._vm.results.index_of(
            (selected.check, selected.artifact, selected.path, selected.message)
        )
        index = self._proxy.mapFromSource(source)
        if index.isValid():
            self.tree.selectionModel().blockSignals(True)
            self.tree.setCurrentIndex(index)
            self.tree.selectionModel().blockSignals(False)
            self.tree.scrollTo(index)

    def _render_detail(self, result: CheckResultOut | None) -> None:
        scroll = self.detail.verticalScrollBar().value()
        self.detail.setHtml(result_html(result) if result is not None else DETAIL_PLACEHOLDER)
        self.detail.verticalScrollBar().setValue(scroll if result is not None else 0)
        self.copy_button.setEnabled(result is not None)
        self._render_permissions()

    def _render_permissions(self) -> None:
        refusal = self._vm.ignore_refusal(self._vm.selected)
        self.ignore_button.setEnabled(not refusal)
        self.ignore_button.setToolTip(
            refusal or "Add an ignore rule for this result to the project's policy"
        )
        self.rules_button.setEnabled(self._vm.target is not None)
        summary = self._vm.summary()
        self.rerun_button.setVisible(summary.stale > 0)
        self.rerun_button.setEnabled(self._vm.can_rerun)

    # --- actions --------------------------------------------------------------------------------

    def _selection_changed(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        self._vm.select(self._result_at(indexes[0]) if indexes else None)

    def _result_at(self, index: QModelIndex) -> CheckResultOut | None:
        return self._vm.results.result_at(self._proxy.mapToSource(index))

    def select_row(self, row: int) -> None:
        """Select the ``row``-th visible top-level row (as a click would)."""
        self.tree.setCurrentIndex(self._proxy.index(row, 0))

    def _context_menu(self, pos: QPoint) -> None:
        result = self._result_at(self.tree.indexAt(pos))
        if result is None:
            return
        menu = QMenu(self)
        ignore = menu.addAction("Ignore this result…", lambda: self.open_rules(result))
        refusal = self._vm.ignore_refusal(result)
        ignore.setEnabled(not refusal)
        ignore.setToolTip(refusal)
        menu.setToolTipsVisible(True)
        menu.addAction("Copy", lambda: self._copy(result))
        menu.popup(self.tree.viewport().mapToGlobal(pos))

    def ignore_selected(self) -> IgnoreRulesDialog | None:
        result = self._vm.selected
        if result is None or self._vm.ignore_refusal(result):
            return None
        return self.open_rules(result)

    def open_rules(self, prefill: CheckResultOut | None = None) -> IgnoreRulesDialog | None:
        """The ignore-rule editor of the project, with a new rule for ``prefill`` if given."""
        editor = self._vm.policy_editor()
        if editor is None:
            return None
        draft = self._vm.rule_for(prefill) if prefill is not None else None
        dialog = IgnoreRulesDialog(editor, prefill=draft, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda: setattr(self, "rules_dialog", None))
        self.rules_dialog = dialog
        dialog.open()
        return dialog

    def copy_selected(self) -> None:
        result = self._vm.selected
        if result is not None:
            self._copy(result)

    @staticmethod
    def _copy(result: CheckResultOut) -> None:
        QGuiApplication.clipboard().setText(
            f"{result.status} {result.check} {result.path}\n{result.message}\n"
            + "\n".join(f"{k}: {v}" for k, v in result.data.items() if k != "sbom")
        )
