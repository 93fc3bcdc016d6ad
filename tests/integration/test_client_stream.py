"""EventStream against a real agent: every event exactly once across dropped connections,
handshake refusals, and commands over the websocket."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.client import AgentClient
from shared.errors import ApiError
from shared.lifecycle import Phase
from shared.protocol import Event, EventKind, Scope, TaskType
from tests.support.agent import PROJECT, AgentProcess

pytestmark = pytest.mark.integration

LINES = 300


async def prepare_release(client: AgentClient, version: str, tmp_path: Path) -> None:
    artifact = tmp_path / f"{version}.txt"
    artifact.write_text(version)
    await client.create_release(PROJECT, version)
    await client.upload_files(PROJECT, version, [artifact])


async def all_events(client: AgentClient, *, since: int, scope: Scope) -> list[Event]:
    events: list[Event] = []
    while True:
        page = await client.events(
            since=since, limit=1000, project=scope.project, version=scope.version
        )
        events += page.events
        if not page.events:
            return events
        since = page.next_since


async def test_every_event_once_across_drops(agent: AgentProcess, tmp_path: Path):
    version = "3.0.0"
    states: list[str] = []
    async with AgentClient(agent.url, token=agent.committer_token, timeout=30) as client:
        await prepare_release(client, version, tmp_path)
        since = (await client.health()).last_event_id
        scope = Scope(project=PROJECT, version=version)
        stream = client.stream(scope, since=since, on_state=states.append)
        received: list[Event] = []
        async with stream:
            task = await client.start_task(
                PROJECT, version, TaskType.DIAGNOSTIC_EMIT, args={"count": LINES, "rate": 500}
            )
            drops = {60: "close", 180: "abort"}
            logged = 0

            async def consume() -> None:
                nonlocal logged
                async for event in stream:
                    received.append(event)
                    if event.kind == EventKind.TASK_LOG:
                        logged += 1
                        how = drops.pop(logged, None)
                        ws = stream._ws  # the test reaches in to break the connection
                        if how == "close" and ws is not None:
                            await ws.close()  # a clean close from this side
                        elif how == "abort" and ws is not None:
                            ws.transport.abort()  # as if the network went away
                    if event.kind == EventKind.TASK_FINISHED and event.task_id == task.id:
                        return

            await asyncio.wait_for(consume(), 120)
            assert stream.last_event_id == received[-1].id

        # Exactly the events the log holds for this release, in order, none twice.
        stored = await all_events(client, since=since, scope=scope)
    assert [e.id for e in received] == [e.id for e in stored]
    # (the revision's check tasks log too)
    seqs = [
        e.data["seq"] for e in received if e.kind == EventKind.TASK_LOG and e.task_id == task.id
    ]
    assert seqs == list(range(1, LINES + 1))
    assert not drops
    assert states.count("reconnecting") == 2
    assert states[:2] == ["connecting", "connected"]
    assert states[-1] == "closed"


async def test_only_new_events_without_since(agent: AgentProcess, tmp_path: Path):
    async with AgentClient(agent.url, token=agent.committer_token) as client:
        await client.create_release(PROJECT, "3.1.0")
        async with client.stream(Scope(project=PROJECT)) as stream:
            assert stream.welcome is not None
            assert stream.welcome.user.name == "bob"
            await client.create_release(PROJECT, "3.1.1")
            event = await asyncio.wait_for(stream.__anext__(), 30)
    assert (event.kind, event.version) == (EventKind.RELEASE_CREATED, "3.1.1")


async def test_wrong_token_is_refused_with_401(agent: AgentProcess):
    async with AgentClient(agent.url, token="atr_wrong") as client:
        states: list[str] = []
        with pytest.raises(ApiError) as caught:
            async with client.stream(on_state=states.append):
                pass
    assert caught.value.status == 401
    assert states == ["connecting", "closed"]


async def test_commands_over_the_stream(agent: AgentProcess):
    async with AgentClient(agent.url, token=agent.committer_token) as client:
        async with client.stream(Scope(project=PROJECT), since=None) as stream:
            data = await stream.command("create_release", {"project": PROJECT, "version": "3.2.0"})
            assert data["phase"] == Phase.COMPOSE
            with pytest.raises(ApiError) as caught:
                await stream.command(
                    "transition", {"project": PROJECT, "version": "3.2.0", "to": "compose"}
                )
            assert caught.value.status == 409
            with pytest.raises(ApiError) as unknown:
                await stream.command("launch_rocket", {})
            assert unknown.value.code == "invalid"
            # The command's own event comes through the same stream.
            event = await asyncio.wait_for(stream.__anext__(), 30)
            assert (event.kind, event.version) == (EventKind.RELEASE_CREATED, "3.2.0")


BOUND = 16
MANY = 400  # far more than BOUND


async def until(condition: Callable[[], bool], what: str) -> None:
    """Wait for ``condition`` (polling; the wait_for is a guard against a hang, not a measure)."""

    async def poll() -> None:
        while not condition():  # noqa: ASYNC110 - the stream has no event to say "queue full"
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(poll(), 120)
    except TimeoutError:
        pytest.fail(f"gave up waiting for {what}")


async def slow_consumer_run(
    agent: AgentProcess, tmp_path: Path, version: str, *, drop_while_full: bool
) -> tuple[list[Event], list[Event], list[str], int, int]:
    """Emit MANY log lines to a stream bounded at BOUND whose consumer sleeps between reads.

    Returns what the consumer got, what the log holds over the same ids, the stream's
    states, the most events ever seen pending at a read and the stream's high-water mark.
    """
    states: list[str] = []
    async with AgentClient(agent.url, token=agent.committer_token, timeout=30) as client:
        await prepare_release(client, version, tmp_path)
        since = (await client.health()).last_event_id
        scope = Scope(project=PROJECT, version=version)
        stream = client.stream(scope, since=since, on_state=states.append, max_pending=BOUND)
        received: list[Event] = []
        most_pending = 0
        async with stream:
            task = await client.start_task(
                PROJECT, version, TaskType.DIAGNOSTIC_EMIT, args={"count": MANY, "rate": 10_000}
            )
            # Nobody reads yet: the reader fills the queue to the bound and waits there.
            await until(lambda: stream.pending == BOUND, "a full queue")
            if drop_while_full:
                ws = stream._ws  # the test reaches in to break the connection
                assert ws is not None
                ws.transport.abort()  # as if the agent gave up on the slow client

            async def consume() -> None:
                nonlocal most_pending
                async for event in stream:
                    most_pending = max(most_pending, stream.pending)
                    received.append(event)
                    if event.kind == EventKind.TASK_FINISHED and event.task_id == task.id:
                        return
                    await asyncio.sleep(0.002)  # a slow consumer

            await asyncio.wait_for(consume(), 300)
            high_water = stream.pending_high_water
        stored = await all_events(client, since=since, scope=scope)
    # (the revision's check tasks log too; compare over the ids the consumer covered)
    stored = [e for e in stored if e.id <= received[-1].id]
    seqs = [
        e.data["seq"] for e in received if e.kind == EventKind.TASK_LOG and e.task_id == task.id
    ]
    assert seqs == list(range(1, MANY + 1))
    return received, stored, states, most_pending, high_water


async def test_a_slow_consumer_gets_every_event_once_with_a_bounded_queue(
    agent: AgentProcess, tmp_path: Path
):
    received, stored, states, most_pending, high_water = await slow_consumer_run(
        agent, tmp_path, "3.3.0", drop_while_full=False
    )
    assert [e.id for e in received] == [e.id for e in stored]
    assert most_pending <= BOUND
    assert high_water == BOUND  # the bound was reached, never passed
    assert "reconnecting" not in states  # the reader waited; nothing was dropped


async def test_a_connection_lost_while_the_queue_is_full_resumes_without_loss(
    agent: AgentProcess, tmp_path: Path
):
    received, stored, states, most_pending, high_water = await slow_consumer_run(
        agent, tmp_path, "3.4.0", drop_while_full=True
    )
    assert [e.id for e in received] == [e.id for e in stored]
    assert most_pending <= BOUND
    assert high_water == BOUND
    assert states.count("reconnecting") == 1
