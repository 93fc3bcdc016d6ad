"""The agent's temporary area after ``kill -9``, an aborted upload, and its bound."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from agent.config import ConfigError, load_settings
from tests.support.agent import AgentFactory, AgentProcess

pytestmark = pytest.mark.integration

MIB = 1024 * 1024


def _partial_upload(agent: AgentProcess, *, announced: int, sent: int) -> socket.socket:
    """A raw ``POST /uploads`` that announces ``announced`` bytes and sends ``sent`` of them
    (the connection stays open: the caller kills the agent or closes it)."""
    url = urlsplit(agent.url)
    conn = socket.create_connection((url.hostname, url.port), timeout=30)
    head = (
        "POST /api/v1/uploads HTTP/1.1\r\n"
        f"Host: {url.hostname}:{url.port}\r\n"
        f"Authorization: Bearer {agent.committer_token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        "X-Atr-Filename: apache-big-1.0-src.tar.gz\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    )
    conn.sendall(head.encode())
    block = b"\x00" * MIB
    left = sent
    while left:
        n = min(left, MIB)
        conn.sendall(block[:n])
        left -= n
    return conn


def _parts(data_dir: Path) -> list[Path]:
    return sorted((data_dir / "tmp").rglob("blob-*.part"))


def _wait_for(condition: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_what_kill_9_leaves_in_tmp_is_gone_after_a_restart(agent_factory: AgentFactory) -> None:
    agent = agent_factory(workers=1)
    conn = _partial_upload(agent, announced=40 * MIB, sent=8 * MIB)
    try:
        _wait_for(
            lambda: any(p.stat().st_size >= 4 * MIB for p in _parts(agent.data_dir)),
            "the upload's temporary file",
        )
        agent.kill()  # kill -9 mid-upload: the agent cannot clean up
    finally:
        conn.close()
    left = _parts(agent.data_dir)
    assert left, "the killed agent left its partial upload"
    stale_check = agent.data_dir / "tmp" / "check-leftover"  # as an older agent left them
    stale_check.mkdir()
    (stale_check / "apache-big-1.0-src.tar.gz").symlink_to("/etc/hostname")

    agent.start()

    assert _parts(agent.data_dir) == []
    assert not left[0].parent.exists()  # the killed API process's folder
    assert not stale_check.exists()
    assert "leftover(s) of stopped processes" in agent.log_text()
    # what stays: a folder of each live process (the new API, its worker), each locked
    for entry in (agent.data_dir / "tmp").iterdir():
        assert entry.name.startswith("p-"), entry
        if entry.is_dir():
            assert entry.with_name(entry.name + ".lock").exists()


def test_an_aborted_upload_logs_one_line_and_keeps_nothing(agent_factory: AgentFactory) -> None:
    agent = agent_factory(workers=0)
    conn = _partial_upload(agent, announced=20 * MIB, sent=3 * MIB)
    _wait_for(lambda: bool(_parts(agent.data_dir)), "the upload's temporary file")
    conn.close()  # the client goes away half-way
    _wait_for(lambda: "aborted by the client" in agent.log_text(), "the agent's log line")
    _wait_for(lambda: _parts(agent.data_dir) == [], "the partial file to go")

    log = agent.log_text()
    lines = [line for line in log.splitlines() if "aborted by the client" in line]
    assert len(lines) == 1, log
    assert "apache-big-1.0-src.tar.gz" in lines[0] and f"by {agent.committer.name}" in lines[0]
    assert "Traceback" not in log and "ClientDisconnect" not in log
    with agent.client(agent.committer_token) as c:  # the agent carries on
        assert c.post("/uploads", content=b"after").status_code == 201


def test_an_upload_that_does_not_fit_the_temporary_area_is_503(
    agent_factory: AgentFactory,
) -> None:
    agent = agent_factory(
        workers=0, env={"ATR_MAX_UPLOAD_BYTES": str(8 * MIB), "ATR_TMP_MAX_BYTES": str(10 * MIB)}
    )
    conn = _partial_upload(agent, announced=8 * MIB, sent=6 * MIB)  # one upload in progress
    try:
        _wait_for(
            lambda: any(p.stat().st_size >= 5 * MIB for p in _parts(agent.data_dir)),
            "the first upload's temporary file",
        )
        with agent.client(agent.committer_token) as c:
            refused = c.post("/uploads", content=b"y" * (5 * MIB))
            assert refused.status_code == 503, refused.text
            assert refused.json()["code"] == "unavailable"
            assert "temporary area is full" in refused.json()["message"]
            assert c.post("/uploads", content=b"y" * MIB).status_code == 201  # what fits
    finally:
        conn.close()


def test_a_tmp_bound_below_the_upload_limit_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_settings(
            data_dir=tmp_path,
            env={"ATR_MAX_UPLOAD_BYTES": "1000", "ATR_TMP_MAX_BYTES": "999"},
        )
    assert "'tmp_max_bytes'" in err.value.message
    assert "max_upload_bytes" in err.value.message
