"""The desktop's one connection to an agent: the only module that talks to it.

A :class:`Session` owns the :class:`~shared.client.AgentClient` and its
:class:`~shared.client.EventStream`. The GUI calls its methods, which start
jobs on the qasync loop and return the :class:`asyncio.Task` (cancel it to
cancel the work); everything that comes back — answers, live events, errors —
is emitted as a Qt signal, so handlers run on the GUI thread and views never
touch asyncio.

Live events keep the models current: a ``release.phase_changed`` reloads that
release, ``revision.created`` the revisions of the release on screen,
``task.*`` state events the one task they name, ``check.finished`` /
``checks.done`` the check report of the revision watched with
:meth:`Session.watch_checks` (debounced: results fill in while checks run),
``project.policy_changed`` that project's policy and report, ``distribution.*``
events the distribution watched with :meth:`Session.watch_distribution`
(debounced too). Refreshes asked for by a burst of events are coalesced. The
stream reconnects by itself and replays from the last event it saw; its state is
:attr:`Session.state`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop.errors import DistributionSettingsChanged, PolicyChanged
from desktop.jobs import Jobs
from desktop.keystore import Keystore
from desktop.session_provenance import ProvenanceCalls
from shared.challenge import Challenge
from shared.client import AgentClient
from shared.errors import AtrError, ClientError
from shared.lifecycle import Phase
from shared.protocol import (
    Event,
    EventKind,
    Project,
    Release,
    Revision,
    Scope,
    Task,
    TaskType,
    User,
)
from shared.protocol.checks import CheckReport, PolicyOut, PolicyUpdate
from shared.protocol.distribute import (
    ApprovalOut,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
)
from shared.protocol.keys import KeyRevoked, ProjectKeyOut
from shared.protocol.triggers import ReleaseNext, ReleasePractice, ReleaseStats, WaitingItem
from shared.protocol.votes import BallotOut

log = logging.getLogger(__name__)

DISCONNECTED = "disconnected"
CONNECTING = "connecting"
CONNECTED = "connected"
RECONNECTING = "reconnecting"

DEFAULT_BACKLOG = 500
"""How many past events a new session replays into the log pane."""

_STREAM_STATES = {
    "connecting": CONNECTING,
    "connected": CONNECTED,
    "reconnecting": RECONNECTING,
    "closed": DISCONNECTED,
}
_TASK_STATE_EVENTS = frozenset(
    {
        EventKind.TASK_QUEUED,
        EventKind.TASK_STARTED,
        EventKind.TASK_RETRY,
        EventKind.TASK_FINISHED,
    }
)

_CHECK_EVENTS = frozenset(
    {EventKind.CHECKS_QUEUED, EventKind.CHECK_FINISHED, EventKind.CHECKS_DONE}
)
CHECKS_DEBOUNCE_MS = 300
"""Check events within this interval of the first cost one reload of the report."""

_KEY_EVENTS = frozenset({EventKind.KEY_ADDED, EventKind.KEY_REVOKED, EventKind.KEYS_IMPORTED})
_VOTE_EVENTS = frozenset(
    {
        EventKind.VOTE_STARTED,
        EventKind.BALLOT_CAST,
        EventKind.TALLY_CHANGED,
        EventKind.VOTE_DECIDED,
    }
)

_DISTRIBUTION_EVENTS = frozenset(
    {
        EventKind.DISTRIBUTION_APPROVED,
        EventKind.DISTRIBUTION_STARTED,
        EventKind.DISTRIBUTION_STEP,
        EventKind.DISTRIBUTION_RETRIED,
        EventKind.DISTRIBUTION_SETTLED,
        EventKind.RELEASE_ANNOUNCED,
        EventKind.PHASE_CHANGED,
        # a channel's task starting and ending (its attempts, the distribution settling)
        EventKind.TASK_STARTED,
        EventKind.TASK_FINISHED,
    }
)
DISTRIBUTION_DEBOUNCE_MS = 300
"""Distribution events within this interval of the first cost one reload of its status."""

ClientFactory = Callable[[str], AgentClient]


def describe_error(error: BaseException) -> str:
    """The text shown for a failure: an :class:`AtrError`'s diagnostics, else a short summary."""
    if isinstance(error, AtrError):
        return error.diagnostics()
    return f"unexpected error: {type(error).__name__}: {error}"


