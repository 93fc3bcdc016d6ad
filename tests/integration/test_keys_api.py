"""Project keys over REST against a real agent, with keys made by real GnuPG: publishing one key
(ok / weak / expired / revoked / not a committer's), who may do what (401/403), and the public
KEYS file that ``gpg --import`` reads back."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.protocol import EventKind
from shared.protocol.keys import ProjectKeyOut
from tests.support.agent import AgentProcess
from tests.support.gpg import GPG, damaged_block, kill_agent
from tests.support.keymaker import KeyMaker, MadeKey, key_maker
from tests.support.keys import fresh_key

__all__ = ["key_maker"]  # session fixture

pytestmark = pytest.mark.integration

PROJECT = "acme-lib"


def assert_error(r: httpx.Response, status: int, code: str, *words: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == code, body
    text = f"{body['message']} {body.get('hint') or ''}"
    for word in words:
        assert word in text, (word, text)
    return text


def add(
    agent: AgentProcess, token: str | None, armored: str, project: str = PROJECT
) -> httpx.Response:
    with agent.client(token) as c:
        return c.post(f"/projects/{project}/keys", json={"armored": armored})


def events_of(agent: AgentProcess, kind: EventKind) -> list[dict[str, Any]]:
    with agent.client(agent.admin_token) as c:
        page = c.get("/events", params={"since": 0, "limit": 1000, "project": PROJECT}).json()
    return [e for e in page["events"] if e["kind"] == kind.value]


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="atr-test-imp-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def gpg_list(home: Path, text: str) -> dict[str, str]:
    """``gpg --import`` the text into ``home``; primary fingerprint → validity letter."""
    subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--import"],
        input=text.encode(),
        capture_output=True,
        check=False,
    )
    out = subprocess.run(
        [GPG, "--homedir", str(home), "--batch", "--with-colons", "--list-keys"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    keys: dict[str, str] = {}
    pending: str | None = None
    for line in out.splitlines():
        fields = line.split(":")
        if fields[0] == "pub":
            pending = fields[1]
        elif fields[0] == "fpr" and pending is not None:
            keys[fields[9]] = pending
            pending = None
        elif fields[0] == "sub":
            pending = None
    return keys


@pytest.fixture(scope="module")
def bob_keys(key_maker: KeyMaker) -> dict[str, MadeKey]:
    """Keys with bob's registered email, of every kind the rules care about."""
    uid = key_maker.unique
    mail = "bob@example.org"
    return {
        "ok": key_maker.make(uid("Bob Builder", mail), "rsa2048"),
        "ed25519": key_maker.make(uid("Bob Modern", mail), "ed25519"),
        "weak": key_maker.make(uid("Bob Weak", mail), "rsa1024"),
        "expired": key_maker.make(uid("Bob Old", mail), "ed25519", expire="1d", past=True),
        "revoked": key_maker.make(uid("Bob Revoked", mail), "ed25519"),
        "dsa": key_maker.make(uid("Bob Dsa", mail), "dsa2048"),
        "other": key_maker.make(uid("Bob Other", mail), "ed25519"),
    }


def test_committer_publishes_own_key(agent: AgentProcess, bob_keys: dict[str, MadeKey]) -> None:
    key = bob_keys["ok"]
    r = add(agent, agent.committer_token, key.public)
    assert r.status_code == 201, r.text
    out = ProjectKeyOut.model_validate(r.json())
    assert out.fingerprint == key.fingerprint
    assert (out.algorithm, out.bits, out.state, out.flags) == ("RSA", 2048, "valid", [])
    assert out.user_ids == [key.user_id]
    assert (out.owner, out.added_by, out.project) == ("bob", "bob", PROJECT)
    with agent.client(agent.pmc_token) as c:
        listed = [
            ProjectKeyOut.model_validate(k) for k in c.get(f"/projects/{PROJECT}/keys").json()
        ]
        one = c.get(f"/projects/{PROJECT}/keys/{key.fingerprint.lower()}")
    assert key.fingerprint in [k.fingerprint for k in listed]
    assert one.status_code == 200 and one.json()["fingerprint"] == key.fingerprint
    added = [
        e
        for e in events_of(agent, EventKind.KEY_ADDED)
        if e["data"]["fingerprint"] == key.fingerprint
    ]
    assert len(added) == 1
    assert added[0]["actor"] == "bob" and added[0]["data"]["owner"] == "bob"
    assert added[0]["data"]["updated"] is False

    # The same key again changes nothing: 200, no second event.
    again = add(agent, agent.committer_token, key.public)
    assert again.status_code == 200
    assert again.json()["added_at"] == r.json()["added_at"]
    added = [
        e
        for e in events_of(agent, EventKind.KEY_ADDED)
        if e["data"]["fingerprint"] == key.fingerprint
    ]
    assert len(added) == 1


