"""A full release vote driven through the API of a real agent, with mail to a real SMTP server.

The release manager (bob, a committer) uploads an artifact signed with his pgpy key;
the agent's checks pass and the release becomes a candidate. Bob starts the vote:
the [VOTE] mail reaches aiosmtpd over STARTTLS with AUTH. Three PMC members cast
clear-signed ballots (pgpy keys; the agent verifies them with GnuPG, and so does
``gpg --verify`` on the copy mailed to the list); a committer votes by email (mbox).
The operator closes the vote early (``atr-agent vote close``: the agent runs with the
production 72-hour minimum, so no test-only clock is involved) and the agent decides:
passed with the right tally and a [RESULT] mail. A vote with two binding +1 fails
and the release is back in compose; forged ballots are refused with clear errors.
"""

from __future__ import annotations

import email.utils
import json
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.openpgp.cleartext import clear_sign
from tests.integration.mail_support import SmtpServer
from tests.integration.vote_support import (
    add_member,
    ballot,
    client,
    events,
    make_candidate,
    sign_ballot,
    source_release,
    wait_phase,
)
from tests.support.agent import PROJECT, AgentProcess
from tests.support.gpg import kill_agent
from tests.support.keys import fresh_key

pytestmark = pytest.mark.integration

SUBJECT = "[VOTE] Release Acme Library {version}"


@pytest.fixture(scope="module")
def smtp(tmp_path_factory: pytest.TempPathFactory):
    with SmtpServer(tmp_path_factory.mktemp("smtp")) as server:
        yield server


@pytest.fixture(scope="module")
def voting(tmp_path_factory: pytest.TempPathFactory, smtp: SmtpServer):
    """An agent that mails through aiosmtpd, with two more PMC members (dave, erin)."""
    agent = AgentProcess(tmp_path_factory.mktemp("voting"), config=smtp.agent_config())
    agent.start()
    try:
        members = {
            "alice": agent.pmc,
            "dave": add_member(agent, "dave", role="pmc"),
            "erin": add_member(agent, "erin", role="pmc"),
        }
        yield agent, members
    finally:
        agent.stop()


def start_candidate(agent: AgentProcess, tmp_path: Path, version: str) -> dict:
    rm = agent.committer
    files = source_release(tmp_path / version, version, sign=rm.key.sign)
    return make_candidate(agent, rm.token, version, files)


def start_vote(agent: AgentProcess, token: str, version: str, **body) -> dict:
    with client(agent, token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json=body)
        assert r.status_code == 201, r.text
        return r.json()


def cast(agent: AgentProcess, token: str, version: str, signed: str):
    with client(agent, token) as c:
        return c.post(
            f"/projects/{PROJECT}/releases/{version}/vote/ballots", json={"signed": signed}
        )


def mbox(*messages: tuple[str, str, str]) -> str:
    """An mbox of (From, In-Reply-To, body) replies dated now."""
    out = []
    for i, (sender, thread, body) in enumerate(messages):
        out.append(
            f"From {email.utils.parseaddr(sender)[1]} Mon Jan  5 10:00:00 2026\n"
            f"From: {sender}\n"
            "To: dev@acme-lib.apache.org\n"
            "Subject: Re: [VOTE] Release Acme Library 1.0.0\n"
            f"Date: {email.utils.format_datetime(datetime.now(UTC) - timedelta(seconds=5))}\n"
            f"Message-ID: <reply-{i}-{os.getpid()}@mail.example.org>\n"
            f"In-Reply-To: {thread}\n"
            f"References: {thread}\n"
            "Content-Type: text/plain; charset=utf-8\n\n"
            f"{body}\n"
        )
    return "\n".join(out)


def atr_cli(agent: AgentProcess, token: str, *args: str) -> subprocess.CompletedProcess[str]:
    script = Path(sys.executable).parent / "atr"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    env.update(ATR_AGENT=agent.url, ATR_TOKEN=token, HOME=tempfile.mkdtemp(prefix="atr-home-"))
    return subprocess.run(
        [str(script), *args], capture_output=True, text=True, env=env, timeout=60, check=False
    )


