"""A worker process: claim a task, run its handler in a thread, heartbeat the lease, repeat.

The worker's main thread holds the lease: it heartbeats every ``lease / 3``
seconds while the handler runs in a daemon thread. When the task's timeout
passes the attempt is failed (retried if attempts remain) and the process ends
with ``os._exit`` so the stuck thread dies with it; the supervisor starts a new
worker. A worker also ends when its lease is lost, when its parent process dies
(checked through ``os.getppid()``), or on SIGTERM, handing a running task back
to the queue at once. SIGINT is left to the supervisor, which stops its workers.

Each worker opens its own engine (:func:`agent.db.session.make_engine`): no
connection is ever shared across processes.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from agent.blobs import DEFAULT_MAX_SIZE, BlobStore
from agent.config import Settings, load_settings
from agent.db.session import make_engine, make_session_factory
from agent.engine import queue
from agent.engine.queue import ClaimedTask, LeaseLost
from agent.engine.task_events import GroupedEvents
from agent.engine.tasks import TaskContext, TaskError, run_task
from shared.errors import AtrError

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_TIMEOUT = 3
"""The running task passed its timeout; its thread cannot be stopped, so the process ends."""
EXIT_LEASE_LOST = 4
"""Another worker holds the running task's lease now (or the database was unreachable too long)."""
EXIT_PARENT_GONE = 5
"""The agent process that started this worker died."""
EXIT_RECYCLE = 6
"""The worker grew past ``recycle_rss_mb`` after a task; the supervisor starts a fresh one
at once (Python rarely gives freed memory back to the system)."""

_MAX_WAIT = 0.25
"""Longest sleep of the main thread while a task runs (stop and parent checks)."""
_HEARTBEAT_RETRY = 1.0
_MAX_DB_BACKOFF = 5.0


@dataclass(frozen=True)
class WorkerConfig:
    """What a worker process needs; the supervisor hands it over as JSON on the worker's stdin
    (:meth:`to_json`, :meth:`from_json`)."""

    database_url: str
    data_dir: Path
    lease_seconds: float = 30.0
    poll_interval: float = 0.2
    max_blob_size: int = DEFAULT_MAX_SIZE
    log_level: str = "INFO"
    recycle_rss_mb: int = 0
    """End (to be started afresh) after a task once resident memory passed this; 0: never."""
    settings_json: str = ""
    """The agent's settings, as JSON (handlers that publish need them); empty: read them
    from the data dir's agent.toml and ATR_* variables."""
    parent_pid: int = 0
    """The process that started the worker (the supervisor's); 0: the parent at start. Given
    by the supervisor, so that a worker whose agent died while it was starting still sees
    it is orphaned (``os.getppid()`` at start would already be the reaper's)."""

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "data_dir": str(self.data_dir)})

    @classmethod
    def from_json(cls, text: str) -> WorkerConfig:
        data = json.loads(text)
        return cls(**{**data, "data_dir": Path(data["data_dir"])})

    def settings(self) -> Settings:
        if self.settings_json:
            return Settings.model_validate_json(self.settings_json)
        return load_settings(data_dir=self.data_dir, overrides={"database_url": self.database_url})


def make_owner_id() -> str:
    """A lease owner id unique across hosts and restarts: ``host:pid:random``."""
    return f"{socket.gethostname()[:100]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass
class _Outcome:
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None


