"""``check``: one compliance check on one artifact (or the whole release) of a revision.

The work is done by :mod:`agent.checks.runner`; this module is the task type's
entry point in the dispatch of :func:`agent.engine.tasks.run_task`.
"""

from __future__ import annotations

from typing import Any

from agent.engine.tasks.context import InvalidTaskArgs, TaskContext


def run(ctx: TaskContext) -> dict[str, Any]:
    """Run the check named by ``ctx.task.args`` (``check_id``, ``artifact``)."""
    raise InvalidTaskArgs(
        "this agent build cannot run 'check' tasks yet",
        hint="check tasks are queued by the agent itself when a revision is created",
    )