def gpg_verify(signed_text: str, public_key: str) -> subprocess.CompletedProcess[str]:
    home = Path(tempfile.mkdtemp(prefix="atr-gpgv-"))
    os.chmod(home, 0o700)
    try:
        subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--import"],
            input=public_key,
            text=True,
            capture_output=True,
            check=True,
        )
        return subprocess.run(
            ["gpg", "--homedir", str(home), "--batch", "--status-fd", "1", "--verify"],
            input=signed_text,
            text=True,
            capture_output=True,
            check=False,
        )
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def test_a_full_vote_passes(voting, smtp: SmtpServer, tmp_path: Path) -> None:
    agent, members = voting
    version = "1.0.0"
    rm = agent.committer
    revision = start_candidate(agent, tmp_path, version)
    artifact = next(f for f in revision["files"] if f["path"].endswith(".tar.gz"))

    # the release manager (a committer) starts the vote
    vote = start_vote(agent, rm.token, version)
    assert vote["round"] == "project" and vote["list_address"] == "dev@acme-lib.apache.org"
    assert vote["revision"] == revision["number"] and vote["started_by"] == "bob"
    hours = (
        datetime.fromisoformat(vote["ends_at"]) - datetime.fromisoformat(vote["started_at"])
    ).total_seconds() / 3600
    assert hours == pytest.approx(72)
    assert vote["tally"]["outcome"] == "open"
    assert vote["candidate_url"] == f"{agent.url}/projects/{PROJECT}/candidates/{version}/"
    assert vote["keys_url"] == f"{agent.url}/projects/{PROJECT}/KEYS"
    with client(agent, rm.token) as c:
        assert c.get(f"/projects/{PROJECT}/releases/{version}").json()["phase"] == "vote"

    # the [VOTE] mail, over STARTTLS with a login
    opening = smtp.wait_for(lambda m: m.subject == SUBJECT.format(version=version), what="[VOTE]")
    assert opening.tls and opening.login == smtp.user
    assert opening.rcpt_tos == ["dev@acme-lib.apache.org"]
    # by default the agent sends it on the release manager's behalf: replies go to the list
    # and to them (the project's vote settings may send it From them instead)
    name, address = email.utils.parseaddr(opening.message["From"])
    assert (name, address) == ("Bob via ATR", "atr-agent@example.org")
    assert opening.message["Reply-To"] == f"dev@acme-lib.apache.org, Bob <{rm.email}>"
    body = opening.body
    for needle in (
        vote["candidate_url"],
        vote["keys_url"],
        artifact["path"],
        artifact["sha512"],
        "gpg --verify",
        "sha512sum -c",
        "at least 72 hours",
        datetime.fromisoformat(vote["ends_at"]).strftime("%Y-%m-%d %H:%M UTC"),
    ):
        assert needle in body, needle
    thread = opening.message["Message-ID"]

    # three PMC members vote +1 with clear-signed ballots
    for name, member in members.items():
        signed = sign_ballot(
            member.key, ballot(revision, "+1", comment=f"{name}: sigs ok", binding=True)
        )
        r = cast(agent, member.token, version, signed)
        assert r.status_code == 201, r.text
        assert r.json()["binding"] is True and r.json()["value"] == "+1"
        assert r.json()["fingerprint"] == member.key.fingerprint

    # each ballot is mailed to the list, signed text included, and gpg --verify accepts it
    ballot_mails = [
        smtp.wait_for(
            lambda m, n=name: (
                m.subject == "Re: " + SUBJECT.format(version=version)
                and f"{n} votes +1 (binding)" in m.body
            ),
            what=f"{name}'s ballot",
        )
        for name in members
    ]
    assert all(m.message["In-Reply-To"] == thread for m in ballot_mails)
    alice_mail = ballot_mails[0].body
    signed_text = alice_mail[alice_mail.index("-----BEGIN PGP SIGNED MESSAGE-----") :]
    signed_text = signed_text[: signed_text.index("-----END PGP SIGNATURE-----") + 27] + "\n"
    verified = gpg_verify(signed_text, members["alice"].key.public_armor)
    assert verified.returncode == 0, verified.stderr
    assert f"VALIDSIG {members['alice'].key.fingerprint}" in verified.stdout

    # a committer votes by email; the agent's own [VOTE] mail in the mbox is not a vote
    source = mbox(
        (f"Bob <{rm.email}>", thread, "+1 (non-binding)\n\nChecked the hashes.\n> -1\n"),
        ("Someone <someone@example.net>", thread, "+1\n-- \n-1 sig line"),
        ("Carla <carla@example.net>", "<unrelated@example.org>", "hello\n"),
    )
    with client(agent, rm.token) as c:
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote/mail",
            json={"format": "mbox", "content": source},
        )
        assert r.status_code == 200, r.text
        imported = r.json()
    assert imported["counted"] == 2
    assert imported["tally"]["binding"] == {"+1": 3, "0": 0, "-1": 0}
    assert imported["tally"]["non_binding"] == {"+1": 2, "0": 0, "-1": 0}
    assert any("no +1, 0 or -1 line" in why for why in imported["ignored"])
    # importing the same mbox again counts nothing twice
    with client(agent, rm.token) as c:
        again = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote/mail",
            json={"format": "mbox", "content": source},
        ).json()
    assert again["counted"] == 0

    # the fixed CLI interface
    status = atr_cli(agent, rm.token, "vote", "status", PROJECT, version, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout) == {
        "outcome": "open",
        "ends_at": vote["ends_at"].replace("+00:00", "Z"),
        "binding": {"+1": 3, "0": 0, "-1": 0},
        "non_binding": {"+1": 2, "0": 0, "-1": 0},
    }

    # the operator closes the vote early; the agent decides it
    closed = agent.cli("vote", "close", PROJECT, version, "--reason", "test: all votes are in")
    assert "passed" in closed.stdout
    with client(agent, rm.token) as c:
        assert c.get(f"/projects/{PROJECT}/releases/{version}").json()["phase"] == "passed"
        final = c.get(f"/projects/{PROJECT}/releases/{version}/vote").json()
    assert final["tally"]["outcome"] == "passed"
    assert final["reason"].startswith("the vote has 3 binding +1")
    voters = {(b["voter"], b["source"], b["binding"]) for b in final["ballots"]}
    # cast with API tokens (what `atr vote cast` uses), not from a desktop login session
    assert voters == {
        ("alice", "api", True),
        ("dave", "api", True),
        ("erin", "api", True),
        ("bob", "email", False),
        ("someone@example.net", "email", False),
    }

    result = smtp.wait_for(
        lambda m: m.subject == "[RESULT] " + SUBJECT.format(version=version), what="[RESULT]"
    )
    assert "has PASSED" in result.body
    assert "Binding votes:     +1: 3   0: 0   -1: 0" in result.body
    assert "Non-binding votes: +1: 2   0: 0   -1: 0" in result.body
    assert "closed early by the agent's operator: test: all votes are in" in result.body
    assert "+1  alice (signed, cast with an API token (CLI))" in result.body
    assert "+1  bob (email to the list)" in result.body
    assert result.message["In-Reply-To"] == thread

    seen = [e for e in events(agent, rm.token, version=version)]
    kinds = [e["kind"] for e in seen]
    assert kinds.count("vote.started") == 1
    assert kinds.count("vote.ballot_cast") == 5
    cast_sources = [e["data"]["source"] for e in seen if e["kind"] == "vote.ballot_cast"]
    assert sorted(cast_sources) == ["api", "api", "api", "email", "email"]
    # one tally change per signed ballot, one for the email import, one for the decision
    assert kinds.count("vote.tally_changed") == 5
    [decided] = [e for e in seen if e["kind"] == "vote.decided"]
    assert decided["data"]["outcome"] == "passed"
    assert decided["data"]["closed_early"]["reason"] == "test: all votes are in"
    moves = [
        (e["data"]["from"], e["data"]["to"]) for e in seen if e["kind"] == "release.phase_changed"
    ]
    assert ("candidate", "vote") in moves and moves[-1] == ("vote", "passed")
    sent = [e for e in seen if e["kind"] == "mail.sent"]
    assert {e["data"]["kind"] for e in sent} >= {"vote", "ballot", "result"}


