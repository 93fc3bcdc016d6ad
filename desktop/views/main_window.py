"""The main window: projects → releases at left, the release in the centre, live events below."""

from __future__ import annotations

from collections.abc import Callable
from html import escape
from pathlib import Path

from PySide6.QtCore import QItemSelection, QModelIndex, Qt, Signal
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QGroupBox,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSplitter,
    QTreeView,
    QVBoxLayout,
    QWidget,
)

from desktop.models.releases import TreeNode
from desktop.theme import MUTED_TEXT, monospace_font
from desktop.viewmodels.dashboard import DashboardViewModel
from desktop.viewmodels.distribution import DistributionViewModel
from desktop.viewmodels.keys import KeysViewModel
from desktop.viewmodels.main import MainViewModel
from desktop.viewmodels.votes import VotesViewModel
from desktop.viewmodels.waiting import WaitingViewModel
from desktop.views.create_release import CreateReleaseDialog
from desktop.views.dashboard_view import DashboardWindow
from desktop.views.distribution_view import DistributionWindow
from desktop.views.errors import ErrorPresenter
from desktop.views.keys_view import KeysWindow
from desktop.views.log_pane import LogPane
from desktop.views.provenance_view import install_provenance_menu
from desktop.views.release_panel import ReleasePanel
from desktop.views.style import connection_text
from desktop.views.upload_dialog import UploadDialog
from desktop.views.vote_start_dialog import VoteStartDialog
from desktop.views.votes_view import VotesWindow
from desktop.views.waiting_view import Notifier, WaitingWindow
from shared.lifecycle import Phase
from shared.protocol import User

STATUS_NOTE_MS = 6000


