"""A ``distribute`` task: publish one channel's files, verify them, settle the distribution.

Runs in a worker. Each file is a step with its own recorded state, written in its own
short transaction, so a crash loses nothing and repeats nothing::

    claim      pending/running steps of the channel → running (attempt + 1)
    look       the channel is asked first: same name and same bytes → done, not uploaded;
               same name, other bytes → failed, never overwritten
    publish    the files not there yet (retried with backoff while the registry answers
               5xx, 429 or not at all; then failed with the registry's own words)
    verify     each file is downloaded back and its SHA-512 compared
    settle     when no step of the distribution is pending or running any more: verified
               (a summary mail; a staging moves the release to ``staged``) or failed

A worker killed in the middle leaves steps ``running``; the task's next attempt asks the
channel again, finds what had arrived, and uploads only the rest: zero duplicates.
Secrets are decrypted here only, and redacted from every text that is recorded.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import BlobStore
from agent.config import Settings
from agent.db import models
from agent.db.session import transaction
from agent.distribute import mails
from agent.distribute.channels.base import (
    Channel,
    ChannelError,
    Conflicting,
    FileToPublish,
    Found,
    Secret,
    sha512_of_chunks,
)
from agent.distribute.credentials import resolve_credential
from agent.distribute.plan import DIST_CHANNEL, MANUAL_CHANNEL, open_channel, project_settings
from agent.engine.events import append_event
from agent.mail.render import MailTemplates
from agent.phases import transition_as
from agent.store import PmcWriter, Principal
from shared.lifecycle import Phase
from shared.protocol import EventKind, TransitionRequest
from shared.protocol.distribute import (
    ChannelSettings,
    DistributionKind,
    DistributionPlan,
    StepState,
)

__all__ = ["ChannelRun", "run_channel", "settle"]

T = TypeVar("T")
VERIFY_TRIES = 5
"""A registry's read side may lag its write side (npm): verification asks a few times."""


@dataclass
class _Step:
    id: int
    path: str
    sha512: str
    size: int
    state: str
    verified: bool
    file: FileToPublish


@dataclass
class ChannelRun:
    """What a worker needs to publish one channel, detached from any session."""

    distribution_id: int
    kind: str
    project: str
    version: str
    channel: ChannelSettings
    steps: list[_Step]
    rc: int | None
    extra: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)
    """The URLs earlier attempts recorded for the channel's files (``PublishContext.recorded``)."""


# --- recording ---------------------------------------------------------------------------------


def _record(
    factory: sessionmaker[Session],
    run: ChannelRun,
    step: _Step,
    state: StepState,
    *,
    url: str | None = None,
    error: str | None = None,
    uploaded: bool | None = None,
    verified: bool = False,
) -> None:
    """Write one step's new state and its ``distribution.step`` event, in one transaction."""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        row = session.get(models.DistributionStep, step.id, with_for_update=True)
        if row is None:  # pragma: no cover - steps are never deleted
            return
        row.state = state.value
        row.updated_at = now
        if url is not None:
            row.url = url
        row.error = error
        if uploaded is not None:
            row.uploaded = uploaded
        if verified:
            row.verified_at = now
        append_event(
            session,
            EventKind.DISTRIBUTION_STEP,
            actor="atr-agent",
            project=run.project,
            version=run.version,
            data={
                "distribution_id": run.distribution_id,
                "channel": run.channel.name,
                "path": step.path,
                "state": state.value,
                "url": row.url,
                "error": error,
                "uploaded": row.uploaded,
                "verified": row.verified_at is not None,
            },
        )
    step.state = state.value
    step.verified = step.verified or verified
    run.counts[state.value] = run.counts.get(state.value, 0) + 1


# --- claiming ----------------------------------------------------------------------------------


