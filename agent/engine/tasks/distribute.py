"""``distribute``: publish one channel's files of a distribution, verify them, settle it.

Arguments: ``{"distribution": ID, "channel": NAME}``, and ``"discard": true`` to take a
failed candidate's staging off the channel instead (:mod:`agent.distribute.discard`, queued
by the phase cascade when a staged release fails). Queued by
:class:`agent.distribute.service.DistributionService` (one task per channel when a
distribution starts, one more for a retried channel); the work is
:func:`agent.distribute.runner.run_channel`. A registry that fails is not a failed task:
the files' steps record it (``failed``, with the registry's words) and the release
manager retries the channel. A failure of the agent itself (the database) fails the
attempt, and the next attempt goes on where this one stopped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from agent.distribute.runner import run_channel
from agent.engine.tasks.context import InvalidTaskArgs, TaskContext


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    distribution: int
    channel: str
    discard: bool = False


def run(ctx: TaskContext) -> dict[str, Any]:
    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise InvalidTaskArgs(f"distribute task arguments: {where}: {first['msg']}") from exc
    if ctx.settings is None:
        raise InvalidTaskArgs("a distribute task needs the agent's settings (run it in a worker)")

    if args.discard:
        from agent.distribute.discard import discard_channel  # noqa: PLC0415 - rarely needed

        return discard_channel(
            ctx.factory, ctx.blobs, ctx.settings, distribution_id=args.distribution,
            channel=args.channel, log=ctx.log,
        )  # fmt: skip

    def progress(path: str, done: int, total: int) -> None:
        ctx.progress(done, total, path=path)

    return run_channel(
        ctx.factory,
        ctx.blobs,
        ctx.settings,
        distribution_id=args.distribution,
        channel=args.channel,
        log=ctx.log,
        progress=progress,
    )