class Worker:
    """The claim → run → report loop of one worker process."""

    def __init__(self, config: WorkerConfig, *, factory: sessionmaker[Session]) -> None:
        self.config = config
        self.factory = factory
        self.blobs = BlobStore(config.data_dir / "blobs", max_size=config.max_blob_size)
        self.settings = config.settings()
        self.blobs.open_tmp()  # sweeps what killed processes (a crashed worker) left in tmp/
        self.owner = make_owner_id()
        self._stop = threading.Event()
        self._parent_pid = config.parent_pid or os.getppid()

    def request_stop(self) -> None:
        """Ask the loop to end (safe from a signal handler); a running task is handed back."""
        self._stop.set()

    def _parent_gone(self) -> bool:
        return self._parent_pid > 1 and os.getppid() != self._parent_pid

    def run(self) -> int:
        """Run tasks until told to stop; return the process exit code."""
        logger.info("worker ready: owner=%s", self.owner)
        backoff = self.config.poll_interval
        while not self._stop.is_set():
            if self._parent_gone():
                logger.warning("the agent process that started this worker is gone; exiting")
                return EXIT_PARENT_GONE
            try:
                task = queue.claim(
                    self.factory, owner=self.owner, lease_seconds=self.config.lease_seconds
                )
            except SQLAlchemyError as exc:
                logger.error("cannot claim a task (retrying in %.1f s): %s", backoff, exc)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, _MAX_DB_BACKOFF)
                continue
            backoff = self.config.poll_interval
            if task is None:
                self._stop.wait(self.config.poll_interval)
                continue
            code = self._run_one(task)
            if code is not None:
                return code
            if self._grown():
                return EXIT_RECYCLE
        return EXIT_OK

    def _grown(self) -> bool:
        limit = self.config.recycle_rss_mb
        if limit <= 0:
            return False
        rss = resident_bytes()
        if rss is None or rss <= limit * 1024 * 1024:
            return False
        logger.info(
            "worker holds %.0f MiB after its task (recycle above %s MiB); ending to start afresh",
            rss / 1024 / 1024,
            limit,
        )
        return True

    def _run_one(self, task: ClaimedTask) -> int | None:
        """Run one task to its end. Returns an exit code when the process must end."""
        logger.info("task %s (%s) attempt %s started", task.id, task.type, task.attempt)
        outcome = _Outcome()
        events = GroupedEvents(
            self.factory, task_id=task.id, project=task.project, version=task.version
        )
        ctx = TaskContext(
            task=task,
            factory=self.factory,
            blobs=self.blobs,
            events=events,
            settings=self.settings,
        )
        thread = threading.Thread(
            target=_run_handler, args=(ctx, outcome), name=f"task-{task.id}", daemon=True
        )
        thread.start()
        then = self._watch(task, outcome)
        events.close()  # the task's lines come before whatever records its end
        return then()

    def _watch(self, task: ClaimedTask, outcome: _Outcome) -> Callable[[], int | None]:
        """Heartbeat while the handler runs; returns what to do once it ended or must end."""
        start = time.monotonic()
        deadline = start + task.timeout_seconds
        interval = self.config.lease_seconds / 3
        next_beat = start + interval
        last_beat = start
        while not outcome.done.wait(_until(min(next_beat, deadline))):
            now = time.monotonic()
            if self._stop.is_set() or self._parent_gone():
                return lambda: self._hand_back(task)
            if now >= deadline:
                return lambda: self._time_out(task)
            if now < next_beat:
                continue
            next_beat = now + min(interval, _HEARTBEAT_RETRY)
            try:
                still_ours = queue.heartbeat(
                    self.factory, task.id, owner=self.owner, lease_seconds=self.config.lease_seconds
                )
            except SQLAlchemyError as exc:
                logger.error("task %s: heartbeat failed: %s", task.id, exc)
                if now - last_beat > self.config.lease_seconds:
                    logger.error("task %s: lease expired while the database was away", task.id)
                    return lambda: EXIT_LEASE_LOST
                continue
            if not still_ours:
                logger.error(
                    "task %s: lease lost (another worker took it, or it was cancelled); exiting",
                    task.id,
                )
                return lambda: EXIT_LEASE_LOST
            last_beat = now
            next_beat = now + interval
        return lambda: self._report(task, outcome)

    def _hand_back(self, task: ClaimedTask) -> int:
        reason = "the worker was stopped" if self._stop.is_set() else "the agent process died"
        logger.warning("task %s: %s; handing the task back to the queue", task.id, reason)
        try:
            queue.release(self.factory, task.id, owner=self.owner, reason=reason)
        except (LeaseLost, SQLAlchemyError) as exc:
            logger.error("task %s: could not hand back: %s", task.id, exc)
        return EXIT_OK if self._stop.is_set() else EXIT_PARENT_GONE

    def _time_out(self, task: ClaimedTask) -> int:
        error = f"the task ran longer than its timeout of {task.timeout_seconds} s"
        logger.error("task %s: %s; ending this worker", task.id, error)
        self._fail(task, error, retryable=True)
        return EXIT_TIMEOUT

    def _fail(self, task: ClaimedTask, error: str, *, retryable: bool) -> None:
        try:
            queue.fail(self.factory, task.id, owner=self.owner, error=error, retryable=retryable)
        except LeaseLost as exc:
            logger.warning("task %s: not recording the failure: %s", task.id, exc)

    def _report(self, task: ClaimedTask, outcome: _Outcome) -> None:
        exc = outcome.error
        if isinstance(exc, TaskError):
            logger.info("task %s failed: %s", task.id, exc.message)
            self._fail(task, exc.diagnostics(), retryable=exc.retryable)
        elif isinstance(exc, AtrError):
            logger.info("task %s failed: %s", task.id, exc.message)
            self._fail(task, exc.diagnostics(), retryable=True)
        elif exc is not None:
            logger.error(
                "task %s raised:\n%s",
                task.id,
                "".join(traceback.format_exception(exc)),
            )
            self._fail(task, f"{type(exc).__name__}: {exc}", retryable=True)
        elif not isinstance(outcome.result, dict) or not _is_json(outcome.result):
            self._fail(
                task, "the handler returned a result that is not a JSON object", retryable=False
            )
        else:
            try:
                queue.complete(self.factory, task.id, owner=self.owner, result=outcome.result)
            except LeaseLost as lost:
                logger.warning("task %s: not recording the result: %s", task.id, lost)
                return
            logger.info("task %s succeeded", task.id)


def resident_bytes() -> int | None:
    """This process's resident memory now (Linux ``/proc``); None where it cannot be read."""
    try:
        fields = Path("/proc/self/statm").read_text().split()
        return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _until(moment: float) -> float:
    return min(max(moment - time.monotonic(), 0.0), _MAX_WAIT)


def _is_json(value: dict[str, Any]) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _run_handler(ctx: TaskContext, outcome: _Outcome) -> None:
    try:
        outcome.result = run_task(ctx)
    except BaseException as exc:  # reported by the main thread, whatever it is
        outcome.error = exc
    finally:
        outcome.done.set()


def worker_main(config: WorkerConfig) -> None:
    """Run one worker until it is told to stop, then end the process (see
    :mod:`agent.engine.run_worker`, which the supervisor starts)."""
    logging.basicConfig(
        level=config.log_level.upper(),
        format="%(asctime)s worker[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no request URLs in the log
    engine = make_engine(config.database_url)
    worker = Worker(config, factory=make_session_factory(engine))

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        worker.request_stop()

    signal.signal(signal.SIGTERM, _on_signal)
    # Ctrl-C reaches the whole process group: the supervisor handles it and stops the
    # workers with SIGTERM, so a worker never ends (and gets restarted) on its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    code = EXIT_OK
    try:
        code = worker.run()
    except Exception:
        logger.exception("worker crashed")
        code = 1
    finally:
        with contextlib.suppress(OSError):
            worker.blobs.close()  # its temporary folder (a stuck handler's files with it)
        engine.dispose()
        sys.stdout.flush()
        sys.stderr.flush()
        # os._exit: a handler thread that is stuck (timeout, lost lease) must die with us.
        os._exit(code)