def _channel_settings(plan: DistributionPlan, project: models.Project, name: str,
                      settings: Settings) -> ChannelSettings:  # fmt: skip
    if name == DIST_CHANNEL:
        from agent.distribute.plan import dist_channel  # noqa: PLC0415

        return dist_channel(settings, project_settings(project))
    for channel in project_settings(project).channels:
        if channel.name == name:
            return channel
    raise ChannelError(
        f"project {project.key} has no channel {name!r} any more (its settings changed)",
        retryable=False,
    )


def _svn_extra(session: Session, row: models.Distribution, settings: Settings) -> dict[str, str]:
    """What the dist repository adapter needs beyond the files: the line depth, the commit
    message's facts, the project's KEYS (production) and the staged candidate to copy from."""
    release = session.get(models.Release, row.release_id)
    assert release is not None
    project = release.project
    extra = {"line_depth": str(project_settings(project).line_depth)}
    revision = session.get(models.Revision, row.revision_id)
    if revision is not None:
        extra["revision"] = str(revision.number)
    plan = row.plan
    if plan.get("vote_thread"):
        extra["vote_thread"] = str(plan["vote_thread"])
    if row.approved_by:
        extra["approved_by"] = f"{row.approved_by} ({row.approved_fingerprint})"
    if row.kind != "production":
        return extra
    from agent.keys.service import keys_file  # noqa: PLC0415 - only the dist channel needs it

    with tempfile.NamedTemporaryFile("w", suffix="-KEYS", delete=False, encoding="utf-8") as out:
        out.write(keys_file(session, project.key))
    extra["keys_file"] = out.name
    staged = session.scalars(
        select(models.Distribution)
        .where(
            models.Distribution.release_id == row.release_id,
            models.Distribution.kind == "staging",
            models.Distribution.revision_id == row.revision_id,
            models.Distribution.state.in_(("done", "verified")),
        )
        .order_by(models.Distribution.id.desc())
        .limit(1)
    ).first()
    if staged is not None:
        for channel in staged.plan.get("channels", []):
            if channel.get("name") == DIST_CHANNEL:
                extra["staged_url"] = str(channel.get("target", ""))
                extra["staged_sha512"] = "\n".join(
                    f"{f['path']}={f['sha512']}" for f in channel.get("files", [])
                )
    return extra


def claim(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    settings: Settings,
    distribution_id: int,
    channel: str,
) -> ChannelRun | None:
    """Mark the channel's unfinished steps ``running`` (one more attempt) and return them."""
    with transaction(factory) as session:
        row = session.get(models.Distribution, distribution_id, with_for_update=True)
        if row is None:
            return None
        release = session.get(models.Release, row.release_id)
        assert release is not None
        plan = DistributionPlan.model_validate(row.plan)
        steps = [s for s in row.steps if s.channel == channel]
        todo = [s for s in steps if s.state in ("pending", "running") or (
            s.state == "done" and s.verified_at is None)]  # fmt: skip
        if not todo:
            return None
        now = datetime.now(UTC)
        sha256 = {
            f.path: f.blob_sha256
            for f in session.scalars(
                select(models.RevisionFile).where(
                    models.RevisionFile.revision_id == row.revision_id
                )
            )
        }
        out: list[_Step] = []
        for step in todo:
            if step.state != "done":
                step.state = StepState.RUNNING.value
                step.attempts += 1
                step.updated_at = now
            digest = sha256[step.path]
            out.append(
                _Step(
                    id=step.id,
                    path=step.path,
                    sha512=step.sha512,
                    size=step.size,
                    state=step.state,
                    verified=step.verified_at is not None,
                    file=FileToPublish(
                        path=step.path,
                        sha512=step.sha512,
                        sha256=digest,
                        size=step.size,
                        blob=blobs.path_for(digest),
                    ),
                )
            )
        extra = _svn_extra(session, row, settings) if channel == DIST_CHANNEL else {}
        return ChannelRun(
            distribution_id=row.id,
            kind=row.kind,
            project=release.project.key,
            version=release.version,
            channel=_channel_settings(plan, release.project, channel, settings),
            steps=out,
            rc=row.rc,
            extra=extra,
            recorded={s.path: s.url for s in steps if s.url},
        )


