"""An open websocket does not outlive its credentials."""

from __future__ import annotations

import asyncio

import pytest

from tests.integration.test_ws import command, expect_close, hello, recv, send
from tests.support.agent import AgentFactory, AgentProcess

pytestmark = pytest.mark.integration


def _new_token(agent: AgentProcess) -> tuple[int, str]:
    with agent.client(agent.committer_token) as http:
        created = http.post("/tokens", json={"role": "committer", "label": "ws"}).json()
    return created["info"]["id"], created["token"]


def _revoke(agent: AgentProcess, token_id: int, token: str) -> None:
    with agent.client(token) as http:
        assert http.delete(f"/tokens/{token_id}").status_code == 200


async def test_a_command_after_revocation_is_refused_and_the_connection_closed(
    agent: AgentProcess,
) -> None:
    token_id, token = _new_token(agent)
    ws = await hello(agent, token)
    ok = await command(ws, "list_projects")
    assert ok["ok"] is True
    _revoke(agent, token_id, token)
    await send(ws, {"kind": "command", "id": "after", "name": "list_projects", "args": {}})
    frame = await recv(ws)
    assert frame["kind"] == "error"
    assert frame["error"]["code"] == "unauthenticated"
    assert "revoked" in frame["error"]["message"]
    assert await expect_close(ws) == 4001


async def test_a_subscribed_stream_is_closed_once_its_token_is_revoked(
    agent_factory: AgentFactory,
) -> None:
    agent = agent_factory(workers=0, env={"ATR_WS_REVALIDATE_SECONDS": "0.5"})
    token_id, token = _new_token(agent)
    ws = await hello(agent, token)
    await send(ws, {"kind": "subscribe", "scope": {}, "since": None})
    assert (await recv(ws))["kind"] == "subscribed"
    _revoke(agent, token_id, token)
    frames = []
    async with asyncio.timeout(10):
        code = None
        while code is None:
            try:
                frames.append(await recv(ws))
            except Exception:
                code = ws.close_code
    assert code == 4001
    errors = [f for f in frames if f["kind"] == "error"]
    assert errors and errors[-1]["error"]["code"] == "unauthenticated"
