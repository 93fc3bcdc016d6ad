"""``/metrics`` scraped by prometheus-client's own parser; the numbers move as work happens
(worker processes included: they are counted from the event log)."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from shared.protocol import PROTOCOL_VERSION
from tests.integration.vote_support import client, source_release, upload
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def scrape(agent) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{agent.url}/metrics", timeout=30).text
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def total(values, name: str, **labels: str) -> float:
    return sum(
        v
        for (n, ls), v in values.items()
        if n == name and all(dict(ls).get(k) == want for k, want in labels.items())
    )


def test_metrics_move_as_work_happens(agent_factory, tmp_path):
    agent = agent_factory(workers=1)
    before = scrape(agent)
    assert all(name.startswith("atr_") for name, _ in before)
    assert total(before, "atr_tasks_finished_total") == 0
    with client(agent, agent.committer_token) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "1.0.0"}).status_code == 201
    files = source_release(tmp_path / "r", "1.0.0", sign=agent.committer.key.sign)
    upload(agent, agent.committer_token, "1.0.0", files)  # its checks run in the worker
    deadline = time.monotonic() + 120
    while True:
        after = scrape(agent)
        queued = total(after, "atr_queue_tasks", state="queued") + total(
            after, "atr_queue_tasks", state="running"
        )
        if total(after, "atr_tasks_finished_total", type="check") > 0 and queued == 0:
            break
        assert time.monotonic() < deadline, "the checks did not finish"
        time.sleep(0.5)
    checks = total(after, "atr_tasks_finished_total", type="check", outcome="succeeded")
    assert checks >= 5
    assert total(after, "atr_task_duration_seconds_count", type="check") == checks
    assert total(after, "atr_queue_wait_seconds_count", type="check") >= checks
    assert total(after, "atr_events_total", kind="revision.created") == 1
    assert total(after, "atr_events_total", kind="check.finished") >= checks
    assert total(
        after, "atr_http_requests_total", route="/api/v1/uploads", method="POST", status="201"
    ) == len(files)
    assert total(after, "atr_http_request_duration_seconds_count", route="/api/v1/uploads") == len(
        files
    )
    # the numbers only grow, and the requests of the scrapes themselves are counted too
    later = scrape(agent)
    assert total(later, "atr_http_requests_total", route="/metrics") > total(
        after, "atr_http_requests_total", route="/metrics"
    )
    assert total(later, "atr_events_total") >= total(after, "atr_events_total")


def test_websocket_clients_are_counted(agent_factory):
    agent = agent_factory(workers=0)
    assert total(scrape(agent), "atr_websocket_clients") == 0
    with connect(agent.ws_url) as ws:
        ws.send(
            json.dumps({"kind": "hello", "protocol": PROTOCOL_VERSION, "token": agent.admin_token})
        )
        assert json.loads(ws.recv(timeout=30))["kind"] == "welcome"
        ws.send(json.dumps({"kind": "subscribe", "scope": {}, "since": None}))
        assert json.loads(ws.recv(timeout=30))["kind"] == "subscribed"
        values = scrape(agent)
        assert total(values, "atr_websocket_clients") == 1
        assert total(values, "atr_websocket_lag_events", which="max") >= 0
    deadline = time.monotonic() + 30
    while total(scrape(agent), "atr_websocket_clients") != 0:
        assert time.monotonic() < deadline, "the closed client is still counted"
        time.sleep(0.2)


def test_metrics_can_need_an_admin(agent_factory):
    agent = agent_factory(workers=0, config={"metrics_public": False})
    assert httpx.get(f"{agent.url}/metrics").status_code == 401
    r = httpx.get(
        f"{agent.url}/metrics", headers={"Authorization": f"Bearer {agent.committer_token}"}
    )
    assert r.status_code == 403
    r = httpx.get(f"{agent.url}/metrics", headers={"Authorization": f"Bearer {agent.admin_token}"})
    assert r.status_code == 200 and "atr_queue_tasks" in r.text