@pytest.fixture(scope="module")
def second_vote(voting, tmp_path_factory: pytest.TempPathFactory):
    """Release 1.1.0 under vote, started by alice (PMC)."""
    agent, members = voting
    version = "1.1.0"
    revision = start_candidate(agent, tmp_path_factory.mktemp("rc"), version)
    vote = start_vote(agent, agent.pmc_token, version)
    return agent, members, version, revision, vote


def refused(response, status: int, message: str) -> None:
    assert response.status_code == status, response.text
    assert message in response.json()["message"], response.json()


def test_forged_ballots_are_refused(second_vote) -> None:
    agent, members, version, revision, _vote = second_vote
    alice, dave = members["alice"], members["dave"]
    bob = agent.committer

    # a signed ballot changed after signing
    tampered = sign_ballot(alice.key, ballot(revision, "+1")).replace('"+1"', '"-1"')
    refused(cast(agent, alice.token, version, tampered), 400, "does not match its text")

    # somebody else's key
    refused(
        cast(agent, alice.token, version, sign_ballot(dave.key, ballot(revision))),
        400,
        "not signed with a key registered for user 'alice'",
    )
    stranger = fresh_key("mallory")
    refused(
        cast(agent, bob.token, version, sign_ballot(stranger, ballot(revision))),
        400,
        "not signed with a key registered for user 'bob'",
    )

    # a committer claiming a binding vote
    claim = sign_ballot(bob.key, ballot(revision, "+1", binding=True))
    refused(cast(agent, bob.token, version, claim), 403, "claims to be binding")

    # content that does not match the vote
    refused(
        cast(agent, alice.token, version, sign_ballot(alice.key, ballot(revision, revision=99))),
        400,
        "the vote is on revision",
    )
    wrong = ballot(revision)
    wrong_reviewed = {p: "0" * 128 for p in wrong.reviewed}
    refused(
        cast(
            agent,
            alice.token,
            version,
            sign_ballot(alice.key, ballot(revision, reviewed=wrong_reviewed)),
        ),
        400,
        "reviewed other bytes",
    )
    refused(
        cast(
            agent, alice.token, version, sign_ballot(alice.key, ballot(revision, version="1.0.0"))
        ),
        400,
        "not acme-lib 1.1.0",
    )
    refused(
        cast(agent, alice.token, version, sign_ballot(alice.key, ballot(revision, reviewed={}))),
        400,
        "a +1 must review every artifact",
    )
    refused(cast(agent, alice.token, version, "+1 from alice"), 400, "cannot be read")
    not_json = clear_sign(alice.key.key, "+1, looks great")
    refused(cast(agent, alice.token, version, not_json), 400, "not a JSON ballot")

    # none of them counted; each refusal is an event
    with client(agent, alice.token) as c:
        tally = c.get(f"/projects/{PROJECT}/releases/{version}/vote/tally").json()
    assert tally["binding"] == {"+1": 0, "0": 0, "-1": 0}
    assert tally["non_binding"] == {"+1": 0, "0": 0, "-1": 0}
    refusals = [
        e for e in events(agent, alice.token, version=version) if e["kind"] == "vote.ballot_refused"
    ]
    assert len(refusals) == 10
    assert any(e["data"]["binding_claim"] for e in refusals)

    # the same committer without the claim is welcome, non-binding; a replay is refused
    fair = sign_ballot(bob.key, ballot(revision, "+1"))
    r = cast(agent, bob.token, version, fair)
    assert r.status_code == 201 and r.json()["binding"] is False
    refused(cast(agent, bob.token, version, fair), 400, "cast already")


