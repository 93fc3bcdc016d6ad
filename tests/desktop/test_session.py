"""The session against a real agent: login by signature, releases, uploads, tasks, live events."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from desktop.errors import WrongPassphrase
from desktop.session import CONNECTED, DISCONNECTED, RECONNECTING, Session
from desktop.viewmodels.upload import UploadViewModel
from shared.client import AgentClient
from shared.errors import ApiError
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, TaskState, TaskType
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, Recorder, keystore_for
from tests.desktop.proxy import TcpProxy
from tests.support.agent import AgentFactory, AgentProcess

PROJECT = "acme-lib"


def _files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    big = folder / "acme-lib-1.0.0-src.tar.gz"
    big.write_bytes(os.urandom(3 * 1024 * 1024 + 12345))  # several 1 MiB chunks
    small = folder / "README.txt"
    small.write_text("Acme Library release notes\n")
    return [big, small]


def _login(qloop: QtLoop, agent: AgentProcess, home: Path, *, user: str = "pmc") -> Session:
    seeded = getattr(agent, user)
    keystore, fingerprint = keystore_for(seeded, home)
    session = Session(keystore)
    logged_in = qloop.run(session.login(agent.url, seeded.name, fingerprint, passphrase=PASSPHRASE))
    assert logged_in.name == seeded.name
    return session


def _prepare_release(qloop: QtLoop, session: Session, version: str, folder: Path) -> None:
    qloop.run(session.create_release(PROJECT, version))
    qloop.run(session.upload(PROJECT, version, _files(folder)))


def test_login_release_upload_inventory(agent: AgentProcess, qloop: QtLoop, tmp_path: Path) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    rec = Recorder(session)

    user = qloop.run(session.login(agent.url, "alice", fingerprint, passphrase=PASSPHRASE))
    assert user.name == "alice" and session.user == user
    assert session.url == agent.url
    qloop.wait_until(lambda: session.state == CONNECTED, what="the stream to connect")
    assert rec.states[:2] == ["connecting", "connected"]
    qloop.wait_until(lambda: bool(rec.projects), what="projects")
    assert {p.key for p in rec.projects[-1]} == {"acme-lib", "globex-app"}

    release = qloop.run(session.create_release(PROJECT, "1.0.0"))
    assert release.phase is Phase.COMPOSE and rec.release[-1] == release
    # the release.created event makes the session reload the project's releases
    qloop.wait_until(
        lambda: any(p == PROJECT and "1.0.0" in {r.version for r in rs} for p, rs in rec.releases),
        what="the releases of acme-lib to include 1.0.0",
    )

    session.select_release(PROJECT, "1.0.0")
    files = _files(tmp_path / "dist")
    revision = qloop.run(session.upload(PROJECT, "1.0.0", files, message="rc1"))

    assert sorted(f.path for f in revision.files) == sorted(p.name for p in files)
    for path in files:
        reported = [(s, t) for n, s, t in rec.progress if n == path.name]
        size = path.stat().st_size
        assert reported[-1] == (size, size), f"progress of {path.name} did not reach 100%"
        sent = [s for s, _ in reported]
        assert sent == sorted(sent)
        stored = next(f for f in revision.files if f.path == path.name)
        assert stored.sha512 == hashlib.sha512(path.read_bytes()).hexdigest()
    assert len([1 for n, _, _ in rec.progress if n == files[0].name]) >= 4
    assert rec.uploads == [revision]
    qloop.wait_until(
        lambda: any(rs and rs[-1].number == revision.number for _, _, rs in rec.revisions),
        what="the revisions of 1.0.0 to be reloaded",
    )

    task = qloop.run(session.start_inventory(PROJECT, "1.0.0"))
    assert task.type is TaskType.INVENTORY
    qloop.wait_until(lambda: rec.finished(task.id), what="the inventory to finish")
    qloop.wait_until(
        lambda: any(t.id == task.id and t.state is TaskState.SUCCEEDED for t in rec.task),
        what="the finished task to be reloaded",
    )
    assert rec.task_events(task.id, EventKind.TASK_LOG), "no log line of the worker arrived"
    kinds = [e.kind for e in rec.task_events(task.id)]
    assert kinds.index(EventKind.TASK_QUEUED) < kinds.index(EventKind.TASK_STARTED)
    assert kinds[-1] is EventKind.TASK_FINISHED

    moved = qloop.run(session.transition(PROJECT, "1.0.0", Phase.CHECKS, reason="ready"))
    assert moved.phase is Phase.CHECKS
    qloop.wait_until(
        lambda: any(e.kind is EventKind.PHASE_CHANGED and e.version == "1.0.0" for e in rec.events),
        what="the phase change event",
    )
    ids = [e.id for e in rec.events]
    assert ids == sorted(set(ids)), "events arrived twice or out of order"
    assert rec.errors == []

    qloop.run(session.aclose())
    assert session.state == DISCONNECTED


def test_failures_are_clear(agent: AgentProcess, qloop: QtLoop, tmp_path: Path) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    rec = Recorder(session)

    with pytest.raises(WrongPassphrase):
        qloop.run(session.login(agent.url, "alice", fingerprint, passphrase="not it"))
    assert session.state == DISCONNECTED and session.user is None
    # alice's key does not belong to bob: the agent refuses the signature
    with pytest.raises(ApiError) as raised:
        qloop.run(session.login(agent.url, "bob", fingerprint, passphrase=PASSPHRASE))
    assert raised.value.status == 401
    assert rec.errors == []  # login failures are for the login dialog, not the error signal

    qloop.run(session.login(agent.url, "alice", fingerprint, passphrase=PASSPHRASE))
    qloop.run(session.create_release(PROJECT, "0.9.0"))
    with pytest.raises(ApiError) as conflict:
        qloop.run(session.create_release(PROJECT, "0.9.0"))
    assert conflict.value.status == 409
    qloop.wait_until(lambda: bool(rec.errors), what="the error signal")
    assert "0.9.0" in rec.errors[-1]
    qloop.run(session.aclose())


def test_a_worker_log_line_reaches_two_sessions(
    agent: AgentProcess, qloop: QtLoop, tmp_path: Path
) -> None:
    first = _login(qloop, agent, tmp_path / "alice", user="pmc")
    second = _login(qloop, agent, tmp_path / "bob", user="committer")
    rec_first, rec_second = Recorder(first), Recorder(second)
    for session in (first, second):
        qloop.wait_until(lambda s=session: s.state == CONNECTED, what="both streams")

    _prepare_release(qloop, second, "2.0.0", tmp_path / "dist")
    task = qloop.run(
        second.start_task(
            PROJECT, "2.0.0", TaskType.DIAGNOSTIC_EMIT, args={"count": 25, "rate": 200}
        )
    )
    for rec in (rec_first, rec_second):
        qloop.wait_until(lambda r=rec: r.finished(task.id), what="the task to finish")
        lines = rec.task_events(task.id, EventKind.TASK_LOG)
        assert len(lines) == 25
        assert [e.id for e in lines] == sorted({e.id for e in lines})
    assert [e.id for e in rec_first.task_events(task.id)] == [
        e.id for e in rec_second.task_events(task.id)
    ]
    qloop.run(first.aclose())
    qloop.run(second.aclose())


def test_cancelled_upload_makes_no_revision(
    agent: AgentProcess, qloop: QtLoop, tmp_path: Path
) -> None:
    session = _login(qloop, agent, tmp_path / "home", user="committer")
    qloop.run(session.create_release(PROJECT, "4.0.0"))
    big = tmp_path / "acme-lib-4.0.0-bin.tar.gz"
    big.write_bytes(os.urandom(12 * 1024 * 1024))
    upload = UploadViewModel(session, project=PROJECT, version="4.0.0")
    assert upload.add_files([big, tmp_path / "missing.txt"]) == [
        f"cannot read {tmp_path / 'missing.txt'}: No such file or directory"
    ]
    outcome: list[str] = []
    upload.cancelled.connect(lambda: outcome.append("cancelled"))
    upload.finished.connect(lambda _r: outcome.append("finished"))
    cancel_once = [True]

    def cancel_after_first_chunk(_row: int, sent: int, _total: int) -> None:
        if sent > 0 and cancel_once:
            cancel_once.clear()
            upload.cancel()

    upload.file_progress.connect(cancel_after_first_chunk)

    task = upload.start()
    qloop.wait_until(lambda: bool(outcome), what="the upload to end")
    assert outcome == ["cancelled"] and task.cancelled() and not upload.running
    assert 0 < upload.sent < upload.total
    assert qloop.run(_revisions(agent, "4.0.0")) == []

    # the same files upload fine afterwards
    revision = qloop.run(upload.start())
    assert [f.path for f in revision.files] == [big.name] and outcome[-1] == "finished"
    qloop.run(session.aclose())


async def _revisions(agent: AgentProcess, version: str) -> list[int]:
    async with AgentClient(agent.url, token=agent.admin_token) as client:
        return [r.number for r in await client.list_revisions(PROJECT, version)]


async def _agent_events(agent: AgentProcess, since: int, until: int) -> list[Event]:
    events: list[Event] = []
    async with AgentClient(agent.url, token=agent.admin_token) as client:
        while True:
            page = await client.events(since=since, limit=500)
            events.extend(e for e in page.events if e.id <= until)
            if not page.events or page.events[-1].id >= until:
                return events
            since = page.next_since


def test_dropped_connection_resumes_without_gap_or_duplicate(
    agent_factory: AgentFactory, qloop: QtLoop, tmp_path: Path
) -> None:
    with TcpProxy("127.0.0.1", 0) as proxy:
        # the agent knows the address it is reached at (its login challenges name it)
        agent = agent_factory(env={"ATR_PUBLIC_URL": proxy.url})
        proxy.target = ("127.0.0.1", agent.port)
        keystore, fingerprint = keystore_for(agent.committer, tmp_path / "home")
        session = Session(keystore)
        rec = Recorder(session)
        qloop.run(session.login(proxy.url, "bob", fingerprint, passphrase=PASSPHRASE))
        qloop.wait_until(lambda: session.state == CONNECTED, what="the stream")
        _prepare_release(qloop, session, "3.0.0", tmp_path / "dist")
        task = qloop.run(
            session.start_task(
                PROJECT, "3.0.0", TaskType.DIAGNOSTIC_EMIT, args={"count": 300, "rate": 100}
            )
        )
        qloop.wait_until(
            lambda: len(rec.task_events(task.id, EventKind.TASK_LOG)) >= 40,
            what="the first log lines",
        )
        proxy.refuse(True)
        assert proxy.drop_all() >= 1
        qloop.wait_until(lambda: session.state == RECONNECTING, what="the session to notice")
        seen_while_down = len(rec.task_events(task.id, EventKind.TASK_LOG))
        qloop.run(asyncio.sleep(0.6))  # the worker goes on logging meanwhile
        proxy.refuse(False)
        qloop.wait_until(lambda: rec.finished(task.id), timeout=60, what="the task to finish")
        assert session.state == CONNECTED
        assert rec.states.count(RECONNECTING) >= 1
        assert seen_while_down < 300

        lines = rec.task_events(task.id, EventKind.TASK_LOG)
        assert len(lines) == 300
        assert len({e.data["message"] for e in lines}) == 300
        received = [e.id for e in rec.events]
        expected = qloop.run(_agent_events(agent, received[0] - 1, received[-1]))
        assert received == [e.id for e in expected], "a gap or a duplicate in the live events"
        assert session.duplicates_dropped == 0
        qloop.run(session.aclose())
