"""Worker processes under a Supervisor on SQLite: run, time out and restart, hand back, orphaned."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from sqlalchemy import select, update

from agent.db import models
from agent.db.session import sqlite_url, transaction
from agent.engine.supervisor import Supervisor
from agent.engine.worker import EXIT_PARENT_GONE, Worker, WorkerConfig
from shared.protocol import TaskType
from tests.unit.test_queue import Factory, add_task, factory, task_events, task_row

__all__ = ["factory"]  # the fixture, imported for pytest

T = TypeVar("T")


def wait_for(check: Callable[[], T], *, timeout: float = 30.0, what: str) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def supervisor_factory(tmp_path: Path, factory: Factory) -> Iterator[Callable[..., Supervisor]]:
    started: list[Supervisor] = []

    def make(**kwargs: object) -> Supervisor:
        options: dict[str, object] = {
            "database_url": sqlite_url(tmp_path),
            "data_dir": tmp_path,
            "workers": 1,
            "poll_interval": 0.05,
            "restart_delay": 0.1,
            **kwargs,
        }
        sup = Supervisor(**options)  # type: ignore[arg-type]
        sup.start()
        started.append(sup)
        return sup

    yield make
    for sup in started:
        sup.stop(timeout=5)


def owners(factory: Factory, task_id: int) -> list[str]:
    return [e.data["owner"] for e in task_events(factory, task_id) if e.kind == "task.started"]


def test_workers_run_tasks_in_their_own_processes(
    factory: Factory, supervisor_factory: Callable[..., Supervisor]
) -> None:
    sup = supervisor_factory(workers=2)
    ids = [add_task(factory, args={"count": 2, "rate": 200.0}) for _ in range(6)]
    bad = add_task(factory, args={"count": "many", "rate": 1.0})

    def all_done() -> bool:
        return all(task_row(factory, i).state in ("succeeded", "failed") for i in [*ids, bad])

    wait_for(all_done, what="the tasks to finish")
    worker_pids = set(sup.pids)
    assert len(worker_pids) == 2 and os.getpid() not in worker_pids
    for task_id in ids:
        row = task_row(factory, task_id)
        assert (row.state, row.attempts, row.result) == ("succeeded", 1, row.result)
        assert row.result is not None and row.result["emitted"] == 2
        (owner,) = owners(factory, task_id)
        assert int(owner.split(":")[1]) in worker_pids
    # invalid arguments fail at once, without a retry
    row = task_row(factory, bad)
    assert (row.state, row.attempts) == ("failed", 1)
    assert "'count' must be an integer" in (row.error or "")

    sup.stop(timeout=5)
    assert sup.pids == []
    for pid in worker_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"


def test_timeout_ends_the_worker_and_the_supervisor_restarts_it(
    factory: Factory, supervisor_factory: Callable[..., Supervisor]
) -> None:
    sup = supervisor_factory(workers=1)
    stuck = add_task(factory, args={"count": 1000, "rate": 2.0}, timeout_seconds=1, max_attempts=1)
    wait_for(lambda: task_row(factory, stuck).state == "failed", what="the task to time out")
    row = task_row(factory, stuck)
    assert "longer than its timeout of 1 s" in (row.error or "")
    (first_owner,) = owners(factory, stuck)
    first_pid = int(first_owner.split(":")[1])

    wait_for(lambda: sup.restarts >= 1, what="the supervisor to restart the worker")
    after = add_task(factory, args={"count": 1, "rate": 100.0})
    wait_for(lambda: task_row(factory, after).state == "succeeded", what="the next task")
    (second_owner,) = owners(factory, after)
    assert int(second_owner.split(":")[1]) != first_pid
    assert first_pid not in sup.pids


@pytest.mark.parametrize("recycle_mb", [0, 1])
def test_a_worker_that_outgrew_its_limit_is_replaced_at_once(
    factory: Factory, supervisor_factory: Callable[..., Supervisor], recycle_mb: int
) -> None:
    """Any worker holds more than 1 MiB: with that limit each task ends its worker and a fresh
    one (no back-off, it is no failure) runs the next; with 0 one worker runs both."""
    sup = supervisor_factory(workers=1, recycle_rss_mb=recycle_mb, restart_delay=20.0)
    first = add_task(factory, args={"count": 1, "rate": 100.0})
    wait_for(lambda: task_row(factory, first).state == "succeeded", what="the first task")
    second = add_task(factory, args={"count": 1, "rate": 100.0})
    wait_for(lambda: task_row(factory, second).state == "succeeded", what="the second task")
    (first_owner,) = owners(factory, first)
    (second_owner,) = owners(factory, second)
    if recycle_mb:
        assert first_owner.split(":")[1] != second_owner.split(":")[1]
        wait_for(lambda: sup.recycled >= 2, what="the second recycle")
        assert sup.restarts == sup.recycled
    else:
        assert first_owner == second_owner
        assert (sup.restarts, sup.recycled) == (0, 0)


def test_a_retried_tasks_log_lines_say_which_attempt_they_belong_to(
    factory: Factory, supervisor_factory: Callable[..., Supervisor]
) -> None:
    """The first attempt times out after a few lines; the retry logs the same lines again.
    Each line carries its attempt, so a client tells the retry from a duplicate."""
    supervisor_factory(workers=1)
    task = add_task(factory, args={"count": 50, "rate": 4.0}, timeout_seconds=1, max_attempts=2)
    wait_for(lambda: task_row(factory, task).state == "failed", timeout=60, what="both attempts")
    lines = [e.data for e in task_events(factory, task) if e.kind == "task.log"]
    attempts = [line["attempt"] for line in lines]
    assert set(attempts) == {1, 2} and attempts == sorted(attempts)
    seqs = [line["seq"] for line in lines]
    assert len(seqs) > len(set(seqs))  # the retry sent lines with the same seq again...
    assert len({(line["seq"], line["attempt"]) for line in lines}) == len(lines)  # ...but told


def test_stopping_hands_a_running_task_back(
    factory: Factory, supervisor_factory: Callable[..., Supervisor]
) -> None:
    sup = supervisor_factory(workers=1)
    slow = add_task(factory, args={"count": 100, "rate": 5.0})

    def logging_started() -> bool:
        return any(e.kind == "task.log" for e in task_events(factory, slow))

    wait_for(logging_started, what="the task to start")
    sup.stop(timeout=10)
    row = task_row(factory, slow)
    assert (row.state, row.attempts, row.lease_owner) == ("queued", 0, None)
    retry = [e.data for e in task_events(factory, slow) if e.kind == "task.retry"]
    assert retry and retry[-1]["reason"] == "released"


def start_workers_only(tmp_path: Path) -> tuple[subprocess.Popen[bytes], Path]:
    """``python -m agent.engine.supervisor`` with one worker, in its own process group."""
    log = tmp_path / "supervisor.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent.engine.supervisor",
                "--data-dir",
                str(tmp_path),
                "--workers",
                "1",
                "--poll-interval",
                "0.05",
                "--lease-seconds",
                "0.6",
                "--no-migrate",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc, log


def test_worker_exits_when_the_agent_process_dies(tmp_path: Path, factory: Factory) -> None:
    proc, log = start_workers_only(tmp_path)
    try:
        wait_for(lambda: "worker ready" in log.read_text(), what="the worker to start")
        slow = add_task(factory, args={"count": 100, "rate": 5.0})
        wait_for(lambda: task_row(factory, slow).state == "running", what="the task to start")
        (owner,) = owners(factory, slow)
        worker = psutil.Process(int(owner.split(":")[1]))
        assert worker.ppid() == proc.pid
        os.kill(proc.pid, signal.SIGKILL)  # the agent only, not its process group
        proc.wait(10)

        def worker_gone() -> bool:
            try:
                return worker.status() == psutil.STATUS_ZOMBIE
            except psutil.NoSuchProcess:
                return True

        wait_for(worker_gone, timeout=15, what="the orphaned worker to exit")
        row = task_row(factory, slow)
        assert (row.state, row.attempts) == ("queued", 0)  # handed back, not left to expire
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    with factory() as session:
        reasons = session.scalars(
            select(models.Event.data).where(models.Event.kind == "task.retry")
        ).all()
    assert [r["reason"] for r in reasons] == ["released"]
    assert "agent process died" in reasons[0]["error"]
    assert TaskType.DIAGNOSTIC_EMIT.value == task_row(factory, slow).type


def test_ctrl_c_stops_the_workers_only_agent_cleanly(tmp_path: Path, factory: Factory) -> None:
    proc, log = start_workers_only(tmp_path)
    try:
        wait_for(lambda: "worker ready" in log.read_text(), what="the worker to start")
        slow = add_task(factory, args={"count": 100, "rate": 5.0})
        wait_for(lambda: task_row(factory, slow).state == "running", what="the task to start")
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole group
        assert proc.wait(20) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    row = task_row(factory, slow)
    assert (row.state, row.attempts) == ("queued", 0)
    retry = [e.data for e in task_events(factory, slow) if e.kind == "task.retry"]
    assert [r["error"] for r in retry] == ["the worker was stopped"]
    assert "restarting" not in log.read_text()


def test_a_cancelled_task_ends_its_worker_at_the_next_heartbeat(
    factory: Factory, supervisor_factory: Callable[..., Supervisor]
) -> None:
    sup = supervisor_factory(workers=1, lease_seconds=0.6)
    slow = add_task(factory, args={"count": 100, "rate": 5.0})
    wait_for(lambda: task_row(factory, slow).state == "running", what="the task to start")
    (owner,) = owners(factory, slow)
    with transaction(factory) as session:
        session.execute(update(models.Task).where(models.Task.id == slow).values(state="cancelled"))
    wait_for(lambda: sup.restarts >= 1, what="the worker to stop and be replaced")
    assert int(owner.split(":")[1]) not in sup.pids
    row = task_row(factory, slow)
    assert (row.state, row.result) == ("cancelled", None)
    logged = len([e for e in task_events(factory, slow) if e.kind == "task.log"])
    time.sleep(0.5)  # the old handler thread died with its process: no more lines
    assert len([e for e in task_events(factory, slow) if e.kind == "task.log"]) == logged


def test_a_worker_whose_agent_died_while_it_started_exits(tmp_path: Path, factory: Factory) -> None:
    """The agent killed between spawning a worker and the worker's first look at its parent:
    the worker was already adopted by the reaper, so the parent it compares with is the one
    the supervisor named, not its parent at start."""
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(10)  # a pid that is nobody's parent now
    config = WorkerConfig(database_url=sqlite_url(tmp_path), data_dir=tmp_path, parent_pid=gone.pid)
    assert Worker(config, factory=factory).run() == EXIT_PARENT_GONE