def test_a_ballot_obeys_the_tokens_project_and_role(second_vote) -> None:
    """A ballot is a write to the project: a token limited to another project is refused, and
    a PMC member's token limited to the committer role cannot cast a binding vote."""
    agent, _members, version, revision, _vote = second_vote
    frank = add_member(agent, "fiona", role="pmc")
    with client(agent, agent.admin_token) as admin:
        r = admin.post("/projects", json={"key": "acme-tools", "committee": "acme"})
        assert r.status_code in (201, 409), r.text
        scoped = admin.post(
            "/tokens", json={"user": "fiona", "project": "acme-tools", "role": "pmc"}
        ).json()["token"]
        low = admin.post("/tokens", json={"user": "fiona", "role": "committer"}).json()["token"]
    content = ballot(revision, "+1", binding=True)
    refused(cast(agent, scoped, version, sign_ballot(frank.key, content)), 403, "limited to")
    refused(cast(agent, low, version, sign_ballot(frank.key, content)), 403, "'committer' role")
    # without the claim, the committer-limited token's ballot counts, as non-binding
    r = cast(agent, low, version, sign_ballot(frank.key, ballot(revision, "0")))
    assert r.status_code == 201 and r.json()["binding"] is False, r.text
    with client(agent, frank.token) as c:
        tally = c.get(f"/projects/{PROJECT}/releases/{version}/vote/tally").json()
    assert tally["binding"]["+1"] == 0 and tally["non_binding"]["0"] == 1


