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
    set_triggers(agent, webhook_secret="a-webhook-secret-of-some-length", release_manager="bob",
                 git_url="https://gitbox.apache.org/repos/asf/acme-lib.git")  # fmt: skip
    with client(agent, agent.pmc_token) as c:
        r = c.put(f"/projects/{PROJECT}/distribution-settings", json={
            "manual_steps": ["Update the Homebrew formula"]})  # fmt: skip
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