def test_ed25519_passes_the_key_policy(agent: AgentProcess, bob_keys: dict[str, MadeKey]) -> None:
    r = add(agent, agent.committer_token, bob_keys["ed25519"].public)
    assert r.status_code == 201, r.text
    assert (r.json()["algorithm"], r.json()["bits"]) == ("EdDSA", 255)


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("weak", ("cannot be added", "RSA 1024", "2048", "rule:")),
        ("expired", ("cannot be added", "expired on 2020-01-02", "rule:")),
        ("revoked", ("cannot be added", "the key is revoked", "rule:")),
        ("dsa", ("cannot be added", "DSA keys are not accepted", "rule:")),
    ],
)
def test_key_policy_refuses(
    agent: AgentProcess,
    bob_keys: dict[str, MadeKey],
    key_maker: KeyMaker,
    kind: str,
    words: tuple[str, ...],
) -> None:
    key = bob_keys[kind]
    armored = key_maker.revoked_public(key) if kind == "revoked" else key.public
    assert_error(
        add(agent, agent.committer_token, armored), 400, "invalid", key.fingerprint, *words
    )
    with agent.client(agent.pmc_token) as c:
        assert c.get(f"/projects/{PROJECT}/keys/{key.fingerprint}").status_code == 404


def test_key_of_no_committer_is_refused(agent: AgentProcess, key_maker: KeyMaker) -> None:
    outsider = key_maker.make(key_maker.unique("Eve Outsider", "eve@example.org"))
    assert_error(
        add(agent, agent.pmc_token, outsider.public),
        400,
        "invalid",
        "belongs to no committer of project 'acme-lib'",
        "eve@example.org",
        "rule:",
    )
    # carol is a PMC member of another committee only: not a committer of acme-lib.
    carol = key_maker.make(key_maker.unique("Carol", "carol@example.org"))
    assert_error(
        add(agent, agent.pmc_token, carol.public), 400, "invalid", "belongs to no committer"
    )


def test_registered_fingerprint_makes_the_owner(
    agent: AgentProcess, key_maker: KeyMaker, tmp_path: Path
) -> None:
    # The user id's email is not bob's registered one, but bob registered the key itself.
    key = key_maker.make(key_maker.unique("Robert", "robert@home.example"), "rsa2048")
    (tmp_path / "robert.asc").write_text(key.public)
    agent.cli("user", "key-add", "bob", "--key", str(tmp_path / "robert.asc"))
    r = add(agent, agent.committer_token, key.public)
    assert r.status_code == 201, r.text
    assert r.json()["owner"] == "bob"


def test_committer_publishes_only_their_own_key(agent: AgentProcess, key_maker: KeyMaker) -> None:
    alices = key_maker.make(key_maker.unique("Alice", "alice@example.org"))
    assert_error(
        add(agent, agent.committer_token, alices.public), 403, "forbidden", "'pmc'", "their own key"
    )
    # A PMC member publishes anyone's key; the owner is still the committer it belongs to.
    bobs = key_maker.make(key_maker.unique("Bob For Alice", "bob@example.org"))
    r = add(agent, agent.pmc_token, bobs.public)
    assert r.status_code == 201, r.text
    assert (r.json()["owner"], r.json()["added_by"]) == ("bob", "alice")


