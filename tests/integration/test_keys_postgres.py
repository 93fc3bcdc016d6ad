"""Project keys on PostgreSQL: a KEYS import, a key published, a revocation that flags a release,
and the generated KEYS file, against an agent whose database is a real PostgreSQL server."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.support.agent import AgentFactory
from tests.support.gpg import GpgFactory, gpg_factory
from tests.support.keymaker import KeyMaker, key_maker
from tests.support.postgres import PostgresServer

__all__ = ["gpg_factory", "key_maker"]  # session fixtures

pytestmark = [pytest.mark.integration, pytest.mark.postgres]


def test_keys_on_postgresql(
    agent_factory: AgentFactory,
    postgres_server: PostgresServer,
    gpg_factory: GpgFactory,
    key_maker: KeyMaker,
    tmp_path: Path,
) -> None:
    agent = agent_factory(database_url=postgres_server.create_database(), workers=0)
    project = agent.project
    keys_text = gpg_factory.keys_file(["rsa4096", "rsa1024", "revoked"], broken=True)
    signer = key_maker.make(key_maker.unique("Bob Pg", "bob@example.org"), "rsa2048")
    with agent.client(agent.pmc_token) as alice:
        r = alice.post(f"/projects/{project}/keys/import", json={"keys_file": keys_text})
        assert r.status_code == 200, r.text
        assert len(r.json()["imported"]) == 3 and len(r.json()["skipped"]) == 5
    with agent.client(agent.committer_token) as bob:
        r = bob.post(f"/projects/{project}/keys", json={"armored": signer.public})
        assert r.status_code == 201, r.text
        artifact = tmp_path / "apache-acme-lib-2.0.0-src.tar.gz"
        artifact.write_bytes(b"postgres release\n")
        asc = key_maker.sign(signer, artifact)
        assert bob.post(f"/projects/{project}/releases", json={"version": "2.0.0"}).is_success
        shas = {}
        for f in (artifact, asc):
            shas[f.name] = bob.post("/uploads", content=f.read_bytes()).json()["sha256"]
        r = bob.post(f"/projects/{project}/releases/2.0.0/revisions", json={"files": shas})
        assert r.status_code == 201, r.text
        r = bob.post(
            f"/projects/{project}/keys/revoke",
            json={"armored": key_maker.revocation_certificate(signer)},
        )
        assert r.status_code == 200, r.text
        assert r.json()["flagged"]["releases"] == [f"{project} 2.0.0"]
        listed = {k["fingerprint"]: k for k in bob.get(f"/projects/{project}/keys").json()}
    assert listed[signer.fingerprint]["state"] == "revoked"
    assert listed[gpg_factory.key("rsa1024").fingerprint]["flags"] == ["weak"]
    text = httpx.get(f"{agent.url}/projects/{project}/KEYS", timeout=30).text
    for fingerprint in listed:
        assert f"      {fingerprint}\n" in text
    assert "[revoked: " in text
