"""EventStream against a real agent: every event exactly once across dropped connections,
handshake refusals, and commands over the websocket."""

from __future__ import annotations

import asyncio
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
