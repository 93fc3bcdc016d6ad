"""The agent decides a vote by itself when its time is up, reads email ballots from a Maildir,
and on the embedded default writes its mail to DATA_DIR/outbox as .eml files.

Votes must last 72 hours; this agent runs with the test-only setting
``vote_min_hours_floor`` lowered so a vote can last seconds (docs/votes.md). The
``vote.started`` event records that the agent ran in that test mode.
"""

from __future__ import annotations

import email
import email.policy
import email.utils
import mailbox
import stat
import time
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.integration.vote_support import (
    add_member,
    ballot,
    client,
    events,
    make_candidate,
    sign_ballot,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess

pytestmark = pytest.mark.integration

VERSION = "2.0.0"
VOTE_HOURS = 0.012  # 43 seconds


def outbox(agent: AgentProcess) -> dict[str, EmailMessage]:
    """Subject → message of every .eml in DATA_DIR/outbox."""
    return {str(msg["Subject"]): msg for msg in agent.outbox()}


def wait_until(check, *, timeout: float = 120, what: str = "the condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_agent_decides_when_the_time_is_up(agent_factory, tmp_path: Path) -> None:
    maildir = tmp_path / "list-mail"
    box = mailbox.Maildir(maildir, create=True)
    agent = agent_factory(
        config={
            "vote_min_hours_floor": 0.001,
            "scheduler_interval_seconds": 0.5,
            "vote_maildir": str(maildir),
            "mail_from": "ATR <atr@example.org>",
        }
    )
    dave = add_member(agent, "dave", role="pmc")
    rm = agent.committer
    revision = make_candidate(
        agent, rm.token, VERSION, source_release(tmp_path / "rc", VERSION, sign=rm.key.sign)
    )
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote", json={"hours": 72 * 60})
        assert r.status_code == 400 and "at most" in r.json()["message"]
        r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/vote", json={"hours": VOTE_HOURS})
        assert r.status_code == 201, r.text
        vote = r.json()

    # the [VOTE] mail is an .eml file anyone can read
    subject = "[VOTE] Release Acme Library 2.0.0"
    opening = wait_until(lambda: outbox(agent).get(subject), what="the [VOTE] file")
    files = list((agent.data_dir / "outbox").glob("*.eml"))
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o644 for f in files)
    assert opening["To"] == "dev@acme-lib.apache.org"
    assert vote["candidate_url"] in opening.get_content()
    thread = str(opening["Message-ID"])

    # a PMC member answers on the list: the reply lands in the Maildir the agent reads
    reply = EmailMessage()
    reply["From"] = f"Dave <{dave.email}>"
    reply["To"] = "dev@acme-lib.apache.org"
    reply["Subject"] = "Re: " + subject
    reply["Date"] = email.utils.format_datetime(datetime.now(UTC))
    reply["Message-ID"] = "<dave-vote@example.org>"
    reply["In-Reply-To"] = thread
    reply.set_content("+1 (binding)\n\nOn ... ATR wrote:\n> [ ] -1 Do not release\n")
    box.add(reply)
    wait_until(
        lambda: any(
            e["kind"] == "vote.ballot_cast" and e["data"]["source"] == "email"
            for e in events(agent, rm.token, version=VERSION)
        ),
        timeout=30,
        what="the email ballot from the Maildir",
    )
    # and alice casts a signed ballot
    with client(agent, agent.pmc_token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{VERSION}/vote/ballots",
            json={"signed": sign_ballot(agent.pmc.key, ballot(revision, "+1"))},
        )
        assert r.status_code == 201, r.text

    # nobody closes it: when the time is up, the scheduler decides (2 binding +1: failed)
    wait_until(
        lambda: r_phase(agent, rm.token) == "compose",
        timeout=180,
        what="the vote to be decided and the release back in compose",
    )
    seen = events(agent, rm.token, version=VERSION)
    [started] = [e for e in seen if e["kind"] == "vote.started"]
    assert started["data"]["test_mode"] is True
    [decided] = [e for e in seen if e["kind"] == "vote.decided"]
    assert decided["actor"] == "atr-agent" and "closed_early" not in decided["data"]
    assert decided["data"]["tally"]["binding"] == {"+1": 2, "0": 0, "-1": 0}
    assert datetime.fromisoformat(decided["at"]) >= datetime.fromisoformat(vote["ends_at"])

    result = wait_until(lambda: outbox(agent).get("[RESULT] " + subject), what="the [RESULT] file")
    assert "has FAILED: the vote has 2 binding +1 votes" in result.get_content()
    assert str(result["In-Reply-To"]) == thread
    sent = [e for e in events(agent, rm.token, version=VERSION) if e["kind"] == "mail.sent"]
    assert {e["data"]["transport"] for e in sent} == {"file"}
    assert {e["data"]["kind"] for e in sent} == {"vote", "ballot", "result"}

    # the outbox through the API: admins only (private lists' mail is in it)
    with client(agent, agent.admin_token) as c:
        items = c.get("/outbox", params={"project": PROJECT}).json()
    assert {i["kind"] for i in items} == {"vote", "ballot", "result"}
    assert all(i["state"] == "sent" for i in items)
    with client(agent, rm.token) as c:
        assert c.get("/outbox").status_code == 403


def r_phase(agent: AgentProcess, token: str) -> str:
    with client(agent, token) as c:
        return c.get(f"/projects/{PROJECT}/releases/{VERSION}").json()["phase"]
