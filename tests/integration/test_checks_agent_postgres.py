"""Checks in an agent on PostgreSQL with two workers: runs finish once, the gate, reuse."""

from __future__ import annotations

import pytest

from tests.integration.test_checks_agent import (
    artifact_name,
    good_files,
    new_release,
    put_revision,
    transition,
    wait_done,
    wait_phase,
)
from tests.support.agent import PROJECT, AgentFactory
from tests.support.checks_release import CLASS_FILE
from tests.support.postgres import PostgresServer

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_checks_on_postgresql(agent_factory: AgentFactory,
                              postgres_server: PostgresServer) -> None:  # fmt: skip
    agent = agent_factory(database_url=postgres_server.create_database(), workers=2)
    good, bad = "1.0.0", "1.1.0"
    with agent.client(agent.committer_token) as bob, agent.client(agent.pmc_token) as alice:
        new_release(bob, good_files(agent, good), good)
        assert transition(bob, good, "checks").status_code == 200
        report = wait_done(bob, good)
        assert not report["blocked"] and len(report["runs"]) == 9
        wait_phase(bob, good, "candidate")
        events = bob.get(
            "/events", params={"project": PROJECT, "version": good, "limit": 1000}
        ).json()["events"]
        # Two workers finished runs side by side: the last one, and only it, said so.
        assert [e["kind"] for e in events].count("checks.done") == 1
        assert [e["kind"] for e in events].count("check.finished") == 9
        started = alice.post(f"/projects/{PROJECT}/releases/{good}/vote", json={})
        assert started.status_code == 201, started.text
        assert alice.get(f"/projects/{PROJECT}/releases/{good}").json()["phase"] == "vote"

        new_release(bob, good_files(agent, bad, **{"lib/A.class": CLASS_FILE}), bad)
        assert wait_done(bob, bad)["blocked"]
        assert transition(bob, bad, "checks").json()["phase"] == "checks"
        refused = transition(alice, bad, "candidate")
        assert refused.status_code == 409 and "1 blocker stands" in refused.json()["message"]
        assert transition(bob, bad, "compose").json()["phase"] == "compose"
        number = put_revision(bob, bad, {"NOTES.txt": b"n\n"}, base=1)
        again = wait_done(bob, bad, number)
        assert sorted(r["check"] for r in again["runs"] if not r["reused"]) == ["keys", "paths"]
        sboms = bob.get(f"/projects/{PROJECT}/releases/{bad}/revisions/{number}/sboms").json()
        assert [s["artifact"] for s in sboms] == [artifact_name(bad)]
