"""The main window's state: item models fed by the session, the selection, what may be done.

The window only renders this: it shows the models, enables the actions this
says are possible, and forwards clicks to the methods here.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.errors import DesktopError
from desktop.models import EventFilterProxy, EventLogModel, FilesModel, ReleaseTreeModel, TasksModel
from desktop.models.releases import TreeNode
from desktop.session import Session
from desktop.viewmodels.checks import ChecksViewModel
from desktop.viewmodels.upload import UploadViewModel
from desktop.viewmodels.vote_start import VoteStartDraft
from shared.errors import AtrError
from shared.lifecycle import Phase, allowed_transitions
from shared.protocol import Event, Project, Release, Revision, Role, Task, User

EVENT_FLUSH_MS = 40
"""Live events are added to the log in batches this often (keeps bursts cheap)."""

_PHASE_ORDER = list(Phase)
_COMMITTER_MOVES = {(Phase.COMPOSE, Phase.CHECKS), (Phase.CHECKS, Phase.COMPOSE)}


@dataclass(frozen=True, slots=True)
class TransitionChoice:
    """A button of the release panel: a phase to move to, whether the user may, and why not."""

    phase: Phase
    permitted: bool
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Account:
    """Who is logged in, with which key, and their roles: for the account box."""

    name: str
    email: str
    roles: tuple[str, ...]
    """e.g. ``("pmc of acme", "committer of globex")``; ``("admin",)`` for admins"""
    key_label: str
    fingerprint: str


def role_for(user: User | None, project: Project | None) -> Role:
    """The user's role for a project: admin, else their membership in its committee."""
    if user is None:
        return Role.PUBLIC
    if user.is_admin:
        return Role.ADMIN
    if project is None:
        return Role.PUBLIC
    for membership in user.memberships:
        if membership.committee == project.committee:
            return membership.role
    return Role.PUBLIC


