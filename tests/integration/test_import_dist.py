"""All past releases: an ASF-style dist tree of 30 releases over 3 lines, imported twice."""

from __future__ import annotations

import json
import time

import pytest

from tests.integration.dist_tree import add_release, make_tree
from tests.integration.vote_support import client, events
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def test_import_thirty_releases_twice(agent_factory, tmp_path):
    tree = make_tree(tmp_path / "tree")
    agent = agent_factory(workers=1)
    release_url = f"{tree.url}/release/{PROJECT}"
    dev_url = f"{tree.url}/dev/{PROJECT}"
    first = agent.cli("import-dist", PROJECT, "--from", release_url, "--dev", dev_url, "--json")
    report = json.loads(first.stdout)
    added = {r["version"]: r for r in report["added"]}
    assert sorted(v for v, r in added.items() if r["area"] == "release") == sorted(tree.expected)
    assert len(tree.expected) == 30
    assert [v for v, r in added.items() if r["area"] == "dev"] == ["3.8.0"]  # 3.7.0-rc2: released
    assert report["keys_imported"] == 2
    for version, want in tree.expected.items():
        (artifact,) = added[version]["files"]
        assert (artifact["signature"], artifact["checksum"]) == (
            want["signature"],
            want["checksum"],
        ), version
        assert added[version]["phase"] == "announced"
    assert added["1.0.0"]["files"][0]["signer"] == "alice"
    assert added["2.3.0"]["files"][0]["signer"] == "bob"
    years = {r["released_at"][:4] for r in report["added"]}
    assert {"2016", "2019", "2022"} <= years
    assert any("README.html" in s for s in report["skipped"]) is False  # ignored quietly

    # the download page lists every release; the candidate is not on it
    with agent.client() as c:
        page = c.get(f"{agent.url}/projects/{PROJECT}/downloads/").text
        for version in tree.expected:
            assert f"Acme Library {version}" in page, version
        assert "3.8.0" not in page
        one = c.get(
            f"{agent.url}/projects/{PROJECT}/downloads/2.5.0/apache-acme-lib-2.5.0-src.tar.gz"
        )
        assert one.status_code == 200 and one.content[:2] == b"\x1f\x8b"
    with client(agent, agent.committer_token) as c:
        stats = c.get(f"/projects/{PROJECT}/stats").json()
        assert sum(stats["per_year"].values()) == 30
        practice = c.get(f"/projects/{PROJECT}/practice").json()
        assert practice["imported"] == 31
        assert practice["release_managers"][0]["name"] == "bob"
        candidate = c.get(f"/projects/{PROJECT}/releases/3.8.0").json()
        assert candidate["phase"] in ("checks", "candidate")

    # the second run adds only what is new (one release committed since), via the admin API
    add_release(tree, tmp_path / "tree" / "work", "3.9.0")
    with client(agent, agent.admin_token) as c:
        r = c.post(
            f"/projects/{PROJECT}/import-dist",
            json={"release_url": release_url, "dev_url": dev_url},
        )
        assert r.status_code == 202, r.text
        task_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while (task := c.get(f"/tasks/{task_id}").json())["state"] not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, task
            time.sleep(0.3)
        assert task["state"] == "succeeded", task
        assert task["result"]["added"] == ["3.9.0"]
        assert task["result"]["known"] == 32
        releases = c.get(f"/projects/{PROJECT}/releases").json()
    assert len(releases) == 32 and len({r["version"] for r in releases}) == 32
    imported = events(agent, agent.admin_token, version="3.9.0")
    assert imported and {e["actor"] for e in imported} == {"admin"}  # who asked, not atr-agent
    # and once more from the CLI: nothing new
    again = agent.cli("import-dist", PROJECT, "--from", release_url, "--dev", dev_url)
    assert "0 release(s) added, 33 known before" in again.stdout
    with client(agent, agent.committer_token) as c:
        assert len(c.get(f"/projects/{PROJECT}/releases").json()) == 32
