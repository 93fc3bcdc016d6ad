"""``codesign``: sign a revision's Windows or macOS files for their OS, into a new revision.

Arguments: ``{"run": ID}`` — queued by :func:`agent.provenance.codesign.start`. A tool that
refuses (a wrong certificate, a timestamp server away) fails the run with its words, not the
task; a failure of the agent itself fails the attempt, and a retry starts the run again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from shared.errors import AtrError


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    run: int


def run(ctx: TaskContext) -> dict[str, Any]:
    from agent.provenance.codesign import run_codesign  # noqa: PLC0415

    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        raise InvalidTaskArgs(f"codesign task arguments: {exc.errors()[0]['msg']}") from exc
    if ctx.settings is None:
        raise InvalidTaskArgs("a codesign task needs the agent's settings (run it in a worker)")
    try:
        return run_codesign(ctx.factory, ctx.blobs, ctx.settings, args.run, log=ctx.log)
    except TaskError:
        raise
    except AtrError as exc:
        raise TaskError(exc.message, hint=exc.hint) from exc