class Session(ProvenanceCalls, QObject):
    """One logged-in connection to one agent, seen by the GUI through signals."""

    state_changed = Signal(str)
    """``disconnected``, ``connecting``, ``connected`` or ``reconnecting``."""
    logged_in = Signal(object)
    """:class:`~shared.protocol.User`"""
    logged_out = Signal()
    projects_changed = Signal(list)
    """``list[Project]``"""
    releases_changed = Signal(str, list)
    """project key, ``list[Release]``"""
    release_changed = Signal(object)
    """:class:`~shared.protocol.Release` (created, reloaded or moved to another phase)"""
    revisions_changed = Signal(str, str, list)
    """project, version, ``list[Revision]`` oldest first"""
    tasks_changed = Signal(str, str, list)
    """project, version, ``list[Task]``"""
    task_changed = Signal(object)
    """one :class:`~shared.protocol.Task` that changed state"""
    event_received = Signal(object)
    """every live :class:`~shared.protocol.Event`, exactly once, in id order"""
    upload_progress = Signal(str, int, int)
    """release path of the file, bytes sent, file size"""
    upload_finished = Signal(object)
    """the :class:`~shared.protocol.Revision` holding the uploaded files"""
    checks_changed = Signal(object)
    """:class:`~shared.protocol.checks.CheckReport` of the revision :meth:`watch_checks` names"""
    policy_loaded = Signal(object)
    """:class:`~shared.protocol.checks.PolicyOut`: loaded, saved, or changed by someone else"""
    project_keys_changed = Signal(str, list)
    """project, ``list[ProjectKeyOut]``: loaded, or reloaded after a ``key.*`` event"""
    votes_changed = Signal(list)
    """the votes, open and decided, ``list[VoteOut]`` (loaded, or reloaded after a ``vote.*``
    event)"""
    vote_changed = Signal(object)
    """the :class:`~shared.protocol.votes.VoteOut` watched with :meth:`watch_vote`, fresh"""
    distribution_changed = Signal(object)
    """:class:`~shared.protocol.distribute.DistributionStatus` of the release
    :meth:`watch_distribution` names: loaded, changed by an action or by events"""
    distribution_settings_changed = Signal(str, object)
    """project, :class:`~shared.protocol.distribute.DistributionSettings`: loaded, saved, or
    changed by someone else"""
    error = Signal(str)
    """diagnostics text of a failed action, for the one place errors are shown"""

    def __init__(
        self,
        keystore: Keystore,
        *,
        client_factory: ClientFactory = AgentClient,
        backlog: int = DEFAULT_BACKLOG,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._keystore = keystore
        self._client_factory = client_factory
        self._backlog = backlog
        self._client: AgentClient | None = None
        self._user: User | None = None
        self._url: str | None = None
        self._fingerprint: str | None = None
        self._state = DISCONNECTED
        self._current: tuple[str, str] | None = None
        self._last_event_id: int | None = None
        self._loaded_at = 0
        self._duplicates = 0
        self._checks: tuple[str, str, int] | None = None
        self._policy_project: str | None = None
        self._jobs = Jobs(self._report)
        self._checks_timer = QTimer(self)
        self._checks_timer.setSingleShot(True)
        self._checks_timer.setInterval(CHECKS_DEBOUNCE_MS)
        self._checks_timer.timeout.connect(self.refresh_checks)
        self._key_projects: set[str] = set()
        self._watch_votes = False
        self._vote: tuple[str, str] | None = None
        self.event_received.connect(self._apply_keys_and_votes)
        self._distribution: tuple[str, str] | None = None
        self._distribution_settings: set[str] = set()
        self._distribution_timer = QTimer(self)
        self._distribution_timer.setSingleShot(True)
        self._distribution_timer.setInterval(DISTRIBUTION_DEBOUNCE_MS)
        self._distribution_timer.timeout.connect(self.refresh_distribution)
        self.event_received.connect(self._apply_distribution)

    # --- what the GUI reads ---------------------------------------------------------------------

    @property
    def state(self) -> str:
        return self._state

    @property
    def user(self) -> User | None:
        return self._user

    @property
    def url(self) -> str | None:
        """The agent's base URL once logged in."""
        return self._url

    @property
    def key_fingerprint(self) -> str | None:
        """The key the user logged in with."""
        return self._fingerprint

    @property
    def keystore(self) -> Keystore:
        return self._keystore

    @property
    def last_event_id(self) -> int | None:
        """The id of the last live event emitted."""
        return self._last_event_id

    @property
    def loaded_at(self) -> int:
        """The last event id when the login loaded its state: later events are live news."""
        return self._loaded_at

    @property
    def duplicates_dropped(self) -> int:
        """Events the stream delivered twice (the stream promises none; this proves it)."""
        return self._duplicates

    @property
    def watched_checks(self) -> tuple[str, str, int] | None:
        """(project, version, revision) whose check report is kept fresh, if any."""
        return self._checks

    @property
    def current_release(self) -> tuple[str, str] | None:
        """(project, version) of the release on screen, whose revisions and tasks are kept fresh."""
        return self._current

    # --- login and logout -----------------------------------------------------------------------

    def login(
        self, url: str, user: str, fingerprint: str, *, passphrase: str | None = None
    ) -> asyncio.Task[User]:
        """Sign the agent's challenge with the key, then stream events and load the projects.

        The key is read, unlocked and used in a worker thread: the window stays responsive
        while a passphrase's S2K and an RSA-4096 signature (or gpg and its pinentry) run.
        Failures are raised from the returned task only (the login dialog shows them).
        """
        return self._jobs.start(
            self._login(url, user, fingerprint, passphrase), key="login", report=False
        )

    async def _login(self, url: str, user: str, fingerprint: str, passphrase: str | None) -> User:
        await self._shutdown_client()
        self._set_state(CONNECTING)
        client = self._client_factory(url)
        try:
            health = await client.health()
            # an unknown or unreadable key fails here, before the agent makes a challenge
            await asyncio.to_thread(self._keystore.get, fingerprint)
            answer = await client.login_with_signature(
                user, self._challenge_signer(fingerprint, passphrase)
            )
        except BaseException:
            await client.aclose()
            self._set_state(DISCONNECTED)
            raise
        self._client = client
        self._url = client.base_url
        self._user = answer.user
        self._fingerprint = fingerprint
        self._last_event_id = None
        self._duplicates = 0
        self._loaded_at = health.last_event_id
        since = max(health.last_event_id - self._backlog, 0)
        self.logged_in.emit(answer.user)
        self._jobs.start(self._run_stream(client, since), key="stream")
        self.refresh_projects()
        return answer.user

    def _challenge_signer(
        self, fingerprint: str, passphrase: str | None
    ) -> Callable[[Challenge], Awaitable[str]]:
        """The login's ``sign``: the keystore loads, unlocks and signs in a worker thread
        (the client hands over only a challenge it has checked)."""
        keystore = self._keystore

        async def sign(challenge: Challenge) -> str:
            return await asyncio.to_thread(
                keystore.sign_challenge, fingerprint, challenge, passphrase=passphrase
            )

        return sign

    def logout(self) -> asyncio.Task[None]:
        """Stop the stream, cancel every job and forget the token."""
        return asyncio.ensure_future(self._logout())

    async def _logout(self) -> None:
        await self._shutdown_client()
        self._set_state(DISCONNECTED)
        self.logged_out.emit()

    async def aclose(self) -> None:
        """End everything for good (the application is quitting)."""
        await self._jobs.close()
        self._distribution_timer.stop()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()
        self._set_state(DISCONNECTED)

    async def _shutdown_client(self) -> None:
        for key in ("stream", "upload"):
            task = self._jobs.running(key)
            self._jobs.cancel(key)
            if task is not None:
                await asyncio.gather(task, return_exceptions=True)
        client, self._client = self._client, None
        self._user = None
        self._current = None
        self._checks = None
        self._policy_project = None
        self._checks_timer.stop()
        self._distribution = None
        self._distribution_timer.stop()
        if client is not None:
            await client.aclose()

    # --- the event stream -----------------------------------------------------------------------

    async def _run_stream(self, client: AgentClient, since: int) -> None:
        stream = client.stream(Scope(), since=since, on_state=self._on_stream_state)
        try:
            async with stream:
                async for event in stream:
                    self._deliver(event)
        finally:
            if self._client is client:
                self._set_state(DISCONNECTED)

    def _on_stream_state(self, state: str) -> None:
        self._set_state(_STREAM_STATES.get(state, DISCONNECTED))

    def _deliver(self, event: Event) -> None:
        if self._last_event_id is not None and event.id <= self._last_event_id:
            self._duplicates += 1
            log.warning("event %s delivered twice; dropped", event.id)
            return
        self._last_event_id = event.id
        self.event_received.emit(event)
        if event.id > self._loaded_at:  # older ones are in what the login loaded
            self._apply(event)

    def _apply(self, event: Event) -> None:
        """Refresh what the event changed (coalesced, so a burst costs few requests)."""
        project, version = event.project, event.version
        if event.kind is EventKind.PROJECT_CREATED:
            self.refresh_projects()
        elif event.kind is EventKind.RELEASE_CREATED and project:
            self.load_releases(project)
        elif event.kind is EventKind.PHASE_CHANGED and project and version:
            self._refresh_release(project, version)
        elif event.kind is EventKind.REVISION_CREATED and project and version:
            self._refresh_release(project, version)
            if self._current == (project, version):
                self._jobs.coalesce("revisions", lambda: self._load_revisions(project, version))
        elif (
            event.kind in _TASK_STATE_EVENTS
            and event.task_id is not None
            and self._current == (project, version)
        ):
            task_id = event.task_id
            self._jobs.coalesce(f"task:{task_id}", lambda: self._load_task(task_id))
        else:
            self._apply_checks(event)

    def _apply_checks(self, event: Event) -> None:
        """Check and policy events: reload the watched report (debounced) and policy."""
        watched = self._checks
        if event.kind in _CHECK_EVENTS:
            revision = event.data.get("revision")
            if (
                watched is not None
                and watched[:2] == (event.project, event.version)
                and (not isinstance(revision, int) or revision == watched[2])
            ):
                self._schedule_checks()
        elif event.kind is EventKind.POLICY_CHANGED and event.project:
            project = event.project
            if self._policy_project == project:
                self._jobs.coalesce(f"policy:{project}", lambda: self._load_policy(project))
            if watched is not None and watched[0] == project:  # ignores changed what counts
                self._schedule_checks()

    # --- reading --------------------------------------------------------------------------------

    def refresh_projects(self) -> None:
        """Reload the projects (then :attr:`projects_changed`)."""
        self._jobs.coalesce("projects", self._load_projects)

    def load_releases(self, project: str) -> None:
        """Reload a project's releases (then :attr:`releases_changed`)."""
        self._jobs.coalesce(f"releases:{project}", lambda: self._load_releases(project))

    def select_release(self, project: str | None, version: str | None = None) -> None:
        """Show one release: load it, its revisions and tasks, and keep them fresh from events."""
        if project is None or version is None:
            self._current = None
            for key in ("revisions", "tasks", "release-view"):
                self._jobs.cancel(key)
            return
        self._current = (project, version)
        self._jobs.start(self._load_release_view(project, version), key="release-view")

    def refresh(self) -> None:
        """Reload the projects and the release on screen."""
        self.refresh_projects()
        if self._current is not None:
            self.select_release(*self._current)

    async def _load_projects(self) -> None:
        projects: list[Project] = await self._need_client().list_projects()
        self.projects_changed.emit(projects)
        for project in projects:
            self.load_releases(project.key)

    async def _load_releases(self, project: str) -> None:
        releases = await self._need_client().list_releases(project)
        self.releases_changed.emit(project, releases)

    def load_release(self, project: str, version: str) -> None:
        """Reload one release (then :attr:`release_changed`), coalesced."""
        self._refresh_release(project, version)

    def _refresh_release(self, project: str, version: str) -> None:
        self._jobs.coalesce(
            f"release:{project}/{version}", lambda: self._load_release(project, version)
        )

    async def _load_release(self, project: str, version: str) -> None:
        release = await self._need_client().get_release(project, version)
        self.release_changed.emit(release)

    async def _load_release_view(self, project: str, version: str) -> None:
        client = self._need_client()
        release, revisions, tasks = await asyncio.gather(
            client.get_release(project, version),
            client.list_revisions(project, version),
            client.list_tasks(project=project, version=version),
        )
        if self._current != (project, version):
            return
        self.release_changed.emit(release)
        self.revisions_changed.emit(project, version, revisions)
        self.tasks_changed.emit(project, version, tasks)

    async def _load_revisions(self, project: str, version: str) -> None:
        revisions = await self._need_client().list_revisions(project, version)
        if self._current == (project, version):
            self.revisions_changed.emit(project, version, revisions)

    async def _load_task(self, task_id: int) -> None:
        task = await self._need_client().get_task(task_id)
        if self._current == (task.project, task.version):
            self.task_changed.emit(task)

    # --- checks, policy, SBOMs ---------------------------------------------------------------

    def watch_checks(self, project: str | None, version: str | None, revision: int | None) -> None:
        """Show the check report of one revision (then :attr:`checks_changed`) and keep it fresh.

        ``None`` stops watching. Check events of that revision reload the report,
        debounced by :data:`CHECKS_DEBOUNCE_MS`, so results fill in while checks run.
        """
        self._checks_timer.stop()
        self._jobs.cancel("checks")
        if project is None or version is None or revision is None:
            self._checks = None
            return
        self._checks = (project, version, revision)
        self.refresh_checks()

    def _schedule_checks(self) -> None:
        """Reload the watched report soon: at most once per :data:`CHECKS_DEBOUNCE_MS`.

        The timer is not restarted by later events, so a steady stream of check
        events still refreshes the view every interval (results fill in live).
        """
        if not self._checks_timer.isActive():
            self._checks_timer.start()

    def refresh_checks(self) -> None:
        """Reload the watched check report now (coalesced)."""
        if self._checks is not None:
            self._jobs.coalesce("checks", self._load_checks)

    async def _load_checks(self) -> None:
        watched = self._checks
        if watched is None:
            return
        report: CheckReport = await self._need_client().get_checks(*watched)
        if self._checks == watched:
            self.checks_changed.emit(report)

    def load_policy(self, project: str) -> None:
        """Load a project's check policy (then :attr:`policy_loaded`); its changes reload it."""
        self._policy_project = project
        self._jobs.coalesce(f"policy:{project}", lambda: self._load_policy(project))

    def forget_policy(self) -> None:
        """Stop keeping a policy fresh (the editor closed)."""
        self._policy_project = None

    async def _load_policy(self, project: str) -> None:
        policy: PolicyOut = await self._need_client().get_policy(project)
        self.policy_loaded.emit(policy)

    def update_policy(
        self, project: str, update: PolicyUpdate, *, based_on: datetime | None
    ) -> asyncio.Task[PolicyOut]:
        """Replace a project's policy, unless it changed since the one loaded at ``based_on``.

        ``based_on`` is the loaded policy's ``updated_at``: if the agent's policy has
        another, someone saved in between and :class:`~desktop.errors.PolicyChanged`
        is raised instead of overwriting their change.
        """

        async def run() -> PolicyOut:
            client = self._need_client()
            current = await client.get_policy(project)
            if current.updated_at != based_on:
                self.policy_loaded.emit(current)
                who = f" by {current.updated_by}" if current.updated_by else ""
                raise PolicyChanged(
                    f"the policy of {project} was changed{who} since the editor loaded it",
                    hint="the editor shows the new policy now; make your change again",
                )
            saved = await client.update_policy(project, update)
            self.policy_loaded.emit(saved)
            if self._checks is not None and self._checks[0] == project:
                self._schedule_checks()
            return saved

        return self._jobs.start(run())

    def rerun_checks(self, project: str, version: str, revision: int) -> asyncio.Task[CheckReport]:
        """Redo the runs of a revision whose inputs changed (policy, keys, check versions)."""

        async def run() -> CheckReport:
            report = await self._need_client().rerun_checks(project, version, revision)
            if self._checks == (project, version, revision):
                self.checks_changed.emit(report)
            return report

        return self._jobs.start(run())

    def download_sbom(
        self, project: str, version: str, revision: int, artifact: str, dest: Path
    ) -> asyncio.Task[Path]:
        """Save the CycloneDX SBOM the agent stored for an artifact of a revision to ``dest``."""

        async def run() -> Path:
            client = self._need_client()
            return await client.download_sbom(project, version, revision, artifact, dest)

        return self._jobs.start(run())

    # --- acting ---------------------------------------------------------------------------------

    def create_release(self, project: str, version: str) -> asyncio.Task[Release]:
        """Create a release in phase ``compose``."""

        async def run() -> Release:
            release = await self._need_client().create_release(project, version)
            self.release_changed.emit(release)
            return release

        return self._jobs.start(run())

    def transition(
        self, project: str, version: str, to: Phase, *, reason: str = ""
    ) -> asyncio.Task[Release]:
        """Move a release to another phase. Moving to ``vote`` starts the vote, which the
        agent announces on the dev list; a release enters that phase no other way."""

        if to is Phase.VOTE:
            return self.start_vote(project, version)

        async def run() -> Release:
            release = await self._need_client().transition(project, version, to, reason)
            self.release_changed.emit(release)
            return release

        return self._jobs.start(run())

    def start_vote(
        self,
        project: str,
        version: str,
        *,
        source_ref: str | None = None,
        source_url: str | None = None,
        release_notes_url: str | None = None,
    ) -> asyncio.Task[Release]:
        """Start the vote on the release's latest revision (the release moves to ``vote``);
        the tag or commit it was built from, where that is, and the release notes go into
        the ``[VOTE]`` mail."""

        async def run() -> Release:
            client = self._need_client()
            await client.start_vote(
                project,
                version,
                source_ref=source_ref,
                source_url=source_url,
                release_notes_url=release_notes_url,
            )
            release = await client.get_release(project, version)
            self.release_changed.emit(release)
            return release

        return self._jobs.start(run())

    def upload(
        self,
        project: str,
        version: str,
        paths: Sequence[Path],
        *,
        names: Sequence[str] | None = None,
        message: str = "",
    ) -> asyncio.Task[Revision]:
        """Upload files into one new revision; :attr:`upload_progress` reports every chunk.

        Cancel the returned task to stop: no revision is made from a cancelled upload.
        """

        async def run() -> Revision:
            revision = await self._need_client().upload_files(
                project,
                version,
                list(paths),
                names=names,
                progress=self.upload_progress.emit,
                message=message,
            )
            self.upload_finished.emit(revision)
            if self._current == (project, version):
                self._jobs.coalesce("revisions", lambda: self._load_revisions(project, version))
            return revision

        return self._jobs.start(run(), key="upload")

    def start_task(
        self,
        project: str,
        version: str,
        task_type: TaskType,
        *,
        revision: int | None = None,
        args: dict[str, Any] | None = None,
    ) -> asyncio.Task[Task]:
        """Queue a task on the release's revision (default: latest)."""

        async def run() -> Task:
            task = await self._need_client().start_task(
                project, version, task_type, revision=revision, args=args
            )
            if self._current == (project, version):
                self.task_changed.emit(task)
            return task

        return self._jobs.start(run())

    def start_inventory(self, project: str, version: str) -> asyncio.Task[Task]:
        """Queue the inventory task (size, SHA-512, archive members of every file)."""
        return self.start_task(project, version, TaskType.INVENTORY)

    def cancel_upload(self) -> None:
        self._jobs.cancel("upload")

    # --- project keys (KEYS) --------------------------------------------------------------------

    def load_project_keys(self, project: str) -> None:
        """Load a project's keys (then :attr:`project_keys_changed`); its key events reload them."""
        self._key_projects.add(project)
        self._jobs.coalesce(f"keys:{project}", lambda: self._load_project_keys(project))

    async def _load_project_keys(self, project: str) -> list[ProjectKeyOut]:
        keys = await self._need_client().list_project_keys(project)
        self.project_keys_changed.emit(project, keys)
        return keys

    def project_keys(self, project: str) -> asyncio.Task[list[ProjectKeyOut]]:
        """A project's keys, answered by the task (and emitted as :attr:`project_keys_changed`)."""
        return self._jobs.start(self._load_project_keys(project), report=False)

    def publish_key(self, project: str, armored: str) -> asyncio.Task[ProjectKeyOut]:
        """Publish an armored public key to the project's KEYS."""

        async def run() -> ProjectKeyOut:
            added = await self._need_client().add_project_key(project, armored)
            self.load_project_keys(project)
            return added

        return self._jobs.start(run(), report=False)

    def revoke_key(self, project: str, armored: str, *, reason: str) -> asyncio.Task[KeyRevoked]:
        """Send a revocation (the public key with its revocation signature) to a project."""

        async def run() -> KeyRevoked:
            revoked = await self._need_client().revoke_key(project, armored, reason=reason)
            self.load_project_keys(project)
            return revoked

        return self._jobs.start(run(), report=False)

    def keys_file(self, project: str) -> asyncio.Task[str]:
        """The project's generated KEYS file (what voters verify signatures against)."""
        return self._jobs.start(self._need_client().get_keys_file(project), report=False)

    # --- votes ------------------------------------------------------------------------------------

    def load_votes(self) -> None:
        """Load the votes — every open one, and the agent's latest decided ones (passed,
        failed, cancelled) — then :attr:`votes_changed`; ``vote.*`` events reload them."""
        self._watch_votes = True
        self._jobs.coalesce("votes", self._load_votes)

    async def _load_votes(self) -> None:
        client = self._need_client()
        open_votes = await client.list_votes(state="open")
        recent = await client.list_votes()  # the newest votes in any state (the agent's page)
        seen = {v.id for v in open_votes}
        self.votes_changed.emit(open_votes + [v for v in recent if v.id not in seen])

    def watch_vote(self, project: str | None, version: str | None = None) -> None:
        """Load one release's vote (then :attr:`vote_changed`) and keep it fresh; None stops."""
        if project is None or version is None:
            self._vote = None
            return
        self._vote = (project, version)
        self._jobs.coalesce(f"vote:{project}/{version}", lambda: self._load_vote(project, version))

    async def _load_vote(self, project: str, version: str) -> None:
        vote = await self._need_client().get_vote(project, version)
        self.vote_changed.emit(vote)

    def revision(self, project: str, version: str, number: int) -> asyncio.Task[Revision]:
        """One revision of a release (its files, with the SHA-512 the agent holds)."""
        return self._jobs.start(
            self._need_client().get_revision(project, version, number), report=False
        )

    def download_files(
        self,
        project: str,
        version: str,
        number: int,
        paths: Sequence[str],
        folder: Path,
        *,
        progress: Callable[[str, int, int], None] | None = None,
    ) -> asyncio.Task[list[Path]]:
        """Download files of a revision into ``folder`` (keeping their release paths);
        ``progress(path, received, total)``. Each file appears whole or not at all."""

        async def run() -> list[Path]:
            client = self._need_client()
            written = []
            for path in paths:
                dest = folder.joinpath(*PurePosixPath(path).parts)
                dest.parent.mkdir(parents=True, exist_ok=True)

                def report(received: int, total: int, path: str = path) -> None:
                    if progress is not None:
                        progress(path, received, total)

                written.append(
                    await client.download_file(
                        project, version, number, path, dest, progress=report
                    )
                )
            return written

        return self._jobs.start(run(), key="download", report=False)

    def cast_ballot(self, project: str, version: str, signed: str) -> asyncio.Task[BallotOut]:
        """Cast a clear-signed ballot; the vote is reloaded after."""

        async def run() -> BallotOut:
            ballot = await self._need_client().cast_ballot(project, version, signed)
            self._jobs.coalesce(
                f"vote:{project}/{version}", lambda: self._load_vote(project, version)
            )
            return ballot

        return self._jobs.start(run(), report=False)

    # --- waiting for you, the project dashboard (issue 9) -----------------------------------------

    def waiting(self) -> asyncio.Task[list[WaitingItem]]:
        """The steps waiting for the logged-in user, in every release in progress."""
        return self._jobs.start(self._need_client().waiting(), report=False)

    def release_next(self, project: str, version: str) -> asyncio.Task[ReleaseNext]:
        """What one release waits for, and who can do it."""
        return self._jobs.start(self._need_client().release_next(project, version), report=False)

    def release_stats(self, project: str) -> asyncio.Task[ReleaseStats]:
        """A project's release statistics (from the agent's event log)."""
        return self._jobs.start(self._need_client().release_stats(project), report=False)

    def release_practice(self, project: str) -> asyncio.Task[ReleasePractice]:
        """A project's release practice: steps, channels, vote rules, release managers."""
        return self._jobs.start(self._need_client().release_practice(project), report=False)

    def _apply_keys_and_votes(self, event: Event) -> None:
        """Reload the watched projects' keys on ``key.*`` events, the open votes and the
        watched vote on ``vote.*`` events (live ones only)."""
        if event.id <= self._loaded_at or not event.project:
            return
        project, version = event.project, event.version
        if event.kind in _KEY_EVENTS and project in self._key_projects:
            self._jobs.coalesce(f"keys:{project}", lambda: self._load_project_keys(project))
        if event.kind not in _VOTE_EVENTS:
            return
        if self._watch_votes:
            self._jobs.coalesce("votes", self._load_votes)
        if version is not None and self._vote == (project, version):
            self._jobs.coalesce(
                f"vote:{project}/{version}", lambda: self._load_vote(project, version)
            )

    # --- distribution ---------------------------------------------------------------------------

    def watch_distribution(self, project: str | None, version: str | None = None) -> None:
        """Load a release's distribution status (then :attr:`distribution_changed`) and keep it
        fresh: its ``distribution.*`` events, its phase changes and its tasks starting and
        ending reload it (debounced by :data:`DISTRIBUTION_DEBOUNCE_MS`). ``None`` stops."""
        self._distribution_timer.stop()
        self._jobs.cancel("distribution")
        if project is None or version is None:
            self._distribution = None
            return
        self._distribution = (project, version)
        self.refresh_distribution()

    @property
    def watched_distribution(self) -> tuple[str, str] | None:
        """(project, version) whose distribution is kept fresh, if any."""
        return self._distribution

    def refresh_distribution(self) -> None:
        """Reload the watched distribution's status now (coalesced)."""
        if self._distribution is not None:
            self._jobs.coalesce("distribution", self._load_distribution)

    async def _load_distribution(self) -> None:
        watched = self._distribution
        if watched is None:
            return
        status = await self._need_client().distribution_status(*watched)
        if self._distribution == watched:
            self.distribution_changed.emit(status)

    def distribution_plan(
        self, project: str, version: str, *, kind: DistributionKind = "production"
    ) -> asyncio.Task[DistributionPlan]:
        """The plan the agent would execute now (its text is what an approver signs)."""
        return self._jobs.start(
            self._need_client().distribution_plan(project, version, kind=kind), report=False
        )

    def approve_distribution(
        self, project: str, version: str, signed: str
    ) -> asyncio.Task[ApprovalOut]:
        """Send the plan's text clear-signed with the user's key; the status is reloaded."""

        async def run() -> ApprovalOut:
            approval = await self._need_client().approve_distribution(project, version, signed)
            self._reload_distribution(project, version)
            return approval

        return self._jobs.start(run(), report=False)

    def start_distribution(
        self, project: str, version: str, *, kind: DistributionKind = "production"
    ) -> asyncio.Task[DistributionStatus]:
        """Start the approved distribution, or stage the candidate (``kind="staging"``)."""
        return self._distribution_action(
            project, version, lambda c: c.start_distribution(project, version, kind=kind)
        )

    def retry_channel(
        self, project: str, version: str, channel: str
    ) -> asyncio.Task[DistributionStatus]:
        """Try a channel's failed files again."""
        return self._distribution_action(
            project, version, lambda c: c.retry_channel(project, version, channel)
        )

    def mark_manual_done(
        self, project: str, version: str, number: int
    ) -> asyncio.Task[DistributionStatus]:
        """Mark manual step ``number`` (1-based) done."""
        return self._distribution_action(
            project, version, lambda c: c.mark_manual_done(project, version, number)
        )

    def announce(
        self, project: str, version: str, *, force_early: bool = False, reason: str = ""
    ) -> asyncio.Task[DistributionStatus]:
        """Send the [ANNOUNCE] mail (the release moves to ``announced``)."""
        return self._distribution_action(
            project,
            version,
            lambda c: c.announce(project, version, force_early=force_early, reason=reason),
        )

    def _distribution_action(
        self,
        project: str,
        version: str,
        call: Callable[[AgentClient], Awaitable[DistributionStatus]],
    ) -> asyncio.Task[DistributionStatus]:
        async def run() -> DistributionStatus:
            status = await call(self._need_client())
            if self._distribution == (project, version):
                self.distribution_changed.emit(status)
            return status

        return self._jobs.start(run(), report=False)

    def _reload_distribution(self, project: str, version: str) -> None:
        if self._distribution == (project, version):
            self.refresh_distribution()

    def release_tasks(self, project: str, version: str) -> asyncio.Task[list[Task]]:
        """Every task of a release (a distribution's tasks name their channel in ``args``)."""
        return self._jobs.start(
            self._need_client().list_tasks(project=project, version=version), report=False
        )

    def load_distribution_settings(self, project: str) -> None:
        """Load a project's distribution settings (then :attr:`distribution_settings_changed`);
        a ``project.distribution_changed`` event reloads them."""
        self._distribution_settings.add(project)
        self._jobs.coalesce(
            f"distribution-settings:{project}", lambda: self._load_distribution_settings(project)
        )

    async def _load_distribution_settings(self, project: str) -> DistributionSettings:
        settings = await self._need_client().distribution_settings(project)
        self.distribution_settings_changed.emit(project, settings)
        return settings

    def set_distribution_settings(
        self, project: str, settings: DistributionSettings, *, based_on: DistributionSettings
    ) -> asyncio.Task[DistributionSettings]:
        """Replace a project's channels and manual steps (PMC), unless they changed since the
        editor loaded ``based_on``: then :class:`~desktop.errors.DistributionSettingsChanged`
        is raised and the agent's settings are emitted, instead of overwriting a change."""

        async def run() -> DistributionSettings:
            client = self._need_client()
            current = await client.distribution_settings(project)
            if current != based_on:
                self.distribution_settings_changed.emit(project, current)
                raise DistributionSettingsChanged(
                    f"the distribution settings of {project} were changed since the editor "
                    "loaded them",
                    hint="the editor shows the new settings now; make your change again",
                )
            saved = await client.set_distribution_settings(project, settings)
            self.distribution_settings_changed.emit(project, saved)
            return saved

        return self._jobs.start(run(), report=False)

    def _apply_distribution(self, event: Event) -> None:
        """Reload the watched distribution on its release's distribution, phase and task
        events, and watched projects' settings on ``project.distribution_changed`` (live
        events only)."""
        if event.id <= self._loaded_at or not event.project:
            return
        project = event.project
        if (
            event.kind is EventKind.DISTRIBUTION_SETTINGS_CHANGED
            and project in self._distribution_settings
        ):
            self._jobs.coalesce(
                f"distribution-settings:{project}",
                lambda: self._load_distribution_settings(project),
            )
        if (
            event.kind in _DISTRIBUTION_EVENTS
            and self._distribution == (project, event.version)
            and not self._distribution_timer.isActive()  # not restarted: a steady stream
        ):
            self._distribution_timer.start()  # of events still reloads every interval

    # --- internals ------------------------------------------------------------------------------

    def _need_client(self) -> AgentClient:
        if self._client is None:
            raise ClientError("not connected to an agent", hint="log in first (File → Connect)")
        return self._client

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    def _report(self, error: BaseException) -> None:
        if not isinstance(error, AtrError):
            log.error("unexpected error in a session job", exc_info=error)
        self.error.emit(describe_error(error))
