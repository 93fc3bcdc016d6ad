"""A release that carries Maven artifacts, through its vote, for the Maven channel tests.

    files = maven_release(tmp_path, "1.0.0", sign=agent.committer.key.sign)
    revision = passed_maven_release(agent, voters, files, "1.0.0", stage=True)
    set_channels(agent, [nexus_channel(url, profile)])       # the project's settings (PMC)
    set_credential(agent, "asf-nexus", USER, SECRET, ["nexus"])   # the vault (admin)

The release: the source archive with its ``.asc`` and ``.sha512`` (as every test release
has), and ``maven/org/apache/acme/acme-lib/VERSION/`` with a small jar, its POM, their
``.asc`` made with the release manager's key and their ``.sha512`` (the release checks want
one beside every artifact; Maven repositories take ``.sha512`` files as checksums too).
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil

from tests.integration.distribute_support import VOTE_SECONDS, approve_plan, status
from tests.integration.vote_support import (
    Member,
    ballot,
    client,
    sign_ballot,
    source_release,
    wait_phase,
)
from tests.support.agent import PROJECT, AgentProcess
from tests.support.channels import GROUP_DIR, pom, tiny_jar

__all__ = [
    "PASSWORD",
    "USER",
    "candidate",
    "channel_of",
    "kill_agent_and_workers",
    "maven_release",
    "passed_maven_release",
    "set_channels",
    "set_credential",
    "stage",
    "start_distribution",
    "vote",
    "wait_settled",
]

USER = "acme-deployer"
PASSWORD = "pa55:W0rd/with&odd=chars+"
"""The registries' secret: it must never appear in an answer, a log, an event or a mail."""


def maven_release(folder: Path, version: str, *, sign: Any, padding: int = 0) -> dict[str, Path]:
    """Release path → local file: the source release and the Maven artifacts, signed."""
    files = {p.name: p for p in source_release(folder / version, version, sign=sign)}
    base = GROUP_DIR.replace("1.0.0", version)
    local = folder / version / "m2"
    local.mkdir(parents=True, exist_ok=True)
    for name, data in (
        (f"acme-lib-{version}.jar", tiny_jar(version, padding=padding)),
        (f"acme-lib-{version}.pom", pom(version)),
    ):
        artifact = local / name
        artifact.write_bytes(data)
        signature = local / f"{name}.asc"
        signature.write_text(sign(data))
        checksum = local / f"{name}.sha512"  # the checks want one for every artifact
        checksum.write_text(f"{hashlib.sha512(data).hexdigest()}  {name}\n")
        files[f"{base}/{name}"] = artifact
        files[f"{base}/{name}.asc"] = signature
        files[f"{base}/{name}.sha512"] = checksum
    return files


def _upload(agent: AgentProcess, token: str, version: str, files: dict[str, Path]) -> dict:
    with client(agent, token) as c:
        blobs = {}
        for path, local in files.items():
            r = c.post(
                "/uploads",
                content=local.read_bytes(),
                headers={"X-Atr-Filename": quote(local.name, safe="")},
            )
            assert r.status_code == 201, r.text
            blobs[path] = r.json()["sha256"]
        latest = c.get(f"/projects/{PROJECT}/releases/{version}").json()["latest_revision"]
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/revisions",
            json={"base": latest, "files": blobs, "message": "RC"},
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


def candidate(agent: AgentProcess, version: str, files: dict[str, Path]) -> dict:
    """Create the release, upload its files, pass its checks: the release is a candidate."""
    rm = agent.committer
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/keys", json={"armored": rm.key.public_armor})
        assert r.status_code in (200, 201), r.text
        r = c.post(f"/projects/{PROJECT}/releases", json={"version": version})
        assert r.status_code in (201, 409), r.text
    revision = _upload(agent, rm.token, version, files)
    with client(agent, rm.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/transition",
            json={"to": "checks", "reason": "RC ready"},
        )
        assert r.status_code == 200, r.text
    wait_phase(agent, rm.token, version, "candidate")
    return revision


def stage(agent: AgentProcess, version: str) -> None:
    with client(agent, agent.committer.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/distribution/start", json={"kind": "staging"}
        )
        assert r.status_code == 200, r.text


def vote(
    agent: AgentProcess, voters: list[Member], version: str, revision: dict, value: str = "+1"
) -> None:
    with client(agent, agent.committer.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote", json={"hours": VOTE_SECONDS / 3600}
        )
        assert r.status_code == 201, r.text
    for voter in voters:
        signed = sign_ballot(voter.key, ballot(revision, value, binding=True))
        with client(agent, voter.token) as c:
            r = c.post(
                f"/projects/{PROJECT}/releases/{version}/vote/ballots", json={"signed": signed}
            )
            assert r.status_code == 201, r.text


def passed_maven_release(
    agent: AgentProcess,
    voters: list[Member],
    files: dict[str, Path],
    version: str,
    *,
    stage_it: bool = False,
) -> dict:
    """A candidate (staged when asked) whose vote passed."""
    revision = candidate(agent, version, files)
    if stage_it:
        stage(agent, version)
        staged = wait_settled(agent, version)
        assert staged["state"] == "verified", staged
        wait_phase(agent, agent.committer.token, version, "staged", timeout=60)
    vote(agent, voters, version, revision)
    wait_phase(agent, agent.committer.token, version, "passed", timeout=60)
    return revision


def set_channels(agent: AgentProcess, channels: list[dict], **more: Any) -> None:
    with client(agent, agent.pmc.token) as c:
        r = c.put(f"/projects/{PROJECT}/distribution-settings", json={"channels": channels, **more})
        assert r.status_code == 200, r.text


def set_credential(
    agent: AgentProcess, name: str, username: str, secret: str, channels: list[str]
) -> None:
    with client(agent, agent.admin.token) as c:
        r = c.put(
            f"/credentials/{name}",
            json={"username": username, "secret": secret, "channels": channels},
        )
        assert r.status_code == 200, r.text
        assert secret not in r.text


def start_distribution(agent: AgentProcess, version: str) -> dict:
    """Sign the current plan as the RM, approve it and start the distribution."""
    approve_plan(agent, agent.committer, version)
    with client(agent, agent.committer.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/distribution/start", json={})
        assert r.status_code == 200, r.text
        return dict(r.json())


def wait_settled(agent: AgentProcess, version: str, *, timeout: float = 180) -> dict:
    """The distribution's status once it is verified or failed."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(agent, agent.committer.token, version)
        if current["state"] in ("verified", "failed"):
            return current
        assert time.monotonic() < deadline, f"still {current['state']}: {current}"
        time.sleep(0.25)


def channel_of(current: dict, name: str) -> dict:
    return next(c for c in current["channels"] if c["name"] == name)


def kill_agent_and_workers(agent: AgentProcess) -> list[int]:
    """SIGKILL the agent's worker processes and the agent (a crash of the whole machine's
    agent side): nothing finishes, nothing is cleaned up. Their pids."""
    children = psutil.Process(agent.pid).children(recursive=True)
    for child in children:
        child.kill()
    agent.kill()
    psutil.wait_procs(children, timeout=10)
    return [c.pid for c in children]
