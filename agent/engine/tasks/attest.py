"""``attest``: write a release's signed attestations (:mod:`agent.provenance.attest`).

Arguments: ``{"release": ID, "trigger": "vote"}`` — queued by the phase cascade when the
vote passes (:func:`agent.phases.transition_as`) — or ``{"release": ID, "trigger":
"distribution", "distribution": ID}`` — queued when a production distribution is verified.
Writing is idempotent: a retry finds what an earlier attempt wrote.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import ValidationError as PydanticValidationError

from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from shared.errors import AtrError


class _Args(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    release: int
    trigger: Literal["vote", "distribution"]
    distribution: int | None = None


def run(ctx: TaskContext) -> dict[str, Any]:
    from agent.provenance.attest import write_for_distribution, write_for_vote  # noqa: PLC0415

    try:
        args = _Args.model_validate(ctx.task.args)
    except PydanticValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "args"
        raise InvalidTaskArgs(f"attest task arguments: {where}: {first['msg']}") from exc
    if ctx.settings is None:
        raise InvalidTaskArgs("an attest task needs the agent's settings (run it in a worker)")
    try:
        if args.trigger == "vote":
            return write_for_vote(ctx.factory, ctx.blobs, ctx.settings, args.release, log=ctx.log)
        if args.distribution is None:
            raise InvalidTaskArgs("a distribution attestation needs its distribution id")
        return write_for_distribution(ctx.factory, ctx.settings, args.distribution, log=ctx.log)
    except TaskError:
        raise
    except AtrError as exc:
        raise TaskError(exc.message, hint=exc.hint) from exc
