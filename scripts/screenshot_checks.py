"""Take docs/screenshots/checks-view.png (and checks-sbom.png, ignore-rules.png) under Xvfb.

    .venv/bin/python scripts/screenshot_checks.py [--display :98] [--out-dir DIR]

Starts Xvfb and a real agent (as scripts/screenshot_desktop.py does), logs the
desktop in as alice (PMC of acme), adds an ignore rule through the real editor
view-model, then uploads a release candidate with real problems: a LICENSE that
departs from the Apache License 2.0, a source file without a license header, a
binary archive without its signature, a Gradle wrapper jar (ignored by the rule)
and a package-lock.json whose packages fall in every ASF license category. The
agent's checks run; the Checks tab fills in live; the LICENSE blocker is selected
and the window grabbed; then the SBOM tab and the ignore-rule editor.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from PySide6.QtGui import QPixmap
from PySide6.QtWidgets import QSplitter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run from anywhere: the repository's packages come first

from desktop.app import DesktopApp, Options  # noqa: E402
from desktop.keystore import Keystore  # noqa: E402
from desktop.models.releases import TreeNode  # noqa: E402
from desktop.settings import Settings  # noqa: E402
from desktop.viewmodels.policy import PolicyEditorViewModel, RuleDraft  # noqa: E402
from scripts.screenshot_desktop import (  # noqa: E402
    SIZE,
    _tarball,
    run_desktop,
    screenshot_workdir,
    until,
)
from shared.checks.license_notice import apache_license_text  # noqa: E402
from tests.support.agent import AgentProcess  # noqa: E402

VERSION = "1.0.0"
TOP = f"apache-acme-lib-{VERSION}"
HEADER = """/*
 * Licensed to the Apache Software Foundation (ASF) under one
 * or more contributor license agreements.  See the NOTICE file
 * distributed with this work for additional information
 * regarding copyright ownership.  The ASF licenses this file
 * to you under the Apache License, Version 2.0 (the
 * "License"); you may not use this file except in compliance
 * with the License.  You may obtain a copy of the License at
 *
 *   http://www.apache.org/licenses/LICENSE-2.0
 *
 * Unless required by applicable law or agreed to in writing,
 * software distributed under the License is distributed on an
 * "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY
 * KIND, either express or implied.  See the License for the
 * specific language governing permissions and limitations
 * under the License.
 */
"""
NOTICE = (
    "Apache Acme Library\nCopyright 2026 The Apache Software Foundation\n\n"
    "This product includes software developed at\n"
    "The Apache Software Foundation (http://www.apache.org/).\n"
)


def _package_lock() -> dict[str, object]:
    packages: dict[str, object] = {
        "": {
            "name": "@apache/acme-web",
            "version": VERSION,
            "license": "Apache-2.0",
            "dependencies": {"react": "^18.3.1", "lodash": "^4.17.21", "jszip": "^3.10.1"},
        },
        "node_modules/react": {"version": "18.3.1", "license": "MIT"},
        "node_modules/lodash": {"version": "4.17.21", "license": "MIT"},
        "node_modules/jszip": {"version": "3.10.1", "license": "(MIT OR GPL-3.0-or-later)"},
        "node_modules/dompurify": {"version": "3.1.6", "license": "(MPL-2.0 OR Apache-2.0)"},
        "node_modules/rhino-js": {"version": "1.7.15", "license": "MPL-2.0"},
        "node_modules/readline-sync": {"version": "1.4.10", "license": "GPL-3.0-only", "dev": True},
        "node_modules/left-pad": {"version": "1.3.0"},
    }
    return {"name": "@apache/acme-web", "lockfileVersion": 3, "packages": packages}


def source_files() -> dict[str, bytes]:
    """The source archive's files, with the problems the screenshot shows."""
    licence = apache_license_text().replace(
        "Grant of Copyright License", "Grant of Copyleft License"
    )
    java = "package org.apache.acme;\n\npublic final class {0} {{\n}}\n"
    files = {
        "LICENSE": licence.encode(),
        "NOTICE": NOTICE.encode(),
        "README.md": b"# Apache Acme Library\n",
        "pom.xml": (
            "<?xml version='1.0'?>\n<!-- " + HEADER.replace("/*", "").replace("*/", "") + "-->\n"
            "<project><modelVersion>4.0.0</modelVersion><groupId>org.apache.acme</groupId>"
            f"<artifactId>acme-lib</artifactId><version>{VERSION}</version>"
            "<licenses><license><name>Apache-2.0</name></license></licenses>"
            "<dependencies><dependency><groupId>commons-io</groupId>"
            "<artifactId>commons-io</artifactId><version>2.16.1</version></dependency>"
            "</dependencies></project>\n"
        ).encode(),
        "webapp/package.json": json.dumps(
            {"name": "@apache/acme-web", "version": VERSION, "license": "Apache-2.0"}
        ).encode(),
        "webapp/package-lock.json": json.dumps(_package_lock(), indent=1).encode(),
        "gradle/wrapper/gradle-wrapper.jar": b"PK\x03\x04" + os.urandom(4000),
        "src/main/java/org/apache/acme/Parser.java": java.format("Parser").encode(),
    }
    for name in ("Library", "Config", "Reader", "Writer"):
        path = f"src/main/java/org/apache/acme/{name}.java"
        files[path] = (HEADER + java.format(name)).encode()
    return files


