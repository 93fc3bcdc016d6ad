"""The distribution screen's state and actions: a release from its passed vote to announced.

* **The plan** — every file going to every channel with its SHA-512 and target, and its
  digest. *Sign and approve* clear-signs the plan's canonical text
  (:func:`shared.distribute.plan_text`) with the key the user logged in with, in a worker
  thread, exactly like a ballot, and sends it. If the agent's plan changed meanwhile (the
  settings, the keys or the files), the agent refuses the signature (409): the new plan is
  loaded and shown, and the user is told to review and sign it.
* **Publishing** — *Start* (or *Stage candidate* during the vote: the test channels),
  then each channel and file with its live state: the status is reloaded on the release's
  ``distribution.*`` events, each ``distribution.step`` event is shown at once, and
  ``task.progress`` events carrying a ``path`` (big uploads) drive per-file progress. A
  failed channel shows the registry's own words and can be retried.
* **Announce** — the manual-step checklist, then *Announce*: only once the distribution is
  verified, every manual step is done and ``announce_after`` has passed (the screen says
  when); the download page after.
* **Settings** — the project's channels and manual steps; PMC members edit them as JSON,
  checked here against the same model the agent uses before it is sent.

No widget here: the screen (:mod:`desktop.views.distribution_view`) renders this and
forwards the user's actions; everything that talks to the agent goes through the session.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError
from PySide6.QtCore import QObject, Signal

from desktop.errors import DesktopError
from desktop.format import human_duration
from desktop.models.distribution import (
    ChannelSettingsModel,
    ChannelsModel,
    ManualStep,
    ManualStepsModel,
    PlanModel,
    manual_steps,
)
from desktop.session import Session
from desktop.viewmodels.main import role_for
from desktop.viewmodels.steps import StepViewModel
from shared.distribute import plan_text
from shared.errors import ApiError
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, Project, Release, Role, Task, TaskType
from shared.protocol.distribute import (
    ApprovalOut,
    ChannelKind,
    ChannelOut,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
    StepOut,
    StepState,
)

Tone = Literal["info", "ok", "warn", "error"]
"""How the screen's guidance line looks: neutral, done, waiting on something, failed."""

STAGING_PHASES = frozenset({Phase.CANDIDATE, Phase.STAGED, Phase.VOTE})
"""Phases whose distribution is the candidate's staging (test channels)."""
PRODUCTION_PHASES = frozenset({Phase.PASSED, Phase.DISTRIBUTE, Phase.ANNOUNCED, Phase.ARCHIVED})
"""Phases whose distribution is the release's (production channels, a signed plan)."""


@dataclass(frozen=True, slots=True)
class Guidance:
    """What the release needs next, in a sentence, and how urgent it looks."""

    text: str
    tone: Tone = "info"


def plan_kind(phase: Phase | None) -> DistributionKind | None:
    """Which plan a release in ``phase`` shows: its staging, its production, or none yet."""
    if phase in STAGING_PHASES:
        return "staging"
    if phase in PRODUCTION_PHASES:
        return "production"
    return None


def until_text(when: datetime, now: datetime) -> str:
    """``14:05 (in 42m)`` in the local time zone."""
    local = when.astimezone().strftime("%H:%M")
    if when.date() != now.date():
        local = when.astimezone().strftime("%Y-%m-%d %H:%M")
    return f"{local} (in {human_duration(when - now)})"


def settings_json(settings: DistributionSettings) -> str:
    """The settings as the editor shows them: every field, two-space indented."""
    return json.dumps(settings.model_dump(mode="json"), indent=2) + "\n"


def parse_settings(text: str) -> DistributionSettings:
    """The settings in the editor's text; :class:`DesktopError` naming the first problem
    (where it is, what is wrong) as the agent would."""
    try:
        return DistributionSettings.model_validate_json(text)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "the settings"
        message = first["msg"]
        if first["type"] == "json_invalid":
            where = "JSON"
            message = str(first.get("ctx", {}).get("error", message))
        raise DesktopError(f"{where}: {message}") from exc


