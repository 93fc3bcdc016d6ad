"""The dist repository watcher: a ``release.toml`` committed under ``dist/dev/<project>/``
starts a release from the files beside it.

``release.toml`` (docs/triggers.md)::

    project = "acme-lib"            # must be the <project> folder it sits in
    version = "1.2.0"
    files = ["apache-acme-lib-1.2.0-src.tar.gz", "apache-acme-lib-1.2.0-src.tar.gz.asc",
             "apache-acme-lib-1.2.0-src.tar.gz.sha512"]   # default: every other file there
    channels = ["pypi"]             # optional: which of the project's channels it goes to

The watcher polls the repository every ``dist_watch_seconds`` and whenever the
repository's post-commit hook calls ``POST /api/v1/triggers/svn`` (the call carries no
authority: it only makes the agent look now). It reads ``svn log -v`` from the revision
after the last one it read, and for each ``release.toml`` added or changed under
``dev/<project>/`` records the commit once (``repository-uuid@rREV:path``: a second look,
another agent or a hook called twice never acts twice) and queues a ``trigger.dist`` task
that takes the files at that revision into a release (:func:`take_release`).
On its first start the watcher begins at the repository's head (nothing older is acted on).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import tomllib
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from agent.config import Settings
from agent.db import models
from agent.engine import queue
from agent.triggers.common import DeliveryRecorded, record_delivery
from agent.triggers.svnread import LogEntry, SvnError, SvnReader
from shared.errors import ValidationError
from shared.ids import ProjectKey, Version, check_relpath
from shared.protocol import TaskType

__all__ = ["ACTOR", "DistWatcher", "Look", "ReleaseToml", "look_at", "parse_release_toml", "scan"]

log = logging.getLogger(__name__)

ACTOR = "trigger.svn"
RELEASE_TOML = "release.toml"
START_WAIT = 10.0
"""Seconds the agent's start waits for the watcher's first look."""
_DEV_RE = re.compile(r"(?:^|/)dev/(?P<project>[a-z][a-z0-9-]{0,63})/(?P<rest>.+/)?release\.toml$")


class ReleaseToml(BaseModel):
    """The release metadata file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project: ProjectKey
    version: Version
    files: list[str] | None = Field(default=None, max_length=1000)
    channels: list[str] = []
    release_manager: str | None = None