def test_two_binding_approvals_fail_and_the_release_returns_to_compose(
    second_vote, smtp: SmtpServer
) -> None:
    agent, members, version, revision, _vote = second_vote
    for name in ("alice", "dave"):
        r = cast(
            agent, members[name].token, version, sign_ballot(members[name].key, ballot(revision))
        )
        assert r.status_code == 201, r.text
    # erin first votes -1, then changes her mind to 0: the last ballot counts
    erin = members["erin"]
    assert (
        cast(agent, erin.token, version, sign_ballot(erin.key, ballot(revision, "-1"))).status_code
        == 201
    )
    assert (
        cast(agent, erin.token, version, sign_ballot(erin.key, ballot(revision, "0"))).status_code
        == 201
    )

    closed = agent.cli("vote", "close", PROJECT, version, "--reason", "test: two +1 only")
    assert "failed" in closed.stdout
    with client(agent, agent.pmc_token) as c:
        assert c.get(f"/projects/{PROJECT}/releases/{version}").json()["phase"] == "compose"
        final = c.get(f"/projects/{PROJECT}/releases/{version}/vote").json()
    assert final["tally"]["outcome"] == "failed"
    assert final["tally"]["binding"] == {"+1": 2, "0": 1, "-1": 0}
    superseded = [b for b in final["ballots"] if b["superseded"]]
    assert [(b["voter"], b["value"]) for b in superseded] == [("erin", "-1")]

    result = smtp.wait_for(
        lambda m: m.subject == "[RESULT] " + SUBJECT.format(version=version), what="[RESULT]"
    )
    assert "has FAILED: the vote has 2 binding +1 votes; at least 3 are needed" in result.body
    assert "goes back to compose" in result.body

    moves = [
        (e["data"]["from"], e["data"]["to"], e["data"]["reason"])
        for e in events(agent, agent.pmc_token, version=version)
        if e["kind"] == "release.phase_changed"
    ]
    assert moves[-2][:2] == ("vote", "failed") and "at least 3 are needed" in moves[-2][2]
    assert moves[-1][:2] == ("failed", "compose")

    # a ballot after the end is refused
    late = cast(
        agent, members["erin"].token, version, sign_ballot(members["erin"].key, ballot(revision))
    )
    refused(late, 404, "has no open vote")


def test_who_may_start_and_how_long(voting, tmp_path: Path) -> None:
    agent, _members = voting
    version = "1.2.0"
    # a new committer first: adding a member's key changes the keys the checks trust
    frank = add_member(agent, "frank", role="committer")
    start_candidate(agent, tmp_path, version)
    with client(agent, frank.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json={})
    refused(r, 403, "release manager of acme-lib 1.2.0 (bob)")
    with client(agent, agent.other.token) as c:  # carol: PMC of another committee
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json={})
    assert r.status_code == 403
    with client(agent, agent.pmc_token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json={"hours": 24})
        refused(r, 400, "stays open at least 72 hours")
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote", json={"hours": 0.5, "security": True}
        )
        refused(r, 400, "a security vote stays open at least 1 hours")
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json={"round": "incubator"})
        refused(r, 400, "starts by itself")
        r = c.post(
            f"/projects/{PROJECT}/releases/{version}/vote", json={"hours": 12, "security": True}
        )
        assert r.status_code == 201, r.text
        assert r.json()["list_address"] == "private@acme-lib.apache.org"
        assert r.json()["security"] is True
        r = c.post(f"/projects/{PROJECT}/releases/{version}/vote", json={})
        refused(r, 409, "has an open vote already")
        open_votes = c.get("/votes", params={"state": "open"}).json()
    assert (version, "private@acme-lib.apache.org") in [
        (v["version"], v["list_address"]) for v in open_votes
    ]
    assert all(v["tally"]["outcome"] == "open" for v in open_votes)
    assert not {"1.0.0", "1.1.0"} & {v["version"] for v in open_votes}  # decided ones


