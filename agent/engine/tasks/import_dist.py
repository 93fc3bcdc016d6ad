"""``import.dist``: record every past release of a dist folder (``POST …/import-dist``).

Arguments: ``{"release_url": URL, "dev_url": URL | null}``; the work is
:func:`agent.triggers.importer.import_dist`, acting as the admin who asked.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError as PydanticValidationError
from sqlalchemy import select

from agent.db import models
from agent.db.session import transaction
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext
from agent.store import Principal
from agent.triggers.importer import import_dist
from shared.protocol import Role
from shared.protocol.triggers import ImportDist


def _requester(ctx: TaskContext) -> Principal:
    """Who the import acts for: the admin who asked through the API (their name on every
    event it writes), or the operator for ``atr-agent import-dist``."""
    with ctx.factory() as session:
        task = session.get(models.Task, ctx.task.id)
        asked_by = task.created_by if task is not None else ""
        user = session.scalar(select(models.User).where(models.User.name == asked_by))
        if user is None or not user.is_admin:
            return Principal.operator()
        return Principal(name=user.name, user_id=user.id, is_admin=True, token_role=Role.ADMIN)


def run(ctx: TaskContext) -> dict[str, Any]:
    try:
        args = ImportDist.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        raise InvalidTaskArgs(f"import.dist task arguments: {exc.errors()[0]['msg']}") from exc
    if ctx.task.project is None:
        raise InvalidTaskArgs("an import.dist task needs a project")
    factory = ctx.factory

    def write() -> Any:
        return transaction(factory)

    report = import_dist(
        project=ctx.task.project,
        release_url=args.release_url,
        dev_url=args.dev_url,
        read=factory,
        write=write,
        blobs=ctx.blobs,
        principal=_requester(ctx),
        log=ctx.log,
    )
    return {
        "added": [r.version for r in report.added],
        "known": report.known,
        "skipped": report.skipped[:100],
        "keys_imported": report.keys_imported,
        "seconds": report.seconds,
    }
