"""Login by signed challenge and token checks against a real agent (real GnuPG)."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from shared.challenge import parse_challenge
from shared.openpgp import sign_challenge
from tests.support.agent import AgentProcess
from tests.support.keys import KeyPair, fresh_key, user_key

pytestmark = pytest.mark.integration


def challenge(c: httpx.Client, user: str) -> dict:
    r = c.post("/auth/challenge", json={"user": user})
    assert r.status_code == 200, r.text
    return r.json()


def login(c: httpx.Client, challenge_id: str, signature: str) -> httpx.Response:
    return c.post("/auth/login", json={"challenge_id": challenge_id, "signature": signature})


def signed(key: KeyPair, text: str) -> str:
    """The login signature the desktop makes of a challenge ``text``."""
    return key.sign_challenge(parse_challenge(text))


def refused(r: httpx.Response, *words: str) -> dict:
    assert r.status_code == 401, r.text
    body = r.json()
    assert body["code"] == "unauthenticated"
    for word in words:
        assert word in body["message"], body
    return body


def test_login_with_the_users_key(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "alice")
        text = ch["challenge"]
        assert "user: alice" in text and f"agent: {agent.url}" in text and "nonce: " in text
        expires = datetime.fromisoformat(ch["expires_at"])
        assert timedelta(seconds=200) < expires - datetime.now(UTC) <= timedelta(seconds=300)
        r = login(c, ch["challenge_id"], signed(agent.pmc.key, text))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["user"]["name"] == "alice" and answer["token"].startswith("atr_")
        session_expires = datetime.fromisoformat(answer["expires_at"]) - datetime.now(UTC)
        assert timedelta(hours=11) < session_expires <= timedelta(hours=12)
    with agent.client(answer["token"]) as alice:
        assert alice.get("/users/me").json()["name"] == "alice"
        # The session token acts with alice's own role: PMC of acme only.
        r = alice.post("/committees", json={"name": "nope"})
        assert r.status_code == 403
        events = alice.get("/events", params={"limit": 1000, "since": 0}).json()["events"]
    logins = [e for e in events if e["kind"] == "user.logged_in" and e["actor"] == "alice"]
    assert logins and logins[-1]["data"]["fingerprint"] == agent.pmc.key.fingerprint


def test_a_committer_session_is_no_more_than_a_committer(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "bob")
        token = login(c, ch["challenge_id"], signed(agent.committer.key, ch["challenge"])).json()
    with agent.client(token["token"]) as bob:
        version = f"2.0.{time.time_ns() % 10**8}"
        assert bob.post(f"/projects/{agent.project}/releases", json={"version": version}).is_success
        base = f"/projects/{agent.project}/releases/{version}"
        assert bob.post(f"{base}/transition", json={"to": "checks"}).is_success
        r = bob.post(f"{base}/transition", json={"to": "candidate"})
        assert r.status_code == 403 and "'pmc'" in r.json()["message"]


def test_wrong_signature_is_refused(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "alice")
        other_text = ch["challenge"].replace("nonce: ", "nonce: 0")
        signature = sign_challenge(agent.pmc.key.key, other_text, purpose="login")
        refused(login(c, ch["challenge_id"], signature), "does not match")


def test_signature_by_another_users_key_is_refused(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "alice")
        # bob's key is registered with the agent, but not for alice.
        body = refused(
            login(c, ch["challenge_id"], signed(agent.committer.key, ch["challenge"])),
            "not made with a key registered",
            "alice",
        )
        assert body["hint"]


def test_garbage_signature_is_refused(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "alice")
        refused(login(c, ch["challenge_id"], "not a signature"), "signature")


def test_a_challenge_is_good_once(agent: AgentProcess) -> None:
    with agent.client() as c:
        ch = challenge(c, "alice")
        signature = signed(agent.pmc.key, ch["challenge"])
        assert login(c, ch["challenge_id"], signature).status_code == 200
        body = refused(login(c, ch["challenge_id"], signature), "already used")
        assert "new challenge" in body["hint"]
        # A failed attempt uses the challenge up too (no guessing with one challenge).
        ch = challenge(c, "alice")
        refused(login(c, ch["challenge_id"], "garbage"))
        refused(
            login(c, ch["challenge_id"], signed(agent.pmc.key, ch["challenge"])), "already used"
        )


def test_unknown_challenge_and_unknown_user(agent: AgentProcess) -> None:
    with agent.client() as c:
        refused(login(c, "no-such-challenge", "x"), "unknown login challenge")
        # An unknown user gets a challenge like anyone: the answer does not tell who exists.
        ch = challenge(c, "nobody")
        assert "user: nobody" in ch["challenge"]
        unknown = refused(login(c, ch["challenge_id"], signed(agent.pmc.key, ch["challenge"])))
        ch = challenge(c, "alice")
        wrong_key = refused(
            login(c, ch["challenge_id"], signed(agent.committer.key, ch["challenge"]))
        )
        assert unknown["message"] == wrong_key["message"].replace("alice", "nobody")
        r = c.post("/auth/challenge", json={"user": "Not Valid"})
        assert r.status_code in (400, 422) and r.json()["code"] == "invalid"


def test_a_revoked_key_is_refused_at_registration(agent: AgentProcess) -> None:
    """User keys pass the shared key policy as GnuPG reads them: a key registered already
    revoked is refused (a key revoked later stops logging in: test_keys_revocation.py)."""
    key = fresh_key("mallory")
    with agent.client(agent.admin_token) as admin:
        r = admin.post(
            "/users",
            json={
                "name": "mallory",
                "email": "mallory@example.org",
                "public_key": key.revoked_public_armor(),
                "memberships": [{"committee": "acme", "role": "committer"}],
            },
        )
        assert r.status_code == 400, r.text
        assert "cannot sign releases" in r.json()["message"] and "revoked" in r.json()["message"]
        assert admin.get("/users/mallory").status_code == 404  # nothing half-written


def test_expired_challenge_and_expired_session_token(agent_factory) -> None:
    short = agent_factory(
        env={"ATR_CHALLENGE_TTL_SECONDS": "1", "ATR_SESSION_TOKEN_HOURS": "0.0005"}, workers=0
    )
    alice = user_key("alice")
    with short.client() as c:
        ch = challenge(c, "alice")
        time.sleep(1.5)
        body = refused(login(c, ch["challenge_id"], signed(alice, ch["challenge"])), "expired")
        assert "new challenge" in body["hint"]
        ch = challenge(c, "alice")
        r = login(c, ch["challenge_id"], signed(alice, ch["challenge"]))
        assert r.status_code == 200, r.text
        token = r.json()["token"]
    with short.client(token) as session:
        assert session.get("/users/me").status_code == 200
        time.sleep(2.0)
        refused(session.get("/users/me"), "expired")


def test_expired_api_token_is_refused(agent_factory) -> None:
    agent = agent_factory(workers=0)
    with agent.client(agent.committer_token) as bob:
        created = bob.post("/tokens", json={"label": "short"}).json()
    # No API lets a token live less than a day, so the test moves its expiry into the past.
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M:%S.%f")
    with sqlite3.connect(agent.db_path) as db:
        db.execute(
            "UPDATE api_tokens SET expires_at = ? WHERE id = ?", (past, created["info"]["id"])
        )
    with agent.client(created["token"]) as c:
        body = refused(c.get("/projects"), "expired")
        assert body["hint"]


def test_no_credentials_and_bad_credentials(agent: AgentProcess) -> None:
    with agent.client() as c:
        refused(c.get("/users/me"), "credentials")
        refused(c.get("/users/me", headers={"Authorization": "Basic abc"}), "Bearer")
        refused(c.get("/users/me", headers={"Authorization": "Bearer atr_unknown"}), "not known")


def test_wrong_role_is_403_naming_the_role(agent: AgentProcess) -> None:
    with agent.client(agent.committer_token) as bob:
        r = bob.post("/users", json={"name": "x", "email": "x@example.org", "public_key": "x"})
        assert r.status_code == 403
        assert "'admin'" in r.json()["message"] and "'committer'" in r.json()["message"]


def test_project_scoped_token_on_another_project(agent: AgentProcess) -> None:
    with agent.client(agent.admin_token) as admin:
        r = admin.post("/tokens", json={"user": "admin", "project": agent.project, "role": "pmc"})
        assert r.status_code == 201, r.text
        scoped = r.json()["token"]
    with agent.client(scoped) as c:
        ok = c.post(f"/projects/{agent.project}/releases", json={"version": "7.0.0-scoped"})
        assert ok.status_code == 201, ok.text
        r = c.post(f"/projects/{agent.other_project}/releases", json={"version": "7.0.0"})
        assert r.status_code == 403
        message = r.json()["message"]
        assert agent.project in message and "limited" in message
        # Nor may a project-scoped token (even an admin's) administer the agent.
        assert c.post("/committees", json={"name": "scoped"}).status_code == 403
