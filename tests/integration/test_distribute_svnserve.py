"""The dist repository on a real ``svnserve``, with a password from the vault.

* a wrong password: the channel fails with Subversion's own words, the password appears
  nowhere (API answers, the agent's log, events, mails); fixed and retried, it finishes;
* the server away: retried with backoff, then failed; back, a retry finishes;
* ``kill -9`` of the agent and its workers in the middle of the commit of a large release,
  then a restart: the release lands in exactly one commit, with the right bytes.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    big_source_release,
    distribution_agent,
    passed_release,
    status,
    wait_distribution,
    wait_mails,
)
from tests.integration.vote_support import Member, client
from tests.support.agent import PROJECT, AgentProcess
from tests.support.svnserve import SvnServe
from tests.support.throttle import ThrottlingProxy

pytestmark = pytest.mark.integration

USER = "release-bot"
PASSWORD = "pw-Zq8#not-in-any-log"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SvnServe]:
    with SvnServe(tmp_path_factory.mktemp("svnserve"), user=USER, password=PASSWORD) as served:
        yield served


@pytest.fixture(scope="module")
def world(
    server: SvnServe, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[AgentProcess, list[Member]]]:
    agent = AgentProcess(
        tmp_path_factory.mktemp("agent"),
        workers=2,
        config={
            "vote_min_hours_floor": 2 / 3600,
            "scheduler_interval_seconds": 0.5,
            "announce_delay_minutes": 0,
            "publish_retry_seconds": 0.2,
            "lease_seconds": 4,
            "dist_svn_url": server.url,
            "dist_svn_credential": "dist-svn",
        },
    )
    agent.start()
    try:
        yield agent, add_voters(agent)
    finally:
        agent.stop()


def set_password(agent: AgentProcess, password: str) -> None:
    with client(agent, agent.admin_token) as admin:
        r = admin.put(
            "/credentials/dist-svn",
            json={"secret": password, "username": USER, "channels": ["svn"]},
        )
        assert r.status_code == 200, r.text
        assert password not in r.text
        listed = admin.get("/credentials").text
        assert "dist-svn" in listed and password not in listed


def start(agent: AgentProcess, version: str) -> None:
    approve_plan(agent, agent.committer, version)
    with client(agent, agent.committer.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/distribution/start", json={})
        assert r.status_code == 200, r.text


def retry(agent: AgentProcess, version: str) -> None:
    with client(agent, agent.committer.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/distribution/channels/dist/retry")
        assert r.status_code == 200, r.text


def svn(*args: str) -> str:
    return subprocess.run(
        ["svn", "--non-interactive", *args], capture_output=True, text=True, check=True
    ).stdout


def everything_said(agent: AgentProcess) -> str:
    """Every API answer, log line, event and mail a secret could leak into."""
    with client(agent, agent.admin_token) as admin:
        events = admin.get("/events", params={"since": 0, "limit": 1000}).text
        outbox = admin.get("/outbox").text
        tasks = admin.get("/tasks", params={"limit": 1000}).text
        statuses = [
            admin.get(f"/projects/{PROJECT}/releases/{r['version']}/distribution").text
            for r in admin.get(f"/projects/{PROJECT}/releases").json()
        ]
    mails = "\n".join(m.as_string() for m in agent.outbox())
    return "\n".join([events, outbox, tasks, *statuses, mails, agent.log_text()])


def test_a_wrong_password_fails_clearly_and_leaks_nowhere(world, server: SvnServe, tmp_path: Path):
    agent, voters = world
    set_password(agent, "wrong-" + PASSWORD)
    passed_release(agent, voters, tmp_path, "1.0.0")
    start(agent, "1.0.0")
    failed = wait_distribution(agent, "1.0.0", "failed")
    (dist,) = failed["channels"]
    assert dist["state"] == "failed"
    error = dist["files"][0]["error"]
    assert "E170001" in error and "Password incorrect" in error, error
    subject = "[FAILED] Publishing Acme Library 1.0.0 to dist"
    failure = wait_mails(agent, subject)[subject]
    assert "dev@acme-lib.apache.org" in failure["To"] and "E170001" in failure.get_content()

    set_password(agent, PASSWORD)
    retry(agent, "1.0.0")
    done = wait_distribution(agent, "1.0.0", "verified")
    assert all(f["verified"] for f in done["channels"][0]["files"])
    log = svn("log", "-l", "1", f"{server.url}/release/{PROJECT}")
    assert USER in log
    said = everything_said(agent)
    assert PASSWORD not in said and ("wrong-" + PASSWORD) not in said


def test_a_server_away_is_retried_then_failed_and_a_retry_finishes(
    world, server: SvnServe, tmp_path: Path
):
    agent, voters = world
    passed_release(agent, voters, tmp_path, "1.1.0")
    server.stop()
    try:
        start(agent, "1.1.0")
        failed = wait_distribution(agent, "1.1.0", "failed")
    finally:
        server.start()
    error = failed["channels"][0]["files"][0]["error"]
    assert "connect" in error.lower(), error
    with client(agent, agent.admin_token) as admin:
        page = admin.get("/events", params={"since": 0, "limit": 1000, "version": "1.1.0"})
    lines = [e["data"]["message"] for e in page.json()["events"] if e["kind"] == "task.log"]
    assert any("trying again in" in line for line in lines), lines
    retry(agent, "1.1.0")
    wait_distribution(agent, "1.1.0", "verified")


def test_a_credential_not_bound_to_the_channel_fails_its_files_and_settles(
    world, tmp_path: Path
) -> None:
    agent, voters = world
    with client(agent, agent.admin_token) as admin:
        body = {"secret": PASSWORD, "username": USER, "channels": ["pypi"]}
        assert admin.put("/credentials/dist-svn", json=body).status_code == 200
    try:
        passed_release(agent, voters, tmp_path, "1.2.0")
        start(agent, "1.2.0")
        failed = wait_distribution(agent, "1.2.0", "failed")
    finally:
        set_password(agent, PASSWORD)
    errors = {f["error"] for f in failed["channels"][0]["files"]}
    assert len(errors) == 1 and "is not bound to svn channels" in errors.pop()
    retry(agent, "1.2.0")
    wait_distribution(agent, "1.2.0", "verified")


def test_killed_mid_commit_the_release_lands_once(agent_factory, server: SvnServe, tmp_path: Path):
    """The commit goes through a proxy that lets 1 MB/s through: the agent and its workers
    are killed with a few MB sent, and restarted."""
    with ThrottlingProxy("127.0.0.1", server.port, rate=1_000_000) as proxy:
        agent = distribution_agent(
            agent_factory,
            lease_seconds=4,
            dist_svn_url=f"svn://127.0.0.1:{proxy.port}/dist",
            dist_svn_credential="dist-svn",
        )
        set_password(agent, PASSWORD)
        voters = add_voters(agent)
        rm = agent.committer
        files = big_source_release(
            tmp_path / "2.0.0", "2.0.0", sign=rm.key.sign, extra_bytes=6 * 1024 * 1024
        )
        passed_release(agent, voters, tmp_path, "2.0.0", files=files)
        before = proxy.uploaded
        start(agent, "2.0.0")
        deadline = time.monotonic() + 120
        while proxy.uploaded - before < 2_000_000:  # the commit is under way
            assert time.monotonic() < deadline, status(agent, rm.token, "2.0.0")
            time.sleep(0.05)
        agent.kill()
        assert status_after_restart(agent)["state"] in ("running", "verified")
        done = wait_distribution(agent, "2.0.0", "verified", timeout=180)
    revisions = [
        line
        for line in svn("log", "-q", f"{server.url}/release/{PROJECT}/2.0.0").splitlines()
        if line.startswith("r")
    ]
    assert len(revisions) == 1, revisions
    archive = files[0]
    url = f"{server.url}/release/{PROJECT}/2.0.0/{archive.name}"
    served = subprocess.run(["svn", "cat", url], capture_output=True, check=True).stdout
    assert hashlib.sha512(served).hexdigest() == hashlib.sha512(archive.read_bytes()).hexdigest()
    steps = done["channels"][0]["files"]
    assert {s["path"] for s in steps} == {f.name for f in files}
    assert all(s["attempts"] == 2 for s in steps), steps


def status_after_restart(agent: AgentProcess) -> dict:
    agent.start()
    return status(agent, agent.committer.token, "2.0.0")
