"""Revocation end to end against a real agent: a key that signed a release is revoked with the
certificate GnuPG made for it; the release is flagged; the KEYS file carries the revocation, so
``gpg`` reports the key revoked and refuses its signatures (REVKEYSIG)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.challenge import parse_challenge
from shared.cli import ExitCode
from shared.openpgp.gnupg import Keyring, SignatureStatus
from shared.protocol import EventKind
from shared.protocol.keys import KeyRevoked
from tests.support.agent import AgentProcess
from tests.support.gpg import GPG, kill_agent
from tests.support.keymaker import KeyMaker, MadeKey, key_maker
from tests.support.keys import fresh_key, user_key

__all__ = ["key_maker"]  # session fixture

pytestmark = pytest.mark.integration

ATR = Path(sys.executable).parent / "atr"
PROJECT = "acme-lib"
ARTIFACT = "apache-acme-lib-7.0.0-src.tar.gz"


def atr(agent: AgentProcess, token: str, *args: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "config")
    return subprocess.run(
        [str(ATR), "--agent", agent.url, "--token", token, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def upload(c: httpx.Client, path: Path) -> str:
    r = c.post("/uploads", content=path.read_bytes(), headers={"X-Atr-Filename": path.name})
    assert r.status_code == 201, r.text
    return str(r.json()["sha256"])


def release_with(c: httpx.Client, version: str, files: list[Path], *, revisions: int = 1) -> None:
    """A release of PROJECT whose revisions hold ``files`` (each revision the same files)."""
    assert c.post(f"/projects/{PROJECT}/releases", json={"version": version}).status_code == 201
    shas = {f.name: upload(c, f) for f in files}
    for n in range(revisions):
        body = {"files": shas, "base": None, "message": f"revision {n + 1}"}
        r = c.post(f"/projects/{PROJECT}/releases/{version}/revisions", json=body)
        assert r.status_code == 201, r.text


def signature_results(
    c: httpx.Client, version: str, *, timeout: float = 240
) -> list[dict[str, Any]]:
    """The signatures check's results on the latest revision, once every check has run."""
    deadline = time.monotonic() + timeout
    while True:
        r = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/latest/checks")
        assert r.status_code == 200, r.text
        report = r.json()
        if report["state"] == "done" and report["stale"] == 0:
            return [x for x in report["results"] if x["check"] == "signatures"]
        assert time.monotonic() < deadline, f"checks did not finish: {report['state']}"
        time.sleep(0.5)


def events(agent: AgentProcess, kind: EventKind) -> list[dict[str, Any]]:
    with agent.client(agent.admin_token) as c:
        page = c.get("/events", params={"since": 0, "limit": 1000, "project": PROJECT}).json()
    return [e for e in page["events"] if e["kind"] == kind.value]


@pytest.fixture
def gpg_home() -> Iterator[Path]:
    home = Path(tempfile.mkdtemp(prefix="atr-test-rev-"))
    os.chmod(home, 0o700)
    try:
        yield home
    finally:
        kill_agent(home)
        shutil.rmtree(home, ignore_errors=True)