def test_bad_key_texts(agent: AgentProcess, bob_keys: dict[str, MadeKey]) -> None:
    token = agent.committer_token
    assert_error(
        add(agent, token, "not a key"), 400, "invalid", "no ASCII-armored OpenPGP public key"
    )
    two = bob_keys["ok"].public + bob_keys["other"].public
    assert_error(add(agent, token, two), 400, "invalid", "2 keys", "one key at a time")
    secret = fresh_key("bob", "bob@example.org").secret_armor
    assert_error(add(agent, token, secret), 400, "invalid", "SECRET key", "gpg --armor --export")
    damaged = damaged_block(bob_keys["ok"].public)
    assert_error(add(agent, token, damaged), 400, "invalid", "checksum does not match")


def test_who_may_do_what(
    agent: AgentProcess, bob_keys: dict[str, MadeKey], key_maker: KeyMaker
) -> None:
    key = bob_keys["other"].public
    with agent.client() as anonymous:
        assert_error(anonymous.get(f"/projects/{PROJECT}/keys"), 401, "unauthenticated")
        assert_error(
            anonymous.post(f"/projects/{PROJECT}/keys", json={"armored": key}),
            401,
            "unauthenticated",
        )
        assert_error(
            anonymous.post(f"/projects/{PROJECT}/keys/import", json={"keys_file": key}),
            401,
            "unauthenticated",
        )
        assert_error(
            anonymous.post(f"/projects/{PROJECT}/keys/revoke", json={"armored": key}),
            401,
            "unauthenticated",
        )
    with agent.client(agent.committer_token) as bob:
        assert_error(
            bob.post(f"/projects/{PROJECT}/keys/import", json={"keys_file": key}),
            403,
            "forbidden",
            "'pmc'",
        )
    with agent.client(agent.other.token) as carol:  # PMC of globex, nothing on acme
        assert_error(
            carol.post(f"/projects/{PROJECT}/keys", json={"armored": key}),
            403,
            "forbidden",
            "'committer'",
        )
        assert_error(
            carol.post(f"/projects/{PROJECT}/keys/import", json={"keys_file": key}),
            403,
            "forbidden",
            "'pmc'",
        )
        assert_error(
            carol.post(f"/projects/{PROJECT}/keys/revoke", json={"armored": key}), 403, "forbidden"
        )
    # A key owned by alice cannot be revoked by bob, the committer; alice's PMC role can.
    alices = key_maker.make(key_maker.unique("Alice Revocable", "alice@example.org"))
    assert add(agent, agent.pmc_token, alices.public).status_code == 201
    cert = key_maker.revocation_certificate(alices)
    with agent.client(agent.committer_token) as bob:
        assert_error(
            bob.post(f"/projects/{PROJECT}/keys/revoke", json={"armored": cert}),
            403,
            "forbidden",
            "revoking another person's key",
        )
    with agent.client(agent.pmc_token) as alice:
        r = alice.post(f"/projects/{PROJECT}/keys/revoke", json={"armored": cert})
    assert r.status_code == 200, r.text
    assert r.json()["key"]["state"] == "revoked"


def test_public_keys_file(
    agent: AgentProcess, bob_keys: dict[str, MadeKey], gpg_home: Path
) -> None:
    key = bob_keys["ok"]
    assert add(agent, agent.committer_token, key.public).status_code in (200, 201)
    public = httpx.get(f"{agent.url}/projects/{PROJECT}/KEYS", timeout=30)
    api = httpx.get(f"{agent.api_url}/projects/{PROJECT}/KEYS", timeout=30)
    assert public.status_code == 200 and api.status_code == 200
    assert public.headers["content-type"] == "text/plain; charset=utf-8"
    assert public.text == api.text
    text = public.text
    assert "gpg --import KEYS" in text and "never removed" in text
    assert f"      {key.fingerprint}\nuid           {key.user_id}\n" in text
    etag = public.headers["etag"]
    again = httpx.get(
        f"{agent.url}/projects/{PROJECT}/KEYS", headers={"If-None-Match": etag}, timeout=30
    )
    assert again.status_code == 304
    with agent.client(agent.pmc_token) as c:
        stored = {k["fingerprint"]: k["state"] for k in c.get(f"/projects/{PROJECT}/keys").json()}
    imported = gpg_list(gpg_home, text)
    assert set(imported) == set(stored)
    for fingerprint, state in stored.items():
        assert (imported[fingerprint] == "r") == (state == "revoked"), fingerprint
    missing = httpx.get(f"{agent.url}/projects/no-such-project/KEYS", timeout=30)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
