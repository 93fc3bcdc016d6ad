"""AgentClient's vote methods over httpx.MockTransport: paths, bodies, answers; ballot helpers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.client import AgentClient
from shared.client.votes import ballot_for, sign_ballot
from shared.errors import ApiError, ValidationError
from shared.openpgp import generate_key, public_armor
from shared.openpgp.cleartext import verify_cleartext
from shared.protocol import Revision, RevisionFile
from shared.protocol.votes import BallotOut, Tally, VoteOut
from shared.votes import parse_ballot_text

NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
BASE = "http://agent.test:8765"
TALLY = Tally(
    outcome="open",
    ends_at=NOW + timedelta(hours=72),
    binding={"+1": 1, "0": 0, "-1": 0},
    non_binding={"+1": 0, "0": 0, "-1": 0},
)
VOTE = VoteOut(
    id=7,
    project="acme-lib",
    version="1.0.0",
    revision=2,
    round="project",
    list_address="dev@acme-lib.apache.org",
    security=False,
    started_by="bob",
    started_at=NOW,
    ends_at=NOW + timedelta(hours=72),
    tally=TALLY,
    ballots=[],
    candidate_url=f"{BASE}/projects/acme-lib/candidates/1.0.0/",
    keys_url=f"{BASE}/projects/acme-lib/KEYS",
)
BALLOT = BallotOut(
    voter="alice",
    value="+1",
    binding=True,
    source="desktop",
    comment="",
    fingerprint="A" * 40,
    cast_at=NOW,
    superseded=False,
)
REVISION = Revision(
    project="acme-lib",
    version="1.0.0",
    number=2,
    created_at=NOW,
    created_by="bob",
    message="",
    files=[RevisionFile(path="a.tar.gz", size=1, sha256="0" * 64, sha512="1" * 128)],
)


def client_with(seen: list[httpx.Request]) -> AgentClient:
    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        path = request.url.path
        if path.endswith("/vote") and request.method == "POST":
            return httpx.Response(201, json=VOTE.model_dump(mode="json"))
        if path.endswith("/vote/ballots"):
            return httpx.Response(201, json=BALLOT.model_dump(mode="json"))
        if path.endswith("/vote/tally"):
            return httpx.Response(200, json=TALLY.model_dump(mode="json"))
        if path.endswith("/vote/mail"):
            return httpx.Response(
                200, json={"counted": 1, "ignored": [], "tally": TALLY.model_dump(mode="json")}
            )
        if path == "/api/v1/votes":
            return httpx.Response(200, json=[VOTE.model_dump(mode="json")])
        if path.endswith("/vote-settings"):
            return httpx.Response(
                200,
                json={
                    "dev_list": "dev@acme-lib.apache.org",
                    "private_list": "private@acme-lib.apache.org",
                    "vote_min_hours": 72,
                },
            )
        return httpx.Response(409, json={"code": "conflict", "message": "no", "hint": None})

    return AgentClient(BASE, token="t", transport=httpx.MockTransport(handler))


async def test_vote_methods_send_the_contract() -> None:
    seen: list[httpx.Request] = []
    async with client_with(seen) as client:
        vote = await client.start_vote("acme-lib", "1.0.0", hours=96, security=True)
        assert vote == VOTE
        assert await client.vote_tally("acme-lib", "1.0.0") == TALLY
        assert await client.cast_ballot("acme-lib", "1.0.0", "SIGNED") == BALLOT
        imported = await client.import_mail("acme-lib", "1.0.0", "From x\n", format="mbox")
        assert imported.counted == 1
        assert await client.list_votes(state="open") == [VOTE]
        assert (await client.vote_settings("acme-lib")).vote_min_hours == 72
        with pytest.raises(ApiError) as err:
            await client.list_release_votes("acme-lib", "1.0.0")
        assert err.value.status == 409
    start, tally, cast, mail, votes, settings, _ = seen
    assert (start.method, start.url.path) == (
        "POST",
        "/api/v1/projects/acme-lib/releases/1.0.0/vote",
    )
    assert json.loads(start.content) == {
        "hours": 96.0,
        "security": True,
        "round": "project",
        "source_ref": None,
        "source_url": None,
        "release_notes_url": None,
    }
    assert tally.url.path.endswith("/vote/tally")
    assert json.loads(cast.content) == {"signed": "SIGNED"}
    assert json.loads(mail.content) == {"format": "mbox", "content": "From x\n"}
    assert votes.url.params["state"] == "open"
    assert settings.url.path == "/api/v1/projects/acme-lib/vote-settings"
    assert all(r.headers["Authorization"] == "Bearer t" for r in seen)


async def test_bad_identifiers_are_refused_before_sending() -> None:
    seen: list[httpx.Request] = []
    async with client_with(seen) as client:
        with pytest.raises(ValidationError):
            await client.vote_tally("Acme Lib", "1.0.0")
        with pytest.raises(ValidationError):
            await client.start_vote("acme-lib", "../1")
    assert seen == []


def test_ballot_helpers_make_a_verifiable_ballot() -> None:
    key = generate_key("Alice", "alice@example.org", bits=2048)
    content = ballot_for(
        REVISION, "+1", reviewed={"a.tar.gz": "1" * 128}, comment="ok", binding=True
    )
    signed = sign_ballot(key, content)
    result = verify_cleartext(signed, [public_armor(key)])
    assert result.valid
    assert parse_ballot_text(result.text) == content
    with pytest.raises(ValidationError, match=r"'\.\.' segment"):
        ballot_for(REVISION, "+1", reviewed={"../x": "1"})
    with pytest.raises(ValidationError, match="invalid ballot"):
        ballot_for(REVISION, "+2", reviewed={})  # type: ignore[arg-type]
