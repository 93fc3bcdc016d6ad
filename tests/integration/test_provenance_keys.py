"""The agent's keys over time, on a real agent: a rotation between two releases (what the old
key signed still verifies, reported as signed by a retired key), a revocation (reported as
signed by a revoked key, invalid), the CLI that fetches bundles and keys, and a search for
the private keys, the vault key and an import password in everything the agent says."""

from __future__ import annotations

import base64
import json
import sqlite3
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from agent.provenance import certs
from agent.vault import Vault
from tests.integration.distribute_support import add_voters, distribution_agent, passed_release
from tests.integration.provenance_support import run_verify, wait_attestations
from tests.integration.test_cli import atr
from tests.integration.vote_support import client
from tests.support.agent import PROJECT, AgentProcess

pytestmark = pytest.mark.integration
IMPORT_PASSWORD = "import-pass-Zq81x"


def _folder(agent: AgentProcess, version: str, folder: Path, tmp_path: Path) -> Path:
    """The voted files of a release (from the agent), its KEYS, bundle and the agent's keys,
    fetched with the CLI as a user would."""
    folder.mkdir(parents=True)
    with client(agent, agent.committer.token) as c:
        revision = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/latest").json()
        for f in revision["files"]:
            r = c.get(f"/projects/{PROJECT}/releases/{version}/revisions/latest/files/{f['path']}")
            (folder / f["path"]).write_bytes(r.content)
        (folder / "KEYS").write_text(c.get(f"/projects/{PROJECT}/KEYS").text)
    bundle = folder / f"{PROJECT}-{version}.intoto.jsonl"
    proc = atr(agent, "attestation", "download", PROJECT, version, "-o", str(bundle),
               token=agent.committer.token, tmp_path=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    proc = atr(agent, "attestation", "key", "-o", str(folder / "automation-keys.pem"),
               token=None, tmp_path=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return folder


def _secrets(agent: AgentProcess) -> dict[str, str]:
    """Every private key of the agent in the forms it could leak in, and the vault key."""
    vault_text = (agent.data_dir / "vault.key").read_text().strip()
    vault = Vault(base64.urlsafe_b64decode(vault_text), "test")
    found = {"vault key": vault_text}
    with sqlite3.connect(agent.data_dir / "agent.db") as db:
        rows = db.execute("SELECT fingerprint, private_ciphertext FROM automation_keys").fetchall()
    assert len(rows) >= 4
    for fingerprint, ciphertext in rows:
        der = vault.decrypt(ciphertext, name=f"automation-key:{fingerprint}")
        key = serialization.load_der_private_key(der, None)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()  # fmt: skip
        body = [line for line in pem.splitlines() if "-----" not in line]
        found[f"{fingerprint[:8]} PEM line"] = body[len(body) // 2]
        found[f"{fingerprint[:8]} DER hex"] = der.hex()[-64:]
        found[f"{fingerprint[:8]} DER base64"] = base64.b64encode(der).decode()[-40:]
        if isinstance(key, ed25519.Ed25519PrivateKey):
            found[f"{fingerprint[:8]} raw"] = key.private_bytes_raw().hex()
            found[f"{fingerprint[:8]} raw b64"] = base64.b64encode(key.private_bytes_raw()).decode()
    found["import password"] = IMPORT_PASSWORD
    return found


def test_rotation_revocation_and_no_secret_anywhere(agent_factory, tmp_path: Path) -> None:
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    passed_release(agent, voters, tmp_path / "one", "1.0.0")
    first = wait_attestations(agent, "1.0.0", kinds={"release", "vote"})
    key_a = first["attestations"][0]["key_fingerprint"]
    assert first["keys"][0]["state"] == "active"

    with client(agent, agent.admin_token) as c:
        r = c.post(f"/automation-keys/{key_a}/rotate", json={"reason": "yearly"})
        assert r.status_code == 200, r.text
        key_b = r.json()["fingerprint"]
        # a code-signing key imported as PEM (encrypted with a password) and one generated
        key = ec.generate_private_key(ec.SECP256R1())
        cert = certs.self_signed_certificate(key, "CN=Imported Code Signing", days=20)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(IMPORT_PASSWORD.encode()),
        ).decode() + cert.public_bytes(serialization.Encoding.PEM).decode()  # fmt: skip
        r = c.post("/automation-keys/import",
                   json={"use": "codesign", "pem": pem, "password": IMPORT_PASSWORD})  # fmt: skip
        assert r.status_code == 201, r.text
        wrong = {"use": "codesign", "pem": pem, "password": "wrong " + IMPORT_PASSWORD}
        r = c.post("/automation-keys/import", json=wrong)
        assert r.status_code in (400, 409), r.text
        r = c.post("/automation-keys", json={"use": "codesign", "certificate": "csr",
                                             "subject": "CN=Pending"})  # fmt: skip
        assert r.status_code == 201 and r.json()["state"] == "pending", r.text
    passed_release(agent, voters, tmp_path / "two", "1.1.0")
    second = wait_attestations(agent, "1.1.0", kinds={"release", "vote"})
    assert {a["key_fingerprint"] for a in second["attestations"]} == {key_b}

    # both verify offline; the old one says its key is retired
    old = _folder(agent, "1.0.0", tmp_path / "dl-1.0.0", tmp_path)
    new = _folder(agent, "1.1.0", tmp_path / "dl-1.1.0", tmp_path)
    proc = run_verify(old)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "retired" in proc.stdout
    assert run_verify(new).returncode == 0

    # the old key is revoked: its attestations are reported as signed by a revoked key
    with client(agent, agent.admin_token) as c:
        r = c.post(f"/automation-keys/{key_a}/revoke", json={"reason": "the disk was lost"})
        assert r.status_code == 200 and r.json()["state"] == "revoked", r.text
    old = _folder(agent, "1.0.0", tmp_path / "dl-1.0.0-again", tmp_path)
    proc = run_verify(old, "--json")
    assert proc.returncode == 1, proc.stdout
    report = json.loads(proc.stdout)
    assert all(a["keyState"] == "revoked" and not a["valid"] for a in report["attestations"])
    assert "signed by a revoked key" in proc.stdout and "the disk was lost" in proc.stdout
    with client(agent, agent.committer.token) as c:
        served = c.get(f"/projects/{PROJECT}/releases/1.0.0/attestations").json()
        assert not any(a["valid"] for a in served["attestations"])
        assert "revoked" in served["attestations"][0]["problem"]
        still = c.get(f"/projects/{PROJECT}/releases/1.1.0/attestations").json()
        assert all(a["valid"] for a in still["attestations"])
    assert run_verify(new).returncode == 0

    # no private key, no vault key, no import password in what the agent says or keeps
    secrets = _secrets(agent)
    answers: list[str] = []
    with client(agent, agent.admin_token) as c:
        for path in (
            "/automation-keys",
            f"/projects/{PROJECT}/releases/1.0.0/attestations",
            f"/projects/{PROJECT}/releases/1.1.0/attestations/bundle",
            "/tasks",
            "/outbox",
        ):
            r = c.get(path)
            assert r.status_code == 200, (path, r.text)
            answers.append(r.text)
        since = 0
        while True:  # every event, page by page
            page = c.get("/events", params={"since": since, "limit": 1000}).json()
            if not page["events"]:
                break
            answers.append(json.dumps(page))
            since = page["events"][-1]["id"]
        public = ("/.well-known/atr/automation-keys.pem", "/.well-known/atr/automation-keys.json",
                  f"/projects/{PROJECT}/attestations/1.0.0")  # fmt: skip
        for path in public:
            r = c.get(agent.url + path)
            assert r.status_code == 200, (path, r.text)
            answers.append(r.text)
    with sqlite3.connect(agent.data_dir / "agent.db") as db:
        events = json.dumps(db.execute("SELECT kind, data FROM events").fetchall())
        tasks = json.dumps(db.execute("SELECT args, result, error FROM tasks").fetchall())
    outbox = "".join(p.read_text() for p in (agent.data_dir / "outbox").glob("*.eml"))
    haystacks = {
        "API answers": "\n".join(answers),
        "agent log": agent.log_text(),
        "events": events,
        "tasks": tasks,
        "mail": outbox,
    }
    assert "automation_key.added" in events and "attestation.written" in events
    for where, text in haystacks.items():
        for what, secret in secrets.items():
            assert secret not in text, f"{what} found in the {where}"
