"""Windows Authenticode on a real agent: a tiny PE built in the test is signed by the agent's
code-signing certificate (osslsigncode), verified by two tools (osslsigncode, signify), signed
again by the release manager, voted on, distributed and verified with ``atr verify``.
macOS: without rcodesign or a signing host the step is manual, with instructions.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.distribute_support import (
    add_voters,
    approve_plan,
    distribution_agent,
    passed_release,
    wait_distribution,
)
from tests.integration.provenance_support import release_folder, run_verify, wait_attestations
from tests.integration.vote_support import client, source_release, upload
from tests.support.agent import PROJECT
from tests.support.pe import tiny_exe
from tests.support.signify_import import authenticode_file, certificate_store

pytestmark = pytest.mark.integration
VERSION = "2.0.0"


def wait_run(agent, token: str, version: str, *, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        with client(agent, token) as c:
            r = c.get(f"/projects/{PROJECT}/releases/{version}/codesign")
        assert r.status_code == 200, r.text
        run = r.json()[-1]
        if run["state"] in ("done", "failed", "manual"):
            return dict(run)
        assert time.monotonic() < deadline, run
        time.sleep(0.25)


def osslsigncode_verify(path: Path, ca: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["osslsigncode", "verify", "-CAfile", str(ca), "-in", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_windows_program_is_signed_verified_and_distributed(agent_factory, tmp_path: Path):
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    rm = agent.committer
    with client(agent, agent.admin_token) as c:
        r = c.post(
            "/automation-keys",
            json={"use": "codesign", "certificate": "self-signed",
                  "subject": "CN=Apache Acme Test Code Signing,O=The Apache Software Foundation"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
        cert_pem = r.json()["certificate_pem"]
    with client(agent, agent.pmc_token) as c:
        r = c.put(
            f"/projects/{PROJECT}/signing",
            json={"windows": {"enabled": True, "description": "Acme tool"}},
        )
        assert r.status_code == 200, r.text
    ca = tmp_path / "codesign-ca.pem"
    ca.write_text(cert_pem)

    # the release manager uploads the source release and an unsigned program, in compose
    folder = tmp_path / "rc"
    files = source_release(folder, VERSION, sign=rm.key.sign)
    exe = folder / f"apache-{PROJECT}-{VERSION}-tool.exe"
    exe.write_bytes(tiny_exe(marker=b"acme"))
    (folder / (exe.name + ".asc")).write_text(rm.key.sign(exe.read_bytes()))
    (folder / (exe.name + ".sha512")).write_text(
        f"{hashlib.sha512(exe.read_bytes()).hexdigest()}  {exe.name}\n"
    )
    with client(agent, rm.token) as c:
        assert c.post(
            f"/projects/{PROJECT}/keys", json={"armored": rm.key.public_armor}
        ).status_code in (200, 201)
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": VERSION}).status_code == 201
    upload(
        agent,
        rm.token,
        VERSION,
        [*files, exe, folder / (exe.name + ".asc"), folder / (exe.name + ".sha512")],
    )

    # the agent signs it: a new revision, the stale .asc gone, the checksum written anew
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/{VERSION}/codesign", json={"kind": "windows"})
        assert r.status_code == 201, r.text
        assert r.json()["method"] == "osslsigncode"
    run = wait_run(agent, rm.token, VERSION)
    assert run["state"] == "done", run
    assert run["from_revision"] == 1 and run["to_revision"] == 2
    assert run["resign"] == [exe.name]
    with client(agent, rm.token) as c:
        rev = c.get(f"/projects/{PROJECT}/releases/{VERSION}/revisions/2").json()
        paths = {f["path"]: f for f in rev["files"]}
        assert exe.name + ".asc" not in paths and exe.name in paths
        signed_bytes = c.get(
            f"/projects/{PROJECT}/releases/{VERSION}/revisions/2/files/{exe.name}"
        ).content
        checksum = c.get(
            f"/projects/{PROJECT}/releases/{VERSION}/revisions/2/files/{exe.name}.sha512"
        ).text
    assert signed_bytes != exe.read_bytes()
    assert checksum.split()[0] == hashlib.sha512(signed_bytes).hexdigest()
    signed = tmp_path / "signed" / exe.name
    signed.parent.mkdir()
    signed.write_bytes(signed_bytes)

    # two tools agree: osslsigncode and signify
    proc = osslsigncode_verify(signed, ca)
    assert proc.returncode == 0 and "Signature verification: ok" in proc.stdout, proc.stdout
    with signed.open("rb") as fh:
        verified = authenticode_file(fh).verify(
            trusted_certificate_store=certificate_store(cert_pem)
        )
    assert verified
    # and both refuse a program changed after signing
    broken = tmp_path / "broken.exe"
    data = bytearray(signed_bytes)
    data[0x200] ^= 0xFF  # the code section
    broken.write_bytes(bytes(data))
    assert osslsigncode_verify(broken, ca).returncode != 0
    with broken.open("rb") as fh, pytest.raises(Exception, match=r"(?i)hash|digest"):
        authenticode_file(fh).verify(trusted_certificate_store=certificate_store(cert_pem))

    # the release manager signs the new bytes; vote; distribute
    new_asc = tmp_path / "resign" / (exe.name + ".asc")
    new_asc.parent.mkdir()
    new_asc.write_text(rm.key.sign(signed_bytes))
    passed_release(agent, voters, tmp_path / "vote", VERSION, files=[new_asc])
    found = wait_attestations(agent, VERSION, kinds={"release", "vote", "codesign"})
    codesign = next(a for a in found["attestations"] if a["kind"] == "codesign")
    predicate = codesign["statement"]["predicate"]
    assert predicate["files"][0]["name"] == exe.name
    assert predicate["files"][0]["after"]["sha512"] == hashlib.sha512(signed_bytes).hexdigest()
    approve_plan(agent, rm, VERSION)
    with client(agent, rm.token) as c:
        assert (
            c.post(
                f"/projects/{PROJECT}/releases/{VERSION}/distribution/start", json={}
            ).status_code
            == 200
        )
    wait_distribution(agent, VERSION, "verified")
    download = release_folder(agent, VERSION, tmp_path / "download")
    assert (download / exe.name).read_bytes() == signed_bytes
    assert osslsigncode_verify(download / exe.name, ca).returncode == 0
    proc = run_verify(download, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    kinds = {a["kind"] for a in json.loads(proc.stdout)["attestations"]}
    assert kinds == {"codesign", "release", "vote"}


def test_macos_without_a_tool_is_a_manual_step(agent_factory, tmp_path: Path) -> None:
    agent = agent_factory(config={"rcodesign": "rcodesign-not-installed"}, workers=0)
    rm = agent.committer
    with client(agent, agent.pmc_token) as c:
        r = c.put(f"/projects/{PROJECT}/signing", json={"macos": {"enabled": True}})
        assert r.status_code == 200, r.text
    dmg = tmp_path / f"apache-{PROJECT}-1.0.0.dmg"
    dmg.write_bytes(b"not really a disk image")
    with client(agent, rm.token) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "1.0.0"}).status_code == 201
    upload(agent, rm.token, "1.0.0", [dmg])
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/codesign", json={"kind": "macos"})
        assert r.status_code == 201, r.text
        run = r.json()
        assert run["state"] == "manual" and run["method"] == "manual"
        assert run["files"] == [{"path": dmg.name, "state": "manual", "message": "",
                                 "sha512_before": "", "sha512_after": ""}]  # fmt: skip
        assert "rcodesign" in run["instructions"] and "notarytool" in run["instructions"]
        # Windows is not turned on for the project: refused, saying how to turn it on
        r = c.post(f"/projects/{PROJECT}/releases/1.0.0/codesign", json={"kind": "windows"})
        assert r.status_code == 409 and "does not sign its windows files" in r.json()["message"]
