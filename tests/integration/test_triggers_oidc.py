"""Trusted publishing against a real local OIDC issuer with its own keys: the exchange, its
refusals, and the shipped GitHub Action's upload path with a real token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.integration.trigger_support import events, wait_event
from tests.integration.vote_support import client, source_release
from tests.support.agent import OTHER_PROJECT, PROJECT
from tests.support.oidc_issuer import OidcIssuer

pytestmark = pytest.mark.integration

ACTION = Path(__file__).resolve().parents[2] / "packaging" / "github-action"


@pytest.fixture
def issuers():
    with OidcIssuer() as trusted, OidcIssuer() as stranger:
        yield trusted, stranger


def _exchange(agent, token):
    with agent.client() as c:
        return c.post("/oidc/exchange", json={"token": token})


def _rule(agent, issuer):
    with client(agent, agent.pmc_token) as c:
        r = c.post(
            f"/projects/{PROJECT}/trusted-publishers",
            json={
                "issuer": issuer.url,
                "repository": "apache/acme-lib",
                "workflow": "release.yml",
                "refs": ["refs/tags/v*"],
            },
        )
        assert r.status_code == 201, r.text
        return r.json()


def test_exchange_and_refusals(agent_factory, issuers, tmp_path):
    trusted, stranger = issuers
    agent = agent_factory(
        workers=1, env={"ATR_OIDC_ISSUERS": trusted.url, "ATR_OIDC_TOKEN_MINUTES": "5"}
    )
    rule = _rule(agent, trusted)
    with client(agent, agent.committer_token) as c:  # a committer may not add rules
        r = c.post(
            f"/projects/{PROJECT}/trusted-publishers",
            json={"issuer": trusted.url, "repository": "x/y", "workflow": "a.yml"},
        )
        assert r.status_code == 403

    def refused(token, status, words):
        r = _exchange(agent, token)
        assert r.status_code == status, r.text
        assert words in r.json()["message"], r.json()["message"]

    refused(stranger.token(), 401, "is not trusted")
    refused(trusted.token(audience="https://github.com/apache"), 401, "audience")
    refused(trusted.token(issued=1_000_000, lifetime=60), 401, "expired")
    refused(
        trusted.token(key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        401,
        "signature",
    )
    refused(trusted.token(repository="evil/acme-lib"), 403, "no project trusts")
    refused(trusted.token(ref="refs/heads/main"), 403, "'refs/heads/main' is not allowed")
    refused(trusted.token(workflow="other.yml"), 403, "not other.yml")
    refused("not-a-jwt-at-all-really", 401, "not a JWT")
    # a verified token no rule allows is kept in the event log; an unverified one is not
    kept = events(agent, "trigger.refused", project=None)
    assert [e["data"]["ref"] for e in kept] == [
        "refs/tags/v1.0.0-rc1",
        "refs/heads/main",
        "refs/tags/v1.0.0-rc1",
    ]
    assert (
        kept[1]["data"]["source"] == "github-oidc" and "is not allowed" in kept[1]["data"]["reason"]
    )
    assert [e["project"] for e in kept] == [None, PROJECT, PROJECT]

    token = trusted.token()
    r = _exchange(agent, token)
    assert r.status_code == 201, r.text
    granted = r.json()
    assert granted["project"] == PROJECT and granted["publisher"] == rule["id"]
    assert granted["run_url"].endswith("/apache/acme-lib/actions/runs/987654321/attempts/1")
    refused(token, 401, "exchanged before")  # the same OIDC token again

    files = source_release(tmp_path / "rel", "1.0.0", sign=agent.committer.key.sign)
    unsigned = [f for f in files if not f.name.endswith(".asc")]
    with client(agent, granted["token"]) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "1.0.0"}).status_code == 201
        manifest = {}
        for path in unsigned:
            blob = c.post(
                "/uploads", content=path.read_bytes(), headers={"X-Atr-Filename": path.name}
            ).json()
            manifest[path.name] = blob["sha256"]
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/revisions", json={"files": manifest})
        assert r.status_code == 201, r.text
        # limited to its project, and never more
        assert c.get(f"/projects/{OTHER_PROJECT}/releases").status_code == 403
        r = c.post("/tokens", json={"project": PROJECT, "expires_in_days": 30})
        assert r.status_code == 403, r.text
        build = c.get(f"/projects/{PROJECT}/releases/1.0.0/revisions/1/build").json()
    assert build["source"] == "github-oidc"
    assert build["facts"]["repository"] == "apache/acme-lib"
    assert build["facts"]["workflow_ref"].startswith(
        "apache/acme-lib/.github/workflows/release.yml@"
    )
    assert build["facts"]["sha"] and build["facts"]["run_id"] == "987654321"
    record = build["record"]  # what the release's SLSA provenance is made of
    assert record["builder_id"].startswith(
        "https://github.com/apache/acme-lib/.github/workflows/release.yml@"
    )
    assert record["repository"] == "https://github.com/apache/acme-lib"
    assert record["commit"] == build["facts"]["sha"]
    assert record["workflow"] == ".github/workflows/release.yml"
    assert record["run_url"].startswith("https://github.com/apache/acme-lib/actions/runs/987654321")
    (created,) = events(agent, "release.created", version="1.0.0")
    assert created["data"]["source"] == "github-oidc"
    asked = wait_event(agent, "release.signatures_requested", version="1.0.0")
    assert asked[0]["data"]["source"] == "github-oidc"
    received = [
        e for e in events(agent, "trigger.received") if e["data"]["source"] == "github-oidc"
    ]
    assert len(received) == 1 and received[0]["data"]["run_url"] == granted["run_url"]


def test_the_action_publishes_with_a_real_token(agent_factory, issuers, tmp_path):
    trusted, _ = issuers
    agent = agent_factory(workers=0, env={"ATR_OIDC_ISSUERS": trusted.url})
    _rule(agent, trusted)
    trusted.claims = {"ref": "refs/tags/v2.1.0-rc1"}
    files = source_release(tmp_path / "rel", "2.1.0", sign=agent.committer.key.sign)
    output = tmp_path / "github-output"
    env = {
        "PATH": os.environ["PATH"],
        "GITHUB_REF_NAME": "v2.1.0-rc1",
        "GITHUB_OUTPUT": str(output),
        "GITHUB_SERVER_URL": "https://github.com",
        "GITHUB_REPOSITORY": "apache/acme-lib",
        "GITHUB_RUN_ID": "987654321",
        "ACTIONS_ID_TOKEN_REQUEST_URL": trusted.request_url,
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN": trusted.request_token,
        "INPUT_AGENT_URL": agent.url,
        "INPUT_PROJECT": PROJECT,
        "INPUT_AUDIENCE": "atr",
        "INPUT_FILES": "\n".join(["rel/*.tar.gz", "rel/*.sha512"]),
    }
    proc = subprocess.run(
        [sys.executable, str(ACTION / "publish.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert output.read_text() == "revision=1\n"
    with client(agent, agent.committer_token) as c:
        revision = c.get(f"/projects/{PROJECT}/releases/2.1.0/revisions/1").json()
    assert sorted(f["path"] for f in revision["files"]) == sorted(
        f.name for f in files if not f.name.endswith(".asc")
    )
    # a run of a branch the rule does not allow: the action fails, naming why
    trusted.claims = {"ref": "refs/heads/main"}
    proc = subprocess.run(
        [sys.executable, str(ACTION / "publish.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 1
    assert "::error::" in proc.stderr and "refs/heads/main" in proc.stderr