# --- publishing --------------------------------------------------------------------------------


def _retrying(
    action: Callable[[], T], *, what: str, settings: Settings, log: Callable[[str], None],
    redact: Callable[[str], str],
) -> T:  # fmt: skip
    """``action()``, tried ``publish_attempts`` times while it fails in a way a retry can fix."""
    wait = settings.publish_retry_seconds
    for attempt in range(1, settings.publish_attempts + 1):
        try:
            return action()
        except ChannelError as exc:
            if not exc.retryable or attempt == settings.publish_attempts:
                raise
            log(f"{what}: {exc.message}; trying again in {wait:g} s")
        except httpx.HTTPError as exc:
            text = redact(f"{what}: {type(exc).__name__}: {exc}")
            if attempt == settings.publish_attempts:
                raise ChannelError(text, retryable=True) from exc
            log(f"{text}; trying again in {wait:g} s")
        time.sleep(wait)
        wait *= 2
    raise AssertionError("unreachable")  # pragma: no cover


def _same_bytes(adapter: Channel, step: _Step, found: Found) -> bool:
    if found.sha512 is not None:
        return found.sha512.lower() == step.sha512.lower()
    if found.sha256 is not None:
        return found.sha256.lower() == step.file.sha256.lower()
    digest, _ = sha512_of_chunks(adapter.fetch(step.file))
    return digest == step.sha512


def _verify(adapter: Channel, step: _Step, settings: Settings) -> str | None:
    """``None`` when the channel serves the file's bytes; else why not."""
    problem = "the channel does not serve the file"
    for attempt in range(VERIFY_TRIES):
        try:
            digest, size = sha512_of_chunks(adapter.fetch(step.file))
        except (ChannelError, httpx.HTTPError) as exc:
            problem = f"downloading it back failed: {getattr(exc, 'message', exc)}"
        else:
            if digest == step.sha512:
                return None
            problem = f"the channel serves other bytes ({size:,} bytes, SHA-512 {digest[:16]}…)"
        if attempt + 1 < VERIFY_TRIES:
            time.sleep(settings.publish_retry_seconds * (attempt + 1))
    return problem


def run_channel(
    factory: sessionmaker[Session],
    blobs: BlobStore,
    settings: Settings,
    *,
    distribution_id: int,
    channel: str,
    log: Callable[[str], None],
    progress: Callable[[str, int, int], None],
    http: httpx.Client | None = None,
) -> dict[str, Any]:
    """The ``distribute`` task's work (see the module docstring); its result."""
    run = claim(factory, blobs, settings, distribution_id, channel)
    if run is None:
        settle(factory, settings, distribution_id)
        return {"channel": channel, "steps": 0}
    try:
        try:
            credential = _credential(factory, settings, run)
        except ChannelError as exc:  # a missing or unbound credential: every file fails
            _fail_channel(factory, settings, run, _told(exc))
        else:
            _publish(factory, settings, run, credential, log=log, progress=progress, http=http)
    finally:
        keys = run.extra.get("keys_file")
        if keys:
            Path(keys).unlink(missing_ok=True)
    settle(factory, settings, distribution_id)
    return {"channel": channel, "steps": len(run.steps), **run.counts}


def _fail_channel(
    factory: sessionmaker[Session], settings: Settings, run: ChannelRun, text: str
) -> None:
    """Record every file of the run failed with ``text`` and mail the cause."""
    for step in run.steps:
        _record(factory, run, step, StepState.FAILED, error=text)
    with transaction(factory) as session:
        row = session.get(models.Distribution, run.distribution_id)
        if row is not None:
            mails.failure(
                session, settings, MailTemplates(settings.data_dir), row,
                channel=run.channel.name, errors=[text],
            )  # fmt: skip


