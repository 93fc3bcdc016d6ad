"""A release through its vote to verified distribution, with its attestations checked end to end.

Real parts: an agent with two workers, GnuPG, the embedded Subversion dist repository, the
vault, ``atr verify`` as a subprocess; the envelopes are cross-checked with an independent
implementation (DSSE's PAE written from the spec + ``cryptography``, in-toto's own
``in-toto-attestation`` bindings for the Statement).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest

from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    distribution_agent,
    passed_release,
    vote_and_close,
    wait_distribution,
)
from tests.integration.provenance_support import (
    independent_verify,
    published_keys,
    release_folder,
    run_verify,
    wait_attestations,
)
from tests.integration.vote_support import client, make_candidate, source_release
from tests.support.agent import PROJECT

pytestmark = pytest.mark.integration


def _rewrite(bundle: Path, kind: str, change) -> None:
    """Change the Statement of the ``kind`` envelope in ``bundle`` (keeping its signature)."""
    lines = bundle.read_text().splitlines()
    out = []
    for line in lines:
        envelope = json.loads(line)
        statement = json.loads(base64.b64decode(envelope["payload"]))
        if statement["predicateType"].endswith(f"/{kind}/v1") or kind in statement["predicateType"]:
            change(statement, envelope)
            if "payload" not in envelope or envelope.get("_keep") is None:
                envelope["payload"] = base64.b64encode(
                    json.dumps(statement, separators=(",", ":"), sort_keys=True).encode()
                ).decode()
            envelope.pop("_keep", None)
        out.append(json.dumps(envelope))
    bundle.write_text("\n".join(out) + "\n")


def test_a_release_is_attested_distributed_and_verified(agent_factory, tmp_path: Path) -> None:
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    rm = agent.committer
    revision = passed_release(agent, voters, tmp_path / "src", "1.0.0")
    found = wait_attestations(agent, "1.0.0", kinds={"release", "vote"})
    by_kind = {a["kind"]: a for a in found["attestations"]}
    assert all(a["valid"] for a in found["attestations"]), found

    # the vote predicate: every ballot with its voter, binding, value, source, key
    vote = by_kind["vote"]["statement"]["predicate"]
    (only_round,) = vote["rounds"]
    assert vote["outcome"] == "passed" and only_round["outcome"] == "passed"
    ballots = {b["voter"]: b for b in only_round["ballots"]}
    assert set(ballots) == {v.name for v in voters}
    for voter in voters:
        b = ballots[voter.name]
        assert b["binding"] is True and b["value"] == "+1" and b["source"] == "api"
        assert b["fingerprint"] == voter.key.fingerprint
    # the release predicate: signers, checks, SBOMs
    release = by_kind["release"]["statement"]["predicate"]
    assert release["purl"] == f"pkg:generic/apache/{PROJECT}@1.0.0"
    (artifact,) = release["artifacts"]
    assert artifact["signers"][0]["fingerprint"] == rm.key.fingerprint
    assert artifact["signers"][0]["keys"] == "in KEYS"
    assert {r["id"] for r in release["checks"]["runs"]} >= {"signatures", "checksums", "sbom"}
    assert release["checks"]["summary"]["blocker"] == 0
    (sbom,) = release["sboms"]
    assert sbom["name"] == artifact["name"] + ".cdx.json"
    subjects = by_kind["release"]["subjects"]
    archive = next(f for f in revision["files"] if f["path"] == artifact["name"])
    assert subjects == [
        {
            "name": archive["path"],
            "digest": {"sha256": archive["sha256"], "sha512": archive["sha512"]},
        }
    ]

    # the plan the RM signs covers the bundle and the release SBOM
    plan = approve_plan(agent, rm, "1.0.0")
    dist_paths = {f.path for f in plan.channels[0].files}
    assert found["bundle_name"] in dist_paths and sbom["name"] in dist_paths
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/distribution/start", json={})
        assert r.status_code == 200, r.text
    wait_distribution(agent, "1.0.0", "verified")
    found = wait_attestations(agent, "1.0.0", kinds={"release", "vote", "distribution"})
    assert found["distributed"] is True
    distribution = next(a for a in found["attestations"] if a["kind"] == "distribution")
    approval = distribution["statement"]["predicate"]["approval"]
    assert approval["approvedBy"] == "bob" and approval["fingerprint"] == rm.key.fingerprint
    assert "BEGIN PGP SIGNED MESSAGE" in approval["signed"]

    # the candidate page links the signed record; once announced, the download page too
    page = httpx.get(f"{agent.url}/projects/{PROJECT}/candidates/1.0.0/", timeout=30).text
    assert f"/projects/{PROJECT}/attestations/1.0.0" in page and "automation-keys.pem" in page
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/announce", json={})
        assert r.status_code == 200, r.text
    downloads = httpx.get(f"{agent.url}/projects/{PROJECT}/downloads/", timeout=30).text
    assert f"/downloads/1.0.0/{found['bundle_name']}" in downloads
    assert "atr verify . --keys KEYS --agent-key automation-keys.pem" in downloads
    key_id = found["attestations"][0]["key_fingerprint"]
    assert key_id[:8] in downloads
    served = httpx.get(f"{agent.url}/projects/{PROJECT}/downloads/1.0.0/{found['bundle_name']}")
    assert served.status_code == 200 and served.text.count("\n") == 2

    # a user downloads the release from the dist repository: `atr verify` says valid
    folder = release_folder(agent, "1.0.0", tmp_path / "download")
    bundle = folder / found["bundle_name"]
    assert bundle.is_file()
    sbom_doc = json.loads((folder / sbom["name"]).read_text())
    properties = {p["name"]: p["value"] for p in sbom_doc["metadata"]["properties"]}
    assert properties["atr:release:version"] == "1.0.0"
    assert properties["atr:vote:outcome"] == "passed"
    assert properties["atr:release:signer"].startswith(rm.key.fingerprint)
    proc = run_verify(folder, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert report["valid"] is True
    assert {a["kind"] for a in report["attestations"]} == {"release", "vote"}

    # the independent implementation agrees, envelope by envelope
    keys = published_keys(agent)
    pem = keys[
        keys.index("-----BEGIN PUBLIC KEY-----") : keys.index("-----END PUBLIC KEY-----") + 24
    ]
    for line in bundle.read_text().splitlines():
        statement = independent_verify(json.loads(line), pem)
        assert statement["subject"] == subjects
    # ... and for the distribution statement served by the API
    assert independent_verify(distribution["envelope"], pem)["predicate"]["approval"]

    # one byte of an artifact changed: invalid, naming the file
    changed = tmp_path / "changed"
    release_folder(agent, "1.0.0", changed)
    target = changed / artifact["name"]
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    proc = run_verify(changed)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert f"{artifact['name']} is not the file the release attestation is about" in proc.stdout
    assert "BAD signature" in proc.stdout

    # one ballot changed in the vote predicate: the DSSE signature no longer verifies
    ballot_changed = tmp_path / "ballot"
    release_folder(agent, "1.0.0", ballot_changed)

    def flip_ballot(statement, _envelope):
        statement["predicate"]["rounds"][0]["ballots"][0]["value"] = "-1"

    _rewrite(ballot_changed / found["bundle_name"], "vote", flip_ballot)
    proc = run_verify(ballot_changed)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "the DSSE signature does not verify" in proc.stdout
    assert "changed after signing" in proc.stdout

    # the signature changed: invalid too
    sig_changed = tmp_path / "signature"
    release_folder(agent, "1.0.0", sig_changed)
    lines = (sig_changed / found["bundle_name"]).read_text().splitlines()
    envelope = json.loads(lines[0])
    raw = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    raw[0] ^= 0x01
    envelope["signatures"][0]["sig"] = base64.b64encode(bytes(raw)).decode()
    lines[0] = json.dumps(envelope)
    (sig_changed / found["bundle_name"]).write_text("\n".join(lines) + "\n")
    proc = run_verify(sig_changed)
    assert proc.returncode == 1 and "does not verify" in proc.stdout, proc.stdout

    # nothing to verify against: exit 2, naming what is missing
    (sig_changed / "automation-keys.pem").unlink()
    proc = run_verify(sig_changed)
    assert proc.returncode == 2 and "agent key file" in proc.stderr, proc.stderr


def test_a_recorded_build_is_attested_as_slsa_provenance(agent_factory, tmp_path: Path) -> None:
    """A build recorded for the voted revision (here by an admin, as a trusted CI would; the
    triggers record theirs the same way) becomes the SLSA provenance statement of the bundle."""
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    rm = agent.committer
    files = source_release(tmp_path / "src", "1.1.0", sign=rm.key.sign)
    revision = make_candidate(agent, rm.token, "1.1.0", files)
    commit = "0123456789abcdef0123456789abcdef01234567"
    record = {
        "builder_id": "https://github.com/apache/acme-lib/.github/workflows/release.yml@refs/tags/v1.1.0",
        "repository": "https://github.com/apache/acme-lib",
        "ref": "refs/tags/v1.1.0",
        "commit": commit,
        "workflow": ".github/workflows/release.yml",
        "run_id": "42",
        "trigger": "push",
    }
    build_url = f"/projects/{PROJECT}/releases/1.1.0/revisions/{revision['number']}/build"
    with client(agent, rm.token) as c:
        assert c.put(build_url, json=record).status_code == 403  # only an admin (a trusted CI)
    with client(agent, agent.admin.token) as c:
        r = c.put(build_url, json=record)
        assert r.status_code == 200, r.text
        build = c.get(build_url).json()
    assert build["source"] == "admin" and build["record"]["commit"] == commit
    vote_and_close(agent, voters, "1.1.0", revision)
    found = wait_attestations(agent, "1.1.0", kinds={"release", "vote", "slsa"})
    slsa = next(a for a in found["attestations"] if a["kind"] == "slsa")
    assert slsa["valid"], slsa
    assert slsa["statement"]["predicateType"] == "https://slsa.dev/provenance/v1"
    predicate = slsa["statement"]["predicate"]
    assert predicate["runDetails"]["builder"]["id"] == record["builder_id"]
    (source,) = predicate["buildDefinition"]["resolvedDependencies"]
    assert source == {
        "uri": "git+https://github.com/apache/acme-lib@refs/tags/v1.1.0",
        "digest": {"gitCommit": commit},
    }
    archive = next(f for f in revision["files"] if f["path"].endswith(".tar.gz"))
    assert {
        "name": archive["path"],
        "digest": {"sha256": archive["sha256"], "sha512": archive["sha512"]},
    } in slsa["subjects"]
    with client(agent, agent.admin.token) as c:  # attested: the record no longer changes
        assert c.put(build_url, json=record).status_code == 403