def parse_release_toml(text: str) -> ReleaseToml:
    """The metadata in ``text``; :class:`ValidationError` naming what is wrong."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError(f"release.toml is not valid TOML: {exc}") from exc
    try:
        meta = ReleaseToml.model_validate(data)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "release.toml"
        raise ValidationError(f"release.toml: {where}: {first['msg']}") from exc
    for name in meta.files or []:
        check_relpath(name)
        if name == RELEASE_TOML:
            raise ValidationError("release.toml lists itself among its files")
    return meta


@dataclass(frozen=True, slots=True)
class Found:
    project: str
    path: str
    revision: int
    author: str
    date: datetime


def _matches(entries: list[LogEntry], root_path: str) -> list[Found]:
    found: list[Found] = []
    for entry in entries:
        for action, kind, path in entry.paths:
            if action not in ("A", "M", "R") or kind == "dir":
                continue
            relative = path.lstrip("/")
            if root_path and not relative.startswith(root_path + "/") and relative != root_path:
                continue
            match = _DEV_RE.search(relative)
            if match is not None:
                found.append(
                    Found(match.group("project"), path, entry.revision, entry.author, entry.date)
                )
    return found


@dataclass(frozen=True, slots=True)
class Look:
    """What one look at the repository found (read outside any transaction)."""

    head: int
    since: int
    root: str
    uuid: str
    hits: list[Found]


def look_at(reader: SvnReader, url: str, last: int | None) -> Look:
    """Read the repository after revision ``last`` (``None``: only its head)."""
    head = reader.head(url)
    if last is None or head <= last:
        return Look(head, last if last is not None else head, "", "", [])
    root, uuid = reader.root(url)
    root_path = url[len(root) :].strip("/") if url.startswith(root) else ""
    return Look(head, last, root, uuid, _matches(reader.log(url, last + 1, head), root_path))


def scan(session: Session, url: str, found: Look) -> list[int]:
    """Record what ``found`` holds (in the caller's transaction): each new release.toml
    commit once, with its task; the ids of the tasks queued."""
    watch = session.get(models.SvnWatch, url)
    if watch is None:
        session.add(models.SvnWatch(url=url, last_revision=found.head))
        session.flush()
        return []
    tasks: list[int] = []
    for hit in found.hits:
        if hit.revision <= watch.last_revision:
            continue  # another agent (or look) recorded it meanwhile
        task = _record(session, found, hit)
        if task is not None:
            tasks.append(task)
    watch.last_revision = max(watch.last_revision, found.head)
    watch.checked_at = datetime.now(UTC)
    return tasks


def _record(session: Session, found: Look, hit: Found) -> int | None:
    project = session.scalar(select(models.Project).where(models.Project.key == hit.project))
    if project is None:
        return None
    settings_row = session.get(models.TriggerSettingsRow, project.id)
    if settings_row is not None and not settings_row.watch_dist:
        return None
    folder = str(PurePosixPath(hit.path).parent)
    data = {
        "svn_revision": hit.revision,
        "author": hit.author,
        "path": hit.path,
        "repository": found.root,
        "folder": folder,
    }
    try:
        row = record_delivery(
            session,
            source="svn",
            delivery=f"{found.uuid}@r{hit.revision}:{hit.path}",
            identity=None,
            project=hit.project,
            version=None,
            detail=f"r{hit.revision} by {hit.author}: {hit.path}",
            data=data,
            actor=ACTOR,
        )
    except DeliveryRecorded:
        return None
    task = queue.enqueue(
        session,
        TaskType.TRIGGER_DIST,
        project=hit.project,
        version=None,
        revision=None,
        args={"delivery": row.id, "url": f"{found.root}{hit.path}", **data},
        created_by=ACTOR,
        max_attempts=3,
        timeout_seconds=3600,
    )
    row.task_id = task.id
    return task.id


class DistWatcher:
    """Polls the dist repository in the agent's process (see the module docstring)."""

    def __init__(
        self,
        settings: Settings,
        *,
        transaction: Callable[[], AbstractContextManager[Session]],
    ) -> None:
        self.settings = settings
        self.transaction = transaction
        self.url = (settings.dist_watch_url or settings.effective_dist_svn_url).rstrip("/")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.polls = 0
        self.last_error: str | None = None

    def look(self) -> list[int]:
        """One look, now (blocking: runs svn outside the transaction)."""
        with self.transaction() as session:
            watch = session.get(models.SvnWatch, self.url)
            last = watch.last_revision if watch is not None else None
        with SvnReader() as reader:
            found = look_at(reader, self.url, last)
        with self.transaction() as session:
            return scan(session, self.url, found)

    async def start(self) -> None:
        """Start watching. The first look (the baseline, on a first start) is waited for up
        to :data:`START_WAIT` seconds — so a commit made once the agent answers is acted on —
        and goes on in the background past that: a slow or unreachable repository holds up
        the agent's start no longer."""
        first = asyncio.ensure_future(asyncio.to_thread(self._look_logged))
        try:
            await asyncio.wait_for(asyncio.shield(first), START_WAIT)
        except TimeoutError:
            log.warning("dist watcher: %s does not answer yet; watching goes on", self.url)
        self._task = asyncio.create_task(self._run(), name="dist-watcher")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        """Look now (the post-commit hook's call)."""
        self._wake.set()

    def _look_logged(self) -> list[int]:
        try:
            found = self.look()
            self.last_error = None
            return found
        except (SvnError, ValidationError) as exc:
            if exc.message != self.last_error:
                log.warning("dist watcher: %s", exc.message)
            self.last_error = exc.message
        except Exception as exc:  # a database hiccup: the next look tries again
            log.warning("dist watcher: %s: %s", type(exc).__name__, exc)
        return []

    async def _run(self) -> None:
        interval = self.settings.dist_watch_seconds
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval if interval > 0 else None):
                    await self._wake.wait()
            self._wake.clear()
            self.polls += 1
            await asyncio.to_thread(self._look_logged)