def _credential(
    factory: sessionmaker[Session], settings: Settings, run: ChannelRun
) -> Secret | None:
    name = run.channel.credential
    if run.kind == "staging" and run.channel.staging_credential:
        name = run.channel.staging_credential
    if name is None:
        return None
    with factory() as session:
        return resolve_credential(
            session, settings, name, kind=run.channel.kind.value,
            project=run.project, channel=run.channel.name,
        )  # fmt: skip


def _told(exc: ChannelError) -> str:
    """What a step records of a channel's error: its message, and its hint when it has one."""
    return f"{exc.message} (hint: {exc.hint})" if exc.hint else exc.message


class _Publisher:
    """One channel's run: look, publish what is missing, finish, verify (module docstring)."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        settings: Settings,
        run: ChannelRun,
        adapter: Channel,
        log: Callable[[str], None],
    ) -> None:
        self.factory = factory
        self.settings = settings
        self.run = run
        self.adapter = adapter
        self.log = log
        self.failures: list[str] = []

    def retrying(self, action: Callable[[], T], what: str) -> T:
        return _retrying(
            action, what=what, settings=self.settings, log=self.log, redact=self.adapter.ctx.redact
        )

    def fail(self, steps: list[_Step], text: str) -> None:
        text = self.adapter.ctx.redact(text)
        for step in steps:
            _record(self.factory, self.run, step, StepState.FAILED, error=text)
        self.failures.append(text)

    def look(self, step: _Step) -> bool:
        """Record the step done if the channel has its bytes; True if it must be published."""
        adapter = self.adapter
        try:
            found = self.retrying(lambda: adapter.lookup(step.file), f"looking for {step.path}")
            if found is None:
                return True
            same = self.retrying(
                lambda: _same_bytes(adapter, step, found), f"comparing {step.path}"
            )
            if not same:
                raise Conflicting(
                    f"{found.url} holds other bytes than {step.path} (SHA-512 differs): "
                    "refusing to overwrite it",
                    hint="a release file never changes once published; if this one is wrong, "
                    "publish a new version",
                )
        except ChannelError as exc:
            self.fail([step], _told(exc))
            return False
        self.log(f"{step.path}: already on {self.run.channel.name} with the same bytes")
        _record(self.factory, self.run, step, StepState.DONE, url=found.url, uploaded=False)
        return False

    def publish(self, missing: list[_Step]) -> None:
        """Publish the files the channel lacks: in one go for a channel that commits many at
        once (Subversion, a staging repository), else file by file, each recorded as soon as
        it is accepted, so that a retry never sends again a file that arrived."""
        adapter = self.adapter
        if type(adapter).publish_many is Channel.publish_many:
            for step in missing:
                try:
                    url = self.retrying(
                        lambda s=step: adapter.publish(s.file),  # type: ignore[misc]
                        f"publishing {step.path} to {self.run.channel.name}",
                    )
                except ChannelError as exc:
                    self.fail([step], _told(exc))
                    continue
                _record(self.factory, self.run, step, StepState.DONE, url=url, uploaded=True)
            return
        try:
            urls = self.retrying(
                lambda: adapter.publish_many([s.file for s in missing]),
                f"publishing {len(missing)} files to {self.run.channel.name}",
            )
        except ChannelError as exc:
            self.fail(missing, _told(exc))
            return
        for step in missing:
            _record(
                self.factory, self.run, step, StepState.DONE, url=urls[step.path], uploaded=True
            )

    def finish(self) -> None:
        try:
            self.retrying(self.adapter.finish, f"finishing {self.run.channel.name}")
        except ChannelError as exc:
            self.fail([s for s in self.run.steps if s.state == "done"], _told(exc))

    def verify(self) -> None:
        for step in [s for s in self.run.steps if s.state == "done" and not s.verified]:
            problem = _verify(self.adapter, step, self.settings)
            if problem is None:
                _record(self.factory, self.run, step, StepState.DONE, verified=True)
            else:
                self.fail([step], f"verifying {step.path}: {problem}")

    def go(self) -> list[str]:
        missing = [s for s in self.run.steps if s.state != "done" and self.look(s)]
        if missing:
            self.publish(missing)
        if not self.failures:
            self.finish()
        self.verify()
        return self.failures


def _publish(
    factory: sessionmaker[Session],
    settings: Settings,
    run: ChannelRun,
    credential: Secret | None,
    *,
    log: Callable[[str], None],
    progress: Callable[[str, int, int], None],
    http: httpx.Client | None,
) -> None:
    with factory() as session:
        project = session.scalars(
            select(models.Project).where(models.Project.key == run.project)
        ).one()
        session.expunge(project)
    kind: DistributionKind = "staging" if run.kind == "staging" else "production"
    with open_channel(
        run.channel, kind=kind, project=project, version=run.version, rc=run.rc, http=http,
        **run.extra,
    ) as adapter:  # fmt: skip
        adapter.ctx.credential = credential
        adapter.ctx.recorded = dict(run.recorded)
        adapter.ctx.log = lambda line: log(adapter.ctx.redact(line))
        adapter.ctx.progress = progress
        failures = _Publisher(factory, settings, run, adapter, adapter.ctx.log).go()
    if failures:
        with transaction(factory) as session:
            row = session.get(models.Distribution, run.distribution_id)
            if row is not None:
                mails.failure(
                    session, settings, MailTemplates(settings.data_dir), row,
                    channel=run.channel.name, errors=failures,
                )  # fmt: skip


# --- settling ----------------------------------------------------------------------------------


def _under_way(step: models.DistributionStep) -> bool:
    """Pending, running, or published and waiting for its channel's task to verify it."""
    return step.state in ("pending", "running") or (
        step.state == "done" and step.verified_at is None
    )


