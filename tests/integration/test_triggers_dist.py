"""A release.toml committed to dist/dev/<project>/ starts a release: a real Subversion
repository (the agent's embedded one) with a real post-commit hook, and polling."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.integration.trigger_support import events, wait_event
from tests.integration.vote_support import client, source_release
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def commit(repo_url: str, *actions: str, author: str = "bob") -> None:
    subprocess.run(
        ["svnmucc", "--non-interactive", "--username", author, "-m", "candidate", *actions],
        check=True,
        capture_output=True,
        timeout=60,
    )


def hook(agent) -> None:
    script = agent.data_dir / "dist-svn" / "hooks" / "post-commit"
    script.write_text(
        "#!/bin/sh\n"
        f"/usr/bin/curl -fsS -X POST {agent.api_url}/triggers/svn >/dev/null 2>&1 || true\n"
    )
    script.chmod(0o755)


def test_release_toml_commit_with_a_post_commit_hook(agent_factory, tmp_path):
    agent = agent_factory(workers=1, config={"dist_watch_seconds": 0})
    hook(agent)
    repo = (agent.data_dir / "dist-svn").resolve().as_uri()
    files = source_release(tmp_path / "rel", "1.2.0", sign=agent.committer.key.sign)
    folder = f"{repo}/dev/{PROJECT}/1.2.0-rc1"
    toml = tmp_path / "release.toml"
    toml.write_text(f'project = "{PROJECT}"\nversion = "1.2.0"\nchannels = []\n')
    actions = ["mkdir", f"{repo}/dev/{PROJECT}", "mkdir", folder]
    for path in files:
        actions += ["put", str(path), f"{folder}/{path.name}"]
    commit(repo, *actions)  # the files first: nothing starts without a release.toml
    commit(repo, "put", str(toml), f"{folder}/release.toml")
    received = wait_event(agent, "trigger.received", timeout=60)
    assert [e["data"]["source"] for e in received] == ["svn"]
    assert received[0]["data"]["svn_revision"] == 3 and received[0]["data"]["author"] == "bob"
    wait_event(agent, "checks.queued", version="1.2.0")
    with client(agent, agent.committer_token) as c:
        release = c.get(f"/projects/{PROJECT}/releases/1.2.0").json()
        revision = c.get(f"/projects/{PROJECT}/releases/1.2.0/revisions/latest").json()
        build = c.get(f"/projects/{PROJECT}/releases/1.2.0/revisions/1/build").json()
        # the hook called again, and again: still once per commit
        for _ in range(3):
            assert c.post("/triggers/svn").status_code == 202
    assert release["created_by"] == "bob"  # the committer of the svn commit
    assert sorted(f["path"] for f in revision["files"]) == sorted(p.name for p in files)
    assert build["source"] == "svn" and build["facts"]["svn_revision"] == 3
    assert build["record"] is None  # a dist/dev commit names no build: no SLSA provenance
    (created,) = events(agent, "release.created", version="1.2.0")
    assert created["data"]["source"] == "svn"
    assert not events(agent, "release.signatures_requested")  # its .asc came with it

    # a release.toml that names another project, or a file that is not there: refused, said
    bad = tmp_path / "bad.toml"
    bad.write_text('project = "globex-app"\nversion = "1.3.0"\n')
    commit(
        repo,
        "mkdir",
        f"{repo}/dev/{PROJECT}/1.3.0-rc1",
        "put",
        str(bad),
        f"{repo}/dev/{PROJECT}/1.3.0-rc1/release.toml",
    )
    missing = tmp_path / "missing.toml"
    missing.write_text(f'project = "{PROJECT}"\nversion = "1.4.0"\nfiles = ["nope.tar.gz"]\n')
    commit(
        repo,
        "mkdir",
        f"{repo}/dev/{PROJECT}/1.4.0-rc1",
        "put",
        str(missing),
        f"{repo}/dev/{PROJECT}/1.4.0-rc1/release.toml",
    )
    finished = wait_event(agent, "trigger.finished", count=3)
    details = {e["data"]["delivery"].split(":", 1)[1]: e["data"] for e in finished}
    assert details[f"/dev/{PROJECT}/1.3.0-rc1/release.toml"]["state"] == "failed"
    assert (
        "names project 'globex-app'" in details[f"/dev/{PROJECT}/1.3.0-rc1/release.toml"]["detail"]
    )
    assert "nope.tar.gz" in details[f"/dev/{PROJECT}/1.4.0-rc1/release.toml"]["detail"]
    time.sleep(1)
    assert len(events(agent, "trigger.received")) == 3


def test_polling_finds_a_commit_without_a_hook(agent_factory, tmp_path):
    agent = agent_factory(workers=1, config={"dist_watch_seconds": 0.5})
    repo = (agent.data_dir / "dist-svn").resolve().as_uri()
    files = source_release(tmp_path / "rel", "2.0.0", sign=agent.committer.key.sign)
    toml = tmp_path / "release.toml"
    toml.write_text(f'project = "{PROJECT}"\nversion = "2.0.0"\n')
    folder = f"{repo}/dev/{PROJECT}/2.0.0-rc1"
    actions = [
        "mkdir",
        f"{repo}/dev/{PROJECT}",
        "mkdir",
        folder,
        "put",
        str(toml),
        f"{folder}/release.toml",
    ]
    for path in files:
        actions += ["put", str(path), f"{folder}/{path.name}"]
    commit(repo, *actions, author="carol-not-a-user")
    wait_event(agent, "checks.queued", version="2.0.0", timeout=60)
    with client(agent, agent.committer_token) as c:
        release = c.get(f"/projects/{PROJECT}/releases/2.0.0").json()
    assert release["created_by"] == "trigger.svn"  # no such user and none configured: the PMC
