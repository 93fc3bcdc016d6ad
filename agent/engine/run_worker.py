"""``python -m agent.engine.run_worker``: one worker process, as the supervisor starts it.

Its :class:`~agent.engine.worker.WorkerConfig` comes as JSON on stdin (it holds the agent's
settings, which may hold secrets: never on the command line). A fresh interpreter imports
only what an idle worker needs (the queue, the models); handlers load their own modules
when a task of theirs runs.
"""

from __future__ import annotations

import sys

from agent.launcher import importing


def main() -> None:
    with importing():
        from agent.engine.worker import WorkerConfig, worker_main  # noqa: PLC0415

    worker_main(WorkerConfig.from_json(sys.stdin.read()))


if __name__ == "__main__":
    main()
