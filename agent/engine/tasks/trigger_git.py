"""``trigger.git``: a pushed release tag → the source archive → a release to sign.

Arguments (set by :mod:`agent.triggers.webhook`): ``delivery`` (the delivery row), ``tag``,
``sha``, ``git_url``, ``repository``, ``rc``, ``pusher``. A retried task whose delivery
is done already does nothing again.
"""

from __future__ import annotations

import shutil
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from agent.db import models
from agent.db.session import transaction
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from agent.triggers.common import (
    agent_version,
    check_git_url,
    finish_delivery,
    read_settings,
    trigger_principal,
)
from agent.triggers.compose import compose_revision
from agent.triggers.gitsource import GitSourceError, build_archive, checksum_file, fetch_tag
from agent.triggers.webhook import ACTOR
from shared.errors import AtrError


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery: int
    tag: str
    sha: str
    git_url: str
    repository: str = ""
    rc: int | None = None
    pusher: str = ""


def run(ctx: TaskContext) -> dict[str, Any]:
    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        raise InvalidTaskArgs(f"trigger.git task arguments: {exc.errors()[0]['msg']}") from exc
    project, version = ctx.task.project, ctx.task.version
    if project is None or version is None or ctx.settings is None:
        raise InvalidTaskArgs("a trigger.git task needs a project, a version and the settings")
    with ctx.factory() as session:
        done = session.get(models.TriggerDelivery, args.delivery)
        if done is not None and done.state == "done":
            return {"skipped": "the delivery was handled already"}
        trigger = read_settings(session, project)
    try:
        check_git_url(args.git_url, ctx.settings)
    except AtrError as exc:
        _fail(ctx, args.delivery, exc.message)
        raise TaskError(exc.message, retryable=False, hint=exc.hint) from exc
    cache = ctx.settings.data_dir / "git" / f"{project}.git"
    ctx.log(f"fetching tag {args.tag} from {args.git_url}")
    try:
        tree = fetch_tag(args.git_url, args.tag, cache, expect=args.sha or None)
    except GitSourceError as exc:
        _fail(ctx, args.delivery, exc.message)
        raise TaskError(exc.message, retryable=False, hint=exc.hint) from exc
    name = trigger.archive_name.format(project=project, version=version)
    ctx.log(f"tag {args.tag} is commit {tree.commit[:12]}; building {name}.tar.gz")
    work = ctx.blobs.tmp_dir / f"trigger-{ctx.task.id}"
    try:
        built = build_archive(tree, work, name)
        sums = checksum_file(built, work)
        files = {built.name: ctx.blobs.put_file(built.path), sums.name: ctx.blobs.put_file(sums)}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    ctx.log(
        f"{built.name}: {built.files} files, {built.size:,} bytes, SHA-512 {built.sha512[:16]}…"
    )
    facts = {
        "git_url": args.git_url,
        "repository": args.repository,
        "tag": args.tag,
        "tag_object": tree.tag_object,
        "commit": tree.commit,
        "tree": tree.tree,
        "commit_time": tree.commit_time,
        "archive": built.name,
        "archive_sha512": built.sha512,
        "pusher": args.pusher,
        "rc": args.rc,
    }
    try:
        with transaction(ctx.factory) as session:
            delivery = session.get(models.TriggerDelivery, args.delivery)
            revision = compose_revision(
                session,
                trigger_principal("webhook", project),
                project=project,
                version=version,
                files=files,
                message=f"{built.name} built from tag {args.tag} ({tree.commit[:12]})",
                release_manager=trigger.release_manager,
                source="webhook",
                delivery=delivery.delivery if delivery is not None else str(args.delivery),
                build=(f"atr-agent {agent_version()}", facts),
            )
            finish_delivery(
                session,
                args.delivery,
                state="done",
                detail=f"revision {revision.number} of {project} {version}",
                actor=ACTOR,
            )
    except AtrError as exc:
        _fail(ctx, args.delivery, exc.message)
        raise TaskError(exc.message, retryable=False, hint=exc.hint) from exc
    ctx.log(
        f"revision {revision.number} created; its checks are queued; the release manager is "
        "asked to sign"
    )
    return {
        "revision": revision.number,
        "archive": built.name,
        "sha512": built.sha512,
        "commit": tree.commit,
    }


def _fail(ctx: TaskContext, delivery: int, message: str) -> None:
    with transaction(ctx.factory) as session:
        finish_delivery(session, delivery, state="failed", detail=message, actor=ACTOR)
