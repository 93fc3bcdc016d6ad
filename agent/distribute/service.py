"""Every write of a distribution: settings, approval, start, retry, manual steps, announce.

:class:`DistributionService` owns its transactions, like the vote service: an approval
runs GnuPG between reading and writing. Who may do what:

=======================  ==================================================================
read the plan, status    anyone who may read the project
change the settings      a PMC member of the project
approve, start, retry    a PMC member of the project, or the release manager
mark a manual step done  a PMC member of the project, or the release manager
announce, archive        a PMC member of the project, or the release manager
=======================  ==================================================================

A production distribution runs only an approved plan: the approval is the plan's text
clear-signed by the approver with a registered, unrevoked key, and it must be the plan
the agent computes *now* (a changed plan needs a new signature). Starting it queues one
``distribute`` task per channel and moves the release ``passed → distribute``; the tasks
(:mod:`agent.distribute.runner`) publish, verify and settle it. A staging needs no
approval: it publishes the candidate to the test channels and moves ``candidate →
staged`` once done.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute import mails
from agent.distribute.plan import (
    DIST_CHANNEL,
    MANUAL_CHANNEL,
    compute_plan,
    project_settings,
)
from agent.distribute.status import distribution_status, latest_distribution
from agent.engine import queue
from agent.engine.events import append_event
from agent.mail.render import MailTemplates
from agent.phases import transition_as
from agent.store import (
    Conflict,
    Forbidden,
    NotFound,
    PmcWriter,
    Principal,
    project_for,
    release_row,
    require_manager,
)
from shared.distribute import parse_plan_text
from shared.errors import OpenPGPError, ValidationError
from shared.lifecycle import Phase
from shared.openpgp.cleartext import verify_cleartext
from shared.protocol import EventKind, Role, TaskType, TransitionRequest
from shared.protocol.distribute import (
    ApprovalCast,
    ApprovalOut,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    DistributionStatus,
    ReleaseAnnounce,
    StepState,
)

__all__ = ["DISTRIBUTE_TASK_TIMEOUT", "DistributionService"]

DISTRIBUTE_TASK_TIMEOUT = 6 * 3600
"""Seconds a channel's task may run (a multi-GB release to a slow registry)."""
RESERVED_CHANNELS = frozenset({DIST_CHANNEL, MANUAL_CHANNEL})


def _noop() -> None:
    return None