class MainViewModel(QObject):
    """Everything the main window shows and can do."""

    selection_changed = Signal(object)
    """the selected :class:`TreeNode` or ``None``"""
    release_shown = Signal(object)
    """the :class:`~shared.protocol.Release` on screen (or ``None``), after any change"""
    revision_shown = Signal(object)
    """the :class:`~shared.protocol.Revision` whose files are shown (or ``None``)"""
    revisions_listed = Signal(list)
    """every revision of the release on screen, oldest first"""
    actions_changed = Signal()
    status_message = Signal(str)
    """a short, passing note for the status bar"""

    def __init__(self, session: Session, *, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.tree = ReleaseTreeModel(self)
        self.files = FilesModel(self)
        self.tasks = TasksModel(self)
        self.events = EventLogModel(self)
        self.event_filter = EventFilterProxy(self)
        self.event_filter.setSourceModel(self.events)
        self._projects: dict[str, Project] = {}
        self._node: TreeNode | None = None
        self._release: Release | None = None
        self._revisions: list[Revision] = []
        self._shown_revision: int | None = None
        self._pending_events: list[Event] = []
        self._flush = QTimer(self)
        self._flush.setSingleShot(True)
        self._flush.setInterval(EVENT_FLUSH_MS)
        self._flush.timeout.connect(self.flush_events)
        self.checks = ChecksViewModel(session, role=self.role, parent=self)
        """the checks of the revision on screen (the Checks and SBOM tabs)"""
        self.revision_shown.connect(self.checks.show_revision)
        self.release_shown.connect(self.checks.set_release)
        self.actions_changed.connect(self.checks.permissions_changed)
        self.checks.status_message.connect(self.status_message)
        session.projects_changed.connect(self._on_projects)
        session.releases_changed.connect(self._on_releases)
        session.release_changed.connect(self._on_release)
        session.revisions_changed.connect(self._on_revisions)
        session.tasks_changed.connect(self._on_tasks)
        session.task_changed.connect(self._on_task)
        session.event_received.connect(self._on_event)
        session.logged_in.connect(self._on_logged_in)
        session.logged_out.connect(self._on_logged_out)
        session.upload_finished.connect(self._on_upload_finished)

    # --- what the window reads ------------------------------------------------------------------

    @property
    def selection(self) -> TreeNode | None:
        return self._node

    @property
    def release(self) -> Release | None:
        return self._release

    @property
    def revisions(self) -> list[Revision]:
        return list(self._revisions)

    @property
    def shown_revision(self) -> Revision | None:
        return self.files.revision

    @property
    def project(self) -> Project | None:
        return self._projects.get(self._node.project) if self._node else None

    def projects(self) -> list[Project]:
        return [self._projects[k] for k in sorted(self._projects)]

    def account(self) -> Account | None:
        """The logged-in user and their key, or ``None`` before login."""
        user = self.session.user
        if user is None:
            return None
        roles = [f"{m.role.value} of {m.committee}" for m in user.memberships]
        if user.is_admin:
            roles.insert(0, "admin")
        fingerprint = self.session.key_fingerprint or ""
        try:
            key_label = self.session.keystore.get(fingerprint).label if fingerprint else ""
        except AtrError:
            key_label = ""
        return Account(user.name, user.email, tuple(roles), key_label, fingerprint)

    def role(self) -> Role:
        return role_for(self.session.user, self.project)

    def transitions(self) -> list[TransitionChoice]:
        """The phases the release on screen may move to, in lifecycle order, with permission."""
        if self._release is None:
            return []
        current = self._release.phase
        role = self.role()
        choices = []
        for phase in sorted(allowed_transitions(current), key=_PHASE_ORDER.index):
            needed = Role.COMMITTER if (current, phase) in _COMMITTER_MOVES else Role.PMC
            permitted = role.rank >= needed.rank
            reason = "" if permitted else f"needs the {needed.value} role (you are {role.value})"
            choices.append(TransitionChoice(phase, permitted, reason))
        return choices

    @property
    def can_create_release(self) -> bool:
        return self.session.user is not None and bool(self._projects)

    @property
    def can_upload(self) -> bool:
        release = self._release
        return (
            release is not None
            and release.phase is Phase.COMPOSE
            and self.role().rank >= Role.COMMITTER.rank
        )

    @property
    def can_start_inventory(self) -> bool:
        release = self._release
        has_revision = release is not None and (
            release.latest_revision is not None or bool(self._revisions)
        )
        return has_revision and self.role().rank >= Role.COMMITTER.rank

    # --- actions --------------------------------------------------------------------------------

    def select(self, node: TreeNode | None) -> None:
        """Show a project (nothing in the centre) or a release (loaded and kept fresh)."""
        if node == self._node:
            return
        self._node = node
        self._release = None
        self._revisions = []
        self.files.set_revision(None)
        self.tasks.set_tasks([])
        if node is not None and node.is_release:
            self.session.select_release(node.project, node.version)
        else:
            self.session.select_release(None)
        self.selection_changed.emit(node)
        self.release_shown.emit(None)
        self.revision_shown.emit(None)
        self.revisions_listed.emit([])
        self.actions_changed.emit()

    def show_revision(self, number: int) -> None:
        """Show the files of another revision of the release on screen."""
        for revision in self._revisions:
            if revision.number == number:
                self._shown_revision = number
                self.files.set_revision(revision)
                self.revision_shown.emit(revision)
                return

    def create_release(self, project: str, version: str) -> asyncio.Task[Release]:
        """Create a release; once made it is selected."""
        task = self.session.create_release(project, version)

        def done(t: asyncio.Task[Release]) -> None:
            if not t.cancelled() and t.exception() is None:
                release = t.result()
                self.status_message.emit(f"Created {release.project} {release.version}")
                self.select(TreeNode(release.project, release.version))

        task.add_done_callback(done)
        return task

    def transition(self, to: Phase, *, reason: str = "") -> asyncio.Task[Release] | None:
        """Move the release on screen to ``to``."""
        if self._release is None:
            return None
        release = self._release
        task = self.session.transition(release.project, release.version, to, reason=reason)

        def done(t: asyncio.Task[Release]) -> None:
            if not t.cancelled() and t.exception() is None:
                self.status_message.emit(f"{release.project} {release.version} → {to.value}")

        task.add_done_callback(done)
        return task

    def start_vote(self, draft: VoteStartDraft) -> asyncio.Task[Release] | None:
        """Move the release on screen to its vote, with the source and notes of ``draft``
        (checked first: a wrong field is reported, nothing is sent)."""
        if self._release is None:
            return None
        release = self._release
        try:
            request = draft.request()
        except DesktopError as exc:
            self.session.error.emit(exc.diagnostics())
            return None
        task = self.session.start_vote(
            release.project,
            release.version,
            source_ref=request.source_ref,
            source_url=request.source_url,
            release_notes_url=request.release_notes_url,
        )

        def done(t: asyncio.Task[Release]) -> None:
            if not t.cancelled() and t.exception() is None:
                self.status_message.emit(
                    f"{release.project} {release.version} → vote: the [VOTE] mail goes out"
                )

        task.add_done_callback(done)
        return task

    def start_inventory(self) -> asyncio.Task[Task] | None:
        """Queue the inventory task on the latest revision of the release on screen."""
        if self._release is None:
            return None
        release = self._release
        task = self.session.start_inventory(release.project, release.version)

        def done(t: asyncio.Task[Task]) -> None:
            if not t.cancelled() and t.exception() is None:
                self.status_message.emit(f"Inventory queued as task #{t.result().id}")

        task.add_done_callback(done)
        return task

    def upload_view_model(self) -> UploadViewModel | None:
        """A fresh upload flow for the release on screen."""
        if self._release is None:
            return None
        return UploadViewModel(
            self.session, project=self._release.project, version=self._release.version, parent=self
        )

    def refresh(self) -> None:
        self.session.refresh()

    def export_public_key(self, path: Path) -> bool:
        """Write the login key's public half to ``path`` (for KEYS or the agent's admin)."""
        fingerprint = self.session.key_fingerprint
        try:
            if fingerprint is None:
                raise DesktopError("log in first: the public key exported is the login key's")
            self.session.keystore.export_public_to(fingerprint, path)
        except OSError as exc:
            self.session.error.emit(f"cannot write {path}: {exc.strerror or exc}")
            return False
        except AtrError as exc:
            self.session.error.emit(exc.diagnostics())
            return False
        self.status_message.emit(f"Public key written to {path}")
        return True

    def flush_events(self) -> None:
        """Add the live events received since the last flush to the log model."""
        pending, self._pending_events = self._pending_events, []
        self.events.append(pending)

    # --- session signals ------------------------------------------------------------------------

    def _on_logged_in(self, user: User) -> None:
        self.status_message.emit(f"Logged in as {user.name}")
        self.actions_changed.emit()

    def _on_logged_out(self) -> None:
        self._projects = {}
        self.tree.set_projects([])
        self.select(None)

    def _on_projects(self, projects: list[Project]) -> None:
        self._projects = {p.key: p for p in projects}
        self.tree.set_projects(projects)
        self.actions_changed.emit()

    def _on_releases(self, project: str, releases: list[Release]) -> None:
        self.tree.set_releases(project, releases)
        for release in releases:
            if self._is_current(release):
                self._set_release(release)

    def _on_release(self, release: Release) -> None:
        self.tree.update_release(release)
        if self._is_current(release):
            self._set_release(release)

    def _set_release(self, release: Release) -> None:
        self._release = release
        self.release_shown.emit(release)
        self.actions_changed.emit()

    def _on_revisions(self, project: str, version: str, revisions: list[Revision]) -> None:
        if self._node != TreeNode(project, version):
            return
        self._revisions = sorted(revisions, key=lambda r: r.number)
        self.revisions_listed.emit(self.revisions)
        shown = self._revisions[-1] if self._revisions else None
        self._shown_revision = shown.number if shown else None
        self.files.set_revision(shown)
        self.revision_shown.emit(shown)
        self.actions_changed.emit()

    def _on_tasks(self, project: str, version: str, tasks: list[Task]) -> None:
        if self._node == TreeNode(project, version):
            self.tasks.set_tasks(tasks)

    def _on_task(self, task: Task) -> None:
        if task.project and task.version and self._node == TreeNode(task.project, task.version):
            self.tasks.upsert(task)

    def _on_event(self, event: Event) -> None:
        self._pending_events.append(event)
        if not self._flush.isActive():
            self._flush.start()

    def _on_upload_finished(self, revision: Revision) -> None:
        files = len(revision.files)
        self.status_message.emit(
            f"Uploaded into revision {revision.number} of {revision.project} {revision.version}"
            f" ({files} file{'s' if files != 1 else ''})"
        )

    def _is_current(self, release: Release) -> bool:
        return self._node == TreeNode(release.project, release.version)
