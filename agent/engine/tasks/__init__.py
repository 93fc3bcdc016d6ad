"""Task handlers: one module per :class:`shared.protocol.TaskType`, dispatched by :func:`run_task`.

A handler is ``run(ctx: TaskContext) -> dict`` returning the task's JSON result.
It raises :class:`TaskError` (``retryable`` says whether a retry can help) or
:class:`InvalidTaskArgs` (never retried); any other exception counts as a
retryable failure.
"""

from __future__ import annotations

from typing import Any

from agent.engine.tasks.context import InvalidTaskArgs, TaskContext, TaskError
from shared.protocol import TaskType

__all__ = ["InvalidTaskArgs", "TaskContext", "TaskError", "run_task"]


def run_task(ctx: TaskContext) -> dict[str, Any]:  # noqa: PLR0911 - one return per type
    """Run the handler of ``ctx.task``'s type and return its result."""
    try:
        task_type = TaskType(ctx.task.type)
    except ValueError:
        raise InvalidTaskArgs(
            f"this agent has no handler for task type {ctx.task.type!r}"
        ) from None
    # No `case _`: mypy reports a missing return when a TaskType has no handler here.
    # Handlers are imported when a task of their type first runs: an idle worker holds
    # neither the checks nor their libraries (issue 10: two idle workers in < 250 MB).
    match task_type:
        case TaskType.INVENTORY:
            from agent.engine.tasks import inventory  # noqa: PLC0415

            return inventory.run(ctx)
        case TaskType.DIAGNOSTIC_EMIT:
            from agent.engine.tasks import diagnostic  # noqa: PLC0415

            return diagnostic.run(ctx)
        case TaskType.CHECK:
            from agent.engine.tasks import check  # noqa: PLC0415

            return check.run(ctx)
        case TaskType.DISTRIBUTE:
            from agent.engine.tasks import distribute  # noqa: PLC0415

            return distribute.run(ctx)
        case TaskType.ATTEST:
            from agent.engine.tasks import attest  # noqa: PLC0415

            return attest.run(ctx)
        case TaskType.CODESIGN:
            from agent.engine.tasks import codesign  # noqa: PLC0415

            return codesign.run(ctx)
        case TaskType.TRIGGER_GIT:
            from agent.engine.tasks import trigger_git  # noqa: PLC0415

            return trigger_git.run(ctx)
        case TaskType.TRIGGER_DIST:
            from agent.engine.tasks import trigger_dist  # noqa: PLC0415

            return trigger_dist.run(ctx)
        case TaskType.IMPORT_DIST:
            from agent.engine.tasks import import_dist  # noqa: PLC0415

            return import_dist.run(ctx)
