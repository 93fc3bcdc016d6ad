"""A podling's release: the podling votes, then the Incubator PMC votes on the same files on
general@incubator; the release passes only after the second vote. Mail goes to the embedded
file outbox.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.integration.vote_support import (
    Member,
    add_member,
    ballot,
    client,
    events,
    make_candidate,
    sign_ballot,
    source_release,
)
from tests.support.agent import AgentProcess

pytestmark = pytest.mark.integration

PODLING = "foo"
VERSION = "0.9.0"


def subjects(agent: AgentProcess) -> dict[str, list[list[str]]]:
    """Subject → the recipients of each .eml with that subject."""
    found: dict[str, list[list[str]]] = {}
    for msg in agent.outbox():
        to = [a.strip() for a in str(msg["To"]).split(",")]
        found.setdefault(str(msg["Subject"]), []).append(to)
    return found


def cast(agent: AgentProcess, member: Member, revision: dict, **changes):
    with client(agent, member.token) as c:
        return c.post(
            f"/projects/{PODLING}/releases/{VERSION}/vote/ballots",
            json={"signed": sign_ballot(member.key, ballot(revision, "+1", **changes))},
        )


def vote_now(agent: AgentProcess) -> dict:
    with client(agent, agent.admin_token) as c:
        return c.get(f"/projects/{PODLING}/releases/{VERSION}/vote").json()


def phase(agent: AgentProcess) -> str:
    with client(agent, agent.admin_token) as c:
        return c.get(f"/projects/{PODLING}/releases/{VERSION}").json()["phase"]


def test_a_podling_release_needs_the_incubator_pmc_too(agent_factory, tmp_path: Path) -> None:
    agent = agent_factory(config={"scheduler_interval_seconds": 0.5})
    with client(agent, agent.admin_token) as c:
        for body in (
            {"name": PODLING, "display_name": "Apache Foo (incubating)", "podling": True},
            {"name": "incubator", "display_name": "Apache Incubator"},
        ):
            assert c.post("/committees", json=body).status_code == 201
        r = c.post("/projects", json={"key": PODLING, "committee": PODLING, "name": "Apache Foo"})
        assert r.status_code == 201, r.text
    ppmc = [add_member(agent, f"ppmc{i}", committee=PODLING) for i in (1, 2, 3)]
    ipmc = [add_member(agent, f"ipmc{i}", committee="incubator") for i in (1, 2)]
    mentor = add_member(
        agent,
        "mentor",
        memberships=[
            {"committee": PODLING, "role": "pmc"},
            {"committee": "incubator", "role": "pmc"},
        ],
    )
    rm = add_member(agent, "rm", role="committer", committee=PODLING)

    files = source_release(
        tmp_path / "rc", VERSION, sign=rm.key.sign, project=PODLING, podling=True
    )
    revision = make_candidate(agent, rm.token, VERSION, files, project=PODLING, signer=rm.key)
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PODLING}/releases/{VERSION}/vote", json={})
        assert r.status_code == 201, r.text
        assert r.json()["list_address"] == "dev@foo.apache.org"

    # the podling's vote: its PPMC is binding, an IPMC member who is not in it is not
    for member in ppmc:
        r = cast(agent, member, revision)
        assert r.status_code == 201 and r.json()["binding"] is True, r.text
    r = cast(agent, ipmc[0], revision)
    assert r.status_code == 201 and r.json()["binding"] is False

    closed = agent.cli("vote", "close", PODLING, VERSION, "--reason", "test: the podling voted")
    assert "passed" in closed.stdout
    # the release is still under vote: the Incubator's round started by itself
    assert phase(agent) == "vote"
    second = vote_now(agent)
    assert second["round"] == "incubator"
    assert second["list_address"] == "general@incubator.apache.org"
    assert second["revision"] == revision["number"]
    assert second["tally"]["outcome"] == "open" and second["ballots"] == []

    # the Incubator's round: IPMC members are binding, the podling's PPMC is not
    r = cast(agent, ppmc[0], revision, binding=True)
    assert r.status_code == 403 and "Incubator PMC" in r.json()["message"]
    r = cast(agent, ppmc[1], revision)
    assert r.status_code == 201 and r.json()["binding"] is False
    for member in (*ipmc, mentor):
        r = cast(agent, member, revision, binding=True)
        assert r.status_code == 201 and r.json()["binding"] is True, r.text

    closed = agent.cli("vote", "close", PODLING, VERSION, "--reason", "test: the IPMC voted")
    assert "passed" in closed.stdout
    assert phase(agent) == "passed"
    final = vote_now(agent)
    assert final["tally"]["binding"] == {"+1": 3, "0": 0, "-1": 0}
    assert final["tally"]["non_binding"] == {"+1": 1, "0": 0, "-1": 0}

    decided = [e for e in events(agent, rm.token, project=PODLING) if e["kind"] == "vote.decided"]
    assert [(e["data"]["round"], e["data"]["outcome"]) for e in decided] == [
        ("project", "passed"),
        ("incubator", "passed"),
    ]
    moves = [
        (e["data"]["from"], e["data"]["to"])
        for e in events(agent, rm.token, project=PODLING)
        if e["kind"] == "release.phase_changed"
    ]
    assert moves[-2:] == [("candidate", "vote"), ("vote", "passed")]

    # the mail: [VOTE] and [RESULT] on each list; the Incubator's result also to the podling
    last = "[RESULT] [VOTE] Release Apache Foo 0.9.0 (Incubator)"
    deadline = time.monotonic() + 60
    while last not in subjects(agent) and time.monotonic() < deadline:
        time.sleep(0.2)
    mail = subjects(agent)
    assert mail["[VOTE] Release Apache Foo 0.9.0"] == [["dev@foo.apache.org"]]
    assert mail["[VOTE] Release Apache Foo 0.9.0 (Incubator)"] == [["general@incubator.apache.org"]]
    assert mail["[RESULT] [VOTE] Release Apache Foo 0.9.0"] == [["dev@foo.apache.org"]]
    assert mail["[RESULT] [VOTE] Release Apache Foo 0.9.0 (Incubator)"] == [
        ["general@incubator.apache.org", "dev@foo.apache.org"]
    ]
