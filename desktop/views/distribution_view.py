"""The distribution screen: a release's plan signed here, its channels and files live with
their upload progress and the registries' errors, the manual steps, the announcement, and
the project's distribution settings.

Widgets only: every action goes to
:class:`~desktop.viewmodels.distribution.DistributionViewModel`, which says what may be done
and why not.
"""

from __future__ import annotations

import time
from html import escape

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QRect, Qt, QTimer
from PySide6.QtGui import (
    QAction,
    QBrush,
    QCloseEvent,
    QColor,
    QGuiApplication,
    QKeySequence,
    QPainter,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QDialog,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionProgressBar,
    QStyleOptionViewItem,
    QTableView,
    QTabWidget,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.format import local_time
from desktop.models.distribution import ChannelsModel, ManualStep, ProgressRole
from desktop.theme import DISTRIBUTION_STATE_COLOURS, MUTED_TEXT, monospace_font
from desktop.viewmodels.distribution import (
    DistributionViewModel,
    Guidance,
    plan_kind,
    settings_json,
)
from desktop.views.style import badge_style, heading, row_table, set_phase_badge
from shared.lifecycle import Phase
from shared.protocol.distribute import (
    ApprovalOut,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
)

TONE_STYLES = {
    "info": ("#e3f2fd", "#1565c0"),
    "ok": ("#e8f5e9", "#2e7d32"),
    "warn": ("#fff8e1", "#e65100"),
    "error": ("#ffebee", "#c62828"),
}
"""Background and accent of the guidance line per tone."""
FAIL_COLOUR = "#c62828"
OK_COLOUR = "#2e7d32"
ANNOUNCE_TICK_MS = 15_000
"""How often the screen says again how long the announcement must wait."""
_PERMILLE = 1000
BUSY_FILL, BUSY_STRIPES, BUSY_EDGE = "#e3f2fd", "#64b5f6", "#90caf9"
"""The busy bar of a file whose channel reports no byte count."""
BUSY_FRAME_MS = 120
"""How often moving stripes are repainted."""
NOTE_MS = 8000
"""How long a note of what an action did stays (failures stay until the next action)."""


def grouped(fingerprint: str) -> str:
    """A fingerprint in groups of four."""
    return " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))


def fit_rows(table: QTableView) -> None:
    """Let a table grow no taller than its rows (the space below goes to what follows)."""
    model = table.model()
    rows = model.rowCount() if model is not None else 0
    height = table.horizontalHeader().height() + 2 * table.frameWidth() + 2
    height += sum(table.rowHeight(row) or table.verticalHeader().defaultSectionSize()
                  for row in range(rows))  # fmt: skip
    if table.horizontalScrollBar().isVisible():
        height += table.horizontalScrollBar().height()
    table.setMaximumHeight(max(height, 60))


class ProgressDelegate(QStyledItemDelegate):
    """Draws the Progress column of a running row as a progress bar: bytes sent of a file
    (``task.progress``), files done of a channel, or a busy bar when the channel reports no
    byte progress."""

    def paint(
        self,
        painter: QPainter,
        option: QStyleOptionViewItem,
        index: QModelIndex | QPersistentModelIndex,
    ) -> None:
        value = index.data(ProgressRole)
        if not isinstance(value, tuple):
            super().paint(painter, option, index)
            return
        done, total = value
        widget = option.widget
        style = widget.style() if widget is not None else QApplication.style()
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(option.rect, option.palette.highlight())
        bar = QStyleOptionProgressBar()
        rect: QRect = option.rect
        bar.rect = rect.adjusted(3, 3, -3, -3)
        bar.state = QStyle.StateFlag.State_Enabled | QStyle.StateFlag.State_Horizontal
        bar.direction = option.direction
        bar.fontMetrics = option.fontMetrics
        bar.palette = option.palette
        bar.minimum = 0
        bar.maximum = _PERMILLE
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if total <= 0:  # no byte count from this channel: moving stripes, no amount
            self._paint_busy(painter, rect.adjusted(3, 3, -3, -3), text, option)
            return
        bar.progress = min(_PERMILLE, done * _PERMILLE // total)
        bar.text = text
        bar.textVisible = True
        bar.textAlignment = Qt.AlignmentFlag.AlignCenter
        style.drawControl(QStyle.ControlElement.CE_ProgressBar, bar, painter, widget)

    @staticmethod
    def _paint_busy(
        painter: QPainter, rect: QRect, text: str, option: QStyleOptionViewItem
    ) -> None:
        """A bar of diagonal stripes that move (the view repaints while one is shown): under
        way, amount unknown."""
        painter.save()
        painter.setPen(QColor(BUSY_EDGE))
        painter.setBrush(QColor(BUSY_FILL))
        painter.drawRect(rect.adjusted(0, 0, -1, -1))
        stripes = QBrush(QColor(BUSY_STRIPES), Qt.BrushStyle.BDiagPattern)
        shift = int(time.monotonic() * 12) % 8
        painter.setBrushOrigin(rect.left() + shift, rect.top())
        painter.fillRect(rect.adjusted(1, 1, -1, -1), stripes)
        painter.setPen(option.palette.text().color())
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        painter.restore()


class DistributionView(QWidget):
    """Renders a :class:`DistributionViewModel`; every action goes back to it."""

    def __init__(self, vm: DistributionViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        self._last_focus: tuple[str | None, str] | None = None
        self._last_state: tuple[tuple[str, str] | None, str] | None = None
        self._retry_buttons: dict[str, QPushButton] = {}
        self._early_dialog: QInputDialog | None = None

        layout = QVBoxLayout(self)
        layout.addLayout(self._build_header())
        self.guidance = QLabel()
        self.guidance.setWordWrap(True)
        self.guidance.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.guidance)
        layout.addLayout(self._build_actions())
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_plan(), "Plan")
        self._channels_page = self._build_channels()
        self.tabs.addTab(self._channels_page, "Channels")
        self._manual_page = self._build_manual()
        self.tabs.addTab(self._manual_page, "Manual steps")
        self.tabs.addTab(self._build_settings(), "Settings")
        layout.addWidget(self.tabs, 1)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.status)

        self._tick = QTimer(self)
        self._tick.setInterval(ANNOUNCE_TICK_MS)
        self._tick.timeout.connect(self._render)
        self._tick.start()
        self._stripes = QTimer(self)
        self._stripes.setInterval(BUSY_FRAME_MS)
        self._stripes.timeout.connect(self._repaint_stripes)
        self._note_timer = QTimer(self)
        self._note_timer.setSingleShot(True)
        self._note_timer.setInterval(NOTE_MS)
        self._note_timer.timeout.connect(self._clear_note)

        # bound methods only: Qt drops the connections with this view (the view-model lives on)
        vm.status_shown.connect(self._show_status)
        vm.plan_shown.connect(self._show_plan)
        vm.settings_shown.connect(self._show_settings)
        vm.busy_changed.connect(self._busy_changed)
        vm.message.connect(self._note)
        vm.failed.connect(self._failure)
        vm.approved.connect(self._approved)
        vm.channels.modelReset.connect(self._channels_reset)
        vm.channels.dataChanged.connect(self._channels_changed)
        self._show_plan(vm.plan)
        self._show_settings(vm.settings)
        self._show_status(vm.status)

    # --- building -------------------------------------------------------------------------

    def _build_header(self) -> QHBoxLayout:
        self.title = heading("", scale=1.5)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.phase_badge = QLabel()
        self.state_badge = QLabel()
        self.summary = QLabel()
        self.summary.setStyleSheet(f"color: {MUTED_TEXT};")
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Reload the distribution, its plan and the settings")
        self.refresh_button.clicked.connect(self._refresh)
        header = QHBoxLayout()
        header.addWidget(self.title)
        header.addSpacing(8)
        header.addWidget(self.phase_badge)
        header.addWidget(self.state_badge)
        header.addSpacing(8)
        header.addWidget(self.summary, 1)
        header.addWidget(self.refresh_button)
        return header

    def _build_actions(self) -> QHBoxLayout:
        self.passphrase_edit = QLineEdit()
        self.passphrase_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.passphrase_edit.setPlaceholderText("key passphrase")
        self.passphrase_edit.setMaximumWidth(200)
        self.passphrase_edit.textChanged.connect(self._render)
        self.passphrase_label = QLabel("Key passphrase:")
        self.passphrase_label.setBuddy(self.passphrase_edit)
        self.approve_button = QPushButton("Sign and approve the plan")
        self.approve_button.clicked.connect(self._approve)
        self.start_button = QPushButton("Start the distribution")
        self.start_button.clicked.connect(self._start)
        self.stage_button = QPushButton("Stage the candidate")
        self.stage_button.clicked.connect(self._stage)
        self.announce_button = QPushButton("Announce")
        self.announce_button.setStyleSheet("QPushButton:enabled { font-weight: bold; }")
        self.announce_button.clicked.connect(self._announce)
        self.early_button = QPushButton("Announce early…")
        self.early_button.setToolTip(
            "Announce before the announce delay has passed, with a reason kept in the event log"
        )
        self.early_button.clicked.connect(self._announce_early)
        self.announce_when = QLabel()
        self.announce_when.setTextFormat(Qt.TextFormat.PlainText)
        self.announce_when.setStyleSheet(f"color: {MUTED_TEXT};")
        self.download_link = QLabel()
        self.download_link.setOpenExternalLinks(True)
        self.download_link.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        row = QHBoxLayout()
        row.addWidget(self.download_link)
        row.addWidget(self.announce_when, 1)
        for widget in (
            self.passphrase_label,
            self.passphrase_edit,
            self.approve_button,
            self.start_button,
            self.stage_button,
            self.early_button,
            self.announce_button,
        ):
            row.addWidget(widget)
        return row

    def _build_plan(self) -> QWidget:
        page = QWidget()
        self.plan_title = QLabel()
        self.plan_title.setWordWrap(True)
        self.digest_label = QLabel()
        self.digest_label.setFont(monospace_font())
        self.digest_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.digest_label.setToolTip(
            "sha256 of the plan's canonical JSON: what your signature approves"
        )
        self.plan_note = QLabel()
        self.plan_note.setWordWrap(True)
        self.plan_note.setStyleSheet(
            f"background: {TONE_STYLES['warn'][0]}; color: {TONE_STYLES['warn'][1]};"
            " padding: 6px; border-radius: 3px;"
        )
        self.plan_table = row_table()
        self.plan_table.setModel(self.vm.plan_model)
        header = self.plan_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.plan_empty = QLabel()
        self.plan_empty.setWordWrap(True)
        self.plan_empty.setStyleSheet(f"color: {MUTED_TEXT}; padding: 4px;")
        self.plan_manual = QLabel()
        self.plan_manual.setWordWrap(True)
        self.plan_manual.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.approval_label = QLabel()
        self.approval_label.setWordWrap(True)
        self.approval_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(page)
        layout.addWidget(self.plan_title)
        layout.addWidget(self.digest_label)
        layout.addWidget(self.plan_note)
        layout.addWidget(self.plan_table, 1)
        layout.addWidget(self.plan_empty)
        layout.addWidget(self.plan_manual)
        layout.addWidget(self.approval_label)
        layout.addStretch(0)
        return page

    def _build_channels(self) -> QWidget:
        page = QWidget()
        self.channels_tree = QTreeView()
        self.channels_tree.setModel(self.vm.channels)
        self.channels_tree.setAlternatingRowColors(True)
        self.channels_tree.setUniformRowHeights(True)
        self.channels_tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.channels_tree.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.channels_tree.setItemDelegateForColumn(ChannelsModel.PROGRESS, ProgressDelegate(self))
        # a URL's end names the file: cut long ones in the middle
        self.channels_tree.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.copy_url_action = QAction("Copy URL", self.channels_tree)
        self.copy_url_action.setShortcut(QKeySequence.StandardKey.Copy)
        self.copy_url_action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)
        self.copy_url_action.triggered.connect(self.copy_url)
        self.copy_url_action.setEnabled(False)  # until a row with a URL is chosen
        self.channels_tree.addAction(self.copy_url_action)
        self.channels_tree.setContextMenuPolicy(Qt.ContextMenuPolicy.ActionsContextMenu)
        header = self.channels_tree.header()
        header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        for column, width in ((0, 300), (1, 90), (2, 230), (3, 380)):
            header.resizeSection(column, width)
        self.channels_tree.selectionModel().currentChanged.connect(self._channel_selected)
        self.channels_empty = QLabel()
        self.channels_empty.setWordWrap(True)
        self.channels_empty.setStyleSheet(f"color: {MUTED_TEXT}; padding: 4px;")

        self.retry_row = QHBoxLayout()
        self.retry_label = QLabel("Failed:")
        self.retry_label.setStyleSheet(f"color: {FAIL_COLOUR}; font-weight: bold;")
        self.retry_row.addWidget(self.retry_label)
        self.retry_row.addStretch(1)

        self.error_box = QGroupBox("Error")
        self.error_text = QLabel()
        self.error_text.setWordWrap(True)
        self.error_text.setFont(monospace_font())
        self.error_text.setTextFormat(Qt.TextFormat.PlainText)
        self.error_text.setStyleSheet(f"color: {FAIL_COLOUR};")
        self.error_text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        QVBoxLayout(self.error_box).addWidget(self.error_text)

        layout = QVBoxLayout(page)
        layout.addWidget(self.channels_tree, 1)
        layout.addWidget(self.channels_empty)
        layout.addLayout(self.retry_row)
        layout.addWidget(self.error_box)
        return page

    def _build_manual(self) -> QWidget:
        page = QWidget()
        intro = QLabel(
            "What a person does for each release, from the project's settings (a Homebrew "
            "formula, the website…). Check each step off once it is done: the announcement "
            "waits for all of them."
        )
        intro.setWordWrap(True)
        intro.setStyleSheet(f"color: {MUTED_TEXT};")
        self.manual_table = row_table()
        self.manual_table.setModel(self.vm.manual)
        header = self.manual_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.manual_table.selectionModel().selectionChanged.connect(self._render)
        self.manual_empty = QLabel()
        self.manual_empty.setWordWrap(True)
        self.manual_empty.setStyleSheet(f"color: {MUTED_TEXT}; padding: 4px;")
        self.mark_button = QPushButton("Mark the selected step done")
        self.mark_button.clicked.connect(self._mark_selected)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.mark_button)
        layout = QVBoxLayout(page)
        layout.addWidget(intro)
        layout.addWidget(self.manual_table, 1)
        layout.addWidget(self.manual_empty)
        layout.addLayout(row)
        layout.addStretch(0)
        return page

    def _build_settings(self) -> QWidget:
        page = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        self.settings_summary = QLabel()
        self.settings_summary.setWordWrap(True)
        self.settings_summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_table = row_table()
        self.settings_table.setModel(self.vm.channel_settings)
        header = self.settings_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        top_layout.addWidget(self.settings_summary)
        top_layout.addWidget(self.settings_table, 1)

        editor = QGroupBox("Edit (PMC): the settings as the agent takes them")
        self.settings_edit = QPlainTextEdit()
        self.settings_edit.setFont(monospace_font())
        self.settings_edit.setTabChangesFocus(True)
        self.settings_edit.textChanged.connect(self._settings_edited)
        self.settings_problem = QLabel()
        self.settings_problem.setWordWrap(True)
        self.settings_problem.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.settings_reload = QPushButton("Discard changes")
        self.settings_reload.clicked.connect(self._reset_settings_text)
        self.settings_save = QPushButton("Save settings")
        self.settings_save.clicked.connect(self._save_settings)
        buttons = QHBoxLayout()
        buttons.addWidget(self.settings_problem, 1)
        buttons.addWidget(self.settings_reload)
        buttons.addWidget(self.settings_save)
        editor_layout = QVBoxLayout(editor)
        editor_layout.addWidget(self.settings_edit, 1)
        editor_layout.addLayout(buttons)
        page.addWidget(top)
        page.addWidget(editor)
        page.setStretchFactor(0, 1)
        page.setStretchFactor(1, 2)
        page.setChildrenCollapsible(False)
        return page

    # --- rendering ------------------------------------------------------------------------

    def _show_status(self, _status: DistributionStatus | None = None) -> None:
        self._render()

    def _render(self, *_args: object) -> None:
        vm = self.vm
        target = vm.target
        self.title.setText(f"{target[0]} {target[1]}" if target else "Distribution")
        set_phase_badge(self.phase_badge, vm.phase)
        status = vm.status
        state = status.state if status is not None else "none"
        if self._last_state != (target, state):
            if state == "failed" and self.status.text().startswith("✔"):
                self._clear_note()  # "started" under "failed" would mislead
            self._last_state = (target, state)
        if status is not None and state != "none":
            kind = "staging" if status.kind == "staging" else "distribution"
            self.state_badge.setText(f"{kind} {state}".upper())
            self.state_badge.setStyleSheet(badge_style(DISTRIBUTION_STATE_COLOURS[state]))
            self.state_badge.show()
        else:
            self.state_badge.hide()
        self.summary.setText(self._summary_text(status))
        self._render_guidance(vm.guidance())
        self._render_actions()
        self._render_approval()
        self._render_channels()
        self._render_manual()
        self._render_settings_access()
        self._follow_state()

    def _summary_text(self, status: DistributionStatus | None) -> str:
        if status is None or status.started_at is None:
            return ""
        parts = [f"started {local_time(status.started_at, with_date=True)}"]
        if status.verified_at is not None:
            parts.append(f"verified {local_time(status.verified_at, with_date=True)}")
        elif status.finished_at is not None:
            parts.append(f"ended {local_time(status.finished_at, with_date=True)}")
        return " · ".join(parts)

    def _render_guidance(self, guidance: Guidance) -> None:
        background, accent = TONE_STYLES[guidance.tone]
        self.guidance.setText(guidance.text)
        self.guidance.setStyleSheet(
            f"background: {background}; color: {accent}; border-left: 4px solid {accent};"
            " padding: 8px; font-size: 11pt;"
        )

    def _render_actions(self) -> None:
        vm = self.vm
        phase = vm.phase
        passed = phase is Phase.PASSED
        approve_problem = vm.approve_problem()
        needs_passphrase = passed and vm.needs_passphrase() and not approve_problem
        self.passphrase_edit.setVisible(needs_passphrase)
        self.passphrase_label.setVisible(needs_passphrase)
        self.approve_button.setVisible(passed)
        self.approve_button.setEnabled(
            not approve_problem and (not needs_passphrase or bool(self.passphrase_edit.text()))
        )
        self.approve_button.setToolTip(
            approve_problem
            or "Clear-sign the plan's text with your key, here, and send the signature"
        )
        start_problem = vm.start_problem()
        self.start_button.setVisible(passed)
        self.start_button.setEnabled(not start_problem)
        self.start_button.setToolTip(
            start_problem or "Publish the approved plan: the dist repository, then the channels"
        )
        stage_problem = vm.stage_problem()
        self.stage_button.setVisible(phase is Phase.CANDIDATE)
        self.stage_button.setEnabled(not stage_problem)
        self.stage_button.setToolTip(
            stage_problem or "Publish the candidate to the test channels, for the voters"
        )
        distributing = phase is Phase.DISTRIBUTE
        announce_problem = vm.announce_problem()
        self.announce_button.setVisible(distributing)
        self.announce_button.setEnabled(not announce_problem)
        self.announce_button.setToolTip(
            announce_problem or "Send the [ANNOUNCE] mail: the release is out"
        )
        self.early_button.setVisible(distributing and vm.announce_waits_for_delay())
        self.announce_when.setText(
            f"Announce: {announce_problem}" if distributing and announce_problem else ""
        )
        status = vm.status
        page = status.download_page if status is not None else None
        if page and phase in (Phase.ANNOUNCED, Phase.ARCHIVED):
            self.download_link.setText(
                f"Download page: <a href='{escape(page)}'>{escape(page)}</a>"
            )
            self.download_link.show()
        else:
            self.download_link.hide()

    def _render_approval(self) -> None:
        vm = self.vm
        approval = vm.approval
        note = vm.plan_note
        if not note and vm.approval_outdated and approval is not None:
            note = (
                f"The plan below is not the one {approval.approved_by} approved "
                f"({approval.digest[:19]}…): the settings, the KEYS or the files changed. "
                "Review it and sign it again."
            )
        self.plan_note.setText(note)
        self.plan_note.setVisible(bool(note))
        if approval is None:
            if plan_kind(vm.phase) == "production":
                text = (
                    f"<span style='color:{MUTED_TEXT}'>Not approved yet.</span> Your signature "
                    "approves exactly this plan: its digest is in the text you sign."
                )
            else:
                text = ""
        else:
            when = local_time(approval.approved_at, with_date=True)
            colour = MUTED_TEXT if vm.approval_outdated else OK_COLOUR
            text = (
                f"<span style='color:{colour}'><b>✔ Approved by {escape(approval.approved_by)}"
                f"</b></span> on {when} with the key <tt>{grouped(approval.fingerprint)}</tt>"
                f"<br><span style='color:{MUTED_TEXT}'>plan {escape(approval.digest)}</span>"
            )
        self.approval_label.setText(text)
        self.approval_label.setVisible(bool(text))

    def _show_plan(self, plan: DistributionPlan | None) -> None:
        fit_rows(self.plan_table)
        has_rows = plan is not None and any(c.files for c in plan.channels)
        self.plan_table.setVisible(has_rows)
        self.plan_empty.setVisible(not has_rows)
        self.plan_manual.setVisible(plan is not None and bool(plan.manual_steps))
        if plan is None:
            kind = plan_kind(self.vm.phase)
            self.plan_title.setText("")
            self.digest_label.setText("")
            self.plan_empty.setText(
                "Loading the plan…"
                if kind is not None
                else "A plan is made once the release is a candidate (staging) and again "
                "when its vote has passed (the release)."
            )
        else:
            files = sum(len(c.files) for c in plan.channels)
            channels = ", ".join(c.name for c in plan.channels) or "no channel"
            what = "Staging plan" if plan.kind == "staging" else "Plan"
            thread = f" · vote thread {escape(plan.vote_thread)}" if plan.vote_thread else ""
            self.plan_title.setText(
                f"<b>{what}</b> of revision {plan.revision}: {files} file"
                f"{'s' if files != 1 else ''} to {escape(channels)}{thread}"
            )
            self.digest_label.setText(f"digest {plan.digest}")
            steps = "".join(f"<li>{escape(text)}</li>" for text in plan.manual_steps)
            self.plan_manual.setText(
                "<b>Manual steps</b> (checked off by hand before the announcement):"
                f"<ol>{steps}</ol>"
                if steps
                else ""
            )
            self.plan_empty.setText("The plan has no file: the release has none.")
        self._render()

    def _render_channels(self) -> None:
        vm = self.vm
        has_channels = vm.channels.rowCount() > 0
        self.channels_tree.setVisible(has_channels)
        # no error to show: the Where column (the last shown) takes the Error column's width
        self.channels_tree.setColumnHidden(ChannelsModel.ERROR, not vm.channels.has_errors())
        self.channels_empty.setVisible(not has_channels)
        self.channels_empty.setText(
            "Nothing is published yet: the channels and their files appear here when the "
            "distribution (or the staging) starts."
        )
        failed = [c.name for c in vm.failed_channels()]
        if failed != list(self._retry_buttons):
            for button in self._retry_buttons.values():
                self.retry_row.removeWidget(button)
                button.deleteLater()
            self._retry_buttons = {}
            for position, name in enumerate(failed, start=1):
                button = QPushButton(f"Retry {name}")
                button.clicked.connect(self._retry_clicked)
                button.setProperty("channel", name)
                self.retry_row.insertWidget(position, button)
                self._retry_buttons[name] = button
        for name, button in self._retry_buttons.items():
            problem = vm.retry_problem(name)
            button.setEnabled(not problem)
            button.setToolTip(problem or f"Try the failed files of {name} again")
        self.retry_label.setVisible(bool(failed))
        busy = self._any_busy_bar()
        if busy and not self._stripes.isActive():
            self._stripes.start()
        elif not busy:
            self._stripes.stop()
        self._show_error()
        index = self.tabs.indexOf(self._channels_page)
        self.tabs.setTabText(index, self._channels_tab_title())
        self.tabs.tabBar().setTabTextColor(
            index, Qt.GlobalColor.darkRed if failed else self.palette().windowText().color()
        )

    def _any_busy_bar(self) -> bool:
        model = self.vm.channels
        for row in range(model.rowCount()):
            parent = model.index(row, 0)
            for child in range(model.rowCount(parent)):
                index = model.index(child, ChannelsModel.PROGRESS, parent)
                if model.data(index, ProgressRole) == (0, 0):
                    return True
        return False

    def _repaint_stripes(self) -> None:
        self.channels_tree.viewport().update()

    def _channels_tab_title(self) -> str:
        files = [f for c in self.vm.channels.channels() for f in c.files]
        if not files:
            return "Channels"
        published = sum(1 for f in files if f.state.value == "done")
        failed = len(self.vm.failed_channels())
        suffix = f", {failed} failed" if failed else ""
        return f"Channels ({published}/{len(files)} published{suffix})"

    def _show_error(self) -> None:
        model = self.vm.channels
        index = self.channels_tree.currentIndex()
        step = model.step_at(index)
        channel = model.channel_at(index)
        text, where = "", ""
        if step is not None and step.error and channel is not None:
            text, where = step.error, f"{channel.name} · {step.path}"
        elif channel is not None:
            failing = next((f for f in channel.files if f.error), None)
            if failing is not None:
                text, where = failing.error or "", f"{channel.name} · {failing.path}"
        if not text:
            for known in model.channels():
                failing = next((f for f in known.files if f.error), None)
                if failing is not None:
                    text, where = failing.error or "", f"{known.name} · {failing.path}"
                    break
        self.error_box.setVisible(bool(text))
        self.error_box.setTitle(f"Error — {where}" if where else "Error")
        if self.error_text.text() != text:
            self.error_text.setText(text)

    def _render_manual(self) -> None:
        vm = self.vm
        steps = vm.manual_steps()
        self.manual_table.setVisible(bool(steps))
        fit_rows(self.manual_table)
        self.manual_empty.setVisible(not steps)
        settings = vm.settings
        if steps:
            self.manual_empty.setText("")
        elif settings is not None and settings.manual_steps:
            self.manual_empty.setText(
                f"The project has {len(settings.manual_steps)} manual steps; they are listed "
                "here to check off once the distribution runs."
            )
        else:
            self.manual_empty.setText("This project has no manual steps.")
        problem = vm.mark_problem()
        chosen = self._selected_step()
        self.mark_button.setEnabled(not problem and chosen is not None and not chosen.done)
        self.mark_button.setToolTip(problem or "Check the selected step off (or tick its box)")
        done = sum(1 for s in steps if s.done)
        index = self.tabs.indexOf(self._manual_page)
        self.tabs.setTabText(
            index, f"Manual steps ({done}/{len(steps)} done)" if steps else "Manual steps"
        )

    def _render_settings_access(self) -> None:
        may_edit = self.vm.may_edit_settings
        self.settings_edit.setReadOnly(not may_edit)
        why = "" if may_edit else "Only the project's PMC may change where its releases go."
        self.settings_edit.setToolTip(why)
        self._settings_edited()

    def _show_settings(self, settings: DistributionSettings | None) -> None:
        if settings is None:
            self.settings_summary.setText("Loading the project's distribution settings…")
            self.settings_edit.setPlainText("")
            return
        steps = "".join(f"<li>{escape(s)}</li>" for s in settings.manual_steps)
        delay = (
            f"{settings.announce_delay_minutes} min"
            if settings.announce_delay_minutes is not None
            else "the agent's default"
        )
        recipients = ", ".join(settings.announce_to) or "announce@apache.org and the dev list"
        channels = len(settings.channels)
        self.settings_summary.setText(
            "<b>Channels</b>: the dist repository, always first"
            + (f", then {channels} more:" if channels else "; no other channel.")
            + f"<br><b>Manual steps</b>: {'<ol>' + steps + '</ol>' if steps else 'none'}"
            f"<b>Announce</b> to {escape(recipients)}, {delay} after the files reach the dist "
            f"repository · <b>line</b>: the first {settings.line_depth} version parts"
        )
        self.settings_table.setVisible(bool(channels))
        self._reset_settings_text()

    def _reset_settings_text(self) -> None:
        settings = self.vm.settings
        self.settings_edit.setPlainText(settings_json(settings) if settings is not None else "")

    def _settings_edited(self) -> None:
        vm = self.vm
        settings = vm.settings
        text = self.settings_edit.toPlainText()
        changed = settings is not None and text != settings_json(settings)
        problem = vm.settings_problem(text) if changed else ""
        if not vm.may_edit_settings:
            self.settings_problem.setText(
                f"<span style='color:{MUTED_TEXT}'>Read-only: only the project's PMC may "
                "change where its releases go.</span>"
            )
        elif problem:
            self.settings_problem.setText(
                f"<span style='color:{FAIL_COLOUR}'>{escape(problem)}</span>"
            )
        elif changed:
            self.settings_problem.setText(
                "Changed, not saved. A plan not yet approved changes with the settings."
            )
        else:
            self.settings_problem.setText(
                f"<span style='color:{MUTED_TEXT}'>channels: name, kind (svn, pypi, npm, oci, "
                "maven, nexus, maven-central, artifactory), url, staging_url, files (globs), "
                "package, credential (a vault name), options</span>"
            )
        self.settings_save.setEnabled(vm.may_edit_settings and changed and not problem)
        self.settings_reload.setEnabled(changed)

    def _follow_state(self) -> None:
        """Show the tab of the step the release is at, when that step changes."""
        vm = self.vm
        status = vm.status
        focus = (vm.phase.value if vm.phase else None, status.state if status else "none")
        if focus == self._last_focus:
            return
        first = self._last_focus is None or self._last_focus[0] is None
        self._last_focus = focus
        phase, state = focus
        if phase in (Phase.PASSED.value,) or (phase == Phase.CANDIDATE.value and state == "none"):
            tab = 0
        elif phase == Phase.DISTRIBUTE.value and state == "verified" and vm.manual_steps():
            tab = 2
        elif state != "none":
            tab = 1
        else:
            tab = 0 if not first else self.tabs.currentIndex()
        self.tabs.setCurrentIndex(tab)

    def _channels_reset(self) -> None:
        self.channels_tree.expandAll()
        self._render()

    def _channels_changed(self, *_args: object) -> None:
        self._render_channels()

    def _channel_selected(self, *_args: object) -> None:
        self._show_error()
        url = self.vm.channels.url_at(self.channels_tree.currentIndex())
        self.copy_url_action.setEnabled(bool(url))

    def copy_url(self) -> None:
        """Put where the selected file now is (or its channel's target) on the clipboard."""
        url = self.vm.channels.url_at(self.channels_tree.currentIndex())
        if url:
            QGuiApplication.clipboard().setText(url)
            self._note(f"Copied {url}")

    # --- messages -------------------------------------------------------------------------

    def _busy_changed(self, busy: bool, what: str) -> None:
        if busy:
            self._status_text(what, MUTED_TEXT)
        self._render()

    def _note(self, text: str) -> None:
        self._status_text(f"✔ {text}", OK_COLOUR)
        self._note_timer.start()

    def _clear_note(self) -> None:
        if not self.vm.busy and self.status.text().startswith("✔"):
            self._status_text("", MUTED_TEXT)

    def _failure(self, text: str) -> None:
        self._note_timer.stop()
        self._status_text(text, FAIL_COLOUR)

    def _status_text(self, text: str, colour: str) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {colour};")

    def _approved(self, _approval: ApprovalOut) -> None:
        self.passphrase_edit.clear()

    # --- actions --------------------------------------------------------------------------

    def _refresh(self) -> None:
        self.vm.refresh()

    def _approve(self) -> None:
        passphrase = self.passphrase_edit.text() if self.vm.needs_passphrase() else None
        self.vm.approve(passphrase=passphrase)

    def _start(self) -> None:
        self.vm.start()

    def _stage(self) -> None:
        self.vm.stage()

    def _retry_clicked(self) -> None:
        button = self.sender()
        channel = button.property("channel") if button is not None else None
        if isinstance(channel, str):
            self.vm.retry(channel)

    def _selected_step(self) -> ManualStep | None:
        rows = self.manual_table.selectionModel().selectedRows()
        steps = self.vm.manual_steps()
        return steps[rows[0].row()] if rows and rows[0].row() < len(steps) else None

    def _mark_selected(self) -> None:
        chosen = self._selected_step()
        if chosen is not None:
            self.vm.mark_done(chosen.number)

    def _announce(self) -> None:
        self.vm.announce()

    def _announce_early(self) -> None:
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Announce early")
        dialog.setLabelText(
            "The announce delay lets mirrors catch up before the mail goes out.\n"
            "Why announce now? (kept in the event log)"
        )
        dialog.setOkButtonText("Announce now")
        dialog.finished.connect(self._early_answer)
        self._early_dialog = dialog
        dialog.open()

    def _early_answer(self, result: int) -> None:
        dialog = self._early_dialog
        if (
            dialog is not None
            and result == QDialog.DialogCode.Accepted
            and dialog.textValue().strip()
        ):
            self.vm.announce(early_reason=dialog.textValue())

    def _save_settings(self) -> None:
        self.vm.save_settings(self.settings_edit.toPlainText())


class DistributionWindow(QDialog):
    """The distribution screen in a window of its own (Release → Distribution…)."""

    def __init__(self, vm: DistributionViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Distribution")
        self.setModal(False)
        self.resize(1280, 800)
        self.view = DistributionView(vm)
        layout = QVBoxLayout(self)
        layout.addWidget(self.view, 1)
        vm.status_shown.connect(self._retitle)
        self._retitle()

    def _retitle(self, *_args: object) -> None:
        target = self.view.vm.target
        self.setWindowTitle(f"Distribution — {target[0]} {target[1]}" if target else "Distribution")

    def done(self, result: int) -> None:
        self.view.vm.stop()
        super().done(result)

    def closeEvent(self, event: QCloseEvent) -> None:
        self.view.vm.stop()
        super().closeEvent(event)
