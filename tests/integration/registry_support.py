"""A release that carries registry packages, through its vote, onto registry channels.

    agent = registry_agent(tmp_path_factory.mktemp("agent"))   # fast votes, short leases
    set_credential(agent, "pypi-prod", secret, username="uploader", channels=["pypi"])
    set_channels(agent, [{"name": "pypi", "kind": "pypi", "url": …, "credential": "pypi-prod"}])
    revision = release_with(agent, voters, folder, "1.0.0", [wheel, sdist], stage=True)
    distribute(agent, "1.0.0")                                   # sign the plan, start
    done = wait_distribution(agent, "1.0.0", "verified")
    assert_no_secret(agent, [secret])                            # API, log, events, mails, DB
    kill_with_workers(agent)                                     # SIGKILL, as a crash would

The release is a proper ASF source release plus the packages, each with its ``.asc`` and
``.sha512``, so the checks pass and the vote can review every file.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil

from tests.integration.distribute_support import (
    approve_plan,
    distribution_agent,
    passed_release,
    status,
    wait_mails,
)
from tests.integration.vote_support import (
    Member,
    client,
    events,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess
from tests.support.packages import signed

__all__ = [
    "assert_no_secret",
    "channel",
    "current_status",
    "distribute",
    "kill_with_workers",
    "registry_agent",
    "release_with",
    "set_channels",
    "set_credential",
    "step_events",
    "task_lines",
    "wait_mails",
]

LEASE_SECONDS = 8
"""A killed worker's task is taken again after this (tests of a crash wait for it)."""


def registry_agent(root: Path) -> AgentProcess:
    """An agent for a whole test module: two workers, fast votes, short leases."""

    def start(**options: Any) -> AgentProcess:
        options["config"] = {**options.get("config", {}), "lease_seconds": LEASE_SECONDS}
        return AgentProcess(root, **options).start()

    return distribution_agent(start)


def set_credential(
    agent: AgentProcess, name: str, secret: str, *, username: str = "", channels: list[str]
) -> None:
    """Store a registry credential in the agent's vault (as the admin)."""
    with client(agent, agent.admin_token) as c:
        r = c.put(
            f"/credentials/{name}",
            json={"secret": secret, "username": username, "channels": channels},
        )
        assert r.status_code == 200, r.text
        assert secret not in r.text


def set_channels(agent: AgentProcess, channels: list[dict[str, Any]]) -> None:
    """Replace the project's distribution channels (as a PMC member)."""
    with client(agent, agent.pmc_token) as c:
        r = c.put(f"/projects/{PROJECT}/distribution-settings", json={"channels": channels})
        assert r.status_code == 200, r.text


def release_with(
    agent: AgentProcess,
    voters: list[Member],
    folder: Path,
    version: str,
    packages: list[Path],
    *,
    stage: bool = False,
) -> dict[str, Any]:
    """Upload the source release and ``packages`` (signed), let the checks pass, (stage the
    candidate,) vote +1 three times and wait until the vote passed; the voted revision."""
    rm = agent.committer
    files = source_release(folder, version, sign=rm.key.sign)
    files += signed(packages, sign=rm.key.sign)
    return passed_release(agent, voters, folder, version, stage=stage, files=files)


def distribute(agent: AgentProcess, version: str) -> dict[str, Any]:
    """The release manager signs the current plan and starts the distribution; the plan."""
    plan = approve_plan(agent, agent.committer, version)
    with client(agent, agent.committer.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/distribution/start", json={})
        assert r.status_code == 200, r.text
    return plan.model_dump(mode="json")


def channel(current: dict[str, Any], name: str) -> dict[str, Any]:
    """One channel of a distribution status."""
    found = [c for c in current["channels"] if c["name"] == name]
    assert found, f"no channel {name} in {current}"
    return found[0]


def step_events(
    agent: AgentProcess, version: str, channel_name: str, *, running: bool = False
) -> list[dict[str, Any]]:
    """The ``distribution.step`` events of one channel of a release that record a step's
    outcome (``done``, ``failed``…), oldest first; with ``running``, its moves to ``running``
    too (what the desktop shows as they happen)."""
    return [
        e
        for e in events(agent, agent.admin_token, version=version)
        if e["kind"] == "distribution.step"
        and e["data"].get("channel") == channel_name
        and (running or e["data"].get("state") != "running")
    ]


def task_lines(agent: AgentProcess, version: str) -> list[str]:
    """The log lines of a release's tasks (``task.log`` events), oldest first."""
    return [
        str(e["data"].get("message", ""))
        for e in events(agent, agent.admin_token, version=version)
        if e["kind"] == "task.log"
    ]


def _all_events(agent: AgentProcess) -> str:
    out, since = [], 0
    with client(agent, agent.admin_token) as c:
        while True:
            page = c.get("/events", params={"since": since, "limit": 1000}).json()
            if not page["events"]:
                return "\n".join(out)
            out.append(str(page["events"]))
            since = page["next_since"]


def assert_no_secret(agent: AgentProcess, secrets: list[str], versions: list[str]) -> None:
    """No secret in any API answer about the distribution, the agent's log, its events, its
    mails (the outbox files) or its database files (where the vault keeps them encrypted)."""
    answers = []
    with client(agent, agent.admin_token) as c:
        paths = ["/credentials", "/outbox", f"/projects/{PROJECT}/distribution-settings",
                 f"/tasks?project={PROJECT}", "/votes"]  # fmt: skip
        for version in versions:
            base = f"/projects/{PROJECT}/releases/{version}"
            paths += [f"{base}/distribution", f"{base}/distribution/plan", base]
        for path in paths:
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            answers.append(r.text)
    mails = [p.read_bytes() for p in sorted((agent.data_dir / "outbox").glob("*.eml"))]
    assert mails, "the distribution sent no mail"
    places = {
        "API answers": "\n".join(answers),
        "the agent's log": agent.log_text(),
        "the events": _all_events(agent),
        "the mails": b"\n".join(mails).decode("utf-8", "replace"),
    }
    database = b"".join(
        p.read_bytes() for p in agent.data_dir.glob("agent.db*") if p.is_file()
    )  # the database, its WAL and shared memory
    for secret in secrets:
        for where, text in places.items():
            assert secret not in text, f"a credential's secret is in {where}"
        assert secret.encode() not in database, "a credential's secret is in the database"


def kill_with_workers(agent: AgentProcess) -> None:
    """SIGKILL the agent and its workers (and whatever they run) at once, as a crash would."""
    root = psutil.Process(agent.pid)
    members = [root, *root.children(recursive=True)]
    for process in members:
        try:
            os.kill(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    agent.kill()
    _, alive = psutil.wait_procs(members, timeout=15)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE], alive
    time.sleep(0.2)


def current_status(agent: AgentProcess, version: str) -> dict[str, Any]:
    return status(agent, agent.committer.token, version)
