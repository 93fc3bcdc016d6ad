"""Attestations on a real agent, an independent DSSE/in-toto check, and ``atr verify``.

wait_attestations(agent, "1.0.0", kinds={"release", "vote"})   # the attest task ran
release_folder(agent, "1.0.0", tmp_path / "dl")               # svn export + KEYS + agent keys
independent_verify(envelope, public_pem)                       # PAE by hand + cryptography
run_verify(folder)                                             # `atr verify` as a user runs it
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from google.protobuf import json_format
from in_toto_attestation.v1 import statement_pb2
from in_toto_attestation.v1.statement import Statement

from tests.integration.distribute_support import svn
from tests.integration.vote_support import client
from tests.support.agent import PROJECT, AgentProcess

PAYLOAD_TYPE = "application/vnd.in-toto+json"
ATR = Path(sys.executable).parent / "atr"


def wait_attestations(
    agent: AgentProcess, version: str, *, kinds: set[str], timeout: float = 60
) -> dict[str, Any]:
    """Poll the release's attestations until one of each of ``kinds`` is there."""
    deadline = time.monotonic() + timeout
    while True:
        with client(agent, agent.committer.token) as c:
            r = c.get(f"/projects/{PROJECT}/releases/{version}/attestations")
        assert r.status_code == 200, r.text
        found = r.json()
        have = {a["kind"] for a in found["attestations"]}
        if kinds <= have and not found["pending"]:
            return dict(found)
        assert time.monotonic() < deadline, f"only {sorted(have)} after {timeout} s: {found}"
        time.sleep(0.25)


def published_keys(agent: AgentProcess) -> str:
    with agent.client() as c:
        r = c.get(agent.url + "/.well-known/atr/automation-keys.pem")
    assert r.status_code == 200, r.text
    return r.text


def release_folder(agent: AgentProcess, version: str, folder: Path) -> Path:
    """What a user downloads: the release's dist folder (svn export), the project's KEYS and
    the agent's published keys."""
    root = (agent.data_dir / "dist-svn").resolve().as_uri()
    svn("export", "--force", f"{root}/release/{PROJECT}/{version}", str(folder))
    with agent.client() as c:
        keys = c.get(f"{agent.url}/projects/{PROJECT}/KEYS")
    assert keys.status_code == 200, keys.text
    (folder / "KEYS").write_text(keys.text)
    (folder / "automation-keys.pem").write_text(published_keys(agent))
    return folder


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, written from the spec (not from a library)."""
    kind = payload_type.encode()
    return (
        b"DSSEv1 "
        + str(len(kind)).encode()
        + b" "
        + kind
        + b" "
        + (str(len(payload)).encode() + b" " + payload)
    )


def independent_verify(envelope: dict[str, Any], public_pem: str) -> dict[str, Any]:
    """Verify a DSSE envelope with ``cryptography`` and the spec's PAE, and check the Statement
    with in-toto's own bindings (``in-toto-attestation``); the Statement as a dict."""
    assert envelope["payloadType"] == PAYLOAD_TYPE
    payload = base64.b64decode(envelope["payload"])
    public = serialization.load_pem_public_key(public_pem.encode())
    (sig,) = envelope["signatures"]
    signature = base64.b64decode(sig["sig"])
    message = pae(envelope["payloadType"], payload)
    if isinstance(public, ed25519.Ed25519PublicKey):
        public.verify(signature, message)
    elif isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, message, ec.ECDSA(hashes.SHA256()))
    else:  # pragma: no cover - the agent signs with Ed25519 or P-256
        raise AssertionError(f"unexpected key {type(public)}")
    proto = json_format.Parse(payload, statement_pb2.Statement())
    Statement.copy_from_pb(proto).validate()  # in-toto's rules: subjects, digests, type
    return dict(json.loads(payload))


def run_verify(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``atr verify FOLDER ARGS`` in a subprocess, as a user runs it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATR_")}
    return subprocess.run(
        [str(ATR), "verify", str(folder), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
