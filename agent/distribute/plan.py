"""The plan: which file goes to which channel, with its SHA-512 and target URL.

A plan is data computed from the revision and the channel settings, with a stable digest
(:func:`shared.distribute.plan_digest`). Production plans are computed from the revision
the vote passed on, staging plans from the candidate's latest revision. The dist
repository (Subversion) is always the first channel and takes every file; the project's
other channels take the files their globs select. Manual steps close the plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import pydantic
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import Channel, PublishContext
from agent.store import Conflict, NotReady
from shared.distribute import with_digest
from shared.errors import ValidationError
from shared.protocol import TaskState, TaskType
from shared.protocol.distribute import (
    ChannelKind,
    ChannelSettings,
    DistributionKind,
    DistributionPlan,
    DistributionSettings,
    PlannedChannel,
    PlannedFile,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "DIST_CHANNEL",
    "MANUAL_CHANNEL",
    "channels_for",
    "compute_plan",
    "open_channel",
    "project_settings",
    "provenance_files",
]

DIST_CHANNEL = "dist"
"""The name of the dist repository channel, always there."""
MANUAL_CHANNEL = "manual"
"""The name the manual steps go by in a distribution's status."""
IN_PLACE_STAGING = frozenset({ChannelKind.NPM, ChannelKind.OCI, ChannelKind.NEXUS})
"""Kinds that stage on the production endpoint itself: an npm dist-tag other than latest, an
OCI ``<version>-rc<N>`` tag, a Nexus staging repository closed but not released."""


def project_settings(project: models.Project) -> DistributionSettings:
    """The project's distribution settings (defaults when none were set)."""
    try:
        return DistributionSettings.model_validate(project.distribution or {})
    except pydantic.ValidationError as exc:  # pragma: no cover - validated when stored
        raise ValidationError(
            f"project '{project.key}' has unreadable distribution settings"
        ) from exc


def dist_channel(
    settings: Settings, project: DistributionSettings | None = None
) -> ChannelSettings:
    """The dist repository channel: the agent's repository, every file of the release but
    those the project's ``dist_exclude`` names."""
    return ChannelSettings(
        name=DIST_CHANNEL,
        kind=ChannelKind.SVN,
        url=settings.effective_dist_svn_url,
        credential=settings.dist_svn_credential,
        exclude=list(project.dist_exclude) if project is not None else [],
    )


def channels_for(
    settings: Settings, project: DistributionSettings, kind: DistributionKind
) -> list[ChannelSettings]:
    """The channels a distribution of ``kind`` goes to, the dist repository first. A staging
    goes to the channels that have a test destination."""
    chosen = [dist_channel(settings, project)]
    for channel in project.channels:
        if kind == "staging" and not (channel.staging_url or channel.kind in IN_PLACE_STAGING):
            continue
        chosen.append(channel)
    return chosen


@contextmanager
def open_channel(
    channel: ChannelSettings,
    *,
    kind: DistributionKind,
    project: models.Project,
    version: str,
    rc: int | None,
    http: httpx.Client | None = None,
    **extra: str,
) -> Iterator[Channel]:
    """An adapter for ``channel`` (without a credential: for planning, or with one set by
    the caller on ``adapter.ctx``), closed afterwards."""
    import httpx  # noqa: PLC0415 - the API process loads it when a plan is first asked for

    client = http or httpx.Client(timeout=60, follow_redirects=False)
    ctx = PublishContext(
        kind=kind,
        project=project.key,
        project_name=project.name,
        version=version,
        rc=rc,
        settings=channel,
        http=client,
        extra=dict(extra),
    )
    adapter = adapter_for(channel.kind.value)(ctx)
    try:
        yield adapter
    finally:
        close = getattr(adapter, "close", None)
        if callable(close):
            close()
        if http is None:
            client.close()


def passed_vote(session: Session, release: models.Release) -> models.Vote | None:
    """The vote that passed the release (the Incubator's round for a podling), if any."""
    return session.scalars(
        select(models.Vote)
        .where(models.Vote.release_id == release.id, models.Vote.state == "passed")
        .order_by(models.Vote.id.desc())
        .limit(1)
    ).first()


def provenance_files(session: Session, release: models.Release) -> list[models.ProvenanceFile]:
    """The files the agent adds to a release once its vote passed (agent.provenance.attest):
    the attestation bundle and the SBOMs that name the release. They go to the dist
    repository with the release's files, in the plan the approver signs. While they are
    being written the plan is not ready (409: a plan signed now would change a moment later)."""
    tasks = session.scalars(
        select(models.Task)
        .where(
            models.Task.type == TaskType.ATTEST.value,
            models.Task.project == release.project.key,
            models.Task.version == release.version,
        )
        .order_by(models.Task.id)
    )
    voted = [t for t in tasks if (t.args or {}).get("trigger") == "vote"]
    rows = list(
        session.scalars(
            select(models.ProvenanceFile).where(models.ProvenanceFile.release_id == release.id)
        )
    )
    name = f"{release.project.key} {release.version}"
    if voted and voted[-1].state in (TaskState.QUEUED.value, TaskState.RUNNING.value):
        raise NotReady(
            f"the attestations of {name} are being written; its plan is ready in a moment",
            retry_after=2,
            hint="ask for the plan again in a few seconds",
        )
    if voted and voted[-1].state == TaskState.FAILED.value and not rows:
        raise Conflict(
            f"the attestations of {name} could not be written: {voted[-1].error}",
            hint=f"fix the cause, then: atr-agent attestation write {name}",
        )
    return rows


def compute_plan(
    session: Session,
    settings: Settings,
    release: models.Release,
    revision: models.Revision,
    *,
    kind: DistributionKind,
    rc: int | None,
) -> DistributionPlan:
    """The plan for ``revision`` of ``release`` (see the module docstring), digest filled in."""
    project = release.project
    wanted = project_settings(project)
    files = sorted(revision.files, key=lambda f: f.path)
    vote = passed_vote(session, release) if kind == "production" else None
    added = provenance_files(session, release) if kind == "production" else []
    planned: list[PlannedChannel] = []
    for channel in channels_for(settings, wanted, kind):
        with open_channel(
            channel, kind=kind, project=project, version=release.version, rc=rc
        ) as adapter:
            chosen: list[models.RevisionFile | models.ProvenanceFile]
            chosen = [f for f in files if adapter.selects(f.path)]
            if channel.name == DIST_CHANNEL:
                chosen = sorted([*chosen, *added], key=lambda f: f.path)
            planned.append(
                PlannedChannel(
                    name=channel.name,
                    kind=channel.kind,
                    target=adapter.base(),
                    files=[
                        PlannedFile(
                            path=f.path,
                            sha512=f.blob.sha512,
                            size=f.blob.size,
                            target=adapter.target(f.path),
                        )
                        for f in chosen
                    ],
                )
            )
    plan = DistributionPlan(
        kind=kind,
        project=project.key,
        version=release.version,
        revision=revision.number,
        vote_thread=vote.thread_message_id if vote is not None else None,
        channels=planned,
        manual_steps=list(wanted.manual_steps) if kind == "production" else [],
    )
    return with_digest(plan)