@dataclass
class DistributionService:
    """Distribution writes for one agent (see the module docstring)."""

    settings: Settings
    transaction: Callable[[], AbstractContextManager[Session]]
    read: Callable[[], AbstractContextManager[Session]]
    templates: MailTemplates
    on_mail: Callable[[], None] = _noop

    # --- settings --------------------------------------------------------------------------

    def get_settings(self, project: str) -> DistributionSettings:
        with self.read() as session:
            from agent.store import project_row  # noqa: PLC0415 - one lookup, no cycle

            return project_settings(project_row(session, project))

    def put_settings(
        self, principal: Principal, project: str, body: DistributionSettings
    ) -> DistributionSettings:
        """Replace the project's channels and manual steps (PMC). Records the change."""
        names = [c.name for c in body.channels]
        clash = sorted({n for n in names if names.count(n) > 1} | (set(names) & RESERVED_CHANNELS))
        if clash:
            raise ValidationError(
                f"channel name {clash[0]!r} is reserved or used twice",
                hint="give each channel its own name; 'dist' and 'manual' are the agent's",
            )
        from agent.distribute.channels import adapter_for  # noqa: PLC0415 - keep imports light

        for channel in body.channels:
            adapter_for(channel.kind.value)  # an unknown kind is refused now, not at release
        with self.transaction() as session:
            row = project_for(
                session, principal, project, Role.PMC, what="changing where releases go"
            )
            before = project_settings(row)
            row.distribution = body.model_dump(mode="json", exclude_defaults=True)
            append_event(
                session,
                EventKind.DISTRIBUTION_SETTINGS_CHANGED,
                actor=principal.name,
                project=project,
                data={
                    "channels": [c.name for c in body.channels],
                    "before": [c.name for c in before.channels],
                    "manual_steps": len(body.manual_steps),
                },
            )
        return body

    # --- reads -----------------------------------------------------------------------------

    def plan(self, project: str, version: str, kind: DistributionKind) -> DistributionPlan:
        """The plan the agent would execute now (production: the voted revision)."""
        with self.read() as session:
            release = release_row(session, project, version)
            revision, rc = self._source(session, release, kind)
            return compute_plan(session, self.settings, release, revision, kind=kind, rc=rc)

    def status(self, project: str, version: str) -> DistributionStatus:
        with self.read() as session:
            release = release_row(session, project, version)
            return distribution_status(session, self.settings, release)

    def _source(
        self, session: Session, release: models.Release, kind: DistributionKind
    ) -> tuple[models.Revision, int | None]:
        """The revision a distribution of ``kind`` takes, and the staging's candidate number."""
        name = f"{release.project.key} {release.version}"
        if kind == "production":
            from agent.distribute.plan import passed_vote  # noqa: PLC0415

            vote = passed_vote(session, release)
            if vote is None:
                raise Conflict(
                    f"release {name} has no passed vote: nothing may be published yet",
                    hint="the release goes to production channels once its vote passes",
                )
            revision = session.get(models.Revision, vote.revision_id)
            if revision is None:  # pragma: no cover - foreign key
                raise NotFound(f"the voted revision of {name} is gone")
            return revision, None
        revision = session.scalars(
            select(models.Revision)
            .where(models.Revision.release_id == release.id)
            .order_by(models.Revision.number.desc())
            .limit(1)
        ).first()
        if revision is None:
            raise Conflict(f"release {name} has no revision to stage")
        staged = session.scalars(
            select(models.Distribution).where(
                models.Distribution.release_id == release.id,
                models.Distribution.kind == "staging",
            )
        ).all()
        same = [d for d in staged if d.revision_id == revision.id]
        rc = same[0].rc if same else len({d.revision_id for d in staged}) + 1
        return revision, rc

    # --- approval --------------------------------------------------------------------------

    def approve(
        self, principal: Principal, project: str, version: str, body: ApprovalCast
    ) -> ApprovalOut:
        """Record the signed approval of the current production plan (see the docstring)."""
        if principal.user_id is None:
            raise Forbidden("a plan is approved by a user with a registered key; log in as one")
        with self.read() as session:
            release = release_row(session, project, version)
            require_manager(principal, release, what="approving the distribution")
            self._require_phase(release, Phase.PASSED, "approved")
            keys = list(
                session.scalars(
                    select(models.UserKey.armored).where(
                        models.UserKey.user_id == principal.user_id,
                        models.UserKey.revoked_at.is_(None),
                    )
                )
            )
            revision, rc = self._source(session, release, "production")
            current = compute_plan(
                session, self.settings, release, revision, kind="production", rc=rc
            )
        if not keys:
            raise ValidationError(f"user '{principal.name}' has no registered, unrevoked key")
        try:
            verified = verify_cleartext(body.signed, keys)
        except OpenPGPError as exc:
            raise ValidationError(f"the approval cannot be read: {exc.message}") from exc
        if not verified.valid or verified.signer is None:
            raise ValidationError(
                "the approval is not signed with a registered, unrevoked key of user "
                f"'{principal.name}' ({verified.status})",
                hint="clear-sign the plan with your own key: gpg --clearsign",
            )
        signed_plan = parse_plan_text(verified.text)
        if signed_plan.digest != current.digest:
            raise Conflict(
                f"the signed plan ({signed_plan.digest}) is not the current plan "
                f"({current.digest}): the settings, the keys or the files changed since it "
                "was printed",
                hint=f"sign the current plan: atr distribute plan {project} {version}",
            )
        now = datetime.now(UTC)
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            self._require_phase(release, Phase.PASSED, "approved")
            row = latest_distribution(session, release, "production")
            if row is None or row.state != "approved":
                row = models.Distribution(
                    release_id=release.id,
                    revision_id=revision.id,
                    kind="production",
                    state="approved",
                    created_by=principal.name,
                    plan={},
                    digest="",
                )
                session.add(row)
            row.plan = current.model_dump(mode="json")
            row.digest = current.digest
            row.approval_signed = body.signed.strip() + "\n"
            row.approved_by = principal.name
            row.approved_fingerprint = verified.signer
            row.approved_at = now
            session.flush()
            append_event(
                session,
                EventKind.DISTRIBUTION_APPROVED,
                actor=principal.name,
                project=project,
                version=version,
                data={
                    "distribution_id": row.id,
                    "digest": current.digest,
                    "fingerprint": verified.signer,
                    "channels": [c.name for c in current.channels],
                },
            )
        return ApprovalOut(
            digest=current.digest,
            approved_by=principal.name,
            fingerprint=verified.signer,
            approved_at=now,
            signed=body.signed.strip() + "\n",
        )

    @staticmethod
    def _require_phase(release: models.Release, phase: Phase, what: str) -> None:
        if release.phase != phase.value:
            raise Conflict(
                f"release {release.project.key} {release.version} is in phase "
                f"'{release.phase}'; a distribution is {what} in phase '{phase}'"
            )

    # --- start -----------------------------------------------------------------------------

    def start(
        self, principal: Principal, project: str, version: str, kind: DistributionKind
    ) -> DistributionStatus:
        """Start the approved production distribution, or stage the candidate. Starting a
        distribution that runs or ran already changes nothing (retry a failed channel with
        :meth:`retry`)."""
        with self.read() as session:
            release = release_row(session, project, version)
            require_manager(principal, release, what="starting a distribution")
            revision, rc = self._source(session, release, kind)
            plan = compute_plan(session, self.settings, release, revision, kind=kind, rc=rc)
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            existing = latest_distribution(session, release, kind)
            if kind == "production":
                if release.phase == Phase.DISTRIBUTE.value:
                    return distribution_status(session, self.settings, release)
                self._require_phase(release, Phase.PASSED, "started")
                if existing is None or existing.state != "approved":
                    raise Conflict(
                        f"the distribution of {project} {version} has no signed approval",
                        hint=f"print the plan (atr distribute plan {project} {version}), "
                        "clear-sign it, and approve it (atr distribute approve)",
                    )
                if existing.digest != plan.digest:
                    raise Conflict(
                        f"the plan changed since it was approved ({existing.digest} → "
                        f"{plan.digest}); a changed plan needs a new signature",
                        hint=f"sign the current plan: atr distribute plan {project} {version}",
                    )
                row = existing
            else:
                if existing is not None and existing.revision_id == revision.id:
                    return distribution_status(session, self.settings, release)
                if release.phase != Phase.CANDIDATE.value:
                    raise Conflict(
                        f"release {project} {version} is in phase '{release.phase}'; a "
                        "candidate is staged in phase 'candidate'"
                    )
                row = models.Distribution(
                    release_id=release.id,
                    revision_id=revision.id,
                    kind="staging",
                    rc=rc,
                    plan=plan.model_dump(mode="json"),
                    digest=plan.digest,
                    state="approved",
                    created_by=principal.name,
                )
                session.add(row)
                session.flush()
            self._begin(session, principal, release, row, plan)
            return distribution_status(session, self.settings, release)

    def _begin(
        self,
        session: Session,
        principal: Principal,
        release: models.Release,
        row: models.Distribution,
        plan: DistributionPlan,
    ) -> None:
        now = datetime.now(UTC)
        position = 0
        for channel in plan.channels:
            for file in channel.files:
                session.add(
                    models.DistributionStep(
                        distribution_id=row.id,
                        channel=channel.name,
                        kind=channel.kind.value,
                        position=position,
                        path=file.path,
                        sha512=file.sha512,
                        size=file.size,
                        target=file.target,
                        state=StepState.PENDING.value,
                        updated_at=now,
                    )
                )
                position += 1
        for index, text in enumerate(plan.manual_steps, start=1):
            session.add(
                models.DistributionStep(
                    distribution_id=row.id,
                    channel=MANUAL_CHANNEL,
                    kind="manual",
                    position=position,
                    path=f"{index}. {text}",
                    target=text,
                    state=StepState.MANUAL.value,
                    updated_at=now,
                )
            )
            position += 1
        row.state = "running"
        row.started_at = now
        session.flush()
        append_event(
            session,
            EventKind.DISTRIBUTION_STARTED,
            actor=principal.name,
            project=release.project.key,
            version=release.version,
            data={
                "distribution_id": row.id,
                "kind": row.kind,
                "digest": row.digest,
                "rc": row.rc,
                "channels": [c.name for c in plan.channels],
                "files": sum(len(c.files) for c in plan.channels),
            },
        )
        if row.kind == "production":
            writer = PmcWriter(session, principal, release.project)
            transition_as(
                writer,
                release.version,
                TransitionRequest(
                    to=Phase.DISTRIBUTE,
                    reason=f"distribution of the plan {row.digest} approved by "
                    f"{row.approved_by} ({row.approved_fingerprint})",
                ),
            )
        for channel in plan.channels:
            self._queue(session, release, row, channel.name, actor=principal.name)

    def _queue(
        self,
        session: Session,
        release: models.Release,
        row: models.Distribution,
        channel: str,
        *,
        actor: str,
    ) -> None:
        revision = session.get(models.Revision, row.revision_id)
        queue.enqueue(
            session,
            TaskType.DISTRIBUTE,
            project=release.project.key,
            version=release.version,
            revision=revision.number if revision is not None else None,
            args={"distribution": row.id, "channel": channel},
            created_by=actor,
            max_attempts=5,
            timeout_seconds=DISTRIBUTE_TASK_TIMEOUT,
        )

    # --- retry and manual steps --------------------------------------------------------------

    def retry(
        self, principal: Principal, project: str, version: str, channel: str
    ) -> DistributionStatus:
        """Try a channel's failed files again (a registry was down, a credential was wrong)."""
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            require_manager(principal, release, what="retrying a channel")
            row = self._current(session, release)
            failed = [s for s in row.steps if s.channel == channel and s.state == "failed"]
            if not failed:
                known = sorted({s.channel for s in row.steps if s.channel != MANUAL_CHANNEL})
                if channel not in known:
                    raise NotFound(
                        f"the distribution of {project} {version} has no channel {channel!r}",
                        hint=f"its channels: {', '.join(known)}",
                    )
                raise Conflict(f"channel {channel!r} has no failed file to retry")
            now = datetime.now(UTC)
            for step in failed:
                step.state = StepState.PENDING.value
                step.error = None
                step.updated_at = now
            row.state = "running"
            row.finished_at = None
            append_event(
                session,
                EventKind.DISTRIBUTION_RETRIED,
                actor=principal.name,
                project=project,
                version=version,
                data={"distribution_id": row.id, "channel": channel, "files": len(failed)},
            )
            self._queue(session, release, row, channel, actor=principal.name)
            return distribution_status(session, self.settings, release)

    def mark_manual(
        self, principal: Principal, project: str, version: str, number: int
    ) -> DistributionStatus:
        """Mark manual step ``number`` (1-based) done."""
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            require_manager(principal, release, what="marking a manual step done")
            row = self._current(session, release)
            manual = [s for s in row.steps if s.channel == MANUAL_CHANNEL]
            if not 1 <= number <= len(manual):
                raise NotFound(
                    f"the distribution of {project} {version} has {len(manual)} manual "
                    f"steps; there is no step {number}"
                )
            step = manual[number - 1]
            if step.state != StepState.DONE.value:
                step.state = StepState.DONE.value
                step.updated_at = datetime.now(UTC)
                step.url = None
                append_event(
                    session,
                    EventKind.DISTRIBUTION_STEP,
                    actor=principal.name,
                    project=project,
                    version=version,
                    data={
                        "distribution_id": row.id,
                        "channel": MANUAL_CHANNEL,
                        "path": step.path,
                        "state": StepState.DONE.value,
                    },
                )
            return distribution_status(session, self.settings, release)

    def _current(self, session: Session, release: models.Release) -> models.Distribution:
        row = latest_distribution(session, release, None)
        if row is None or row.state == "approved":
            raise NotFound(
                f"release {release.project.key} {release.version} has no distribution running",
                hint=f"start one: atr distribute start {release.project.key} {release.version}",
            )
        return row

    # --- announce and archive ----------------------------------------------------------------

    def announce(
        self, principal: Principal, project: str, version: str, body: ReleaseAnnounce
    ) -> DistributionStatus:
        """Send the ``[ANNOUNCE]`` mail and move the release to ``announced`` (see docs)."""
        now = datetime.now(UTC)
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            require_manager(principal, release, what="announcing the release")
            self._require_phase(release, Phase.DISTRIBUTE, "announced")
            row = latest_distribution(session, release, "production")
            if row is None or row.state != "verified":
                state = row.state if row is not None else "none"
                raise Conflict(
                    f"the distribution of {project} {version} is {state}, not verified: the "
                    "announcement waits until every file is published and downloaded back",
                    hint=f"see atr distribute status {project} {version}",
                )
            open_manual = [
                s.path for s in row.steps if s.channel == MANUAL_CHANNEL and s.state != "done"
            ]
            if open_manual:
                raise Conflict(
                    f"{len(open_manual)} manual steps are not done: {open_manual[0]}",
                    hint=f"mark each done: atr distribute done {project} {version} NUMBER",
                )
            delay = project_settings(release.project).announce_delay_minutes
            minutes = self.settings.announce_delay_minutes if delay is None else delay
            after = (row.dist_at or now) + timedelta(minutes=minutes)
            if now < after and (not body.force_early or not body.reason.strip()):
                raise Conflict(
                    f"the files reached the dist repository at {row.dist_at:%H:%M} UTC; "
                    f"the announcement may go out at {after:%Y-%m-%d %H:%M} UTC (mirrors "
                    "catch up first)",
                    hint="wait, or announce early with a reason (--force-early --reason)",
                )
            row.announced_at = now
            session.flush()
            transition_as(
                PmcWriter(session, principal, release.project),
                version,
                TransitionRequest(to=Phase.ANNOUNCED, reason="announced"),
            )
            mail = mails.announce(
                session, self.settings, self.templates, release, row, actor=principal.name
            )
            append_event(
                session,
                EventKind.RELEASE_ANNOUNCED,
                actor=principal.name,
                project=project,
                version=version,
                data={
                    "distribution_id": row.id,
                    "mail_id": mail.id,
                    "to": list(mail.recipients),
                    **({"early": body.reason.strip()} if now < after else {}),
                },
            )
            self._archive_superseded(session, release)
            out = distribution_status(session, self.settings, release)
        self.on_mail()
        return out

    def _archive_superseded(self, session: Session, release: models.Release) -> None:
        """Older announced releases of the same line move to ``archived``."""
        from agent.distribute.channels.svn import svn_line  # noqa: PLC0415

        depth = project_settings(release.project).line_depth
        line = svn_line(release.version, depth)
        others = session.scalars(
            select(models.Release).where(
                models.Release.project_id == release.project_id,
                models.Release.phase == Phase.ANNOUNCED.value,
                models.Release.id != release.id,
            )
        )
        writer = PmcWriter(session, Principal.operator(), release.project)
        for other in list(others):
            if svn_line(other.version, depth) == line:
                transition_as(
                    writer,
                    other.version,
                    TransitionRequest(
                        to=Phase.ARCHIVED,
                        reason=f"superseded by {release.version} in its line",
                    ),
                )

    def archive(
        self, principal: Principal, project: str, version: str, reason: str
    ) -> DistributionStatus:
        """Move an announced release to ``archived`` by hand."""
        with self.transaction() as session:
            release = release_row(session, project, version, lock=True)
            require_manager(principal, release, what="archiving the release")
            transition_as(
                PmcWriter(session, principal, release.project),
                version,
                TransitionRequest(to=Phase.ARCHIVED, reason=reason or "archived by hand"),
            )
            return distribution_status(session, self.settings, release)
