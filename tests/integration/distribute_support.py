"""A release through its vote to ``passed``, and the signing of its distribution plan.

agent = distribution_agent(agent_factory)                # fast votes, no announce delay
voters = add_voters(agent)                               # three PMC members
revision = passed_release(agent, voters, tmp_path, "1.0.0")
approve_plan(agent, agent.committer, "1.0.0")            # bob, the RM, signs the plan
status = wait_distribution(agent, "1.0.0", "verified")
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import tarfile
import time
from collections.abc import Callable
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from shared.checks.license_notice import apache_license_text
from shared.client.distribute import sign_plan
from shared.protocol.distribute import DistributionPlan
from tests.integration.vote_support import (
    HEADER,
    NOTICE,
    Member,
    add_member,
    ballot,
    client,
    make_candidate,
    sign_ballot,
    source_release,
    wait_phase,
)
from tests.support.agent import PROJECT, AgentFactory, AgentProcess, AgentUser

VOTE_SECONDS = 600.0
"""Votes last ten minutes (the tests close them once the ballots are in)."""


def distribution_agent(factory: AgentFactory, **config: Any) -> AgentProcess:
    """An agent whose votes may last seconds and whose announcements need not wait."""
    settings = {
        "vote_min_hours_floor": VOTE_SECONDS / 3600,
        "scheduler_interval_seconds": 0.5,
        "announce_delay_minutes": 0,
        "publish_retry_seconds": 0.2,
        **config,
    }
    return factory(config=settings, workers=2)


def add_voters(agent: AgentProcess) -> list[Member]:
    return [add_member(agent, name, role="pmc") for name in ("dave", "erin", "fred")]


def passed_release(
    agent: AgentProcess,
    voters: list[Member],
    folder: Path,
    version: str,
    *,
    stage: bool = False,
    files: list[Path] | None = None,
) -> dict:
    """Upload a proper source release (or ``files``), let its checks pass, (stage it,) vote
    +1 three times, and wait until the vote passed."""
    rm = agent.committer
    if files is None:
        files = source_release(folder / version, version, sign=rm.key.sign)
    revision = make_candidate(agent, rm.token, version, files)
    with client(agent, rm.token) as c:
        if stage:
            r = c.post(
                f"/projects/{PROJECT}/releases/{version}/distribution/start",
                json={"kind": "staging"},
            )
            assert r.status_code == 200, r.text
            wait_phase(agent, rm.token, version, "staged")
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote", json={"hours": VOTE_SECONDS / 3600}
        )
        assert r.status_code == 201, r.text
    for voter in voters:
        signed = sign_ballot(voter.key, ballot(revision, "+1", binding=True))
        with client(agent, voter.token) as c:
            r = c.post(
                f"/projects/{PROJECT}/releases/{version}/vote/ballots", json={"signed": signed}
            )
            assert r.status_code == 201, r.text
    # the ballots are in: the operator closes the vote now (a vote of seconds could end
    # before a loaded machine has checked the third signature)
    agent.cli("vote", "close", PROJECT, version, "--reason", "test: all ballots are in")
    wait_phase(agent, rm.token, version, "passed", timeout=60)
    return revision


def signed_plan(agent: AgentProcess, user: AgentUser, version: str) -> tuple[DistributionPlan, str]:
    with client(agent, user.token) as c:
        r = c.get(f"/projects/{PROJECT}/releases/{version}/distribution/plan")
        assert r.status_code == 200, r.text
    plan = DistributionPlan.model_validate(r.json())
    return plan, sign_plan(user.key.key, plan)


def approve_plan(agent: AgentProcess, user: AgentUser, version: str) -> DistributionPlan:
    plan, signed = signed_plan(agent, user, version)
    with client(agent, user.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/distribution/approval",
            json={"signed": signed},
        )
        assert r.status_code == 201, r.text
    return plan


def status(agent: AgentProcess, token: str, version: str) -> dict:
    with client(agent, token) as c:
        r = c.get(f"/projects/{PROJECT}/releases/{version}/distribution")
        assert r.status_code == 200, r.text
        return dict(r.json())


def wait_distribution(
    agent: AgentProcess, version: str, state: str, *, timeout: float = 120
) -> dict:
    """Poll the status until the distribution is ``state`` (fail on another final state)."""
    deadline = time.monotonic() + timeout
    while True:
        current = status(agent, agent.committer.token, version)
        if current["state"] == state:
            return current
        if current["state"] in ("verified", "failed") and current["state"] != state:
            raise AssertionError(f"the distribution ended {current['state']}: {current}")
        assert time.monotonic() < deadline, f"still {current['state']}: {current}"
        time.sleep(0.25)


def svn(*args: str) -> str:
    return subprocess.run(
        ["svn", "--non-interactive", *args], capture_output=True, text=True, check=True
    ).stdout


def big_source_release(
    folder: Path, version: str, *, sign: Callable[[bytes], str], extra_bytes: int
) -> list[Path]:
    """A proper source release (LICENSE, NOTICE, a Java file with its header) that also holds
    ``extra_bytes`` of random test data, so that publishing it takes a while."""
    folder.mkdir(parents=True, exist_ok=True)
    top = f"apache-{PROJECT}-{version}"
    archive = folder / f"{top}-src.tar.gz"
    small = {
        "LICENSE": apache_license_text().encode(),
        "NOTICE": NOTICE.encode(),
        "src/main/java/org/apache/acme/Main.java": (
            HEADER + "package org.apache.acme;\n\npublic final class Main {}\n"
        ).encode(),
    }
    with tarfile.open(archive, "w:gz", compresslevel=1) as tar:
        for name, data in small.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        info = tarfile.TarInfo(f"{top}/src/test/resources/random.bin")
        info.size = extra_bytes
        tar.addfile(info, io.BytesIO(os.urandom(extra_bytes)))
    data = archive.read_bytes()
    asc = archive.with_name(archive.name + ".asc")
    asc.write_text(sign(data))
    sha = archive.with_name(archive.name + ".sha512")
    sha.write_text(f"{hashlib.sha512(data).hexdigest()}  {archive.name}\n")
    return [archive, asc, sha]


def wait_mails(agent: AgentProcess, *subjects: str, timeout: float = 60) -> dict[str, EmailMessage]:
    """The outbox's mails by subject, once one starts with each of ``subjects`` (the agent
    writes mail a moment after what it reports was committed)."""
    deadline = time.monotonic() + timeout
    while True:
        mails = {str(m["Subject"]): m for m in agent.outbox()}
        missing = [s for s in subjects if not any(k.startswith(s) for k in mails)]
        if not missing:
            return mails
        assert time.monotonic() < deadline, f"no mail {missing[0]!r} in {sorted(mails)}"
        time.sleep(0.25)