class MainWindow(QMainWindow):
    """Renders a :class:`MainViewModel`; every action goes back to it."""

    connect_requested = Signal()
    """File → Connect…: the application shows the login dialog again."""

    def __init__(self, vm: MainViewModel, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.vm = vm
        session = vm.session
        self.setWindowTitle("ATR release manager")
        self.resize(1360, 860)

        self.tree = self._build_tree()

        self.panel = ReleasePanel(vm)
        self.panel.transition_requested.connect(self._ask_transition)
        self.panel.upload_requested.connect(self.open_upload)
        self.panel.distribution_requested.connect(self.open_distribution)
        self.log = LogPane(vm.events, vm.event_filter)

        left = QWidget()
        left_layout = QVBoxLayout(left)
        left_layout.setContentsMargins(0, 0, 0, 0)
        left_layout.addWidget(self.tree, 1)
        left_layout.addWidget(self._build_account())
        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(left)
        top.addWidget(self.panel)
        top.setStretchFactor(0, 1)
        top.setStretchFactor(1, 4)
        top.setSizes([280, 1080])
        outer = QSplitter(Qt.Orientation.Vertical)
        outer.addWidget(top)
        outer.addWidget(self.log)
        outer.setStretchFactor(0, 3)
        outer.setStretchFactor(1, 2)
        outer.setSizes([520, 300])
        outer.setChildrenCollapsible(False)
        self.setCentralWidget(outer)

        self.connection_label = QLabel()
        self.agent_label = QLabel()
        self.user_label = QLabel()
        for label in (self.agent_label, self.user_label, self.connection_label):
            self.statusBar().addPermanentWidget(label)
        self.errors = ErrorPresenter(self, self.statusBar())

        self._keys_window: KeysWindow | None = None
        self._votes_window: VotesWindow | None = None
        self._distribution_window: DistributionWindow | None = None
        self._build_actions()
        session.state_changed.connect(self._state_changed)
        session.logged_in.connect(self._logged_in)
        # bound methods of this window, so Qt drops the connections when the window goes
        session.error.connect(self._show_error)
        vm.status_message.connect(self._show_note)
        vm.actions_changed.connect(self._update_actions)
        vm.selection_changed.connect(self._selection_changed)
        self._state_changed(session.state)
        if session.user is not None:
            self._logged_in(session.user)
        self._update_actions()

    def _show_error(self, text: str) -> None:
        self.errors.show(text)

    def _show_note(self, text: str) -> None:
        self.statusBar().showMessage(text, STATUS_NOTE_MS)

    def _build_tree(self) -> QTreeView:
        tree = QTreeView()
        tree.setModel(self.vm.tree)
        tree.setUniformRowHeights(True)
        tree.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        tree.header().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        tree.header().setStretchLastSection(False)
        tree.setMinimumWidth(240)
        tree.selectionModel().selectionChanged.connect(self._tree_selection)
        self.vm.tree.rowsInserted.connect(self._expand_new)
        return tree

    def _build_account(self) -> QGroupBox:
        box = QGroupBox("Account")
        self.account_label = QLabel("not logged in")
        self.account_label.setWordWrap(True)
        self.account_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.key_label = QLabel()
        self.key_label.setFont(monospace_font())
        self.key_label.setWordWrap(True)
        self.key_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(box)
        layout.addWidget(self.account_label)
        layout.addWidget(self.key_label)
        return box

    # --- menus and shortcuts --------------------------------------------------------------------

    def _action(
        self,
        text: str,
        slot: Callable[[], object],
        shortcut: QKeySequence | QKeySequence.StandardKey | str | None = None,
        tip: str = "",
    ) -> QAction:
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        if tip:
            action.setStatusTip(tip)
            action.setToolTip(tip)
        action.triggered.connect(lambda _checked=False: slot())
        return action

    def _build_actions(self) -> None:
        self.connect_action = self._action(
            "&Connect…", self.connect_requested.emit, "Ctrl+Shift+C", "Connect to another agent"
        )
        self.export_key_action = self._action(
            "&Export public key…", self._export_key, None, "Save your public key (for KEYS)"
        )
        self.quit_action = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.new_release_action = self._action(
            "&New release…",
            self.open_create_release,
            QKeySequence.StandardKey.New,
            "Create a release in the selected project",
        )
        self.upload_action = self._action(
            "&Upload files…", self.open_upload, "Ctrl+U", "Upload files into a new revision"
        )
        self.inventory_action = self._action(
            "Start &inventory",
            self._start_inventory,
            "Ctrl+I",
            "Run the inventory task on the latest revision",
        )
        self.refresh_action = self._action(
            "&Refresh", self.vm.refresh, QKeySequence.StandardKey.Refresh, "Reload from the agent"
        )
        self.filter_action = self._action("&Filter events", self.log.focus_filter, "Ctrl+F")
        self.clear_log_action = self._action("&Clear events", self.vm.events.clear, "Ctrl+L")
        self.about_action = self._action("&About", self._about)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(self.connect_action)
        file_menu.addAction(self.export_key_action)
        file_menu.addSeparator()
        file_menu.addAction(self.quit_action)
        self.distribution_action = self._action(
            "&Distribution…",
            self.open_distribution,
            "Ctrl+D",
            "Stage, approve, publish and announce the release",
        )
        release_menu = menu.addMenu("&Release")
        for action in (
            self.new_release_action,
            self.upload_action,
            self.inventory_action,
            self.distribution_action,
            self.refresh_action,
        ):
            release_menu.addAction(action)
        view_menu = menu.addMenu("&View")
        view_menu.addAction(self.filter_action)
        view_menu.addAction(self.clear_log_action)
        self.keys_action = self._action(
            "&Keys and signing…", self.open_keys, "Ctrl+K", "Your keys and the projects' KEYS"
        )
        self.votes_action = self._action(
            "&Votes…", self.open_votes, "Ctrl+Shift+V", "Open votes: verify, then cast a ballot"
        )
        keys_menu = menu.addMenu("&Keys && votes")
        keys_menu.addAction(self.keys_action)
        keys_menu.addAction(self.votes_action)
        self.provenance = install_provenance_menu(self)  # Attestations…, Automation keys…
        self._build_project_menu()
        menu.addMenu("&Help").addAction(self.about_action)

        toolbar = self.addToolBar("Release")
        toolbar.setObjectName("release-toolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (
            self.new_release_action,
            self.upload_action,
            self.inventory_action,
            self.refresh_action,
        ):
            toolbar.addAction(action)

    def _build_project_menu(self) -> None:
        """Project → Waiting for you… and Dashboard… (issue 9: desktop/views/waiting_view.py,
        dashboard_view.py); a notification when a trigger asks you to sign."""
        self.waiting_vm = WaitingViewModel(self.vm.session, parent=self)
        self.notifier = Notifier(self)
        self.waiting_vm.notify.connect(self._notify)
        self.waiting_vm.open_votes.connect(self.open_votes)
        self.waiting_vm.items_changed.connect(self._waiting_count)
        self.waiting_action = self._action(
            "&Waiting for you…", self.open_waiting, "Ctrl+Shift+W", "The steps waiting for you"
        )
        self.dashboard_action = self._action(
            "&Dashboard…", self.open_dashboard, "Ctrl+D", "A project's release practice and charts"
        )
        project_menu = self.menuBar().addMenu("&Project")
        project_menu.addAction(self.waiting_action)
        project_menu.addAction(self.dashboard_action)
        self._waiting_window: WaitingWindow | None = None
        self._dashboard_window: DashboardWindow | None = None
        self.waiting_vm.refresh()

    def _notify(self, title: str, text: str) -> None:
        self.notifier.show(title, text)  # the system's notification, where it has a tray
        self.statusBar().showMessage(f"{title} — Project → Waiting for you…", STATUS_NOTE_MS * 5)

    def _waiting_count(self, items: list[object]) -> None:
        count = f" ({len(items)})" if items else ""
        self.waiting_action.setText(f"&Waiting for you{count}…")

    def open_waiting(self) -> WaitingWindow:
        """Project → Waiting for you…: one window, kept."""
        if self._waiting_window is None:
            self._waiting_window = WaitingWindow(self.waiting_vm, parent=self)
        self.waiting_vm.refresh()
        self._waiting_window.show()
        self._waiting_window.raise_()
        return self._waiting_window

    def open_dashboard(self) -> DashboardWindow:
        """Project → Dashboard…: one window, kept."""
        if self._dashboard_window is None:
            vm = DashboardViewModel(self.vm.session, parent=self)
            keys = [p.key for p in self.vm.projects()]
            selected = self.vm.selection.project if self.vm.selection else None
            if selected in keys:
                keys.remove(selected)
                keys.insert(0, selected)
            self._dashboard_window = DashboardWindow(vm, keys, parent=self)
        self._dashboard_window.show()
        self._dashboard_window.raise_()
        return self._dashboard_window

    def _update_actions(self) -> None:
        self.new_release_action.setEnabled(self.vm.can_create_release)
        self.upload_action.setEnabled(self.vm.can_upload)
        self.inventory_action.setEnabled(self.vm.can_start_inventory)
        self.distribution_action.setEnabled(self.vm.release is not None)

    # --- session state --------------------------------------------------------------------------

    def _state_changed(self, state: str) -> None:
        self.connection_label.setText(connection_text(state))
        self.connection_label.setToolTip(
            "The live event stream; it reconnects by itself and replays what it missed"
        )

    def _logged_in(self, user: User) -> None:
        url = self.vm.session.url or ""
        muted = f"<span style='color:{MUTED_TEXT}'>%s</span>"
        self.agent_label.setText(f"{muted % 'agent'} {escape(url)}")
        self.agent_label.setToolTip("The agent this window is connected to")
        admin = " (admin)" if user.is_admin else ""
        self.user_label.setText(f"{muted % 'user'} {escape(user.name)}{admin}")
        self.setWindowTitle(f"ATR release manager — {user.name} @ {url}")
        account = self.vm.account()
        if account is None:
            return
        roles = ", ".join(account.roles) or "no committee role"
        self.account_label.setText(
            f"<b>{escape(account.name)}</b> &lt;{escape(account.email)}&gt;<br>"
            f"<span style='color:{MUTED_TEXT}'>{escape(roles)}</span>"
        )
        fingerprint = account.fingerprint
        grouped = " ".join(fingerprint[i : i + 4] for i in range(0, len(fingerprint), 4))
        self.key_label.setText(grouped)
        self.key_label.setToolTip(f"Signing key: {account.key_label}\n{fingerprint}")

    # --- tree -----------------------------------------------------------------------------------

    def _tree_selection(self, selected: QItemSelection, _deselected: QItemSelection) -> None:
        indexes = selected.indexes()
        if indexes:  # an emptied selection (rows reloaded) keeps what is shown
            self.vm.select(self.vm.tree.node(indexes[0]))

    def _selection_changed(self, node: TreeNode | None) -> None:
        if node is None:
            return
        index = self.vm.tree.index_of(node)
        if index.isValid() and self.tree.currentIndex() != index:
            self.tree.setCurrentIndex(index)

    def _expand_new(self, parent: QModelIndex, _first: int, _last: int) -> None:
        if not parent.isValid():
            for row in range(self.vm.tree.rowCount()):
                self.tree.expand(self.vm.tree.index(row, 0))
        else:
            self.tree.expand(parent)
        node = self.vm.selection
        if node is not None:
            self._selection_changed(node)

    def select_node(self, node: TreeNode) -> None:
        """Select a project or release in the tree (as a click would)."""
        self.vm.select(node)

    # --- dialogs --------------------------------------------------------------------------------

    def open_create_release(self) -> CreateReleaseDialog | None:
        projects = self.vm.projects()
        if not projects:
            return None
        selected = self.vm.selection.project if self.vm.selection else None
        dialog = CreateReleaseDialog(projects, selected=selected, parent=self)
        dialog.accepted.connect(lambda: self.vm.create_release(dialog.project, dialog.version))
        dialog.open()
        return dialog

    def open_upload(self) -> UploadDialog | None:
        upload_vm = self.vm.upload_view_model()
        if upload_vm is None or not self.vm.can_upload:
            return None
        dialog = UploadDialog(upload_vm, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.open()
        return dialog

    def _export_key(self) -> None:
        account = self.vm.account()
        suggested = f"{account.name}.pub.asc" if account else "public-key.asc"
        name, _ = QFileDialog.getSaveFileName(
            self, "Export your public key", suggested, "OpenPGP keys (*.asc)"
        )
        if name:
            self.vm.export_public_key(Path(name))

    def _start_inventory(self) -> None:
        if self.vm.can_start_inventory:
            self.vm.start_inventory()

    def _ask_transition(self, phase: Phase) -> None:
        release = self.vm.release
        if release is None:
            return
        if phase is Phase.VOTE:
            self.open_vote_start()
            return
        dialog = QInputDialog(self)
        dialog.setWindowTitle("Change phase")
        dialog.setLabelText(
            f"Move {release.project} {release.version} from '{release.phase.value}' to "
            f"'{phase.value}'.\nReason (kept in the event log):"
        )
        dialog.setTextValue("")
        dialog.setOkButtonText(f"Move to {phase.value}")

        def done(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                self.vm.transition(phase, reason=dialog.textValue().strip())

        dialog.finished.connect(done)
        dialog.open()

    def open_vote_start(self) -> VoteStartDialog | None:
        """Move to vote: the source tag or commit, its URL and the release notes, then the
        vote starts (the agent mails the [VOTE])."""
        release = self.vm.release
        if release is None:
            return None
        dialog = VoteStartDialog(release.project, release.version, parent=self)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                self.vm.start_vote(dialog.draft)

        dialog.finished.connect(done)
        dialog.open()
        return dialog

    def open_keys(self) -> KeysWindow:
        """Keys → Keys and signing…: the keys screen in its own window (one, kept)."""
        if self._keys_window is None:
            vm = KeysViewModel(self.vm.session, projects=self.vm.projects(), parent=self)
            self._keys_window = KeysWindow(vm, parent=self)
        else:
            self._keys_window.view.vm.refresh()
        self._keys_window.show()
        self._keys_window.raise_()
        return self._keys_window

    def open_votes(self) -> VotesWindow:
        """Keys & votes → Votes…: the votes screen in its own window (one, kept)."""
        if self._votes_window is None:
            vm = VotesViewModel(self.vm.session, projects=self.vm.projects(), parent=self)
            self._votes_window = VotesWindow(vm, parent=self)
        else:
            self._votes_window.view.vm.refresh()
        self._votes_window.show()
        self._votes_window.raise_()
        return self._votes_window

    def open_distribution(self) -> DistributionWindow | None:
        """Release → Distribution…: the release's distribution in its own window (one, kept,
        showing the release on screen)."""
        release = self.vm.release
        if release is None:
            return None
        if self._distribution_window is None:
            vm = DistributionViewModel(self.vm.session, projects=self.vm.projects(), parent=self)
            self._distribution_window = DistributionWindow(vm, parent=self)
        self._distribution_window.view.vm.show_release(release.project, release.version, release)
        self._distribution_window.show()
        self._distribution_window.raise_()
        return self._distribution_window

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About atr-desktop",
            "<b>ATR release manager</b><p>Creates releases, uploads artifacts, follows the "
            "agent's checks and logs live. Your OpenPGP keys stay on this computer.</p>",
        )

    def closeEvent(self, event: QCloseEvent) -> None:
        self.vm.session.cancel_upload()
        super().closeEvent(event)
