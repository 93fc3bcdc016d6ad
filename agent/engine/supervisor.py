"""Starts N worker processes and keeps them running.

The agent (``atr-agent serve``) creates a :class:`Supervisor` in its own
process. ``python -m agent.engine.supervisor`` (``atr-agent workers``) runs
workers only, with no API, until SIGTERM or SIGINT: a deployment where workers
live on another host than the API, sharing one PostgreSQL database.

Each worker is a fresh interpreter (``python -m agent.engine.run_worker``, its
configuration as JSON on stdin), so no database connection or lock of the parent is ever
inherited, and no multiprocessing helper process (its resource tracker) runs beside them.
A monitor thread restarts a worker that ended (after a task timeout, a lost lease, a
crash), waiting a little longer after each quick failure so a worker that cannot start
does not spin.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from agent.blobs import DEFAULT_MAX_SIZE
from agent.db.session import MigrationFailed, migrate_url, sqlite_url
from agent.engine.worker import EXIT_RECYCLE, WorkerConfig

logger = logging.getLogger(__name__)

_MONITOR_INTERVAL = 0.1
_STABLE_SECONDS = 30.0
"""A worker that ran at least this long before ending is restarted without delay growth."""


@dataclass
class _Slot:
    index: int
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_failures: int = 0
    restart_at: float | None = None


class Supervisor:
    """Runs ``workers`` worker processes against one database and restarts those that end."""

    def __init__(
        self,
        *,
        database_url: str,
        data_dir: Path,
        workers: int,
        lease_seconds: float = 30.0,
        poll_interval: float = 0.2,
        max_blob_size: int = DEFAULT_MAX_SIZE,
        recycle_rss_mb: int = 0,
        restart_delay: float = 0.5,
        max_restart_delay: float = 30.0,
        log_level: str = "INFO",
        settings_json: str = "",
    ) -> None:
        if workers < 0:
            raise ValueError("workers must not be negative")
        if lease_seconds <= 0 or poll_interval <= 0:
            raise ValueError("lease_seconds and poll_interval must be positive")
        self.config = WorkerConfig(
            database_url=database_url,
            data_dir=data_dir,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
            max_blob_size=max_blob_size,
            recycle_rss_mb=recycle_rss_mb,
            log_level=log_level,
            settings_json=settings_json,
            parent_pid=os.getpid(),
        )
        self.restart_delay = restart_delay
        self.max_restart_delay = max_restart_delay
        self._slots = [_Slot(index=i) for i in range(workers)]
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None
        self.restarts = 0
        """How many times a worker was started again after it ended."""
        self.recycled = 0
        """How many of those restarts replaced a worker that outgrew ``recycle_rss_mb``."""

    @property
    def pids(self) -> list[int]:
        """The process ids of the workers running now."""
        with self._lock:
            return [
                s.process.pid
                for s in self._slots
                if s.process is not None and s.process.poll() is None
            ]

    def start(self) -> None:
        """Start the workers and the monitor thread."""
        if self._monitor is not None:
            raise RuntimeError("the supervisor is already started")
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        with self._lock:
            for slot in self._slots:
                self._spawn(slot)
        self._monitor = threading.Thread(target=self._watch, name="worker-supervisor", daemon=True)
        self._monitor.start()

    def _spawn(self, slot: _Slot) -> None:
        process = subprocess.Popen(
            [sys.executable, "-m", "agent.engine.run_worker"],
            stdin=subprocess.PIPE,
            env=_worker_env(),
        )
        if process.stdin is not None:  # always: stdin=PIPE
            # A worker that died at once is seen (and restarted) by the monitor.
            with contextlib.suppress(BrokenPipeError), process.stdin:
                process.stdin.write(self.config.to_json().encode())
        slot.process = process
        slot.started_at = time.monotonic()
        slot.restart_at = None
        logger.info("worker %s started (pid %s)", slot.index, process.pid)

    def _watch(self) -> None:
        while not self._stopping.wait(_MONITOR_INTERVAL):
            with self._lock:
                if self._stopping.is_set():
                    return
                for slot in self._slots:
                    self._check(slot)

    def _check(self, slot: _Slot) -> None:
        now = time.monotonic()
        process = slot.process
        if process is not None and process.poll() is None:
            return
        if slot.restart_at is None and process is not None and process.returncode == EXIT_RECYCLE:
            logger.info(
                "worker %s (pid %s) recycled; starting a fresh one", slot.index, process.pid
            )
            slot.process = None
            slot.quick_failures = 0
            self._spawn(slot)
            self.restarts += 1
            self.recycled += 1
            return
        if slot.restart_at is None:
            lived = now - slot.started_at
            slot.quick_failures = slot.quick_failures + 1 if lived < _STABLE_SECONDS else 1
            delay = min(self.restart_delay * 2 ** (slot.quick_failures - 1), self.max_restart_delay)
            slot.restart_at = now + delay
            logger.warning(
                "worker %s (pid %s) ended with code %s after %.1f s; restarting in %.1f s",
                slot.index,
                process.pid if process else None,
                process.returncode if process else None,
                lived,
                delay,
            )
            slot.process = None
        if now >= slot.restart_at:
            self._spawn(slot)
            self.restarts += 1

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers: SIGTERM (running tasks go back to the queue), later SIGKILL."""
        self._stopping.set()
        if self._monitor is not None:
            self._monitor.join()
        with self._lock:
            running = [s.process for s in self._slots if s.process is not None]
            for process in running:
                if process.poll() is None:
                    process.terminate()
            deadline = time.monotonic() + timeout
            for process in running:
                try:
                    process.wait(max(deadline - time.monotonic(), 0))
                except subprocess.TimeoutExpired:
                    logger.warning("worker pid %s did not stop in time; killing it", process.pid)
                    process.kill()
                    process.wait(5)
            for slot in self._slots:
                slot.process = None