def gpg(home: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [GPG, "--homedir", str(home), "--batch", *args],
        input=stdin.decode() if stdin else None,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def signer(key_maker: KeyMaker) -> MadeKey:
    return key_maker.make(key_maker.unique("Bob Signer", "bob@example.org"), "rsa2048")


def test_revocation_end_to_end(
    agent: AgentProcess, key_maker: KeyMaker, signer: MadeKey, tmp_path: Path, gpg_home: Path
) -> None:
    with agent.client(agent.committer_token) as bob:
        r = bob.post(f"/projects/{PROJECT}/keys", json={"armored": signer.public})
        assert r.status_code == 201, r.text
        # 7.0.0: signed with the key, in two revisions. 7.1.0: signed by alice only.
        artifact = tmp_path / ARTIFACT
        artifact.write_bytes(b"source code of 7.0.0\n" * 100)
        asc = key_maker.sign(signer, artifact)
        release_with(bob, "7.0.0", [artifact, asc], revisions=2)
        other = tmp_path / "apache-acme-lib-7.1.0-src.tar.gz"
        other.write_bytes(b"source code of 7.1.0\n")
        other_asc = tmp_path / (other.name + ".asc")
        other_asc.write_text(user_key("alice").sign(other.read_bytes()))
        release_with(bob, "7.1.0", [other, other_asc])

    # Before: the key verifies the artifact, and the agent's signatures check passes it.
    before = httpx.get(f"{agent.url}/projects/{PROJECT}/KEYS", timeout=30).text
    with Keyring.open([before]) as ring:
        assert [s.status for s in ring.verify(artifact, asc.read_bytes())] == [SignatureStatus.GOOD]
    with agent.client(agent.committer_token) as bob:
        checked = signature_results(bob, "7.0.0")
    assert [(x["path"], x["status"]) for x in checked] == [(f"{ARTIFACT}.asc", "pass")], checked

    cert = tmp_path / "revocation.asc"
    cert.write_text(key_maker.revocation_certificate(signer))  # GnuPG's own, ':'-guarded
    done = atr(
        agent, agent.committer_token, "keys", "revoke", PROJECT, str(cert),
        "--reason", "laptop stolen", "--json", tmp=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    revoked = KeyRevoked.model_validate(json.loads(done.stdout))
    assert revoked.key.fingerprint == signer.fingerprint
    assert revoked.key.state == "revoked" and "revoked" in revoked.key.flags
    assert revoked.key.revocation_reason == "laptop stolen"
    assert revoked.key.revoked_at is not None
    assert revoked.flagged.fingerprint == signer.fingerprint
    assert revoked.flagged.releases == [f"{PROJECT} 7.0.0"]

    key_events = [
        e
        for e in events(agent, EventKind.KEY_REVOKED)
        if e["data"]["fingerprint"] == signer.fingerprint
    ]
    assert len(key_events) == 1 and key_events[0]["actor"] == "bob"
    assert key_events[0]["data"]["releases"] == ["7.0.0"]
    flagged = [
        e
        for e in events(agent, EventKind.RELEASE_FLAGGED)
        if e["data"]["fingerprint"] == signer.fingerprint
    ]
    assert [(e["version"], e["data"]["signatures"]) for e in flagged] == [
        ("7.0.0", [f"r1/{ARTIFACT}.asc", f"r2/{ARTIFACT}.asc"])
    ]

    # The KEYS file keeps the key, with its revocation: gpg reports it revoked.
    keys_text = httpx.get(f"{agent.url}/projects/{PROJECT}/KEYS", timeout=30).text
    assert f"      {signer.fingerprint}" in keys_text
    gpg(gpg_home, "--import", stdin=keys_text.encode())
    listing = gpg(gpg_home, "--with-colons", "--list-keys", signer.fingerprint).stdout
    pub = next(line for line in listing.splitlines() if line.startswith("pub:"))
    assert pub.split(":")[1] == "r"
    # ... and refuses the signature made before: REVKEYSIG.
    status = gpg(gpg_home, "--status-fd", "1", "--verify", str(asc), str(artifact)).stdout
    assert "[GNUPG:] REVKEYSIG" in status and "[GNUPG:] GOODSIG" not in status
    with Keyring.open([keys_text]) as ring:
        assert [s.status for s in ring.verify(artifact, asc.read_bytes())] == [
            SignatureStatus.REVOKED_KEY
        ]

    # The agent redid the signatures check of the open release: the signature now fails.
    with agent.client(agent.committer_token) as bob:
        checked = signature_results(bob, "7.0.0")
    assert [(x["path"], x["status"]) for x in checked] == [(f"{ARTIFACT}.asc", "blocker")], checked
    assert "signature by a revoked key" in checked[0]["message"]
    assert checked[0]["data"]["signature_status"] == "revoked_key"

    # The same certificate again revokes nothing: a clear 400 (exit 2).
    again = atr(agent, agent.committer_token, "keys", "revoke", PROJECT, str(cert), tmp=tmp_path)
    assert again.returncode == ExitCode.USAGE
    assert "does not revoke any key of the project" in again.stderr
    assert signer.fingerprint in again.stderr  # the hint names the keys revoked already
    # Nor can it be published again.
    with agent.client(agent.committer_token) as bob:
        r = bob.post(f"/projects/{PROJECT}/keys", json={"armored": signer.public})
    assert r.status_code == 400 and "is revoked" in r.json()["message"]


def test_revocation_from_the_desktop_carries_its_reason(
    agent: AgentProcess, tmp_path: Path
) -> None:
    # The desktop revokes with pgpy: it sends the key carrying its revocation signature.
    pair = fresh_key("bob", "bob@example.org")
    public = pair.public_armor  # before revoking: pgpy adds the revocation to its cached key
    with agent.client(agent.committer_token) as bob:
        assert bob.post(f"/projects/{PROJECT}/keys", json={"armored": public}).status_code == 201
        r = bob.post(
            f"/projects/{PROJECT}/keys/revoke", json={"armored": pair.revoked_public_armor()}
        )
    assert r.status_code == 200, r.text
    answer = KeyRevoked.model_validate(r.json())
    assert answer.key.revocation_reason == "key compromised: test: key compromised"
    assert answer.flagged.releases == []


def test_revocation_of_a_key_not_in_keys(agent: AgentProcess, key_maker: KeyMaker) -> None:
    stranger = key_maker.make(key_maker.unique("Bob Stranger", "bob@example.org"))
    with agent.client(agent.pmc_token) as alice:
        r = alice.post(
            f"/projects/{PROJECT}/keys/revoke",
            json={"armored": key_maker.revocation_certificate(stranger)},
        )
        assert r.status_code == 400
        assert "does not revoke any key of the project" in r.json()["message"]
        r = alice.post(f"/projects/{PROJECT}/keys/revoke", json={"armored": "no certificate"})
        assert r.status_code == 400 and "no ASCII-armored revocation" in r.json()["message"]


def test_a_key_revoked_in_a_projects_keys_no_longer_logs_in_anywhere(
    agent: AgentProcess, tmp_path: Path
) -> None:
    """A revocation reaches every place the key is trusted: the user's registered copy (login,
    ballots, approvals) and the KEYS of the other projects it is in."""
    pair = fresh_key("gwen", "gwen@example.org")
    public = pair.public_armor  # before revoking: pgpy adds the revocation to its cached key
    with agent.client(agent.admin_token) as admin:
        r = admin.post(
            "/users",
            json={
                "name": "gwen",
                "email": "gwen@example.org",
                "public_key": public,
                "memberships": [
                    {"committee": "acme", "role": "pmc"},
                    {"committee": "globex", "role": "pmc"},
                ],
            },
        )
        assert r.status_code == 201, r.text
        token = admin.post("/tokens", json={"user": "gwen", "role": "pmc"}).json()["token"]
    with agent.client(token) as gwen:
        for project in (PROJECT, agent.other_project):
            r = gwen.post(f"/projects/{project}/keys", json={"armored": public})
            assert r.status_code == 201, r.text

    def log_in() -> httpx.Response:
        with agent.client() as c:
            ch = c.post("/auth/challenge", json={"user": "gwen"}).json()
            signature = pair.sign_challenge(parse_challenge(ch["challenge"]))
            return c.post(
                "/auth/login", json={"challenge_id": ch["challenge_id"], "signature": signature}
            )

    assert log_in().status_code == 200
    with agent.client(token) as gwen:
        r = gwen.post(
            f"/projects/{PROJECT}/keys/revoke", json={"armored": pair.revoked_public_armor()}
        )
        assert r.status_code == 200, r.text
        other = gwen.get(f"/projects/{agent.other_project}/keys/{pair.fingerprint}").json()
    refused = log_in()
    assert refused.status_code == 401 and "revoked" in refused.json()["message"], refused.text
    assert other["state"] == "revoked" and "revoked" in other["flags"]
    other_keys = httpx.get(f"{agent.url}/projects/{agent.other_project}/KEYS", timeout=30).text
    with Keyring.open([other_keys]) as ring:
        found = ring.key_for(pair.fingerprint)
        assert found is not None and found.primary.revoked
    revoked_elsewhere = [
        e
        for e in events_of(agent, agent.other_project, EventKind.KEY_REVOKED)
        if e["data"]["fingerprint"] == pair.fingerprint
    ]
    assert revoked_elsewhere and revoked_elsewhere[0]["data"]["revoked_in"] == PROJECT


def events_of(agent: AgentProcess, project: str, kind: EventKind) -> list[dict[str, Any]]:
    with agent.client(agent.admin_token) as c:
        page = c.get("/events", params={"since": 0, "limit": 1000, "project": project}).json()
    return [e for e in page["events"] if e["kind"] == kind.value]
