"""Reading a distribution back: the shape of ``atr distribute status --json``."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.distribute.plan import MANUAL_CHANNEL, project_settings
from shared.protocol.distribute import (
    ApprovalOut,
    ChannelKind,
    ChannelOut,
    DistributionStatus,
    StepOut,
    StepState,
)

__all__ = ["channel_state", "distribution_status", "download_page_url", "latest_distribution"]


def latest_distribution(
    session: Session, release: models.Release, kind: str | None
) -> models.Distribution | None:
    """The release's newest distribution (of ``kind``; ``None``: either kind)."""
    query = select(models.Distribution).where(models.Distribution.release_id == release.id)
    if kind is not None:
        query = query.where(models.Distribution.kind == kind)
    return session.scalars(query.order_by(models.Distribution.id.desc()).limit(1)).first()


def channel_state(steps: list[models.DistributionStep]) -> StepState:
    """One state for a channel: failed if a file failed, running while any is under way,
    pending until one starts, done when all are; manual steps: manual until all are done."""
    states = {s.state for s in steps}
    if StepState.FAILED.value in states:
        return StepState.FAILED
    if StepState.RUNNING.value in states:
        return StepState.RUNNING
    if states <= {StepState.DONE.value}:
        return StepState.DONE
    if StepState.MANUAL.value in states:
        return StepState.MANUAL
    if StepState.DONE.value in states:
        return StepState.RUNNING
    return StepState.PENDING


def download_page_url(settings: Settings, project: str) -> str:
    return f"{settings.effective_public_url}/projects/{project}/downloads/"


def distribution_status(
    session: Session, settings: Settings, release: models.Release
) -> DistributionStatus:
    """The release's current distribution (production once there is one, else staging)."""
    row = latest_distribution(session, release, "production") or latest_distribution(
        session, release, "staging"
    )
    base = {
        "project": release.project.key,
        "version": release.version,
        "phase": release.phase,
        "download_page": download_page_url(settings, release.project.key),
    }
    if row is None:
        return DistributionStatus(**base)
    approval = None
    if row.approval_signed and row.approved_by and row.approved_fingerprint and row.approved_at:
        approval = ApprovalOut(
            digest=row.digest,
            approved_by=row.approved_by,
            fingerprint=row.approved_fingerprint,
            approved_at=row.approved_at,
            signed=row.approval_signed,
        )
    by_channel: dict[str, list[models.DistributionStep]] = {}
    for step in row.steps:
        by_channel.setdefault(step.channel, []).append(step)
    targets = {c["name"]: c.get("target", "") for c in row.plan.get("channels", [])}
    channels = [
        ChannelOut(
            name=name,
            kind=ChannelKind(steps[0].kind),
            state=channel_state(steps),
            target=targets.get(name, "") if name != MANUAL_CHANNEL else "",
            files=[
                StepOut(
                    path=s.path,
                    state=StepState(s.state),
                    url=s.url,
                    error=s.error,
                    attempts=s.attempts,
                    verified=s.verified_at is not None,
                    updated_at=s.updated_at,
                )
                for s in steps
            ],
        )
        for name, steps in by_channel.items()
    ]
    after = None
    if row.dist_at is not None:
        delay = project_settings(release.project).announce_delay_minutes
        minutes = settings.announce_delay_minutes if delay is None else delay
        after = row.dist_at + timedelta(minutes=minutes)
    state = row.state if row.state != "approved" else "planned"
    return DistributionStatus(
        **base,
        kind="staging" if row.kind == "staging" else "production",
        state=state,
        revision=row.plan.get("revision"),
        digest=row.digest,
        approval=approval,
        channels=channels,
        started_at=row.started_at,
        finished_at=row.finished_at,
        verified_at=row.verified_at,
        announce_after=after,
    )
