"""Two agents share one PostgreSQL queue: each task runs once; a killed agent loses nothing.

Each "agent" is a real ``python -m agent.engine.supervisor`` process (workers
only) in its own process group, with two worker processes.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import psutil
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from agent.db import models
from agent.db.session import make_engine, make_session_factory, migrate, transaction
from agent.engine import queue
from shared.protocol import TaskType
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

T = TypeVar("T")
Factory = sessionmaker[Session]
_READY = re.compile(r"worker ready: owner=(\S+)")


def wait_for(check: Callable[[], T], *, timeout: float, what: str) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.1)


class Agent:
    """A workers-only agent process (its own process group) and its log."""

    def __init__(self, name: str, url: str, base: Path, *, lease_seconds: float) -> None:
        self.name = name
        data_dir = base / name
        data_dir.mkdir()
        self.log = base / f"{name}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "agent.engine.supervisor",
                    "--database-url",
                    url,
                    "--data-dir",
                    str(data_dir),
                    "--workers",
                    "2",
                    "--lease-seconds",
                    str(lease_seconds),
                    "--poll-interval",
                    "0.05",
                    "--no-migrate",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def owners(self) -> set[str]:
        return set(_READY.findall(self.log.read_text(errors="replace")))

    def group(self) -> list[psutil.Process]:
        """The live processes of this agent's process group (the agent and its workers)."""
        members = []
        for process in psutil.process_iter(["pid"]):
            with contextlib.suppress(psutil.Error, OSError):
                if os.getpgid(process.pid) == self.proc.pid:
                    members.append(process)
        return members

    def kill(self) -> None:
        """SIGKILL the whole process group: the agent and its workers, no goodbye.

        Returns once every member is gone (or a zombie nobody has reaped yet):
        SIGKILL is delivered asynchronously, so a loaded machine may show a
        worker running for a moment after ``killpg`` returned.
        """
        members = self.group()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(15)
        _, alive = psutil.wait_procs(members, timeout=15)
        assert all(_dead(p) for p in alive), alive

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        finally:
            self.kill()


def _dead(process: psutil.Process) -> bool:
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> str:
    """A fresh, migrated database for each test, so its events are the test's only."""
    url = postgres_server.create_database()
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


@pytest.fixture
def database(database_url: str) -> Iterator[Factory]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def agents(tmp_path: Path, database_url: str) -> Iterator[Callable[..., Agent]]:
    started: list[Agent] = []
    url = database_url

    def start(name: str, *, lease_seconds: float) -> Agent:
        agent = Agent(name, url, tmp_path, lease_seconds=lease_seconds)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()


def _wait_ready(*agents: Agent) -> None:
    for agent in agents:
        wait_for(
            lambda a=agent: len(a.owners()) == 2,
            timeout=60,
            what=f"{agent.name}'s two workers (log: {agent.log.read_text()[-2000:]})",
        )


def _events(factory: Factory, kind: str) -> list[models.Event]:
    with factory() as session:
        return list(
            session.scalars(
                select(models.Event).where(models.Event.kind == kind).order_by(models.Event.id)
            )
        )


def _enqueue(factory: Factory, args: dict[str, object], **kwargs: int) -> int:
    with transaction(factory) as session:
        return queue.enqueue(
            session,
            TaskType.DIAGNOSTIC_EMIT,
            project="demo",
            version="1.0.0",
            revision=None,
            args=args,
            created_by="ci",
            **kwargs,
        ).id


def test_two_agents_run_each_task_exactly_once(
    database: Factory, agents: Callable[..., Agent]
) -> None:
    a, b = agents("agent-a", lease_seconds=10), agents("agent-b", lease_seconds=10)
    _wait_ready(a, b)
    rng = random.Random(20240601)
    counts = [rng.randint(1, 3) for _ in range(200)]
    with transaction(database) as session:
        ids = [
            queue.enqueue(
                session,
                TaskType.DIAGNOSTIC_EMIT,
                project="demo",
                version="1.0.0",
                revision=None,
                args={"count": n, "rate": 1000.0},
                created_by="ci",
            ).id
            for n in counts
        ]
    expected_logs = dict(zip(ids, counts, strict=True))

    def finished() -> bool:
        with database() as session:
            states = session.scalars(select(models.Task.state)).all()
        return all(s in ("succeeded", "failed") for s in states)

    wait_for(finished, timeout=180, what="200 tasks to finish")

    with database() as session:
        tasks = list(session.scalars(select(models.Task)))
    assert len(tasks) == 200
    assert {(t.state, t.attempts) for t in tasks} == {("succeeded", 1)}
    assert all(t.result is not None and t.result["emitted"] == expected_logs[t.id] for t in tasks)

    started = _events(database, "task.started")
    assert sorted(e.task_id for e in started) == sorted(ids)  # exactly one start per task
    assert _events(database, "task.retry") == []
    logs = Counter(e.task_id for e in _events(database, "task.log"))
    assert logs == Counter(expected_logs)
    finished_events = _events(database, "task.finished")
    assert sorted(e.task_id for e in finished_events) == sorted(ids)

    by_agent = Counter(
        "a" if e.data["owner"] in a.owners() else "b" if e.data["owner"] in b.owners() else "?"
        for e in started
    )
    assert by_agent["?"] == 0
    assert by_agent["a"] > 0 and by_agent["b"] > 0, by_agent
    assert a.stop() == 0
    assert b.stop() == 0


def test_a_killed_agents_task_is_reclaimed_by_the_other(
    database: Factory, agents: Callable[..., Agent]
) -> None:
    a, b = agents("agent-a", lease_seconds=4), agents("agent-b", lease_seconds=4)
    _wait_ready(a, b)
    task_id = _enqueue(database, {"count": 15, "rate": 5.0})

    def first_log() -> list[models.Event]:
        return [e for e in _events(database, "task.log") if e.task_id == task_id]

    wait_for(first_log, timeout=30, what="the long task to start logging")
    (first_start,) = _events(database, "task.started")
    first_owner = first_start.data["owner"]
    holder, other = (a, b) if first_owner in a.owners() else (b, a)
    assert first_owner in holder.owners()
    holder_pids = [int(o.split(":")[1]) for o in holder.owners()]

    assert {p.pid for p in holder.group()} >= set(holder_pids)
    holder.kill()
    for pid in holder_pids:
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == "zombie"

    def succeeded() -> bool:
        with database() as session:
            row = session.get(models.Task, task_id)
            return row is not None and row.state == "succeeded"

    wait_for(succeeded, timeout=60, what="the other agent to reclaim and finish the task")

    with database() as session:
        row = session.get(models.Task, task_id)
        assert row is not None
        assert (row.attempts, row.lease_owner) == (2, None)
        assert row.result is not None and row.result["emitted"] == 15
    starts = _events(database, "task.started")
    assert [s.data["attempt"] for s in starts] == [1, 2]
    assert starts[1].data["owner"] in other.owners()
    (retry,) = _events(database, "task.retry")
    assert retry.data["reason"] == "lease_expired"
    assert retry.data["previous_owner"] == first_owner
    assert (retry.project, retry.version, retry.task_id) == ("demo", "1.0.0", task_id)
    assert retry.id < starts[1].id
    assert other.stop() == 0