class DistributionViewModel(StepViewModel):
    """Everything the distribution screen shows and can do, for one release at a time."""

    status_shown = Signal(object)
    """the :class:`DistributionStatus` on screen (or ``None``), after every change"""
    plan_shown = Signal(object)
    """the :class:`DistributionPlan` on screen (or ``None``)"""
    settings_shown = Signal(object)
    """the project's :class:`DistributionSettings` (or ``None`` before they load)"""
    approved = Signal(object)
    """the :class:`ApprovalOut` the agent recorded for a plan signed here"""
    message = Signal(str)
    """a short note of what an action did"""

    def __init__(
        self,
        session: Session,
        *,
        projects: list[Project] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.plan_model = PlanModel(self)
        self.channels = ChannelsModel(self)
        self.manual = ManualStepsModel(self)
        self.channel_settings = ChannelSettingsModel(self)
        self._projects: dict[str, Project] = {p.key: p for p in projects or []}
        self._target: tuple[str, str] | None = None
        self._release: Release | None = None
        self._status: DistributionStatus | None = None
        self._plan: DistributionPlan | None = None
        self._plan_note = ""
        self._settings: DistributionSettings | None = None
        self._settings_for: str | None = None
        self._task_channels: dict[int, str] = {}
        self._unmapped: dict[int, dict[str, tuple[int, int]]] = {}
        self.manual.mark_requested.connect(self.mark_done)
        session.distribution_changed.connect(self._on_status)
        session.distribution_settings_changed.connect(self._on_settings)
        session.event_received.connect(self._on_event)
        session.release_changed.connect(self._on_release)
        session.projects_changed.connect(self._on_projects)

    # --- what the screen reads ------------------------------------------------------------

    @property
    def target(self) -> tuple[str, str] | None:
        """(project, version) on screen."""
        return self._target

    @property
    def release(self) -> Release | None:
        return self._release

    @property
    def phase(self) -> Phase | None:
        if self._release is not None:
            return self._release.phase
        if self._status is not None:
            try:
                return Phase(self._status.phase)
            except ValueError:
                return None
        return None

    @property
    def status(self) -> DistributionStatus | None:
        return self._status

    @property
    def plan(self) -> DistributionPlan | None:
        return self._plan

    @property
    def plan_note(self) -> str:
        """Why the plan on screen needs attention ("" when it does not): it changed since it
        was approved or signed."""
        return self._plan_note

    @property
    def settings(self) -> DistributionSettings | None:
        return self._settings

    @property
    def approval(self) -> ApprovalOut | None:
        return self._status.approval if self._status is not None else None

    @property
    def approval_outdated(self) -> bool:
        """An approval is on record, of another plan than the one the agent would run now."""
        approval, plan = self.approval, self._plan
        return (
            approval is not None
            and plan is not None
            and plan.kind == "production"
            and self.phase is Phase.PASSED
            and approval.digest != plan.digest
        )

    def role(self) -> Role:
        project = self._projects.get(self._target[0]) if self._target else None
        return role_for(self.session.user, project)

    @property
    def may_manage(self) -> bool:
        """PMC member of the project, or the release manager (who created the release)."""
        user = self.session.user
        if user is None:
            return False
        role = self.role()
        if role.rank >= Role.PMC.rank:
            return True
        release = self._release
        return (
            release is not None
            and release.created_by == user.name
            and role.rank >= Role.COMMITTER.rank
        )

    @property
    def may_edit_settings(self) -> bool:
        return self.role().rank >= Role.PMC.rank

    def _manager_problem(self) -> str:
        if self.session.user is None:
            return "log in first"
        if self.may_manage:
            return ""
        creator = self._release.created_by if self._release else "its creator"
        return f"needs the pmc role, or being the release manager ({creator})"

    def needs_passphrase(self) -> bool:
        key = self.session.key_fingerprint
        return key is not None and self.session.keystore.needs_passphrase(key)

    def manual_steps(self) -> list[ManualStep]:
        """The manual steps of the distribution on screen (not of an earlier staging)."""
        status = self._status
        if status is None or (status.kind == "staging" and plan_kind(self.phase) == "production"):
            return []
        return manual_steps(status.channels)

    def failed_channels(self) -> list[ChannelOut]:
        """The channels with a failed file (each can be retried)."""
        status = self._status
        if status is None or (status.kind == "staging" and plan_kind(self.phase) == "production"):
            return []
        return [
            c
            for c in status.channels
            if c.kind is not ChannelKind.MANUAL and c.state is StepState.FAILED
        ]

    def approve_problem(self) -> str:
        """Why *Sign and approve* is not possible now ("" when it is)."""
        status, plan = self._status, self._plan
        checks = [
            (self.phase is not Phase.PASSED, self._approve_phase_text()),
            (plan is None or plan.kind != "production", "the plan is loading"),
            (bool(self._manager_problem()), self._manager_problem()),
            (self.session.key_fingerprint is None, "log in with your key to sign the plan"),
            (
                status is not None
                and status.approval is not None
                and plan is not None
                and status.approval.digest == plan.digest,
                "this plan is approved: start the distribution",
            ),
            (bool(self._busy), self._busy),
        ]
        return next((text for failed, text in checks if failed), "")

    def _approve_phase_text(self) -> str:
        phase = self.phase
        if phase in (Phase.DISTRIBUTE, Phase.ANNOUNCED, Phase.ARCHIVED):
            return "the distribution has started: its approved plan is on record"
        return "a plan is approved once the release's vote has passed"

    def start_problem(self) -> str:
        """Why *Start* is not possible now ("" when it is)."""
        status = self._status
        checks = [
            (self.phase is not Phase.PASSED, "a distribution starts when the vote has passed"),
            (
                status is None or status.approval is None,
                "sign and approve the plan first",
            ),
            (self.approval_outdated, "the plan changed since it was approved: sign it again"),
            (bool(self._manager_problem()), self._manager_problem()),
            (bool(self._busy), self._busy),
        ]
        return next((text for failed, text in checks if failed), "")

    def stage_problem(self) -> str:
        """Why *Stage candidate* is not possible now ("" when it is)."""
        status = self._status
        checks = [
            (self.phase is not Phase.CANDIDATE, "a release is staged while it is a candidate"),
            (
                status is not None and status.kind == "staging" and status.state != "none",
                "this candidate is staged already",
            ),
            (bool(self._manager_problem()), self._manager_problem()),
            (bool(self._busy), self._busy),
        ]
        return next((text for failed, text in checks if failed), "")

    def retry_problem(self, channel: str) -> str:
        checks = [
            (channel not in {c.name for c in self.failed_channels()}, f"{channel} has not failed"),
            (bool(self._manager_problem()), self._manager_problem()),
            (bool(self._busy), self._busy),
        ]
        return next((text for failed, text in checks if failed), "")

    def mark_problem(self) -> str:
        """Why manual steps cannot be checked off now ("" when they can)."""
        status = self._status
        checks = [
            (
                status is None or status.state in ("none", "planned"),
                "manual steps are checked off once the distribution runs",
            ),
            (self.phase in (Phase.ANNOUNCED, Phase.ARCHIVED), "the release is announced"),
            (bool(self._manager_problem()), self._manager_problem()),
        ]
        return next((text for failed, text in checks if failed), "")

    def announce_problem(self, now: datetime | None = None) -> str:
        """Why *Announce* is not possible now ("" when it is); says when it will be."""
        now = now or datetime.now(UTC)
        status = self._status
        open_steps = [s for s in self.manual_steps() if not s.done]
        after = status.announce_after if status is not None else None
        checks = [
            (self.phase in (Phase.ANNOUNCED, Phase.ARCHIVED), "the release is announced"),
            (self.phase is not Phase.DISTRIBUTE, "a release is announced once it is distributed"),
            (
                status is None or status.state != "verified",
                "every file must be published and verified first",
            ),
            (
                bool(open_steps),
                f"{len(open_steps)} manual step{'s' if len(open_steps) != 1 else ''} to do "
                f"first: {open_steps[0].text if open_steps else ''}",
            ),
            (
                after is not None and now < after,
                f"possible at {until_text(after, now) if after else ''}: mirrors catch up first",
            ),
            (bool(self._manager_problem()), self._manager_problem()),
            (bool(self._busy), self._busy),
        ]
        return next((text for failed, text in checks if failed), "")

    def announce_waits_for_delay(self, now: datetime | None = None) -> bool:
        """Only the announce delay stands in the way (an early announcement is possible)."""
        now = now or datetime.now(UTC)
        status = self._status
        after = status.announce_after if status is not None else None
        if after is None or now >= after:
            return False
        return self.announce_problem(now).startswith("possible at")

    def guidance(self, now: datetime | None = None) -> Guidance:  # noqa: PLR0911
        """What the release needs next (the screen's top line)."""
        phase = self.phase
        if self._target is None:
            return Guidance("Choose a release.")
        if phase is None:
            return Guidance("Loading…")
        if phase in (Phase.COMPOSE, Phase.CHECKS):
            return Guidance(
                "Distribution comes after the vote. Once the release is a candidate it can "
                "be staged to the test channels, so voters install what they vote on."
            )
        if phase is Phase.FAILED:
            return Guidance("The release failed: nothing is distributed.", "error")
        if phase in STAGING_PHASES:
            return self._staging_guidance(phase, self._status)
        if phase is Phase.PASSED:
            return self._approval_guidance()
        if phase is Phase.DISTRIBUTE:
            return self._publishing_guidance(now or datetime.now(UTC))
        if phase is Phase.ANNOUNCED:
            return Guidance("Announced: the release is on its download page.", "ok")
        return Guidance("Archived: a newer release of its line replaced it.")

    def _approval_guidance(self) -> Guidance:
        approval = self.approval
        state = self._status.state if self._status is not None else "none"
        if self.approval_outdated and approval is not None:
            return Guidance(
                f"The plan changed since {approval.approved_by} approved it (the settings, "
                "the KEYS or the files changed): review the new plan and sign it again.",
                "warn",
            )
        if approval is not None and state == "planned":
            return Guidance(f"Approved by {approval.approved_by}: start the distribution.", "ok")
        return Guidance(
            "The vote passed. Review the plan — every file, where it goes, its SHA-512 — "
            "then sign it with your key to approve it."
        )

    def _publishing_guidance(self, now: datetime) -> Guidance:
        status = self._status
        failed = self.failed_channels()
        if failed:
            names = ", ".join(c.name for c in failed)
            return Guidance(
                f"Publishing failed on {names}: the channel's own error is below. Fix the "
                "cause (a credential, the server), then retry the channel.",
                "error",
            )
        if status is None or status.state != "verified":
            files = [
                f
                for c in (status.channels if status is not None else [])
                if c.kind is not ChannelKind.MANUAL
                for f in c.files
            ]
            published = sum(1 for f in files if f.state is StepState.DONE)
            verified = sum(1 for f in files if f.verified)
            return Guidance(
                f"Publishing: {published} of {len(files)} files published, {verified} verified."
            )
        problem = self.announce_problem(now)
        if not problem:
            return Guidance("Everything is published and verified: announce the release.", "ok")
        if any(not s.done for s in self.manual_steps()):
            return Guidance(
                "Published and verified. Do the manual steps and check them off, then "
                "announce the release.",
                "warn",
            )
        return Guidance(f"Published and verified. The announcement is {problem}.", "warn")

    def _staging_guidance(self, phase: Phase, status: DistributionStatus | None) -> Guidance:
        state = status.state if status is not None and status.kind == "staging" else "none"
        if state == "none":
            if phase is Phase.CANDIDATE:
                return Guidance(
                    "Optional: stage the candidate to the test channels (dist/dev, TestPyPI…) "
                    "so voters install what they vote on."
                )
            return Guidance("The distribution is planned once the vote passes.")
        if self.failed_channels():
            return Guidance(
                "Staging failed on a channel: its own error is below; retry it.", "error"
            )
        if state == "verified":
            return Guidance("The candidate is staged on its test channels.", "ok")
        return Guidance("Staging the candidate to its test channels…")

    # --- choosing the release -------------------------------------------------------------

    def show_release(self, project: str, version: str, release: Release | None = None) -> None:
        """Show a release's distribution (kept fresh by its events) and its project's
        settings."""
        if self._target != (project, version):
            self._jobs.cancel_all()
            self._set_busy("")
            self._target = (project, version)
            self._release = None
            self._status = None
            self._plan = None
            self._plan_note = ""
            self._task_channels = {}
            self._unmapped = {}
            self.plan_model.set_plan(None)
            self.channels.set_channels([])
            self.channels.clear_progress()
            self.manual.set_steps([], editable=False)
            if self._settings_for != project:
                self._settings = None
                self._settings_for = None
                self.channel_settings.set_rows([])
                self.settings_shown.emit(None)
        if release is not None:
            self._release = release
        self.refresh()
        self._emit_all()

    def refresh(self) -> None:
        """Reload the status, the plan and the settings from the agent."""
        target = self._target
        if target is None:
            return
        if not self._projects and self.session.user is not None:
            self.session.refresh_projects()  # who may act depends on the project's committee
        if self.session.user is not None:
            self.session.load_release(*target)  # and on who created the release
        self.session.watch_distribution(*target)
        self.session.load_distribution_settings(target[0])
        self.load_plan()

    def stop(self) -> None:
        """The screen closed: stop keeping the distribution fresh, cancel what runs."""
        self._jobs.cancel_all()
        if self.session.watched_distribution == self._target:
            self.session.watch_distribution(None)

    def load_plan(self) -> None:
        """Load the plan the release's phase shows (staging or production)."""
        target = self._target
        kind = plan_kind(self.phase)
        if target is None or kind is None or self.session.user is None:
            return

        async def run() -> None:
            plan = await self.session.distribution_plan(*target, kind=kind)
            if self._target == target:
                self._set_plan(plan)

        self._jobs.start(run(), key="plan")

    # --- actions --------------------------------------------------------------------------

    def approve(self, *, passphrase: str | None = None) -> asyncio.Task[ApprovalOut]:
        """Clear-sign the plan on screen with the login key (in a worker thread) and send it.
        A plan that changed meanwhile is refused by the agent: the new one is shown."""
        problem, plan, target = self.approve_problem(), self._plan, self._target

        async def run() -> ApprovalOut:
            if problem or plan is None or target is None:
                raise DesktopError(f"cannot approve the plan: {problem}")
            fingerprint = self.session.key_fingerprint
            if fingerprint is None:  # checked by approve_problem; keeps the type checker sure
                raise DesktopError("log in with your key to sign the plan")
            signed = await asyncio.to_thread(
                self.session.keystore.clearsign,
                fingerprint,
                plan_text(plan),
                passphrase=passphrase,
            )
            try:
                approval = await self.session.approve_distribution(*target, signed)
            except ApiError as exc:
                if exc.status == 409:
                    await self._plan_changed(target, plan.digest, "you signed")
                raise
            self._plan_note = ""
            self.message.emit(
                f"The plan {approval.digest[:19]}… is approved, signed with your key "
                f"{approval.fingerprint[-16:]}: start the distribution"
            )
            self.approved.emit(approval)
            return approval

        return self._start(run(), "Signing and approving the plan…")

    def start(self) -> asyncio.Task[DistributionStatus]:
        """Start the approved production distribution."""
        problem, target, approval = self.start_problem(), self._target, self.approval

        async def run() -> DistributionStatus:
            if problem or target is None:
                raise DesktopError(f"cannot start the distribution: {problem}")
            try:
                status = await self.session.start_distribution(*target)
            except ApiError as exc:
                if exc.status == 409 and approval is not None:
                    await self._plan_changed(target, approval.digest, "was approved")
                raise
            self.message.emit(f"The distribution of {target[0]} {target[1]} started")
            return status

        return self._start(run(), "Starting the distribution…")

    def stage(self) -> asyncio.Task[DistributionStatus]:
        """Stage the candidate to the project's test channels."""
        problem, target = self.stage_problem(), self._target

        async def run() -> DistributionStatus:
            if problem or target is None:
                raise DesktopError(f"cannot stage the candidate: {problem}")
            status = await self.session.start_distribution(*target, kind="staging")
            self.message.emit(
                f"The staging of {target[0]} {target[1]} to its test channels started"
            )
            return status

        return self._start(run(), "Staging the candidate…")

    def retry(self, channel: str) -> asyncio.Task[DistributionStatus]:
        """Try a failed channel's files again."""
        problem, target = self.retry_problem(channel), self._target

        async def run() -> DistributionStatus:
            if problem or target is None:
                raise DesktopError(f"cannot retry {channel}: {problem}")
            self.channels.clear_progress(channel)
            status = await self.session.retry_channel(*target, channel)
            self.message.emit(f"Trying {channel} again")
            return status

        return self._start(run(), f"Retrying {channel}…")

    def mark_done(self, number: int) -> asyncio.Task[DistributionStatus]:
        """Check manual step ``number`` (1-based) off."""
        problem, target = self.mark_problem(), self._target

        async def run() -> DistributionStatus:
            if problem or target is None:
                raise DesktopError(f"cannot mark the step done: {problem}")
            status = await self.session.mark_manual_done(*target, number)
            self.message.emit(f"Manual step {number} is done")
            return status

        return self._start(run(), f"Marking step {number} done…")

    def announce(self, *, early_reason: str = "") -> asyncio.Task[DistributionStatus]:
        """Send the [ANNOUNCE] mail. ``early_reason``: announce before the delay passed (the
        reason is recorded in the event log)."""
        now = datetime.now(UTC)
        early = bool(early_reason.strip())
        problem = "" if early and self.announce_waits_for_delay(now) else self.announce_problem(now)
        target = self._target

        async def run() -> DistributionStatus:
            if problem or target is None:
                raise DesktopError(f"cannot announce the release: {problem}")
            status = await self.session.announce(
                *target, force_early=early, reason=early_reason.strip()
            )
            page = status.download_page or "its download page"
            self.message.emit(f"{target[0]} {target[1]} is announced: {page}")
            return status

        return self._start(run(), "Announcing the release…")

    def settings_problem(self, text: str) -> str:
        """What is wrong with the settings typed in the editor ("" when nothing is)."""
        try:
            parse_settings(text)
        except DesktopError as exc:
            return exc.message
        return ""

    def save_settings(self, text: str) -> asyncio.Task[DistributionSettings]:
        """Send the settings typed in the editor (PMC), unless someone changed them since they
        were loaded here. The agent's refusal (400: a reserved name, an unknown kind) is the
        step's failure, word for word."""
        target, based_on = self._target, self._settings

        async def run() -> DistributionSettings:
            if not self.may_edit_settings:
                raise DesktopError("only the project's PMC may change where its releases go")
            if target is None or based_on is None:
                raise DesktopError("the settings have not loaded yet")
            settings = parse_settings(text)
            saved = await self.session.set_distribution_settings(
                target[0], settings, based_on=based_on
            )
            self.message.emit(
                f"Saved the distribution settings of {target[0]}: a plan not yet approved "
                "changes with them"
            )
            return saved

        return self._start(run(), "Saving the distribution settings…")

    # --- session signals ------------------------------------------------------------------

    def _on_projects(self, projects: list[Project]) -> None:
        self._projects = {p.key: p for p in projects}
        self._emit_all()

    def _on_release(self, release: Release) -> None:
        if self._target != (release.project, release.version):
            return
        before = plan_kind(self.phase)
        self._release = release
        if plan_kind(release.phase) != before or self._plan is None:
            self.load_plan()
        self._emit_all()

    def _on_status(self, status: DistributionStatus) -> None:
        if self._target != (status.project, status.version):
            return
        before = plan_kind(self.phase)
        self._status = status
        if self._release is not None and self._release.phase.value != status.phase:
            self._release = self._release.model_copy(update={"phase": Phase(status.phase)})
        kind = plan_kind(self.phase)
        if kind != before:
            self.load_plan()
        # a passed release's staging is history: its channels are not the release's
        current = status.kind is None or kind is None or status.kind == kind
        channels = status.channels if current else []
        self.channels.set_channels(channels)
        self.manual.set_steps(manual_steps(channels), editable=not self.mark_problem())
        self._emit_all()

    def _on_settings(self, project: str, settings: DistributionSettings) -> None:
        if self._target is None or self._target[0] != project:
            return
        changed = self._settings is not None and self._settings != settings
        self._settings = settings
        self._settings_for = project
        self.channel_settings.set_rows(settings.channels)
        self.settings_shown.emit(settings)
        if changed:
            self.load_plan()  # the plan follows the settings

    def _on_event(self, event: Event) -> None:
        if self._target is None or (event.project, event.version) != self._target:
            return
        if event.kind is EventKind.DISTRIBUTION_STEP:
            self._apply_step(event.data)
        elif event.kind is EventKind.DISTRIBUTION_RETRIED:
            channel = event.data.get("channel")
            if isinstance(channel, str):
                self.channels.clear_progress(channel)
        elif event.kind is EventKind.TASK_PROGRESS and event.task_id is not None:
            self._apply_progress(event.task_id, event.data)
        elif event.kind is EventKind.TASK_QUEUED and event.data.get("type") == (
            TaskType.DISTRIBUTE.value
        ):
            self._load_task_channels()

    def _apply_step(self, data: dict[str, Any]) -> None:
        channel, path, state = data.get("channel"), data.get("path"), data.get("state")
        if not (isinstance(channel, str) and isinstance(path, str) and isinstance(state, str)):
            return
        try:
            step_state = StepState(state)
        except ValueError:
            return
        known = next(
            (f for c in self.channels.channels() if c.name == channel for f in c.files
             if f.path == path),
            None,
        )  # fmt: skip
        step = StepOut(
            path=path,
            state=step_state,
            url=data.get("url") if isinstance(data.get("url"), str) else None,
            error=data.get("error") if isinstance(data.get("error"), str) else None,
            attempts=known.attempts if known is not None else 0,
            verified=bool(data.get("verified")),
            updated_at=datetime.now(UTC),
        )
        self.channels.update_step(channel, step)

    def _apply_progress(self, task_id: int, data: dict[str, Any]) -> None:
        path, done, total = data.get("path"), data.get("done"), data.get("total")
        if not (isinstance(path, str) and isinstance(done, int) and isinstance(total, int)):
            return
        channel = self._task_channels.get(task_id)
        if channel is None:
            self._unmapped.setdefault(task_id, {})[path] = (done, total)
            self._load_task_channels()
            return
        self.channels.set_progress(channel, path, done, total)

    def _load_task_channels(self) -> None:
        """Learn which channel each of the release's distribute tasks publishes to (a
        progress event names its task and file, not the channel)."""
        target = self._target
        if target is None:
            return

        async def load() -> None:
            tasks: list[Task] = await self.session.release_tasks(*target)
            if self._target != target:
                return
            for task in tasks:
                channel = task.args.get("channel")
                if task.type is TaskType.DISTRIBUTE and isinstance(channel, str):
                    self._task_channels[task.id] = channel
            for task_id in [t for t in self._unmapped if t in self._task_channels]:
                for path, (done, total) in self._unmapped.pop(task_id).items():
                    self.channels.set_progress(self._task_channels[task_id], path, done, total)

        self._jobs.coalesce("task-channels", load)

    # --- internals ------------------------------------------------------------------------

    async def _plan_changed(self, target: tuple[str, str], digest: str, when: str) -> None:
        """After a 409: load the agent's plan; if it is another than the one ``digest`` names,
        show it and say so (the caller's error then explains the refusal)."""
        kind = plan_kind(self.phase) or "production"
        current = await self.session.distribution_plan(*target, kind=kind)
        if current.digest != digest and self._target == target:
            self._plan_note = (
                f"This is a new plan ({current.digest[:19]}…): the one {when} "
                f"({digest[:19]}…) is no longer the plan the agent would run, because the "
                "settings, the KEYS or the files changed. Review it, then sign it."
            )
            self._set_plan(current)
        self.session.refresh_distribution()

    def _set_plan(self, plan: DistributionPlan) -> None:
        if self._plan is not None and self._plan.digest == plan.digest:
            return
        self._plan = plan
        self.plan_model.set_plan(plan)
        self.plan_shown.emit(plan)
        self.status_shown.emit(self._status)  # what may be done depends on the plan

    def _emit_all(self) -> None:
        self.plan_shown.emit(self._plan)
        self.status_shown.emit(self._status)

    def _start(self, coro: Coroutine[Any, Any, Any], what: str) -> asyncio.Task[Any]:
        """Run an action as the screen's step; while one runs, another is refused rather than
        cancelling it (a signature made, a request the agent may already have taken)."""
        busy = self._busy
        if busy:
            coro.close()

            async def refuse() -> Any:
                raise DesktopError(f"wait until this is done: {busy}")

            return self._jobs.start(refuse())
        task = super()._start(coro, what)
        self.status_shown.emit(self._status)  # buttons are disabled while a step runs
        return task

    def _step_finished(self) -> None:
        self.status_shown.emit(self._status)
