"""Upload with "sign and checksum before upload": the artifacts are signed here, streamed, and
their .asc and .sha512 go into the same revision (against a real agent)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

from desktop.session import Session
from desktop.viewmodels.upload import UploadViewModel
from desktop.views.upload_dialog import UploadDialog
from tests.desktop.conftest import QtLoop
from tests.desktop.gpg_home import gpg_verify
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess

PROJECT = "acme-lib"


def test_sign_and_checksum_before_upload(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    qloop.run(session.login(agent.url, agent.pmc.name, fingerprint, passphrase=PASSPHRASE))
    qloop.run(session.create_release(PROJECT, "2.0.0"))
    dist = tmp_path / "dist"
    dist.mkdir()
    src = dist / "apache-acme-2.0.0-src.tar.gz"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    notes = dist / "RELEASE-NOTES.txt"
    notes.write_text("notes\n")

    vm = UploadViewModel(session, project=PROJECT, version="2.0.0")
    dialog = UploadDialog(vm)
    qtbot.addWidget(dialog)
    assert dialog.sign_box.isEnabled()
    assert vm.add_files([src, notes]) == []
    stages: list[str] = []
    overall: list[tuple[int, int]] = []
    vm.stage_changed.connect(stages.append)
    vm.overall_progress.connect(lambda d, t: overall.append((d, t)))
    vm.sign_first = True
    assert vm.needs_passphrase()

    revision = qloop.run(vm.start(passphrase=PASSPHRASE))

    assert stages == ["signing", "uploading"]
    artifacts_size = src.stat().st_size + notes.stat().st_size
    assert (artifacts_size, artifacts_size) in overall  # signing reached 100 %
    names = sorted(f.path for f in revision.files)
    assert names == sorted(
        [src.name, src.name + ".asc", src.name + ".sha512",
         notes.name, notes.name + ".asc", notes.name + ".sha512"]
    )  # fmt: skip
    recorded = {f.path: f.sha512 for f in revision.files}
    assert recorded[src.name] == hashlib.sha512(src.read_bytes()).hexdigest()
    assert (dist / (src.name + ".sha512")).read_text() == f"{recorded[src.name]}  {src.name}\n"
    gpg_verify(agent.pmc.key.public_armor, src, dist / (src.name + ".asc"))
    assert "Done: revision" in dialog.status.text()
    qloop.run(session.aclose())


def test_wrong_passphrase_stops_before_anything_is_sent(
    agent: AgentProcess, qloop: QtLoop, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    qloop.run(session.login(agent.url, agent.pmc.name, fingerprint, passphrase=PASSPHRASE))
    qloop.run(session.create_release(PROJECT, "2.0.1"))
    artifact = tmp_path / "a.tar.gz"
    artifact.write_bytes(b"x" * 1000)
    vm = UploadViewModel(session, project=PROJECT, version="2.0.1")
    vm.add_files([artifact])
    vm.sign_first = True
    failures: list[str] = []
    vm.failed.connect(failures.append)
    task = vm.start(passphrase="wrong")
    qloop.wait_until(task.done, what="the upload to stop")
    assert failures and "passphrase does not unlock" in failures[0]
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == ["a.tar.gz"]
    assert qloop.run(session._need_client().list_revisions(PROJECT, "2.0.1")) == []
    qloop.run(session.aclose())
