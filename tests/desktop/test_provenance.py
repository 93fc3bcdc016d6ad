"""The provenance screens against a real agent: a release whose vote passed, its attestations
verified on the desktop (who voted, which checks, who signed, which key); the agent's keys
with an expiring one flagged; after a rotation and a revocation, the old attestations are
shown as signed by a revoked key. The windows are built and shown offscreen."""

from __future__ import annotations

import hashlib
from pathlib import Path

from desktop.session import Session
from desktop.viewmodels.provenance import AttestationsViewModel, AutomationKeysViewModel
from desktop.views.provenance_view import AttestationsWindow, AutomationKeysWindow
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.integration.distribute_support import add_voters, distribution_agent, passed_release
from tests.integration.test_codesign import wait_run
from tests.integration.vote_support import client, upload
from tests.support.agent import PROJECT
from tests.support.pe import tiny_exe


def test_attestations_and_keys_screens(qloop: QtLoop, qtbot, agent_factory, tmp_path: Path) -> None:
    agent = distribution_agent(agent_factory)
    voters = add_voters(agent)
    passed_release(agent, voters, tmp_path / "rc", "1.0.0")
    with client(agent, agent.admin_token) as c:  # a code-signing key that expires soon
        r = c.post("/automation-keys", json={"use": "codesign", "certificate": "self-signed",
                                             "subject": "CN=Soon", "days": 10})  # fmt: skip
        assert r.status_code == 201, r.text

    keystore, fpr = keystore_for(agent.admin, tmp_path / "root")
    session = Session(keystore)
    qloop.run(session.login(agent.url, agent.admin.name, fpr, passphrase=PASSPHRASE))

    vm = AttestationsViewModel(session)
    window = AttestationsWindow(vm)
    qtbot.addWidget(window)
    window.show()
    qloop.run(vm.load(PROJECT, "1.0.0"))
    assert [r.kind for r in vm.rows] == ["release", "vote"]
    assert all(r.valid and r.verdict == "valid" for r in vm.rows)
    assert "2 of 2 attestations verify on this computer" in vm.summary
    assert window.attestations.rowCount() == 2
    vm.select(1)
    assert sorted(b.voter for b in vm.ballots()) == sorted(v.name for v in voters)
    assert all(b.binding and b.value == "+1" for b in vm.ballots())
    assert window.ballots.rowCount() == 3
    vm.select(0)
    assert {c.check for c in vm.checks()} >= {"signatures", "checksums", "license"} or vm.checks()
    assert window.checks.rowCount() == len(vm.checks()) > 0
    (signer,) = vm.signers()
    assert signer.fingerprint == agent.committer.key.fingerprint and signer.standing == "in KEYS"
    assert "Outcome" in window.outcome.text() or vm.vote_outcome()

    keys_vm = AutomationKeysViewModel(session)
    keys_window = AutomationKeysWindow(keys_vm)
    qtbot.addWidget(keys_window)
    keys_window.show()
    qloop.run(keys_vm.refresh())
    assert {k.use for k in keys_vm.keys} == {"attestation", "codesign"}
    assert "codesign key" in keys_vm.warning() and "expires in" in keys_vm.warning()
    assert keys_window.banner.isVisibleTo(keys_window)
    assert keys_window.generate_button.isEnabled()  # root is an admin

    # rotate, then revoke the key that signed 1.0.0: shown as signed by a revoked key
    old = vm.rows[0].key
    qloop.run(keys_vm.rotate(old))
    qloop.run(keys_vm.revoke(old, "test: the key was exposed"))
    assert next(k for k in keys_vm.keys if k.fingerprint == old).state == "revoked"
    qloop.run(vm.load(PROJECT, "1.0.0"))
    assert not any(r.valid for r in vm.rows)
    assert "signed by a revoked key (test: the key was exposed)" in vm.rows[0].verdict
    assert "0 of 2" in vm.summary
    qloop.run(session.logout())


def test_the_release_manager_signs_again_what_the_agent_signed(
    qloop: QtLoop, qtbot, agent_factory, tmp_path: Path
) -> None:
    agent = agent_factory(workers=1)
    rm = agent.committer
    with client(agent, agent.admin_token) as c:
        r = c.post("/automation-keys", json={"use": "codesign", "certificate": "self-signed",
                                             "subject": "CN=Test Code Signing"})  # fmt: skip
        assert r.status_code == 201, r.text
    with client(agent, agent.pmc_token) as c:
        assert c.put(f"/projects/{PROJECT}/signing", json={"windows": {"enabled": True}}).is_success
    exe = tmp_path / "apache-acme-lib-3.0.0-tool.exe"
    exe.write_bytes(tiny_exe())
    with client(agent, rm.token) as c:
        assert c.post(f"/projects/{PROJECT}/releases", json={"version": "3.0.0"}).status_code == 201
    upload(agent, rm.token, "3.0.0", [exe])
    with client(agent, rm.token) as c:
        r = c.post(f"/projects/{PROJECT}/releases/3.0.0/codesign", json={"kind": "windows"})
        assert r.status_code == 201, r.text
    assert wait_run(agent, rm.token, "3.0.0")["state"] == "done"

    keystore, fpr = keystore_for(rm, tmp_path / "bob")
    session = Session(keystore)
    qloop.run(session.login(agent.url, rm.name, fpr, passphrase=PASSPHRASE))
    vm = AttestationsViewModel(session)
    window = AttestationsWindow(vm)
    qtbot.addWidget(window)
    qloop.run(vm.load(PROJECT, "3.0.0"))
    run = vm.resign_run()
    assert run is not None and run.resign == [exe.name] and run.to_revision == 2
    assert not window.resign_button.isHidden()  # on the "OS signatures" tab
    assert exe.name in window.resign_button.text()
    upload_vm = qloop.run(vm.resign(run))
    assert upload_vm.sign_first and [i.name for i in upload_vm.items] == [exe.name]
    revision = qloop.run(upload_vm.start(passphrase=PASSPHRASE))
    paths = {f.path for f in revision.files}
    assert {exe.name, exe.name + ".asc", exe.name + ".sha512"} <= paths
    signed = next(f for f in revision.files if f.path == exe.name)
    with client(agent, rm.token) as c:
        body = c.get(f"/projects/{PROJECT}/releases/3.0.0/revisions/2/files/{exe.name}").content
    assert hashlib.sha512(body).hexdigest() == signed.sha512  # the agent's bytes, now signed by bob
    qloop.run(session.logout())
