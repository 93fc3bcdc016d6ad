"""``./dev run``'s demo goes all the way: ``atr-agent demo`` seeds, ``scripts/demo_release.py``
takes a release from upload to ``announced`` on the embedded defaults (SQLite, the file
outbox, the agent's own Subversion dist repository)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.agent import agent_command, free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_release_reaches_announced(tmp_path: Path) -> None:
    data = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    seeded = subprocess.run(
        [*agent_command(), "--data-dir", str(data), "demo"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr
    assert "demo-voter1" in seeded.stdout and (data / "agent.toml").is_file()
    port = free_port()
    agent = subprocess.Popen(
        [*agent_command(), "--data-dir", str(data), "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the demo agent did not start"
            time.sleep(0.2)
        walk = subprocess.run(
            [sys.executable, str(ROOT / "scripts" / "demo_release.py"), "--agent", url,
             "--data-dir", str(data)],
            capture_output=True, text=True, env=env, timeout=280, check=False,
        )  # fmt: skip
        assert walk.returncode == 0, walk.stdout + walk.stderr
        assert "demo-project 1.0.0 is announced" in walk.stdout
        page = httpx.get(f"{url}/projects/demo-project/downloads/", timeout=30)
        assert "apache-demo-project-1.0.0-src.tar.gz" in page.text
        mails = "".join(p.read_text() for p in (data / "outbox").glob("*.eml"))
        assert "[ANNOUNCE] Apache Demo Project 1.0.0 released" in mails
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)