def make_candidate(folder: Path, sign: Callable[[bytes], str]) -> list[Path]:
    """A signed source archive, and a binary archive whose signature was forgotten."""
    folder.mkdir(parents=True, exist_ok=True)
    source = _tarball(folder / f"{TOP}-src.tar.gz", TOP, source_files())
    binary = _tarball(
        folder / f"{TOP}-bin.tar.gz",
        TOP,
        {"LICENSE": apache_license_text().encode(), "NOTICE": NOTICE.encode(),
         "lib/acme-lib.jar": b"PK\x03\x04" + os.urandom(20_000)},
    )  # fmt: skip
    out = [source, binary]
    for archive in (source, binary):
        data = archive.read_bytes()
        checksum = archive.with_name(archive.name + ".sha512")
        checksum.write_text(f"{hashlib.sha512(data).hexdigest()}  {archive.name}\n")
        out.append(checksum)
    signature = source.with_name(source.name + ".asc")
    signature.write_text(sign(source.read_bytes()))
    out.append(signature)
    return out


async def add_ignore_rule(desktop: DesktopApp) -> None:
    """Add the Gradle wrapper rule as a PMC member would in the editor."""
    editor = PolicyEditorViewModel(desktop.session, project="acme-lib")
    await until(lambda: editor.loaded, "the policy")
    editor.add(
        RuleDraft(
            check="compiled_code",
            path="*!/gradle/wrapper/gradle-wrapper.jar",
            reason="the Gradle wrapper is part of the build, reviewed by the PMC",
        )
    )
    await editor.save("the Gradle wrapper ships in every source release")
    editor.close()


async def stage(work: Path, agent_url: str, key_file: Path, out_dir: Path) -> None:
    keystore = Keystore.default()
    desktop = DesktopApp(keystore=keystore, settings=Settings.load())
    desktop.start(Options(agent=agent_url, user="alice", key=key_file, auto_login=True))
    await until(lambda: desktop.window is not None, "the main window")
    window = desktop.window
    if window is None:
        raise SystemExit("the main window did not open")
    window.resize(*SIZE)
    window.move(0, 0)
    outer = window.centralWidget()
    if isinstance(outer, QSplitter):  # as a user would: the event pane smaller, the checks larger
        outer.setSizes([700, 130])
    vm, session = desktop.main_vm, desktop.session
    await until(lambda: "acme-lib" in vm.tree.project_keys(), "the projects")
    fingerprint = keystore.list_keys()[0].fingerprint
    await add_ignore_rule(desktop)

    await vm.create_release("acme-lib", VERSION)
    await until(lambda: vm.release is not None, "the release panel")
    panel = window.panel
    panel.tabs.setCurrentWidget(panel.checks_view)
    files = make_candidate(work / VERSION, lambda data: keystore.sign(fingerprint, data))
    await session.upload("acme-lib", VERSION, files, message="RC1")
    checks = vm.checks
    await until(lambda: checks.report is not None, "the first check report", within=60)
    await until(lambda: checks.summary().state == "done", "the checks to finish", within=240)
    window.select_node(TreeNode("acme-lib", VERSION))
    view = panel.checks_view
    model = view.tree.model()
    for row in range(model.rowCount()):
        if model.index(row, 1).data() == "license_notice":
            view.select_row(row)
            break
    await asyncio.sleep(1.0)  # let the last refreshes and repaints land
    _save(window.grab(), out_dir / "checks-view.png")

    panel.tabs.setCurrentWidget(panel.sbom_view)
    await asyncio.sleep(0.5)
    _save(window.grab(), out_dir / "checks-sbom.png")

    panel.tabs.setCurrentWidget(view)
    dialog = view.open_rules()
    if dialog is None:
        raise SystemExit("the ignore-rule editor did not open")
    await until(lambda: dialog.table.model().rowCount() > 0, "the ignore rules")
    dialog.table.selectRow(0)
    await asyncio.sleep(0.5)
    _save(dialog.grab(), out_dir / "ignore-rules.png")
    dialog.reject()
    window.close()
    await desktop.aclose()


def _save(pixmap: QPixmap, path: Path) -> None:
    if not pixmap.save(str(path), "PNG"):
        raise SystemExit(f"could not write {path}")
    print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--display", default=":98")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs/screenshots")
    args = parser.parse_args()

    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (
        screenshot_workdir("atr-screenshot-", args.display) as work,
        AgentProcess(work / "agent") as agent,
    ):
        key_file = agent.pmc.key.write_secret(work / "alice-secret.asc")
        run_desktop(stage(work, agent.url, key_file, args.out_dir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
