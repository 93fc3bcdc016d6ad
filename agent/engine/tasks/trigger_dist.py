"""``trigger.dist``: a release.toml committed to dist/dev → a release of the files beside it.

Arguments (set by :mod:`agent.triggers.distwatch`): ``delivery``, ``url`` (the
release.toml's URL), ``svn_revision``, ``author``, ``folder``, ``repository``. The files
are read at that revision (a later commit changes nothing of this one). The svn author
becomes the release manager when they are a user of the agent (ASF ids are the same);
else the project's configured release manager.
"""

from __future__ import annotations

import shutil
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from agent.db import models
from agent.db.session import transaction
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from agent.triggers.common import finish_delivery, read_settings, trigger_principal
from agent.triggers.compose import compose_revision
from agent.triggers.distwatch import ACTOR, RELEASE_TOML, parse_release_toml
from agent.triggers.svnread import SvnReader
from shared import protocol as p
from shared.errors import AtrError, ValidationError


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    delivery: int
    url: str
    svn_revision: int
    author: str = ""
    folder: str = ""
    repository: str = ""


def run(ctx: TaskContext) -> dict[str, Any]:
    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        raise InvalidTaskArgs(f"trigger.dist task arguments: {exc.errors()[0]['msg']}") from exc
    project = ctx.task.project
    if project is None:
        raise InvalidTaskArgs("a trigger.dist task needs a project")
    with ctx.factory() as session:
        row = session.get(models.TriggerDelivery, args.delivery)
        if row is not None and row.state == "done":
            return {"skipped": "the commit was handled already"}
        trigger = read_settings(session, project)
        author_known = args.author and session.scalar(
            select(models.User.id).where(models.User.name == args.author)
        )
    work = ctx.blobs.tmp_dir / f"trigger-{ctx.task.id}"
    try:
        return _take(
            ctx,
            args,
            project=project,
            work=work,
            configured_rm=trigger.release_manager,
            author=args.author if author_known else None,
        )
    except AtrError as exc:
        with transaction(ctx.factory) as session:
            finish_delivery(session, args.delivery, state="failed", detail=exc.message, actor=ACTOR)
        raise TaskError(exc.message, retryable=False, hint=exc.hint) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _take(
    ctx: TaskContext,
    args: _Args,
    *,
    project: str,
    work: Any,
    configured_rm: str | None,
    author: str | None,
) -> dict[str, Any]:
    rev = args.svn_revision
    folder_url = args.url.rsplit("/", 1)[0]
    with SvnReader() as svn:
        svn.cat(f"{args.url}@{rev}", work / RELEASE_TOML)
        meta = parse_release_toml((work / RELEASE_TOML).read_text("utf-8"))
        if meta.project != project:
            raise ValidationError(
                f"release.toml names project '{meta.project}' but sits in dev/{project}/"
            )
        present = {
            e.path for e in svn.list_recursive(f"{folder_url}@{rev}") if e.kind == "file"
        } - {RELEASE_TOML}
        wanted = sorted(meta.files) if meta.files is not None else sorted(present)
        missing = [name for name in wanted if name not in present]
        if missing:
            raise ValidationError(
                f"release.toml lists {', '.join(missing)}, not in {args.folder} at r{rev}"
            )
        if not wanted:
            raise ValidationError(f"{args.folder} holds no file besides release.toml at r{rev}")
        files: dict[str, p.BlobInfo] = {}
        for number, name in enumerate(wanted, 1):
            local = work / "files" / name
            svn.cat(f"{folder_url}/{name}@{rev}", local)
            files[name] = ctx.blobs.put_file(local)
            ctx.progress(number, len(wanted), path=name)
    ctx.log(f"r{rev}: {project} {meta.version} with {len(files)} files from {args.folder}")
    facts = {
        "repository": args.repository,
        "svn_revision": rev,
        "folder": args.folder,
        "author": args.author,
        "channels": list(meta.channels),
        "files": {name: info.sha512 for name, info in files.items()},
    }
    with transaction(ctx.factory) as session:
        revision = compose_revision(
            session,
            trigger_principal("svn", project),
            project=project,
            version=meta.version,
            files=files,
            message=f"release.toml committed to {args.folder} in r{rev} by {args.author}",
            release_manager=meta.release_manager or author or configured_rm,
            source="svn",
            delivery=f"r{rev}",
            build=(f"svn commit r{rev} by {args.author}", facts),
        )
        delivery = session.get(models.TriggerDelivery, args.delivery)
        if delivery is not None:
            delivery.version = meta.version
        finish_delivery(
            session,
            args.delivery,
            state="done",
            detail=f"revision {revision.number} of {project} {meta.version}",
            actor=ACTOR,
        )
    return {"version": meta.version, "revision": revision.number, "files": sorted(files)}