def settle(factory: sessionmaker[Session], settings: Settings, distribution_id: int) -> str:
    """Close the distribution when no step is pending or running; its state after."""
    with transaction(factory) as session:
        row = session.get(models.Distribution, distribution_id, with_for_update=True)
        if row is None:
            return "gone"
        now = datetime.now(UTC)
        automated = [s for s in row.steps if s.channel != MANUAL_CHANNEL]
        dist = [s for s in automated if s.channel == DIST_CHANNEL]
        if row.dist_at is None and dist and all(s.state == "done" for s in dist):
            row.dist_at = now
        if any(_under_way(s) for s in automated):
            return row.state
        if row.state in ("verified", "failed") and row.finished_at is not None:
            return row.state
        failed = sorted({s.channel for s in automated if s.state == "failed"})
        unverified = [s for s in automated if s.verified_at is None]
        row.state = "failed" if failed or unverified else "verified"
        row.finished_at = now
        if row.state == "verified":
            row.verified_at = now
        release = session.get(models.Release, row.release_id)
        assert release is not None
        append_event(
            session,
            EventKind.DISTRIBUTION_SETTLED,
            actor="atr-agent",
            project=release.project.key,
            version=release.version,
            data={
                "distribution_id": row.id,
                "kind": row.kind,
                "state": row.state,
                "failed_channels": failed,
                "uploaded": sum(1 for s in automated if s.uploaded),
                "files": len(automated),
            },
        )
        if row.state != "verified":
            return row.state
        if row.kind == "staging" and release.phase == Phase.CANDIDATE.value:
            transition_as(
                PmcWriter(session, Principal.operator(), release.project),
                release.version,
                TransitionRequest(
                    to=Phase.STAGED,
                    reason=f"rc{row.rc} staged to {len({s.channel for s in automated})} "
                    "test channels",
                ),
            )
        if row.kind == "production" and row.summary_sent_at is None:
            mails.summary(session, settings, MailTemplates(settings.data_dir), row)
            row.summary_sent_at = now
        return row.state


def sha512_file(path: Path) -> str:
    """The SHA-512 of a file, streamed (for tests and benchmarks)."""
    digest = hashlib.sha512()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