def test_a_ballot_made_with_gpg_and_atr(voting, tmp_path: Path) -> None:
    """``atr vote ballot`` → ``gpg --clearsign`` → ``atr vote cast``: the agent accepts a ballot
    GnuPG signed; ``atr vote import-mail`` reads a Pony Mail thread."""
    agent, members = voting
    version = "1.3.0"
    revision = start_candidate(agent, tmp_path, version)
    start_vote(agent, agent.pmc_token, version)
    dave = members["dave"]

    # dave's copies of the candidate, downloaded and checked
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    with client(agent, dave.token) as c:
        for f in revision["files"]:
            r = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/latest/files/{f['path']}")
            (downloads / f["path"]).write_bytes(r.content)
    made = atr_cli(
        agent, dave.token, "vote", "ballot", PROJECT, version, "--value=+1",
        "--dir", str(downloads), "--comment", "built and tested on Java 21", "--binding",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    content = json.loads(made.stdout)
    assert content["revision"] == revision["number"] and content["binding"] is True
    assert set(content["reviewed"]) == {f["path"] for f in revision["files"]}

    home = Path(tempfile.mkdtemp(prefix="atr-gpg-"))
    os.chmod(home, 0o700)
    try:
        gpg = ["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback"]
        subprocess.run([*gpg, "--import"], input=dave.key.secret_armor, text=True, check=True,
                       capture_output=True)  # fmt: skip
        (tmp_path / "ballot.json").write_text(made.stdout)
        subprocess.run(
            [*gpg, "--passphrase", "", "--local-user", dave.key.fingerprint, "--clearsign",
             str(tmp_path / "ballot.json")],
            check=True, capture_output=True,
        )  # fmt: skip
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)
    cast_out = atr_cli(
        agent, dave.token, "vote", "cast", PROJECT, version, str(tmp_path / "ballot.json.asc")
    )
    assert cast_out.returncode == 0, cast_out.stderr
    assert f"dave votes +1 (binding), signed by {dave.key.fingerprint}" in cast_out.stdout

    # a changed copy is caught before anything is signed
    (downloads / revision["files"][0]["path"]).write_bytes(b"tampered")
    bad = atr_cli(agent, dave.token, "vote", "ballot", PROJECT, version, "--value=+1",
                  "--dir", str(downloads))  # fmt: skip
    assert bad.returncode == 2 and "differs from the candidate" in bad.stderr
    # a +1 without the voter's copies, or with only some of them, is refused the same way
    no_dir = atr_cli(agent, dave.token, "vote", "ballot", PROJECT, version, "--value=+1")
    assert no_dir.returncode == 2 and "give --dir" in no_dir.stderr and no_dir.stdout == ""
    artifact = next(
        f["path"] for f in revision["files"] if not f["path"].endswith((".asc", ".sha512"))
    )
    (downloads / artifact).unlink()
    partial = atr_cli(agent, dave.token, "vote", "ballot", PROJECT, version, "--value=+1",
                      "--dir", str(downloads))  # fmt: skip
    assert partial.returncode == 2 and "must review every artifact" in partial.stderr
    assert partial.stdout == ""

    # email votes from the list archive's JSON
    with client(agent, agent.pmc_token) as c:
        thread = c.get(f"/projects/{PROJECT}/releases/{version}/vote").json()
    opening = "[VOTE] Release Acme Library 1.3.0"
    pony = {
        "thread": {"message-id": "<x@y>", "subject": opening, "children": []},
        "emails": [
            {
                "id": "a1",
                "message-id": "<pony-1@example.org>",
                "from": f"Erin <{members['erin'].email}>",
                "subject": "Re: " + opening,
                "epoch": int(datetime.now(UTC).timestamp()) - 5,
                "list": "<dev.acme-lib.apache.org>",
                "body": "-1 the NOTICE year is wrong\n\n> +1\n",
            }
        ],
    }
    (tmp_path / "thread.json").write_text(json.dumps(pony))
    imported = atr_cli(agent, agent.pmc_token, "vote", "import-mail", PROJECT, version,
                       str(tmp_path / "thread.json"), "--json")  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    result = json.loads(imported.stdout)
    assert result["counted"] == 1
    assert result["tally"]["binding"] == {"+1": 1, "0": 0, "-1": 1}
    assert thread["tally"]["binding"]["+1"] == 1
    shown = atr_cli(agent, agent.pmc_token, "vote", "status", PROJECT, version)
    assert "binding +1: 1  0: 0  -1: 1" in shown.stdout
    assert "erin" in shown.stdout and "email" in shown.stdout
    # dave's ballot was cast with `atr vote cast` (an API token): not "desktop"
    dave_line = next(line for line in shown.stdout.splitlines() if line.split()[:1] == ["dave"])
    assert dave_line.split()[3] == "api", shown.stdout