def _worker_env() -> dict[str, str]:
    """The agent's environment, with the folder that holds the ``agent`` package first on
    ``PYTHONPATH``: a worker imports the same code as its agent, however that was started."""
    root = str(Path(__file__).resolve().parents[2])
    paths = [root, *(p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(paths))}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m agent.engine.supervisor",
        description="Run the agent's task workers (no API) until SIGTERM or SIGINT.",
    )
    parser.add_argument("--data-dir", type=Path, required=True, help="the agent's data dir")
    parser.add_argument(
        "--database-url", help="SQLAlchemy URL (default: the SQLite file in the data dir)"
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--lease-seconds", type=float, default=30.0)
    parser.add_argument("--poll-interval", type=float, default=0.2)
    parser.add_argument("--max-blob-size", type=int, default=DEFAULT_MAX_SIZE)
    parser.add_argument(
        "--recycle-mb",
        type=int,
        default=120,
        help="start a worker afresh once it holds more than this many MiB after a task (0: never)",
    )
    parser.add_argument(
        "--no-migrate",
        action="store_true",
        help="do not apply database migrations at start (another agent does)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run workers only until SIGTERM/SIGINT. Returns the process exit code."""
    args = _parser().parse_args(argv)
    if args.workers < 1:
        print("error: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.lease_seconds <= 0 or args.poll_interval <= 0:
        print("error: --lease-seconds and --poll-interval must be positive", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=args.log_level.upper(),
        format="%(asctime)s supervisor[%(process)d] %(levelname)s %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # no request URLs in the log
    data_dir: Path = args.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    url: str = args.database_url or sqlite_url(data_dir)
    if not args.no_migrate:
        try:
            migrate_url(url)
        except MigrationFailed as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    supervisor = Supervisor(
        database_url=url,
        data_dir=data_dir,
        workers=args.workers,
        lease_seconds=args.lease_seconds,
        poll_interval=args.poll_interval,
        max_blob_size=args.max_blob_size,
        recycle_rss_mb=args.recycle_mb,
        log_level=args.log_level,
    )
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    supervisor.start()
    logger.info("running %s workers; stop with SIGTERM or Ctrl-C", args.workers)
    while not stop.wait(1.0):
        pass
    logger.info("stopping the workers")
    supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
