"""What a vote tells voters and keeps on record: the [VOTE] mail (signers and KEYS, the source,
release notes, direct links, from the release manager), the [RESULT] mail (the thread, what
happens next), and the candidate page before, after the vote and once the release moved on."""

from __future__ import annotations

import email.utils
import json
import sqlite3
import time
from collections.abc import Iterator
from email.message import EmailMessage

import httpx
import pytest

from tests.integration.vote_support import (
    add_member,
    ballot,
    client,
    make_candidate,
    sign_ballot,
    source_release,
)
from tests.support.agent import PROJECT, AgentProcess

pytestmark = pytest.mark.integration

VERSION = "1.5.0"
SOURCE_REF = "v1.5.0-rc1"
SOURCE_URL = "https://github.com/apache/acme-lib/tree/v1.5.0-rc1"
AGENT_FROM = "ATR <atr-agent@localhost>"


def spaced(fingerprint: str) -> str:
    return " ".join(fingerprint[i : i + 4] for i in range(0, 40, 4))


def mail(agent: AgentProcess, subject_start: str, timeout: float = 30) -> EmailMessage:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in agent.outbox() if str(m["Subject"]).startswith(subject_start)]
        if found:
            return found[-1]
        time.sleep(0.2)
    raise AssertionError(f"no mail starting {subject_start!r} in the outbox")


def set_phase(agent: AgentProcess, phase: str) -> None:
    """Move the release as distribution will (the lead's agent/distribute/ is not here yet)."""
    with sqlite3.connect(agent.db_path) as db:
        db.execute(
            "UPDATE releases SET phase = ? WHERE version = ? AND project_id = "
            "(SELECT id FROM projects WHERE key = ?)",
            (phase, VERSION, PROJECT),
        )


@pytest.fixture(scope="module")
def vote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[AgentProcess, dict]]:
    """Release 1.5.0 under vote, started by its release manager with the source it was built
    from; the project's [VOTE] mail comes from the release manager."""
    root = tmp_path_factory.mktemp("record")
    agent = AgentProcess(root / "agent")
    agent.start()
    try:
        rm = agent.committer
        files = source_release(root / "rc", VERSION, sign=rm.key.sign)
        notes = root / "rc" / "CHANGES.txt"
        notes.write_text("1.5.0: faster parsing\n")
        revision = make_candidate(agent, rm.token, VERSION, [*files, notes])
        with client(agent, agent.pmc_token) as c:
            r = c.put(
                f"/projects/{PROJECT}/vote-settings", json={"vote_mail_from": "release_manager"}
            )
            assert r.status_code == 200 and r.json()["vote_mail_from"] == "release_manager", r.text
        with client(agent, rm.token) as c:
            r = c.post(
                f"/projects/{PROJECT}/releases/{VERSION}/vote",
                json={"source_ref": SOURCE_REF, "source_url": SOURCE_URL},
            )
            assert r.status_code == 201, r.text
            started = r.json()
        assert (started["source_ref"], started["source_url"]) == (SOURCE_REF, SOURCE_URL)
        yield agent, revision
    finally:
        agent.stop()


def test_the_vote_mail_carries_what_voters_look_for(vote) -> None:
    agent, revision = vote
    rm = agent.committer
    opening = mail(agent, "[VOTE]")
    # from the release manager (it is their vote); the agent sends it; replies go to the list
    name, address = email.utils.parseaddr(str(opening["From"]))
    assert address == rm.email and name
    assert opening["Sender"] == AGENT_FROM
    assert opening["Reply-To"] == "dev@acme-lib.apache.org"
    body = opening.get_content()
    page = f"{agent.url}/projects/{PROJECT}/candidates/{VERSION}/"
    archive = next(f["path"] for f in revision["files"] if f["path"].endswith("-src.tar.gz"))
    for needle in (
        f"The source was built from {SOURCE_REF}:\n  {SOURCE_URL}",
        f"The release notes:\n  {page}CHANGES.txt",
        f"    {page}{archive}\n",
        f"    signature: {page}{archive}.asc\n",
        f"    checksum:  {page}{archive}.sha512\n",
        f"key {spaced(rm.key.fingerprint)} (in KEYS)",
        f"The signing key:\n  {spaced(rm.key.fingerprint)}",
    ):
        assert needle in body, (needle, body)
    assert "CHANGES.txt\n    " not in body  # a document, not an artifact to sign
    with httpx.Client(timeout=30) as http:  # every link in it works
        for link in (f"{page}{archive}.asc", f"{page}{archive}.sha512", f"{page}CHANGES.txt"):
            assert http.get(link).status_code == 200, link


