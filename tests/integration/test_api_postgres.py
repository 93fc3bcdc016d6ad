"""The agent on PostgreSQL: seeded through the CLI, REST writes, a task, login, the event stream."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect

from shared.challenge import parse_challenge
from shared.protocol import PROTOCOL_VERSION
from tests.support.agent import AgentFactory
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_agent_on_postgresql(agent_factory: AgentFactory,
                                   postgres_server: PostgresServer) -> None:  # fmt: skip
    url = postgres_server.create_database()
    agent = agent_factory(database_url=url, workers=1)
    assert not agent.db_path.exists()
    with agent.client(agent.committer_token) as c:
        assert c.get("/users/me").json()["name"] == "bob"
        base = f"/projects/{agent.project}/releases/1.0.0"
        assert c.post(f"/projects/{agent.project}/releases", json={"version": "1.0.0"}).is_success
        blob = c.post("/uploads", content=b"postgres\n").json()
        r = c.post(f"{base}/revisions", json={"files": {"README": blob["sha256"]}})
        assert r.status_code == 201, r.text
        task = c.post(
            "/tasks", json={"type": "inventory", "project": agent.project, "version": "1.0.0"}
        ).json()
        deadline = time.monotonic() + 60
        while c.get(f"/tasks/{task['id']}").json()["state"] != "succeeded":
            assert time.monotonic() < deadline, "the task did not finish"
            time.sleep(0.1)
        r = c.post(f"{base}/transition", json={"to": "vote"})
        assert r.status_code == 409 and r.json()["code"] == "invalid_transition"
        since = c.get("/events", params={"since": 0, "limit": 1}).json()["next_since"]
    with agent.client() as anonymous:
        ch = anonymous.post("/auth/challenge", json={"user": "alice"}).json()
        login = anonymous.post(
            "/auth/login",
            json={
                "challenge_id": ch["challenge_id"],
                "signature": agent.pmc.key.sign_challenge(parse_challenge(ch["challenge"])),
            },
        )
        assert login.status_code == 200, login.text
        replay = anonymous.post(
            "/auth/login",
            json={
                "challenge_id": ch["challenge_id"],
                "signature": agent.pmc.key.sign_challenge(parse_challenge(ch["challenge"])),
            },
        )
        assert replay.status_code == 401 and "already used" in replay.json()["message"]
    asyncio.run(_stream(agent.ws_url, agent.project, login.json()["token"], since))


async def _stream(ws_url: str, project: str, token: str, since: int) -> None:
    async with connect(ws_url) as ws:
        await ws.send(json.dumps({"kind": "hello", "protocol": PROTOCOL_VERSION,
                                  "token": token}))  # fmt: skip
        assert json.loads(await ws.recv())["kind"] == "welcome"
        scope = {"project": project, "version": "1.0.0"}
        await ws.send(json.dumps({"kind": "subscribe", "scope": scope, "since": since}))
        assert json.loads(await ws.recv())["kind"] == "subscribed"
        kinds: list[str] = []
        while "task.finished" not in kinds:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            kinds += [e["kind"] for e in frame.get("events", [frame.get("event")]) if e]
        assert kinds[:3] == ["release.created", "revision.created", "task.queued"]
        await ws.send(json.dumps({"kind": "command", "id": "1", "name": "transition",
                                  "args": {**scope, "to": "checks"}}))  # fmt: skip
        while True:
            frame = json.loads(await asyncio.wait_for(ws.recv(), 10))
            if frame["kind"] == "result":
                break
            assert frame["kind"] in ("event", "events")
        assert frame["ok"] and frame["data"]["phase"] == "checks"
