"""Closing a session whose event stream is behind ends at once (against a real agent).

The packaging smoke test saw ``Session.aclose`` wait more than 10 s in ``Jobs.close``
about one run in fifteen: the stream job, cancelled, closes its websocket; frames the
desktop had not read yet (a burst while the GUI was busy) had filled websockets' buffer,
which then stops reading TCP, so the agent's answer to the close frame was never read
and the close waited for websockets' 10 s close timeout. The race is made certain here:
the stream may hold only one event for the desktop (``max_pending=1``) and the GUI is
slow with each event, while a task floods the stream with log lines.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from desktop.session import Session
from shared.client import AgentClient, EventStream
from shared.protocol import Event, EventKind, Scope, TaskType
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess

PROJECT = "acme-lib"


class _BackedUpClient(AgentClient):
    """An agent client whose streams let one event wait for the consumer."""

    def stream(
        self,
        scope: Scope = Scope(),
        *,
        since: int | None = None,
        on_state: Callable[[str], None] | None = None,
        max_pending: int = 1,
    ) -> EventStream:
        return super().stream(scope, since=since, on_state=on_state, max_pending=1)


def test_aclose_with_a_stream_behind_a_burst_ends_promptly(
    agent: AgentProcess, qloop: QtLoop, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore, client_factory=_BackedUpClient)
    qloop.run(session.login(agent.url, agent.pmc.name, fingerprint, passphrase=PASSPHRASE))
    version = "9.0.1"
    qloop.run(session.create_release(PROJECT, version))
    logs: list[Event] = []

    def busy_gui(event: Event) -> None:  # every event costs the GUI 20 ms
        if event.kind is EventKind.TASK_LOG:
            logs.append(event)
            time.sleep(0.02)

    session.event_received.connect(busy_gui)
    client = session._need_client()
    qloop.run(client.upload_files(PROJECT, version, [_file(tmp_path)]))
    task = qloop.run(
        session.start_task(
            PROJECT, version, TaskType.DIAGNOSTIC_EMIT, args={"count": 4000, "rate": 2000}
        )
    )
    # 80 events take the GUI 1.6 s, while the agent sends some 40 frames a second: far more
    # frames than websockets buffers (16) are unread by then
    qloop.wait_until(lambda: len(logs) >= 80, what="the flood of log lines to reach the GUI")
    stream = next(iter(client._streams))
    assert stream.pending == 1  # the reader waits for the GUI: the burst piles up unread

    started = time.monotonic()
    qloop.run(session.aclose(), timeout=30)
    took = time.monotonic() - started
    assert took < 3.0, f"Session.aclose took {took:.1f} s"
    assert stream.state == "closed"
    assert len(logs) < 4000 and task.id > 0


def _file(folder: Path) -> Path:
    path = folder / "notes.txt"
    path.write_text("a file, so that the release has a revision to run a task on\n")
    return path
