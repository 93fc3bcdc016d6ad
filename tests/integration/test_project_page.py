"""The hosted project page (no credentials): the release practice as the agent knows it."""

from __future__ import annotations

import httpx
import pytest

from tests.integration.trigger_support import set_triggers
from tests.integration.vote_support import client
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def test_project_page_and_practice(agent_factory):
    agent = agent_factory(workers=0)
    set_triggers(
        agent,
        webhook_secret="a-webhook-secret-of-some-length",
        release_manager="bob",
        git_url="https://gitbox.apache.org/repos/asf/acme-lib.git",
    )
    with client(agent, agent.pmc_token) as c:
        r = c.put(
            f"/projects/{PROJECT}/distribution-settings",
            json={"manual_steps": ["Update the Homebrew formula"]},
        )
        assert r.status_code == 200, r.text
    with client(agent, agent.committer_token) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "0.1.0"}).is_success
        practice = c.get(f"/projects/{PROJECT}/practice").json()
    assert practice["manual_steps"] == ["Update the Homebrew formula"]
    assert any("gitbox.apache.org" in t for t in practice["triggers"])
    assert practice["in_progress"][0]["steps"][0]["kind"] == "upload"
    page = httpx.get(f"{agent.url}/projects/{PROJECT}/", timeout=30)
    assert page.status_code == 200, page.text
    assert "How Acme Library releases" in page.text
    assert "Manual: Update the Homebrew formula" in page.text
    assert "at least 72 hours" in page.text
    assert "Content-Security-Policy" in page.headers

    # a git_url on the agent host, an archive name that is no file name: refused, said why
    with client(agent, agent.pmc_token) as c:
        r = c.put(f"/projects/{PROJECT}/trigger-settings", json={"git_url": "/srv/git/other.git"})
        assert r.status_code == 400 and "git_local_allowed" in r.json()["hint"], r.text
        r = c.put(f"/projects/{PROJECT}/trigger-settings", json={"git_url": "file:///etc/x.git"})
        assert r.status_code == 400, r.text
        r = c.put(f"/projects/{PROJECT}/trigger-settings", json={"archive_name": "{version}/{x}"})
        assert r.status_code == 400 and "archive_name" in r.json()["message"], r.text
        r = c.put(f"/projects/{PROJECT}/trigger-settings", json={"tag_pattern": "v{ver}"})
        assert r.status_code == 400 and "{version}" in r.json()["message"], r.text
        ok = c.put(
            f"/projects/{PROJECT}/trigger-settings",
            json={"git_url": "git@github.com:apache/acme-lib.git"},
        )
        assert ok.status_code == 200, ok.text
