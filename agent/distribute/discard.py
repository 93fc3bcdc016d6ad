"""A ``distribute`` task with ``discard``: clean up what a failed candidate left on a channel.

When a release that was staged fails (its vote failed, or it was stopped), the phase
cascade (:mod:`agent.phases`) queues one such task per channel of its latest staging.
Each asks the channel's adapter to :meth:`~agent.distribute.channels.base.Channel.discard`
the candidate's files: a Nexus staging repository is dropped, the files of a plain or an
Artifactory staging repository are deleted (only where they still hold the candidate's
bytes). Channels with nothing to discard do nothing. The steps of the staging keep their
state: they record what was staged, and the task's log says what was removed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db import models
from agent.distribute.channels import adapter_for
from agent.distribute.channels.base import Channel, FileToPublish, Secret
from agent.distribute.credentials import resolve_credential
from agent.distribute.plan import DIST_CHANNEL, dist_channel, open_channel, project_settings
from agent.distribute.runner import _retrying
from shared.protocol.distribute import ChannelSettings

__all__ = ["discard_channel"]


def _files(session: Session, blobs: BlobStore, row: models.Distribution,
           channel: str) -> list[FileToPublish]:  # fmt: skip
    sha256 = {
        f.path: f.blob_sha256
        for f in session.scalars(
            select(models.RevisionFile).where(models.RevisionFile.revision_id == row.revision_id)
        )
    }
    return [
        FileToPublish(
            path=s.path,
            sha512=s.sha512,
            sha256=sha256[s.path],
            size=s.size,
            blob=blobs.path_for(sha256[s.path]),
        )
        for s in row.steps
        if s.channel == channel and s.path in sha256
    ]


def discard_channel(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    settings: Settings,
    *,
    distribution_id: int,
    channel: str,
    log: Callable[[str], None],
) -> dict[str, Any]:
    """Discard the staged candidate of ``distribution_id`` from ``channel`` (module docstring)."""
    with factory() as session:
        row = session.get(models.Distribution, distribution_id)
        if row is None or row.kind != "staging":
            return {"channel": channel, "discarded": 0}
        release = session.get(models.Release, row.release_id)
        assert release is not None
        project = release.project
        if channel == DIST_CHANNEL:
            chosen: ChannelSettings | None = dist_channel(settings, project_settings(project))
        else:
            wanted = project_settings(project).channels
            chosen = next((c for c in wanted if c.name == channel), None)
        if chosen is None:
            log(f"project {project.key} has no channel {channel!r} any more: nothing to discard")
            return {"channel": channel, "discarded": 0}
        if adapter_for(chosen.kind.value).discard is Channel.discard:
            log(f"{chosen.kind.value} channels keep nothing to discard ({channel})")
            return {"channel": channel, "discarded": 0}
        files = _files(session, blobs, row, channel)
        secret: Secret | None = None
        name = chosen.staging_credential or chosen.credential
        if name is not None:
            secret = resolve_credential(
                session, settings, name, kind=chosen.kind.value, project=project.key,
                channel=chosen.name,
            )  # fmt: skip
        session.expunge(project)
        version, rc = release.version, row.rc
    with open_channel(chosen, kind="staging", project=project, version=version, rc=rc) as adapter:
        adapter.ctx.credential = secret
        adapter.ctx.log = lambda line: log(adapter.ctx.redact(line))
        _retrying(
            lambda: adapter.discard(files),
            what=f"discarding rc{rc} from {channel}",
            settings=settings,
            log=adapter.ctx.log,
            redact=adapter.ctx.redact,
        )
    return {"channel": channel, "discarded": len(files)}
