"""The websocket ``/api/v1/ws`` of a real agent: hello, errors, commands, replay and resume."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from shared.protocol import PROTOCOL_VERSION
from tests.support.agent import AgentProcess

pytestmark = pytest.mark.integration


async def send(ws: ClientConnection, frame: dict[str, Any]) -> None:
    await ws.send(json.dumps(frame))


async def recv(ws: ClientConnection, wait: float = 10) -> dict[str, Any]:
    return json.loads(await asyncio.wait_for(ws.recv(), wait))


async def hello(agent: AgentProcess, token: str) -> ClientConnection:
    ws = await connect(agent.ws_url, max_size=None)
    await send(ws, {"kind": "hello", "protocol": PROTOCOL_VERSION, "token": token})
    welcome = await recv(ws)
    assert welcome["kind"] == "welcome", welcome
    return ws


async def expect_close(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed):
        for _ in range(5):
            await recv(ws)
    return ws.close_code


async def command(ws: ClientConnection, name: str, **args: Any) -> dict[str, Any]:
    cid = uuid.uuid4().hex
    await send(ws, {"kind": "command", "id": cid, "name": name, "args": args})
    while True:
        frame = await recv(ws)
        if frame["kind"] == "result" and frame["id"] == cid:
            return frame


def events_of(frame: dict[str, Any]) -> list[dict[str, Any]]:
    if frame["kind"] == "event":
        return [frame["event"]]
    if frame["kind"] == "events":
        assert len(frame["events"]) > 1
        return frame["events"]
    return []


async def test_welcome(agent: AgentProcess) -> None:
    async with connect(agent.ws_url) as ws:
        await send(ws, {"kind": "hello", "protocol": PROTOCOL_VERSION, "token": agent.pmc_token})
        welcome = await recv(ws)
        assert welcome["kind"] == "welcome"
        assert welcome["user"]["name"] == "alice" and welcome["protocol"] == PROTOCOL_VERSION
        assert welcome["last_event_id"] > 0


async def test_bad_token_closes_4001(agent: AgentProcess) -> None:
    async with connect(agent.ws_url) as ws:
        await send(ws, {"kind": "hello", "protocol": PROTOCOL_VERSION, "token": "atr_nope"})
        error = await recv(ws)
        assert error["kind"] == "error" and error["error"]["code"] == "unauthenticated"
        assert await expect_close(ws) == 4001


async def test_protocol_mismatch_closes_4002(agent: AgentProcess) -> None:
    async with connect(agent.ws_url) as ws:
        await send(ws, {"kind": "hello", "protocol": 999, "token": agent.pmc_token})
        error = await recv(ws)
        assert error["error"]["code"] == "protocol_mismatch" and "999" in error["error"]["message"]
        assert await expect_close(ws) == 4002


async def test_first_frame_must_be_hello(agent: AgentProcess) -> None:
    async with connect(agent.ws_url) as ws:
        await send(ws, {"kind": "ping"})
        error = await recv(ws)
        assert error["kind"] == "error" and "hello" in error["error"]["message"]
        assert await expect_close(ws) == 4001


async def test_ping_and_bad_frames_keep_the_connection(agent: AgentProcess) -> None:
    ws = await hello(agent, agent.committer_token)
    try:
        await send(ws, {"kind": "ping", "nonce": "n1"})
        assert await recv(ws) == {"kind": "pong", "nonce": "n1"}
        for bad in ("not json", json.dumps({"kind": "dance"}), json.dumps({"no": "kind"})):
            await ws.send(bad)
            frame = await recv(ws)
            assert frame["kind"] == "error" and frame["error"]["code"] == "invalid", frame
        await send(ws, {"kind": "subscribe", "scope": {"project": "Not Valid"}})
        frame = await recv(ws)
        assert frame["kind"] == "error" and "project key" in frame["error"]["message"]
        await send(ws, {"kind": "hello", "protocol": PROTOCOL_VERSION, "token": "x"})
        assert (await recv(ws))["kind"] == "error"
        await send(ws, {"kind": "ping", "nonce": "n2"})
        assert await recv(ws) == {"kind": "pong", "nonce": "n2"}
    finally:
        await ws.close()


async def test_commands(agent: AgentProcess) -> None:
    version = f"3.0.{uuid.uuid4().int % 10**8}"
    project = agent.project
    ws = await hello(agent, agent.committer_token)
    try:
        made = await command(ws, "create_release", project=project, version=version)
        assert made["ok"] and made["data"]["phase"] == "compose", made
        again = await command(ws, "create_release", project=project, version=version)
        assert not again["ok"] and again["error"]["code"] == "conflict"
        got = await command(ws, "get_release", project=project, version=version)
        assert got["data"] == made["data"]
        listed = await command(ws, "list_releases", project=project)
        assert version in [r["version"] for r in listed["data"]]
        projects = await command(ws, "list_projects")
        assert {p["key"] for p in projects["data"]} >= {project, agent.other_project}
        bad = await command(ws, "transition", project=project, version=version, to="vote")
        assert not bad["ok"] and bad["error"]["code"] == "invalid_transition"
        no_task = await command(
            ws, "start_task", type="inventory", project=project, version=version
        )
        assert not no_task["ok"] and no_task["error"]["code"] == "conflict"
        async with httpx.AsyncClient(base_url=agent.api_url) as http:
            answer = await http.post(
                "/uploads",
                content=b"ws\n",
                headers={"Authorization": f"Bearer {agent.committer_token}"},
            )
            blob = answer.json()
        rev = await command(
            ws,
            "create_revision",
            project=project,
            version=version,
            files={"README": blob["sha256"]},
            message="from ws",
        )
        assert rev["ok"] and rev["data"]["number"] == 1 and rev["data"]["message"] == "from ws"
        task = await command(ws, "start_task", type="inventory", project=project, version=version)
        assert task["ok"] and task["data"]["state"] == "queued" and task["data"]["revision"] == 1
        moved = await command(ws, "transition", project=project, version=version, to="checks")
        assert moved["ok"] and moved["data"]["phase"] == "checks"
        denied = await command(ws, "transition", project=project, version=version, to="candidate")
        assert not denied["ok"] and denied["error"]["code"] == "forbidden"
        assert "'pmc'" in denied["error"]["message"]
        unknown = await command(ws, "explode")
        assert not unknown["ok"] and "create_release" in unknown["error"]["hint"]
        invalid = await command(ws, "get_release", project=project)
        assert not invalid["ok"] and invalid["error"]["code"] == "invalid"
        assert "version" in invalid["error"]["message"]
        extra = await command(ws, "list_projects", surprise=1)
        assert not extra["ok"] and extra["error"]["code"] == "invalid"
    finally:
        await ws.close()


async def test_replay_then_live(agent: AgentProcess) -> None:
    version = f"4.0.{uuid.uuid4().int % 10**8}"
    scope = {"project": agent.project, "version": version}
    with agent.client(agent.committer_token) as c:
        c.post(f"/projects/{agent.project}/releases", json={"version": version}).raise_for_status()
        c.post(
            f"/projects/{agent.project}/releases/{version}/transition", json={"to": "checks"}
        ).raise_for_status()
    ws = await hello(agent, agent.committer_token)
    try:
        await send(ws, {"kind": "subscribe", "scope": scope, "since": 0})
        subscribed = await recv(ws)
        assert subscribed["kind"] == "subscribed" and subscribed["scope"] == scope
        seen: list[dict[str, Any]] = []
        while len(seen) < 2:
            seen += events_of(await recv(ws))
        assert [e["kind"] for e in seen] == ["release.created", "release.phase_changed"]
        assert all(e["id"] <= subscribed["replay_until"] for e in seen)
        with agent.client(agent.committer_token) as c:
            c.post(
                f"/projects/{agent.project}/releases/{version}/transition", json={"to": "compose"}
            ).raise_for_status()
            # An event of another release is not in this scope.
            c.post(
                f"/projects/{agent.project}/releases", json={"version": version + "-other"}
            ).raise_for_status()
        live = events_of(await recv(ws))
        assert [e["data"].get("to") for e in live] == ["compose"]
        assert live[0]["id"] > subscribed["replay_until"]
        # A new subscription replaces the scope: only new events, none replayed.
        await send(ws, {"kind": "subscribe", "scope": {"project": agent.other_project}})
        assert (await recv(ws))["kind"] == "subscribed"
        await send(ws, {"kind": "ping", "nonce": "after"})
        assert await recv(ws) == {"kind": "pong", "nonce": "after"}
    finally:
        await ws.close()


def _churn(agent: AgentProcess, version: str, stop: threading.Event, count: list[int]) -> None:
    """Write events from the API process while the worker writes its own."""
    path = f"/projects/{agent.project}/releases/{version}/transition"
    with agent.client(agent.committer_token) as c:
        phase = "checks"
        while not stop.is_set():
            c.post(path, json={"to": phase}).raise_for_status()
            count[0] += 1
            phase = "compose" if phase == "checks" else "checks"


async def test_resume_across_reconnects_has_no_gap_and_no_duplicate(agent: AgentProcess) -> None:
    version = f"5.0.{uuid.uuid4().int % 10**8}"
    scope = {"project": agent.project, "version": version}
    total_logs = 3000
    with agent.client(agent.committer_token) as c:
        c.post(f"/projects/{agent.project}/releases", json={"version": version}).raise_for_status()
        blob = c.post("/uploads", content=b"x").json()
        c.post(
            f"/projects/{agent.project}/releases/{version}/revisions",
            json={"files": {"x": blob["sha256"]}},
        ).raise_for_status()
        task = c.post(
            "/tasks",
            json={
                "type": "diagnostic.emit",
                "project": agent.project,
                "version": version,
                "args": {"count": total_logs, "rate": 1500},
            },
        ).json()
    stop = threading.Event()
    churned = [0]
    writer = threading.Thread(target=_churn, args=(agent, version, stop, churned))
    writer.start()
    received: list[int] = []
    log_seqs: list[int] = []
    since = 0
    try:
        reconnects = 0
        while True:
            ws = await hello(agent, agent.committer_token)
            await send(ws, {"kind": "subscribe", "scope": scope, "since": since})
            assert (await recv(ws))["kind"] == "subscribed"
            taken = 0
            finished = False
            # Take a few hundred events, then drop the connection without a goodbye.
            while taken < 700 and not finished:
                for event in events_of(await recv(ws, wait=30)):
                    received.append(event["id"])
                    since = event["id"]
                    taken += 1
                    if event["kind"] == "task.log" and event["task_id"] == task["id"]:
                        log_seqs.append(event["data"].get("seq", -1))  # not check tasks' logs
                    if event["kind"] == "task.finished" and event["task_id"] == task["id"]:
                        finished = True
            ws.transport.abort()
            reconnects += 1
            if finished:
                break
            assert reconnects < 50, "the task did not finish"
    finally:
        stop.set()
        writer.join(30)
    assert reconnects >= 3 and churned[0] > 0
    # No duplicate, in order, and exactly what the database holds for the scope up to there.
    assert received == sorted(set(received))
    stored: list[int] = []
    with agent.client(agent.committer_token) as c:
        cursor = 0
        while True:
            page = c.get(
                "/events",
                params={"since": cursor, "limit": 1000, "project": agent.project,
                        "version": version},
            ).json()  # fmt: skip
            stored += [e["id"] for e in page["events"]]
            if not page["events"]:
                break
            cursor = page["next_since"]
    assert received == [i for i in stored if i <= received[-1]]
    assert log_seqs == list(range(1, total_logs + 1))


async def test_a_client_that_stops_reading_is_closed_too_slow(agent_factory) -> None:
    """``ws_max_pending_events`` bounds what the agent keeps for a client that does not read:
    past it the client gets ``too_slow`` and close 1013 (and resumes by reconnecting)."""
    agent = agent_factory(config={"ws_max_pending_events": 100})
    with agent.client(agent.committer_token) as c:
        r = c.post(f"/projects/{agent.project}/releases", json={"version": "9.0.0"})
        assert r.status_code == 201, r.text
        blob = c.post("/uploads", content=b"x", headers={"X-Atr-Filename": "README"}).json()
        r = c.post(
            f"/projects/{agent.project}/releases/9.0.0/revisions",
            json={"files": {"README": blob["sha256"]}},
        )
        assert r.status_code == 201, r.text
    ws = await connect(agent.ws_url, max_size=None, max_queue=1)
    try:
        token = agent.committer_token
        await send(ws, {"kind": "hello", "protocol": PROTOCOL_VERSION, "token": token})
        assert (await recv(ws))["kind"] == "welcome"
        await send(ws, {"kind": "subscribe", "scope": {"project": agent.project}})
        assert (await recv(ws))["kind"] == "subscribed"
        with agent.client(agent.committer_token) as c:
            r = c.post(
                "/tasks",
                json={
                    "type": "diagnostic.emit", "project": agent.project, "version": "9.0.0",
                    "args": {"count": 3000, "rate": 10000, "payload_bytes": 8192},
                },
            )  # fmt: skip
            assert r.status_code == 201, r.text
            task_id = r.json()["id"]
            # not reading until every line is out: the socket buffers fill, then the agent's
            # queue for this client (3,000 lines of 8 KiB are far more than both)
            for _ in range(600):
                if c.get(f"/tasks/{task_id}").json()["state"] == "succeeded":
                    break
                await asyncio.sleep(0.2)
        frames = []
        with pytest.raises(ConnectionClosed):
            while True:
                frames.append(await recv(ws, wait=30))
        assert ws.close_code == 1013
        assert frames[-1]["kind"] == "error" and frames[-1]["error"]["code"] == "too_slow"
        assert "100 events behind" in frames[-1]["error"]["message"]
    finally:
        await ws.close()