def test_the_candidate_page_shows_each_artifacts_signer(vote) -> None:
    agent, _revision = vote
    page = httpx.get(f"{agent.url}/projects/{PROJECT}/candidates/{VERSION}/", timeout=30).text
    assert spaced(agent.committer.key.fingerprint) in page
    assert ">in KEYS<" in page
    assert "Release notes:" in page and 'href="CHANGES.txt"' in page


def test_after_the_vote_the_record_stays_and_says_where_the_release_went(vote) -> None:
    agent, revision = vote
    rm = agent.committer
    members = [(agent.pmc.key, agent.pmc_token)]
    for name in ("dave", "erin"):
        member = add_member(agent, name)
        members.append((member.key, member.token))
    for key, token in members:
        with client(agent, token) as c:
            r = c.post(
                f"/projects/{PROJECT}/releases/{VERSION}/vote/ballots",
                json={"signed": sign_ballot(key, ballot(revision, "+1"))},
            )
            assert r.status_code == 201, r.text
    # the list archive's copy of the thread (Pony Mail) gives the thread's permalink
    opening = mail(agent, "[VOTE]")
    pony = {
        "emails": [
            {
                "id": "abc123pony", "message-id": opening["Message-ID"], "from": opening["From"],
                "subject": opening["Subject"], "epoch": int(time.time()),
                "list": "<dev.acme-lib.apache.org>", "body": "the call for a vote",
            }
        ]
    }  # fmt: skip
    with client(agent, rm.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{VERSION}/vote/mail",
            json={"format": "ponymail", "content": json.dumps(pony)},
        )
        assert r.status_code == 200, r.text
        thread = c.get(f"/projects/{PROJECT}/releases/{VERSION}/vote").json()
    assert thread["thread_url"] == "https://lists.apache.org/thread/abc123pony"
    agent.cli("vote", "close", PROJECT, VERSION, "--reason", "test: all votes are in")

    result = mail(agent, "[RESULT]").get_content()
    assert "has PASSED" in result
    assert "https://lists.apache.org/thread/abc123pony" in result  # the vote thread
    assert "The release moves on to distribution" not in result
    for needle in (
        "nothing is published yet",
        "approves it with their own OpenPGP key",
        f"`atr distribute plan {PROJECT} {VERSION}`",
        f"`atr distribute approve {PROJECT} {VERSION} PLAN.asc`",
        f"/projects/{PROJECT}/downloads/",  # (decided by `atr-agent vote close`: its public_url)
        "The announcement follows",
    ):
        assert needle.lower() in " ".join(result.split()).lower(), (needle, result)
    assert f"/projects/{PROJECT}/candidates/{VERSION}/" in result  # the vote's record

    page_url = f"{agent.url}/projects/{PROJECT}/candidates/{VERSION}/"
    archive = next(f["path"] for f in revision["files"] if f["path"].endswith("-src.tar.gz"))
    with httpx.Client(timeout=30) as http:
        # passed: the record is whole and the files voted on are still served
        page = http.get(page_url).text
        assert "The vote passed" in page and f"/projects/{PROJECT}/downloads/" in page
        assert "no signature" not in page
        assert spaced(rm.key.fingerprint) in page
        for path in (archive, archive + ".asc", archive + ".sha512"):
            assert f'href="{path}"' in page
            assert http.get(page_url + path).status_code == 200, path

        set_phase(agent, "announced")
        page = http.get(page_url).text
        assert "is released" in page and f"/projects/{PROJECT}/downloads/" in page
        assert http.get(page_url + archive).status_code == 200

        set_phase(agent, "archived")
        page = http.get(page_url).text
        assert "was archived" in page and "no signature" not in page
        assert f'href="{archive}"' not in page and archive in page  # listed, not linked
        assert spaced(rm.key.fingerprint) in page  # who signed it stays on record
        gone = http.get(page_url + archive + ".asc")
        assert gone.status_code == 404
        assert f"/projects/{PROJECT}/downloads/" in (gone.json()["hint"] or "")