def test_a_release_taken_out_of_its_vote_can_be_voted_on_again(voting, tmp_path: Path) -> None:
    agent, members = voting
    version = "1.4.0"
    revision = start_candidate(agent, tmp_path, version)
    first = start_vote(agent, agent.pmc_token, version)
    alice = members["alice"]
    path = f"/projects/{PROJECT}/releases/{version}"
    with client(agent, agent.pmc_token) as c:
        # a PMC member stops the vote by hand: a problem was found
        for to in ("failed", "compose", "checks"):
            r = c.post(path + "/transition", json={"to": to, "reason": "test: stop the vote"})
            assert r.status_code == 200, r.text
    refused(
        cast(agent, alice.token, version, sign_ballot(alice.key, ballot(revision))),
        400,
        "is closed",
    )
    # back in checks with the same revision: its checks are done, so it is a candidate again
    wait_phase(agent, agent.pmc_token, version, "candidate", timeout=120)
    second = start_vote(agent, agent.pmc_token, version)
    assert second["id"] != first["id"]
    with client(agent, agent.pmc_token) as c:
        votes = c.get(path + "/votes").json()
    assert [(v["id"], v["tally"]["outcome"]) for v in votes] == [
        (second["id"], "open"),
        (first["id"], "cancelled"),
    ]
    assert "left phase 'vote'" in votes[1]["reason"]
    r = cast(agent, alice.token, version, sign_ballot(alice.key, ballot(revision)))
    assert r.status_code == 201, r.text


def test_nobody_skips_the_vote(voting, tmp_path: Path) -> None:
    agent, _members = voting
    version = "1.5.0"
    start_candidate(agent, tmp_path, version)
    start_vote(agent, agent.pmc_token, version)
    path = f"/projects/{PROJECT}/releases/{version}"
    with client(agent, agent.pmc_token) as c:
        r = c.post(path + "/transition", json={"to": "passed", "reason": "skip it"})
        assert r.status_code == 409, r.text
        assert "the vote decides" in r.json()["message"]
        assert c.get(path).json()["phase"] == "vote"


def test_vote_settings(voting) -> None:
    agent, members = voting
    path = f"/projects/{PROJECT}/vote-settings"
    with client(agent, agent.committer_token) as c:
        before = c.get(path).json()
        assert before == {
            "dev_list": "dev@acme-lib.apache.org",
            "private_list": "private@acme-lib.apache.org",
            "vote_min_hours": 72,
            "vote_mail_from": "agent",
        }
        refused(c.put(path, json={"vote_min_hours": 96}), 403, "needs the 'pmc' role")
    with client(agent, agent.pmc_token) as c:
        refused(c.put(path, json={"vote_min_hours": 24}), 400, "at least 72 hours")
        refused(c.put(path, json={"dev_list": "not a list"}), 400, "not an email address")
        r = c.put(path, json={"vote_min_hours": 96, "dev_list": "dev@acme.apache.org"})
        assert r.status_code == 200, r.text
        assert r.json()["vote_min_hours"] == 96 and r.json()["dev_list"] == "dev@acme.apache.org"
        assert c.get(path).json() == r.json()
        r = c.put(path, json={"vote_min_hours": 72, "dev_list": before["dev_list"]})  # restore
        assert r.json() == before
    changed = [
        e for e in events(agent, agent.pmc_token) if e["kind"] == "project.vote_settings_changed"
    ]
    assert [e["data"]["vote_min_hours"] for e in changed[-2:]] == [96, 72]
    assert changed[-2]["data"]["changed"] == ["dev_list", "vote_min_hours"]
    assert changed[-1]["actor"] == members["alice"].name
