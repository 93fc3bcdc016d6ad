"""The Checks tab against a real agent: results fill in live, blockers stand, an ignore rule counts.

alice (PMC of acme) logs in, creates a release and uploads a signed source archive
(with a Gradle wrapper jar inside: compiled code, a blocker) and a binary archive
whose signature was forgotten. The agent's workers run the checks; the view must
fill in while they run, show the missing signature as a blocker that cannot be
ignored, and take the jar out of the count once alice adds an ignore rule for it
through the editor.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt

from desktop.session import Session
from desktop.viewmodels.checks import ChecksSummary
from desktop.viewmodels.main import MainViewModel
from desktop.views.main_window import MainWindow
from desktop.views.policy_editor import IgnoreRulesDialog, RuleDialog
from shared.checks.license_notice import apache_license_text
from shared.protocol import EventKind
from shared.protocol.checks import CheckResultOut
from tests.desktop.conftest import QtLoop
from tests.desktop.helpers import PASSPHRASE, keystore_for
from tests.support.agent import AgentProcess

PROJECT = "acme-lib"
VERSION = "3.1.0"
TOP = f"apache-acme-lib-{VERSION}"
SRC = f"{TOP}-src.tar.gz"
BIN = f"{TOP}-bin.tar.gz"
HEADER = (
    "// Licensed to the Apache Software Foundation (ASF) under one or more contributor license\n"
    "// agreements. See the NOTICE file distributed with this work for additional information\n"
    "// regarding copyright ownership. The ASF licenses this file to you under the Apache\n"
    '// License, Version 2.0 (the "License"); you may not use this file except in compliance\n'
    "// with the License. You may obtain a copy of the License at\n"
    "//   http://www.apache.org/licenses/LICENSE-2.0\n"
)
SOURCE_FILES = 3000
LOCKED_PACKAGES = 400
NOTICE = (
    "Apache Acme Library\nCopyright 2026 The Apache Software Foundation\n\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (http://www.apache.org/).\n"
)


def _package_lock() -> dict[str, Any]:
    packages: dict[str, Any] = {"": {"name": "acme-web", "version": VERSION}}
    for i in range(LOCKED_PACKAGES):
        packages[f"node_modules/dep{i}"] = {"version": f"1.{i}.0", "license": "MIT"}
    return {"name": "acme-web", "lockfileVersion": 3, "packages": packages}


def _tarball(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"{TOP}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _artifacts(folder: Path, sign: Any) -> list[Path]:
    folder.mkdir()
    common = {"LICENSE": apache_license_text().encode(), "NOTICE": NOTICE.encode()}
    sources = {  # enough work that the checks take a while: the view must fill in meanwhile
        f"src/org/apache/acme/p{i // 100}/C{i}.java": (
            HEADER + f"package org.apache.acme.p{i // 100};\npublic final class C{i} {{}}\n"
        ).encode()
        for i in range(SOURCE_FILES)
    }
    source = _tarball(
        folder / SRC,
        {
            **common,
            **sources,
            "webapp/package-lock.json": json.dumps(_package_lock()).encode(),
            "gradle/wrapper/gradle-wrapper.jar": b"PK\x03\x04" + os.urandom(2000),
        },
    )
    binary = _tarball(folder / BIN, {**common, "lib/acme.jar": b"PK\x03\x04" + os.urandom(2000)})
    files = [source, binary]
    for archive in (source, binary):
        digest = hashlib.sha512(archive.read_bytes()).hexdigest()
        files.append(archive.with_name(archive.name + ".sha512"))
        files[-1].write_text(f"{digest}  {archive.name}\n")
    files.append(source.with_name(SRC + ".asc"))  # the binary's signature is forgotten
    files[-1].write_text(sign(source.read_bytes()))
    return files


def _find(results: list[CheckResultOut], check: str, path_end: str) -> CheckResultOut:
    found = [r for r in results if r.check == check and r.path.endswith(path_end)]
    assert found, f"no {check} result about {path_end}: {[(r.check, r.path) for r in results]}"
    return found[0]


def test_checks_fill_in_live_and_an_ignore_rule_updates_the_view(
    agent: AgentProcess, qloop: QtLoop, qtbot: Any, tmp_path: Path
) -> None:
    keystore, fingerprint = keystore_for(agent.pmc, tmp_path / "home")
    session = Session(keystore)
    errors: list[str] = []
    session.error.connect(errors.append)
    qloop.run(session.login(agent.url, "alice", fingerprint, passphrase=PASSPHRASE))
    vm = MainViewModel(session)
    window = MainWindow(vm)
    qtbot.addWidget(window)
    window.resize(1360, 860)
    window.show()
    qloop.wait_until(lambda: PROJECT in vm.tree.project_keys(), what="the projects")
    qloop.run(vm.create_release(PROJECT, VERSION))
    qloop.wait_until(lambda: vm.release is not None, what="the release panel")
    panel = window.panel
    view = panel.checks_view
    panel.tabs.setCurrentWidget(view)
    checks = vm.checks
    seen: list[tuple[ChecksSummary, int]] = []
    checks.report_changed.connect(
        lambda: seen.append((checks.summary(), len(checks.report.results) if checks.report else 0))
    )

    files = _artifacts(tmp_path / "rc1", agent.pmc.key.sign)
    qloop.run(session.upload(PROJECT, VERSION, files, message="RC1"))
    qloop.wait_until(lambda: checks.report is not None, what="the first check report")
    qloop.wait_until(
        lambda: checks.summary().state == "done", timeout=240, what="the checks to finish"
    )

    # the view filled in live: reports while the checks ran, each with more runs done
    states = [summary.state for summary, _ in seen if summary.state != "loading"]
    assert states[-1] == "done"
    running = [(s, n) for s, n in seen if s.state in ("pending", "running")]
    assert running, f"no report was shown while the checks ran: {states}"
    done_counts = [s.runs_done for s, _ in seen if s.state != "loading"]
    assert done_counts == sorted(done_counts) and len(set(done_counts)) >= 2
    assert any(n > 0 for _, n in running), "no partial result was shown while the checks ran"
    finished = [e for e in vm.events.events() if e.kind is EventKind.CHECK_FINISHED]
    assert finished and all(e.version == VERSION for e in finished if e.project == PROJECT)

    # the missing signature: a blocker that stands and cannot be ignored
    report = checks.report
    assert report is not None and report.blocked
    missing = _find(report.results, "signatures", BIN)  # about the artifact: no .asc
    assert missing.status == "blocker"
    assert "Blocked:" in view.banner.text() and view.banner.isVisibleTo(view)
    assert "blocker" in panel.tabs.tabText(panel.tabs.indexOf(view))
    checks.select(missing)
    assert not view.ignore_button.isEnabled()
    assert "can never be ignored" in view.ignore_button.toolTip()
    signed = _find(report.results, "signatures", SRC + ".asc")
    assert signed.status == "pass"
    assert fingerprint in signed.data["fingerprints"]
    checks.select(signed)
    assert " ".join(fingerprint[i : i + 4] for i in range(0, 40, 4)) in view.detail.toPlainText()

    # the SBOM tab lists the lock file's packages; Save SBOM… downloads the stored CycloneDX
    assert checks.sbom_artifacts() == [SRC]
    assert checks.components.rowCount() >= LOCKED_PACKAGES
    assert panel.sbom_view.save_button.isEnabled()
    saved = qloop.run(checks.save_sbom(tmp_path / "sbom.cdx.json"))  # type: ignore[arg-type]
    sbom = json.loads(saved.read_text())
    assert sbom["bomFormat"] == "CycloneDX" and sbom["specVersion"] == "1.6"
    names = {c["name"] for c in sbom["components"]}
    assert {"dep0", f"dep{LOCKED_PACKAGES - 1}"} <= names

    # the jar is a blocker too; alice ignores it through the editor, with a reason
    jar = _find(report.results, "compiled_code", "gradle/wrapper/gradle-wrapper.jar")
    assert jar.status == "blocker" and jar.ignored is None
    blockers_before = checks.status_counts()["blocker"]
    checks.select(jar)
    assert view.ignore_button.isEnabled()
    view.ignore_button.click()
    dialog = view.rules_dialog
    assert isinstance(dialog, IgnoreRulesDialog)
    qloop.wait_until(lambda: dialog.rule_dialog is not None, what="the policy and the rule form")
    rule = dialog.rule_dialog
    assert isinstance(rule, RuleDialog)
    assert rule.draft.check == "compiled_code" and rule.draft.path == jar.path
    assert not rule.ok_button.isEnabled()  # no reason yet
    rule.reason_edit.setPlainText("the Gradle wrapper is part of the build")
    assert rule.matches.text() == "matches 1 result of revision 1"
    rule.ok_button.click()
    assert dialog.save_button.isEnabled()
    assert dialog.reason_edit.text().startswith("ignore compiled_code results on ")
    dialog.save_button.click()
    qloop.wait_until(lambda: view.rules_dialog is None, what="the editor to save and close")

    def jar_ignored() -> bool:
        current = checks.report
        if current is None:
            return False
        return _find(current.results, "compiled_code", "gradle-wrapper.jar").ignored is not None

    qloop.wait_until(jar_ignored, what="the report with the jar ignored")
    assert checks.status_counts()["blocker"] == blockers_before - 1
    assert checks.ignored_count() >= 1
    now = _find(checks.report.results, "compiled_code", "gradle-wrapper.jar")  # type: ignore[union-attr]
    assert now.ignored is not None
    assert now.ignored.reason == "the Gradle wrapper is part of the build"
    assert now.ignored.original_status == "blocker"
    assert checks.selected is not None and checks.selected.ignored is not None  # detail followed
    assert "ignored by rule 1" in view.detail.toPlainText()
    index = checks.results.index_of((now.check, now.artifact, now.path, now.message))
    font = index.siblingAtColumn(4).data(Qt.ItemDataRole.FontRole)  # struck through
    assert index.isValid() and font is not None and font.strikeOut()
    assert view.ignored_button.text() == f"{checks.ignored_count()} ignored"
    assert checks.summary().blocked  # the missing signature still stands
    qloop.wait_until(
        lambda: any(e.kind is EventKind.POLICY_CHANGED for e in vm.events.events()),
        what="the policy change in the event pane",
    )
    assert errors == []
    window.close()
    qloop.run(session.aclose())
